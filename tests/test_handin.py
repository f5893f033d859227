"""The students' hand-in (mnistcnn/handin.py) and the grader's intake of what it writes."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder.course import release
from autograder.grading import intake, screen
from autograder.grading.run import notebook_names
from mnistcnn import handin
from mnistcnn.constants import ASSIGNMENT
from mnistcnn.screening import grade_id

NOTEBOOKS = notebook_names()


@pytest.fixture(scope="module")
def solved(tmp_path_factory):
    return release.solved_copy(tmp_path_factory.mktemp("solved"))


@pytest.fixture
def course(tmp_path, solved):
    """A kit's folder with every notebook solved and saved."""
    folder = tmp_path / "kit"
    (folder / "originals").mkdir(parents=True)
    shutil.copytree(release.NOTEBOOKS, folder / "originals" / ASSIGNMENT)
    shutil.copytree(solved, folder / ASSIGNMENT)
    return folder


def hand_in(course: Path, student: str, *more: str) -> int:
    return handin.main(["--student", student, "--course", str(course), *more])


def test_solved_notebooks_are_zipped_under_the_students_name(course, capsys):
    assert hand_in(course, "ada") == 0
    out = capsys.readouterr().out
    assert "convnet-ada.zip" in out and "Upload this one file" in out and "REFUSED" not in out
    with zipfile.ZipFile(course / "convnet-ada.zip") as zf:
        assert sorted(zf.namelist()) == [f"ada/{ASSIGNMENT}/{nb}.ipynb" for nb in NOTEBOOKS]
        for nb in NOTEBOOKS:
            assert zf.read(f"ada/{ASSIGNMENT}/{nb}.ipynb") == (course / ASSIGNMENT / f"{nb}.ipynb").read_bytes()


def _format3(path: Path) -> None:
    path.write_text(json.dumps({"nbformat": 3, "nbformat_minor": 0, "worksheets": [], "metadata": {}}))


