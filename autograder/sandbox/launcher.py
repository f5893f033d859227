"""The sandbox a student's code runs in at grading time: bubblewrap, plus limits and a watchdog.

nbgrader runs a student's notebook in a Jupyter kernel with the instructor's permissions. When the
grader sets ``CourseExecute.sandbox_config`` (``mnistcnn-grade`` always does, unless told
``--unsandboxed``), every kernel it starts is launched through this module instead::

    python -m autograder.sandbox run --config sandbox.json --run-dir R --work W --cwd C --events E \\
        -- python -m ipykernel_launcher -f R/kernel.json

The launcher (trusted, outside) starts ``bwrap`` with:

* the system read-only, and only what the kernel needs of the course: Python, the packages, the
  ``mnistcnn`` package and the MNIST file; nothing else of the course folder, of the grading folder
  (gradebook, hidden tests, other students' work) or of the instructor's home;
* a private home and ``/tmp`` (memory-backed, limited in size);
* one writable folder shown as the notebook's own folder (an empty copy: not the folder where
  nbgrader keeps the notebook with its hidden tests), the recording folder of the grader and the
  folder of the kernel's sockets (Unix sockets: they work across network namespaces);
* its own network namespace (no network, loopback only), PID namespace (every process it started
  dies with it), IPC and UTS namespaces; uid 1000 in its own user namespace, without capabilities
  (when the grader runs as root, that uid is root outside the namespace: what keeps the machine
  safe is that nothing else is mounted and the mounts are read-only);
* limits: memory and number of processes in cgroups where they are writable (else a watchdog on the
  resident memory and ``RLIMIT_NPROC``), CPU share in a cgroup, CPU time, wall-clock time, disk
  written, file size (``RLIMIT_FSIZE``), no core dumps.

When a limit is hit the launcher kills the sandbox and writes why to the events file, outside the
sandbox, where the grader (``autograder.sandbox.execute``) reads it for the student's feedback.

The cgroups go with the sandbox however the launcher ends: it removes them itself, and a small
process it forks first (:func:`start_reaper`, outside the sandbox and the launcher's process group)
removes them when the launcher was killed before it could.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from autograder.sandbox import process
from mnistcnn.i18n import N_

GiB = 1024**3
MiB = 1024**2


@dataclass
class Limits:
    """Per kernel (one notebook). Defaults fit the 5-epoch training on a 2-core machine with room."""

    wall: float = 3600.0  # seconds the kernel may live
    cpu: float = 4 * 3600.0  # CPU seconds of all its processes together
    memory: int = 6 * GiB  # resident memory (page cache and /tmp included, where a cgroup counts it)
    disk: int = 1 * GiB  # bytes written into its writable folders
    files: int = 20_000  # files in its writable folders
    file_size: int = 512 * MiB  # one file (RLIMIT_FSIZE)
    tmp: int = 512 * MiB  # size of its private /tmp and of its home (each)
    nproc: int = 512  # processes and threads (TensorFlow alone starts dozens of threads)
    cores: float = 0.0  # CPU share in cores (0: as many as the job's threads)
    output: int = 4 * MiB  # notebook output kept by the grader (enforced in autograder.sandbox.execute)

    @classmethod
    def from_dict(cls, data: dict) -> Limits:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def describe(self) -> str:
        return (f"wall {self.wall:.0f} s, CPU {self.cpu:.0f} s, memory {self.memory / GiB:.1f} GiB, "
                f"disk {self.disk / MiB:.0f} MiB in {self.files:,} files, file {self.file_size / MiB:.0f} MiB, "
                f"processes {self.nproc}, output {self.output / MiB:.0f} MiB")


# ----------------------------------------------------------------------------- availability


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


_PROBE: dict[str, str | None] = {}


def unavailable_reason() -> str | None:
    """None when bubblewrap runs here; else why not (shown to the instructor)."""
    if "reason" in _PROBE:
        return _PROBE["reason"]
    reason = None
    if not sys.platform.startswith("linux"):
        reason = f"bubblewrap needs Linux (this is {sys.platform})"
    elif bwrap_path() is None:
        reason = "bubblewrap (bwrap) is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    else:
        args = [bwrap_path(), *base_args(), "--", sys.executable, "-c", "pass"]
        try:
            proc = subprocess.run(args, capture_output=True, text=True, timeout=60)
            if proc.returncode != 0:
                reason = f"bubblewrap does not run here: {proc.stderr.strip()[:300]}"
        except (OSError, subprocess.TimeoutExpired) as exc:
            reason = f"bubblewrap does not run here: {exc}"
    _PROBE["reason"] = reason
    return reason


# ----------------------------------------------------------------------------- what the sandbox sees


_ETC = ["ld.so.cache", "ld.so.conf", "ld.so.conf.d", "nsswitch.conf", "localtime", "timezone", "mime.types",
        "fonts", "ssl", "ca-certificates", "alternatives", "matplotlibrc", "os-release", "hosts"]


def _python_paths() -> list[str]:
    import importlib.util
    import site
    import sysconfig

    paths = {sys.base_prefix, sys.prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable))}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        paths.add(sysconfig.get_paths()[key])
    paths.update(site.getsitepackages())
    spec = importlib.util.find_spec("mnistcnn")
    if spec and spec.origin:
        paths.add(os.path.dirname(spec.origin))
    kept = []
    for p in sorted(paths, key=len):  # drop paths inside one already kept
        p = os.path.realpath(p)
        if os.path.exists(p) and not any(p == k or p.startswith(k + os.sep) for k in kept):
            kept.append(p)
    return kept


def base_args(tmp_size: int | None = None) -> list[str]:
    """bwrap options shared by every sandbox: namespaces, a private /proc, /dev, /tmp and /home, then
    the system and Python read-only. The private folders come first: a later mount goes on top, so
    a course kept under /tmp or /home still shows its Python and package."""
    args = ["--unshare-all", "--unshare-user", "--uid", "1000", "--gid", "1000", "--hostname", "sandbox",
            "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--proc", "/proc", "--dev", "/dev"]
    for top in ("/tmp", "/home"):
        args += [*(["--size", str(tmp_size)] if tmp_size else []), "--tmpfs", top]
    args += ["--dir", "/home/student"]
    for top in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    for name in _ETC:
        path = os.path.join("/etc", name)
        if os.path.exists(path):
            args += ["--ro-bind", path, path]
    # The CPU description TensorFlow and OpenBLAS read to size their thread pools.
    for path in ("/sys/devices/system/cpu", "/sys/fs/cgroup"):
        if os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for path in _python_paths():
        args += ["--ro-bind", path, path]
    return args


_PASS_ENV_PREFIXES = ("TF_", "OMP_", "KERAS_BACKEND", "MNISTCNN_THREADS", "MNISTCNN_RECORD_DIR", "PYTHONWARNINGS",
                      "PYTHONHASHSEED", "LANG", "LC_", "OPENBLAS_", "MKL_", "JPY_SESSION_NAME")


def sandbox_env(env: dict, extra: dict) -> list[str]:
    """``--setenv`` options: what the kernel needs of ``env``, and nothing of the grader's own settings."""
    out = ["--clearenv"]
    keep = {k: v for k, v in env.items() if k.startswith(_PASS_ENV_PREFIXES)}
    keep.update({"PATH": os.pathsep.join([os.path.dirname(sys.executable), "/usr/local/bin", "/usr/bin", "/bin"]),
                 "HOME": "/home/student", "USER": "student", "TMPDIR": "/tmp", "MPLCONFIGDIR": "/tmp/matplotlib",
                 "MPLBACKEND": "agg"})
    keep.update(extra)
    for k, v in sorted(keep.items()):
        out += ["--setenv", k, str(v)]
    return out


