"""Grading on workers of other machines: a Dask scheduler and workers started as an operator would
(`dask scheduler`, `dask worker`), the workers running from another copy of the course at another
path, with its own environment, MNIST cache, home and temporary folders, and the instructor's course
folder and Keras cache hidden from them (an empty folder mounted over each, with bubblewrap, which
grading needs anyway). The class gets, cell by cell, the scores its notebooks earn wherever they are
graded (full points for ada's notebook 1, none for the blank one; tests/test_grading.py grades the
same examples on a local cluster).

The cluster's tests are slow: every job runs notebooks in sandboxed kernels (no training: the class
hands in notebook 1).
"""

from __future__ import annotations

import io
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from fixtures import examples
from nbgrader.api import Gradebook

from autograder.course import release
from autograder.grading import gradebook, jobs, records, run
from autograder.sandbox import launcher as sandbox
from mnistcnn import data
from mnistcnn.constants import ACCURACY_THRESHOLD

ROOT = release.ROOT
BIN = Path(sys.executable).parent
N_WORKERS = 2


def course_copy(dest: Path) -> Path:
    """The course's tracked files at another path, as a clone on a worker machine would have them."""
    names = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, names.decode().split("\0")):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def _relocate_file(path: Path, moves: list[tuple[str, str]]) -> None:
    """Rewrite the paths in one file of the copied environment (a new file: the old one is a hard link)."""
    text = path.read_bytes()
    new = text
    for old, to in moves:
        new = new.replace(old.encode(), to.encode())
    if new != text:
        mode = path.stat().st_mode
        path.unlink()
        path.write_bytes(new)
        path.chmod(mode)


def environment_copy(dest: Path, course: Path) -> Path:
    """The course's environment (same pinned packages) at another path, with the course installed from
    ``course``: what `make setup` makes on a worker machine, without downloading it all again. Hard
    links where the file system allows; the files that name paths (scripts, the kernel, the course's
    editable install) are rewritten."""
    prefix = Path(sys.prefix)
    if prefix == Path(sys.base_prefix):
        pytest.fail(f"the tests must run in the course's virtual environment (make setup), not {prefix}")
    if subprocess.run(["cp", "-al", str(prefix), str(dest)], capture_output=True).returncode != 0:
        shutil.rmtree(dest, ignore_errors=True)
        subprocess.run(["cp", "-a", str(prefix), str(dest)], check=True)
    moves = [(str(prefix), str(dest)), (str(ROOT), str(course))]
    site = Path(next(p for p in sys.path if p.endswith("site-packages") and p.startswith(str(prefix))))
    site = dest / site.relative_to(prefix)
    files = [dest / "pyvenv.cfg", *site.glob("__editable__*"), *site.glob("*.pth"),
             *(dest / "share" / "jupyter" / "kernels").glob("*/kernel.json"),
             *(p for p in (dest / "bin").iterdir() if p.is_file() and not p.is_symlink())]
    for path in files:
        _relocate_file(path, moves)
    for stale in site.glob("__pycache__/__editable__*"):  # compiled from the old mapping
        stale.unlink()
    return dest


def hidden_from_workers() -> list[Path]:
    """The instructor's folders a worker machine would not have: the course and Keras's cache."""
    keras_home = data.keras_cache().parent.parent
    return [ROOT, *([keras_home] if keras_home.is_dir() else [])]


def worker_command(venv: Path, scheduler_file: Path, space: Path, name: str) -> list[str]:
    hide = [arg for path in hidden_from_workers() for arg in ("--tmpfs", str(path))]
    return ["bwrap", "--dev-bind", "/", "/", *hide, "--die-with-parent", "--",
            str(venv / "bin" / "dask"), "worker", "--scheduler-file", str(scheduler_file), "--nthreads", "1",
            "--no-dashboard", "--local-directory", str(space), "--name", name]


def descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = set(), [pid]
    while todo:
        p = todo.pop()
        out.add(p)
        todo.extend(children.get(p, []))
    return out


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def stop(procs: list[subprocess.Popen]) -> set[int]:
    """SIGTERM to each process group (dask shuts down), SIGKILL after 30 s; the pids that were running."""
    pids = set().union(*(descendants(p.pid) for p in procs)) if procs else set()
    for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, sig)
        deadline = time.time() + wait
        while time.time() < deadline and any(alive(p) for p in pids):
            time.sleep(0.2)
        for proc in procs:
            try:
                proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                pass
    return pids


