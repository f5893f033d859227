"""The grader's side of judging: which cells are judged, the verdict record, and the driver that
runs the judging process (:mod:`autograder.grading.judge`) and survives it.

The judging process reports each cell as it goes: a ``start`` line, then a ``verdict`` line. When it
dies or stalls on a cell (evidence built to exhaust its memory or time), that cell fails with the
reason, and a new process judges the cells left: one cell's evidence never costs the others.

The first judging process may be started ahead (:func:`start_judge`), while the notebooks run: it
imports TensorFlow and loads its data, then waits for its go (a line on its standard input) before
it reads any evidence. One that has waited too long, or died waiting, is replaced by a fresh one.
Light on purpose: the grading job imports this, not TensorFlow.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field

from mnistcnn import i18n
from mnistcnn.constants import JUDGE_CELL_TIMEOUT
from mnistcnn.i18n import N_

#: Every graded cell of the course, as (notebook, grade_id); autograder.grading.judge has a judge for each.
GRADED_CELLS = [
    ("01_data", "test_preprocess_images"),
    ("01_data", "test_encode_labels"),
    ("01_data", "test_prepared_data"),
    ("02_convnet", "test_conv_output_size"),
    ("02_convnet", "test_conv_param_count"),
    ("02_convnet", "test_build_conv_base"),
    ("02_convnet", "test_read_summary"),
    ("02_convnet", "test_build_model"),
    ("02_convnet", "test_probabilities"),
    ("03_training", "test_build_model"),
    ("03_training", "test_compile_model"),
    ("03_training", "test_plot_history"),
    ("03_training", "test_accuracy_99"),
    ("03_training", "test_error_reduction"),
]
ACCURACY_CELL = ("03_training", "test_accuracy_99")


@dataclass
class Verdict:
    """The grader's decision on one graded cell."""

    notebook: str
    cell: str
    passed: bool
    message: str = ""
    problem: bool = False  # the evidence itself was missing or malformed
    missing: bool = False  # no evidence at all for a part of the test
    details: dict = field(default_factory=dict)


def cells_of(notebook: str) -> list[str]:
    return [cell for nb, cell in GRADED_CELLS if nb == notebook]


def judge_command(evidence: str, cells: list[tuple[str, str]], threshold: float) -> list[str]:
    return [sys.executable, "-I", "-m", "autograder.grading.judge", str(evidence), "--cells",
            ",".join(f"{nb}:{cell}" for nb, cell in cells), "--threshold", str(threshold)]


def language_arguments(languages: dict | None) -> list[str]:
    """The judging process's option naming each notebook's language other than English (the checks'
    messages are given in it); none when every notebook is in English."""
    other = {nb: lang for nb, lang in sorted((languages or {}).items()) if lang != "en"}
    return ["--languages", ",".join(f"{nb}={lang}" for nb, lang in other.items())] if other else []


#: A judging process started ahead is used only if it waited at most this long (its sandbox's
#: wall-clock limit runs from its start).
READY_MAX_AGE = 600.0


@dataclass
class ReadyJudge:
    """A judging process started ahead, waiting for its go."""

    proc: subprocess.Popen
    err: object  # its standard error (a temporary file)
    cells: list
    started: float


def start_judge(evidence: str, notebooks: list[str], threshold: float, *, env: dict, cwd: str,
                prefix: list[str] | None = None, preexec_fn=None, languages: dict | None = None) -> ReadyJudge:
    """The judging process of every graded cell of ``notebooks``, started now, judging on its go."""
    todo = [(nb, cell) for nb in notebooks for cell in cells_of(nb)]
    cmd = [*(prefix or []), *judge_command(evidence, todo, threshold), *language_arguments(languages), "--wait"]
    err = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, env=env, cwd=cwd,
                            preexec_fn=preexec_fn)
    return ReadyJudge(proc, err, todo, time.monotonic())


def discard(ready: ReadyJudge | None, events: str | None = None) -> None:
    """Stop a judging process started ahead that will not be used (and clean up after its sandbox)."""
    if ready is None:
        return
    if ready.proc.poll() is None:
        _stop(ready.proc)
    for stream in (ready.proc.stdin, ready.proc.stdout, ready.err):
        try:
            stream.close()
        except OSError:
            pass
    _sandbox_reason(events)


def _go(ready: ReadyJudge | None, todo: list, wall: float, events: str | None) -> ReadyJudge | None:
    """The process started ahead, told to go, if it can judge ``todo``; else None (and it is stopped)."""
    if ready is None:
        return None
    usable = ready.cells == todo and ready.proc.poll() is None and \
        time.monotonic() - ready.started <= min(READY_MAX_AGE, wall / 4)
    if usable:
        try:
            ready.proc.stdin.write(b"go\n")
            ready.proc.stdin.close()
            return ready
        except OSError:
            pass
    discard(ready, events)
    return None