def command(config: dict, *, run_dir: str, work: str, cwd: str, inner: list[str], env: dict) -> list[str]:
    """The whole bwrap command line for one kernel (or one evaluation)."""
    limits = Limits.from_dict(config.get("limits", {}))
    args = [bwrap_path() or "bwrap", *base_args(limits.tmp)]
    extra_env = {}
    data = config.get("data")
    if data:
        args += ["--ro-bind", data, data]
        extra_env["MNIST_PATH"] = data
    for path in config.get("ro", []):
        args += ["--ro-bind", path, path]
    for path in [*config.get("rw", []), run_dir]:
        args += ["--bind", path, path]
    if work and cwd:
        args += ["--bind", work, cwd]
    args += sandbox_env(env, extra_env)
    args += ["--chdir", cwd or run_dir, "--", *inner]
    return args


# ----------------------------------------------------------------------------- cgroups (where writable)


class Cgroups:
    """Memory, processes, CPU share and CPU time of one sandbox, in cgroup v1 or v2 where writable."""

    def __init__(self, name: str, limits: Limits, cores: float):
        self.dirs: dict[str, Path] = {}
        self.v2 = Path("/sys/fs/cgroup/cgroup.controllers").exists()
        wanted = {
            "memory": {"memory.limit_in_bytes": limits.memory, "memory.max": limits.memory,
                       "memory.swappiness": 0, "memory.swap.max": 0},
            "pids": {"pids.max": limits.nproc},
            "cpu": ({"cpu.cfs_period_us": 100_000, "cpu.cfs_quota_us": int(cores * 100_000),
                     "cpu.max": f"{int(cores * 100_000)} 100000"} if cores > 0 else {}),
            "cpuacct": {},
        }
        if self.v2:  # one folder for every controller
            wanted = {self.CONTROLLERS[0]: {k: v for settings in wanted.values() for k, v in settings.items()}}
        for controller, path in self.paths(name).items():
            try:
                path.mkdir(exist_ok=True)
                for fname, value in wanted[controller].items():
                    f = path / fname
                    if f.exists():
                        f.write_text(str(value))
                self.dirs[controller] = path
            except OSError:
                self._rmdir(path)
            if self.v2 and controller in self.dirs:
                self.dirs = {k: path for k in self.CONTROLLERS}

    CONTROLLERS = ("memory", "pids", "cpu", "cpuacct")

    @classmethod
    def paths(cls, name: str) -> dict[str, Path]:
        """Where the cgroups named ``name`` go, per controller (v2: one folder, listed under the first),
        beside this process's own."""
        own = cls._own_paths()
        if Path("/sys/fs/cgroup/cgroup.controllers").exists():
            return {cls.CONTROLLERS[0]: Path("/sys/fs/cgroup") / own.get("", "/").lstrip("/") / name}
        return {c: Path("/sys/fs/cgroup") / c / own.get(c, "/").lstrip("/") / name
                for c in cls.CONTROLLERS if (Path("/sys/fs/cgroup") / c).is_dir()}

    @staticmethod
    def _own_paths() -> dict[str, str]:
        out = {}
        try:
            for line in Path("/proc/self/cgroup").read_text().splitlines():
                _, controllers, path = line.split(":", 2)
                for c in controllers.split(","):
                    out[c] = path
        except OSError:
            pass
        return out

    def has(self, controller: str) -> bool:
        return controller in self.dirs

    def join(self, pid: int) -> None:
        for path in set(self.dirs.values()):
            try:
                (path / "cgroup.procs").write_text(str(pid))
            except OSError:
                pass

    def _read(self, controller: str, *names: str) -> str | None:
        path = self.dirs.get(controller)
        for name in names:
            if path is not None and (path / name).exists():
                try:
                    return (path / name).read_text()
                except OSError:
                    return None
        return None

    def _count(self, controller: str, key: str, *names: str) -> int:
        """A counter from a ``key value`` file of the cgroup (0 when absent)."""
        for line in (self._read(controller, *names) or "").splitlines():
            k, _, value = line.partition(" ")
            if k == key:
                return int(value)
        return 0

    def oom_kills(self) -> int:
        return self._count("memory", "oom_kill", "memory.oom_control", "memory.events")

    def peak_memory(self) -> int | None:
        text = self._read("memory", "memory.max_usage_in_bytes", "memory.peak")
        return int(text) if text and text.strip().isdigit() else None

    def pids_max_hits(self) -> int:
        return self._count("pids", "max", "pids.events")

    def cpu_seconds(self) -> float | None:
        text = self._read("cpuacct", "cpuacct.usage")
        if text and text.strip().isdigit():
            return int(text) / 1e9
        text = self._read("cpu", "cpu.stat")
        for line in (text or "").splitlines():
            if line.startswith("usage_usec "):
                return int(line.split()[1]) / 1e6
        return None

    def kill_all(self) -> None:
        for path in set(self.dirs.values()):
            self.kill_procs(path)

    @staticmethod
    def kill_procs(path: Path, tries: int = 50) -> None:
        """SIGKILL every process of the cgroup at ``path`` until it is empty."""
        for _ in range(tries):
            try:
                pids = [int(p) for p in (path / "cgroup.procs").read_text().split()]
            except OSError:
                return
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.05)

    @staticmethod
    def _rmdir(path: Path, wait: float = 15.0) -> None:
        """Remove a cgroup; while it is busy (its killed processes still exiting, which takes seconds for
        a large kernel on a loaded machine) try again, for at most ``wait`` seconds."""
        deadline = time.monotonic() + wait
        while True:
            try:
                path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError as exc:
                if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                    return
                Cgroups.kill_procs(path, tries=1)
                time.sleep(0.05)

    def remove(self) -> None:
        self.kill_all()
        for path in set(self.dirs.values()):
            self._rmdir(path)


