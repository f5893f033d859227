"""Deadlines and late penalties: the options, the policy, nbgrader applying it once, and where the
submission times come from (folders, zip entries, Moodle's worksheet, Canvas's Submissions API)."""

import json
import os
import struct
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from fixtures import examples

from autograder.course import release
from autograder.grading import grade, gradebook, intake, jobs, late, lms_export, run, timestamps
from mnistcnn.constants import ASSIGNMENT

NOTEBOOKS = run.notebook_names()
DEADLINE = datetime(2026, 12, 15, 23, 59, tzinfo=timezone(timedelta(hours=1)))


# ----------------------------------------------------------------------------- the options


def test_options_are_parsed():
    policy = late.policy_from_args("2026-12-15T23:59+01:00", "10%/day", "50%", "15m")
    assert policy == late.Policy(DEADLINE, 0.1, "day", 0.5, 900.0)
    assert late.policy_from_args("2026-12-15T22:59Z", "2%/hour", None, "2h").duedate_utc() == \
        datetime(2026, 12, 15, 22, 59)
    assert late.parse_penalty("0.05/h") == (0.05, "hour")
    assert late.parse_duration("1d") == 86400 and late.parse_duration("90") == 90
    assert late.policy_from_args(None, None, None, None) is None


@pytest.mark.parametrize("args, words", [
    (("2026-12-15T23:59", None, None, None), "UTC offset"),
    (("15/12/2026", None, None, None), "not a date"),
    (("2026-12-15T23:59Z", "10%", None, None), "per day or per hour"),
    (("2026-12-15T23:59Z", "10%/week", None, None), "per day or per hour"),
    (("2026-12-15T23:59Z", "150%/day", None, None), "between 0% and 100%"),
    (("2026-12-15T23:59Z", None, "half", None), "--late-cap"),
    (("2026-12-15T23:59Z", None, None, "soon"), "--grace"),
    ((None, "10%/day", None, None), "need a --deadline"),
])
def test_bad_options_say_what_is_wrong(args, words):
    with pytest.raises(late.PolicyError, match=words):
        late.policy_from_args(*args)


@pytest.mark.parametrize("args, words", [
    (["--deadline", "2026-12-15T23:59"], "give the UTC offset"),
    (["--late-penalty", "10%/day"], "need a --deadline"),
    (["--deadline", "2026-12-15T23:59Z", "--lms-timezone", "Mars/Olympus"], "not a time zone"),
    (["--worksheet", "no-such-worksheet.csv"], "cannot be read"),
    (["--canvas-submissions", str(release.ROOT / "README.md")], "not a JSON file"),
])
def test_the_command_line_says_what_is_wrong_before_grading(capsys, args, words):
    assert grade.main([str(examples.EXAMPLES), *args]) == 2
    assert words in capsys.readouterr().err


# ----------------------------------------------------------------------------- the policy


def test_penalty_per_period_started_with_grace_and_cap():
    plugin = late.LatePolicy(penalty=0.1, per="day", cap=0.25, grace=900)
    assert plugin.fraction(0) == 0
    assert plugin.fraction(900) == 0  # within the grace period
    assert plugin.fraction(901) == pytest.approx(0.1)  # a day started
    assert plugin.fraction(86400) == pytest.approx(0.1)
    assert plugin.fraction(86401) == pytest.approx(0.2)
    assert plugin.fraction(10 * 86400) == pytest.approx(0.25)  # the cap
    assert late.LatePolicy(penalty=0.02, per="hour").fraction(3 * 3600 + 1) == pytest.approx(0.08)


def _gradebook(path: Path, scores: dict[str, tuple[float, float]]) -> str:
    """A real nbgrader gradebook: one assignment, one test cell per notebook, one student."""
    from nbgrader.api import Gradebook

    url = f"sqlite:///{path}"
    release.use_tool_path()
    with Gradebook(url) as gb:
        gb.add_assignment(ASSIGNMENT)
        for nb, (_, points) in scores.items():
            gb.add_notebook(nb, ASSIGNMENT)
            gb.add_grade_cell("test_x", nb, ASSIGNMENT, max_score=points, cell_type="code")
        gb.add_student("ada")
        gb.add_submission(ASSIGNMENT, "ada")
        for nb, (score, _) in scores.items():
            g = gb.find_grade("test_x", nb, ASSIGNMENT, "ada")
            g.auto_score, g.needs_manual_grade = score, False
        gb.db.commit()
    return url


