"""One grading job, timed, by the grader of a given code tree: this checkout's, or an exported older
revision's (``--baseline``). Runs in its own child process (:mod:`tools.bench.child`) with that tree
first on ``sys.path`` and on ``PYTHONPATH``, so the two graders' code never meets in one process.

The job is made as ``grade_class`` makes it (screened notebooks, the released sources, a template
gradebook, the sandbox's limits); only ``grade_one`` is timed.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace

#: Where each layout of the grader keeps what a job needs: name -> "module:attribute".
LAYOUTS = {
    "grading-package": {  # autograder/{course,grading,sandbox} (from dd10c23 on)
        "release": "autograder.course.release", "screen": "autograder.grading.screen",
        "intake": "autograder.grading.intake", "Workspace": "autograder.grading.gradebook:Workspace",
        "prepare_gradebook": "autograder.grading.gradebook:prepare_gradebook",
        "run": "autograder.grading.run", "Job": "autograder.grading.records:Job",
        "grade_one": "autograder.grading.jobs:grade_one", "verdicts": "autograder.grading.verdicts"},
    "flat": {  # autograder/grade.py and its neighbours (ed22d5f and before)
        "release": "autograder.release", "screen": "autograder.screen", "intake": "autograder.intake",
        "Workspace": "autograder.grade:Workspace", "prepare_gradebook": "autograder.grade:prepare_gradebook",
        "run": "autograder.grade", "Job": "autograder.grade:Job", "grade_one": "autograder.grade:grade_one",
        "verdicts": "autograder.verdicts"},
}

#: The judging process runs with ``python -I`` (no PYTHONPATH): it is pointed at the tree explicitly.
RUN_FROM_TREE = "import runpy, sys; sys.path.insert(0, sys.argv.pop(1)); runpy.run_module({!r}, run_name='__main__')"


def layout_of(tree: Path) -> str:
    return "grading-package" if (tree / "autograder" / "grading" / "jobs.py").exists() else "flat"


def load(tree: Path) -> SimpleNamespace:
    """The grader's pieces, imported from ``tree`` (put first on this process's path and its children's)."""
    sys.path.insert(0, str(tree))
    os.environ["PYTHONPATH"] = os.pathsep.join([str(tree), *filter(None, [os.environ.get("PYTHONPATH")])])
    parts = {}
    for name, where in LAYOUTS[layout_of(tree)].items():
        module, _, attr = where.partition(":")
        parts[name] = getattr(importlib.import_module(module), attr) if attr else importlib.import_module(module)
    found = Path(parts["release"].__file__).resolve()
    if not found.is_relative_to(tree.resolve()):
        raise RuntimeError(f"the grader was imported from {found}, not from {tree}")
    return SimpleNamespace(**parts)


def judge_from_tree(verdicts, tree: Path) -> None:
    """Make the judging process (``python -I -m MODULE``) import the grader from ``tree``: ``-I`` ignores
    PYTHONPATH, and the environment's installed package is this checkout's."""
    original = verdicts.judge_command

    def judge_command(*args, **kwargs):
        cmd = original(*args, **kwargs)
        i = cmd.index("-m")
        return [*cmd[:i], "-c", RUN_FROM_TREE.format(cmd[i + 1]), str(tree), *cmd[i + 2:]]

    verdicts.judge_command = judge_command


def template_gradebook(g: SimpleNamespace, work: Path, cache: Path | None) -> bytes:
    """The fresh gradebook a job starts from, made by this grader once and kept in ``cache`` (the
    class's cost, not the job's)."""
    if cache and cache.exists():
        return cache.read_bytes()
    data = g.prepare_gradebook(g.Workspace(work))
    if cache:
        cache.write_bytes(data)
    return data


def make_job(g: SimpleNamespace, folder: Path, student: str, threads: int, work: Path, cache: Path | None):
    """A job for the submission in ``folder`` (one notebook per file), as ``grade_class`` makes it."""
    g.release.use_tool_path()
    names = g.run.notebook_names()
    files = {p.stem: p for p in sorted(folder.glob("*.ipynb")) if p.stem in names}
    released_by_nb = {p.stem: g.screen.released_cells(p) for p in sorted(g.release.NOTEBOOKS.glob("*.ipynb"))}
    usable, notes = g.run.screen_submission(student, files, released_by_nb)
    box = g.run.sandbox_setting(None, False)
    wall = box["limits"].get("wall", 1800) if box else 1800
    template = template_gradebook(g, work, cache)
    solutions = {p.name: p.read_bytes() for p in sorted(g.release.SOLUTIONS.glob("*.ipynb"))}
    return g.Job(student=student, input_sha=g.intake.sha256_files(files), files=usable,
                 missing=[n for n in names if n not in usable], incidents=notes, solutions=solutions,
                 released=g.run.released_sources(), template_db=template, threads=threads,
                 timeout=len(names) * (wall + 120) + 600, threshold=0.99, sandbox=box)


def grade_job(cfg: dict) -> dict:
    """Grade ``cfg["folder"]`` as ``cfg["student"]`` with the grader of ``cfg["tree"]``: the job's
    seconds (``grade_one`` timed here, and as the job timed itself), its status, score and accuracy."""
    tree = Path(cfg["tree"])
    g = load(tree)
    if cfg.get("judge_from_tree"):
        judge_from_tree(g.verdicts, tree)
    cache = Path(cfg["template"]) if cfg.get("template") else None
    job = make_job(g, Path(cfg["folder"]), cfg["student"], cfg["threads"], Path(cfg["work"]), cache)
    start = time.perf_counter()
    result = g.grade_one(job)
    wall = time.perf_counter() - start
    grades = [c for nb in result.grades.values() for c in nb.values()]
    return {"job_s": wall, "seconds": result.seconds, "judge_s": result.judge_seconds, "status": result.status,
            "error": result.error, "accuracy": result.accuracy, "layout": layout_of(tree),
            "score": [sum(c["auto_score"] or 0 for c in grades), sum(c["max_score"] or 0 for c in grades)]}
