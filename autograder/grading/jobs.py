"""One grading job, on a Dask worker: autograde one submission in a private course folder, judge every
graded cell outside the kernel, apply the late policy, and return a :class:`~autograder.grading.records.JobResult`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from traitlets.config import Config

from autograder.course import release
from autograder.grading import answers, results_shown
from autograder.grading import late as late_mod
from autograder.grading.commands import CONFIG_FILE, course_config, last_error, run_converter
from autograder.grading.feedback import write_feedback
from autograder.grading.gradebook import quiet_sqlalchemy
from autograder.grading.language import _
from autograder.grading.records import Job, JobPaths, JobResult
from autograder.grading.verdicts import ACCURACY_CELL as JUDGED_ACCURACY_CELL
from autograder.grading.verdicts import ReadyJudge, discard, run_judge, start_judge
from autograder.sandbox import launcher as sandbox
from autograder.sandbox.process import die_with_parent
from mnistcnn import i18n, screening
from mnistcnn.constants import ASSIGNMENT, JUDGE_CELL_TIMEOUT
from mnistcnn.grading import RECORD_ENV

ACCURACY_CELL = JUDGED_ACCURACY_CELL[1]
#: What every notebook's first cell does first (``from mnistcnn import ...``): TensorFlow and Keras imported
#: with the course's settings. A kernel does it as it starts, a kernel started ahead while the previous
#: notebook runs.
KERNEL_PRELOAD = "__import__('mnistcnn').quiet_tensorflow()"
__all__ = ["CONFIG_FILE", "grade_one", "job_env", "kernel_env", "mnist_file", "SandboxUnavailable"]


def kernel_env(threads: int, record_dir: Path | None = None) -> dict:
    """What a job adds to the environment of its kernels and its judge: the course's TensorFlow
    settings, a fixed thread count, and the recording folder (kernels only)."""
    from mnistcnn import TF_ENV

    env = dict(TF_ENV)
    env.update({
        "MNISTCNN_THREADS": str(threads),  # applied by mnistcnn.quiet_tensorflow() in the kernel
        "OMP_NUM_THREADS": str(threads),
        "TF_NUM_INTRAOP_THREADS": str(threads),
        "TF_NUM_INTEROP_THREADS": "1",
        "PYTHONWARNINGS": "ignore",
    })
    if record_dir is not None:
        env[RECORD_ENV] = str(record_dir)
    return env


def job_env(threads: int, record_dir: Path | None = None) -> dict:
    """Environment of a grading job's processes: nbgrader's tools first on PATH, :func:`kernel_env`."""
    env = release.tool_env()
    env.update(kernel_env(threads, record_dir))
    return env


def _lay_out(job: Job) -> JobPaths:
    """Stage 1: a private course folder: the source, the submission, a fresh gradebook."""
    tmp = Path(tempfile.mkdtemp(prefix=f"mnistcnn-job-{job.student}-"))
    paths = JobPaths(tmp, tmp / "course", tmp / "record", tmp / "evidence")
    (paths.course / "source" / ASSIGNMENT).mkdir(parents=True)
    for name, data in job.solutions.items():
        (paths.course / "source" / ASSIGNMENT / name).write_bytes(data)
    sub = paths.course / "submitted" / job.student / ASSIGNMENT
    sub.mkdir(parents=True)
    for name, data in job.files.items():
        (sub / f"{name}.ipynb").write_bytes(data)
    if job.timestamp:
        (sub / "timestamp.txt").write_text(job.timestamp)
    (paths.course / "gradebook.db").write_bytes(job.template_db)
    paths.record.mkdir()
    paths.evidence.mkdir()
    return paths


def _environments(job: Job, paths: JobPaths) -> tuple[Config, dict, list[str] | None]:
    """Stage 2: the kernels' settings (sandboxed when asked), the judge's environment and command prefix."""
    execute = Config()
    execute.CourseExecute.kernel_env = kernel_env(job.threads, paths.record)
    execute.CourseExecute.incidents_file = str(paths.tmp / "incidents.jsonl")
    execute.CourseExecute.evidence_dir = str(paths.tmp / "kernel_evidence")  # the trained model's, for the judge
    execute.CourseExecute.kernel_output = os.devnull  # the kernel process's own messages, unbounded: dropped
    execute.CourseExecute.upcoming = sorted(job.files)  # each next kernel starts while a notebook runs
    execute.CourseExecute.kernel_preload = KERNEL_PRELOAD
    execute.CourseExecute.languages = {nb: job.language(nb) for nb in job.files}  # each kernel's $MNISTCNN_LANGUAGE
    judge_env, prefix = job_env(job.threads), None
    if job.sandbox:
        why = sandbox.unavailable_reason()
        if why:  # never run student code unsandboxed because one worker lacks bubblewrap
            raise SandboxUnavailable(f"on the worker {os.uname().nodename}: {why}")
        data = mnist_file()  # this worker's own copy of MNIST, mounted read-only into the sandbox
        paths.runtime = Path(tempfile.mkdtemp(prefix="mnj-"))  # short paths: Unix socket names are limited
        config = paths.sandbox_config
        config.write_text(json.dumps({"limits": job.sandbox["limits"], "data": data, "rw": [str(paths.record)]}))
        execute.CourseExecute.sandbox_config = str(config)
        execute.CourseExecute.sandbox_runtime = str(paths.runtime)
        judging = paths.tmp / "judge-sandbox.json"  # the evidence and the grader's own code, read-only
        judging.write_text(json.dumps({"limits": job.sandbox["limits"], "data": data,
                                       "ro": [str(paths.evidence), str(release.ROOT / "autograder")]}))
        prefix = _sandbox_prefix(paths, "judge", judging)
        running = paths.tmp / "runner-sandbox.json"  # the answer runner sees only its own code of the grader's
        running.write_text(json.dumps({"limits": job.sandbox["limits"], "data": data,
                                       "ro": [str(paths.tmp / "runner" / "code")]}))
        paths.runner_prefix = _sandbox_prefix(paths, "runner", running)
    return execute, judge_env, prefix


def _sandbox_prefix(paths: JobPaths, name: str, config: Path) -> list[str]:
    """The command prefix that runs a process of the grader's in the sandbox described by ``config``."""
    (paths.runtime / name).mkdir()
    return [sys.executable, "-m", "autograder.sandbox", "run", "--config", str(config),
            "--run-dir", str(paths.runtime / name), "--events", str(paths.runtime / f"{name}-events.json"), "--"]