def test_nbgrader_applies_the_penalty_once_per_notebook(tmp_path):
    from nbgrader.api import Gradebook

    url = _gradebook(tmp_path / "gb.db", {"01_data": (6, 6), "02_convnet": (1, 13), "03_training": (10, 13)})
    policy = late.Policy(DEADLINE, 0.1, "day", 0.5, 0)
    when = late.SubmissionTime(DEADLINE + timedelta(hours=30), "test")  # two days started
    first = late.apply_penalties(url, ASSIGNMENT, "ada", policy, when)
    # 20 % of each notebook's points, never more than the notebook's score (nbgrader's own rule)
    assert first.penalties == pytest.approx({"01_data": 1.2, "02_convnet": 1.0, "03_training": 2.6})
    assert first.seconds_late == 30 * 3600 and first.hours_late == 30
    again = late.apply_penalties(url, ASSIGNMENT, "ada", policy, when)  # a regrade: the same, not twice
    assert again.penalties == first.penalties and again.penalty == pytest.approx(4.8)
    with Gradebook(url) as gb:
        sub = gb.find_submission(ASSIGNMENT, "ada")
        assert sub.assignment.duedate == datetime(2026, 12, 15, 22, 59)
        assert sub.timestamp == datetime(2026, 12, 17, 4, 59)
        assert float(sub.late_submission_penalty) == pytest.approx(4.8)
    on_time = late.apply_penalties(url, ASSIGNMENT, "ada", policy, late.SubmissionTime(DEADLINE, "test"))
    assert on_time.penalty == 0 and "on time" in on_time.text()
    assert "late penalty 4.8 points" in first.text() and "1.25 d after the deadline" in first.text()


# ----------------------------------------------------------------------------- where the times come from


def _utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def test_folder_times_timestamp_txt_else_modification_time(tmp_path):
    src = tmp_path / "src"
    (src / "ada" / ASSIGNMENT).mkdir(parents=True)
    (src / "ada" / ASSIGNMENT / "01_data.ipynb").write_text("{}")
    (src / "ada" / ASSIGNMENT / "timestamp.txt").write_text("2026-12-16 08:00:00.000000 UTC")
    (src / "ben").mkdir()
    (src / "ben" / "01_data.ipynb").write_text("{}")
    stamp = _utc(2026, 12, 15, 20, 0).timestamp()
    os.utime(src / "ben" / "01_data.ipynb", (stamp, stamp))
    found = intake.collect(src, NOTEBOOKS, tmp_path / "work")
    assert found.unmapped == []  # timestamp.txt is nbgrader's, not a stray file
    times = timestamps.submission_times(found, timestamps.TimeSources(timezone.utc))
    assert times["ada"].timestamp == _utc(2026, 12, 16, 8) and times["ada"].source == "timestamp.txt"
    assert times["ben"].timestamp == _utc(2026, 12, 15, 20) and times["ben"].source == "file modification time"
    assert "no timestamp.txt" in times["ben"].note


def _ut_extra(when: datetime) -> bytes:
    """Info-ZIP's extended timestamp field: flags (1 = modification time), then the time in UTC."""
    return struct.pack("<HHBI", 0x5455, 5, 1, int(when.timestamp()))


