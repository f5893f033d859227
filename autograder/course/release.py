"""The student version and its checks, with nbgrader, in every language of the course.

    python -m autograder.course.release              # regenerate the student versions from solutions/ (make notebooks)
    python -m autograder.course.release --check      # fail if one is not what nbgrader makes now
    python -m autograder.course.release --validate   # solutions pass every test, the student version
                                              # fails every graded test cleanly (make validate)

solutions/ is the one source, in English. The English student version goes to notebooks/convnet/;
another language's to notebooks/<lang>/convnet/ (notebooks/zh_CN/convnet/): solutions/ translated
with the lessons catalog (:mod:`autograder.course.translate`, strictly: a text without a translation
stops the release; it does not refresh the catalog: ``make catalogs`` does) into a temporary nbgrader
source folder, then the same generate_assignment.
Each check and validation covers every edition; a language's solutions are translated on the fly.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from autograder.course import translate
from mnistcnn.constants import ASSIGNMENT, CELL_TIMEOUT
from mnistcnn.i18n import LANGUAGES, SOURCE_LANGUAGE
from mnistcnn.screening import grade_id

ROOT = Path(__file__).resolve().parents[2]
SOLUTIONS = ROOT / "solutions" / ASSIGNMENT
NOTEBOOKS = ROOT / "notebooks" / ASSIGNMENT


def release_folder(lang: str = SOURCE_LANGUAGE) -> Path:
    """The committed student version in ``lang``: notebooks/convnet/, or notebooks/<lang>/convnet/."""
    return NOTEBOOKS if lang == SOURCE_LANGUAGE else ROOT / "notebooks" / lang / ASSIGNMENT


def solutions_in(lang: str, tmp: Path) -> Path:
    """solutions/ in ``lang``: the folder itself in English, else translated (strictly) into ``tmp``."""
    if lang == SOURCE_LANGUAGE:
        return SOLUTIONS
    return translate.translate_folder(SOLUTIONS, Path(tmp) / ASSIGNMENT, lang)


def tool_env() -> dict:
    """The environment for nbgrader's command-line tools: this Python's scripts first on PATH
    (nbgrader runs `alembic` from PATH to set up its gradebook)."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def use_tool_path() -> None:
    """Put this Python's scripts first on this process's PATH (nbgrader's in-process Gradebook and
    Validator start `alembic` and kernels from it)."""
    scripts = str(Path(sys.executable).parent)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != scripts:
        os.environ["PATH"] = tool_env()["PATH"]


def nbgrader(*args: str, cwd: Path = ROOT, check: bool = True, env: dict | None = None,
             timeout: float | None = None, preexec_fn=None) -> subprocess.CompletedProcess:
    """Run an nbgrader command (``env`` defaults to :func:`tool_env`); ``check`` raises on failure."""
    cmd = [str(Path(sys.executable).parent / "nbgrader"), *args]
    proc = subprocess.run(cmd, cwd=cwd, env=env or tool_env(), capture_output=True, text=True, timeout=timeout,
                          preexec_fn=preexec_fn)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def generate(release_root: Path, lang: str = SOURCE_LANGUAGE) -> Path:
    """Run nbgrader generate_assignment on solutions/ (in ``lang``) into ``release_root``; return the folder.
    nbgrader joins an absolute source folder to none (``CourseDirectory.format_path``)."""
    release_root = Path(release_root).resolve()
    with tempfile.TemporaryDirectory(prefix="mnistcnn-gb-") as tmp:
        source = solutions_in(lang, Path(tmp) / "source").parent
        nbgrader("generate_assignment", ASSIGNMENT, "--force", "--log-level=WARN",
                 f"--CourseDirectory.source_directory={source}",
                 f"--CourseDirectory.release_directory={release_root}",
                 f"--CourseDirectory.db_url=sqlite:///{tmp}/gradebook.db")
    return release_root / ASSIGNMENT


def differences(generated: Path, committed: Path = NOTEBOOKS) -> list[str]:
    """Names of files that differ between a fresh generation and the committed notebooks/."""
    cmp = filecmp.dircmp(generated, committed, ignore=[".ipynb_checkpoints", "__pycache__"])
    out = [f"only in the generated version: {n}" for n in cmp.left_only]
    out += [f"only in notebooks/: {n}" for n in cmp.right_only]
    out += [f"differs: {n}" for n in cmp.diff_files]
    _, mismatch, errors = filecmp.cmpfiles(generated, committed, cmp.common_files, shallow=False)
    out += [f"differs: {n}" for n in mismatch if f"differs: {n}" not in out]
    out += [f"unreadable: {n}" for n in errors]
    return out


def solved_copy(dest: Path, lang: str = SOURCE_LANGUAGE) -> Path:
    """The student version (in ``lang``) with every answer cell filled in from solutions/: what a
    student who solved everything hands in (test cells, checksums and metadata as released)."""
    import nbformat
    from nbgrader.utils import is_solution

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for released in sorted(release_folder(lang).glob("*.ipynb")):
        nb = nbformat.read(released, as_version=4)
        solution = nbformat.read(SOLUTIONS / released.name, as_version=4)
        if lang != SOURCE_LANGUAGE:
            solution = translate.translate_notebook(solution, lang)
        answers = {grade_id(c): c.source for c in solution.cells if is_solution(c)}
        for cell in nb.cells:
            if is_solution(cell):
                cell.source = "\n".join(line for line in answers[grade_id(cell)].splitlines()
                                        if "### BEGIN SOLUTION" not in line and "### END SOLUTION" not in line)
        nbformat.write(nb, dest / released.name)
    return dest


