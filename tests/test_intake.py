"""Intake of a class's submissions: folders, LMS archives, and what cannot be used."""

import hashlib
import os
import zipfile
from pathlib import Path

import nbformat
from fixtures import examples
from nbgrader.utils import is_grade

from autograder.course import release
from autograder.grading import intake, run
from autograder.grading.feedback import sanitize_for_feedback
from mnistcnn.constants import ASSIGNMENT
from mnistcnn.screening import grade_id

NOTEBOOKS = run.notebook_names()


def tree_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(root).rglob("*")):
        digest.update(str(path.relative_to(root)).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def test_folder_per_student(tmp_path):
    (tmp_path / "src" / "ada").mkdir(parents=True)
    (tmp_path / "src" / "ada" / "01_data.ipynb").write_text("{}")
    (tmp_path / "src" / "ada" / "notes.txt").write_text("x")
    (tmp_path / "src" / "Bo Li" / ASSIGNMENT).mkdir(parents=True)
    (tmp_path / "src" / "Bo Li" / ASSIGNMENT / "03_Training.ipynb").write_text("{}")
    (tmp_path / "src" / "stray.ipynb").write_text("{}")
    found = intake.collect(tmp_path / "src", NOTEBOOKS, tmp_path / "work")
    assert set(found.submissions) == {"ada", "bo_li"}
    assert set(found.submissions["bo_li"]) == {"03_training"}
    reasons = dict(found.unmapped)
    assert "not a notebook of the assignment" in reasons["ada/notes.txt"]
    assert "no student recognised" in reasons["stray.ipynb"]


def test_canvas_and_moodle_archive(tmp_path):
    archive = tmp_path / "download.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("doejane_1234_5678_01_data.ipynb", "{}")
        zf.writestr("doejane_late_1234_5679_02_convnet-1.ipynb", "{}")  # late resubmission
        zf.writestr("smithbob_99_100_03_training.ipynb", "{}")
        zf.writestr("Zoë Brown_555_assignsubmission_file_01_data.ipynb", "{}")
        zf.writestr("Al Kay_556_assignsubmission_file_/02_convnet.ipynb", "{}")  # newer Moodle: one folder each
        zf.writestr("smithbob_99_100_essay.pdf", "%PDF")
        zf.writestr("../escape.ipynb", "{}")
        info = zipfile.ZipInfo("ada/01_data.ipynb")
        info.external_attr = (0o120777 << 16)  # a symbolic link
        zf.writestr(info, "/etc/passwd")
    before = hashlib.sha256(archive.read_bytes()).hexdigest()
    found = intake.collect(archive, NOTEBOOKS, tmp_path / "work")
    assert set(found.submissions) == {"doejane", "smithbob", "zoe_brown", "al_kay"}
    assert set(found.submissions["doejane"]) == {"01_data", "02_convnet"}
    reasons = dict(found.unmapped)
    assert "outside the archive" in reasons["../escape.ipynb"]
    assert "symbolic link" in reasons["ada/01_data.ipynb"]
    assert "not a notebook of the assignment" in reasons["smithbob_99_100_essay.pdf"]
    assert not (tmp_path / "escape.ipynb").exists() and not (tmp_path / "work" / "escape.ipynb").exists()
    assert hashlib.sha256(archive.read_bytes()).hexdigest() == before


def test_newest_of_two_files_for_one_notebook_is_used(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    old, new = src / "doejane_1_2_01_data.ipynb", src / "doejane_1_3_01_data-1.ipynb"
    old.write_text("old")
    new.write_text("new")
    os.utime(old, (1, 1))
    found = intake.collect(src, NOTEBOOKS, tmp_path / "work")
    assert found.submissions["doejane"]["01_data"] == new
    assert "another file" in dict(found.unmapped)[str(old)]


def test_feedback_copy_has_no_hidden_tests_and_no_tracebacks():
    nb = nbformat.read(examples.EXAMPLES / "ada" / "03_training.ipynb", as_version=4)
    solution = nbformat.read(release.SOLUTIONS / "03_training.ipynb", as_version=4)
    by_id = {grade_id(c): c for c in solution.cells if grade_id(c)}
    for cell in nb.cells:  # what the autograder runs: the source version of every test cell
        gid = grade_id(cell)
        if is_grade(cell):
            cell.source = by_id[gid].source
            cell.outputs = [nbformat.v4.new_output("error", ename="CheckFailed", evalue="expected: 1",
                                                   traceback=["---> 4 checks.check_test_accuracy(model)"])]
    assert "BEGIN HIDDEN TESTS" in nbformat.writes(nb)
    sanitize_for_feedback(nb, run.released_sources())
    text = nbformat.writes(nb)
    assert "HIDDEN TESTS" not in text and "check_test_accuracy" not in text and "example_history(epochs=7" not in text
    assert "CheckFailed: expected: 1" in text


def test_examples_are_up_to_date_with_the_notebooks():
    assert examples.differences() == [], "run `make examples` and commit examples/"


def test_cli_help_names_the_options():
    import subprocess
    import sys

    exe = Path(sys.executable).parent / "mnistcnn-grade"
    proc = subprocess.run([str(exe), "--help"], capture_output=True, text=True)
    assert proc.returncode == 0
    for option in ("--workers", "--threads", "--scheduler", "--db", "--force", "--out"):
        assert option in proc.stdout


def test_a_source_that_does_not_exist_is_a_clear_error(tmp_path):
    import pytest

    with pytest.raises(FileNotFoundError, match="neither a folder nor a .zip"):
        intake.collect(tmp_path / "nothing.zip", NOTEBOOKS, tmp_path / "work")
