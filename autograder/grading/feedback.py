"""Feedback for one student: nbgrader's HTML, without the hidden tests or tracebacks quoting them."""

from __future__ import annotations

import html
import json
from pathlib import Path

from autograder.grading import results_shown
from autograder.grading.commands import course_config, last_error, run_converter
from autograder.grading.feedback_labels import translate_labels
from autograder.grading.language import _
from autograder.grading.records import Job, JobPaths, JobResult
from mnistcnn import i18n
from mnistcnn.constants import ASSIGNMENT
from mnistcnn.screening import grade_id


def sanitize_for_feedback(nb, released_sources: dict[str, str]) -> None:
    """Remove what feedback must not show: hidden test code, and tracebacks quoting it.

    Graded cells get the source the student saw (the released one); an error keeps its name and
    message (the teaching message) but not the traceback, which quotes the failing line.
    """
    from nbgrader.utils import is_grade

    for cell in nb.cells:
        if not is_grade(cell) or cell.cell_type != "code":
            continue
        gid = grade_id(cell)
        if gid in released_sources:
            cell.source = released_sources[gid]
        elif "### BEGIN HIDDEN TESTS" in cell.source:
            cell.source = cell.source.split("### BEGIN HIDDEN TESTS")[0].rstrip()
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                out["traceback"] = [f"{out.get('ename', 'Error')}: {out.get('evalue', '')}"]


def restore_locked(nb, released_sources: dict[str, str]) -> None:
    """Locked cells (the lesson's prose and code) as the edition the student worked in has them:
    nbgrader's autograde put back the English source's."""
    from nbgrader.utils import is_locked

    for cell in nb.cells:
        gid = grade_id(cell)
        if gid in released_sources and is_locked(cell):
            cell.source = released_sources[gid]


def edition_sources(job: Job, notebook: str) -> dict[str, str]:
    """grade_id -> released source of ``notebook`` in the edition of its language (English if it has none)."""
    edition = job.released.get(job.language(notebook)) or job.released.get(i18n.SOURCE_LANGUAGE, {})
    return edition.get(notebook, {})


def notes_cell(lines: list[str]):
    """The grader's notes at the top of a notebook's feedback, in the current language."""
    import nbformat

    heading = _("Grader's notes on this notebook")
    return nbformat.v4.new_markdown_cell(f"**{heading}**\n\n" + "\n".join(f"* {markdown_literal(t)}" for t in lines))


def write_feedback(job: Job, paths: JobPaths, result: JobResult) -> bool:
    """Stage 6: nbgrader's feedback from sanitized copies (no hidden tests), the grader's notes on top."""
    import nbformat

    history = paths.record / "history.json"
    result.history = read_history(history)
    autograded = paths.autograded / job.student / ASSIGNMENT
    result.autograded = {p.name: p.read_bytes() for p in sorted(autograded.glob("*.ipynb"))}
    clean = paths.course / "for_feedback" / job.student / ASSIGNMENT
    clean.mkdir(parents=True)
    secrets = results_shown.secret_lines(job.solutions)
    verdicts = {(v["notebook"], v["cell"]): v for v in result.verdicts}
    for path in sorted(autograded.glob("*.ipynb")):
        nb, lang = nbformat.read(path, as_version=4), job.language(path.stem)
        restore_locked(nb, edition_sources(job, path.stem))
        sanitize_for_feedback(nb, edition_sources(job, path.stem))
        with i18n.using(lang):
            results_shown.show_results(nb, path.stem, result.grades.get(path.stem, {}), verdicts,
                                       _accuracy_notes(result, path.stem), secrets)
        lines = [i["text"] for i in result.incidents if i.get("notebook") in (path.stem, None)]
        if lines:  # what the grader noticed, at the top of the feedback
            with i18n.using(lang):
                nb.cells.insert(0, notes_cell(lines))
        nbformat.write(nb, clean / path.name)
    if any(clean.glob("*.ipynb")):
        run = run_converter("generate_feedback", ASSIGNMENT, job.student,
                            course_config(paths.course, paths.db, autograded="for_feedback"))
        if not run.ok:
            result.error = "nbgrader generate_feedback failed: " + last_error(run.log)
            return False
    feedback = paths.course / "feedback" / job.student / ASSIGNMENT
    result.feedback = {p.name: in_language(p.read_text(), job.language(p.stem)).encode()
                       for p in sorted(feedback.glob("*.html"))}
    missing = [i["text"] for i in result.incidents if i.get("kind") == "unusable"]
    if missing:  # no notebook to show them in: a page of their own
        with i18n.using(job.language(None)):
            result.feedback["not_graded.html"] = not_graded_page(missing, job.language(None)).encode()
    return True


def _accuracy_notes(result: JobResult, notebook: str) -> dict:
    """The accuracy test's note (the accuracy the grader measured), the one note shown in its cell's place."""
    from autograder.grading.verdicts import ACCURACY_CELL

    note = result.notes.get(notebook, {}).get(ACCURACY_CELL[1]) if notebook == ACCURACY_CELL[0] else None
    return {ACCURACY_CELL: note} if note else {}


def not_graded_page(lines: list[str], lang: str) -> str:
    """The page of the files that could not be graded, in the current language."""
    items = "".join(f"<li>{html.escape(t)}</li>" for t in lines)
    title, heading = html.escape(_("Not graded")), html.escape(_("Files of yours that could not be graded"))
    return (f"<!DOCTYPE html><html lang='{html_lang(lang)}'><meta charset='utf-8'><title>{title}</title><body>"
            f"<h1>{heading}</h1><ul>{items}</ul></body></html>")


def in_language(page: str, lang: str) -> str:
    """nbgrader's feedback page in the language of its notebook: its ``<html>`` says the language
    (the template has a bare one), and nbgrader's own labels are translated (:mod:`feedback_labels`)."""
    return translate_labels(page.replace("<html>", f'<html lang="{html_lang(lang)}">', 1), lang)


def html_lang(lang: str) -> str:
    """A language code as HTML's ``lang`` attribute has it (zh_CN: zh-CN)."""
    return lang.replace("_", "-")


def read_history(path: Path) -> dict | None:
    """The training history the kernel wrote for the class report's curves (data only, checked)."""
    try:
        if path.is_symlink() or path.stat().st_size > 1_000_000:
            return None
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    return {str(k): [float(v) for v in vals if isinstance(v, (int, float))] for k, vals in data.items()
            if isinstance(vals, list)}


def markdown_literal(text: str) -> str:
    """Student-made text (file and cell names) shown literally in a Markdown cell."""
    return "".join("\\" + ch if ch in "\\`*_{}[]<>()#+-.!|" else ch for ch in text)
