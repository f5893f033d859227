"""mnistcnn-grade: grade a whole class with nbgrader, several submissions at a time.

    make grade                              # the example class (tests/fixtures/submissions/)
    mnistcnn-grade submissions.zip          # an LMS download (Canvas, Moodle) or a folder
    mnistcnn-grade FOLDER --workers 4 --scheduler tcp://host:8786 --db postgresql://...

Steps: collect the notebooks into nbgrader's layout; autograde each submission as a separate job
on a Dask cluster (a local one by default); write every job's result into the one gradebook from
this process only; feedback per student without the hidden tests; grades as CSV; a class report.

nbgrader cannot autograde in parallel against one gradebook, so each job grades in a private
course folder with a private copy of the gradebook and returns its results; this process is the
only writer of the course's gradebook. A result is stored (``results/<student>.json``) only after
its grades are in the gradebook: a run that dies loses nothing, and the next run grades only what
is missing (``--force`` grades everything again).
"""

from __future__ import annotations

import argparse
import html
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from autograder.grading import intake as intake_mod
from autograder.grading import late as late_mod
from autograder.grading import lms_export
from autograder.course import release
from autograder.sandbox import launcher as sandbox
from autograder.grading import timestamps
from autograder.sandbox.execute import INCIDENTS_ENV
from autograder.grading.verdicts import ACCURACY_CELL as JUDGED_ACCURACY_CELL
from autograder.grading.verdicts import run_judge
from mnistcnn.grading import RECORD_ENV

ROOT = release.ROOT
ASSIGNMENT = release.ASSIGNMENT
ACCURACY_CELL = JUDGED_ACCURACY_CELL[1]
#: Seconds the judging of one cell may take (the accuracy measurement is the longest: about 3 s).
JUDGE_CELL_TIMEOUT = 600
CONFIG_FILE = release.ROOT / "autograder" / "course" / "nbgrader_config.py"


def notebook_names() -> list[str]:
    return sorted(p.stem for p in release.SOLUTIONS.glob("*.ipynb"))


# ----------------------------------------------------------------------------- one job (on a worker)


def _die_with_parent() -> None:
    """In the child: get SIGKILL when the grading job that started it dies (Linux)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - not Linux: the kernel's own parent check still applies
        pass


def job_env(threads: int, record_dir: Path | None = None) -> dict:
    """Environment of a grading job: the course's TensorFlow settings and a fixed thread count."""
    from mnistcnn import TF_ENV

    env = release.tool_env()
    env.update(TF_ENV)
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


def _course_args(course: Path, db: str, autograded: str = "autograded") -> list[str]:
    return [
        f"--CourseDirectory.root={course}",
        "--CourseDirectory.source_directory=source",
        "--CourseDirectory.submitted_directory=submitted",
        f"--CourseDirectory.autograded_directory={autograded}",
        "--CourseDirectory.feedback_directory=feedback",
        f"--CourseDirectory.db_url={db}",
    ]


def _nbgrader(args: list[str], cwd: Path, env: dict, timeout: float) -> subprocess.CompletedProcess:
    return release.nbgrader(*args, cwd=cwd, env=env, timeout=timeout, check=False, preexec_fn=_die_with_parent)


def sanitize_for_feedback(nb, released_sources: dict[str, str]) -> None:
    """Remove what feedback must not show: hidden test code, and tracebacks quoting it.

    Graded cells get the source the student saw (the released one); an error keeps its name and
    message (the teaching message) but not the traceback, which quotes the failing line.
    """
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if not meta.get("grade") or cell.cell_type != "code":
            continue
        gid = meta.get("grade_id")
        if gid in released_sources:
            cell.source = released_sources[gid]
        elif "### BEGIN HIDDEN TESTS" in cell.source:
            cell.source = cell.source.split("### BEGIN HIDDEN TESTS")[0].rstrip()
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                out["traceback"] = [f"{out.get('ename', 'Error')}: {out.get('evalue', '')}"]


# The records passed between the stages of one job: what the job is given, and what it returns.


@dataclass
class Job:
    """One submission to grade, with everything a worker needs as data (file contents, the released
    sources, a gradebook), and no path of this machine: a worker, here or on another machine, uses
    its own copy of the course, its own MNIST file and its own temporary folders.
    ``started_marker`` is a test hook (a file the job writes when it starts, on a shared machine)."""

    student: str
    input_sha: str
    files: dict  # notebook name -> bytes (screened, usable)
    solutions: dict  # file name -> bytes of the source notebooks
    released: dict  # grade_id -> source the student saw
    template_db: bytes
    threads: int
    timeout: float
    threshold: float
    incidents: list = field(default_factory=list)
    missing: list = field(default_factory=list)
    timestamp: str | None = None
    sandbox: dict | None = None
    cell_timeout: float | None = None
    started_marker: str | None = None
    late: dict | None = None  # the run's late policy (late.Policy.to_dict()), if it has a deadline
    submitted: dict | None = None  # when it was handed in (late.SubmissionTime, as a dict)
    late_key: str | None = None  # what the penalty depends on besides the scores

    @property
    def key(self) -> str:
        return f"grade-{self.student}-{self.input_sha[:12]}"


