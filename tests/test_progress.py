"""The class run's progress display (autograder/grading/run.py): a line per finished job; a bar only
on a terminal. Fast: no grading."""

from __future__ import annotations

import io

from autograder.grading import run


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


RESULTS = [
    {"student": "ada", "status": "ok", "score": 32, "max_score": 32, "accuracy": 0.9921, "seconds": 151.4},
    {"student": "[b]ben[/b]", "status": "ok", "score": 20, "max_score": 32, "accuracy": None, "seconds": 60,
     "late": {"penalty": 3.2}},
    {"student": "cyd", "status": "error", "error": "grading took longer than 900 s"},
]


def show(out) -> str:
    with run.Progress(len(RESULTS), out) as progress:
        for result in RESULTS:
            progress.update(run.job_line(result))
    return out.getvalue()


def test_a_log_file_gets_one_plain_line_per_job():
    lines = show(io.StringIO()).splitlines()
    assert len(lines) == 3 and not any("\r" in ln or "\x1b" in ln for ln in lines), lines
    assert lines[0].startswith("1/3  ada: 32/32, test accuracy 99.21% (151 s)  (elapsed ")
    assert lines[1].startswith("2/3  [b]ben[/b]: 20/32, late penalty -3.2 (60 s)  (elapsed ")
    assert lines[2].startswith("3/3  cyd: NOT GRADED: grading took longer than 900 s  (elapsed ")
    assert "s left)" in lines[2]


def test_a_terminal_gets_the_same_lines_and_a_bar():
    text = show(Terminal())
    assert "\x1b" in text and "━" in text  # the bar, redrawn in place
    for line in ("1/3  ada: 32/32, test accuracy 99.21% (151 s)", "2/3  [b]ben[/b]: 20/32",
                 "3/3  cyd: NOT GRADED"):
        assert line in text, text
    assert "elapsed" not in text  # the bar shows the time