def _start_runner(job: Job, paths: JobPaths, env: dict) -> answers.Runner | None:
    """Stage 2c: the grader's own run of the answers, started now (it runs while the notebooks run)."""
    if not job.files:
        return None
    return answers.start_runner(job, paths.tmp / "runner", env=env, cwd=str(paths.tmp),
                                prefix=paths.runner_prefix, preexec_fn=_runner_preexec)


def _runner_preexec() -> None:
    """The runner dies with the job, and yields the CPU to the notebooks: it works in their idle time
    (the kernels' single-threaded cells, nbgrader's bookkeeping), not against the training."""
    die_with_parent()
    os.nice(answers.RUNNER_NICENESS)


def _gather_evidence(job: Job, paths: JobPaths, runner: answers.Runner | None) -> None:
    """Stage 3b: the judge's evidence: the runner's for every exercise, the notebook's for the trained model."""
    answers.collect(runner, paths.evidence, timeout=job.timeout)
    if paths.runtime:  # a launcher stopped before it could remove its cgroups
        sandbox.cleanup(str(paths.runtime / "runner-events.json"))
    kernel = paths.tmp / "kernel_evidence" / JUDGED_ACCURACY_CELL[0] / ACCURACY_CELL
    if kernel.is_dir():
        dest = paths.evidence / JUDGED_ACCURACY_CELL[0] / ACCURACY_CELL
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(kernel, dest)


