"""nbgrader configuration of the course (loaded by the nbgrader_config.py at the top of the repo).

Course layout, relative to the repository root:
    solutions/<assignment>/   nbgrader's "source": the instructor version, with solutions and hidden tests
    notebooks/<assignment>/   nbgrader's "release": the student version, generated, committed
    notebooks/<lang>/<assignment>/   the student version in another language (release.py), likewise
    grading/                  submissions, autograded copies, feedback and the gradebook (not committed)
"""

from pathlib import Path

from mnistcnn.constants import CELL_TIMEOUT, COURSE_ID, STARTUP_TIMEOUT

c = get_config()  # noqa: F821 (provided by traitlets when it loads this file)

ROOT = Path(__file__).resolve().parents[2]

c.CourseDirectory.root = str(ROOT)
c.CourseDirectory.course_id = COURSE_ID
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"
c.CourseDirectory.submitted_directory = "grading/submitted"
c.CourseDirectory.autograded_directory = "grading/autograded"
c.CourseDirectory.feedback_directory = "grading/feedback"
c.CourseDirectory.solution_directory = "grading/solution"
c.CourseDirectory.source_with_tests_directory = "grading/source_with_tests"
c.CourseDirectory.db_url = f"sqlite:///{ROOT / 'grading' / 'gradebook.db'}"
# The course hands out notebooks through the repository or an LMS, not nbgrader's exchange; a
# private exchange folder keeps the formgrader from warning about (or failing on) a missing one.
c.Exchange.root = str(ROOT / "grading" / "exchange")
# The gradebook's folder must exist before the formgrader or an nbgrader command opens it.
try:
    (ROOT / "grading" / "exchange").mkdir(parents=True, exist_ok=True)
except OSError:  # a read-only checkout: grading jobs use their own folders
    pass
# Only the notebooks and the files they need belong to the assignment.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".*"]

# The training cell runs for one to two minutes on a laptop CPU and several times longer on a
# loaded grading machine; nbgrader's default of 30 s per cell would cut it off. nbgrader's own
# Execute preprocessor has its own `timeout` trait: setting only ExecutePreprocessor.timeout
# does not reach it.
c.Execute.timeout = CELL_TIMEOUT
c.ExecutePreprocessor.timeout = CELL_TIMEOUT
c.Execute.startup_timeout = STARTUP_TIMEOUT

# Autograding as nbgrader does it, with the output streams merged (see autograder/preprocessors.py).
c.Autograde.autograde_preprocessors = [
    "autograder.sandbox.execute.CourseExecute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# The late policy of the last `mnistcnn-grade --deadline` run on grading/ (autograder/late.py): nbgrader's
# own autograde then sets the same late penalties as mnistcnn-grade.
if (ROOT / "grading" / "late_policy.json").is_file():
    import json

    from traitlets.config import Config

    c.merge(Config(json.loads((ROOT / "grading" / "late_policy.json").read_text())))

# A graded cell the student deleted (or whose nbgrader metadata was removed) is put back where it
# was and run: deleting a test never earns or silently loses its points.
c.OverwriteCells.add_missing_cells = True

# The student version: what replaces a solution.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