def _start(cmd: list[str], cwd: Path, env: dict, log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _scheduler_address(path: Path, proc: subprocess.Popen, log: Path) -> str:
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        try:
            return json.loads(path.read_text())["address"]
        except (OSError, ValueError, KeyError):
            time.sleep(0.2)
    pytest.fail(f"`dask scheduler` did not start:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A scheduler (the instructor's environment) and two workers from the copy, stopped at the end."""
    if sandbox.unavailable_reason():
        pytest.fail(f"bubblewrap is needed (on the workers, and to hide the instructor's folders from them): "
                    f"{sandbox.unavailable_reason()}")
    base = tmp_path_factory.mktemp("machine2")
    for path in (base, Path(tempfile.gettempdir())):
        if any(path.is_relative_to(hidden) for hidden in hidden_from_workers()):
            pytest.fail(f"{path} is inside a folder hidden from the workers: run pytest with --basetemp and "
                        "TMPDIR outside the course")
    course = course_copy(base / "course")
    venv = environment_copy(course / ".venv", course)
    cache = base / "mnist-cache"
    cache.mkdir()
    shutil.copyfile(jobs.mnist_file(), cache / "mnist.npz")  # the worker machine's own `make data`
    worker_tmp = Path(tempfile.mkdtemp(prefix="mnw-"))  # short: kernel sockets live under it
    env = {"PATH": os.pathsep.join([str(venv / "bin"), "/usr/local/bin", "/usr/bin", "/bin"]),
           "HOME": str(base / "home"), "KERAS_HOME": str(base / "home" / ".keras"), "MNIST_CACHE_DIR": str(cache),
           "TMPDIR": str(worker_tmp), "LANG": "C.UTF-8"}
    (base / "home").mkdir()
    sched_file, procs = base / "scheduler.json", []
    try:
        procs.append(_start([str(BIN / "dask"), "scheduler", "--port", "0", "--scheduler-file", str(sched_file),
                             "--no-dashboard"], base, dict(os.environ), base / "scheduler.log"))
        address = _scheduler_address(sched_file, procs[0], base / "scheduler.log")
        for i in range(N_WORKERS):
            procs.append(_start(worker_command(venv, sched_file, base / f"dask-{i}", f"machine2-{i}"), course, env,
                                base / f"worker-{i}.log"))
        yield {"address": address, "course": course, "venv": venv, "cache": cache, "tmp": worker_tmp,
               "workers": procs[1:], "base": base}
    finally:
        pids = stop(procs)
        shutil.rmtree(worker_tmp, ignore_errors=True)
        left = sorted(p for p in pids if alive(p))
        assert not left, f"processes of the cluster still running: {left}"


def graded_points(notebook: str) -> dict:
    """grade id -> points of the graded cells of a notebook, from solutions/."""
    import nbformat

    nb = nbformat.read(ROOT / "solutions" / release.ASSIGNMENT / f"{notebook}.ipynb", as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"]["points"] for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade")}


def cell_scores(db_url: str, student: str) -> dict:
    with Gradebook(db_url) as gb:
        sub = gb.find_submission(release.ASSIGNMENT, student)
        return {f"{nb.name}:{g.name}": g.score for nb in sub.notebooks for g in nb.grades}


def tree_state(root: Path) -> dict:
    """Every file and folder under ``root`` with its size and modification time, but ``__pycache__`` and
    the course's ``grading/`` (where the instructor's nbgrader commands make ``grading/exchange``)."""
    out = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != "__pycache__" and not (folder == str(root) and d == "grading")]
        for name in dirs + files:
            st = os.lstat(os.path.join(folder, name))
            out[os.path.relpath(os.path.join(folder, name), root)] = (st.st_size, st.st_mtime_ns)
    return out


def a_small_class(dest: Path) -> Path:
    """ana hands in ada's answers to notebook 1 (6 points), dee her blank notebook 1."""
    for student, src, notebooks in (("ana", "ada", ("01_data",)), ("dee", "dee", ("01_data",))):
        (dest / student).mkdir(parents=True)
        for nb in notebooks:
            shutil.copyfile(examples.EXAMPLES / src / f"{nb}.ipynb", dest / student / f"{nb}.ipynb")
    return dest


