"""What a student's feedback shows of each graded test cell: its result and the grader's message, nothing
the student's code printed, raised, warned, displayed or wrote there.

A graded test cell's outputs in the feedback are replaced by one output the grader writes: the points,
and, when they were not earned, why: the grader's verdict on its own run of the answer (a check's
message, without the hidden test's inputs), or the name of the error the test raised in the notebook.
Every other output of the notebook is kept, with any line of a hidden test that student code may have
printed replaced (:func:`redact`): the hidden code that runs in a student's kernel (the accuracy test's
hand-over of the trained model) is the only hidden code there, and it never reaches the page.
"""

from __future__ import annotations

import re

from autograder.grading.language import _

HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
#: Lines of hidden code shorter than this are not secrets (``checks.passed()``-like fragments).
MIN_SECRET = 12
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]{0,39}$")


def hidden_lines(sources: list[str]) -> list[str]:
    """Every line of the hidden parts of these test cells' sources, stripped, long enough to be a secret."""
    lines = []
    for source in sources:
        for part in source.split(HIDDEN_BEGIN)[1:]:
            lines += [ln.strip() for ln in part.split(HIDDEN_END)[0].splitlines() if len(ln.strip()) >= MIN_SECRET]
    return sorted(set(lines), key=len, reverse=True)


def secret_lines(solutions: dict) -> list[str]:
    """What must never reach a page: every line of the hidden parts of the source notebooks' test cells
    (``solutions``: file name -> bytes), and every line of code of the grader's hidden parts and inputs."""
    from pathlib import Path

    from autograder.grading import exercises
    from autograder.grading.answers import locked_sources

    code = [ln.strip() for ln in Path(exercises.__file__).read_text().splitlines()
            if len(ln.strip()) >= 2 * MIN_SECRET and not ln.strip().startswith(("#", '"'))]
    return sorted(set(hidden_lines([src for data in solutions.values() for src in locked_sources(data).values()])
                      + code), key=len, reverse=True)


def redact(text: str, secrets: list[str]) -> str:
    """``text`` with every occurrence of a secret line (whitespace as it may be re-spaced) replaced."""
    for secret in secrets:
        pattern = r"\s*".join(re.escape(ch) for ch in secret.replace(" ", ""))
        text = re.sub(pattern, _("[hidden test]"), text)
    return text


def redact_outputs(cell, secrets: list[str]) -> None:
    """Every text of a cell's outputs redacted (streams, text data, errors)."""
    for out in cell.get("outputs", []):
        if "text" in out:
            out["text"] = redact(_joined(out["text"]), secrets)
        for mime, value in dict(out.get("data", {})).items():
            if mime.startswith("text/") or mime == "image/svg+xml":
                out["data"][mime] = redact(_joined(value), secrets)
        for key in ("ename", "evalue"):
            if key in out:
                out[key] = redact(str(out[key]), secrets)
        if "traceback" in out:
            out["traceback"] = [redact(str(t), secrets) for t in out["traceback"]]


def _joined(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def error_name(cell) -> str | None:
    """The name of the error a cell raised in the notebook (a plain identifier, or a generic word)."""
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            name = str(out.get("ename", ""))
            return name if _NAME.match(name) else _("an error")
    return None


def result_text(score: float | None, max_score: float, verdict: dict | None, kernel_error: str | None,
                note: str | None = None) -> str:
    """The grader's output in place of a graded test cell's outputs (``note``: the accuracy test's)."""
    score = score or 0.0
    earned = verdict is not None and max_score > 0 and score >= max_score
    if earned:
        lines = ["✓ " + _("Passed: {score:g} of {max:g} points (in your notebook and in the grader's own run of "
                          "your answer).").format(score=score, max=max_score)]
    else:
        lines = ["✗ " + _("{score:g} of {max:g} points.").format(score=score, max=max_score)]
    if note:
        lines.append(note)
    elif not earned and verdict is not None and not verdict.get("passed") and verdict.get("message"):
        lines.append(_("The grader's own run of your answer:") + "\n" + verdict["message"].rstrip())
    elif not earned and kernel_error:  # the grader's run found nothing wrong: the notebook's failure is why
        lines.append(_("In your notebook this test raised {error}: a test that fails in the notebook earns no "
                       "points. Its message is in your notebook.").format(error=kernel_error))
    return "\n".join(lines) + "\n"


def show_results(nb, notebook: str, grades: dict, verdicts: dict, notes: dict, secrets: list[str]) -> None:
    """Every graded test cell's outputs replaced by :func:`result_text`; the others' redacted."""
    import nbformat
    from nbgrader.utils import is_grade

    from mnistcnn.screening import grade_id

    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        gid = grade_id(cell)
        if not is_grade(cell) or gid not in grades:
            redact_outputs(cell, secrets)
            continue
        grade = grades[gid]
        text = result_text(grade.get("auto_score"), grade.get("max_score") or 0.0, verdicts.get((notebook, gid)),
                           error_name(cell), notes.get((notebook, gid)))
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