def start_reaper(name: str) -> tuple[int, int]:
    """Fork the process that removes the cgroups named ``name`` (and stops what is left in them) once the
    launcher is gone, however it ended: SIGKILL, which no handler sees, included (jupyter_client kills
    the process group of a kernel that does not shut down in time). It lives in a session of its own,
    ignores stop signals, and waits for the pipe whose write end only the launcher holds to close.
    Returns its pid and that write end."""
    read, write = os.pipe()
    pid = os.fork()
    if pid:
        os.close(read)
        return pid, write
    try:
        os.setsid()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
            signal.signal(sig, signal.SIG_IGN)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):  # whoever reads the launcher's output is not kept waiting for this one
            os.dup2(null, fd)
        for fd in {int(f) for f in os.listdir("/proc/self/fd")} - {0, 1, 2, read}:
            try:
                os.close(fd)
            except OSError:
                pass
        while os.read(read, 1):
            pass
        for path in Cgroups.paths(name).values():
            if path.is_dir():
                Cgroups.kill_procs(path, tries=20)
                Cgroups._rmdir(path)
    finally:
        os._exit(0)


# ----------------------------------------------------------------------------- the watchdog


def _detached(root: int, children: dict[int, list[int]]) -> list[int]:
    """Processes in the sandbox outside the main command's own tree (started with setsid, a double
    fork or nohup: reparented to the sandbox's init). They are stopped with the sandbox."""
    def comm(pid: int) -> str:
        try:
            return Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            return ""

    level, main = [root], None
    while level and main is None:  # breadth first: the first process that is not bubblewrap itself
        nxt = []
        for pid in level:
            if comm(pid) != "bwrap":
                main = pid
                break
            nxt.extend(children.get(pid, []))
        level = nxt
    if main is None:
        return []
    inside, todo = set(), [main]
    while todo:
        pid = todo.pop()
        inside.add(pid)
        todo.extend(children.get(pid, []))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid not in inside and comm(pid) not in ("bwrap", ""):
            out.append(pid)
        todo.extend(c for c in children.get(pid, []) if c not in inside)
    return out


