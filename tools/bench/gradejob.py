"""One grading job, timed, by the grader installed in the interpreter that runs this file: this
checkout's (its venv's python), or an older revision's (``--baseline``: the python of that revision's
own venv, :mod:`tools.bench.baseline`). Run by file path, one job per process::

    PYTHON tools/bench/gradejob.py CONFIG-JSON     # the job's answer, one line of JSON
    PYTHON tools/bench/gradejob.py --describe      # the interpreter, its venv and its package versions

Only Python's standard library is imported at the start: ``sys.path[0]`` is this folder, not a checkout,
and the grader's modules come from the interpreter's environment (its editable install of the course).
The job checks that ``autograder`` and ``mnistcnn`` were imported from ``cfg["tree"]`` and the named
kernel from the interpreter's venv, and raises otherwise. The course's constants the job needs
(threshold, time limit, kernel name) come in the configuration: an older tree may not have them.

The job is made as ``grade_class`` makes it (screened notebooks, the released sources, a template
gradebook, the sandbox's limits); only ``grade_one`` is timed.
"""

from __future__ import annotations

import importlib
import json
import platform
import sys
import time
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace

#: Where each layout of the grader keeps what a job needs: name -> "module:attribute".
LAYOUTS = {
    "grading-package": {  # autograder/{course,grading,sandbox} (from dd10c23 on)
        "release": "autograder.course.release", "screen": "autograder.grading.screen",
        "intake": "autograder.grading.intake", "Workspace": "autograder.grading.gradebook:Workspace",
        "prepare_gradebook": "autograder.grading.gradebook:prepare_gradebook",
        "run": "autograder.grading.run", "Job": "autograder.grading.records:Job",
        "grade_one": "autograder.grading.jobs:grade_one"},
    "flat": {  # autograder/grade.py and its neighbours (ed22d5f and before)
        "release": "autograder.release", "screen": "autograder.screen", "intake": "autograder.intake",
        "Workspace": "autograder.grade:Workspace", "prepare_gradebook": "autograder.grade:prepare_gradebook",
        "run": "autograder.grade", "Job": "autograder.grade:Job", "grade_one": "autograder.grade:grade_one"},
}


def layout_of(tree: Path) -> str:
    return "grading-package" if (tree / "autograder" / "grading" / "jobs.py").exists() else "flat"


def load(tree: Path, kernel: str) -> SimpleNamespace:
    """The grader's pieces, imported from this interpreter's environment, which must hold ``tree``'s."""
    parts = {"origins": origins(tree, kernel)}
    for name, where in LAYOUTS[layout_of(tree)].items():
        module, _, attr = where.partition(":")
        parts[name] = getattr(importlib.import_module(module), attr) if attr else importlib.import_module(module)
    return SimpleNamespace(**parts)


def origins(tree: Path, kernel: str) -> dict:
    """Where ``autograder``, ``mnistcnn`` and the named kernel came from; raise unless from ``tree`` (the
    packages) and this interpreter's venv (the kernel spec)."""
    from jupyter_client.kernelspec import KernelSpecManager

    import autograder
    import mnistcnn

    found = {"autograder": Path(autograder.__file__).parent, "mnistcnn": Path(mnistcnn.__file__).parent,
             "kernel": Path(KernelSpecManager().get_kernel_spec(kernel).resource_dir)}
    home = {"autograder": tree, "mnistcnn": tree, "kernel": Path(sys.prefix)}
    for name, path in found.items():
        if not path.resolve().is_relative_to(home[name].resolve()):
            raise RuntimeError(f"{name} was found in {path}, not in {home[name]} ({sys.executable})")
    return {name: str(path) for name, path in found.items()}


def describe() -> dict:
    """This interpreter, its venv and the versions of the packages that matter to the timings."""
    def version(*dists: str) -> str | None:
        for dist in dists:
            try:
                return metadata.version(dist)
            except metadata.PackageNotFoundError:
                pass
        return None

    return {"python": sys.executable, "venv": sys.prefix, "python_version": platform.python_version(),
            "versions": {"tensorflow": version("tensorflow-cpu", "tensorflow"), "keras": version("keras"),
                         "nbgrader": version("nbgrader")}}


def template_gradebook(g: SimpleNamespace, work: Path, cache: Path | None) -> bytes:
    """The fresh gradebook a job starts from, made by this grader once and kept in ``cache`` (the
    class's cost, not the job's)."""
    if cache and cache.exists():
        return cache.read_bytes()
    data = g.prepare_gradebook(g.Workspace(work))
    if cache:
        cache.write_bytes(data)
    return data


def make_job(g: SimpleNamespace, cfg: dict):
    """A job for the submission in ``cfg["folder"]`` (one notebook per file), as ``grade_class`` makes it;
    ``cfg["wall"]`` is a notebook's time limit when there is no sandbox (else the sandbox's)."""
    folder, cache = Path(cfg["folder"]), Path(cfg["template"]) if cfg.get("template") else None
    g.release.use_tool_path()
    names = g.run.notebook_names()
    files = {p.stem: p for p in sorted(folder.glob("*.ipynb")) if p.stem in names}
    released_by_nb = {p.stem: g.screen.released_cells(p) for p in sorted(g.release.NOTEBOOKS.glob("*.ipynb"))}
    usable, notes = g.run.screen_submission(cfg["student"], files, released_by_nb)
    box = g.run.sandbox_setting(None, False)
    wall = box["limits"].get("wall", cfg["wall"]) if box else cfg["wall"]
    template = template_gradebook(g, Path(cfg["work"]), cache)
    solutions = {p.name: p.read_bytes() for p in sorted(g.release.SOLUTIONS.glob("*.ipynb"))}
    return g.Job(student=cfg["student"], input_sha=g.intake.sha256_files(files), files=usable,
                 missing=[n for n in names if n not in usable], incidents=notes, solutions=solutions,
                 released={"en": g.run.released_by_notebook()}, template_db=template, threads=cfg["threads"],
                 timeout=len(names) * (wall + 120) + 600, threshold=cfg["threshold"], sandbox=box)


def grade_job(cfg: dict) -> dict:
    """Grade ``cfg["folder"]`` as ``cfg["student"]`` with the grader of ``cfg["tree"]``: the job's
    seconds (``grade_one`` timed here, and as the job timed itself), its status, score and accuracy, and
    where its code came from."""
    tree = Path(cfg["tree"])
    g = load(tree, cfg["kernel"])
    job = make_job(g, cfg)
    start = time.perf_counter()
    result = g.grade_one(job)
    wall = time.perf_counter() - start
    grades = [c for nb in result.grades.values() for c in nb.values()]
    return {"job_s": wall, "seconds": result.seconds, "judge_s": result.judge_seconds, "status": result.status,
            "error": result.error, "accuracy": result.accuracy, "layout": layout_of(tree), "origins": g.origins,
            "score": [sum(c["auto_score"] or 0 for c in grades), sum(c["max_score"] or 0 for c in grades)]}


def main(argv: list[str]) -> int:
    answer = describe() if argv[:1] == ["--describe"] else grade_job(json.loads(argv[0]))
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