@dataclass
class JobResult:
    """What a job returns to the writer (stored as results/<student>.json, without the files)."""

    student: str
    input_sha: str
    status: str = "error"
    error: str | None = None
    sandbox: str = "none"
    pid: int = 0
    host: str = ""
    incidents: list = field(default_factory=list)
    grades: dict = field(default_factory=dict)
    comments: dict = field(default_factory=dict)
    verdicts: list = field(default_factory=list)
    accuracy: float | None = None
    accuracy_note: str = ""
    history: dict | None = None
    log: str = ""
    seconds: float = 0.0
    judge_seconds: float | None = None
    timestamp: str | None = None  # when it was handed in, as nbgrader's timestamp.txt has it
    late: dict | None = None  # late.LateRecord, as a dict, with its "text"
    late_key: str | None = None
    threshold: float | None = None  # the test accuracy this result was judged against (the class report reads it)
    autograded: dict = field(default_factory=dict)
    feedback: dict = field(default_factory=dict)


@dataclass
class JobPaths:
    """The private folders of one job."""

    tmp: Path
    course: Path
    record: Path
    evidence: Path
    runtime: Path | None = None

    @property
    def db(self) -> str:
        return f"sqlite:///{self.course / 'gradebook.db'}"

    @property
    def autograded(self) -> Path:
        return self.course / "autograded"


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
    (tmp / "nbgrader_config.py").write_text(f"load_subconfig({str(CONFIG_FILE)!r})\n")
    paths.record.mkdir()
    paths.evidence.mkdir()
    return paths


def _environments(job: Job, paths: JobPaths) -> tuple[dict, dict, list[str] | None]:
    """Stage 2: the kernels' environment (sandboxed when asked), and the judge's command prefix."""
    env = job_env(job.threads, paths.record)
    env[INCIDENTS_ENV] = str(paths.tmp / "incidents.jsonl")
    judge_env, prefix = job_env(job.threads), None
    if job.sandbox:
        why = sandbox.unavailable_reason()
        if why:  # never run student code unsandboxed because one worker lacks bubblewrap
            raise SandboxUnavailable(f"on the worker {os.uname().nodename}: {why}")
        data = mnist_file()  # this worker's own copy of MNIST, mounted read-only into the sandbox
        paths.runtime = Path(tempfile.mkdtemp(prefix="mnj-"))  # short paths: Unix socket names are limited
        config = paths.tmp / "sandbox.json"
        config.write_text(json.dumps({"limits": job.sandbox["limits"], "data": data, "rw": [str(paths.record)]}))
        env[sandbox.ENV_VAR] = str(config)
        env["MNISTCNN_SANDBOX_RUNTIME"] = str(paths.runtime)
        judging = paths.tmp / "judge-sandbox.json"  # the evidence and the grader's own code, read-only
        judging.write_text(json.dumps({"limits": job.sandbox["limits"], "data": data,
                                       "ro": [str(paths.evidence), str(release.ROOT / "autograder")]}))
        (paths.runtime / "judge").mkdir()
        prefix = [sys.executable, "-m", "autograder.sandbox", "run", "--config", str(judging),
                  "--run-dir", str(paths.runtime / "judge"), "--events", str(paths.runtime / "judge-events.json"),
                  "--"]
        judge_env.update(release.tool_env())
    return env, judge_env, prefix


def _autograde(job: Job, paths: JobPaths, env: dict, result: JobResult) -> bool:
    """Stage 3: nbgrader autograde in the (sandboxed) kernels; evidence collected cell by cell."""
    args = [*_course_args(paths.course, paths.db), f"--CourseExecute.evidence_dir={paths.evidence}"]
    if job.cell_timeout:
        args.append(f"--Execute.timeout={int(job.cell_timeout)}")
    if job.files:
        proc = _nbgrader(["autograde", ASSIGNMENT, f"--student={job.student}", *args], paths.tmp, env, job.timeout)
        result.log = (proc.stdout + proc.stderr)[-4000:]
        if proc.returncode != 0:
            result.error = "nbgrader autograde failed: " + _last_error(proc.stdout + proc.stderr)
            return False
    else:  # nothing usable was handed in: every test gets 0, nothing runs
        from nbgrader.api import Gradebook

        _quiet_sqlalchemy()
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


def _judge(job: Job, paths: JobPaths, env: dict, prefix: list[str] | None) -> list[dict]:
    """Stage 4: every graded cell judged from its evidence in a clean (sandboxed) process."""
    events = str(paths.runtime / "judge-events.json") if paths.runtime else None
    return run_judge(str(paths.evidence), sorted(job.files), job.threshold, env=env, cwd=str(paths.tmp),
                     prefix=prefix, cell_timeout=min(job.timeout, JUDGE_CELL_TIMEOUT), preexec_fn=_die_with_parent,
                     events=events)


def _accuracy_note(verdict: dict, threshold: float, max_score: float) -> tuple[float | None, str, str]:
    """The accuracy, the reason it earns nothing (if so), and the note under the accuracy cell."""
    d = verdict.get("details", {})
    accuracy = d.get("accuracy")
    if accuracy is None:
        why = verdict.get("message") or "no trained model reached the grader"
        if verdict.get("missing"):
            why = "no trained model reached the grader (did the training or the test cell fail?)"
    elif d.get("trained_on_test"):
        why = (f"the model was trained on the test set: {accuracy:.2%} on the test images but only "
               f"{d['train_accuracy']:.2%} on training images it should have learnt from")
    else:
        why = ""
    score = max_score if verdict.get("passed") else 0.0
    note = (f"Grader: {why}: 0 of {max_score:g} points." if why else
            f"Grader: test accuracy measured outside your notebook, in a clean process, on freshly loaded test "
            f"data: {accuracy:.2%} ({'at least' if verdict.get('passed') else 'below'} {threshold:.0%}): "
            f"{score:g} of {max_score:g} points.")
    return accuracy, why, note