def _tree(root: int) -> tuple[list[int], dict[int, list[int]]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read().decode(errors="replace")
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out, children


def _rss_and_cpu(pids: list[int]) -> tuple[int, float]:
    page, tick = os.sysconf("SC_PAGE_SIZE"), os.sysconf("SC_CLK_TCK")
    rss, cpu = 0, 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                parts = f.read().decode(errors="replace").rsplit(")", 1)[1].split()
            cpu += sum(int(x) for x in parts[11:15]) / tick  # utime stime cutime cstime
            rss += int(parts[21]) * page
        except (OSError, ValueError, IndexError):
            continue
    return rss, cpu


def _disk_usage(paths: list[str], max_files: int) -> tuple[int, int]:
    total, count = 0, 0
    todo = list(paths)
    while todo:
        path = todo.pop()
        try:
            with os.scandir(path) as it:
                for entry in it:
                    count += 1
                    if count > max_files:
                        return total, count
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            todo.append(entry.path)
                        else:
                            total += entry.stat(follow_symlinks=False).st_blocks * 512
                    except OSError:
                        pass
        except OSError:
            pass
    return total, count


def _reason(kind: str, message: str, **values) -> dict:
    """Why the sandbox stopped its command: the text in English, and its message and values, from which the
    grader tells it in the notebook's language."""
    return {"kind": kind, "text": message.format(**values), "message": message, "values": values}


def _fmt_bytes(n: float) -> str:
    return f"{n / GiB:.1f} GiB" if n >= GiB else f"{n / MiB:.0f} MiB"


def run(config: dict, *, run_dir: str, work: str, cwd: str, events: str, inner: list[str]) -> int:
    """Start ``inner`` in the sandbox, watch it, write what happened to ``events``; return its exit code."""
    # SIGTERM when the process that started it (the grading job) dies: it then stops the sandbox and
    # removes its cgroups instead of leaving the kernel running to its wall limit.
    process.stop_with_parent(signal.SIGTERM)
    # Held until the handlers below are in place: a stop signal between the cgroups' creation and then
    # would leave them behind (and SIGUSR2, the claim of a kernel started ahead, would end the launcher).
    # The sandboxed process gets them unblocked.
    handled = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2}
    signal.pthread_sigmask(signal.SIG_BLOCK, handled)
    limits = Limits.from_dict(config.get("limits", {}))
    if inner and not os.path.isabs(inner[0]):
        exe = os.path.abspath(inner[0]) if os.sep in inner[0] else shutil.which(inner[0]) or inner[0]
        inner = [exe, *inner[1:]]
    threads = int(os.environ.get("MNISTCNN_THREADS", "0") or 0)
    cores = limits.cores or float(threads or os.cpu_count() or 1)
    name = f"mnistcnn-{os.getpid()}-{int(time.time() * 1000) % 10**9}"
    reaper, reaper_pipe = start_reaper(name)
    groups = Cgroups(name, limits, cores)
    writable = [p for p in [*config.get("rw", []), run_dir, work] if p]
    argv = command(config, run_dir=run_dir, work=work, cwd=cwd, inner=inner, env=dict(os.environ))
    info = {"limits": asdict(limits), "cgroups": sorted(groups.dirs), "cgroup_dirs": sorted({str(p) for p in
                                                                                           groups.dirs.values()})}
    Path(events).write_text(json.dumps({**info, "state": "starting"}))
    is_root = os.geteuid() == 0

    def child_setup():
        signal.pthread_sigmask(signal.SIG_UNBLOCK, handled)
        os.setpgid(0, 0)
        groups.join(os.getpid())
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_size, limits.file_size))
        cpu = int(limits.cpu)
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 30))
        resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
        if not is_root or not groups.has("pids"):
            try:  # counts every process of this user, so it is a backstop, not the main limit
                resource.setrlimit(resource.RLIMIT_NPROC, (limits.nproc * 4, limits.nproc * 4))
            except (ValueError, OSError):
                pass

    reason: dict = {}

    def stop(kind: str, message: str, **values) -> None:
        if not reason:
            reason.update(_reason(kind, message, **values))
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass

    clock = {"t0": time.monotonic()}  # the wall limit counts from here (from a claim, for a kernel started ahead)
    proc = subprocess.Popen(argv, preexec_fn=child_setup, close_fds=True)

    def on_signal(signum, _frame):
        if signum == signal.SIGUSR2:  # a kernel started ahead is put to use: its time starts now
            clock["t0"] = time.monotonic()
        elif signum == signal.SIGUSR1:
            stop("output", N_("the notebook printed more than {size} of output"), size=_fmt_bytes(limits.output))
        else:
            stop("stopped", N_("the grader stopped the notebook"))

    for sig in handled:
        signal.signal(sig, on_signal)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, handled)

    peak_rss, cpu_seen, last_disk, detached = 0, 0.0, 0.0, 0
    while proc.poll() is None:
        time.sleep(0.2)
        elapsed = time.monotonic() - clock["t0"]
        if elapsed > limits.wall:
            stop("wall", N_("the notebook ran longer than the limit of {seconds:.0f} s"), seconds=limits.wall)
            break
        pids, children = _tree(proc.pid)
        detached = max(detached, len(_detached(proc.pid, children)))
        rss, cpu = _rss_and_cpu(pids)
        peak_rss = max(peak_rss, rss)
        cg_cpu = groups.cpu_seconds()
        cpu_seen = max(cpu_seen, cpu, cg_cpu or 0.0)
        if cpu_seen > limits.cpu:
            stop("cpu", N_("the notebook used more than the limit of {seconds:.0f} CPU seconds"), seconds=limits.cpu)
            break
        if groups.pids_max_hits() or (not groups.has("pids") and len(pids) > limits.nproc):
            stop("processes", N_("the notebook tried to run more than {n} processes and threads at once "
                                 "(a fork bomb?)"), n=limits.nproc)
            break
        if not groups.has("memory") and rss > limits.memory:
            stop("memory", N_("the notebook used more than the memory limit of {size}"), size=_fmt_bytes(limits.memory))
            break
        if elapsed - last_disk >= 0.2:
            last_disk = elapsed
            used, count = _disk_usage(writable, limits.files)
            if used > limits.disk:
                stop("disk", N_("the notebook wrote more than the disk limit of {size}"), size=_fmt_bytes(limits.disk))
                break
            if count > limits.files:
                stop("disk", N_("the notebook created more than the limit of {n:,} files"), n=limits.files)
                break
    code = proc.wait()
    if not reason and groups.oom_kills():
        reason.update(_reason("memory", N_("the notebook used more than the memory limit of {size} and was stopped"),
                              size=_fmt_bytes(limits.memory)))
    if not reason and code in (-signal.SIGXFSZ, 128 + signal.SIGXFSZ):
        reason.update(_reason("disk", N_("the notebook wrote a file larger than the limit of {size}"),
                              size=_fmt_bytes(limits.file_size)))
    if not reason and code in (-signal.SIGXCPU, 128 + signal.SIGXCPU):
        reason.update(_reason("cpu", N_("the notebook used more than the limit of {seconds:.0f} CPU seconds"),
                              seconds=limits.cpu))
    noted = [_reason("processes", N_("the notebook left {n} process(es) running on their own (detached from the "
                                     "kernel); the sandbox stopped them when the notebook ended"), n=detached)
             ] if detached else []
    result = {**info, "state": "ended", "exit": code, "reason": reason or None,
              "notes": [n["text"] for n in noted], "noted": noted,
              "seconds": round(time.monotonic() - clock["t0"], 1),
              "cpu_seconds": round(max(cpu_seen, groups.cpu_seconds() or 0.0), 1),
              "peak_memory": groups.peak_memory() or peak_rss}
    groups.remove()
    os.close(reaper_pipe)
    os.waitpid(reaper, 0)
    tmp = Path(events + ".part")
    tmp.write_text(json.dumps(result))
    os.replace(tmp, events)
    return 0 if code == 0 else 1


