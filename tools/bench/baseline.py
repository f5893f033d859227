"""The older grader the grading section compares with (``--baseline REV``): that revision whole, its own
``autograder/``, its own ``mnistcnn/`` and its own kernel spec, in its own virtual environment.

It is made once per revision and kept in ``$XDG_CACHE_HOME/mnistcnn-bench/<sha>/`` (``~/.cache/...``
when XDG_CACHE_HOME is unset), outside the checkout, so every worktree shares it: the revision's files
(``git archive``: the repository gains no worktree), this checkout's MNIST file copied into its data cache
(nothing is fetched), then the revision's own ``make setup`` (its pinned packages, its ``mnistcnn`` and
``autograder`` installed in editable mode from that folder, its named kernel in that venv). A stamp file
marks the folder complete; a folder without one is made again.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tools.bench.common import ROOT, Log

CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mnistcnn-bench"
STAMP = ".bench-ready"
SETUP_LOG = ".bench-setup.log"


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()


def venv_python(tree: Path) -> Path:
    return tree / ".venv" / "bin" / "python"


def prepare(rev: str, log: Log) -> dict:
    """The baseline's revision, folder and interpreter; its folder made first if it is not complete."""
    sha = git("rev-parse", "--verify", f"{rev}^{{commit}}")
    tree = CACHE / sha
    if not (tree / STAMP).is_file():
        log(f"preparing the baseline {rev} (its own checkout and venv, once, ~4 min) in {tree}")
        t = time.perf_counter()
        build(sha, tree)
        log(f"  the baseline is ready in {time.perf_counter() - t:.0f} s")
    return {"rev": rev, "sha": sha, "subject": git("log", "-1", "--format=%s", sha), "tree": str(tree),
            "python": str(venv_python(tree))}


@contextlib.contextmanager
def locked(path: Path):
    """Held by one benchmark at a time (two runs must not make the same folder together)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def build(sha: str, tree: Path) -> None:
    with locked(tree.with_name(f"{sha}.lock")):
        if (tree / STAMP).is_file():  # made by another run meanwhile
            return
        shutil.rmtree(tree, ignore_errors=True)
        tree.mkdir(parents=True)
        archive = subprocess.run(["git", "archive", sha], cwd=ROOT, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
        copy_data(tree)
        setup(tree)
        (tree / STAMP).write_text(f"{sha}\n")


def copy_data(tree: Path) -> None:
    """This checkout's MNIST file, as the revision's course cache (``data/mnist.npz``)."""
    from mnistcnn.data import find_file

    (tree / "data").mkdir(exist_ok=True)
    shutil.copy2(find_file(), tree / "data" / "mnist.npz")


def base_python() -> str:
    """The interpreter this checkout's venv was made from: both venvs get the same Python."""
    exe = getattr(sys, "_base_executable", None)
    return exe if exe and Path(exe).is_file() else "python3"


def setup(tree: Path) -> None:
    """The revision's ``make setup``, its output kept in the folder's log."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "MNIST_PATH")}
    with open(tree / SETUP_LOG, "w") as out:
        proc = subprocess.run(["make", "setup", f"PYTHON={base_python()}"], cwd=tree, env=env, stdout=out,
                              stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        tail = (tree / SETUP_LOG).read_text()[-3000:]
        raise RuntimeError(f"`make setup` of the baseline failed ({proc.returncode}) in {tree}:\n{tail}")
