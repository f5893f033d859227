"""The grader speaks the language of each notebook: a class mixing the English and the Chinese
editions, graded by the real grader; and the parts that carry the language, one by one.

The Chinese edition used here is made for the tests (:func:`provisional_release`): the English
release with its language set and some prose and an answer cell's blank in Chinese.
"""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from fixtures import examples
from fixtures.language import english_runs
from nbgrader.utils import is_locked, is_solution

from autograder.course import release
from autograder.grading import feedback, gradebook, late, report, run, screen, verdicts
from autograder.grading.language import submission_language
from autograder.grading.records import Job
from mnistcnn import i18n
from mnistcnn.constants import LANGUAGE_KERNELS
from mnistcnn.screening import grade_id

ZH_INTRO = "# 1 · 数据：手写数字\n\n这是中文版的第一课：用卷积神经网络识别手写数字。"
ZH_STUB = "# 在这里写出你的答案（中文版）\n"
CJK = re.compile(r"[\u4e00-\u9fff]")


def provisional_release(dest: Path) -> Path:
    """A Chinese edition of the release: metadata and kernel of the language, the intro and the first
    answer cell of each notebook changed (same grade ids, same test cells)."""
    dest.mkdir(parents=True, exist_ok=True)
    for path in sorted(release.NOTEBOOKS.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        as_chinese(nb)
        for cell in nb.cells:
            if is_locked(cell) and cell.cell_type == "markdown":
                cell.source = ZH_INTRO if path.stem == "01_data" else "# 中文版\n\n" + cell.source
                break
        first = next(c for c in nb.cells if is_solution(c))
        first.source = ZH_STUB + first.source
        nbformat.write(nb, dest / path.name)
    return dest


def as_chinese(nb) -> None:
    name, display = LANGUAGE_KERNELS["zh_CN"]
    nb.metadata.setdefault("mnistcnn", {})["language"] = "zh_CN"
    nb.metadata["kernelspec"] = {"name": name, "display_name": display, "language": "python"}


def chinese_solved(dest: Path, zh_release: Path) -> Path:
    """What a student of the Chinese edition who solved everything hands in: the solved answers in
    the Chinese notebooks."""
    release.solved_copy(dest)
    for path in sorted(dest.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        zh = {grade_id(c): c.source for c in nbformat.read(zh_release / path.name, as_version=4).cells
              if is_locked(c)}
        for cell in nb.cells:
            if is_locked(cell) and grade_id(cell) in zh:
                cell.source = zh[grade_id(cell)]
        as_chinese(nb)
        nbformat.write(nb, path)
    return dest


@pytest.fixture
def zh_release(tmp_path, monkeypatch):
    folder = provisional_release(tmp_path / "notebooks" / "zh_CN" / "convnet")
    english = screen.released_folder
    monkeypatch.setattr(screen, "released_folder", lambda lang: folder if lang == "zh_CN" else english(lang))
    return folder


# ----------------------------------------------------------------------------- the parts, fast


def test_each_edition_is_found_by_its_language(zh_release):
    assert screen.released_folder("en") == release.NOTEBOOKS
    assert screen.editions() == {"en": release.NOTEBOOKS, "zh_CN": zh_release}
    assert run.released_by_notebook("zh_CN")["01_data"]["intro"] == ZH_INTRO
    assert run.released_by_notebook("en")["01_data"]["intro"] != ZH_INTRO


def test_without_its_edition_a_chinese_notebook_is_screened_against_the_english_release():
    assert screen.released_folder("zh_CN") == release.ROOT / "notebooks" / "zh_CN" / "convnet"
    assert screen.edition_folder("xx") == release.NOTEBOOKS


def test_a_notebook_is_screened_against_the_release_of_its_language_and_told_in_it(zh_release, tmp_path):
    """The Chinese blank is untouched against its own release; a deleted test cell is told in Chinese."""
    nb = nbformat.read(zh_release / "01_data.ipynb", as_version=4)
    nb.cells = [c for c in nb.cells if grade_id(c) != "test_encode_labels"]
    (tmp_path / "sub").mkdir()
    nbformat.write(nb, tmp_path / "sub" / "01_data.ipynb")
    shutil.copy(zh_release / "02_convnet.ipynb", tmp_path / "sub")
    files = {p.stem: p for p in (tmp_path / "sub").glob("*.ipynb")}
    languages = {nb: screen.file_language(path) for nb, path in files.items()}
    assert languages == {"01_data": "zh_CN", "02_convnet": "zh_CN"}
    editions = {lang: {p.stem: screen.released_cells(p) for p in folder.glob("*.ipynb")}
                for lang, folder in screen.editions().items()}
    usable, notes = run.screen_submission("li", files, editions["en"], languages, editions)
    assert set(usable) == {"01_data", "02_convnet"}
    assert [n["notebook"] for n in notes] == ["01_data"]  # the Chinese blank of 02_convnet is as released
    assert run._missing_notes(["01_data", "03_training"], files, "zh_CN")[0]["text"] == \
        "没有提交 03_training.ipynb：其中的测试均得 0 分"


def test_an_unreadable_file_counts_as_english(tmp_path):
    (tmp_path / "a.ipynb").write_bytes(b"{not json")
    assert screen.file_language(tmp_path / "a.ipynb") == "en"
    assert submission_language({}) == "en"
    assert submission_language({"01_data": "zh_CN", "02_convnet": "zh_CN", "03_training": "en"}) == "zh_CN"


def test_the_judging_process_is_told_each_notebooks_language():
    assert verdicts.language_arguments({"01_data": "en", "02_convnet": "en"}) == []
    assert verdicts.language_arguments({"02_convnet": "zh_CN", "01_data": "en"}) == ["--languages",
                                                                                      "02_convnet=zh_CN"]


def test_each_kernel_gets_its_notebooks_language_and_a_spare_of_another_language_is_not_used():
    from autograder.sandbox.execute import CourseExecute, _Ahead

    ex = CourseExecute(languages={"01_data": "zh_CN"}, kernel_env={"X": "1"})
    assert ex.kernel_environment("01_data")["MNISTCNN_LANGUAGE"] == "zh_CN"
    assert ex.kernel_environment("02_convnet")["MNISTCNN_LANGUAGE"] == "en"
    assert CourseExecute().kernel_environment("01_data") is None

    class Spare:
        kernel_name, _sandbox_cwd, language = "mnistcnn", str(Path.cwd()), "en"
        discarded = claimed = False

        def running(self):
            return True

        def claim(self):
            self.claimed = True

        def discard(self):
            self.discarded = True

    for lang, used in (("en", False), ("zh_CN", True)):
        ex._ahead, ex._notebook, ex.resources = _Ahead(spare=Spare()), "01_data", {}
        spare = ex._ahead.spare
        spare.language = lang
        assert (ex._take_spare() is spare) is used and spare.discarded is not used


def test_lateness_is_told_in_the_submissions_language():
    policy = late.policy_from_args("2026-12-15T23:59+01:00", "10%/day", None, "2h")
    record = late.LateRecord(deadline="", policy="", timestamp="2026-12-16 10:00", source="timestamp.txt",
                             seconds_late=36000, penalty=1, penalties={"01_data": 1})
    with i18n.using("zh_CN"):
        record.policy = policy.describe()
        text = record.text()
    assert text == ("提交于 2026-12-16 10:00（来源：timestamp.txt）：比截止时间晚了 10 小时，迟交扣 1 分（01_data -1；"
                    "截止时间 2026-12-15T23:59+01:00；迟交后每开始一天扣 10% 的分数，最多扣 100%；宽限 2 小时）。")
    assert "late" not in text.replace("timestamp", "")
    record.policy = policy.describe()
    assert record.text().endswith("(01_data -1; deadline 2026-12-15T23:59+01:00; 10% of the points per day started "
                                  "late, at most 100%; grace 2 h).")


def test_feedback_shows_the_edition_the_student_worked_in(zh_release):
    """Locked cells come back from the student's edition (autograde put the English source's back);
    the notes' heading and the not-graded page are in the submission's language."""
    nb = nbformat.read(release.NOTEBOOKS / "01_data.ipynb", as_version=4)
    job = Job("li", "0" * 64, files={}, solutions={}, released={"en": run.released_by_notebook(),
                                                               "zh_CN": run.released_by_notebook("zh_CN")},
              template_db=b"", threads=1, timeout=1, threshold=0.99, languages={"01_data": "zh_CN"})
    feedback.restore_locked(nb, feedback.edition_sources(job, "01_data"))
    assert nb.cells[0].source == ZH_INTRO
    with i18n.using("zh_CN"):
        assert feedback.notes_cell(["x"]).source.startswith("**评分程序对本笔记本的说明**")
        page = feedback.not_graded_page(["03_training.ipynb"], "zh_CN")
    assert "<html lang='zh-CN'>" in page and "Not graded" not in page and CJK.search(page)
    assert feedback.with_lang(b"<html>\n<head>", "zh_CN") == b'<html lang="zh-CN">\n<head>'
    assert feedback.edition_sources(job, "02_convnet")["intro"].startswith("# 中文版")
    job.languages = {}
    assert feedback.edition_sources(job, "01_data")["intro"] != ZH_INTRO


# ----------------------------------------------------------------------------- a class, for real


@pytest.fixture(scope="module")
def mixed_class(tmp_path_factory):
    """A class of three graded once: ``wang`` (Chinese, solved), ``li`` (Chinese, blank), ``dee``
    (English, blank), with a deadline everyone met (a lateness note for each)."""
    mp = pytest.MonkeyPatch()
    tmp = tmp_path_factory.mktemp("zh")
    zh = provisional_release(tmp / "notebooks" / "zh_CN" / "convnet")
    english = screen.released_folder
    mp.setattr(screen, "released_folder", lambda lang: zh if lang == "zh_CN" else english(lang))
    source = tmp / "submissions"
    chinese_solved(source / "wang", zh)
    shutil.copytree(zh, source / "li")
    shutil.copytree(examples.EXAMPLES / "dee", source / "dee")
    ws, out = gradebook.Workspace(tmp / "grading"), io.StringIO()
    policy = late.policy_from_args("2099-01-01T00:00Z", "10%/day", None, None)
    try:
        summary = run.grade_class(source, ws, workers=2, threads=1, out=out, policy=policy)
    finally:
        mp.undo()
    return {"ws": ws, "summary": summary, "out": out.getvalue(), "zh": zh}


def _feedback(ws, student: str, notebook: str) -> str:
    return (ws.path / "feedback" / student / "convnet" / f"{notebook}.html").read_text()


@pytest.mark.slow
def test_a_mixed_class_is_graded_each_in_its_language(mixed_class):
    ws = mixed_class["ws"]
    assert mixed_class["summary"]["errors"] == {}, mixed_class["out"]
    results = {r["student"]: r for r in ws.results()}
    assert {s: r["score"] for s, r in results.items()} == {"wang": 32, "li": 0, "dee": 0}
    assert results["wang"]["languages"] == {nb: "zh_CN" for nb in ("01_data", "02_convnet", "03_training")}
    assert set(results["dee"]["languages"].values()) == {"en"}
    autograded = json.loads((ws.path / "autograded" / "wang" / "convnet" / "01_data.ipynb").read_text())
    assert autograded["metadata"]["mnistcnn"]["language"] == "zh_CN"  # survives nbgrader's autograde


@pytest.mark.slow
def test_chinese_feedback_has_the_chinese_lesson_notes_and_headings(mixed_class):
    ws = mixed_class["ws"]
    page = _feedback(ws, "wang", "01_data")
    assert '<html lang="zh-CN">' in page and "这是中文版的第一课" in page
    assert "评分程序对本笔记本的说明" in page and "按时提交" in page
    assert "来源：文件修改时间" in page
    assert "Grader&#39;s notes" not in page and "Grader's notes" not in page and "on time (" not in page
    training = _feedback(ws, "wang", "03_training")
    assert "评分程序：在你的笔记本之外" in training and "Grader: test accuracy" not in training
    blank = _feedback(ws, "li", "03_training")
    assert "评分程序没有收到训练好的模型" in blank and "# 中文版" not in _feedback(ws, "dee", "03_training")


@pytest.mark.slow
def test_the_english_submission_in_the_same_class_stays_english(mixed_class):
    ws = mixed_class["ws"]
    for nb in ("01_data", "02_convnet", "03_training"):
        page = _feedback(ws, "dee", nb)
        assert '<html lang="en">' in page and "on time" in page
        assert not CJK.search(page), nb
    assert "no trained model reached the grader" in _feedback(ws, "dee", "03_training")


@pytest.mark.slow
def test_the_class_report_in_chinese_has_no_english_sentence(mixed_class):
    ws = mixed_class["ws"]
    path = report.write_report(ws, language="zh_CN")
    page = path.read_text()
    assert '<html lang="zh-CN">' in page and "班级报告" in page
    assert english_runs(page) == []


def test_the_report_language_is_the_instructors_choice(tmp_path, monkeypatch, capsys):
    from autograder.grading import grade

    seen = {}
    monkeypatch.setattr(grade, "grade_class", lambda *a, **kw: seen.update(kw) or {"errors": {}})
    assert grade.main([str(tmp_path), "--out", str(tmp_path / "out"), "--language", "zh_CN"]) == 0
    assert seen["language"] == "zh_CN"
    assert grade.main([str(tmp_path), "--out", str(tmp_path / "out")]) == 0 and seen["language"] == "en"
    with pytest.raises(SystemExit):
        grade.main([str(tmp_path), "--language", "fr"])
    assert "zh_CN" in capsys.readouterr().err


def test_a_cell_whose_judging_failed_is_told_in_its_notebooks_language():
    why = ("took longer than {seconds:.0f} s", {"seconds": 600})
    message = "judging this test's evidence {why}; the grader judged the other tests in a new process"
    zh = verdicts._failed(("01_data", "test_encode_labels"), message, why, {"01_data": "zh_CN"})
    en = verdicts._failed(("02_convnet", "test_conv_output_size"), message, why, {"01_data": "zh_CN"})
    assert zh["message"] == "评判这个测试的证据时用时超过 600 秒；评分程序已在新进程中评判其余测试" and zh["problem"]
    assert en["message"] == ("judging this test's evidence took longer than 600 s; the grader judged the other "
                             "tests in a new process")


def test_why_the_sandbox_stopped_a_notebook_is_told_in_its_language():
    """The launcher records each reason's message and values with its English text; the grader tells it
    in the notebook's language (the English text where a reason has no message)."""
    from autograder.sandbox import launcher
    from autograder.sandbox.execute import sandbox_reason_text

    reason = launcher._reason("wall", "the notebook ran longer than the limit of {seconds:.0f} s", seconds=900.0)
    assert reason["text"] == "the notebook ran longer than the limit of 900 s"
    assert json.loads(json.dumps(reason)) == reason  # it goes through the events file
    assert sandbox_reason_text(reason) == reason["text"]
    with i18n.using("zh_CN"):
        assert sandbox_reason_text(reason) == "笔记本的运行时间超过了 900 秒的上限"
        assert sandbox_reason_text({"kind": "wall", "text": "older events"}) == "older events"
