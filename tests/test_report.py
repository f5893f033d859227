"""The class report on synthetic classes of 300 and of 5 students, without grading anything.

Each class is stored as ``mnistcnn-grade`` stores it: the assignment in a real nbgrader gradebook
(its graded cells and points read from solutions/), and for every student a ``records.JobResult``
written as the writer writes it (the gradebook's grades, the feedback files,
``results/<student>.json``): by ``gradebook.write_result`` itself for the small class, in one gradebook
session for the large one. Planted in it: students below the accuracy threshold, students without a
trained model, very slow gradings, submissions that could not be graded, late penalties.
"""

import json
import re
import shutil
from dataclasses import asdict
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from nbgrader.api import Gradebook
from sqlalchemy import event
from sqlalchemy.engine import Engine

from autograder.course import release
from autograder.grading import gradebook, records, report
from mnistcnn import constants
from mnistcnn.constants import ACCURACY_THRESHOLD

EPOCHS = 5


def graded_cells() -> dict[str, dict[str, float]]:
    """notebook -> grade id -> points, from the instructor's notebooks."""
    cells = {}
    for path in sorted(release.SOLUTIONS.glob("*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if meta.get("grade"):
                cells.setdefault(path.stem, {})[meta["grade_id"]] = float(meta["points"])
    return cells


def plant(n: int) -> dict:
    """Who is unusual in a class of n: a few of each kind in a large class, one of each in a small one."""
    names = [f"student{i:03d}" for i in range(n)]
    if n >= 50:
        return {"names": names,
                "below": {names[7]: 0.9893, names[88]: 0.9561, names[150]: 0.6204, names[n - 1]: 0.1135},
                "no_model": [names[20], names[21]], "slow": {names[30]: 2410.0, names[190]: 3120.5, names[250]: 5003.0},
                "errors": [names[60], names[61]], "late": {names[5]: 2.0, names[6]: 1.0}, "noted": names[9::10]}
    return {"names": names, "below": {names[1]: 0.9712}, "no_model": [names[2]], "slow": {names[3]: 2400.0},
            "errors": [names[4]], "late": {}, "noted": [names[0]]}


def history(rng, diverged: bool) -> dict:
    e = np.arange(1, EPOCHS + 1)
    if diverged:
        return {"loss": [2.30] * EPOCHS, "accuracy": [0.11] * EPOCHS, "val_loss": [2.30] * EPOCHS,
                "val_accuracy": [0.11] * EPOCHS}
    loss = 0.2 * rng.uniform(0.7, 1.3) * np.exp(-0.6 * (e - 1)) + 0.01
    return {"loss": list(loss), "accuracy": list(1 - 0.35 * loss), "val_loss": list(loss * 1.4),
            "val_accuracy": list(1 - 0.45 * loss)}


def register(ws: gradebook.Workspace, cells: dict) -> None:
    with Gradebook(ws.db_url) as gb:
        gb.add_assignment(release.ASSIGNMENT, duedate=datetime(2026, 11, 30, 23, 59))
        for nb, ids in cells.items():
            gb.add_notebook(nb, release.ASSIGNMENT)
            for gid, points in ids.items():
                gb.add_grade_cell(gid, nb, release.ASSIGNMENT, max_score=points, cell_type="code")


def result_of(student: str, cells: dict, planted: dict, rng, threshold: float | None) -> dict:
    """A result as a grading job returns it (records.JobResult), with the submission's time."""
    failed = set(rng.choice(sum(map(len, cells.values())), size=int(rng.integers(0, 4)), replace=False))
    grades, k = {}, 0
    for nb, ids in cells.items():
        grades[nb] = {}
        for gid, points in ids.items():
            grades[nb][gid] = {"auto_score": 0.0 if k in failed else points, "max_score": points,
                               "needs_manual_grade": False}
            k += 1
    no_model = student in planted["no_model"]
    accuracy = None if no_model else planted["below"].get(student, float(rng.uniform(0.9905, 0.9955)))
    if accuracy is not None and accuracy < (threshold or ACCURACY_THRESHOLD):
        grades["03_training"]["test_accuracy_99"]["auto_score"] = 0.0
    error = student in planted["errors"]
    result = records.JobResult(
        student, "0" * 64, status="error" if error else "ok", sandbox="bubblewrap",
        error="nbgrader autograde failed: kernel died" if error else None, grades={} if error else grades,
        accuracy=None if error else accuracy, history=None if (error or no_model) else history(rng, accuracy < 0.5),
        seconds=planted["slow"].get(student, float(rng.uniform(150, 350))), threshold=threshold,
        incidents=[{"notebook": "02_convnet", "cell": None, "kind": "changed",
                    "text": f"test_build_model of {student} was edited (<b>'x'</b> & more) and put back as released"}]
        if student in planted["noted"] else [],
        feedback={} if error else {f"{nb}.html": f"<h1>{student} {nb}</h1>".encode() for nb in cells})
    submitted = datetime(2026, 11, 30, 12) + timedelta(minutes=int(rng.integers(0, 2000)))
    return {**asdict(result), "timestamp": str(submitted)}


def store_together(ws: gradebook.Workspace, results: list[dict]) -> None:
    """What gradebook.write_result stores, for many results in one gradebook session (a session per student,
    as the writer opens while grading, would take a minute for 300 students)."""
    gradebook.quiet_sqlalchemy()  # nbgrader's add_submission trips SQLAlchemy's autoflush warnings, as in the writer
    with Gradebook(ws.db_url) as gb:
        for r in results:
            if r["status"] == "ok":
                gb.update_or_create_student(r["student"])
                sub = gb.add_submission(release.ASSIGNMENT, r["student"], timestamp=r["timestamp"])
                for nb in sub.notebooks:
                    for g in nb.grades:
                        g.auto_score, g.needs_manual_grade = r["grades"][nb.name][g.name]["auto_score"], False
                r["score"], r["max_score"] = sum(g["auto_score"] for nb in r["grades"].values() for g in nb.values()), \
                    sum(g["max_score"] for nb in r["grades"].values() for g in nb.values())
        gb.db.commit()
    for r in results:
        for name, data in r.pop("feedback").items():
            path = ws.path / "feedback" / r["student"] / release.ASSIGNMENT / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        r.pop("autograded")
        r["graded_at"] = "2026-12-01T09:00:00+00:00"
        ws.result_path(r["student"]).write_text(json.dumps(r, indent=1, sort_keys=True))


def synthetic_class(root: Path, n: int, threshold: float | None = ACCURACY_THRESHOLD,
                    run_threshold: float | None = None):
    """A class of n students stored as mnistcnn-grade stores it: by its own writer for a small class,
    in one gradebook session for a large one."""
    rng = np.random.default_rng(n)
    ws, cells, planted = gradebook.Workspace(root), graded_cells(), plant(n)
    register(ws, cells)
    results = [result_of(student, cells, planted, rng, threshold) for student in planted["names"]]
    if n > report.FEW:
        store_together(ws, results)
    else:
        for r in results:
            gradebook.write_result(ws, r)
    with Gradebook(ws.db_url) as gb:
        for student, penalty in planted["late"].items():
            gb.find_submission_notebook("03_training", release.ASSIGNMENT, student).late_submission_penalty = penalty
        gb.db.commit()
    (ws.path / "run.json").write_text(json.dumps({"unmapped": [["stray.txt", "not a notebook"]],
                                                  "sandbox": "bubblewrap", "limits": None, "threshold": run_threshold}))
    return ws, planted


class Page(HTMLParser):
    """The parts of the report the tests read: table rows and their links, images, the outliers list."""

    def __init__(self, text: str):
        super().__init__()
        self.rows, self.images, self.outliers, self.headers = {}, [], [], []
        self._row = self._in = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr" and (a.get("id") or "").startswith("student-"):
            self._row = a["id"].removeprefix("student-")
            self.rows[self._row] = []
        elif tag == "a" and self._row and a["href"].startswith("feedback/"):
            self.rows[self._row].append(a["href"])
        elif tag == "a" and self._in == "outliers":
            self.outliers.append(a["href"].removeprefix("#student-"))
        elif tag == "img":
            self.images.append(a)
        elif tag == "ul" and a.get("id") == "outliers":
            self._in = "outliers"
        elif tag == "th" and "data-col" in a:
            self._in = "th"

    def handle_endtag(self, tag):
        if tag == "tr":
            self._row = None
        if tag in ("ul", "th"):
            self._in = None

    def handle_data(self, data):
        if self._in == "th":
            self.headers.append(data)


def legend_texts(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]


def annotations(ax) -> set[str]:
    return {t.get_text() for t in ax.texts if t.get_text().startswith("student")}


def assert_integer_ticks(axis, lo, hi):
    ticks = [t for t in axis.get_majorticklocs() if lo <= t <= hi]
    assert ticks and all(float(t).is_integer() for t in ticks), ticks


def _no_disk_sync(connection, _record):
    """SQLite without waiting for the disk at each commit: the rows are the same, the class is built
    in seconds instead of a minute (nbgrader commits several times per student)."""
    if type(connection).__module__.startswith("sqlite3"):
        connection.execute("PRAGMA synchronous = OFF")


@pytest.fixture(scope="module", autouse=True)
def fast_sqlite():
    event.listen(Engine, "connect", _no_disk_sync)
    yield
    event.remove(Engine, "connect", _no_disk_sync)


@pytest.fixture(scope="module")
def classes(tmp_path_factory, fast_sqlite):
    """The synthetic classes, each built once: size -> (workspace, planted)."""
    built = {}

    def get(n: int):
        if n not in built:
            built[n] = synthetic_class(tmp_path_factory.mktemp(f"class{n}"), n)
        return built[n]
    return get


@pytest.fixture(scope="module", params=[pytest.param(300, marks=pytest.mark.slow), 5],
                ids=["300_students", "5_students"])
def klass(request, classes):
    ws, planted = classes(request.param)
    data = report.class_data(ws)
    text = report.write_report(ws).read_text()
    page = Page(text)
    return {"n": request.param, "ws": ws, "planted": planted, "data": data, "figs": report.build_figures(data),
            "page": page, "text": text}


def test_no_figure_has_one_legend_entry_or_row_per_student(klass):
    names = set(klass["planted"]["names"])
    for key, (fig, _) in klass["figs"].items():
        texts = legend_texts(fig)
        assert len(texts) <= 6 and not names & {w.strip(",") for t in texts for w in t.split()}, (key, texts)
        width, height = fig.get_size_inches()
        assert width <= 12 and height <= 7, (key, width, height)
        assert len(fig.axes[0].get_yticklabels()) <= 20, key
    assert legend_texts(klass["figs"]["curves"][0])  # the curves say what thin, bold and band mean


def test_curves_thin_with_the_median_and_the_middle_half(klass):
    fig = klass["figs"]["curves"][0]
    histories = klass["data"]["histories"]
    ax = fig.axes[1]
    lines = {ln.get_gid(): ln for ln in ax.lines}
    for student, h in histories.items():
        assert list(lines[f"{student}:accuracy"].get_ydata()) == h["accuracy"]
        assert lines[f"{student}:accuracy"].get_linewidth() < 1
    if klass["n"] == 300:
        assert lines["student000:accuracy"].get_alpha() <= 0.3
    median = np.median([h["accuracy"] for h in histories.values()], axis=0)
    assert np.allclose(lines["median:accuracy"].get_ydata(), median)
    assert lines["median:accuracy"].get_linewidth() > 2
    band = next(c for c in ax.collections if c.get_gid() == "band:accuracy")
    lo, hi = np.percentile([h["accuracy"] for h in histories.values()], [25, 75], axis=0)
    ys = band.get_paths()[0].vertices[:, 1]
    assert np.isclose(ys.min(), lo.min()) and np.isclose(ys.max(), hi.max())
    assert_integer_ticks(ax.xaxis, 1, EPOCHS)
    alt = klass["figs"]["curves"][1]
    assert f"median {np.median([h['accuracy'][-1] for h in histories.values()]):.2%}" in alt


def test_accuracy_outliers_are_named_in_the_figure_and_the_page(klass):
    planted, data, page = klass["planted"], klass["data"], klass["page"]
    below = sorted(planted["below"], key=planted["below"].get)
    assert [s for s, _ in data["outliers"]["below"]] == below
    fig, alt = klass["figs"]["accuracy"]
    ax, zoom = fig.axes
    assert [ln.get_xdata()[0] for ln in ax.lines] == [ACCURACY_THRESHOLD]
    assert sorted(ax.collections[0].get_offsets()[:, 0]) == sorted(data["accuracies"].values())
    named = annotations(ax)
    assert set(below) <= named
    if klass["n"] == 300:
        assert named == set(below)  # only the outliers carry names in a large class
    else:
        assert named == set(data["accuracies"])  # every point carries its name in a small one
    assert f"{len(below)} below the required 99%" in alt and all(s in alt for s in below)
    assert_integer_ticks(zoom.yaxis, 0, zoom.get_ylim()[1])
    assert sum(p.get_height() for p in zoom.patches) == sum(a >= 0.98 for a in data["accuracies"].values())
    assert set(below) | set(planted["no_model"]) | set(planted["errors"]) <= set(page.outliers)
    assert [s for s in data["outliers"]["no_model"]] == planted["no_model"]


def test_the_slowest_gradings_are_named(klass):
    planted, data = klass["planted"], klass["data"]
    slow = sorted(planted["slow"], key=lambda s: -planted["slow"][s])
    assert [s for s, _ in data["outliers"]["slow"]] == slow
    fig, alt = klass["figs"]["time"]
    ax = fig.axes[0]
    assert sorted(ax.collections[0].get_offsets()[:, 0]) == sorted(data["seconds"].values())
    named = annotations(ax)
    assert named == (set(slow) if klass["n"] == 300 else set(data["seconds"]))
    assert all(s in alt for s in slow) and set(slow) <= set(klass["page"].outliers)


def test_counts_are_drawn_on_integer_axes(klass):
    fig, alt = klass["figs"]["scores"]
    ax = fig.axes[0]
    assert_integer_ticks(ax.yaxis, 0, ax.get_ylim()[1])
    assert_integer_ticks(ax.xaxis, 0, klass["data"]["max_score"])
    assert sum(p.get_height() for p in ax.patches) == len(klass["data"]["scores"])
    assert f"of {len(klass['data']['scores'])} students" in alt
    fig, alt = klass["figs"]["pass_rate"]
    bars = fig.axes[0].patches
    assert len(bars) == sum(map(len, graded_cells().values()))  # one bar per graded test, not per student
    rates = klass["data"]["pass_rate"]
    assert [b.get_width() for b in bars] == [rates[c] for c in rates]


def test_every_student_has_a_row_linking_to_their_feedback(klass):
    ws, planted, page = klass["ws"], klass["planted"], klass["page"]
    assert len(page.rows) == klass["n"] == len(planted["names"])
    for student, links in page.rows.items():
        if student in planted["errors"]:
            assert links == []
            continue
        found = [re.fullmatch(rf"feedback/{student}/{constants.ASSIGNMENT}/(\w+)\.html", h)[1] for h in links]
        assert found == list(constants.NOTEBOOKS)
        assert all((ws.path / h).is_file() for h in links)
    assert "late penalty" in page.headers if planted["late"] else "late penalty" not in page.headers
    assert "submitted" in page.headers


def test_every_figure_says_in_words_what_it_shows(klass):
    images = klass["page"].images
    assert len(images) == 5 and all(img["src"].startswith("data:image/png;base64,") for img in images)
    for img in images:
        assert len(img["alt"]) > 60 and re.search(r"\d", img["alt"]), img["alt"]
    assert {p.name for p in (klass["ws"].path / "report_figures").glob("*.png")} == \
           {f"{k}.png" for k in klass["figs"]}


def restored(ws: gradebook.Workspace, to: Path, threshold: float | None, run_threshold: float | None):
    """A copy of a graded class whose results were judged against another threshold (None: results stored
    without one, as before it was stored), and whose last run used run_threshold."""
    shutil.copytree(ws.path, to)
    for path in (to / "results").glob("*.json"):
        path.write_text(json.dumps({**json.loads(path.read_text()), "threshold": threshold}))
    run = json.loads((to / "run.json").read_text())
    (to / "run.json").write_text(json.dumps({**run, "threshold": run_threshold}))
    return gradebook.Workspace(to)


def test_the_threshold_is_the_one_the_class_was_graded_against(classes, tmp_path):
    """Results judged against 98 %: the line is at 98 % and 97.12 % is the only one below it."""
    ws, _ = classes(5)
    data = report.class_data(restored(ws, tmp_path / "own", 0.98, 0.95))
    assert data["threshold"] == 0.98 and data["outliers"]["below"] == [("student001", 0.9712)]
    fig, alt = report.fig_accuracy(data)
    assert [ln.get_xdata()[0] for ln in fig.axes[0].lines] == [0.98] and "required 98%" in alt
    # Results without a threshold of their own (stored before it was): the run's.
    data = report.class_data(restored(ws, tmp_path / "run", None, 0.975))
    assert data["threshold"] == 0.975 and data["outliers"]["below"] == [("student001", 0.9712)]
    # Neither: the course's 99 %.
    data = report.class_data(restored(ws, tmp_path / "none", None, None))
    assert data["threshold"] == ACCURACY_THRESHOLD and [s for s, _ in data["outliers"]["below"]] == ["student001"]


def test_a_run_graded_against_another_threshold_shows_it(classes, tmp_path):
    """A class graded with --threshold 0.995: the page, the figure and its text say 99.5 %, not the
    course's 99 % (nor 100 %, the rounded figure); so does a run that stored it only in run.json."""
    ws, _ = classes(5)
    for name, own in (("results", 0.995), ("run", None)):
        graded = restored(ws, tmp_path / name, own, 0.995)
        text = report.write_report(graded).read_text()
        assert "trained convnets reach 99.5% test accuracy" in text and "Below 99.5% test accuracy" in text, name
        assert "99% test accuracy" not in text and "100% test accuracy" not in text, name
        fig, alt = report.fig_accuracy(report.class_data(graded))
        assert [ln.get_xdata()[0] for ln in fig.axes[0].lines] == [0.995] and "required 99.5%" in alt
        assert legend_texts(fig) and "99.5% required" in legend_texts(fig)


def test_the_sandbox_limits_are_the_runs(classes, tmp_path):
    """The page states the limits the run graded with, from its own record (run.json)."""
    ws, _ = classes(5)
    graded = restored(ws, tmp_path / "limits", 0.99, 0.99)
    run = json.loads((graded.path / "run.json").read_text())
    limits = {"wall": 900, "memory": 3 * 2**30, "nproc": 64}
    (graded.path / "run.json").write_text(json.dumps({**run, "limits": limits}))
    text = report.write_report(graded).read_text()
    assert "limits per notebook: 900 s, 3.0 GiB of memory, 64 processes" in text


def test_a_class_without_any_trained_model_still_reads(classes, tmp_path):
    """Nobody's training reached the grader: the figures without data say so in words, no 'nan'."""
    ws, planted = classes(5)
    shutil.copytree(ws.path, tmp_path / "untrained")
    for path in (tmp_path / "untrained" / "results").glob("*.json"):
        path.write_text(json.dumps({**json.loads(path.read_text()), "accuracy": None, "history": None}))
    page = Page(report.write_report(gradebook.Workspace(tmp_path / "untrained")).read_text())
    alts = {img["alt"] for img in page.images}
    assert len(alts) == 5 and not any("nan" in alt for alt in alts), alts
    assert "Test accuracy measured by the grader: nothing to show yet." in alts
    assert set(page.outliers) >= set(planted["names"]) - set(planted["errors"])  # none has a model


def test_the_template_is_part_of_the_package(root):
    """The report's template is package data: the wheel carries it next to the code that loads it."""
    import tomllib

    config = tomllib.loads((root / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["autograder.grading"]
    template = root / "autograder" / "grading" / "templates" / "report.html.j2"
    assert any(template.match(f"autograder/grading/{p}") for p in patterns)
    assert "{% trans" in template.read_text()  # the page's words are translatable


def test_the_students_text_is_shown_as_text(klass):
    """Notes carry text from students' files: the page shows it escaped, never as markup."""
    assert "(&lt;b&gt;&#39;x&#39;&lt;/b&gt; &amp; more)" in klass["text"] and "<b>'x'</b>" not in klass["text"]
    assert klass["text"].count("was edited (") == len(klass["planted"]["noted"])


class FigureTables(HTMLParser):
    """Each figure's alt text and the table of its numbers beside it."""

    def __init__(self, text: str):
        super().__init__()
        self.figures, self._fig, self._row, self._cell = {}, None, None, None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "figure":
            self._fig = a["id"].removeprefix("figure-")
            self.figures[self._fig] = {"alt": None, "headers": [], "rows": []}
        elif self._fig and tag == "img":
            self.figures[self._fig]["alt"] = a["alt"]
        elif self._fig and tag == "tr":
            self._row = []
        elif self._fig and tag in ("td", "th"):
            self._cell = ""

    def handle_endtag(self, tag):
        if tag == "figure":
            self._fig = None
        elif self._fig and tag in ("td", "th"):
            self._row.append(self._cell)
            self._cell = None
        elif self._fig and tag == "tr":
            fig = self.figures[self._fig]
            (fig["rows"] if fig["headers"] else fig["headers"]).append(self._row) if fig["headers"] \
                else fig["headers"].extend(self._row)

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


@pytest.fixture(scope="module")
def chinese(classes, tmp_path_factory):
    """The class of 5, its report in Chinese (and then in English again, from the same folder)."""
    import matplotlib

    ws, planted = classes(5)
    to = tmp_path_factory.mktemp("zh")
    shutil.copytree(ws.path, to, dirs_exist_ok=True)
    ws = gradebook.Workspace(to)
    font = list(matplotlib.rcParams["font.family"])
    zh = report.write_report(ws, language="zh_CN").read_text()
    assert list(matplotlib.rcParams["font.family"]) == font  # the CJK font only for that report
    return {"ws": ws, "zh": zh, "en": report.write_report(ws).read_text(), "data": report.class_data(ws)}


def test_the_report_in_chinese_leaves_no_english_sentence(chinese):
    from fixtures.language import english_runs

    assert '<html lang="zh-CN">' in chinese["zh"] and "班级报告：MNIST 卷积神经网络" in chinese["zh"]
    assert english_runs(chinese["zh"]) == []
    assert english_runs(chinese["en"])  # the rule finds English where there is some
    # the students' notes in English (their notebooks' language) are marked as such, and found once unmarked
    assert english_runs(chinese["zh"].replace(' lang="en"', ""))
    assert '<html lang="en">' in chinese["en"] and "Class report" in chinese["en"]


def test_every_figure_has_an_alt_text_and_a_table_of_its_numbers_in_the_reports_language(chinese):
    data, figures = chinese["data"], FigureTables(chinese["zh"]).figures
    assert list(figures) == list(report.FIGURES)
    for name, fig in figures.items():
        assert re.search(r"[\u4e00-\u9fff]", fig["alt"]) and re.search(r"\d", fig["alt"]), (name, fig["alt"])
        assert all(re.search(r"[\u4e00-\u9fff]", h) for h in fig["headers"]), (name, fig["headers"])
        assert fig["rows"], name
    scores = figures["scores"]["rows"]
    assert sum(int(r[1]) for r in scores) == len(data["scores"])
    assert {s for r in scores for s in r[2].split(", ")} == set(data["scores"])
    assert {s: float(r[0]) for r in scores for s in r[2].split(", ")} == data["scores"]
    assert [r[0] for r in figures["pass_rate"]["rows"]] == list(data["pass_rate"])
    assert [r[2] for r in figures["pass_rate"]["rows"]] == [f"{v:.0%}" for v in data["pass_rate"].values()]
    curves = figures["curves"]["rows"]
    assert len(curves) == EPOCHS
    finals = [h["accuracy"][-1] for h in data["histories"].values()]
    assert curves[-1][3] == f"{np.median(finals):.2%}"
    accuracy = {r[0]: r[1] for r in figures["accuracy"]["rows"]}
    assert accuracy == {s: f"{a:.2%}" for s, a in data["accuracies"].items()}
    assert [r[2] for r in figures["accuracy"]["rows"]].count("低于") == len(data["outliers"]["below"])
    assert {r[0]: r[1] for r in figures["time"]["rows"]} == {s: f"{t:.0f}" for s, t in data["seconds"].items()}


def test_the_figures_are_drawn_in_the_reports_language(chinese):
    from mnistcnn import i18n

    with i18n.using("zh_CN"):
        figures = report.build_figures(chinese["data"])
    titles = [ax.get_title() for fig, _ in figures.values() for ax in fig.axes if ax.get_title()]
    assert titles and all(re.search(r"[\u4e00-\u9fff]", t) for t in titles), titles
    assert "Total scores" in [ax.get_title() for ax in report.build_figures(chinese["data"])["scores"][0].axes]
