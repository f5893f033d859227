"""The answer runner: the grader runs each graded exercise's answer code itself, in plain Python.

    python -I runner.py < request > results.jsonl

Run in the grader's sandbox, where this file is the only one of the grader's code it can see. The
request (:func:`autograder.grading.answers.request`) is an 8-byte length, the spec (JSON: per
exercise the set-up cells as released, the student's answer cells it needs, the test's visible
part), then the source of :mod:`autograder.grading.exercises`, the hidden parts and their inputs.

This process imports TensorFlow and the course's package once, then forks one child per exercise,
so that each starts from the same clean state: no IPython, none of the notebook kernel's state, no
other exercise's code. A child runs in two phases. First the set-up cells, the answer cells and the
visible test, with the course's checks recording what they are given (the evidence); it sends that
evidence back. Only then does it receive the hidden parts, run its exercise's on the grader's
inputs, and send that evidence back: the hidden inputs were not in the child's memory while it could
still shape what the judge quotes (the judge quotes nothing of the hidden part but what is checked).

The hidden parts are held by a keeper, a process forked before any child, which hands them to this
process for one child at a time (they are wiped from this process's memory before the next fork).
This process and the keeper are not dumpable, so a child cannot read their memory or descriptors
through ``/proc``; a child's standard streams are /dev/null and its other descriptors closed. After
each exercise the child and everything it left running are killed (this process is their subreaper).

What student code can do in a child is hand over other evidence than its answer would: the judge
gives points only to evidence that is right on the grader's own inputs, which is the exercise.
"""

from __future__ import annotations

import base64
import builtins
import itertools
import json
import os
import select
import signal
import sys
import tempfile
import time
import traceback
import types

#: Bytes of evidence one phase of one exercise may hand back (the whole data set's sketches are about 5 MB).
MAX_PAYLOAD = 300 * 2**20
#: Seconds one exercise may take (a fresh fork builds a few small models).
EXERCISE_TIMEOUT = 300.0
_LEN = 8


def _guard() -> None:
    """PR_SET_DUMPABLE 0: no process of the same user may open this one's /proc files or trace it;
    PR_SET_CHILD_SUBREAPER 1: a process a child leaves behind becomes this one's, to be ended."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(4, 0, 0, 0, 0)
        libc.prctl(36, 1, 0, 0, 0)
    except Exception:  # noqa: BLE001 - not Linux: nothing to protect with it
        pass


def _sweep(spare: int) -> None:
    """End every process left behind by a child (reparented to this one, the subreaper), but ``spare``."""
    me = str(os.getpid())
    for _round in range(20):
        found = False
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/stat") as f:
                    ppid = f.read().rsplit(")", 1)[1].split()[1]
            except (OSError, IndexError):
                continue
            if ppid == me and int(pid) != spare:
                found = True
                try:
                    os.kill(int(pid), signal.SIGKILL)
                    os.waitpid(int(pid), 0)
                except (OSError, ChildProcessError):
                    pass
        if not found:
            return


# ----------------------------------------------------------------------------- framing


def _read_exactly(fd: int, n: int, deadline: float | None = None, into: bytearray | None = None):
    """``n`` bytes of ``fd`` (into ``into`` when given: no other copy is made); None at end of file or deadline."""
    buf = into if into is not None else bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
        k = os.readv(fd, [view[got:n]])
        if not k:
            return None
        got += k
    return buf


def _send(fd: int, data) -> None:
    view = memoryview(data)
    os.write(fd, len(view).to_bytes(_LEN, "big"))
    while view:
        view = view[os.write(fd, view[:1 << 20]):]


def _receive(fd: int, deadline: float, limit: int = MAX_PAYLOAD) -> tuple[bytes | None, str | None]:
    """One length-prefixed message from a child: (data, None), or (None, why not)."""
    head = _read_exactly(fd, _LEN, deadline)
    if head is None:
        return None, "timeout" if time.monotonic() >= deadline else "nothing"
    n = int.from_bytes(head, "big")
    if n > limit:
        return None, "too large"
    data = _read_exactly(fd, n, deadline)
    if data is None:
        return None, "timeout" if time.monotonic() >= deadline else "nothing"
    return bytes(data), None


# ----------------------------------------------------------------------------- the keeper of the hidden parts


def _start_keeper(stdin: int) -> tuple[int, int, int]:
    """A process that reads the hidden parts from ``stdin`` and hands them over on request: (pid, ask, answer)."""
    ask_r, ask_w = os.pipe()
    answer_r, answer_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(ask_w)
            os.close(answer_r)
            source = bytearray()
            while True:
                chunk = os.read(stdin, 1 << 16)
                if not chunk:
                    break
                source += chunk
            while os.read(ask_r, 1):
                _send(answer_w, source)
        finally:
            os._exit(0)
    os.close(ask_r)
    os.close(answer_w)
    os.close(stdin)
    return pid, ask_w, answer_r


def _relay_hidden(keeper: tuple[int, int, int], to_child: int) -> None:
    """The hidden parts from the keeper to a child, through a buffer wiped afterwards."""
    _pid, ask, answer = keeper
    os.write(ask, b"?")
    head = _read_exactly(answer, _LEN)
    n = int.from_bytes(head, "big") if head else 0
    buf = bytearray(n)
    try:
        if _read_exactly(answer, n, into=buf) is not None:
            _send(to_child, buf)
    finally:
        buf[:] = bytes(n)


# ----------------------------------------------------------------------------- a child: one exercise


class _Inert:
    """What ``get_ipython()`` gives answer code here: every attribute and call does nothing."""

    def __getattr__(self, name):
        return self

    def __call__(self, *args, **kwargs):
        return self

    def __bool__(self) -> bool:
        return False


def _plain_python(source: str) -> str:
    """IPython's syntax (``%magic``, ``!shell``) as Python calls, which then do nothing here."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001 - compiled as it is; a syntax error is reported
        return source


