"""Grading measurements: this grader's job and an older grader's (``--baseline``) in turn, round by
round, for a correct and a blank submission, next to the same work in a bare Python process; the
parts of the fixed cost; the throughput of whole class runs.

Each grader runs with its own tree and venv: the older one is that revision whole, in its own checkout
and venv (:mod:`tools.bench.baseline`), its jobs run by its own python; this one runs with this checkout's
venv, as do the bare processes."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mnistcnn.constants import ACCURACY_THRESHOLD, CELL_TIMEOUT, KERNEL_NAME, STARTUP_TIMEOUT
from tools.bench import baseline
from tools.bench.common import ROOT, Log, clean_env, med, run_child, run_json
from tools.bench.configs import grader_env

SUBMISSIONS = ROOT / "tests" / "fixtures" / "submissions"
#: The correct submission (it trains) and the blank one (it runs only the dense network).
CORRECT, BLANK = "ada", "dee"
GRADEJOB = Path(__file__).with_name("gradejob.py")
#: What a job needs of the course's constants, from this checkout (an older tree may lack them).
JOB_CONSTANTS = {"threshold": ACCURACY_THRESHOLD, "wall": CELL_TIMEOUT, "kernel": KERNEL_NAME}


def this_tree() -> dict:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    dirty = git("status", "--porcelain", "--", "autograder", "mnistcnn")
    return {"rev": git("rev-parse", "--short", "HEAD") + (" with uncommitted changes" if dirty else ""),
            "subject": git("log", "-1", "--format=%s"), "tree": str(ROOT), "python": sys.executable}


def graders(rev: str, log: Log) -> dict:
    """The older grader (its checkout and venv made first if needed) and this one, each with its
    interpreter's description (:func:`tools.bench.gradejob.describe`)."""
    out = {"old": baseline.prepare(rev, log), "new": this_tree()}
    for g in out.values():
        g.update(run_json([g["python"], str(GRADEJOB), "--describe"], clean_env({}), 120, "describe"))
    old, new = (out[w]["versions"] for w in ("old", "new"))
    log(f"grading: old grader {out['old']['sha'][:7]} with its venv {out['old']['venv']}, new grader with "
        f"{out['new']['venv']}; " + ("both have " + versions_text(new) if old == new else
                                     f"versions differ: old {versions_text(old)}, new {versions_text(new)}"))
    return out


def versions_text(versions: dict) -> str:
    return ", ".join(f"{name} {v}" for name, v in versions.items())


class Rounds:
    """Grading jobs of both graders and the bare processes, recorded round by round."""

    def __init__(self, graders: dict, threads: int, work: Path, log: Log):
        self.graders, self.threads, self.work, self.log = graders, threads, work, log
        self.rounds: list[dict] = []

    def job(self, which: str, student: str, i: int) -> dict:
        g = self.graders[which]
        work = self.work / f"{which}-{student}-{i}"
        folder = work / "in" / student
        shutil.copytree(SUBMISSIONS / student, folder)  # the same files for both graders
        cfg = {"tree": g["tree"], "folder": str(folder), "student": student, "threads": self.threads,
               "work": str(work / "ws"), "template": str(self.work / f"{which}-template.db"), **JOB_CONSTANTS}
        r = run_json([g["python"], str(GRADEJOB), json.dumps(cfg)], clean_env({}), 3600, f"{which} grade_job",
                     cwd=Path(g["tree"]))
        if r["status"] != "ok":
            raise RuntimeError(f"the {which} grader's job for {student} failed: {r['error']}")
        self.log(f"  {which} grader, {student}: job {r['job_s']:.1f} s (judging {r['judge_s'] or 0:.1f} s), "
                 f"{r['score'][0]:g}/{r['score'][1]:g} points")
        return r

    def bare(self, name: str, cfg: dict) -> dict:
        r = run_child(name, cfg, clean_env(grader_env(self.threads)))
        self.log(f"  bare process ({name}): {r['process_s']:.1f} s")
        return r

    def run(self, i: int, students: list[str], save: Path | None) -> None:
        order = ["old", "new"] if i % 2 == 0 else ["new", "old"]
        row: dict = {"order": order}
        if CORRECT in students:
            row["bare"] = self.bare("bare", {"save": str(save)} if save else {})
        for student in students:
            if student == BLANK:
                row["dense"] = self.bare("dense", {})
            row[student] = {which: self.job(which, student, i) for which in order}
        self.rounds.append(row)