def _cleared(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        cell.metadata.pop("nbgrader", None)
    nbformat.write(nb, path)


BREAKS = {
    "deleted": (lambda p: p.unlink(), "not found"),
    "empty": (lambda p: p.write_bytes(b""), "is empty"),
    "damaged": (lambda p: p.write_bytes(p.read_bytes()[:500]), "invalid JSON"),
    "format 3": (_format3, "notebook format 3, not 4"),
    "metadata cleared": (_cleared, "none of the graded cells"),
    "never saved": (lambda p: shutil.copy(release.NOTEBOOKS / p.name, p), "every answer cell is as handed out"),
}


@pytest.mark.parametrize("how", list(BREAKS))
def test_a_notebook_that_would_grade_as_missing_is_refused_with_the_reason(course, capsys, how):
    target = course / ASSIGNMENT / "02_convnet.ipynb"
    hand_in(course, "ada")
    BREAKS[how][0](target)
    assert hand_in(course, "ada") == 1
    out = capsys.readouterr().out
    assert "REFUSED  02_convnet.ipynb" in out and BREAKS[how][1] in out
    assert "ok       01_data.ipynb" in out and "Nothing was written" in out
    assert not (course / "convnet-ada.zip").exists(), "the older zip is removed"
    if target.exists() and how != "never saved":  # the grader gives the same reason
        released = screen.released_cells(release.NOTEBOOKS / target.name)
        ok, notes, _ = screen.screen(target.read_bytes(), target.name, released)
        assert not ok and notes[0] in out


def test_skip_refused_hands_in_the_others(course, capsys):
    shutil.copy(release.NOTEBOOKS / "03_training.ipynb", course / ASSIGNMENT / "03_training.ipynb")
    assert hand_in(course, "ada", "--skip-refused") == 0
    assert "2 of 3 notebooks" in capsys.readouterr().out
    with zipfile.ZipFile(course / "convnet-ada.zip") as zf:
        assert sorted(zf.namelist()) == ["ada/convnet/01_data.ipynb", "ada/convnet/02_convnet.ipynb"]


def test_notes_of_the_grader_are_shown(course, capsys):
    path = course / ASSIGNMENT / "01_data.ipynb"
    nb = nbformat.read(path, as_version=4)
    next(c for c in nb.cells if grade_id(c) == "test_encode_labels").source = "pass"
    nbformat.write(nb, path)
    assert hand_in(course, "ada") == 0
    assert "note: 01_data.ipynb: test cell test_encode_labels was edited" in capsys.readouterr().out


@pytest.mark.parametrize("student", ["Jane Doe", "jane-doe", "jane__doe", "_jane", "", "zoë"])
def test_a_student_id_the_grader_would_change_is_refused(course, capsys, student):
    assert hand_in(course, student) == 2
    assert "not a student id" in capsys.readouterr().err
    assert not list(course.glob("*.zip"))


@pytest.mark.parametrize("student", ["ada", "jane_doe", "s1234567", "b0b_2"])
def test_accepted_ids_are_kept_by_the_intake(student):
    assert handin.STUDENT_ID.fullmatch(student) and intake.slug(student) == student


# --- the grader's intake of hand-in zips ----------------------------------------------------------

@pytest.fixture
def zips(course, tmp_path):
    """Hand-in zips of three students, written by the hand-in itself: {id: zip path}."""
    out = {}
    for student in ("ada", "jane", "bob"):
        (tmp_path / student).mkdir()
        assert handin.main(["--student", student, "--course", str(course), "--out", str(tmp_path / student)]) == 0
        out[student] = tmp_path / student / f"convnet-{student}.zip"
    return out


def _assert_complete(found: intake.Intake, student: str, handed_in: Path) -> None:
    assert sorted(found.submissions[student]) == NOTEBOOKS
    with zipfile.ZipFile(handed_in) as zf:
        inside = {Path(n).stem: zf.read(n) for n in zf.namelist()}
    for nb, path in found.submissions[student].items():
        assert path.read_bytes() == inside[nb]


def test_intake_of_a_hand_in_zip_alone(zips, tmp_path):
    found = intake.collect(zips["ada"], NOTEBOOKS, tmp_path / "work")
    assert set(found.submissions) == {"ada"} and found.unmapped == []
    _assert_complete(found, "ada", zips["ada"])


def test_intake_of_a_folder_of_hand_in_zips(zips, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for student in ("ada", "bob"):
        shutil.copy(zips[student], src)
    found = intake.collect(src, NOTEBOOKS, tmp_path / "work")
    assert set(found.submissions) == {"ada", "bob"} and found.unmapped == []
    _assert_complete(found, "bob", zips["bob"])


def test_intake_of_hand_in_zips_in_a_canvas_download(zips, tmp_path):
    download = tmp_path / "canvas.zip"
    with zipfile.ZipFile(download, "w") as zf:
        zf.write(zips["jane"], "doejane_1234_5678_convnet-jane.zip")  # Canvas's login wins over the id inside
        zf.write(zips["bob"], "smithbob_late_99_100_convnet-bob-1.zip")
        zf.writestr("leeann_7_8_convnet-leeann.zip", b"not a zip")
    found = intake.collect(download, NOTEBOOKS, tmp_path / "work")
    assert set(found.submissions) == {"doejane", "smithbob", "leeann"}
    _assert_complete(found, "doejane", zips["jane"])
    _assert_complete(found, "smithbob", zips["bob"])
    assert found.submissions["leeann"] == {}
    assert "not a notebook of the assignment" in dict(found.unmapped)["leeann_7_8_convnet-leeann.zip"]


def test_intake_of_hand_in_zips_in_a_moodle_download(zips, tmp_path):
    download = tmp_path / "moodle.zip"
    with zipfile.ZipFile(download, "w") as zf:
        zf.write(zips["jane"], "Zoë Brown_555_assignsubmission_file_convnet-jane.zip")
        zf.write(zips["ada"], "Al Kay_556_assignsubmission_file_/convnet-ada.zip")  # newer Moodle: one folder each
    found = intake.collect(download, NOTEBOOKS, tmp_path / "work")
    assert set(found.submissions) == {"zoe_brown", "al_kay"}
    _assert_complete(found, "zoe_brown", zips["jane"])
    _assert_complete(found, "al_kay", zips["ada"])
    assert found.students_of["Al Kay_556_assignsubmission_file_/convnet-ada.zip/ada/convnet/01_data.ipynb"] == "al_kay"


def test_intake_refuses_dangerous_entries_inside_a_hand_in_zip(tmp_path):
    bad = tmp_path / "convnet-eve.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("../escape.ipynb", "{}")
        zf.writestr("eve/convnet/01_data.ipynb", "{}")
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(bad, src / "eve_1_2_convnet-eve.zip")
    found = intake.collect(src, NOTEBOOKS, tmp_path / "work")
    assert set(found.submissions["eve"]) == {"01_data"}
    assert "outside the archive" in dict(found.unmapped)["eve_1_2_convnet-eve.zip/../escape.ipynb"]
    assert not list((tmp_path / "work").rglob("escape.ipynb"))