def _run_cell(source: str, ns: dict, where: str, errors: list) -> None:
    try:
        exec(compile(_plain_python(source), f"<{where}>", "exec"), ns)  # noqa: S102 - the exercise
    except BaseException as exc:  # noqa: BLE001 - SystemExit and KeyboardInterrupt too: the next part runs
        errors.append({"where": where, "error": type(exc).__name__, "message": str(exc)[:300],
                       "line": _line_of(exc, where)})


def _line_of(exc: BaseException, where: str) -> int | None:
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename == f"<{where}>":
            return frame.lineno
    return None


def _isolate(keep: tuple[int, ...]) -> None:
    """The child's standard streams to /dev/null, every other descriptor but ``keep`` closed."""
    os.setpgid(0, 0)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    low = 3
    for fd in sorted(keep):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 65536)
    sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - for the life of the child


def _evidence_files(folder: str, skip: set) -> dict:
    files = {}
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        path = os.path.join(folder, name)
        if name not in skip and os.path.isfile(path) and not os.path.islink(path) and not name.startswith("."):
            with open(path, "rb") as f:
                files[name] = base64.b64encode(f.read()).decode()
    return files


def _hidden_module(source: bytearray) -> types.ModuleType:
    module = types.ModuleType("exercises")
    sys.modules["exercises"] = module  # (dataclasses look their module up)
    exec(compile(bytes(source), "<hidden tests>", "exec"), module.__dict__)  # noqa: S102 - the grader's code
    return module


