"""Convnets on MNIST, the students' kit: one entry point on Linux, macOS and Windows.

    python course.py setup                  # once: .venv with the course's packages, its kernel, MNIST
    python course.py lab                    # JupyterLab on the notebooks
    python course.py check                  # run your notebooks as the grader does (nbgrader validate)
    python course.py handin --student ID    # convnet-ID.zip, the file to upload

`python course.py setup --no-venv` uses the Python that runs it (an activated conda environment
made from environment.yml) instead of creating .venv. Only Python's standard library is used here,
and the course's names from mnistcnn/constants.py next to this file.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from pathlib import Path

from mnistcnn.constants import ASSIGNMENT, FIRST_NOTEBOOK

KIT = Path(__file__).resolve().parent
VENV = KIT / ".venv"
STAMP = KIT / ".course-python"  # the Python that `setup` prepared
MIN_PYTHON = (3, 10)
VALIDATE_SUCCESS = "Success! Your notebook passes all the tests."


def say(text: str) -> None:
    print(text, flush=True)


def child_env() -> dict:
    """The environment of every command: UTF-8 output, and this environment's Jupyter files first."""
    return {**os.environ, "PYTHONIOENCODING": "utf-8", "JUPYTER_PREFER_ENV_PATH": "1"}


def run(*cmd, check: bool = True, quiet: bool = False) -> int:
    """Run ``cmd`` in the kit's folder, shown first; exit with a message if it fails and ``check``."""
    cmd = [str(c) for c in cmd]
    say("> " + (subprocess.list2cmdline(cmd) if os.name == "nt" else shlex.join(cmd)))
    code = subprocess.call(cmd, cwd=KIT, env=child_env(), stdout=subprocess.DEVNULL if quiet else None)
    if check and code != 0:
        sys.exit(f"course.py: the command above failed (exit status {code})")
    return code


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def course_python() -> Path:
    """The Python that `setup` prepared (set up first when nothing is)."""
    if not STAMP.exists():
        say("The course is not set up yet: setting it up first.")
        setup([])
    return KIT / STAMP.read_text(encoding="utf-8").strip()  # relative: .venv's, which moves with the kit


def setup(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="course.py setup", description="Install what the notebooks need.")
    ap.add_argument("--no-venv", action="store_true",
                    help="use this Python (e.g. an activated conda environment) instead of creating .venv")
    args = ap.parse_args(argv)
    if sys.version_info < MIN_PYTHON:
        sys.exit(f"Python >= {'.'.join(map(str, MIN_PYTHON))} is needed, this is {sys.version.split()[0]}")
    python = this_python() if args.no_venv else make_venv()
    install_kernel(python)
    run(python, "-m", "mnistcnn.data")
    STAMP.write_text(str(python.relative_to(KIT) if KIT in python.parents else python), encoding="utf-8")
    say(f"\nReady. Next: python course.py lab   (the course's Python: {python})")
    return 0


def this_python() -> Path:
    """The Python running this script, once it is seen to have the course's packages."""
    if subprocess.call([sys.executable, "-c", "import nbgrader, ipykernel, jupyterlab, keras"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) != 0:
        sys.exit("course.py: this Python lacks the course's packages; with conda: conda env create -f "
                 "environment.yml, conda activate mnistcnn, then python course.py setup --no-venv again")
    return Path(sys.executable)


def make_venv() -> Path:
    """.venv with the pinned packages of requirements.txt."""
    if not venv_python().exists():
        run(sys.executable, "-m", "venv", VENV)
    python = venv_python()
    run(python, "-m", "pip", "install", "--quiet", "pip>=23.1")  # only where older
    run(python, "-m", "pip", "install", "--quiet", "--progress-bar", "off", "-r", KIT / "requirements.txt")
    return python


def install_kernel(python: Path) -> None:
    """The course's named kernel in ``python``'s environment (mnistcnn/kernelspec.py); it finds the
    course's package here."""
    run(python, "-m", "mnistcnn.kernelspec", "--pythonpath", KIT)


def lab(argv: list[str]) -> int:
    """JupyterLab from the kit's folder (nbgrader's Validate button reads nbgrader_config.py there)."""
    python = course_python()
    try:
        return run(python, "-m", "jupyter", "lab", f"--ServerApp.root_dir={KIT}",
                   f"--ServerApp.default_url=/lab/tree/{FIRST_NOTEBOOK}", *argv, check=False)
    except KeyboardInterrupt:
        return 0


def validate(python: Path, notebook: Path) -> bool:
    """nbgrader validate of one notebook, its report shown as it comes; True when every test passes."""
    say(f"\n=== {notebook.name}: running it in a fresh kernel, as the grader does (nbgrader validate)")
    cmd = [str(python), "-m", "nbgrader", "validate", str(notebook)]
    lines = []
    with subprocess.Popen(cmd, cwd=KIT, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          encoding="utf-8", errors="replace") as proc:
        for line in proc.stdout:
            sys.stdout.write(line)
            lines.append(line)
    return proc.returncode == 0 and any(VALIDATE_SUCCESS in line for line in lines)


def check(argv: list[str]) -> int:
    """Validate the given notebooks (default: all of the assignment); exit status 1 if a test fails."""
    python = course_python()
    notebooks = [Path(a).resolve() for a in argv] or sorted((KIT / ASSIGNMENT).glob("*.ipynb"))
    failing = [nb.name for nb in notebooks if not validate(python, nb)]
    say("")
    for nb in notebooks:
        say(f"  {'FAILS' if nb.name in failing else 'passes'}  {nb.name}")
    if failing:
        say("Some tests fail: their messages are above. Hidden tests run only when your work is graded.")
        return 1
    say("Every visible test passes (hidden tests run when your work is graded). "
        "Next: python course.py handin --student ID")
    return 0


def handin(argv: list[str]) -> int:
    """The hand-in zip (mnistcnn/handin.py, run in the course's Python)."""
    return run(course_python(), "-m", "mnistcnn.handin", "--course", KIT, *argv, check=False)


COMMANDS = {"setup": setup, "lab": lab, "check": check, "handin": handin}


def main(argv: list[str]) -> int:
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="replace")  # a console that cannot show every character
    if not argv or argv[0] not in COMMANDS:
        say(__doc__)
        return 0 if argv[:1] in (["-h"], ["--help"]) else 2
    return COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
