"""nbgrader's autograde and generate_feedback, run through its Python API in the grading job's own
process (no command to start: about 2.5 s each), on a job's private course folder.

Each run gets a fresh traitlets configuration (the course's ``nbgrader_config.py``, then the job's
folders and settings) and fresh converter objects: nothing of one job's configuration is left for
the next job of the same worker. nbgrader's log goes to a buffer of the run (the job's log), never
to the worker's console.
"""

from __future__ import annotations

import io
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

from traitlets.config import Config

from autograder.course import release

__all__ = ["NbgraderRun", "course_config", "last_error", "run_converter"]

CONFIG_FILE = release.ROOT / "autograder" / "course" / "nbgrader_config.py"
LOGGER = "autograder.grading.nbgrader"


@dataclass
class NbgraderRun:
    """What one converter run did: whether it succeeded, and its log."""

    ok: bool
    log: str


def course_config(course: Path, db: str, autograded: str = "autograded") -> Config:
    """A fresh configuration: the course's nbgrader_config.py, pointed at the private course folder."""
    from traitlets.config.loader import PyFileConfigLoader

    c = PyFileConfigLoader(CONFIG_FILE.name, path=str(CONFIG_FILE.parent)).load_config()
    c.CourseDirectory.root = str(course)
    c.CourseDirectory.source_directory = "source"
    c.CourseDirectory.submitted_directory = "submitted"
    c.CourseDirectory.autograded_directory = autograded
    c.CourseDirectory.feedback_directory = "feedback"
    c.CourseDirectory.db_url = db
    return c


def run_converter(kind: str, assignment: str, student: str, config: Config) -> NbgraderRun:
    """``nbgrader autograde`` or ``generate_feedback`` (``kind``) of one student, in this process."""
    converter_class = _converter(kind)
    buffer = io.StringIO()
    log = _logger(buffer)
    with warnings.catch_warnings():  # as the command ran, with PYTHONWARNINGS=ignore
        warnings.simplefilter("ignore")
        try:
            return _run(converter_class, assignment, student, config, log, buffer)
        finally:
            for handler in list(log.handlers):
                log.removeHandler(handler)


def _run(converter_class, assignment: str, student: str, config: Config, log: logging.Logger,
         buffer: io.StringIO) -> NbgraderRun:
    from nbgrader.converters import NbGraderException
    from nbgrader.coursedir import CourseDirectory

    coursedir = CourseDirectory(config=config, log=log)
    coursedir.assignment_id, coursedir.student_id = assignment, student
    converter = converter_class(coursedir=coursedir, config=config, log=log)
    try:
        converter.start()
        ok = True
    except NbGraderException:  # nbgrader logged why
        ok = False
    except Exception as exc:  # noqa: BLE001 - as the command would have ended: the job reports it
        log.error("%s: %s", type(exc).__name__, exc, exc_info=True)
        ok = False
    return NbgraderRun(ok, buffer.getvalue())


def _converter(kind: str):
    from nbgrader.converters import Autograde, GenerateFeedback

    return {"autograde": Autograde, "generate_feedback": GenerateFeedback}[kind]


def _logger(buffer: io.StringIO) -> logging.Logger:
    """nbgrader's logger for one run: INFO and above into ``buffer``, nothing to the console."""
    log = logging.getLogger(LOGGER)
    log.setLevel(logging.INFO)
    log.propagate = False
    for handler in list(log.handlers):
        log.removeHandler(handler)
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("[%(levelname)s] %(message)s"))
    log.addHandler(handler)
    return log


def last_error(log: str) -> str:
    lines = [ln.strip() for ln in log.splitlines() if "ERROR" in ln or "Error" in ln]
    return (lines[-1] if lines else log.strip().splitlines()[-1] if log.strip() else "no message")[:500]