def read_events(path: str | os.PathLike) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}


def cleanup(events_path: str | os.PathLike) -> None:
    """Remove now the cgroups of a launcher that was killed before it could (its reaper does too, moments
    later; the grader calls this so that they are gone before it goes on)."""
    for d in read_events(events_path).get("cgroup_dirs", []):
        path = Path(d)
        if path.is_dir():
            Cgroups.kill_procs(path, tries=20)
            Cgroups._rmdir(path)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--" not in argv:
        print("usage: python -m autograder.sandbox run --config FILE --run-dir DIR --events FILE "
              "[--work DIR --cwd DIR] -- COMMAND ...", file=sys.stderr)
        return 2
    split = argv.index("--")
    ap = argparse.ArgumentParser(prog="python -m autograder.sandbox")
    ap.add_argument("action", choices=["run"])
    ap.add_argument("--config", required=True)
    ap.add_argument("--run-dir", required=True)
    ap.add_argument("--events", required=True)
    ap.add_argument("--work", default="")
    ap.add_argument("--cwd", default="")
    args = ap.parse_args(argv[:split])
    config = json.loads(Path(args.config).read_text())
    return run(config, run_dir=args.run_dir, work=args.work, cwd=args.cwd, events=args.events,
               inner=argv[split + 1:])


if __name__ == "__main__":
    sys.exit(main())