def _child(exercise: dict, out: int, hidden_in: int) -> None:
    """Run one exercise: the visible phase, its evidence sent; then the hidden phase, its evidence sent."""
    _isolate((out, hidden_in))
    from mnistcnn import checks, evidence
    from mnistcnn.grading import RECORD_ENV

    os.environ[RECORD_ENV] = record = tempfile.mkdtemp(prefix="answers-")
    folder = os.path.join(record, evidence.FOLDER)
    evidence._seq = itertools.count()
    ns = {"__name__": "__main__", "__builtins__": builtins, "get_ipython": _Inert(), "display": lambda *a, **k: None}
    errors: list = []
    for gid, source in exercise["setup"]:
        _run_cell(source, ns, f"set-up cell {gid}", [])
    for gid, source in exercise["answers"]:
        _run_cell(source, ns, f"answer cell {gid}", errors)
    _run_cell(exercise["test"], ns, "visible test", errors)
    visible = _evidence_files(folder, set())
    _send(out, json.dumps({"files": visible, "errors": errors[:20]}).encode())
    if not exercise.get("probe"):
        return
    source = _read_exactly(hidden_in, int.from_bytes(_read_exactly(hidden_in, _LEN) or bytes(_LEN), "big"))
    failed = []
    try:
        getattr(_hidden_module(source or bytearray()), exercise["probe"])(ns, checks)
    except BaseException as exc:  # noqa: BLE001 - reported by its name only; the judge decides
        failed.append({"where": "hidden test", "error": type(exc).__name__})
    _send(out, json.dumps({"files": _evidence_files(folder, set(visible)), "errors": failed}).encode())


def _end(pid: int, spare: int) -> None:
    """The child and every process of its group killed, the child reaped, what it left behind ended."""
    for target in (-pid, pid):
        try:
            os.kill(target, signal.SIGKILL)
        except OSError:
            pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
    _sweep(spare)


def _phase(data: bytes | None) -> tuple[dict, list]:
    try:
        sent = json.loads(data)
        files = {str(k): str(v) for k, v in dict(sent.get("files", {})).items()}
        return files, [e for e in list(sent.get("errors", []))[:20] if isinstance(e, dict)]
    except (ValueError, TypeError, AttributeError):
        return {}, []


def run_exercise(exercise: dict, keeper: tuple[int, int, int], timeout: float) -> dict:
    """One exercise in a forked child: its evidence files (base64) and the errors its code raised."""
    t0 = time.monotonic()
    deadline = t0 + timeout
    read, write = os.pipe()
    hidden_r, hidden_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        try:
            _child(exercise, write, hidden_r)
        finally:
            os._exit(0)
    os.close(write)
    os.close(hidden_r)
    result: dict = {}
    try:
        data, problem = _receive(read, deadline)
        result["files"], result["errors"] = _phase(data) if data is not None else ({}, [])
        if problem is None and exercise.get("probe"):
            _relay_hidden(keeper, hidden_w)
            data, problem = _receive(read, deadline)
            files, errors = _phase(data) if data is not None else ({}, [])
            result["files"].update(_later(files, result["files"]))
            result["errors"] += [{"where": "hidden test", "error": str(e.get("error", ""))[:40]} for e in errors
                                 if e.get("where") == "hidden test"][:1]
        if problem:
            result["problem"] = problem
    finally:
        os.close(read)
        os.close(hidden_w)
        _end(pid, keeper[0])
    result["seconds"] = round(time.monotonic() - t0, 3)
    return result


def _later(files: dict, visible: dict) -> dict:
    """The hidden phase's files: new names only, numbered after every file of the visible phase."""
    last = max((int(name[:4]) for name in visible if name[:4].isdigit()), default=-1)
    return {k: v for k, v in files.items() if k not in visible and k[:4].isdigit() and int(k[:4]) > last}


def main() -> int:
    _guard()
    head = _read_exactly(0, _LEN)
    spec = json.loads(bytes(_read_exactly(0, int.from_bytes(head, "big"))))
    keeper = _start_keeper(0)
    out = sys.stdout
    from mnistcnn import quiet_tensorflow

    quiet_tensorflow()
    import keras  # noqa: F401 - imported once, before any fork
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401
    from IPython.core.inputtransformer2 import TransformerManager  # noqa: F401 - once, not in every child

    from mnistcnn import checks  # noqa: F401

    timeout = float(spec.get("timeout", EXERCISE_TIMEOUT))
    for exercise in spec["exercises"]:
        key = [exercise["notebook"], exercise["cell"]]
        out.write(json.dumps({"start": key}) + "\n")
        out.flush()
        out.write(json.dumps({"result": key, **run_exercise(exercise, keeper, timeout)}) + "\n")
        out.flush()
    os.close(keeper[1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