def _disagreement(verdict: dict, kernel_passed: bool, max_score: float) -> str | None:
    """The note when the grader's verdict differs from the notebook's own run (or the evidence was bad)."""
    if verdict["passed"] and not kernel_passed:
        return (f"Grader: this test failed in your notebook, but the grader's own check of your answer passes: "
                f"{max_score:g} of {max_score:g} points.")
    if not verdict["passed"] and (kernel_passed or (verdict.get("problem") and not verdict.get("missing"))):
        first = verdict["message"].strip().splitlines()[0] if verdict["message"].strip() else "no reason given"
        seen = "passed in your notebook, but " if kernel_passed else ""
        return (f"Grader: this test {seen}failed the grader's own check of what the test handed over "
                f"(evidence judged outside your notebook): {first}: 0 of {max_score:g} points.")
    return None


def _apply_verdicts(job: Job, paths: JobPaths, verdicts: list[dict], result: JobResult) -> None:
    """Stage 5: the gradebook's score of every graded cell is the grader's verdict; notes where it
    differs from what the notebook showed."""
    from nbgrader.api import Gradebook

    by_cell = {(v["notebook"], v["cell"]): v for v in verdicts}
    result.verdicts = verdicts
    autograded = paths.autograded / job.student / ASSIGNMENT
    with Gradebook(paths.db) as gb:
        for nb in gb.find_submission(ASSIGNMENT, job.student).notebooks:
            for grade in nb.grades:
                if grade.cell.cell_type != "code":
                    continue
                kernel_passed = grade.auto_score is not None and grade.auto_score >= grade.max_score
                if grade.auto_score is None:  # a test cell nbgrader did not see (deleted, metadata removed)
                    grade.auto_score, grade.needs_manual_grade = 0.0, False
                if nb.name not in job.files:
                    continue
                verdict = by_cell.get((nb.name, grade.name)) or {"passed": False, "problem": True,
                                                                  "message": "the grader has no verdict"}
                grade.auto_score, grade.needs_manual_grade = (grade.max_score if verdict["passed"] else 0.0), False
                if grade.name == ACCURACY_CELL:
                    result.accuracy, result.accuracy_note, note = _accuracy_note(verdict, job.threshold,
                                                                                 grade.max_score)
                    show = not verdict["passed"]
                else:
                    note = _disagreement(verdict, kernel_passed, grade.max_score)
                    show = note is not None
                if note:
                    _annotate(autograded / f"{nb.name}.ipynb", grade.name, note)
                if show:  # among the grader's notes (feedback and class report)
                    result.incidents.append({"notebook": nb.name, "cell": grade.name,
                                             "kind": "accuracy" if grade.name == ACCURACY_CELL else "verdict",
                                             "text": f"{grade.name}: {note}"})
        gb.db.commit()
        submission = gb.find_submission(ASSIGNMENT, job.student)
        result.grades = {nb.name: {g.name: {"auto_score": g.auto_score, "max_score": g.max_score,
                                            "needs_manual_grade": g.needs_manual_grade} for g in nb.grades}
                         for nb in submission.notebooks}
        result.comments = {nb.name: {c.name: c.auto_comment for c in nb.comments} for nb in submission.notebooks}


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
    record = late_mod.apply_penalties(paths.db, ASSIGNMENT, job.student, late_mod.Policy.from_dict(job.late), when)
    result.late = {**asdict(record), "hours_late": record.hours_late, "text": record.text()}
    result.incidents.append({"notebook": None, "cell": None, "kind": "late", "text": record.text()})