def bench_grading(args, threads: int, log: Log, work: Path) -> dict:
    """Old and new grader in turn (old, new / new, old / ...) for the correct and the blank submission,
    with the bare processes in each round; then the fixed cost's parts and the throughput (new grader)."""
    both = graders(args.baseline, log)
    students = [BLANK] if args.quick else [CORRECT, BLANK]
    rounds = Rounds(both, threads, work / "jobs", log)
    model = work / "bare-model.keras"
    log(f"grading: {args.grading_rounds} round(s) of the old grader ({both['old']['rev']}) and this "
        f"one in turn, for {', '.join(students)}, with the bare processes; {threads} threads")
    for i in range(args.grading_rounds):
        log(f" round {i + 1}/{args.grading_rounds}")
        rounds.run(i, students, model if i == 0 else None)
    out = {"threads": threads, "graders": both, "rounds": rounds.rounds, "students": students,
           "same_versions": both["old"]["versions"] == both["new"]["versions"]}
    if not args.quick and not getattr(args, "grading_only", False):
        log("grading: the parts of the fixed cost, one by one")
        out["parts"] = fixed_cost_parts(model, threads)
        log(f"  {', '.join(f'{k} {v:.1f} s' for k, v in out['parts'].items())}")
        out.update(throughput(args, threads, log, work))
    return out