def _autograde(job: Job, paths: JobPaths, execute: Config, result: JobResult) -> bool:
    """Stage 3: nbgrader's autograde, in this process, in the (sandboxed) kernels; evidence collected
    cell by cell. Past the job's timeout the running kernel is stopped and the job fails."""
    if job.files:
        config = course_config(paths.course, paths.db)
        config.merge(execute)
        config.CourseExecute.deadline = time.time() + job.timeout
        if job.cell_timeout:
            config.Execute.timeout = int(job.cell_timeout)
        run = run_converter("autograde", ASSIGNMENT, job.student, config)
        result.log = run.log[-4000:]
        if not run.ok:
            if time.time() >= config.CourseExecute.deadline:
                raise subprocess.TimeoutExpired("nbgrader autograde", job.timeout)
            result.error = "nbgrader autograde failed: " + last_error(run.log)
            return False
    else:  # nothing usable was handed in: every test gets 0, nothing runs
        from nbgrader.api import Gradebook

        quiet_sqlalchemy()
        with Gradebook(paths.db) as gb:
            gb.update_or_create_student(job.student)
            for nb in gb.add_submission(ASSIGNMENT, job.student).notebooks:
                for grade in nb.grades:
                    grade.auto_score, grade.needs_manual_grade = 0.0, False
            gb.db.commit()
    incidents = paths.tmp / "incidents.jsonl"
    for line in incidents.read_text().splitlines() if incidents.exists() else []:
        try:
            result.incidents.append(json.loads(line))
        except ValueError:
            pass
    return True


def _judge_events(paths: JobPaths) -> str | None:
    return str(paths.runtime / "judge-events.json") if paths.runtime else None


def _start_judge(job: Job, paths: JobPaths, env: dict, prefix: list[str] | None) -> ReadyJudge | None:
    """Stage 2b: the judging process, started while the notebooks run (it imports TensorFlow and loads
    its data, then waits: it reads no evidence before the notebooks have run)."""
    if not job.files:
        return None
    return start_judge(str(paths.evidence), sorted(job.files), job.threshold, env=env, cwd=str(paths.tmp),
                       prefix=prefix, preexec_fn=die_with_parent, languages=_judged_languages(job))


def _judge(job: Job, paths: JobPaths, env: dict, prefix: list[str] | None, ready: ReadyJudge | None) -> list[dict]:
    """Stage 4: every graded cell judged from its evidence in a clean (sandboxed) process."""
    wall = sandbox.Limits.from_dict(job.sandbox["limits"]).wall if job.sandbox else float("inf")
    return run_judge(str(paths.evidence), sorted(job.files), job.threshold, env=env, cwd=str(paths.tmp),
                     prefix=prefix, cell_timeout=min(job.timeout, JUDGE_CELL_TIMEOUT), preexec_fn=die_with_parent,
                     events=_judge_events(paths), ready=ready, wall=wall, languages=_judged_languages(job))


def _judged_languages(job: Job) -> dict:
    """notebook -> language the checks' messages are judged in."""
    return {nb: job.language(nb) for nb in job.files}


def _accuracy_note(verdict: dict, threshold: float, max_score: float,
                   kernel_passed: bool = True) -> tuple[float | None, str, str]:
    """The accuracy, the reason it earns nothing (if so), and the note under the accuracy cell."""
    d = verdict.get("details", {})
    accuracy = d.get("accuracy")
    if accuracy is None:
        why = verdict.get("message") or _("no trained model reached the grader")
        if verdict.get("missing"):
            why = _("no trained model reached the grader (did the training or the test cell fail?)")
    elif d.get("trained_on_test"):
        why = _("the model was trained on the test set: {test:.2%} on the test images but only "
                "{train:.2%} on training images it should have learnt from").format(test=accuracy,
                                                                                   train=d["train_accuracy"])
    elif verdict.get("passed") and not kernel_passed:
        why = _("the grader measured {accuracy:.2%}, but this test failed in your notebook (see its error)").format(
            accuracy=accuracy)
    else:
        why = ""
    score = max_score if verdict.get("passed") and kernel_passed else 0.0
    if why:
        return accuracy, why, _("Grader: {why}: 0 of {max:g} points.").format(why=why, max=max_score)
    measured = _("Grader: test accuracy measured outside your notebook, in a clean process, on freshly loaded test "
                 "data: {accuracy:.2%} ({at_least} {threshold:.0%}): {score:g} of {max:g} points.")
    return accuracy, why, measured.format(accuracy=accuracy, threshold=threshold, score=score, max=max_score,
                                          at_least=_("at least") if verdict.get("passed") else _("below"))


