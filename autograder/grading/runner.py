"""The answer runner: the grader runs each graded exercise's answer code itself, in plain Python.

    python -I runner.py < spec.json > results.jsonl

Run in the grader's sandbox, with this file and :mod:`autograder.grading.exercises` copied alone
into a folder of their own (nothing else of the grader's is visible in it: no reference, no judge).
The spec (:func:`autograder.grading.answers.runner_spec`) lists, per exercise, the set-up cells as
released, the student's answer cells it needs, the test's visible part as released, and the name of
its hidden part in :mod:`exercises`. This process imports TensorFlow and the course's package once,
then forks one child per exercise, so that each starts from the same clean state: no IPython, none
of the notebook kernel's state, no other exercise's code. The child runs the cells, the visible
part and the hidden part with the course's checks recording what they are given (the evidence),
and sends the evidence files back through a pipe; then the child and anything it started are
killed, and this process writes one JSON line per exercise on its standard output (the child has
no access to it: its standard streams are /dev/null, its other descriptors closed, and this
process is not dumpable, so ``/proc`` gives no way into it).

What student code can do in a child is hand over other evidence than its answer would: the judge
gives points only to evidence that is right on the grader's own inputs, which is the exercise.
"""

from __future__ import annotations

import base64
import builtins
import importlib.util
import itertools
import json
import os
import select
import signal
import sys
import tempfile
import time
import traceback

#: Bytes of evidence one exercise may hand back (the whole data set's sketches are about 5 MB).
MAX_PAYLOAD = 300 * 2**20
#: Seconds one exercise may take (a fresh fork builds a few small models).
EXERCISE_TIMEOUT = 300.0


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


def _sweep() -> None:
    """End every process left behind by a child (reparented to this one, the subreaper)."""
    me = str(os.getpid())
    for _round in range(20):
        found = False
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/stat") as f:
                    ppid = f.read().rsplit(")", 1)[1].split()[1]
            except (OSError, IndexError):
                continue
            if ppid == me:
                found = True
                try:
                    os.kill(int(pid), signal.SIGKILL)
                    os.waitpid(int(pid), 0)
                except (OSError, ChildProcessError):
                    pass
        if not found:
            return


def _load_exercises():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "exercises.py")
    spec = importlib.util.spec_from_file_location("exercises", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["exercises"] = module  # (dataclasses look their module up)
    spec.loader.exec_module(module)
    return module


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


def _isolate(keep: int) -> None:
    """The child's standard streams to /dev/null, every other descriptor but ``keep`` closed."""
    os.setpgid(0, 0)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.closerange(3, keep)
    os.closerange(keep + 1, 65536)
    sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - for the life of the child


def _child(exercise: dict, probes, out: int) -> None:
    """Run one exercise and write its evidence to ``out`` as one JSON document."""
    _isolate(out)
    from mnistcnn import checks, evidence
    from mnistcnn.grading import RECORD_ENV

    record = tempfile.mkdtemp(prefix="answers-")
    os.environ[RECORD_ENV] = record
    evidence._seq = itertools.count()
    ns = {"__name__": "__main__", "__builtins__": builtins, "get_ipython": _Inert(),
          "display": lambda *a, **k: None}
    errors: list = []
    for gid, source in exercise["setup"]:
        _run_cell(source, ns, f"set-up cell {gid}", [])
    for gid, source in exercise["answers"]:
        _run_cell(source, ns, f"answer cell {gid}", errors)
    _run_cell(exercise["test"], ns, "visible test", errors)
    if exercise.get("probe"):
        try:
            getattr(probes, exercise["probe"])(ns, checks)
        except BaseException as exc:  # noqa: BLE001 - reported; the judge decides from what was recorded
            errors.append({"where": "hidden test", "error": type(exc).__name__, "message": "", "line": None})
    folder = os.path.join(record, evidence.FOLDER)
    files = {}
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        path = os.path.join(folder, name)
        if os.path.isfile(path) and not os.path.islink(path) and not name.startswith("."):
            with open(path, "rb") as f:
                files[name] = base64.b64encode(f.read()).decode()
    data = json.dumps({"files": files, "errors": errors[:20]}).encode()
    view = memoryview(data)
    while view:
        view = view[os.write(out, view[:1 << 20]):]


def _receive(fd: int, deadline: float) -> tuple[bytes, str | None]:
    """What the child sent, up to MAX_PAYLOAD bytes, until it closes the pipe or the deadline."""
    chunks, size = [], 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return b"", "timeout"
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks), None
        size += len(chunk)
        if size > MAX_PAYLOAD:
            return b"", "too large"
        chunks.append(chunk)


def _end(pid: int) -> None:
    """The child and every process of its group, killed; the child reaped."""
    for target in (-pid, pid):
        try:
            os.kill(target, signal.SIGKILL)
        except OSError:
            pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
    _sweep()


def run_exercise(exercise: dict, probes, timeout: float) -> dict:
    """One exercise in a forked child: its evidence files (base64) and the errors its code raised."""
    t0 = time.monotonic()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        try:
            os.close(read)
            _child(exercise, probes, write)
        finally:
            os._exit(0)
    os.close(write)
    try:
        data, problem = _receive(read, t0 + timeout)
    finally:
        os.close(read)
        _end(pid)
    result: dict = {"seconds": round(time.monotonic() - t0, 3)}
    if problem:
        result["problem"] = problem
        return result
    try:
        sent = json.loads(data)
        result["files"] = {str(k): str(v) for k, v in dict(sent.get("files", {})).items()}
        result["errors"] = [e for e in list(sent.get("errors", []))[:20] if isinstance(e, dict)]
    except (ValueError, TypeError, AttributeError):
        result["problem"] = "nothing" if not data else "malformed"
    return result


def main() -> int:
    spec = json.load(sys.stdin)
    out = sys.stdout
    _guard()
    probes = _load_exercises()
    from mnistcnn import quiet_tensorflow

    quiet_tensorflow()
    import keras  # noqa: F401 - imported once, before any fork
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401

    from mnistcnn import checks  # noqa: F401

    timeout = float(spec.get("timeout", EXERCISE_TIMEOUT))
    for exercise in spec["exercises"]:
        key = [exercise["notebook"], exercise["cell"]]
        out.write(json.dumps({"start": key}) + "\n")
        out.flush()
        out.write(json.dumps({"result": key, **run_exercise(exercise, probes, timeout)}) + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
