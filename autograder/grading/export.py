"""grades.csv: nbgrader's columns, one column per graded cell, and the late policy's columns."""

from __future__ import annotations

from pathlib import Path

from autograder.course import release
from autograder.grading import intake as intake_mod
from autograder.grading.gradebook import Workspace, read_identities
from mnistcnn.constants import ASSIGNMENT


def export_grades(ws: Workspace) -> Path:
    """nbgrader's CSV export, plus one column per graded test cell."""
    import csv

    from nbgrader.api import Gradebook, MissingEntry

    base = ws.path / "nbgrader_grades.csv"
    release.nbgrader("export", "--log-level=ERROR", *ws.course_args(), f"--CsvExportPlugin.to={base}")
    with open(base, newline="") as f:
        rows = list(csv.DictReader(f))
    cells: list[str] = []
    with Gradebook(ws.db_url) as gb:
        assignment = gb.find_assignment(ASSIGNMENT)
        for nb in sorted(assignment.notebooks, key=lambda n: n.name):
            cells += [f"{nb.name}:{c.name}" for c in nb.grade_cells]
        for row in rows:
            for col in cells:
                nb_name, cell = col.split(":")
                try:
                    row[col] = gb.find_grade(cell, nb_name, ASSIGNMENT, row["student_id"]).score
                except MissingEntry:
                    row[col] = ""
    _late_columns(ws, rows)
    out = ws.path / "grades.csv"
    with open(out, "w", newline="") as f:
        fields = list(rows[0].keys()) if rows else ["student_id", *cells]
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return out


def identities(ws: Workspace) -> dict[str, intake_mod.LmsIdentity]:
    return {s: intake_mod.LmsIdentity(**i) for s, i in read_identities(ws).items()}


def _late_columns(ws: Workspace, rows: list[dict]) -> None:
    """How late, the total penalty (nbgrader's late_submission_penalty) and where the time came from."""
    results = {r["student"]: r for r in ws.results()}
    for row in rows:
        late = (results.get(row["student_id"]) or {}).get("late") or {}
        row["late_by_hours"] = late.get("hours_late", "")
        row["late_penalty"] = late.get("penalty", "")
        row["submission_time_source"] = late.get("source", "")
