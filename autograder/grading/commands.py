"""nbgrader's commands, run in a job's private course folder, and what they report."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from autograder.course import release


def die_with_parent() -> None:
    """In the child: get SIGKILL when the grading job that started it dies (Linux)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - not Linux: the kernel's own parent check still applies
        pass


def course_args(course: Path, db: str, autograded: str = "autograded") -> list[str]:
    return [
        f"--CourseDirectory.root={course}",
        "--CourseDirectory.source_directory=source",
        "--CourseDirectory.submitted_directory=submitted",
        f"--CourseDirectory.autograded_directory={autograded}",
        "--CourseDirectory.feedback_directory=feedback",
        f"--CourseDirectory.db_url={db}",
    ]


def run_nbgrader(args: list[str], cwd: Path, env: dict, timeout: float) -> subprocess.CompletedProcess:
    return release.nbgrader(*args, cwd=cwd, env=env, timeout=timeout, check=False, preexec_fn=die_with_parent)


def last_error(log: str) -> str:
    lines = [ln.strip() for ln in log.splitlines() if "ERROR" in ln or "Error" in ln]
    return (lines[-1] if lines else log.strip().splitlines()[-1] if log.strip() else "no message")[:500]