def throughput(args, threads: int, log: Log, work: Path) -> dict:
    """Whole class runs (``grade_class``, Dask): the correct submission alone on 1 worker, and two
    copies of it on 2 workers."""
    log("grading: a class run of the correct submission alone, 1 worker")
    out = {"class_one": grade_folder(work / "class-one", [CORRECT], 1, threads)}
    log(f"  {out['class_one']['wall']:.1f} s")
    if args.two_workers:
        log("grading: a class run of two copies of it, 2 workers with 1 thread each")
        out["class_two"] = grade_folder(work / "class-two", [CORRECT, CORRECT], 2, max(1, threads // 2))
        log(f"  {out['class_two']['wall']:.1f} s")
    return out


def grade_folder(folder: Path, students: list[str], workers: int, threads: int) -> dict:
    """grade_class on a folder holding copies of example submissions; times and results."""
    from autograder.grading import gradebook, run

    src = folder / "in"
    for i, name in enumerate(students):
        shutil.copytree(SUBMISSIONS / name, src / (name if i == 0 else f"{name}{i + 1}"))
    ws = gradebook.Workspace(folder / "grading")
    t = time.perf_counter()
    summary = run.grade_class(src, ws, workers=workers, threads=threads, out=io.StringIO())
    wall = time.perf_counter() - t
    if summary["errors"]:
        raise RuntimeError(f"grading failed: {summary['errors']}")
    return {"wall": wall, "job_s": {r["student"]: r["seconds"] for r in ws.results()}}


def fixed_cost_parts(model_path: Path, threads: int) -> dict:
    """Parts of a grading job timed one by one: an nbgrader command's start, a course kernel's start
    with the notebooks' imports, the accuracy evaluation of a trained model in a clean process, a
    sandboxed process's start, the evidence written by the graded tests."""
    from autograder.grading import jobs

    env = jobs.job_env(threads)
    parts = {}
    t = time.perf_counter()
    subprocess.run([str(Path(sys.executable).parent / "nbgrader"), "--version"], env=env, capture_output=True,
                   check=True)
    parts["nbgrader_start"] = time.perf_counter() - t
    parts["kernel_start_imports"] = kernel_start_cost(env)
    t = time.perf_counter()
    subprocess.run([sys.executable, "-I", "-m", "mnistcnn.grading", str(model_path)], env=env,
                   cwd=model_path.parent, capture_output=True, check=True)
    parts["accuracy_process"] = time.perf_counter() - t
    parts["sandbox_start"] = sandbox_start_cost(env)
    parts["evidence_write"] = evidence_write_cost(threads)
    return parts


def kernel_start_cost(env: dict) -> float:
    """Seconds to start a course kernel and import what the notebooks import."""
    from jupyter_client.manager import start_new_kernel

    t = time.perf_counter()
    km, kc = start_new_kernel(kernel_name=KERNEL_NAME, env=env, startup_timeout=STARTUP_TIMEOUT)
    try:
        reply = kc.execute_interactive("from mnistcnn import checks, data, plots, recipe\nimport keras",
                                       timeout=300, output_hook=lambda msg: None)
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"the course kernel could not import the course: {reply['content']}")
        return time.perf_counter() - t
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def evidence_write_cost(threads: int, rounds: int = 3) -> float:
    """Median extra seconds the graded tests of a correct submission spend writing their evidence
    (the same checks run with and without a recording folder, in turn, in fresh processes)."""
    env = clean_env(grader_env(threads))
    extra = []
    run_child("evidence", {}, env)  # warm-up: file caches
    for i in range(rounds):
        with tempfile.TemporaryDirectory(prefix="mnistcnn-bench-ev-") as tmp:
            cfgs = [("plain", {}), ("recorded", {"record": tmp})]
            times = {name: run_child("evidence", cfg, env)["seconds"] for name, cfg in cfgs[::1 - 2 * (i % 2)]}
        extra.append(times["recorded"] - times["plain"])
    return med(extra)


def sandbox_start_cost(env: dict, runs: int = 5) -> float:
    """Median extra seconds of starting a process in the grader's sandbox (launcher, bubblewrap,
    cgroups, watchdog) over starting it bare: `python -c pass` both ways, in turn."""
    from autograder.sandbox import launcher as sandbox

    if sandbox.unavailable_reason():
        return float("nan")
    extra = []
    with tempfile.TemporaryDirectory(prefix="mnistcnn-bench-sb-") as tmp:
        cfg = Path(tmp, "sandbox.json")
        cfg.write_text(json.dumps({"limits": {}}))
        boxed = [sys.executable, "-m", "autograder.sandbox", "run", "--config", str(cfg), "--run-dir", tmp,
                 "--events", str(Path(tmp, "events.json")), "--", sys.executable, "-c", "pass"]
        for _ in range(runs):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-c", "pass"], env=env, check=True)
            bare = time.perf_counter() - t
            t = time.perf_counter()
            subprocess.run(boxed, env=env, check=True, capture_output=True)
            extra.append(time.perf_counter() - t - bare)
    return med(extra)


def paired_text(res: dict) -> str:
    """``--grading-only``: the old and the new grader's jobs and fixed costs, per submission, as a table:
    medians (min-max) over the rounds, each fixed cost taken within its round."""
    lines = [f"old grader {res['graders']['old']['rev']}, new grader {res['graders']['new']['rev']}, "
             f"{len(res['rounds'])} round(s), {res['threads']} threads", "",
             "| submission | what | old | new | new - old |", "| --- | --- | ---: | ---: | ---: |"]
    for student, bare in ((CORRECT, "bare"), (BLANK, "dense")):
        rows = [r for r in res["rounds"] if student in r]
        if not rows:
            continue
        job = {w: [r[student][w]["job_s"] for r in rows] for w in ("old", "new")}
        fixed = {w: [r[student][w]["job_s"] - r[bare]["process_s"] for r in rows] for w in ("old", "new")}
        delta = [n - o for o, n in zip(job["old"], job["new"])]
        for what, values in (("grading job (s)", job), ("fixed cost (s)", fixed)):
            lines.append(f"| `{student}` | {what} | {_spread(values['old'])} | {_spread(values['new'])} | "
                         + (f"{_spread(delta)} |" if what.startswith("grading") else "|"))
    return "\n".join(lines)


def _spread(values: list[float]) -> str:
    return f"{med(values):.1f} ({min(values):.1f}–{max(values):.1f})"
