"""nbgrader run through its Python API in the grading job's process (autograder/grading/commands.py):
a fresh configuration for each run, its log kept for the job and off the console."""

from __future__ import annotations

import logging

from autograder.grading import commands


def test_each_run_gets_a_fresh_configuration(tmp_path):
    first = commands.course_config(tmp_path / "a", "sqlite:///a.db")
    first.CourseExecute.deadline = 1.0
    second = commands.course_config(tmp_path / "b", "sqlite:///b.db")
    assert second.CourseDirectory.root == str(tmp_path / "b")
    assert "deadline" not in second.CourseExecute
    # the course's own settings, as nbgrader_config.py has them
    assert "autograder.sandbox.execute.CourseExecute" in second.Autograde.autograde_preprocessors


def test_a_failed_run_says_why_in_its_log_and_nothing_on_the_console(tmp_path, capfd):
    course = tmp_path / "course"
    (course / "submitted" / "ana" / "ps1").mkdir(parents=True)
    run = commands.run_converter("autograde", "ps1", "ana", commands.course_config(course, f"sqlite:///{tmp_path}/g.db"))
    assert not run.ok
    assert "ERROR" in run.log and commands.last_error(run.log) != "no message"
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    assert logging.getLogger(commands.LOGGER).handlers == []  # the run's buffer is not kept for the next one
