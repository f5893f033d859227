"""Processes the grader starts die with the process that started them (Linux's parent-death signal)."""

from __future__ import annotations

import os
import signal


def parent_death_signal(sig: int = signal.SIGKILL) -> bool:
    """In a child process: get ``sig`` when its parent dies (``PR_SET_PDEATHSIG``; strictly, when the
    thread that started it ends). False where this is not available (not Linux)."""
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, sig) == 0  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - not Linux: the caller's own checks still apply
        return False


def die_with_parent() -> None:
    """``preexec_fn`` of a child the grading job starts: SIGKILL when the job's process dies."""
    parent_death_signal(signal.SIGKILL)


def stop_with_parent(sig: int = signal.SIGTERM) -> None:
    """In a process that must clean up when its parent dies (the sandbox launcher): ``sig`` then,
    and now if the parent is already gone (it died before the signal was set)."""
    parent = os.getppid()
    if parent_death_signal(sig) and os.getppid() != parent:
        os.kill(os.getpid(), sig)
