"""nbgrader's execution step as the course grades: merged output streams, a sandboxed kernel, limits.

Merged streams. Keras's progress bar redraws itself hundreds of times per epoch with carriage
returns. Executed by nbgrader, each redraw becomes an output of its own: the training cell ends up
with about a thousand outputs, nbgrader's LimitOutput cuts them off before the last epoch, and the
feedback page lists them all. Merging the streams and applying the carriage returns (what
nbclient's ``coalesce_streams`` does) leaves what a student sees in JupyterLab: one line per epoch.

Sandbox. When ``CourseExecute.sandbox_config`` names a sandbox configuration (``mnistcnn-grade``'s jobs
set it), the kernel is started through :mod:`autograder.sandbox` (bubblewrap, limits, watchdog) and talks to
nbgrader over Unix sockets in a folder of its own. When the sandbox stops the kernel (a limit) or
the kernel dies (``sys.exit`` is caught by IPython, ``os._exit`` is not), the cell that was running
gets an error saying why, every later code cell gets an error saying it was not run, and grading
goes on with the next notebook: the points earned before keep counting.

Output. What a notebook prints is kept up to ``Limits.output`` bytes; beyond that it is dropped
(with a note in the cell), and beyond ten times that the kernel is stopped.

What happened is appended, one JSON line per event, to ``CourseExecute.incidents_file`` (written by
nbgrader's process, outside the sandbox), which the grader turns into lines of feedback and of the class report.

Evidence. As soon as a cell has run, what it wrote into the recording folder's ``evidence/``
(:mod:`mnistcnn.evidence`) is moved to ``CourseExecute.evidence_dir/<notebook>/<grade_id>/``,
outside the kernel's reach, where :mod:`autograder.grading.judge` reads it. Only regular files are moved
(no links, no folders), and at most ``max_evidence_files`` files and ``max_evidence_bytes`` bytes
per cell; the rest is deleted and the cell's evidence marked as refused, with the reason. What a
cell that is not a graded test writes is deleted.

Settings. Every setting is a configurable trait (``nbgrader autograde --help-all`` lists them, the
grading job sets them in the traitlets configuration it hands nbgrader); the environment only carries
what the kernel itself needs (``CourseExecute.kernel_env``: the recording folder, thread counts).

Kernels started ahead. nbgrader runs a submission's notebooks one after the other, each in a kernel
of its own. When ``CourseExecute.upcoming`` names the notebooks of the run, the next notebook's
sandboxed kernel is started as soon as the running one is ready, and ``kernel_preload`` (the imports
every notebook's first cell does) runs in it while the previous notebook's cells run; the next
notebook then starts in it. Its sandbox's wall-clock limit counts from that moment (the launcher is
told by SIGUSR2); one that no notebook used is stopped when the run ends (:func:`end_run`).

Languages. ``CourseExecute.languages`` names each notebook's language: its kernel (and a kernel
started ahead for it) gets ``$MNISTCNN_LANGUAGE``, so that the checks speak it, and what the grader
notes about the notebook is written in it. nbgrader's autograde sets every notebook's kernelspec to
the English source's, so the language comes from here, not from the kernel's name.

Deadline. ``CourseExecute.deadline`` (seconds since the epoch) bounds the whole run: when it passes,
the running kernel is stopped and no other notebook is started (:class:`DeadlinePassed`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import run_sync
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from nbgrader.utils import is_grade
from traitlets import Bool, Dict, Float, Int, List, Unicode

from autograder.grading.language import _
from autograder.sandbox import launcher as sandbox
from mnistcnn import i18n
from mnistcnn.grading import RECORD_ENV
from mnistcnn.screening import grade_id


def note_incident(path: str, notebook: str, kind: str, text: str, cell: str | None = None) -> None:
    """One line of ``path`` (nothing without a path)."""
    if not path:
        return
    with open(path, "a") as f:
        f.write(json.dumps({"notebook": notebook, "cell": cell, "kind": kind, "text": text}) + "\n")


@dataclass
class _Ahead:
    """What the CourseExecute instances of one run share (nbgrader makes one per notebook): the kernel
    started ahead, and the notebooks already run."""

    spare: SandboxedKernelManager | None = None
    executed: set[str] = field(default_factory=set)
    used: int = 0  # notebooks that ran in a kernel started ahead

    def take(self) -> SandboxedKernelManager | None:
        spare, self.spare = self.spare, None
        return spare

    def discard(self) -> None:
        spare = self.take()
        if spare is not None:
            spare.discard()


#: Per run, by its sandbox configuration (one file per grading job).
_AHEAD: dict[str, _Ahead] = {}


def end_run(sandbox_config: str) -> int:
    """The run with this sandbox configuration is over (the grading job calls this, however it ended):
    its kernel started ahead is stopped if no notebook used it. How many notebooks used one."""
    ahead = _AHEAD.pop(sandbox_config, None)
    if ahead is None:
        return 0
    ahead.discard()
    return ahead.used


class DeadlinePassed(RuntimeError):
    """The run went past ``CourseExecute.deadline``: its kernel was stopped, the rest is not run."""


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel started inside the sandbox, reached over Unix sockets in its own folder."""

    sandbox_config = Unicode("", help="The sandbox configuration (JSON file) the kernel starts in").tag(config=True)
    runtime_dir = Unicode("", help="Folder of the kernels' own folders (short: Unix socket paths are "
                          "limited); empty: the system's temporary folder").tag(config=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        if not self.sandbox_config:
            raise ValueError("SandboxedKernelManager.sandbox_config is not set")
        self.sandbox_dir = Path(tempfile.mkdtemp(prefix="mnk-", dir=self.runtime_dir or None))
        for sub in ("run", "work"):
            (self.sandbox_dir / sub).mkdir()
        self.transport = "ipc"
        self.ip = str(self.sandbox_dir / "run" / "k")
        self.connection_file = str(self.sandbox_dir / "run" / "kernel.json")
        self.sandbox_events = str(self.sandbox_dir / "events.json")
        self._sandbox_cwd = ""

    async def start_kernel(self, **kwargs):
        self._sandbox_cwd = str(kwargs.get("cwd") or os.getcwd())
        # An interrupt as a message on the control channel: a signal would reach the launcher,
        # not the kernel in its own session.
        self.kernel_spec.interrupt_mode = "message"
        return await super().start_kernel(**kwargs)

    def format_kernel_cmd(self, extra_arguments=None):
        cmd = super().format_kernel_cmd(extra_arguments)
        return [sys.executable, "-m", "autograder.sandbox", "run", "--config", self.sandbox_config,
                "--run-dir", str(self.sandbox_dir / "run"), "--work", str(self.sandbox_dir / "work"),
                "--cwd", self._sandbox_cwd, "--events", self.sandbox_events, "--", *cmd]

    def sandbox_report(self) -> dict:
        return sandbox.read_events(self.sandbox_events)

    @property
    def launcher(self):
        """The sandbox launcher's process (what jupyter_client sees as the kernel's), or None."""
        return getattr(self.provisioner, "process", None)

    def running(self) -> bool:
        return self.launcher is not None and self.launcher.poll() is None

    def claim(self) -> None:
        """A kernel started ahead is put to use: the sandbox's wall-clock limit counts from now."""
        if self.running():
            os.kill(self.launcher.pid, signal.SIGUSR2)

    def discard(self) -> None:
        """Stop a kernel no notebook used (SIGTERM: the launcher stops its sandbox) and remove its folder."""
        if self.running():
            self.launcher.terminate()
            try:
                self.launcher.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.launcher.kill()
                self.launcher.wait()
        self.remove_sandbox_dir()

    def remove_sandbox_dir(self) -> None:
        sandbox.cleanup(self.sandbox_events)
        shutil.rmtree(self.sandbox_dir, ignore_errors=True)


def sandbox_reason_text(reason: dict) -> str:
    """Why the sandbox stopped a notebook, in the current language (its English text if it has no message)."""
    message, values = reason.get("message"), reason.get("values")
    if not isinstance(message, str) or not isinstance(values, dict):
        return str(reason.get("text", ""))
    try:
        return _(message).format(**values)
    except (KeyError, ValueError, IndexError):
        return str(reason.get("text", ""))


def _error(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


class CourseExecute(Execute):
    """nbgrader's Execute as the course grades (see the module's documentation)."""

    coalesce_streams = Bool(True)
    evidence_dir = Unicode("", help="Folder the graded cells' evidence is moved to, per notebook and "
                           "grade_id (empty: evidence is not collected)").tag(config=True)
    max_evidence_files = Int(64, help="Files of evidence kept per cell").tag(config=True)
    max_evidence_bytes = Int(300 * 2**20, help="Bytes of evidence kept per cell").tag(config=True)
    sandbox_config = Unicode("", help="The sandbox configuration (JSON file: limits, data, writable "
                             "folders) every kernel starts in (empty: no sandbox)").tag(config=True)
    sandbox_runtime = Unicode("", help="Folder of the sandboxed kernels' sockets and work folders (short: "
                              "Unix socket paths are limited)").tag(config=True)
    incidents_file = Unicode("", help="File what happened (limits, timeouts, dead kernels) is appended to, "
                             "one JSON line per event (empty: not noted)").tag(config=True)
    kernel_env = Dict(help="Environment variables added to the kernel's (the recording folder, thread "
                      "counts)").tag(config=True)
    kernel_output = Unicode("", help="File the kernels' own output (not the notebook's: the kernel process's "
                            "stdout and stderr) is appended to (empty: this process's)").tag(config=True)
    kernel_preload = Unicode("", help="A line of Python every kernel runs as it starts, before the notebook's "
                             "first cell, binding no name (e.g. the imports every notebook's first cell does, so that "
                             "a kernel started ahead has done them while the previous notebook ran)").tag(config=True)
    upcoming = List(Unicode(), help="The notebooks this run executes (names without .ipynb): while one runs and "
                    "another is still to come, the next sandboxed kernel starts, its time limit counting from "
                    "when a notebook puts it to use (empty: each kernel starts when its notebook does)"
                    ).tag(config=True)
    languages = Dict(help="notebook (name without .ipynb) -> the language it is written in: its kernel's "
                     "$MNISTCNN_LANGUAGE and the language of the grader's notes on it (default: English)"
                     ).tag(config=True)
    deadline = Float(0.0, help="Time (seconds since the epoch) by which the whole run must end: the kernel "
                     "running then is stopped and no other notebook runs (0: none)").tag(config=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        limits = json.loads(Path(self.sandbox_config).read_text()).get("limits", {}) if self.sandbox_config else {}
        self.output_limit = sandbox.Limits.from_dict(limits).output
        self.deadline_passed = False
        if self.kernel_preload:  # IPython's own start-up lines, outside the notebook's history
            self.extra_arguments = [*self.extra_arguments, f"--IPKernelApp.exec_lines={self.kernel_preload}"]
        self._ahead = _AHEAD.setdefault(self.sandbox_config, _Ahead()) if self.sandbox_config else _Ahead()

    def note_incident(self, kind: str, text: str, cell: str | None = None) -> None:
        note_incident(self.incidents_file, self._notebook, kind, text, cell)

    # -- kernels: sandboxed, with the job's environment
    def create_kernel_manager(self):
        if not self.sandbox_config:
            return super().create_kernel_manager()
        self.kernel_name = self.kernel_name or self.nb.metadata.get("kernelspec", {}).get("name") or ""
        spare = self._take_spare()
        if spare is not None:
            self.km = spare  # its kernel runs already: nbclient only connects to it
            return spare
        self.km = self._new_manager()
        return self.km

    def _new_manager(self) -> SandboxedKernelManager:
        name = {"kernel_name": self.kernel_name} if self.kernel_name else {}
        return SandboxedKernelManager(**name, config=self.config, sandbox_config=self.sandbox_config,
                                      runtime_dir=self.sandbox_runtime)

    def language_of(self, notebook: str) -> str:
        lang = self.languages.get(notebook, i18n.SOURCE_LANGUAGE)
        return lang if lang in i18n.LANGUAGES else i18n.SOURCE_LANGUAGE

    def kernel_environment(self, notebook: str) -> dict | None:
        """The environment of the kernel that runs ``notebook`` (None: this process's, unchanged)."""
        if not self.kernel_env and not self.languages:
            return None
        return {**os.environ, **self.kernel_env, i18n.ENV: self.language_of(notebook)}

    async def async_start_new_kernel(self, **kwargs):
        if self.kernel_environment(self._notebook) is not None:
            kwargs.setdefault("env", self.kernel_environment(self._notebook))
        if not self.kernel_output:
            return await super().async_start_new_kernel(**kwargs)
        with open(self.kernel_output, "ab") as out:  # the kernel keeps its own copy of the descriptor
            return await super().async_start_new_kernel(stdout=out, stderr=out, **kwargs)

    start_new_kernel = run_sync(async_start_new_kernel)  # nbclient binds its own coroutine: rebind to this one

    # -- the next notebook's kernel, started while this one runs
    async def async_start_new_kernel_client(self):
        kc = await super().async_start_new_kernel_client()  # this notebook's kernel is ready: start the next
        if self._next_notebook() and self._ahead.spare is None and isinstance(self.km, SandboxedKernelManager):
            await self._start_spare()
        return kc

    start_new_kernel_client = run_sync(async_start_new_kernel_client)

    def _next_notebook(self) -> str | None:
        """The notebook of ``upcoming`` to run after this one, if any (nbgrader's order is the folder's)."""
        return min(set(self.upcoming) - self._ahead.executed - {self._notebook}, default=None)

    async def _start_spare(self) -> None:
        """Start the kernel of the next notebook as this notebook's was (same kernel, folder, settings),
        in the next notebook's language."""
        km = self._new_manager()
        km.language = self.language_of(self._next_notebook())
        cwd = self.km._sandbox_cwd
        env = self.kernel_environment(self._next_notebook())
        kwargs = {"env": env} if env is not None else {}
        if self.kernel_output:
            with open(self.kernel_output, "ab") as out:
                await km.start_kernel(extra_arguments=self.extra_arguments, cwd=cwd, stdout=out, stderr=out, **kwargs)
        else:
            await km.start_kernel(extra_arguments=self.extra_arguments, cwd=cwd, **kwargs)
        self._ahead.spare = km

    def _take_spare(self) -> SandboxedKernelManager | None:
        """The kernel started ahead, if it suits this notebook (same kernel and folder, still running)."""
        spare = self._ahead.take()
        if spare is None:
            return None
        cwd = self.resources.get("metadata", {}).get("path") or os.getcwd()
        if spare.running() and spare.kernel_name == (self.kernel_name or spare.kernel_name) and \
                os.path.abspath(spare._sandbox_cwd) == os.path.abspath(cwd) and \
                getattr(spare, "language", None) == self.language_of(self._notebook):
            spare.claim()
            self._ahead.used += 1
            return spare
        spare.discard()
        return None


    # -- bookkeeping per notebook
    def preprocess(self, nb, resources=None, km=None):
        self._notebook = (resources or {}).get("unique_key", "notebook")
        self._dead: str | None = None
        self._output_bytes = 0
        self._output_noted: set[int] = set()
        self._stop_sent = False
        self._last_km = None
        if self.deadline_passed:
            raise DeadlinePassed(f"not run: grading went past its deadline before {self._notebook}")
        watch = self._deadline_watch()
        ended = False
        try:
            with i18n.using(self.language_of(self._notebook)):  # the grader's notes on it, in its language
                out = super().preprocess(nb, resources, km)
            ended = True
            return out
        finally:
            if watch is not None:
                watch.cancel()
            self._after_kernel()
            self._ahead.executed.add(self._notebook)
            if not ended or self.deadline_passed or not self._next_notebook():
                self._ahead.discard()
            if self.deadline_passed:
                raise DeadlinePassed(f"grading went past its deadline in {self._notebook}")

    def _deadline_watch(self) -> threading.Timer | None:
        """A timer that stops the kernel when the run's deadline passes."""
        if not self.deadline:
            return None
        watch = threading.Timer(max(0.0, self.deadline - time.time()), self._on_deadline)
        watch.daemon = True
        watch.start()
        return watch

    def _on_deadline(self) -> None:
        self.deadline_passed = True
        self._last_km = getattr(self, "km", None) or self._last_km
        self._kill_kernel()
        self._ahead.discard()

    def _after_kernel(self) -> None:
        km = getattr(self, "_last_km", None)
        if isinstance(km, SandboxedKernelManager):
            report = km.sandbox_report()
            with i18n.using(self.language_of(self._notebook)):
                for note in report.get("noted") or [{"text": n} for n in report.get("notes", [])]:
                    self.note_incident("processes", sandbox_reason_text(note))
            km.remove_sandbox_dir()

    def _cell_name(self, cell, index) -> str:
        return grade_id(cell) or f"cell {index + 1}"

    def _death_reason(self) -> tuple[str, str]:
        km = getattr(self, "_last_km", None)
        if isinstance(km, SandboxedKernelManager):
            for _attempt in range(50):  # the launcher writes its report as it exits
                report = km.sandbox_report()
                if report.get("state") == "ended":
                    break
                time.sleep(0.1)
            reason = report.get("reason")
            if reason:
                return reason["kind"], _("The grader's sandbox stopped your notebook: {why}.").format(
                    why=sandbox_reason_text(reason))
            code = report.get("exit")
            return "died", _("Your notebook's kernel stopped (exit status {code}): the code ended its own "
                             "process (os._exit, os.kill, a crash) or closed the kernel.").format(code=code)
        return "died", _("Your notebook's kernel stopped: the code ended its own process or crashed.")

    def preprocess_cell(self, cell, resources, index):
        self._last_km = getattr(self, "km", None) or self._last_km
        if self._dead is not None:
            if cell.cell_type == "code" and cell.source.strip():
                cell.outputs = [_error("NotRun", _("not run: the kernel had stopped in an earlier cell "
                                                   "({why})").format(why=self._dead))]
            return cell, resources
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
            self._collect_evidence(cell)
            if any(o.get("ename") == "CellTimeoutError" for o in cell.get("outputs", [])):
                where = self._cell_name(cell, index)
                self.note_incident("timeout", _("{cell} ran longer than the limit of {limit} s per cell and was "
                                                "interrupted").format(cell=where, limit=self.timeout), where)
            return cell, resources
        except CellTimeoutError:  # interrupted, yet still busy: the kernel ignores interrupts
            where = self._cell_name(cell, index)
            text = _("{cell} ran longer than the limit of {limit} s per cell and did not stop when interrupted: "
                     "the grader stopped the kernel").format(cell=where, limit=self.timeout)
            cell.outputs = [*cell.get("outputs", []), _error("CellTimeoutError", text)]
            self._dead = text
            self.note_incident("timeout", _("{why}; later cells were not run").format(why=text), where)
            self._kill_kernel()
            return cell, resources
        except DeadKernelError:
            kind, text = self._death_reason()
            where = self._cell_name(cell, index)
            cell.outputs = [*cell.get("outputs", []), _error("KernelStopped", text)]
            self._dead = f"{where}: {text}"
            self.note_incident(kind, _("{why} (in {cell}; later cells were not run)").format(why=text, cell=where),
                               where)
            return cell, resources

    # -- evidence, out of the kernel's reach
    def _collect_evidence(self, cell) -> None:
        """Move what the cell wrote into the recording folder's evidence/ to evidence_dir."""
        record = self.kernel_env.get(RECORD_ENV) or os.environ.get(RECORD_ENV)
        if not record or not self.evidence_dir:
            return
        gid = grade_id(cell) if is_grade(cell) and cell.cell_type == "code" else None
        try:  # no link followed: the kernel may have put one where the folder was
            src = os.open(os.path.join(record, "evidence"), os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError:
            return
        try:
            self._move_evidence(src, gid)
        finally:
            os.close(src)

    def _move_evidence(self, src: int, gid: str | None) -> None:
        dest = Path(self.evidence_dir) / self._notebook / (gid or "_ignored")
        dest.mkdir(parents=True, exist_ok=True)
        dst = os.open(dest, os.O_RDONLY | os.O_DIRECTORY)
        problems, count, total = [], 0, 0
        try:
            for entry in sorted(os.scandir(src), key=lambda e: e.name):
                st = entry.stat(follow_symlinks=False)
                count, total = count + 1, total + st.st_size
                if not stat.S_ISREG(st.st_mode) or st.st_nlink > 1:
                    problems.append(f"{entry.name!r} is not a plain file")
                elif count > self.max_evidence_files or total > self.max_evidence_bytes:
                    problems.append(f"more than {self.max_evidence_files} files or "
                                    f"{self.max_evidence_bytes / 2**20:.0f} MiB of evidence")
                elif gid is not None:
                    os.rename(entry.name, entry.name, src_dir_fd=src, dst_dir_fd=dst)
                    continue
                self._remove(entry, src)
        finally:
            os.close(dst)
        if gid is None:
            shutil.rmtree(dest, ignore_errors=True)
        elif problems:
            with open(dest / "_problems.txt", "a") as f:
                f.write("evidence refused: " + "; ".join(sorted(set(problems))[:5]) + "\n")

    @staticmethod
    def _remove(entry, src: int) -> None:
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)  # rmtree does not follow links
            else:
                os.unlink(entry.name, dir_fd=src)
        except OSError:
            pass

    def _kill_kernel(self) -> None:
        km = self._last_km
        pid = getattr(getattr(km, "provisioner", None), "pid", None)
        if pid:
            try:
                os.kill(pid, signal.SIGKILL if not isinstance(km, SandboxedKernelManager) else signal.SIGTERM)
            except OSError:
                pass

    # -- output cap
    def output(self, outs, msg, display_id, cell_index):
        content = msg.get("content", {})
        size = len(json.dumps(content.get("data") or content.get("text") or content.get("traceback") or ""))
        self._output_bytes += size
        if self._output_bytes > self.output_limit:
            if cell_index not in self._output_noted:
                self._output_noted.add(cell_index)
                cell = self.nb.cells[cell_index]
                where = self._cell_name(cell, cell_index)
                mib = self.output_limit / 2**20
                outs.append(NotebookNode(output_type="stream", name="stdout", text="\n" + _(
                    "[grader: output beyond {mib:.0f} MiB for this notebook is not kept]").format(mib=mib) + "\n"))
                self.note_incident("output", _("more than {mib:.0f} MiB of output; the rest was not kept (from "
                                               "{cell})").format(mib=mib, cell=where), where)
            if self._output_bytes > 10 * self.output_limit and not self._stop_sent:
                self._stop_sent = True
                km = getattr(self, "_last_km", None)
                pid = getattr(getattr(km, "provisioner", None), "pid", None)
                if isinstance(km, SandboxedKernelManager) and pid:
                    os.kill(pid, signal.SIGUSR1)  # the launcher stops the sandbox and says why
            return None
        return super().output(outs, msg, display_id, cell_index)