def validator(invert: bool = False):
    """nbgrader's own Validator, with the course's cell timeout."""
    from nbgrader.validator import Validator
    from traitlets.config import Config

    cfg = Config()
    cfg.Execute.timeout = CELL_TIMEOUT
    cfg.Validator.invert = invert
    return Validator(config=cfg)


def validate_notebook(path: Path, invert: bool = False) -> dict:
    """Run nbgrader's validation of one notebook (executes it in the course kernel)."""
    use_tool_path()
    return validator(invert).validate(str(path))


def graded_cells(path: Path) -> list[str]:
    import nbformat
    from nbgrader.utils import is_grade

    nb = nbformat.read(path, as_version=4)
    return [grade_id(c) for c in nb.cells if c.cell_type == "code" and is_grade(c)]


def check_release_fails_cleanly(path: Path) -> list[str]:
    """Problems with a blank student notebook: every graded test must fail, and only because an
    answer is blank (NotImplementedError) or wrong (the course's CheckFailed), not by a crash.

    One execution: a graded cell that is not reported as failed is one that passes
    (what ``nbgrader validate --invert`` reports).
    """
    failed = validate_notebook(path).get("failed", [])
    problems = []
    n_graded = len(graded_cells(path))
    if len(failed) != n_graded:
        problems.append(f"{path.name}: {n_graded - len(failed)} of {n_graded} graded tests pass on the blank notebook")
    for cell in failed:
        error = cell["raw_error"]
        if "NotImplementedError" not in error and "CheckFailed" not in error:
            problems.append(f"{path.name}: a test fails for another reason than a blank answer:\n{error[-600:]}")
    return problems


def check_editions() -> int:
    """0 if every edition's student version is what nbgrader makes now, else 1 (and what differs)."""
    status = 0
    for lang in LANGUAGES:
        committed = release_folder(lang)
        where = committed.relative_to(ROOT)
        with tempfile.TemporaryDirectory(prefix="mnistcnn-release-") as tmp:
            diff = differences(generate(Path(tmp), lang), committed)
        if diff:
            print(f"{where}/ is out of date with solutions/ (run `make notebooks`):\n  " + "\n  ".join(diff))
            status = 1
        else:
            print(f"{where}/ is up to date with solutions/")
    return status


def validate_edition(lang: str) -> int:
    """Validate the solutions (translated on the fly) and the blank student version of one edition."""
    status = 0
    with tempfile.TemporaryDirectory(prefix="mnistcnn-solutions-") as tmp:
        solutions = solutions_in(lang, Path(tmp))
        label = f"solutions/{ASSIGNMENT}" + ("" if lang == SOURCE_LANGUAGE else f" ({lang})")
        for nb in sorted(solutions.glob("*.ipynb")):
            t = time.perf_counter()
            results = validate_notebook(nb)
            bad = {k: v for k, v in results.items() if v}
            mark = "✗" if bad else "✓"
            print(f"{mark} {label}/{nb.name}: "
                  f"{'passes every test' if not bad else 'FAILS'} ({time.perf_counter() - t:.0f} s)", flush=True)
            for cell in bad.get("failed", []):
                print("    " + cell["raw_error"].replace("\n", "\n    "))
            status |= bool(bad)
    released = release_folder(lang)
    for nb in sorted(released.glob("*.ipynb")):
        t = time.perf_counter()
        problems = check_release_fails_cleanly(nb)
        mark = "✗" if problems else "✓"
        print(f"{mark} {nb.relative_to(ROOT)}: "
              f"{'every graded test fails cleanly when blank' if not problems else 'PROBLEMS'} "
              f"({time.perf_counter() - t:.0f} s)", flush=True)
        for p in problems:
            print("    " + p)
        status |= bool(problems)
    return status


def write_edition(lang: str) -> None:
    """Generate the student version in ``lang`` and put it in its folder (stale notebooks removed)."""
    target = release_folder(lang)
    with tempfile.TemporaryDirectory(prefix="mnistcnn-release-") as tmp:
        generated = generate(Path(tmp), lang)
        target.mkdir(parents=True, exist_ok=True)
        for stale in target.glob("*.ipynb"):
            if not (generated / stale.name).exists():
                stale.unlink()
        for nb in sorted(generated.iterdir()):
            if nb.is_file():
                (target / nb.name).write_bytes(nb.read_bytes())
                print(f"wrote {(target / nb.name).relative_to(ROOT)}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fail if a student version is out of date")
    ap.add_argument("--validate", action="store_true", help="validate solutions and student versions")
    args = ap.parse_args(argv)
    if args.check:
        return check_editions()
    if args.validate:
        status = 0
        for lang in LANGUAGES:
            status |= validate_edition(lang)
        return status
    for lang in LANGUAGES:
        write_edition(lang)
    return 0


if __name__ == "__main__":
    sys.exit(main())
