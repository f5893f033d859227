"""The grade imports of Canvas and Moodle, checked column by column against what each LMS reads."""

import csv
import json
import re
from datetime import datetime, timezone

import pytest
from dateutil import parser as dateparser

from autograder.course import release
from autograder.grading import gradebook, lms_export
from autograder.grading.intake import LmsIdentity
from mnistcnn.constants import ASSIGNMENT

NOW = datetime(2026, 12, 20, 9, 30, tzinfo=timezone.utc)


def _rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def _grades():
    return [
        lms_export.StudentGrade("doejane", 24.8, 32, LmsIdentity("canvas", "doejane", "1234"), feedback="fine"),
        lms_export.StudentGrade("smithbob", 32, 32, LmsIdentity("canvas", "smithbob", "99")),
        lms_export.StudentGrade("zoe_brown", 16, 32, LmsIdentity("moodle", "Zoë Brown", "555"),
                                email="zoe@example.org", first_name="Zoë", last_name="Brown",
                                feedback="Autograded: 16 of 32 points", submitted="2026-12-15T20:00:00+00:00"),
        lms_export.StudentGrade("al_kay", 8, 32, LmsIdentity("moodle", "Al Kay", "556")),
        lms_export.StudentGrade("ada", 30, 32),  # from a folder: no LMS knows her
    ]


# ----------------------------------------------------------------------------- Canvas


