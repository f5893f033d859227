"""The red-team corpus (autograder/redteam.py), graded as one class in the sandbox, case by case.

One grading run of the whole corpus (and one of the hostile archive), then one test per case: its
score, its line in the feedback and in the class report; and tests that nothing else changed: the
honest student's grades, the course's files and a canary in the grader's home (SHA-256), the
gradebook's students, no process left, no file written outside the grading folder.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import subprocess
from pathlib import Path

import pytest
from fixtures import redteam

from autograder.course import release
from autograder.grading.intake import slug
from autograder.sandbox import launcher as sandbox
from mnistcnn.constants import ASSIGNMENT

pytestmark = pytest.mark.slow

ROOT = release.ROOT


def course_hashes() -> dict[str, str]:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    out = {}
    for name in filter(None, files):
        path = ROOT / os.fsdecode(name)
        if path.is_file():
            out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _pids_with(marker: str) -> list[str]:
    proc = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True)
    return [p for p in proc.stdout.split() if p and int(p) != os.getpid()]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    if sandbox.unavailable_reason():
        pytest.fail(f"the sandbox is needed for the red-team corpus: {sandbox.unavailable_reason()}")
    base = tmp_path_factory.mktemp("redteam")
    before = course_hashes()
    done = redteam.grade_corpus(base)
    home = done["home"]
    table = redteam.write_table(done["ws"], base / "redteam.md", done["seconds"], done["ws_zip"])
    print(table.read_text())
    return {**done, "base": base, "before": before, "after": course_hashes(),
            "canary": hashlib.sha256(b"the instructor's own file\n").hexdigest(),
            "canary_after": hashlib.sha256((home / "canary.txt").read_bytes()).hexdigest()
            if (home / "canary.txt").exists() else None}


def test_both_runs_finish_and_grade_everyone(graded):
    for name, proc in graded["runs"].items():
        assert proc.returncode == 0, f"the {name} run failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    results = [json.loads(p.read_text()) for p in sorted((graded["ws"] / "results").glob("*.json"))]
    assert sorted(r["student"] for r in results) == sorted(slug(c.name) for c in redteam.CASES)
    assert all(r["status"] == "ok" and r["sandbox"] == "bubblewrap" for r in results), \
        [(r["student"], r.get("error")) for r in results if r["status"] != "ok"]


@pytest.mark.parametrize("case", [*redteam.CASES, *redteam.ARCHIVE_CASES], ids=lambda c: c.name)
def test_case_outcome(graded, case):
    ws = graded["ws_zip"] if case.kind == "archive" else graded["ws"]
    obs = redteam.observed(ws, case)
    expected, got = redteam.outcome_text(case, obs)
    assert redteam.matches(case, obs, ws), f"{case.name}: expected {expected}\n got {got}"
    student = slug(case.extra.get("student") or case.name)
    report = (ws / "report.html").read_text()
    if case.note and obs.get("graded"):
        line = next(n for n in obs["notes"] if case.note in n)
        feedback = "".join(p.read_text(errors="replace")
                           for p in (ws / "feedback" / student).rglob("*.html"))
        assert line[:60] in html.unescape(report), f"{case.name}: note not in the class report: {line}"
        text = html.unescape(feedback).replace("\\", "")
        assert case.note in text, f"{case.name}: note not in the feedback: {line}"
    elif case.note:
        assert case.note in html.unescape(report)
    if "evidence" in case.extra:
        assert redteam.evidence(ws, case), f"{case.name}: no output with {case.extra['evidence']!r}"
    if "output_lacks" in case.extra:
        lines = redteam.output_lines(ws, case)
        assert lines, f"{case.name}: the graded notebook has no output at all"
        bad = [ln for ln in lines if case.extra["output_lacks"] in ln]
        assert not bad, f"{case.name}: {bad}"
    if "no_process" in case.extra:
        assert not _pids_with(case.extra["no_process"]), "a process of the notebook outlived it"
    if "feedback_lacks" in case.extra:
        pages = [html.unescape(p.read_text(errors="replace")) for p in (ws / "feedback" / student).rglob("*.html")]
        assert pages, f"{case.name}: no feedback page"
        for text in case.extra["feedback_lacks"]:
            assert not any(text in page for page in pages), f"{case.name}: {text!r} in the feedback"


def hidden_material() -> list[str]:
    """Every line of hidden test code (the solutions' hidden parts) and of the grader's hidden parts and
    inputs (autograder/grading/exercises.py), long enough not to be said by chance."""
    from autograder.grading import exercises, results_shown
    from autograder.grading.answers import locked_sources

    sources = [src for p in sorted((ROOT / "solutions" / ASSIGNMENT).glob("*.ipynb"))
               for src in locked_sources(p.read_bytes()).values()]
    code = [ln.strip() for ln in Path(exercises.__file__).read_text().splitlines()
            if len(ln.strip()) >= 25 and not ln.strip().startswith(("#", '"', "def ", "class ", "import ", "from "))]
    return results_shown.hidden_lines(sources) + code


def test_no_hidden_line_in_any_page(graded):
    """No line of a hidden test, and none of the grader's hidden inputs, in any student's feedback, the
    class report or the CSVs, whatever the corpus printed, raised, warned, displayed or wrote."""
    secrets = hidden_material()
    assert len(secrets) > 20, secrets
    pages = [p for ws in (graded["ws"], graded["ws_zip"])
             for p in [*(ws / "feedback").rglob("*.html"), ws / "report.html", *ws.glob("*.csv")] if p.is_file()]
    assert len(pages) > len(redteam.CASES)
    for page in pages:
        text = html.unescape(page.read_text(errors="replace"))
        found = [s for s in secrets if s in text]
        assert not found, f"{page}: {found[:3]}"


def test_honest_student_keeps_full_marks(graded):
    r = json.loads((graded["ws"] / "results" / "honest.json").read_text())
    points = {nb: sum(g["auto_score"] for g in cells.values()) for nb, cells in r["grades"].items()}
    assert points == {"01_data": 6.0, "02_convnet": 13.0, "03_training": 0.0}


def test_course_files_and_home_unchanged(graded):
    changed = [p for p, h in graded["before"].items() if graded["after"].get(p) != h]
    assert not changed, f"course files changed by grading the corpus: {changed}"
    assert graded["canary_after"] == graded["canary"], "the canary file in the grader's home changed"


def test_nothing_written_outside(graded):
    assert not Path("/tmp/mnistcnn-redteam-escape").exists()
    assert not Path("/tmp/mnistcnn-redteam-absolute.ipynb").exists()
    assert not list(graded["base"].rglob("escaped.ipynb"))
    assert not list(Path("/tmp").glob("escaped.ipynb"))


def test_gradebook_holds_every_student_and_only_them(graded):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{graded['ws'] / 'gradebook.db'}") as gb:
        students = sorted(s.id for s in gb.students)
        assert students == sorted(slug(c.name) for c in redteam.CASES)
        for s in students:
            sub = gb.find_submission(ASSIGNMENT, s)
            assert all(g.auto_score is not None for nb in sub.notebooks for g in nb.grades), s


def test_no_sandbox_left_behind(graded):
    leftovers = [p for p in Path("/sys/fs/cgroup").rglob("mnistcnn-*") if p.is_dir()] \
        if Path("/sys/fs/cgroup").is_dir() else []
    assert not leftovers, leftovers
