"""The grader's own run of the students' answers, from the grading job's side.

:func:`runner_spec` takes, for each graded exercise of the submission (:mod:`autograder.grading.exercises`),
the set-up cells and the test's visible part from the course's source and the answer cells from
the submitted notebook; :func:`start_runner` starts :mod:`autograder.grading.runner` on it (in the
sandbox when the job has one, with only the runner and the exercises visible of the grader's code);
:func:`collect` writes the evidence it sends back into ``<evidence>/<notebook>/<grade_id>/``, where
the judge reads it, and the runner's account of what raised into ``_run.json`` beside it. Only files
named as the course's checks name them are written; a file of the wrong name, too large or not
base64 makes that exercise's evidence refused, with the reason.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from autograder.grading import exercises as ex
from autograder.grading.records import Job
from autograder.grading.verdicts import _parse
from mnistcnn import evidence
from mnistcnn.screening import grade_id

PROBLEMS_FILE, RUN_FILE = evidence.PROBLEMS_FILE, evidence.RUN_FILE
#: The runner's niceness: below the notebooks' kernels, which it runs beside.
RUNNER_NICENESS = 10
_NAME = re.compile(r"^\d{4}-[a-z_]+(-[A-Za-z0-9_]+)*\.(json|npy|keras)$")
HIDDEN = "### BEGIN HIDDEN TESTS"


def _cells(data: bytes) -> list:
    import nbformat

    return nbformat.reads(data.decode("utf-8"), as_version=4).cells


def _sources(data: bytes, kind: str) -> dict[str, str]:
    """grade_id -> source of the notebook's code cells of ``kind`` (solution or locked), first one of each id."""
    out: dict[str, str] = {}
    for cell in _cells(data):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        gid = grade_id(cell)
        if cell.cell_type != "code" or not gid or gid in out:
            continue
        if (kind == "solution" and meta.get("solution")) or (kind == "locked" and not meta.get("solution")):
            out[gid] = cell.source
    return out


def _defining(data: bytes, name: str) -> str | None:
    """The first code cell without nbgrader's metadata that defines ``name()``: an answer cell whose
    metadata the student's tools lost (the course's answer cells are named after their function)."""
    for cell in _cells(data):
        if cell.cell_type == "code" and not cell.get("metadata", {}).get("nbgrader") \
                and re.search(rf"^def {re.escape(name)}\(", cell.source, re.M):
            return cell.source
    return None


def answer_sources(data: bytes, wanted: tuple[str, ...]) -> dict[str, str]:
    """grade_id -> the submitted answer cell of each of ``wanted`` (by its id, else by the function it defines)."""
    found = _sources(data, "solution")
    for gid in wanted:
        if gid not in found and (source := _defining(data, gid)) is not None:
            found[gid] = source
    return found


def locked_sources(data: bytes) -> dict[str, str]:
    """grade_id -> source of a notebook's locked code cells (set-up cells and tests)."""
    return _sources(data, "locked")


def visible_part(source: str) -> str:
    """A test cell's source without its hidden part."""
    return source.split(HIDDEN)[0].rstrip()


def runner_spec(job: Job, timeout: float | None = None) -> dict:
    """What the runner runs for ``job``: every exercise of every notebook handed in."""
    todo = []
    for notebook in sorted(job.files):
        source = job.solutions.get(f"{notebook}.ipynb")
        if source is None:
            continue
        locked = _sources(source, "locked")
        for (nb, cell), e in ex.EXERCISES.items():
            if nb != notebook:
                continue
            answers = answer_sources(job.files[notebook], e.answers)
            todo.append({"notebook": nb, "cell": cell, "probe": e.probe,
                         "setup": [[gid, locked[gid]] for gid in e.setup if gid in locked],
                         "answers": [[gid, answers[gid]] for gid in e.answers if gid in answers],
                         "missing": [gid for gid in e.answers if gid not in answers],
                         "test": visible_part(locked.get(cell, ""))})
    spec: dict = {"exercises": todo}
    if timeout:
        spec["timeout"] = timeout
    return spec


@dataclass
class Runner:
    """The runner process of one job, started, writing its results into ``out``."""

    proc: subprocess.Popen
    out: Path
    err: Path
    exercises: list