@pytest.mark.slow
def test_a_job_carries_no_path_of_this_machine(tmp_path, monkeypatch):
    queued = []
    monkeypatch.setattr(run, "_run_jobs", lambda js, *args: queued.extend(js))
    monkeypatch.setattr(run, "finish", lambda *args, **kwargs: None)
    src = a_small_class(tmp_path / "submissions")
    run.grade_class(src, gradebook.Workspace(tmp_path / "ws"), threads=1, out=io.StringIO())
    assert sorted(job.student for job in queued) == ["ana", "dee"]
    for job in queued:
        blob = pickle.dumps(job)
        for path in (ROOT, tmp_path, Path(sys.prefix), Path(jobs.mnist_file())):
            assert str(path).encode() not in blob, (job.student, path)
        assert len(blob) < 2_000_000, len(blob)


def test_a_worker_without_bubblewrap_refuses_the_job(tmp_path, monkeypatch):
    monkeypatch.setitem(sandbox._PROBE, "reason", "bubblewrap (bwrap) is not installed")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    job = records.Job("ana", "0" * 64, files={}, solutions={}, released={}, template_db=b"", threads=1, timeout=60,
                    threshold=ACCURACY_THRESHOLD, sandbox={"limits": {}})
    with pytest.raises(jobs.SandboxUnavailable, match="on the worker .*bwrap.* is not installed"):
        jobs.grade_one(job)
    assert list(tmp_path.iterdir()) == []  # its private folder is removed


@pytest.mark.slow
def test_the_workers_run_from_their_own_copy(cluster):
    from dask.distributed import Client

    course, root = str(cluster["course"]), str(ROOT)

    def where():
        import os
        import sys
        import tempfile

        import autograder
        import mnistcnn
        from autograder.grading import jobs as g

        loaded = [getattr(m, "__file__", None) or "" for m in list(sys.modules.values())]
        return {"autograder": autograder.__file__, "mnistcnn": mnistcnn.__file__, "python": sys.executable,
                "cwd": os.getcwd(), "tmp": tempfile.gettempdir(), "mnist": g.mnist_file(),
                "from_root": [f for f in loaded if f.startswith(root + os.sep)], "root_seen": os.listdir(root)}

    with Client(cluster["address"]) as client:
        try:
            client.wait_for_workers(N_WORKERS, timeout=300)
        except Exception:  # noqa: BLE001 - a timeout: say why from the workers' logs
            logs = "\n".join(p.read_text()[-2000:] for p in sorted(cluster["base"].glob("worker-*.log")))
            pytest.fail(f"the workers did not join the scheduler:\n{logs}")
        seen = client.run(where)
    assert len(seen) == N_WORKERS
    for info in seen.values():
        assert info["autograder"].startswith(course + os.sep) and info["mnistcnn"].startswith(course + os.sep), info
        assert info["python"].startswith(str(cluster["venv"])) and info["cwd"] == course, info
        assert info["tmp"] == str(cluster["tmp"]) and info["mnist"] == str(cluster["cache"] / "mnist.npz"), info
        assert info["from_root"] == [] and info["root_seen"] == [], info


@pytest.mark.slow
def test_a_class_graded_on_the_workers_gets_its_scores(cluster, tmp_path):
    src = a_small_class(tmp_path / "submissions")
    remote = tmp_path / "remote"
    before = tree_state(ROOT)
    t0 = time.perf_counter()
    proc = subprocess.run([str(BIN / "mnistcnn-grade"), str(src), "--scheduler", cluster["address"], "--out",
                           str(remote), "--threads", "1"], cwd=ROOT, capture_output=True, text=True, timeout=1200)
    remote_seconds = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"on the Dask cluster at {cluster['address']}" in proc.stdout
    after = tree_state(ROOT)
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert changed == [], f"written in the instructor's course folder while grading remotely: {changed[:20]}"

    print(f"graded on the workers in {remote_seconds:.0f} s")
    ws_remote = gradebook.Workspace(remote)
    cells = {f"{nb}:{cell}": float(p) for nb in run.notebook_names() for cell, p in graded_points(nb).items()}
    # ana handed in ada's notebook 1 (full points), dee the blank one; the other notebooks are missing
    assert cell_scores(ws_remote.db_url, "ana") == {c: p if c.startswith("01_data:") else 0.0 for c, p in cells.items()}
    assert cell_scores(ws_remote.db_url, "dee") == {c: 0.0 for c in cells}
    scores = {r["student"]: r["score"] for r in ws_remote.results()}
    assert scores == {"ana": 6, "dee": 0}, (scores, remote_seconds)
    worker_pids = set().union(*(descendants(p.pid) for p in cluster["workers"]))
    for result in ws_remote.results():
        assert result["pid"] in worker_pids and result["sandbox"] == "bubblewrap", result
        assert (remote / "feedback" / result["student"] / release.ASSIGNMENT / "01_data.html").is_file()