def test_moodle_zip_entry_times_and_worksheet(tmp_path):
    archive = tmp_path / "moodle.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(zipfile.ZipInfo("Zoë Brown_555_assignsubmission_file_01_data.ipynb", (2026, 12, 16, 1, 30, 0)),
                    "{}")  # a DOS time: no zone
        info = zipfile.ZipInfo("Al Kay_556_assignsubmission_file_/02_convnet.ipynb", (2026, 1, 1, 0, 0, 0))
        info.extra = _ut_extra(_utc(2026, 12, 15, 21, 0))
        zf.writestr(info, "{}")
    found = intake.collect(archive, NOTEBOOKS, tmp_path / "work")
    assert found.identities["zoe_brown"] == intake.LmsIdentity("moodle", "Zoë Brown", "555")
    assert found.identities["al_kay"] == intake.LmsIdentity("moodle", "Al Kay", "556")
    berlin = timestamps.zone_from_text("+01:00")
    times = timestamps.submission_times(found, timestamps.TimeSources(berlin))
    assert times["zoe_brown"].timestamp == _utc(2026, 12, 16, 0, 30)  # 01:30 at UTC+1
    assert "no time zone" in times["zoe_brown"].note and "UTC+1" in times["zoe_brown"].note
    assert times["al_kay"].timestamp == _utc(2026, 12, 15, 21) and times["al_kay"].source == "zip entry time (UTC)"
    # Moodle's worksheet: the time Moodle recorded the submission, in the instructor's zone
    sheet = {"555": {"Identifier": "Participant 555", "Last modified (submission)": "Wednesday, 16 December 2026, "
                     "12:05 AM"}}
    with_sheet = timestamps.submission_times(found, timestamps.TimeSources(berlin, worksheet=sheet))
    assert with_sheet["zoe_brown"].timestamp == _utc(2026, 12, 15, 23, 5)
    assert with_sheet["zoe_brown"].source.startswith("Moodle worksheet")
    assert with_sheet["al_kay"].source == "zip entry time (UTC)"  # no row of hers: the next source


def test_a_hand_in_zip_is_dated_as_the_download_dates_it(tmp_path):
    """The kit's hand-in zip inside a Moodle download, or in a folder: its notebooks take the time of
    the zip they came in (their own entries say when the student last saved them)."""
    import io

    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zf:
        zf.writestr(zipfile.ZipInfo("ada/convnet/01_data.ipynb", (2026, 12, 1, 9, 0, 0)), "{}")
    archive = tmp_path / "moodle.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("Ada Lovelace_1234_assignsubmission_file_/convnet-ada.zip", (2026, 1, 1, 0, 0, 0))
        info.extra = _ut_extra(_utc(2026, 12, 16, 2, 0))
        zf.writestr(info, inner.getvalue())
    found = intake.collect(archive, NOTEBOOKS, tmp_path / "work")
    assert set(found.submissions["ada_lovelace"]) == {"01_data"}
    times = timestamps.submission_times(found, timestamps.TimeSources(timezone.utc))
    assert times["ada_lovelace"].timestamp == _utc(2026, 12, 16, 2) and times["ada_lovelace"].source == \
        "zip entry time (UTC)"
    folder = tmp_path / "folder" / "ada"
    folder.mkdir(parents=True)
    (folder / "convnet-ada.zip").write_bytes(inner.getvalue())
    os.utime(folder / "convnet-ada.zip", (_utc(2026, 12, 17).timestamp(),) * 2)
    found = intake.collect(tmp_path / "folder", NOTEBOOKS, tmp_path / "work2")
    times = timestamps.submission_times(found, timestamps.TimeSources(timezone.utc))
    assert times["ada"].timestamp == _utc(2026, 12, 17) and times["ada"].source == "file modification time"


def test_canvas_times_come_from_the_submissions_api_never_from_the_zip(tmp_path):
    archive = tmp_path / "canvas.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("doejane_LATE_1234_5678_01_data.ipynb", "{}")
        zf.writestr("smithbob_99_100_01_data.ipynb", "{}")
    found = intake.collect(archive, NOTEBOOKS, tmp_path / "work")
    assert found.identities["doejane"] == intake.LmsIdentity("canvas", "doejane", "1234", late=True)
    times = timestamps.submission_times(found, timestamps.TimeSources(timezone.utc))
    assert times["doejane"].timestamp is None and "Canvas marked it LATE" in times["doejane"].note
    api = tmp_path / "submissions.json"  # the shape of GET /api/v1/courses/:c/assignments/:a/submissions
    api.write_text(json.dumps([{"id": 1, "user_id": 1234, "submitted_at": "2026-12-16T10:00:00Z", "late": True},
                               {"id": 2, "user_id": 99, "submitted_at": None}]))
    canvas = timestamps.read_canvas_submissions(api)
    times = timestamps.submission_times(found, timestamps.TimeSources(timezone.utc, canvas=canvas))
    assert times["doejane"].timestamp == _utc(2026, 12, 16, 10)
    assert times["smithbob"].timestamp is None and "not in --canvas-submissions" in times["smithbob"].note


