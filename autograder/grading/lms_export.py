"""Grades in the files Canvas and Moodle import as they are, written beside grades.csv.

* ``canvas_grades.csv``: Canvas's gradebook import (Grades > Import). Canvas reads the header
  ``Student, ID[, SIS User ID, SIS Login ID], Section, <assignment>...`` and finds the student by
  ``ID`` (the Canvas user id, from the download's file names), then by the SIS ids, then by name;
  an assignment column named ``<name> (<id>)`` updates that assignment, any other name creates a
  new one (Canvas's ``app/models/gradebook_importer.rb``).
* ``moodle_worksheet.csv``: the assignment's offline grading worksheet (Assignment > View all
  submissions > Upload grading worksheet). Moodle needs ``Identifier`` (``Participant <number>``, the
  number of the download's file names), ``Grade`` and ``Last modified (grade)``, and imports
  ``Feedback comments`` (``mod/assign/feedback/offline/importgradeslib.php``); it skips a row whose
  grade was changed in Moodle more than a minute after "Last modified (grade)". With
  ``--worksheet``, the worksheet Moodle gave is filled in, every other column kept as it was.
* ``moodle_gradebook.csv``: the gradebook's CSV import (Grades > Import > CSV file), in the shape of
  Moodle's gradebook export; Moodle matches the student by ``Email address`` or ``ID number``
  (chosen at import: "Map from" / "Map to"), taken from the worksheet or nbgrader's gradebook.

The grades are the final scores (after any late penalty), scaled to the LMS's maximum grade.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from autograder.grading.intake import LmsIdentity
from mnistcnn.constants import ASSIGNMENT

#: Moodle's English column names (``lang/en/assign.php``, ``lang/en/moodle.php``); Moodle matches them
#: in the language of the instructor's session.
MOODLE_ID, MOODLE_FULLNAME, MOODLE_GRADE = "Identifier", "Full name", "Grade"
MOODLE_MAX, MOODLE_MODIFIED_GRADE = "Maximum Grade", "Last modified (grade)"
MOODLE_MODIFIED_SUBMISSION, MOODLE_FEEDBACK = "Last modified (submission)", "Feedback comments"
MOODLE_PARTICIPANT = "Participant "  # get_string('hiddenuser', 'assign'): the Identifier's prefix
CANVAS_STUDENT_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
MOODLE_WORKSHEET_COLUMNS = [MOODLE_ID, MOODLE_FULLNAME, "Email address", "Status", MOODLE_GRADE, MOODLE_MAX,
                            "Grade can be changed", MOODLE_MODIFIED_SUBMISSION, MOODLE_MODIFIED_GRADE,
                            MOODLE_FEEDBACK]
MOODLE_GRADEBOOK_COLUMNS = ["First name", "Last name", "ID number", "Email address"]


@dataclass
class StudentGrade:
    """One student's final grade and what the LMS files need to know about them."""

    student: str
    score: float  # after the late penalty
    max_score: float
    identity: LmsIdentity | None = None
    email: str = ""
    id_number: str = ""
    first_name: str = ""
    last_name: str = ""
    feedback: str = ""
    submitted: str = ""  # the submission's time, as shown
    lms_max: float | None = None  # the maximum grade the LMS gave (Moodle's worksheet)


@dataclass
class LmsOptions:
    """The instructor's LMS settings of the run."""

    assignment: str = "Convnets on MNIST"  # the column's name in Canvas and Moodle
    max_grade: float | None = None  # the LMS's maximum grade (default: the course's points)
    worksheet: Path | None = None  # Moodle's offline grading worksheet, as downloaded
    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc))