def test_canvas_gradebook_import(tmp_path):
    options = lms_export.LmsOptions("Convnets (12345)", now=NOW)
    rows = _rows(lms_export.write_canvas(tmp_path / "canvas.csv", _grades(), options))
    header = rows[0]
    # Canvas's app/models/gradebook_importer.rb: row_has_student_headers? (column 0 has "Student", 1 has "ID"),
    # update_column_count ("SIS User ID" then "SIS Login ID" after the name and ID), header? (the last student
    # column has "Section"), then the assignments, "<title> (<id>)" read by Assignment.title_and_id.
    assert header[:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    assert "Student" in header[0] and "ID" in header[1] and "Section" in header[4]
    assert re.fullmatch(r"(.+) \((\d+)\)", header[5]).groups() == ("Convnets", "12345")
    assert len(header) == 6
    # process_student: the student is found by the Canvas user id in column 1 (the id of the download's names)
    assert rows[1:] == [["doejane", "1234", "", "", "", "24.8"], ["smithbob", "99", "", "", "", "32"]]


def test_canvas_scales_to_the_lms_points():
    options = lms_export.LmsOptions("Convnets (12345)", max_grade=100, now=NOW)
    assert [r["Convnets (12345)"] for r in lms_export.canvas_rows(_grades(), options)] == ["77.5", "100"]


# ----------------------------------------------------------------------------- Moodle's offline grading worksheet

# The columns of the worksheet Moodle's assignment downloads (mod/assign/gradingtable.php with
# is_downloading(): recordid, fullname, the identity fields, status, grade, grademax, gradecanbechanged,
# timesubmitted, timemarked, then each feedback plugin's editor field), in English
# (lang/en/assign.php: recordid 'Identifier', hiddenuser 'Participant ', maxgrade, gradecanbechanged,
# lastmodifiedsubmission, lastmodifiedgrade; assignfeedback_comments: 'Feedback comments').
MOODLE_WORKSHEET = ["Identifier", "Full name", "Email address", "Status", "Grade", "Maximum Grade",
                    "Grade can be changed", "Last modified (submission)", "Last modified (grade)", "Feedback comments"]
# What mod/assign/feedback/offline/importgradeslib.php requires: init() fails without these three.
MOODLE_REQUIRED = ["Identifier", "Grade", "Last modified (grade)"]


def test_moodle_worksheet_without_moodles_own(tmp_path):
    options = lms_export.LmsOptions("Convnets", now=NOW)
    rows = _rows(lms_export.write_moodle_worksheet(tmp_path / "sheet.csv", _grades(), options))
    assert rows[0] == MOODLE_WORKSHEET and all(c in rows[0] for c in MOODLE_REQUIRED)
    table = [dict(zip(rows[0], r)) for r in rows[1:]]
    # next(): the participant number is what follows get_string('hiddenuser', 'assign') = "Participant "
    assert [r["Identifier"][len("Participant "):] for r in table] == ["555", "556"]
    zoe = table[0]
    assert (zoe["Full name"], zoe["Email address"], zoe["Grade"], zoe["Maximum Grade"]) == \
        ("Zoë Brown", "zoe@example.org", "16", "32")
    # the grade is read with unformat_float and must be within 0 .. the assignment's grade
    assert 0 <= float(zoe["Grade"]) <= float(zoe["Maximum Grade"])
    # "Last modified (grade)" goes through strtotime(): an unambiguous time with its zone
    assert dateparser.parse(zoe["Last modified (grade)"]) == NOW.replace(second=0)
    assert zoe["Feedback comments"] == "Autograded: 16 of 32 points"


def test_moodles_own_worksheet_is_filled_in_and_kept(tmp_path):
    given = tmp_path / "Grades-CS101-Convnets-42.csv"
    moodle_rows = [
        ["Participant 555", "Zoë Brown", "zoe@example.org", "Submitted for grading", "", "100.00", "Yes",
         "Tuesday, 15 December 2026, 9:00 PM", "-", ""],
        ["Participant 557", "Cy Dee", "cy@example.org", "No submission", "", "100.00", "Yes", "-", "-", ""],
    ]
    with open(given, "w", newline="", encoding="utf-8-sig") as f:  # Moodle writes a byte-order mark
        csv.writer(f).writerows([MOODLE_WORKSHEET, *moodle_rows])
    options = lms_export.LmsOptions("Convnets", worksheet=given, now=NOW)
    rows = _rows(lms_export.write_moodle_worksheet(tmp_path / "out.csv", _grades(), options))
    assert rows[0] == MOODLE_WORKSHEET  # Moodle's columns, in Moodle's order
    assert rows[1][:4] == moodle_rows[0][:4] and rows[1][5:9] == moodle_rows[0][5:9]  # only Grade, comments change
    assert rows[1][4] == "50"  # 16 of 32 on Moodle's scale of 100
    assert rows[1][9] == "Autograded: 16 of 32 points"
    assert rows[2] == moodle_rows[1]  # a participant without a graded submission: untouched


def test_a_file_that_is_not_a_worksheet_is_refused(tmp_path):
    bad = tmp_path / "grades.csv"
    bad.write_text("Name,Score\nZoe,3\n")
    with pytest.raises(ValueError, match="not Moodle's offline grading worksheet"):
        lms_export.read_worksheet(bad)


# ----------------------------------------------------------------------------- Moodle's gradebook import


def test_moodle_gradebook_import(tmp_path):
    options = lms_export.LmsOptions("Convnets", now=NOW)
    rows = _rows(lms_export.write_moodle_gradebook(tmp_path / "gradebook.csv", _grades(), options))
    # docs.moodle.org "Grade import": the file has the shape of Moodle's CSV export (user fields, then one
    # "<Item type>: <name> (Real)" column per grade item); "Map from" Email address / ID number,
    # "Map to" useremail / useridnumber.
    assert rows[0] == ["First name", "Last name", "ID number", "Email address", "Assignment: Convnets (Real)"]
    assert rows[1:] == [["Zoë", "Brown", "", "zoe@example.org", "16"]]  # Al Kay: no email, no ID number
    # the grade item's maximum is the assignment's: Moodle's worksheet gives it ("Maximum Grade")
    on_100 = lms_export.StudentGrade("zoe_brown", 16, 32, LmsIdentity("moodle", "Zoë Brown", "555"),
                                     id_number="S-17", lms_max=100)
    assert lms_export.gradebook_rows([on_100], options)[0]["Assignment: Convnets (Real)"] == "50"
    assert lms_export.gradebook_rows([on_100], options)[0]["ID number"] == "S-17"


# ----------------------------------------------------------------------------- from a grading folder


def test_write_all_from_the_gradebook_and_results(tmp_path):
    from nbgrader.api import Gradebook

    ws = gradebook.Workspace(tmp_path / "grading")
    release.use_tool_path()
    with Gradebook(ws.db_url) as gb:
        gb.add_assignment(ASSIGNMENT)
        gb.add_notebook("01_data", ASSIGNMENT)
        gb.add_grade_cell("test_x", "01_data", ASSIGNMENT, max_score=6, cell_type="code")
        for student, score, penalty in (("doejane", 6, 1.2), ("zoe_brown", 3, 0.0)):
            gb.add_student(student)
            gb.add_submission(ASSIGNMENT, student)
            g = gb.find_grade("test_x", "01_data", ASSIGNMENT, student)
            g.auto_score, g.needs_manual_grade = score, False
            gb.find_submission_notebook("01_data", ASSIGNMENT, student).late_submission_penalty = penalty
            ws.result_path(student).write_text(json.dumps({"student": student, "status": "ok", "late": {
                "text": "Handed in late", "timestamp": "2026-12-17T04:59:00+00:00"}}))
        gb.db.commit()
    identities = {"doejane": LmsIdentity("canvas", "doejane", "1234"),
                  "zoe_brown": LmsIdentity("moodle", "Zoë Brown", "555")}
    assert lms_export._left_out(lms_export.student_grades(ws, {"doejane": identities["doejane"]}, {}), {}) == \
        ["in no LMS file (not from a Canvas or Moodle download): zoe_brown"]
    written, notes = lms_export.write_all(ws, identities, lms_export.LmsOptions("Convnets (7)", now=NOW))
    assert [p.name for p in written] == ["canvas_grades.csv", "moodle_worksheet.csv"]
    assert notes == ["moodle_gradebook.csv not written: no Moodle student with an email address or ID number "
                     "(pass --worksheet)"]
    assert _rows(ws.path / "canvas_grades.csv")[1] == ["doejane", "1234", "", "", "", "4.8"]  # 6 - 1.2
    sheet = _rows(ws.path / "moodle_worksheet.csv")
    assert sheet[1][:2] == ["Participant 555", "Zoë Brown"] and sheet[1][4:6] == ["3", "6"]
    assert "Handed in late" in sheet[1][9]