def runner_file(folder: Path) -> Path:
    """The runner, copied alone into ``folder``: all its sandbox shows of the grader's code."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(Path(__file__).resolve().parent / "runner.py", folder / "runner.py")
    return folder / "runner.py"


def request(spec: dict) -> bytes:
    """What the runner reads on its standard input: the spec's length, the spec, then the hidden parts
    (:mod:`autograder.grading.exercises`' source), which only its keeper process reads."""
    data = json.dumps(spec).encode()
    return len(data).to_bytes(8, "big") + data + Path(ex.__file__).read_bytes()


def start_runner(job: Job, folder: Path, *, env: dict, cwd: str, prefix: list[str] | None = None,
                 preexec_fn=None, timeout: float | None = None) -> Runner | None:
    """The runner of ``job``'s exercises, started now (it runs while the notebooks run)."""
    spec = runner_spec(job, timeout)
    if not spec["exercises"]:
        return None
    script = runner_file(folder / "code")
    out, err = folder / "results.jsonl", folder / "stderr.txt"
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        proc = subprocess.Popen([*(prefix or []), sys.executable, "-I", str(script)], stdin=subprocess.PIPE,
                                stdout=stdout, stderr=stderr, env=env, cwd=cwd, preexec_fn=preexec_fn)
    try:
        proc.stdin.write(request(spec))
        proc.stdin.close()
    except OSError:
        pass
    return Runner(proc, out, err, spec["exercises"])


def collect(runner: Runner | None, evidence: Path, timeout: float) -> None:
    """Wait for the runner (at most ``timeout`` seconds), then write what it sent into ``evidence``."""
    if runner is None:
        return
    try:
        runner.proc.wait(timeout=max(1.0, timeout))
    except subprocess.TimeoutExpired:
        stop(runner)
    seen = set()
    for line in runner.out.read_bytes().splitlines() if runner.out.exists() else []:
        msg = _parse(line)
        key = msg.get("result")
        if isinstance(key, list) and len(key) == 2 and tuple(key) in ex.EXERCISES and tuple(key) not in seen:
            seen.add(tuple(key))
            _write(evidence / key[0] / key[1], msg, _missing(runner, key))
    why = _why_stopped(runner)
    for e in runner.exercises:
        if (e["notebook"], e["cell"]) not in seen:
            _write(evidence / e["notebook"] / e["cell"], {"problem": why}, e["missing"])


def stop(runner: Runner | None) -> None:
    """The runner stopped (SIGTERM, then SIGKILL: the sandbox launcher ends its sandbox)."""
    if runner is None or runner.proc.poll() is not None:
        return
    runner.proc.terminate()
    try:
        runner.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        runner.proc.kill()
        runner.proc.wait()


def _missing(runner: Runner, key: list) -> list:
    return next((e["missing"] for e in runner.exercises if [e["notebook"], e["cell"]] == key), [])


def _why_stopped(runner: Runner) -> str:
    code = runner.proc.poll()
    lines = [ln for ln in runner.err.read_text(errors="replace").splitlines() if ln.strip()] \
        if runner.err.exists() else []
    return f"stopped (exit status {code}{': ' + lines[-1][:200] if lines else ''})"


def _write(folder: Path, msg: dict, missing: list) -> None:
    """One exercise's evidence files and its run account; refused as a whole when one file is wrong."""
    folder.mkdir(parents=True, exist_ok=True)
    run = {"seconds": msg.get("seconds"), "errors": msg.get("errors") or [], "missing_answers": missing,
           "problem": msg.get("problem")}
    files = msg.get("files") if isinstance(msg.get("files"), dict) else {}
    decoded, problem = {}, None
    for name, text in files.items():
        if not _NAME.match(name):
            problem = f"a file of evidence named {name[:60]!r}"
            break
        try:
            decoded[name] = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError, TypeError):
            problem = f"{name} is not base64"
            break
    if problem:
        (folder / PROBLEMS_FILE).write_text(f"evidence refused: {problem}\n")
    else:
        for name, data in decoded.items():
            (folder / name).write_bytes(data)
    (folder / RUN_FILE).write_text(json.dumps(run))
