"""nbgrader validate: the solutions pass every test, the student version fails every one cleanly."""

import pytest

from autograder.course import release
from mnistcnn.screening import grade_id

FAST = ["01_data.ipynb", "02_convnet.ipynb"]


@pytest.mark.parametrize("name", FAST)
def test_solution_passes_validation(name):
    results = release.validate_notebook(release.SOLUTIONS / name)
    assert not any(results.values()), results


@pytest.mark.slow
def test_training_solution_passes_validation():
    """Runs the real 5-epoch training, the ≥ 99 % hidden test included."""
    results = release.validate_notebook(release.SOLUTIONS / "03_training.ipynb")
    assert not any(results.values()), results


# The training notebook's blank run takes ~17 s: in the slow set (make test), not in make test-fast.
BLANK = ["01_data.ipynb", "02_convnet.ipynb", pytest.param("03_training.ipynb", marks=pytest.mark.slow)]


@pytest.mark.parametrize("name", BLANK)
def test_blank_student_version_fails_every_test_cleanly(name):
    assert release.check_release_fails_cleanly(release.NOTEBOOKS / name) == []


# The Chinese edition runs the same code as the English one: its validation is in the slow set only.
@pytest.mark.slow
@pytest.mark.parametrize("name", FAST)
def test_chinese_solution_passes_validation(name, tmp_path):
    """solutions/ translated on the fly, run in the Chinese kernel."""
    results = release.validate_notebook(release.solutions_in("zh_CN", tmp_path) / name)
    assert not any(results.values()), results


@pytest.mark.slow
def test_chinese_training_solution_passes_validation(tmp_path):
    results = release.validate_notebook(release.solutions_in("zh_CN", tmp_path) / "03_training.ipynb")
    assert not any(results.values()), results


@pytest.mark.slow
@pytest.mark.parametrize("name", ["01_data.ipynb", "02_convnet.ipynb", "03_training.ipynb"])
def test_blank_chinese_student_version_fails_every_test_cleanly(name):
    assert release.check_release_fails_cleanly(release.release_folder("zh_CN") / name) == []


def notebook_with_padding_mistake(tmp_path):
    import nbformat

    nb = nbformat.read(release.SOLUTIONS / "02_convnet.ipynb", as_version=4)
    for cell in nb.cells:
        if grade_id(cell) == "build_conv_base":
            cell.source = cell.source.replace('layers.Conv2D(32, (3, 3), activation="relu")',
                                              'layers.Conv2D(32, (3, 3), activation="relu", padding="same")')
            assert "same" in cell.source
    path = tmp_path / "02_convnet.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.mark.slow
def test_validate_adds_a_hint_after_three_failures_in_a_row(tmp_path, monkeypatch):
    """Each Validate runs a fresh kernel: the count of failures in a row outlives it."""
    monkeypatch.setenv("MNISTCNN_STATE_DIR", str(tmp_path / "state"))
    path = notebook_with_padding_mistake(tmp_path)
    hint = 'hint (3 failures in a row): the lesson explains this in notebook 2, "Exercise 3'
    for attempt in (1, 2, 3):
        errors = "\n".join(c["raw_error"] for c in release.validate_notebook(path)["failed"])
        assert "padding='same' keeps the size" in errors
        assert (hint in errors) == (attempt == 3), errors


def test_validate_reports_a_wrong_answer_with_its_teaching_message(tmp_path):
    """A student's mistake (padding='same') reaches nbgrader's validation output as our message."""
    path = notebook_with_padding_mistake(tmp_path)
    failed = release.validate_notebook(path)["failed"]
    errors = "\n".join(c["raw_error"] for c in failed)
    assert "padding='same' keeps the size" in errors and "you have:" in errors
    # The student's line and the message, not the frames of the course's code.
    assert "checks.check_conv_base(build_conv_base)" in errors and "Cell In[" in errors
    assert "checks.py" not in errors and "raise CheckFailed" not in errors and "During handling" not in errors
    # The mistake costs the base and what depends on it (summary, whole model), nothing else.
    assert len(failed) == 3, [c["source"][:60] for c in failed]