def read_worksheet(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """Moodle's offline grading worksheet: its columns and rows (the BOM Moodle may write removed)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            columns = list(reader.fieldnames or [])
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ValueError(f"--worksheet {path}: cannot be read as a CSV file ({exc})") from None
    missing = [c for c in (MOODLE_ID, MOODLE_GRADE, MOODLE_MODIFIED_GRADE) if c not in columns]
    if missing:
        raise ValueError(f"--worksheet {path}: not Moodle's offline grading worksheet (no column "
                         f"{', '.join(repr(c) for c in missing)}; download it in English)")
    return columns, rows


def worksheet_by_participant(rows: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    """Participant number -> worksheet row."""
    return {r[MOODLE_ID][len(MOODLE_PARTICIPANT):].strip(): r for r in rows
            if (r.get(MOODLE_ID) or "").startswith(MOODLE_PARTICIPANT)}


def scaled(grade: StudentGrade, lms_max: float | None) -> float:
    """The grade on the LMS's scale, rounded to two decimals."""
    if not lms_max or not grade.max_score:
        return round(grade.score, 2)
    return round(grade.score / grade.max_score * lms_max, 2)


def _number(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _write(path: Path, columns: list[str], rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


# ----------------------------------------------------------------------------- Canvas


def canvas_rows(grades: list[StudentGrade], options: LmsOptions) -> list[dict]:
    return [{"Student": g.identity.name, "ID": g.identity.uid, "SIS User ID": "", "SIS Login ID": "", "Section": "",
             options.assignment: _number(scaled(g, options.max_grade))}
            for g in grades if g.identity and g.identity.lms == "canvas"]


def write_canvas(path: Path, grades: list[StudentGrade], options: LmsOptions) -> Path | None:
    rows = canvas_rows(grades, options)
    return _write(path, [*CANVAS_STUDENT_COLUMNS, options.assignment], rows) if rows else None


# ----------------------------------------------------------------------------- Moodle


def _moodle_max(row: dict | None, options: LmsOptions, grade: StudentGrade) -> float:
    from_sheet = (row or {}).get(MOODLE_MAX, "").strip().replace(",", ".")
    try:
        return float(from_sheet)
    except ValueError:
        return options.max_grade or grade.max_score


def worksheet_rows(grades: list[StudentGrade], options: LmsOptions) -> tuple[list[str], list[dict]]:
    """The worksheet's columns and rows: Moodle's own worksheet filled in, or a new one."""
    columns, given = read_worksheet(options.worksheet) if options.worksheet else (MOODLE_WORKSHEET_COLUMNS, [])
    by_uid = {g.identity.uid: g for g in grades if g.identity and g.identity.lms == "moodle"}
    if MOODLE_FEEDBACK not in columns:
        columns = [*columns, MOODLE_FEEDBACK]
    if given:
        rows = [_fill(dict(r), by_uid.get(r[MOODLE_ID][len(MOODLE_PARTICIPANT):].strip()), options) for r in given]
        return columns, rows
    modified = options.now.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")  # strtotime() reads it
    rows = [_fill({MOODLE_ID: f"{MOODLE_PARTICIPANT}{uid}", MOODLE_FULLNAME: g.identity.name,
                   "Email address": g.email, MOODLE_MODIFIED_SUBMISSION: g.submitted,
                   MOODLE_MODIFIED_GRADE: modified}, g, options) for uid, g in sorted(by_uid.items())]
    return columns, rows


def _fill(row: dict, grade: StudentGrade | None, options: LmsOptions) -> dict:
    if grade is None:  # a participant the grader has nothing for: left as Moodle wrote it
        return row
    lms_max = _moodle_max(row, options, grade)
    row[MOODLE_GRADE] = _number(scaled(grade, lms_max))
    row.setdefault(MOODLE_MAX, _number(lms_max))
    row[MOODLE_FEEDBACK] = grade.feedback
    return row


def write_moodle_worksheet(path: Path, grades: list[StudentGrade], options: LmsOptions) -> Path | None:
    columns, rows = worksheet_rows(grades, options)
    return _write(path, columns, rows) if rows else None


def gradebook_rows(grades: list[StudentGrade], options: LmsOptions) -> list[dict]:
    """Moodle's gradebook import: the students Moodle can match (an email address or an ID number)."""
    column = moodle_grade_column(options)
    return [{"First name": g.first_name, "Last name": g.last_name, "ID number": g.id_number,
             "Email address": g.email, column: _number(scaled(g, options.max_grade or g.lms_max))}
            for g in grades if g.identity and g.identity.lms == "moodle" and (g.email or g.id_number)]


def moodle_grade_column(options: LmsOptions) -> str:
    """The grade item's column as Moodle's export names it: ``Assignment: <name> (Real)``."""
    return f"Assignment: {options.assignment} (Real)"


def write_moodle_gradebook(path: Path, grades: list[StudentGrade], options: LmsOptions) -> Path | None:
    rows = gradebook_rows(grades, options)
    return _write(path, [*MOODLE_GRADEBOOK_COLUMNS, moodle_grade_column(options)], rows) if rows else None


# ----------------------------------------------------------------------------- from the grading folder


def student_grades(ws, identities: dict[str, LmsIdentity], worksheet: dict[str, dict[str, str]]) -> list[StudentGrade]:
    """Every graded student's final score, LMS identity, contact fields and feedback line."""
    from nbgrader.api import Gradebook, MissingEntry


    results = {r["student"]: r for r in ws.results() if r.get("status") == "ok"}
    grades = []
    with Gradebook(ws.db_url) as gb:
        for student in sorted(results):
            try:
                sub = gb.find_submission(ASSIGNMENT, student)
            except MissingEntry:
                continue
            grades.append(_student_grade(student, sub, results[student], identities.get(student), worksheet))
    return grades


def _student_grade(student, sub, result: dict, identity: LmsIdentity | None, worksheet: dict) -> StudentGrade:
    row = worksheet.get(identity.uid, {}) if identity and identity.lms == "moodle" else {}
    penalty = float(sub.late_submission_penalty or 0.0)
    score = max(0.0, float(sub.score) - penalty)
    first, _, last = (identity.name if identity else "").partition(" ")
    late = result.get("late") or {}
    text = f"Autograded: {score:g} of {float(sub.max_score):g} points"
    if penalty:
        text += f" ({float(sub.score):g} before a late penalty of {penalty:g})"
    if late.get("text"):
        text += ". " + late["text"].rstrip(".")
    return StudentGrade(student=student, score=score, max_score=float(sub.max_score), identity=identity,
                        email=row.get("Email address") or sub.student.email or "",
                        id_number=row.get("ID number", ""),
                        first_name=sub.student.first_name or first, last_name=sub.student.last_name or last,
                        feedback=text + ". The feedback file has the details.", submitted=late.get("timestamp") or "",
                        lms_max=_number_or_none(row.get(MOODLE_MAX)))


def _number_or_none(text: str | None) -> float | None:
    try:
        return float((text or "").strip().replace(",", "."))
    except ValueError:
        return None


def write_all(ws, identities: dict[str, LmsIdentity], options: LmsOptions) -> tuple[list[Path], list[str]]:
    """The LMS files for the students each LMS can identify; notes on what was not written and why."""
    if not identities:
        return [], ["no LMS grade imports: no student came from a Canvas or Moodle download"]
    sheet = worksheet_by_participant(read_worksheet(options.worksheet)[1]) if options.worksheet else {}
    grades = student_grades(ws, identities, sheet)
    written, notes = [], []
    for path, writer, who in ((ws.path / "canvas_grades.csv", write_canvas, "no student with a Canvas user id"),
                              (ws.path / "moodle_worksheet.csv", write_moodle_worksheet,
                               "no student with a Moodle participant number"),
                              (ws.path / "moodle_gradebook.csv", write_moodle_gradebook,
                               "no Moodle student with an email address or ID number (pass --worksheet)")):
        out = writer(path, grades, options)
        if out:
            written.append(out)
        else:
            path.unlink(missing_ok=True)
            notes.append(f"{path.name} not written: {who}")
    return written, notes + _left_out(grades, sheet if options.worksheet else None)


def _left_out(grades: list[StudentGrade], sheet: dict | None) -> list[str]:
    """The graded students an LMS file has no row for, and why."""
    notes = []
    unknown = [g.student for g in grades if g.identity is None]
    if unknown:
        notes.append(f"in no LMS file (not from a Canvas or Moodle download): {', '.join(unknown)}")
    if sheet is not None:
        absent = [g.student for g in grades
                  if g.identity and g.identity.lms == "moodle" and g.identity.uid not in sheet]
        if absent:
            notes.append(f"not in the --worksheet (another assignment's?), so not in moodle_worksheet.csv: "
                         f"{', '.join(absent)}")
    return notes
