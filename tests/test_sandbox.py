"""The sandbox launcher on its own (autograder/sandbox.py): what a process inside sees and may do,
and that each limit stops it with the right reason. Plain Python processes, no kernel: seconds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from autograder.course import release
from autograder.grading import jobs, run
from autograder.sandbox import launcher as sandbox


@pytest.fixture(scope="module", autouse=True)
def _needs_bwrap():
    if sandbox.unavailable_reason():
        pytest.fail(f"bubblewrap is needed (the grader refuses to run without it): {sandbox.unavailable_reason()}")


def run_in_box(tmp_path: Path, code: str, timeout: float = 120, **limits) -> tuple[subprocess.CompletedProcess, dict]:
    run_dir, work, cwd, rec = (tmp_path / n for n in ("run", "work", "cwd", "rec"))
    for d in (run_dir, work, cwd, rec):
        d.mkdir(exist_ok=True)
    config = tmp_path / "sandbox.json"
    config.write_text(json.dumps({"limits": limits, "rw": [str(rec)]}))
    script = run_dir / "script.py"
    script.write_text(textwrap.dedent(code))
    events = tmp_path / "events.json"
    proc = subprocess.run([sys.executable, "-m", "autograder.sandbox", "run", "--config", str(config),
                           "--run-dir", str(run_dir), "--work", str(work), "--cwd", str(cwd), "--events",
                           str(events), "--", sys.executable, str(script)],
                          capture_output=True, text=True, timeout=timeout, env={**os.environ, **release.tool_env()})
    return proc, sandbox.read_events(events)


def test_sees_only_what_it_needs(tmp_path):
    proc, ev = run_in_box(tmp_path, f"""
        import os
        root = {str(release.ROOT)!r}
        print("course:", sorted(os.listdir(root)))
        for path in [root + "/solutions", root + "/grading", "/etc/shadow", os.path.expanduser("~") + "/.bashrc"]:
            print("exists" if os.path.exists(path) else "absent", path)
        print("home:", os.path.expanduser("~"), os.listdir(os.path.expanduser("~")))
        print("uid:", os.getuid(), "pid:", os.getpid())
        import mnistcnn
        print("mnistcnn:", mnistcnn.__file__)
    """)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "exists" not in out, out
    assert "course: ['.venv', 'mnistcnn']" in out or "course: ['mnistcnn']" in out, out
    assert "home: /home/student []" in out
    assert "uid: 1000" in out and "pid: 2" in out  # an unprivileged user, its own PID namespace
    assert ev["state"] == "ended" and ev["reason"] is None


def test_no_network_and_no_writes_outside(tmp_path):
    outside = tmp_path / "outside.txt"
    proc, _ = run_in_box(tmp_path, f"""
        import os, socket
        try:
            socket.create_connection(("1.1.1.1", 80), timeout=3)
            print("CONNECTED")
        except OSError as exc:
            print("no network:", exc)
        for path in [{str(outside)!r}, "/usr/x", {str(release.ROOT / "mnistcnn" / "x.py")!r}]:
            try:
                open(path, "w").write("x")
                print("WROTE", path)
            except OSError as exc:
                print("refused", path, type(exc).__name__)
        open("mine.txt", "w").write("ok")  # its own folder
        open({str(tmp_path / "rec" / "model.keras")!r}, "w").write("ok")  # the grader's recording folder
        print("own folder:", os.listdir("."))
    """)
    assert proc.returncode == 0, proc.stderr
    assert "no network" in proc.stdout and "CONNECTED" not in proc.stdout
    assert not outside.exists()  # written, if at all, into the sandbox's own /tmp
    assert "refused /usr/x" in proc.stdout and f"refused {release.ROOT / 'mnistcnn' / 'x.py'}" in proc.stdout
    assert "own folder: ['mine.txt']" in proc.stdout
    assert (tmp_path / "work" / "mine.txt").exists()  # the empty copy shown as the notebook's folder
    assert (tmp_path / "rec" / "model.keras").exists()


def test_wall_limit(tmp_path):
    t0 = time.monotonic()
    proc, ev = run_in_box(tmp_path, "import time\ntime.sleep(600)", wall=3)
    assert time.monotonic() - t0 < 30
    assert ev["reason"]["kind"] == "wall", ev


@pytest.mark.slow  # starts sandboxed kernels (10-12 s)
def test_wall_limit_counts_from_the_claim(tmp_path):
    """A kernel started ahead (SIGUSR2 to the launcher when a notebook puts it to use): its wall-clock
    limit counts from the claim, not from its start; unclaimed idle time does not count."""
    for d in ("run", "work"):
        (tmp_path / d).mkdir()
    (tmp_path / "sandbox.json").write_text(json.dumps({"limits": {"wall": 4}}))
    events = tmp_path / "events.json"
    launcher = subprocess.Popen(
        [sys.executable, "-m", "autograder.sandbox", "run", "--config", str(tmp_path / "sandbox.json"),
         "--run-dir", str(tmp_path / "run"), "--work", str(tmp_path / "work"), "--events", str(events), "--",
         sys.executable, "-c", "import time; time.sleep(60)"], env={**os.environ, **release.tool_env()})
    try:
        t0 = time.monotonic()
        while time.monotonic() - t0 < 8:  # twice the limit, claimed every second
            time.sleep(1)
            assert launcher.poll() is None, sandbox.read_events(events)
            launcher.send_signal(signal.SIGUSR2)
        claimed = time.monotonic()
        assert launcher.wait(timeout=30) == 1
        assert 3 < time.monotonic() - claimed < 15
        assert sandbox.read_events(events)["reason"]["kind"] == "wall"
    finally:
        if launcher.poll() is None:
            launcher.kill()


def test_memory_limit(tmp_path):
    proc, ev = run_in_box(tmp_path, "b = []\nwhile True:\n    b.append(bytearray(64 * 2**20))", memory=512 * 2**20)
    assert proc.returncode != 0
    assert ev["reason"]["kind"] == "memory", ev


def test_process_limit(tmp_path):
    proc, ev = run_in_box(tmp_path, """
        import os, time
        for _ in range(400):
            try:
                if os.fork() == 0:
                    time.sleep(60)
                    os._exit(0)
            except OSError:
                pass
        time.sleep(60)
    """, nproc=64)
    assert ev["reason"]["kind"] == "processes", ev


def test_disk_limit(tmp_path):
    proc, ev = run_in_box(tmp_path, """
        with open("fill.bin", "wb") as f:
            while True:
                f.write(b"0" * 2**20)
    """, disk=32 * 2**20)
    assert ev["reason"]["kind"] == "disk", ev


def test_cpu_limit(tmp_path):
    proc, ev = run_in_box(tmp_path, "while True:\n    pass", cpu=2)
    assert ev["reason"]["kind"] == "cpu", ev


def test_nothing_outlives_the_sandbox(tmp_path):
    marker = f"mnistcnn-sandbox-test-{os.getpid()}"
    proc, ev = run_in_box(tmp_path, f"""
        import subprocess, sys, time
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", {marker!r}], start_new_session=True)
        subprocess.Popen(sys.executable + " -c 'import time; time.sleep(300)' {marker} &", shell=True)
        time.sleep(1)
        print("started", subprocess.run(["pgrep", "-fc", {marker!r}], capture_output=True, text=True).stdout)
    """)
    assert "started 2" in proc.stdout, proc.stdout + proc.stderr  # both were running inside
    time.sleep(0.5)
    left = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True).stdout.split()
    assert not [p for p in left if int(p) != os.getpid()], "a process started in the sandbox outlived it"
    assert not [d for d in ev.get("cgroup_dirs", []) if Path(d).exists()], "cgroups left behind"
    assert any("running on their own" in n for n in ev["notes"]), ev  # the detached one is named


def test_grader_refuses_without_sandbox(monkeypatch):

    monkeypatch.setitem(sandbox._PROBE, "reason", "bubblewrap (bwrap) is not installed")
    with pytest.raises(jobs.SandboxUnavailable, match="--unsandboxed"):
        run.sandbox_setting(None, unsandboxed=False)
    assert run.sandbox_setting(None, unsandboxed=True) is None


def test_course_execute_settings_are_traitlets():
    """Every setting of the sandboxed execution is a configurable trait, listed in its help
    (what ``--help-all`` prints) and set through the traitlets configuration, not the environment."""
    from traitlets.config import Config

    from autograder.sandbox.execute import CourseExecute, SandboxedKernelManager

    help_text = CourseExecute.class_get_help()
    for name in ("sandbox_config", "sandbox_runtime", "incidents_file", "kernel_env", "kernel_output", "deadline",
                 "evidence_dir"):
        assert f"--CourseExecute.{name}=" in help_text
    assert "--SandboxedKernelManager.sandbox_config=" in SandboxedKernelManager.class_get_help()
    c = Config()
    c.CourseExecute.incidents_file, c.CourseExecute.kernel_env = "/nowhere/incidents.jsonl", {"A": "1"}
    execute = CourseExecute(config=c)
    assert (execute.incidents_file, execute.kernel_env, execute.sandbox_config) == ("/nowhere/incidents.jsonl",
                                                                                   {"A": "1"}, "")


def test_a_child_dies_with_the_process_that_started_it(tmp_path):
    """The parent-death signal (autograder/sandbox/process.py): the grading job's children (the judge,
    the sandbox launchers) do not outlive it."""
    code = textwrap.dedent(f"""
        import subprocess, sys
        from autograder.sandbox.process import die_with_parent
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], preexec_fn=die_with_parent)
        open({str(tmp_path / "pid")!r}, "w").write(str(child.pid))
        time = __import__("time"); time.sleep(120)
    """)
    parent = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.time() + 60
    while not (tmp_path / "pid").is_file() or not (tmp_path / "pid").read_text():
        assert time.time() < deadline, "the child did not start"
        time.sleep(0.1)
    child = int((tmp_path / "pid").read_text())
    parent.kill()
    parent.wait()
    for _ in range(50):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(child, 9)
    raise AssertionError("the child outlived its parent")


@pytest.mark.parametrize("how", ["launcher", "group"])
def test_a_killed_launcher_leaves_no_cgroup(tmp_path, how):
    """SIGKILL, which no handler sees, to the launcher alone or to its whole process group (as
    jupyter_client stops a kernel that does not shut down): its cgroups and processes still go."""
    for d in ("run", "work"):
        (tmp_path / d).mkdir()
    (tmp_path / "sandbox.json").write_text(json.dumps({"limits": {}}))
    events = tmp_path / "events.json"
    marker = f"mnistcnn-killed-launcher-{os.getpid()}-{how}"
    launcher = subprocess.Popen(
        [sys.executable, "-m", "autograder.sandbox", "run", "--config", str(tmp_path / "sandbox.json"),
         "--run-dir", str(tmp_path / "run"), "--work", str(tmp_path / "work"),
         "--events", str(events), "--cwd", str(tmp_path / "work"), "--", sys.executable, "-c",
         "import time; open('started', 'w').close(); time.sleep(300)", marker],
        env={**os.environ, **release.tool_env()}, start_new_session=True)
    try:
        deadline = time.time() + 60
        while not (tmp_path / "work" / "started").exists():
            assert time.time() < deadline and launcher.poll() is None, "the sandboxed process did not start"
            time.sleep(0.1)
        dirs = sandbox.read_events(events)["cgroup_dirs"]
        if not dirs:
            pytest.fail("no cgroup is writable here: this test needs them (the grader runs as root in CI)")
        assert all(Path(d).is_dir() for d in dirs)
        if how == "group":
            os.killpg(launcher.pid, 9)
        else:
            launcher.kill()
        launcher.wait()
        deadline = time.time() + 30
        while left := [d for d in dirs if Path(d).exists()] + subprocess.run(
                ["pgrep", "-f", marker], capture_output=True, text=True).stdout.split():
            assert time.time() < deadline, f"left behind (cgroups, processes): {left}"
            time.sleep(0.2)
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, 9)


@pytest.mark.slow  # starts sandboxed kernels (10-12 s)
def test_kernels_started_ahead_are_clean_and_used(tmp_path):
    """A run of two notebooks (CourseExecute.upcoming): the second starts in the kernel started while the
    first ran. In both, the preload (jobs.KERNEL_PRELOAD) has imported TensorFlow, and the notebook finds
    the same namespace and execution count as in a kernel started the plain way. Nothing of the
    kernels is left when the run ends."""
    import nbformat

    from autograder.sandbox import execute
    from mnistcnn.constants import KERNEL_NAME

    runtime, folder = tmp_path / "rt", tmp_path / "nb"
    runtime.mkdir()
    folder.mkdir()
    probe = ("print(sorted(k for k in globals() if k not in ('_ih', '_oh', '_dh')), get_ipython().execution_count, "
             "len(In), '/', 'tensorflow' in __import__('sys').modules)")

    def run(name: str, config: Path, **settings) -> str:
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(probe)])
        nb.metadata["kernelspec"] = {"name": KERNEL_NAME, "display_name": KERNEL_NAME, "language": "python"}
        ex = execute.CourseExecute(sandbox_config=str(config), sandbox_runtime=str(runtime), timeout=120,
                                   kernel_env=release.tool_env(), kernel_output=os.devnull, **settings)
        nb, _ = ex.preprocess(nb, {"unique_key": name, "metadata": {"path": str(folder)}})
        assert nb.cells[0].execution_count == 1
        return "".join(o.get("text", "") for o in nb.cells[0].outputs).strip()

    plain, ahead = tmp_path / "plain.json", tmp_path / "ahead.json"
    for config in (plain, ahead):
        config.write_text(json.dumps({"limits": {"wall": 300}}))
    reference = run("plain", plain)
    seen = [run(name, ahead, upcoming=["a", "b"], kernel_preload=jobs.KERNEL_PRELOAD) for name in ("a", "b")]
    assert reference.endswith("/ False"), reference  # the probe itself imports no TensorFlow
    assert seen == [reference.replace("/ False", "/ True")] * 2, (reference, seen)
    assert execute.end_run(str(plain)) == 0 and execute.end_run(str(ahead)) == 1  # b ran in the kernel started ahead
    left = subprocess.run(["pgrep", "-f", str(ahead)], capture_output=True, text=True).stdout.split()
    assert not left, "a sandbox launcher of the run is still running"
    assert not list(runtime.iterdir()), "a kernel's folder is left"
