"""The one writer: the grading folder, nbgrader's gradebook, and the result records (only this process writes them)."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

from autograder.course import release
from autograder.grading.records import JobResult
from mnistcnn.constants import ASSIGNMENT


class Workspace:
    """The grading folder: nbgrader's layout plus results/, grades.csv and report.html."""

    def __init__(self, path: Path, db_url: str | None = None):
        self.path = Path(path).resolve()
        self.db_url = db_url or f"sqlite:///{self.path / 'gradebook.db'}"
        for sub in ("submitted", "autograded", "feedback", "results"):
            (self.path / sub).mkdir(parents=True, exist_ok=True)

    def course_args(self, db_url: str | None = None) -> list[str]:
        return [f"--CourseDirectory.root={self.path}",
                f"--CourseDirectory.source_directory={release.ROOT / 'solutions'}",
                "--CourseDirectory.submitted_directory=submitted",
                "--CourseDirectory.autograded_directory=autograded",
                "--CourseDirectory.feedback_directory=feedback",
                f"--CourseDirectory.db_url={db_url or self.db_url}"]

    def result_path(self, student: str) -> Path:
        return self.path / "results" / f"{student}.json"

    def load_result(self, student: str) -> dict | None:
        path = self.result_path(student)
        return json.loads(path.read_text()) if path.exists() else None

    def results(self) -> list[dict]:
        return [json.loads(p.read_text()) for p in sorted((self.path / "results").glob("*.json"))]


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def quiet_sqlalchemy() -> None:
    """nbgrader's own update_or_create_submission and add_submission trip SQLAlchemy 2's autoflush
    warnings; the rows they write are complete (checked by the tests against the gradebook)."""
    import warnings

    from sqlalchemy.exc import SAWarning

    warnings.filterwarnings("ignore", category=SAWarning)


def write_result(ws: Workspace, result: JobResult | dict) -> dict:
    """The one writer: files, then the gradebook, then the result record (the commit marker)."""
    from nbgrader.api import Gradebook

    result = asdict(result) if isinstance(result, JobResult) else result
    student = result["student"]
    if result["status"] == "ok":
        quiet_sqlalchemy()
        for kind, files in (("autograded", result.pop("autograded")), ("feedback", result.pop("feedback"))):
            for name, data in files.items():
                write_atomic(ws.path / kind / student / ASSIGNMENT / name, data)
        with Gradebook(ws.db_url) as gb:
            gb.update_or_create_student(student)
            gb.update_or_create_submission(ASSIGNMENT, student, timestamp=result.get("timestamp") or None)
            for nb_name, cells in result["grades"].items():
                for gid, g in cells.items():
                    grade = gb.find_grade(gid, nb_name, ASSIGNMENT, student)
                    grade.auto_score = g["auto_score"]
                    grade.needs_manual_grade = g["needs_manual_grade"]
                for cid, text in result.get("comments", {}).get(nb_name, {}).items():
                    gb.find_comment(cid, nb_name, ASSIGNMENT, student).auto_comment = text
                penalties = (result.get("late") or {}).get("penalties", {})  # set, never added: a regrade replaces it
                gb.find_submission_notebook(nb_name, ASSIGNMENT, student).late_submission_penalty = \
                    penalties.get(nb_name) if result.get("late") else None
            gb.db.commit()
            sub = gb.find_submission(ASSIGNMENT, student)
            result["score"], result["max_score"] = float(sub.score), float(sub.max_score)
    result.pop("autograded", None)
    result.pop("feedback", None)
    result["graded_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    write_atomic(ws.result_path(student), json.dumps(result, indent=1, sort_keys=True).encode())
    return result


def in_gradebook(ws: Workspace, student: str) -> bool:
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(ws.db_url) as gb:
        try:
            sub = gb.find_submission(ASSIGNMENT, student)
        except MissingEntry:
            return False
        return all(g.auto_score is not None for nb in sub.notebooks for g in nb.grades)


def prepare_gradebook(ws: Workspace) -> bytes:
    """Register the assignment in the course's gradebook; return a fresh template gradebook for jobs."""
    with tempfile.TemporaryDirectory(prefix="mnistcnn-gb-") as tmp:
        release.nbgrader("generate_assignment", ASSIGNMENT, "--force", "--log-level=ERROR", *ws.course_args(),
                         f"--CourseDirectory.release_directory={tmp}/release")
        release.nbgrader("generate_assignment", ASSIGNMENT, "--force", "--log-level=ERROR",
                         *ws.course_args(f"sqlite:///{tmp}/template.db"),
                         f"--CourseDirectory.release_directory={tmp}/release2")
        return Path(tmp, "template.db").read_bytes()


def read_identities(ws: Workspace) -> dict:
    """The LMS identities the intake found (student id -> name, email, LMS ids), if any."""
    try:
        return json.loads((ws.path / "lms_identities.json").read_text())
    except (OSError, ValueError):
        return {}