def test_a_canvas_name_with_letters_beyond_ascii_is_recognised(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "brownzoë_77_88_01_data.ipynb").write_text("{}")
    found = intake.collect(src, NOTEBOOKS, tmp_path / "work")
    assert found.identities["brownzoe"].uid == "77" and set(found.submissions["brownzoe"]) == {"01_data"}


# ----------------------------------------------------------------------------- a real grading, twice


@pytest.fixture(scope="module")
def late_class(tmp_path_factory):
    """Ada hands in her data notebook (6 points) through Canvas, 30 hours late: graded, then regraded."""
    tmp = tmp_path_factory.mktemp("late")
    archive = tmp / "canvas.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(examples.EXAMPLES / "ada" / "01_data.ipynb", "lovelaceada_LATE_4242_9001_01_data.ipynb")
    api = tmp / "submissions.json"
    api.write_text(json.dumps([{"user_id": 4242, "submitted_at": "2026-12-17T04:59:00Z"}]))
    policy = late.policy_from_args("2026-12-15T23:59+01:00", "10%/day", "50%", "15m")
    sources = timestamps.TimeSources(timezone.utc, canvas=timestamps.read_canvas_submissions(api))
    lms = lms_export.LmsOptions("Convnets (12345)")
    ws = gradebook.Workspace(tmp / "grading")
    runs = []
    for force in (False, True, False):
        out = tmp / f"log{len(runs)}.txt"
        with open(out, "w") as f:
            runs.append(run.grade_class(archive, ws, workers=1, threads=2, force=force, out=f, policy=policy,
                                          sources=sources, lms=lms))
    return {"ws": ws, "runs": runs, "log": (tmp / "log0.txt").read_text()}


@pytest.mark.slow  # grades for real, twice (one notebook, no training): about a minute or more
def test_a_regrade_gives_the_same_penalty_once(late_class):
    from nbgrader.api import Gradebook

    ws, runs = late_class["ws"], late_class["runs"]
    assert runs[0]["errors"] == {} and runs[1]["skipped"] == [] and runs[2]["skipped"] == ["lovelaceada"]
    with Gradebook(ws.db_url) as gb:
        sub = gb.find_submission(ASSIGNMENT, "lovelaceada")
        assert float(sub.score) == 6.0
        assert {nb.name: nb.late_submission_penalty for nb in sub.notebooks} == \
            pytest.approx({"01_data": 1.2, "02_convnet": 0.0, "03_training": 0.0})
        assert sub.timestamp == datetime(2026, 12, 17, 4, 59) and sub.total_seconds_late == 30 * 3600
    stamp = ws.path / "submitted" / "lovelaceada" / ASSIGNMENT / "timestamp.txt"
    assert stamp.read_text().startswith("2026-12-17 04:59:00")
    assert "lovelaceada: handed in 2026-12-17T04:59+00:00 (Canvas submissions, submitted_at)" in late_class["log"]