def _disagreement(verdict: dict, kernel_passed: bool, max_score: float) -> str | None:
    """The note when the grader's run of the answer and the notebook's own run disagree (or the
    grader's run went wrong): a cell earns its points only when both pass."""
    if verdict["passed"] and not kernel_passed:
        return _("Grader: this test failed in your notebook, so it earns no points (0 of {max:g}), although the "
                 "grader's own run of your answer found nothing wrong: run the notebook from the top "
                 "(Restart and Run All) and read the test's error.").format(max=max_score)
    if not verdict["passed"] and (kernel_passed or (verdict.get("problem") and not verdict.get("missing"))):
        first = verdict["message"].strip().splitlines()[0] if verdict["message"].strip() else _("no reason given")
        text = _("Grader: this test passed in your notebook, but failed when the grader ran your answer itself "
                 "(plain Python, only your answer cells, its own inputs): {why}: 0 of {max:g} points.") \
            if kernel_passed else _("Grader: this test failed when the grader ran your answer itself (plain "
                                    "Python, only your answer cells, its own inputs): {why}: 0 of {max:g} points.")
        return text.format(why=first, max=max_score)
    return None


def _apply_verdicts(job: Job, paths: JobPaths, verdicts: list[dict], result: JobResult) -> None:
    """Stage 5: a graded cell earns its points when its run in the notebook and the grader's verdict on
    its own run of the answer both pass; notes where they differ."""
    from nbgrader.api import Gradebook

    secrets = results_shown.secret_lines(job.solutions)
    for v in verdicts:  # what the grader says never quotes a hidden test, whatever the answer handed over
        v["message"] = results_shown.redact(v.get("message") or "", secrets)
    by_cell = {(v["notebook"], v["cell"]): v for v in verdicts}
    result.verdicts = verdicts
    autograded = paths.autograded / job.student / ASSIGNMENT
    with Gradebook(paths.db) as gb:
        for nb in gb.find_submission(ASSIGNMENT, job.student).notebooks:
            with i18n.using(job.language(nb.name)):
                _apply_notebook(job, nb, by_cell, autograded, result)
        gb.db.commit()
        submission = gb.find_submission(ASSIGNMENT, job.student)
        result.grades = {nb.name: {g.name: {"auto_score": g.auto_score, "max_score": g.max_score,
                                            "needs_manual_grade": g.needs_manual_grade} for g in nb.grades}
                         for nb in submission.notebooks}
        result.comments = {nb.name: {c.name: c.auto_comment for c in nb.comments} for nb in submission.notebooks}


def _apply_notebook(job: Job, nb, by_cell: dict, autograded: Path, result: JobResult) -> None:
    """The verdicts of one notebook's graded cells into the gradebook, its notes in its language."""
    for grade in nb.grades:
        if grade.cell.cell_type != "code":
            continue
        kernel_passed = grade.auto_score is not None and grade.auto_score >= grade.max_score
        if grade.auto_score is None:  # a test cell nbgrader did not see (deleted, metadata removed)
            grade.auto_score, grade.needs_manual_grade = 0.0, False
        if nb.name not in job.files:
            continue
        verdict = by_cell.get((nb.name, grade.name)) or {"passed": False, "problem": True,
                                                          "message": _("the grader has no verdict")}
        earned = verdict["passed"] and kernel_passed  # a failed test is a failed test
        grade.auto_score, grade.needs_manual_grade = (grade.max_score if earned else 0.0), False
        if grade.name == ACCURACY_CELL:
            result.accuracy, result.accuracy_note, note = _accuracy_note(verdict, job.threshold,
                                                                         grade.max_score, kernel_passed)
            show = not earned
        else:
            note = _disagreement(verdict, kernel_passed, grade.max_score)
            show = note is not None
        if note:
            _annotate(autograded / f"{nb.name}.ipynb", grade.name, note)
            result.notes.setdefault(nb.name, {})[grade.name] = note
        if show:  # among the grader's notes (feedback and class report)
            result.incidents.append({"notebook": nb.name, "cell": grade.name,
                                     "kind": "accuracy" if grade.name == ACCURACY_CELL else "verdict",
                                     "text": f"{grade.name}: {note}"})