def _feedback(job: Job, paths: JobPaths, env: dict, result: JobResult) -> bool:
    """Stage 6: nbgrader's feedback from sanitized copies (no hidden tests), the grader's notes on top."""
    import nbformat

    history = paths.record / "history.json"
    result.history = _read_history(history)
    autograded = paths.autograded / job.student / ASSIGNMENT
    result.autograded = {p.name: p.read_bytes() for p in sorted(autograded.glob("*.ipynb"))}
    clean = paths.course / "for_feedback" / job.student / ASSIGNMENT
    clean.mkdir(parents=True)
    for path in sorted(autograded.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        sanitize_for_feedback(nb, job.released)
        lines = [i["text"] for i in result.incidents if i.get("notebook") in (path.stem, None)]
        if lines:  # what the grader noticed, at the top of the feedback
            nb.cells.insert(0, nbformat.v4.new_markdown_cell(
                "**Grader's notes on this notebook**\n\n" + "\n".join(f"* {_md(t)}" for t in lines)))
        nbformat.write(nb, clean / path.name)
    if any(clean.glob("*.ipynb")):
        args = _course_args(paths.course, paths.db, autograded="for_feedback")
        proc = _nbgrader(["generate_feedback", ASSIGNMENT, f"--student={job.student}", *args], paths.tmp, env,
                         job.timeout)
        if proc.returncode != 0:
            result.error = "nbgrader generate_feedback failed: " + _last_error(proc.stdout + proc.stderr)
            return False
    feedback = paths.course / "feedback" / job.student / ASSIGNMENT
    result.feedback = {p.name: p.read_bytes() for p in sorted(feedback.glob("*.html"))}
    missing = [i["text"] for i in result.incidents if i.get("kind") == "unusable"]
    if missing:  # no notebook to show them in: a page of their own
        items = "".join(f"<li>{html.escape(t)}</li>" for t in missing)
        result.feedback["not_graded.html"] = (
            f"<!DOCTYPE html><html lang='en'><meta charset='utf-8'><title>Not graded</title><body>"
            f"<h1>Files of yours that could not be graded</h1><ul>{items}</ul></body></html>").encode()
    return True


def _read_history(path: Path) -> dict | None:
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


def grade_one(job: Job) -> JobResult:
    """Autograde one submission in a private course folder, judge it outside the kernel, and return
    everything the writer needs. Runs on a Dask worker: it reads and writes nothing outside its own
    temporary folders."""
    t0 = time.perf_counter()
    result = JobResult(job.student, job.input_sha, pid=os.getpid(), host=os.uname().nodename,
                       incidents=list(job.incidents), sandbox="bubblewrap" if job.sandbox else "none",
                       threshold=job.threshold)
    paths = None
    try:
        if job.started_marker:  # lets a test see which worker runs which job
            Path(job.started_marker).parent.mkdir(parents=True, exist_ok=True)
            Path(job.started_marker).write_text(str(os.getpid()))
        paths = _lay_out(job)
        env, judge_env, prefix = _environments(job, paths)
        if not _autograde(job, paths, env, result):
            return result
        t_judge = time.perf_counter()
        verdicts = _judge(job, paths, judge_env, prefix)
        result.judge_seconds = round(time.perf_counter() - t_judge, 2)
        _apply_verdicts(job, paths, verdicts, result)
        _apply_late(job, paths, result)
        if _feedback(job, paths, env, result):
            result.status = "ok"
        return result
    except subprocess.TimeoutExpired as exc:
        result.error = f"grading took longer than {exc.timeout:.0f} s"
        return result
    finally:
        result.seconds = round(time.perf_counter() - t0, 1)
        for path in (paths.tmp, paths.runtime) if paths else ():
            if path:
                shutil.rmtree(path, ignore_errors=True)


def _md(text: str) -> str:
    """Student-made text (file and cell names) shown literally in a Markdown cell."""
    return "".join("\\" + ch if ch in "\\`*_{}[]<>()#+-.!|" else ch for ch in text)


def _annotate(path: Path, grade_id: str, text: str) -> None:
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            cell.outputs.append(nbformat.v4.new_output("stream", name="stdout", text=text + "\n"))
    nbformat.write(nb, path)


def _last_error(log: str) -> str:
    lines = [ln.strip() for ln in log.splitlines() if "ERROR" in ln or "Error" in ln]
    return (lines[-1] if lines else log.strip().splitlines()[-1] if log.strip() else "no message")[:500]


# ----------------------------------------------------------------------------- the writer (this process)


class Workspace:
    """The grading folder: nbgrader's layout plus results/, grades.csv and report.html."""

    def __init__(self, path: Path, db_url: str | None = None):
        self.path = Path(path).resolve()
        self.db_url = db_url or f"sqlite:///{self.path / 'gradebook.db'}"
        for sub in ("submitted", "autograded", "feedback", "results"):
            (self.path / sub).mkdir(parents=True, exist_ok=True)

    def course_args(self, db_url: str | None = None) -> list[str]:
        return [f"--CourseDirectory.root={self.path}",
                f"--CourseDirectory.source_directory={release.ROOT / 'solutions'}",
                "--CourseDirectory.submitted_directory=submitted",
                "--CourseDirectory.autograded_directory=autograded",
                "--CourseDirectory.feedback_directory=feedback",
                f"--CourseDirectory.db_url={db_url or self.db_url}"]

    def result_path(self, student: str) -> Path:
        return self.path / "results" / f"{student}.json"

    def load_result(self, student: str) -> dict | None:
        path = self.result_path(student)
        return json.loads(path.read_text()) if path.exists() else None

    def results(self) -> list[dict]:
        return [json.loads(p.read_text()) for p in sorted((self.path / "results").glob("*.json"))]


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _quiet_sqlalchemy() -> None:
    """nbgrader's own update_or_create_submission and add_submission trip SQLAlchemy 2's autoflush
    warnings; the rows they write are complete (checked by the tests against the gradebook)."""
    import warnings

    from sqlalchemy.exc import SAWarning

    warnings.filterwarnings("ignore", category=SAWarning)


def write_result(ws: Workspace, result: JobResult | dict) -> dict:
    """The one writer: files, then the gradebook, then the result record (the commit marker)."""
    from nbgrader.api import Gradebook

    result = asdict(result) if isinstance(result, JobResult) else result
    student = result["student"]
    if result["status"] == "ok":
        _quiet_sqlalchemy()
        for kind, files in (("autograded", result.pop("autograded")), ("feedback", result.pop("feedback"))):
            for name, data in files.items():
                _write_atomic(ws.path / kind / student / ASSIGNMENT / name, data)
        with Gradebook(ws.db_url) as gb:
            gb.update_or_create_student(student)
            gb.update_or_create_submission(ASSIGNMENT, student, timestamp=result.get("timestamp") or None)
            for nb_name, cells in result["grades"].items():
                for gid, g in cells.items():
                    grade = gb.find_grade(gid, nb_name, ASSIGNMENT, student)
                    grade.auto_score = g["auto_score"]
                    grade.needs_manual_grade = g["needs_manual_grade"]
                for cid, text in result.get("comments", {}).get(nb_name, {}).items():
                    gb.find_comment(cid, nb_name, ASSIGNMENT, student).auto_comment = text
                penalties = (result.get("late") or {}).get("penalties", {})  # set, never added: a regrade replaces it
                gb.find_submission_notebook(nb_name, ASSIGNMENT, student).late_submission_penalty = \
                    penalties.get(nb_name) if result.get("late") else None
            gb.db.commit()
            sub = gb.find_submission(ASSIGNMENT, student)
            result["score"], result["max_score"] = float(sub.score), float(sub.max_score)
    result.pop("autograded", None)
    result.pop("feedback", None)
    result["graded_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    _write_atomic(ws.result_path(student), json.dumps(result, indent=1, sort_keys=True).encode())
    return result


def in_gradebook(ws: Workspace, student: str) -> bool:
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(ws.db_url) as gb:
        try:
            sub = gb.find_submission(ASSIGNMENT, student)
        except MissingEntry:
            return False
        return all(g.auto_score is not None for nb in sub.notebooks for g in nb.grades)


# ----------------------------------------------------------------------------- the run


class Progress:
    def __init__(self, total: int, stream=sys.stdout):
        self.total, self.done, self.stream, self.t0 = total, 0, stream, time.perf_counter()

    def update(self, text: str) -> None:
        self.done += 1
        width = 24
        filled = int(width * self.done / max(self.total, 1))
        elapsed = time.perf_counter() - self.t0
        eta = elapsed / self.done * (self.total - self.done)
        print(f"[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total}  {text}  "
              f"(elapsed {elapsed:.0f} s, about {eta:.0f} s left)", file=self.stream, flush=True)


def prepare_gradebook(ws: Workspace) -> bytes:
    """Register the assignment in the course's gradebook; return a fresh template gradebook for jobs."""
    with tempfile.TemporaryDirectory(prefix="mnistcnn-gb-") as tmp:
        release.nbgrader("generate_assignment", ASSIGNMENT, "--force", "--log-level=ERROR", *ws.course_args(),
                         f"--CourseDirectory.release_directory={tmp}/release")
        release.nbgrader("generate_assignment", ASSIGNMENT, "--force", "--log-level=ERROR",
                         *ws.course_args(f"sqlite:///{tmp}/template.db"),
                         f"--CourseDirectory.release_directory={tmp}/release2")
        return Path(tmp, "template.db").read_bytes()


def released_sources() -> dict[str, str]:
    import nbformat

    out = {}
    for path in sorted(release.NOTEBOOKS.glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            if gid and cell.metadata["nbgrader"].get("grade"):
                out[gid] = cell.source
    return out


def default_workers() -> tuple[int, int]:
    cores = os.cpu_count() or 1
    workers = max(1, cores // 2)
    return workers, max(1, cores // workers)


class SandboxUnavailable(RuntimeError):
    """Grading would run student code unsandboxed, and the instructor did not allow it."""


def mnist_file() -> str:
    """The MNIST file the sandboxed kernels read (fetched first if it is not here yet)."""
    from mnistcnn import data

    if os.environ.get("MNIST_PATH"):
        return str(Path(os.environ["MNIST_PATH"]).resolve())
    for candidate in (data.keras_cache(), data.course_cache()):
        if candidate.is_file():
            return str(candidate.resolve())
    data.load_mnist(verbose=True)
    for candidate in (data.keras_cache(), data.course_cache()):
        if candidate.is_file():
            return str(candidate.resolve())
    raise FileNotFoundError("the MNIST data could not be found or fetched (run `make data`)")


def sandbox_setting(limits: sandbox.Limits | None, unsandboxed: bool, local: bool = True) -> dict | None:
    """The sandbox every job uses, or None when the instructor allowed grading without one.

    Only the limits: each worker checks its own bubblewrap and finds its own MNIST file. For a local
    cluster both are checked here first (MNIST fetched once); remote workers check when they grade."""
    if unsandboxed:
        return None
    why = sandbox.unavailable_reason() if local else None
    if why:
        raise SandboxUnavailable(
            f"{why}.\nStudent code would run with your permissions, next to the gradebook. Install "
            "bubblewrap, or pass --unsandboxed to grade without the sandbox (the report will say so).")
    if local:
        mnist_file()
    return {"limits": asdict(limits or sandbox.Limits())}


def screen_submission(student: str, files: dict[str, Path], released: dict) -> tuple[dict, list[dict]]:
    """Screen each notebook (:mod:`autograder.grading.screen`): the usable ones, and the notes."""
    from autograder.grading import screen

    usable, notes = {}, []
    for nb, path in sorted(files.items()):
        size = Path(path).stat().st_size
        if size > screen.MAX_NOTEBOOK_BYTES:  # not even read into memory
            ok, lines, data = False, [f"{nb}.ipynb is {size / 2**20:.1f} MB, over the limit of "
                                      f"{screen.MAX_NOTEBOOK_BYTES / 2**20:.0f} MB: graded as missing"], b""
        else:
            ok, lines, data = screen.screen(Path(path).read_bytes(), f"{nb}.ipynb", released.get(nb, {}))
        notes += [{"notebook": nb, "cell": None, "kind": "screen" if ok else "unusable", "text": t} for t in lines]
        if ok:
            usable[nb] = data
    return usable, notes


def grade_class(source: Path, ws: Workspace, *, workers: int | None = None, threads: int | None = None,
                scheduler: str | None = None, force: bool = False, timeout: float | None = None,
                threshold: float = 0.99, marker_dir: Path | None = None, out=sys.stdout,
                limits: sandbox.Limits | None = None, unsandboxed: bool = False,
                cell_timeout: float | None = None, policy: late_mod.Policy | None = None,
                sources: timestamps.TimeSources | None = None, lms: lms_export.LmsOptions | None = None) -> dict:
    """Collect, grade (in parallel), write. Returns a summary (students, skipped, unmapped, errors)."""
    from autograder.grading import screen
    from mnistcnn.expected import ACCURACY_THRESHOLD

    release.use_tool_path()  # nbgrader's Gradebook runs `alembic` from PATH when it creates one
    threshold = threshold or ACCURACY_THRESHOLD
    d_workers, d_threads = default_workers()
    workers, threads = workers or d_workers, threads or d_threads
    names = notebook_names()
    box = sandbox_setting(limits, unsandboxed, local=not scheduler)
    if box is None:
        print("WARNING: grading WITHOUT the sandbox (--unsandboxed): student code runs with your permissions.",
              file=out, flush=True)
    else:
        print(f"Sandbox: bubblewrap; per notebook: {sandbox.Limits(**box['limits']).describe()}", file=out)
    wall = (limits or sandbox.Limits()).wall
    timeout = timeout or len(names) * (wall + 120) + 600
    released_by_nb = {p.stem: screen.released_cells(p) for p in sorted(release.NOTEBOOKS.glob("*.ipynb"))}

    print(f"Collecting submissions from {source} ...", file=out, flush=True)
    found = intake_mod.collect(Path(source), names, ws.path)
    for path, why in found.unmapped:
        print(f"  not used: {path}: {why}", file=out)
    times = _submission_times(found, ws, policy, sources, out)
    specs, skipped = [], []
    for student, files in sorted(found.submissions.items()):
        dest = ws.path / "submitted" / student / ASSIGNMENT
        dest.mkdir(parents=True, exist_ok=True)
        for nb, path in files.items():
            shutil.copyfile(path, dest / f"{nb}.ipynb")  # a copy: the original is never touched
        when = times[student]
        _write_timestamp(dest, when)
        late_key = json.dumps([policy.to_dict(), when.nbgrader_text()]) if policy else None
        sha = intake_mod.sha256_files(files)
        previous = ws.load_result(student)
        if not force and previous and previous.get("input_sha") == sha and previous.get("status") == "ok" \
                and previous.get("late_key") == late_key and in_gradebook(ws, student):
            skipped.append(student)
            continue
        usable, notes = screen_submission(student, files, released_by_nb)
        notes += [{"notebook": None, "cell": None, "kind": "unusable", "text": f"{path}: {why}"}
                  for path, why in found.unmapped if found.students_of.get(path) == student]
        missing = [n for n in names if n not in usable]
        notes += [{"notebook": n, "cell": None, "kind": "missing", "text": f"{n}.ipynb was not handed in: "
                   "0 points for its tests"} for n in names if n not in files]
        specs.append({"student": student, "input_sha": sha, "files": usable, "missing": missing,
                      "incidents": notes, "timestamp": when.nbgrader_text(), "submitted": _time_dict(when),
                      "late": policy.to_dict() if policy else None,
                      "late_key": late_key})  # completed into Jobs below, once the shared parts are made
    print(f"  {len(found.submissions)} students; {len(skipped)} already graded (use --force to regrade); "
          f"{len(specs)} to grade", file=out, flush=True)
    summary = {"students": sorted(found.submissions), "skipped": skipped, "unmapped": found.unmapped,
               "errors": {}}
    _write_atomic(ws.path / "run.json", json.dumps({
        "source": str(source), "unmapped": found.unmapped, "sandbox": "bubblewrap" if box else "none",
        "limits": box["limits"] if box else None, "threshold": threshold,
        "late_policy": policy.describe() if policy else None}, indent=1).encode())
    late_mod.set_duedate(ws.db_url, ASSIGNMENT, policy)
    late_mod.save_policy(ws.path, policy)
    if specs:
        template = prepare_gradebook(ws)
        solutions = {p.name: p.read_bytes() for p in sorted(release.SOLUTIONS.glob("*.ipynb"))}
        released = released_sources()
        jobs = [Job(**spec, solutions=solutions, released=released, template_db=template, threads=threads,
                    timeout=timeout, threshold=threshold, sandbox=box, cell_timeout=cell_timeout,
                    started_marker=str(marker_dir / spec["student"]) if marker_dir else None) for spec in specs]
        _run_jobs(jobs, ws, workers, threads, scheduler, out, summary)
    finish(ws, out, lms)
    return summary


def _submission_times(found, ws: Workspace, policy, sources, out) -> dict:
    """Each student's submission time (printed with its source when there is a deadline), and the
    students' LMS identities kept for the grade imports (``lms_identities.json``)."""
    zone = policy.deadline.tzinfo if policy else timezone.utc
    times = timestamps.submission_times(found, sources or timestamps.TimeSources(zone))
    known = _read_identities(ws)
    known.update({s: asdict(i) for s, i in found.identities.items()})
    _write_atomic(ws.path / "lms_identities.json", json.dumps(known, indent=1, sort_keys=True).encode())
    if policy:
        print(f"Late policy: {policy.describe()}", file=out)
        for student, when in sorted(times.items()):
            stamp = when.timestamp.isoformat(timespec="minutes") if when.timestamp else "unknown"
            print(f"  {student}: handed in {stamp} ({when.source}{'; ' + when.note if when.note else ''})", file=out)
    return times


def _read_identities(ws: Workspace) -> dict:
    try:
        return json.loads((ws.path / "lms_identities.json").read_text())
    except (OSError, ValueError):
        return {}


def _time_dict(when: late_mod.SubmissionTime) -> dict:
    return {"timestamp": when.timestamp.isoformat() if when.timestamp else None, "source": when.source,
            "note": when.note}


def _write_timestamp(dest: Path, when: late_mod.SubmissionTime) -> None:
    """nbgrader's timestamp.txt in the submission's folder (nbgrader's own commands read it too)."""
    stamp = dest / "timestamp.txt"
    if when.timestamp is None:
        stamp.unlink(missing_ok=True)
    else:
        stamp.write_text(when.nbgrader_text())


def _run_jobs(jobs: list[Job], ws, workers, threads, scheduler, out, summary) -> None:
    import logging

    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler:
        client = Client(scheduler)
        where = f"the Dask cluster at {scheduler}"
    else:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.ERROR)
        client = Client(cluster)
        where = f"a local Dask cluster of {workers} worker(s)"
    print(f"Grading {len(jobs)} submission(s) on {where}, {threads} CPU thread(s) per job ...", file=out, flush=True)
    progress = Progress(len(jobs), out)
    try:
        futures = {client.submit(grade_one, job, key=job.key, pure=False): job for job in jobs}
        for future in as_completed(list(futures)):
            job = futures[future]
            try:
                result = future.result()
            except Exception as exc:  # the job itself died (e.g. its worker was lost too often)
                result = JobResult(job.student, job.input_sha, error=f"{type(exc).__name__}: {exc}")
            result = write_result(ws, result)
            if result["status"] == "ok":
                text = f"{result['student']}: {result['score']:g}/{result['max_score']:g}"
                if result.get("accuracy") is not None:
                    text += f", test accuracy {result['accuracy']:.2%}"
                if (result.get("late") or {}).get("penalty"):
                    text += f", late penalty -{result['late']['penalty']:g}"
                text += f" ({result['seconds']:.0f} s)"
            else:
                summary["errors"][result["student"]] = result["error"]
                text = f"{result['student']}: NOT GRADED: {result['error']}"
            progress.update(text)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def finish(ws: Workspace, out=sys.stdout, lms: lms_export.LmsOptions | None = None) -> None:
    """Grades CSV, the LMS imports and the class report from the gradebook and the stored results."""
    from autograder.grading import report

    csv_path = export_grades(ws)
    written, notes = lms_export.write_all(ws, _identities(ws), lms or lms_export.LmsOptions())
    html = report.write_report(ws)
    print(f"\nResults in {ws.path}:", file=out)
    print(f"  feedback per student: {ws.path / 'feedback'}/<student>/{ASSIGNMENT}/*.html", file=out)
    print(f"  grades:               {csv_path}", file=out)
    for path in written:
        print(f"  LMS import:           {path}", file=out)
    for note in notes:
        print(f"  ({note})", file=out)
    print(f"  class report:         {html}", file=out)
    print(f"  gradebook:            {ws.db_url}", file=out, flush=True)


def export_grades(ws: Workspace) -> Path:
    """nbgrader's CSV export, plus one column per graded test cell."""
    import csv

    from nbgrader.api import Gradebook, MissingEntry

    base = ws.path / "nbgrader_grades.csv"
    release.nbgrader("export", "--log-level=ERROR", *ws.course_args(), f"--CsvExportPlugin.to={base}")
    with open(base, newline="") as f:
        rows = list(csv.DictReader(f))
    cells: list[str] = []
    with Gradebook(ws.db_url) as gb:
        assignment = gb.find_assignment(ASSIGNMENT)
        for nb in sorted(assignment.notebooks, key=lambda n: n.name):
            cells += [f"{nb.name}:{c.name}" for c in nb.grade_cells]
        for row in rows:
            for col in cells:
                nb_name, cell = col.split(":")
                try:
                    row[col] = gb.find_grade(cell, nb_name, ASSIGNMENT, row["student_id"]).score
                except MissingEntry:
                    row[col] = ""
    _late_columns(ws, rows)
    out = ws.path / "grades.csv"
    with open(out, "w", newline="") as f:
        fields = list(rows[0].keys()) if rows else ["student_id", *cells]
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return out


def _identities(ws: Workspace) -> dict[str, intake_mod.LmsIdentity]:
    return {s: intake_mod.LmsIdentity(**i) for s, i in _read_identities(ws).items()}


def _late_columns(ws: Workspace, rows: list[dict]) -> None:
    """How late, the total penalty (nbgrader's late_submission_penalty) and where the time came from."""
    results = {r["student"]: r for r in ws.results()}
    for row in rows:
        late = (results.get(row["student_id"]) or {}).get("late") or {}
        row["late_by_hours"] = late.get("hours_late", "")
        row["late_penalty"] = late.get("penalty", "")
        row["submission_time_source"] = late.get("source", "")


def _lms_arguments(ap: argparse.ArgumentParser) -> None:
    late = ap.add_argument_group("deadline and late penalty (applied by nbgrader, once per notebook)")
    late.add_argument("--deadline", help="e.g. 2026-12-15T23:59+01:00 (with its UTC offset, or Z)")
    late.add_argument("--late-penalty", help="share of the points per day or hour started late: 10%%/day, 2%%/hour")
    late.add_argument("--late-cap", help="the largest total penalty, e.g. 50%% (default 100%%)")
    late.add_argument("--grace", help="late by at most this counts as on time: 15m, 2h, 1d (default 0)")
    late.add_argument("--lms-timezone", help="zone of the times an LMS file gives without one (zip entries, "
                      "Moodle's worksheet): Europe/Berlin, +01:00 (default: the deadline's offset)")
    lms = ap.add_argument_group("LMS files (read, and written beside grades.csv)")
    lms.add_argument("--worksheet", help="Moodle's offline grading worksheet (CSV): submission times, emails; "
                     "written back filled in as moodle_worksheet.csv")
    lms.add_argument("--canvas-submissions", help="JSON of Canvas's Submissions API for the assignment: "
                     "submission times (Canvas's zip has none)")
    lms.add_argument("--lms-assignment", default="Convnets on MNIST",
                     help="the assignment's column in the LMS, e.g. 'Convnets (12345)' for Canvas")
    lms.add_argument("--lms-max-grade", type=float,
                     help="the LMS assignment's maximum grade (default: the worksheet's, else the course's points)")


def _lms_settings(args) -> tuple[late_mod.Policy | None, timestamps.TimeSources, lms_export.LmsOptions]:
    policy = late_mod.policy_from_args(args.deadline, args.late_penalty, args.late_cap, args.grace)
    zone = timestamps.zone_from_text(args.lms_timezone) if args.lms_timezone else \
        (policy.deadline.tzinfo if policy else timezone.utc)
    worksheet = Path(args.worksheet) if args.worksheet else None
    rows = lms_export.worksheet_by_participant(lms_export.read_worksheet(worksheet)[1]) if worksheet else {}
    canvas = timestamps.read_canvas_submissions(Path(args.canvas_submissions)) if args.canvas_submissions else {}
    return (policy, timestamps.TimeSources(zone, rows, canvas),
            lms_export.LmsOptions(args.lms_assignment, args.lms_max_grade, worksheet))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="mnistcnn-grade", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    ap.add_argument("source", help="a folder of submissions or an LMS .zip download (make grade: the example class)")
    ap.add_argument("--out", default=str(ROOT / "grading"), help="grading folder (default: grading/)")
    ap.add_argument("--db", help="gradebook as an SQLAlchemy URL (default: sqlite in the grading folder)")
    ap.add_argument("--workers", type=int, help="parallel jobs on the local cluster (default: cores / 2)")
    ap.add_argument("--threads", type=int, help="CPU threads per job (default: cores / workers)")
    ap.add_argument("--scheduler", help="address of an existing Dask scheduler (default: a local cluster)")
    ap.add_argument("--force", action="store_true", help="grade again what was already graded")
    d = sandbox.Limits()
    ap.add_argument("--timeout", type=float, help="seconds per submission (default: from --wall-limit)")
    box = ap.add_argument_group("sandbox (bubblewrap) and limits, per notebook")
    box.add_argument("--unsandboxed", action="store_true",
                     help="run student code WITHOUT the sandbox (only where bubblewrap is missing; unsafe)")
    box.add_argument("--wall-limit", type=float, default=d.wall, help=f"seconds (default {d.wall:.0f})")
    box.add_argument("--cpu-limit", type=float, default=d.cpu, help=f"CPU seconds (default {d.cpu:.0f})")
    box.add_argument("--memory-limit", type=float, default=d.memory / sandbox.GiB,
                     help=f"GiB of memory (default {d.memory / sandbox.GiB:g})")
    box.add_argument("--disk-limit", type=float, default=d.disk / sandbox.MiB,
                     help=f"MiB written (default {d.disk / sandbox.MiB:g})")
    box.add_argument("--nproc-limit", type=int, default=d.nproc, help=f"processes and threads (default {d.nproc})")
    box.add_argument("--output-limit", type=float, default=d.output / sandbox.MiB,
                     help=f"MiB of output kept (default {d.output / sandbox.MiB:g})")
    box.add_argument("--cell-timeout", type=float, help="seconds per cell (default: nbgrader_config.py, 1800)")
    _lms_arguments(ap)
    args = ap.parse_args(argv)
    limits = sandbox.Limits(wall=args.wall_limit, cpu=args.cpu_limit, memory=int(args.memory_limit * sandbox.GiB),
                            disk=int(args.disk_limit * sandbox.MiB), nproc=args.nproc_limit,
                            output=int(args.output_limit * sandbox.MiB))
    if not Path(args.source).exists():
        print(f"mnistcnn-grade: {args.source}: no such folder or archive", file=sys.stderr)
        return 2
    try:
        policy, sources, lms = _lms_settings(args)
    except (ValueError, OSError) as exc:  # a deadline, penalty, time zone or LMS file that cannot be used
        print(f"mnistcnn-grade: {exc}", file=sys.stderr)
        return 2
    ws = Workspace(Path(args.out), args.db)
    try:
        summary = grade_class(Path(args.source), ws, workers=args.workers, threads=args.threads,
                              scheduler=args.scheduler, force=args.force, timeout=args.timeout,
                              limits=limits, unsandboxed=args.unsandboxed, cell_timeout=args.cell_timeout,
                              policy=policy, sources=sources, lms=lms)
    except (FileNotFoundError, ValueError, SandboxUnavailable) as exc:  # unreadable source, no sandbox
        print(f"mnistcnn-grade: {exc}", file=sys.stderr)
        return 2
    if summary["errors"]:
        print(f"\n{len(summary['errors'])} submission(s) could not be graded: "
              f"{', '.join(sorted(summary['errors']))} (see the report)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
