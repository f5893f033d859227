"""nbgrader autograde, for real, into a real gradebook: a solved submission gets full marks, the
untouched student version zero, and the grader does not crash on it."""

import shutil

import pytest
from nbgrader.api import Gradebook

from autograder.course import release
from mnistcnn.screening import grade_id

pytestmark = pytest.mark.slow


def test_autograde_full_marks_for_solutions_and_zero_for_blank(tmp_path):
    course = tmp_path / "course"
    shutil.copytree(release.SOLUTIONS, course / "solutions" / release.ASSIGNMENT)
    db = f"sqlite:///{course}/gradebook.db"
    common = [f"--CourseDirectory.root={course}", f"--CourseDirectory.db_url={db}"]
    release.nbgrader("generate_assignment", release.ASSIGNMENT, "--force", *common)

    submitted = course / "grading" / "submitted"
    release.solved_copy(submitted / "alice" / release.ASSIGNMENT)
    shutil.copytree(release.NOTEBOOKS, submitted / "bob" / release.ASSIGNMENT)

    proc = release.nbgrader("autograde", release.ASSIGNMENT, *common)
    assert "ERROR" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr

    with Gradebook(db) as gb:
        alice = gb.find_submission(release.ASSIGNMENT, "alice")
        bob = gb.find_submission(release.ASSIGNMENT, "bob")
        assert alice.max_score == 32
        per_cell = {g.name: (g.score, g.max_score) for nb in alice.notebooks for g in nb.grades}
        assert all(score == max_score for score, max_score in per_cell.values()), per_cell
        assert alice.score == 32
        assert per_cell["test_accuracy_99"] == (5, 5)
        assert bob.score == 0 and bob.max_score == 32

    # What the student's notebooks printed while being graded: nothing on stderr anywhere, and the
    # training's Keras progress bar as JupyterLab shows it, one line per epoch, not cut off.
    import nbformat

    autograded = course / "grading" / "autograded" / "alice" / release.ASSIGNMENT
    for path in sorted(autograded.glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            for out in cell.get("outputs", []):
                assert not (out.output_type == "stream" and out.name == "stderr"), (path.name, out.text[:300])
    training = nbformat.read(autograded / "03_training.ipynb", as_version=4)
    (train,) = [c for c in training.cells if grade_id(c) == "train"]
    text = "".join(o.get("text", "") for o in train.outputs)
    assert len(train.outputs) == 1 and "Output truncated" not in text
    assert [f"Epoch {i}/5" in text for i in range(1, 6)] == [True] * 5
    assert text.count("844/844") == 5 and "val_accuracy" in text