def _apply_late(job: Job, paths: JobPaths, result: JobResult) -> None:
    """Stage 5b: the late penalty of each notebook, by nbgrader's AssignLatePenalties with the course's
    policy, from the scores the grader decided; a note on top of the feedback says how late and how much."""
    result.late_key = job.late_key
    if not job.submitted:
        return
    when = late_mod.SubmissionTime(**{**job.submitted, "timestamp": datetime.fromisoformat(job.submitted["timestamp"])
                                      if job.submitted.get("timestamp") else None})
    result.timestamp = when.nbgrader_text()
    if not job.late:
        return
    with i18n.using(job.language(None)):  # a note on the whole submission: in its language
        record = late_mod.apply_penalties(paths.db, ASSIGNMENT, job.student, late_mod.Policy.from_dict(job.late),
                                          when)
        text = record.text()
    result.late = {**asdict(record), "hours_late": record.hours_late, "text": text}
    result.incidents.append({"notebook": None, "cell": None, "kind": "late", "text": text})


def grade_one(job: Job) -> JobResult:
    """Autograde one submission in a private course folder, judge it outside the kernel, and return
    everything the writer needs. Runs on a Dask worker: it reads and writes nothing outside its own
    temporary folders."""
    t0 = time.perf_counter()
    result = JobResult(job.student, job.input_sha, pid=os.getpid(), host=os.uname().nodename,
                       incidents=list(job.incidents), sandbox="bubblewrap" if job.sandbox else "none",
                       threshold=job.threshold, languages=dict(job.languages))
    paths = ready = runner = None
    try:
        if job.started_marker:  # lets a test see which worker runs which job
            Path(job.started_marker).parent.mkdir(parents=True, exist_ok=True)
            Path(job.started_marker).write_text(str(os.getpid()))
        release.use_tool_path()  # nbgrader's Gradebook runs `alembic` from PATH
        paths = _lay_out(job)
        execute, judge_env, prefix = _environments(job, paths)
        ready = _start_judge(job, paths, judge_env, prefix)
        runner = _start_runner(job, paths, judge_env)
        if not _autograde(job, paths, execute, result):
            return result
        t_judge = time.perf_counter()
        _gather_evidence(job, paths, runner)
        runner = None
        verdicts, ready = _judge(job, paths, judge_env, prefix, ready), None
        result.judge_seconds = round(time.perf_counter() - t_judge, 2)
        _apply_verdicts(job, paths, verdicts, result)
        _apply_late(job, paths, result)
        if write_feedback(job, paths, result):
            result.status = "ok"
        return result
    except subprocess.TimeoutExpired as exc:
        result.error = f"grading took longer than {exc.timeout:.0f} s"
        return result
    finally:
        discard(ready, _judge_events(paths) if paths else None)  # not used: autograde failed or timed out
        answers.stop(runner)
        if paths and paths.runtime:  # sandboxed: a kernel started ahead for a notebook that never ran is stopped
            from autograder.sandbox.execute import end_run

            result.kernels_ahead = end_run(str(paths.sandbox_config))
        result.seconds = round(time.perf_counter() - t0, 1)
        for path in (paths.tmp, paths.runtime) if paths else ():
            if path:
                shutil.rmtree(path, ignore_errors=True)


def _annotate(path: Path, grade_id: str, text: str) -> None:
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if screening.grade_id(cell) == grade_id:
            cell.outputs.append(nbformat.v4.new_output("stream", name="stdout", text=text + "\n"))
    nbformat.write(nb, path)


class SandboxUnavailable(RuntimeError):
    """Grading would run student code unsandboxed, and the instructor did not allow it."""


def mnist_file() -> str:
    """The MNIST file the sandboxed kernels read (fetched first if it is not here yet)."""
    from mnistcnn import data

    return str(data.find_file())
