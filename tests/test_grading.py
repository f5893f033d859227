"""Grading a whole class for real: parallel jobs on a Dask cluster, one writer, the real gradebook.

Slow: the correct example trains the convnet (5 epochs) inside nbgrader.
"""

import csv
import hashlib
import io
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from fixtures import examples
from nbgrader.api import Gradebook

from autograder.course import release
from autograder.grading import gradebook, report, run
from mnistcnn.constants import ACCURACY_THRESHOLD

pytestmark = pytest.mark.slow


def tree_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(Path(root).rglob("*")):
        digest.update(str(path.relative_to(root)).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def cell_scores(db_url: str, student: str) -> dict:
    with Gradebook(db_url) as gb:
        sub = gb.find_submission(release.ASSIGNMENT, student)
        return {f"{nb.name}:{g.name}": g.score for nb in sub.notebooks for g in nb.grades}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The shipped examples graded once by the CLI, 2 workers of 1 thread each."""
    ws_dir = tmp_path_factory.mktemp("grading")
    source = tmp_path_factory.mktemp("src") / "submissions"
    shutil.copytree(examples.EXAMPLES, source)
    before = tree_hash(source)
    out = io.StringIO()
    summary = run.grade_class(source, gradebook.Workspace(ws_dir), workers=2, threads=1, out=out)
    return {"ws": gradebook.Workspace(ws_dir), "summary": summary, "out": out.getvalue(), "source": source,
            "source_hash": before}


def test_every_example_gets_its_expected_grade(graded):
    ws = graded["ws"]
    assert graded["summary"]["errors"] == {}, graded["out"]
    results = {r["student"]: r for r in ws.results()}
    assert set(results) == {"ada", "ben", "cyd", "dee", "eve"}
    scores = {s: r["score"] for s, r in results.items()}
    assert scores["ada"] == 32 and scores["dee"] == 0
    assert 0 < scores["cyd"] < scores["ben"] < 32, scores
    assert results["ada"]["accuracy"] >= ACCURACY_THRESHOLD
    ada = cell_scores(ws.db_url, "ada")
    assert ada["03_training:test_accuracy_99"] == 5
    ben = cell_scores(ws.db_url, "ben")
    assert ben["02_convnet:test_build_conv_base"] == 0 and ben["03_training:test_compile_model"] == 0
    assert ben["01_data:test_preprocess_images"] == 3
    cyd = cell_scores(ws.db_url, "cyd")
    assert cyd["01_data:test_preprocess_images"] == 0 and cyd["02_convnet:test_build_model"] == 3


def test_each_next_kernel_was_started_ahead(graded):
    """While a notebook runs, the next one's sandboxed kernel starts (CourseExecute.upcoming): every
    notebook after the first ran in such a kernel, and the grades above are those of these runs."""
    results = {r["student"]: r for r in graded["ws"].results()}
    assert results["ada"]["kernels_ahead"] == 2, {s: r["kernels_ahead"] for s, r in results.items()}


def test_monkeypatching_the_notebook_cannot_buy_the_accuracy_points(graded):
    """eve patches model.evaluate, the course's accuracy function, numpy.argmax and print in her kernel:
    her notebook claims 99.5 %, the grader's own measurement in a clean process gives no points."""
    ws = graded["ws"]
    eve = {r["student"]: r for r in ws.results()}["eve"]
    assert eve["accuracy"] is not None and eve["accuracy"] < ACCURACY_THRESHOLD
    scores = cell_scores(ws.db_url, "eve")
    assert scores["03_training:test_accuracy_99"] == 0
    # Her honest parts still earn their points.
    assert scores["02_convnet:test_build_model"] == 3 and scores["03_training:test_plot_history"] == 3
    feedback = (ws.path / "feedback" / "eve" / release.ASSIGNMENT / "03_training.html").read_text()
    assert "measured outside your notebook" in feedback and "below 99%" in feedback


def test_feedback_teaches_and_hides_the_hidden_tests(graded):
    ws = graded["ws"]
    for student in ("ada", "ben", "cyd", "dee", "eve"):
        for nb in run.notebook_names():
            html = (ws.path / "feedback" / student / release.ASSIGNMENT / f"{nb}.html").read_text()
            assert "BEGIN HIDDEN TESTS" not in html
            assert "check_test_accuracy" not in html and "check_new_model_each_call" not in html
            assert "example_history(epochs=7" not in html
    ben = (ws.path / "feedback" / "ben" / release.ASSIGNMENT / "02_convnet.html").read_text()
    assert "padding=&#39;same&#39; keeps the size" in ben or "padding='same' keeps the size" in ben
    assert "likely mistake" in ben
    # The grader's message in place of the cell's outputs, not the frames of the course's own code (a
    # hidden test's line would show), and no hint: a graded run is one attempt.
    assert "The grader&#39;s own run of your answer:" in ben or "The grader's own run of your answer:" in ben
    assert "Convolutional base: layer 0 (Conv2D)" in ben and "checks.py" not in ben
    assert "✗ 0 of 3 points." in ben and "✓ Passed: 2 of 2 points" in ben
    assert "During handling" not in ben and "hint (" not in ben
    # The instructor's autograded copies keep everything.
    autograded = (ws.path / "autograded" / "ada" / release.ASSIGNMENT / "03_training.ipynb").read_text()
    assert "check_test_accuracy" in autograded


def test_grades_csv_has_nbgraders_columns_and_one_per_test_cell(graded):
    ws = graded["ws"]
    rows = list(csv.DictReader(open(ws.path / "grades.csv")))
    assert {r["student_id"] for r in rows} == {"ada", "ben", "cyd", "dee", "eve"}
    for col in ("assignment", "student_id", "raw_score", "score", "max_score"):
        assert col in rows[0]
    cell_cols = [c for c in rows[0] if ":" in c]
    assert len(cell_cols) == 14 and "03_training:test_accuracy_99" in cell_cols
    for row in rows:
        assert abs(sum(float(row[c]) for c in cell_cols) - float(row["score"])) < 1e-9


def test_report_figures_show_the_class(graded):
    ws = graded["ws"]
    data = report.class_data(ws)
    figs = {name: fig for name, (fig, _) in report.build_figures(data).items()}
    heights = [p.get_height() for p in figs["scores"].axes[0].patches]
    assert sum(heights) == 5 and heights[32] == 1 and heights[0] == 1  # ada full marks, dee zero
    bars = {t.get_text(): b.get_width() for t, b in zip(figs["pass_rate"].axes[0].get_yticklabels(),
                                                       figs["pass_rate"].axes[0].patches)}
    assert bars["01_data:test_preprocess_images"] == pytest.approx(3 / 5)  # ada, ben, eve
    assert bars["03_training:test_accuracy_99"] == pytest.approx(1 / 5)  # ada only
    curves = {ln.get_gid(): list(ln.get_ydata()) for ax in figs["curves"].axes for ln in ax.lines}
    results = {r["student"]: r for r in ws.results()}
    assert curves["ada:loss"] == results["ada"]["history"]["loss"] and len(curves["ada:loss"]) == 5
    assert curves["ada:val_accuracy"] == results["ada"]["history"]["val_accuracy"]
    ax = figs["accuracy"].axes[0]
    assert [ln.get_xdata()[0] for ln in ax.lines] == [ACCURACY_THRESHOLD]
    points = sorted(float(x) for x in ax.collections[0].get_offsets()[:, 0])
    assert points == sorted([results["ada"]["accuracy"], results["eve"]["accuracy"]])
    assert {t.get_text() for t in ax.texts} == {"ada", "eve"}  # few students: every point named
    assert [s for s, _ in data["outliers"]["below"]] == ["eve"]
    times = figs["time"].axes[0].collections[0].get_offsets()[:, 0]
    assert sorted(times) == sorted(r["seconds"] for r in results.values())
    page = (ws.path / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 5
    for student in results:
        assert f'href="feedback/{student}/{release.ASSIGNMENT}/03_training.html"' in page


def test_originals_are_never_modified(graded):
    assert tree_hash(graded["source"]) == graded["source_hash"]


def test_a_second_run_grades_nothing_again(graded):
    ws = graded["ws"]
    before = {s: cell_scores(ws.db_url, s) for s in ("ada", "eve")}
    out = io.StringIO()
    summary = run.grade_class(graded["source"], ws, workers=1, threads=1, out=out)
    assert sorted(summary["skipped"]) == ["ada", "ben", "cyd", "dee", "eve"]
    assert {s: cell_scores(ws.db_url, s) for s in ("ada", "eve")} == before


def test_killed_worker_and_determinism(graded, tmp_path):
    """A real local cluster of two workers; the worker grading a copy of ada's submission is killed in
    the middle of the job. Every grade still arrives exactly once, and ada's copy gets exactly the
    scores and accuracy that ada got in the first run (same submission, same machine)."""
    from dask.distributed import LocalCluster

    src = tmp_path / "src"
    shutil.copytree(examples.EXAMPLES / "ada", src / "ada2")
    shutil.copytree(examples.EXAMPLES / "dee", src / "dee2")
    markers = tmp_path / "markers"
    killed = []

    def killer():
        deadline = time.time() + 600
        while time.time() < deadline and not (markers / "ada2").exists():
            time.sleep(0.2)
        time.sleep(8)  # in the middle of the job: nbgrader is executing the notebooks
        pid = int((markers / "ada2").read_text())
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)
        (markers / "ada2").unlink()

    ws = gradebook.Workspace(tmp_path / "ws")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        thread = threading.Thread(target=killer, daemon=True)
        thread.start()
        summary = run.grade_class(src, ws, threads=1, scheduler=cluster.scheduler_address,
                                    marker_dir=markers, out=io.StringIO())
        thread.join(timeout=5)
    assert killed, "the worker was not killed"
    assert summary["errors"] == {}
    results = {r["student"]: r for r in ws.results()}
    assert set(results) == {"ada2", "dee2"}
    assert results["ada2"]["pid"] != killed[0]  # graded again, by the other or a restarted worker
    with Gradebook(ws.db_url) as gb:
        assert sorted(s.student.id for s in gb.find_assignment(release.ASSIGNMENT).submissions) == ["ada2", "dee2"]
    first = {r["student"]: r for r in graded["ws"].results()}["ada"]
    assert results["ada2"]["accuracy"] == first["accuracy"]
    assert cell_scores(ws.db_url, "ada2") == cell_scores(graded["ws"].db_url, "ada")
    # No process of the killed job is left behind.
    leftovers = subprocess.run(["pgrep", "-f", "mnistcnn-job-ada2"], capture_output=True, text=True).stdout
    assert leftovers.strip() == ""


def test_an_interrupted_run_resumes_where_it_stopped(tmp_path):
    src = tmp_path / "src"
    for student in ("ben", "cyd", "dee"):
        shutil.copytree(examples.EXAMPLES / student, src / student)
    ws_dir = tmp_path / "ws"
    cmd = [str(Path(sys.executable).parent / "mnistcnn-grade"), str(src), "--out", str(ws_dir), "--workers", "1",
           "--threads", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 600
    while time.time() < deadline and not list((ws_dir / "results").glob("*.json")):
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole run dies, its workers and jobs with it
    proc.wait()
    done_first = {p.stem for p in (ws_dir / "results").glob("*.json")}
    assert 1 <= len(done_first) < 3
    out = io.StringIO()
    summary = run.grade_class(src, gradebook.Workspace(ws_dir), workers=1, threads=2, out=out)
    assert set(summary["skipped"]) == done_first
    ws = gradebook.Workspace(ws_dir)
    with Gradebook(ws.db_url) as gb:
        subs = [s.student.id for s in gb.find_assignment(release.ASSIGNMENT).submissions]
    assert sorted(subs) == ["ben", "cyd", "dee"]
    assert {r["student"] for r in ws.results()} == {"ben", "cyd", "dee"}


def test_a_job_past_its_timeout_fails_and_leaves_no_kernel(tmp_path):
    """nbgrader runs in the job's own process: past the job's timeout the running kernel is stopped,
    no later notebook starts, the job says why, and nothing of it is left running."""
    from autograder.grading import jobs, screen
    from autograder.grading.records import Job

    release.use_tool_path()
    ws = gradebook.Workspace(tmp_path / "ws")
    released = {p.stem: screen.released_cells(p) for p in sorted(release.NOTEBOOKS.glob("*.ipynb"))}
    files = {p.stem: p for p in (examples.EXAMPLES / "ada").glob("*.ipynb")}
    usable, notes = run.screen_submission("ada3", files, released)
    job = Job("ada3", "0" * 64, files=usable, incidents=notes, template_db=gradebook.prepare_gradebook(ws),
              solutions={p.name: p.read_bytes() for p in sorted(release.SOLUTIONS.glob("*.ipynb"))},
              released={"en": run.released_by_notebook()}, threads=1, timeout=15, threshold=0.99,
              sandbox=run.sandbox_setting(None, False))
    t = time.perf_counter()
    result = jobs.grade_one(job)
    assert result.status == "error" and result.error == "grading took longer than 15 s", result.error
    assert time.perf_counter() - t < 60  # the notebooks after the deadline did not run
    time.sleep(2)
    leftovers = subprocess.run(["pgrep", "-f", "mnistcnn-job-ada3"], capture_output=True, text=True).stdout
    assert leftovers.strip() == ""