def run_judge(evidence: str, notebooks: list[str], threshold: float, *, env: dict, cwd: str,
              prefix: list[str] | None = None, cell_timeout: float = JUDGE_CELL_TIMEOUT, preexec_fn=None,
              events: str | None = None, ready: ReadyJudge | None = None, wall: float = 3600.0,
              languages: dict | None = None) -> list[dict]:
    """Every graded cell of ``notebooks`` judged; a cell whose judging kills or stalls the process fails
    alone, with the reason, and the rest is judged by a new process. ``ready``: the first process, started
    ahead by :func:`start_judge` (``wall``: its sandbox's wall-clock limit)."""
    todo = [(nb, cell) for nb in notebooks for cell in cells_of(nb)]
    verdicts: dict[tuple[str, str], dict] = {}
    ready = _go(ready, todo, wall, events)
    while len(verdicts) < len(todo):
        left = [c for c in todo if c not in verdicts]
        if ready is not None:
            with ready.err:
                done, stuck, why = _watch(ready.proc, ready.err, cell_timeout)
            ready = None
        else:
            cmd = [*(prefix or []), *judge_command(evidence, left, threshold), *language_arguments(languages)]
            done, stuck, why = _one_run(cmd, env, cwd, cell_timeout, preexec_fn)
        why = _sandbox_reason(events) or why
        verdicts.update(done)
        if stuck is not None:
            verdicts[stuck] = _failed(stuck, N_("judging this test's evidence {why}; the grader judged the other tests "
                                                "in a new process"), why, languages)
        else:  # ended between cells: whatever it did not judge cannot be judged
            for c in left:
                verdicts.setdefault(c, _failed(c, N_("the grader's judging process failed: {why}"), why, languages))
    return [verdicts[c] for c in todo]


def _failed(cell: tuple[str, str], message: str, why: tuple[str, dict], languages: dict | None) -> dict:
    """The verdict of a cell whose judging failed, in its notebook's language (``why``: a message and its values)."""
    from autograder.grading.language import _

    with i18n.using((languages or {}).get(cell[0])):
        text = _(message).format(why=_(why[0]).format(**why[1]))
    return asdict(Verdict(*cell, False, text, problem=True))


def _one_run(cmd: list[str], env: dict, cwd: str, cell_timeout: float, preexec_fn):
    """Run the judging process once: the verdicts it gave, the cell it stopped on, and why."""
    with tempfile.TemporaryFile(mode="w+") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, env=env, cwd=cwd, preexec_fn=preexec_fn)
        return _watch(proc, err, cell_timeout)


def _watch(proc: subprocess.Popen, err, cell_timeout: float):
    """Follow a judging process to its end: the verdicts it gave, the cell it stopped on, and why."""
    done: dict[tuple[str, str], dict] = {}
    current, why = None, None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + cell_timeout + 120  # the process's own start
    buffer = b""
    try:
        while True:
            if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
                why = (N_("took longer than {seconds:.0f} s"), {"seconds": cell_timeout})
                _stop(proc)
                break
            data = os.read(proc.stdout.fileno(), 65536)  # unbuffered: select sees every pending byte
            if not data:
                break
            *lines, buffer = (buffer + data).split(b"\n")
            for line in lines:
                msg = _parse(line)
                if "start" in msg:
                    current, deadline = tuple(msg["start"]), time.monotonic() + cell_timeout
                elif "verdict" in msg:
                    v = msg["verdict"]
                    done[(v["notebook"], v["cell"])], current = v, None
    finally:
        sel.close()
        proc.stdout.close()
        code = proc.wait()
    if not why:
        err.seek(0)
        lines = [ln for ln in err.read().strip().splitlines() if ln.strip()]
        why = (N_("stopped the judging process (exit status {code}{detail})"),
               {"code": code, "detail": f": {lines[-1][:200]}" if lines else ""})
    return done, current, why


def _sandbox_reason(events: str | None) -> tuple[str, dict] | None:
    """Why the sandbox stopped the judging process (a limit), from its events file, if it did."""
    if not events:
        return None
    from autograder.sandbox import launcher as sandbox

    reason = sandbox.read_events(events).get("reason")
    sandbox.cleanup(events)  # a launcher stopped before it could remove its cgroups
    try:
        os.remove(events)  # the next run writes its own
    except OSError:
        pass
    return (N_("was stopped by the grader's sandbox: {reason}"),
            {"reason": reason["text"].replace("the notebook", "the judging")}) if reason else None


def _parse(line: bytes) -> dict:
    try:
        msg = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return {}
    return msg if isinstance(msg, dict) else {}


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM (the sandbox launcher then stops its sandbox), SIGKILL after 10 s."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.kill(proc.pid, sig)
            proc.wait(timeout=wait)
            return
        except (OSError, subprocess.TimeoutExpired):
            continue