@pytest.mark.slow  # grades for real, twice (one notebook, no training): about a minute or more
def test_feedback_csv_report_and_canvas_show_the_penalty(late_class):
    import csv

    ws = late_class["ws"]
    feedback = (ws.path / "feedback" / "lovelaceada" / ASSIGNMENT / "01_data.html").read_text()
    assert "1.25 d after the deadline: late penalty 1.2 points" in feedback
    assert "Late submission penalty" in feedback  # nbgrader's own line, from the gradebook's penalty
    with open(ws.path / "grades.csv", newline="") as f:
        row = next(csv.DictReader(f))
    assert (row["raw_score"], row["late_submission_penalty"], row["score"]) == ("6.0", "1.2", "4.8")
    assert (row["late_by_hours"], row["late_penalty"]) == ("30.0", "1.2")
    assert row["submission_time_source"] == "Canvas submissions, submitted_at"
    assert "30 h late, -1.2" in (ws.path / "report.html").read_text()
    result = json.loads((ws.path / "results" / "lovelaceada.json").read_text())
    assert result["late"]["penalties"]["01_data"] == pytest.approx(1.2)
    with open(ws.path / "canvas_grades.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows == [["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Convnets (12345)"],
                    ["lovelaceada", "4242", "", "", "", "4.8"]]
    assert not (ws.path / "moodle_worksheet.csv").exists()  # no Moodle participant in a Canvas download


def test_the_course_configuration_gives_nbgrader_the_runs_policy(tmp_path):
    """nbgrader's own autograde, run on grading/, uses the policy of the last run with a deadline."""
    import shutil

    from nbgrader.preprocessors import AssignLatePenalties
    from traitlets.config.loader import PyFileConfigLoader

    config_dir = tmp_path / "autograder" / "course"  # where the course keeps it, below the course's root
    config_dir.mkdir(parents=True)
    shutil.copy(jobs.CONFIG_FILE, config_dir / "nbgrader_config.py")
    (tmp_path / "grading").mkdir()
    policy = late.policy_from_args("2026-12-15T23:59Z", "2%/hour", "30%", None)
    late.save_policy(tmp_path / "grading", policy)
    config = PyFileConfigLoader("nbgrader_config.py", str(config_dir)).load_config()
    plugin = AssignLatePenalties(config=config).plugin_class(config=config)
    assert isinstance(plugin, late.LatePolicy) and (plugin.penalty, plugin.per, plugin.cap) == (0.02, "hour", 0.3)
    late.save_policy(tmp_path / "grading", None)  # a run without a deadline: nbgrader's default again
    config = PyFileConfigLoader("nbgrader_config.py", str(config_dir)).load_config()
    assert AssignLatePenalties(config=config).plugin_class is not late.LatePolicy


def test_dates_that_are_no_dates_give_no_time_not_a_crash(tmp_path):
    archive = tmp_path / "odd.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(zipfile.ZipInfo("ada/01_data.ipynb", (1980, 0, 0, 0, 0, 0)), "{}")  # a zero DOS date
        zf.writestr("doejane_1234_5678_01_data.ipynb", "{}")
    found = intake.collect(archive, NOTEBOOKS, tmp_path / "work")
    canvas = {"1234": "yesterday"}
    times = timestamps.submission_times(found, timestamps.TimeSources(timezone.utc, canvas=canvas))
    assert times["ada"].timestamp is None and "no valid time" in times["ada"].note
    assert times["doejane"].timestamp is None and "not a time" in times["doejane"].note


@pytest.mark.parametrize("text, when", [
    ("2026-12-15T23:59Z", datetime(2026, 12, 15, 23, 59, tzinfo=timezone.utc)),
    (" 2026-12-15T23:59:30.5z ", datetime(2026, 12, 15, 23, 59, 30, 500000, tzinfo=timezone.utc)),
    ("2026-12-15T23:59+01:00", datetime(2026, 12, 15, 23, 59, tzinfo=timezone(timedelta(hours=1)))),
    ("2026-12-15T23:59", datetime(2026, 12, 15, 23, 59)),
])
def test_iso_times_with_z_on_every_python(text, when):
    """One reader of ISO 8601 for deadlines and Canvas's submitted_at; 'Z' is UTC (Python 3.10 too)."""
    got = late.parse_iso(text)
    assert (got.replace(tzinfo=None), got.utcoffset()) == (when.replace(tzinfo=None), when.utcoffset())
    with pytest.raises(ValueError):
        late.parse_iso("Zulu")
