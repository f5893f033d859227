"""A class run: collect and screen the submissions, grade them as jobs on a Dask cluster, write each result."""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import asdict
from datetime import timezone
from pathlib import Path

from autograder.course import release
from autograder.grading import intake as intake_mod
from autograder.grading import late as late_mod
from autograder.grading import lms_export, timestamps
from autograder.grading.export import export_grades, identities
from autograder.grading.gradebook import (
    Workspace,
    in_gradebook,
    prepare_gradebook,
    read_identities,
    write_atomic,
    write_result,
)
from autograder.grading.jobs import SandboxUnavailable, grade_one, mnist_file
from autograder.grading.language import _, submission_language
from autograder.grading.records import Job, JobResult
from autograder.sandbox import launcher as sandbox
from mnistcnn import i18n
from mnistcnn.constants import ACCURACY_THRESHOLD, ASSIGNMENT, NOTEBOOKS
from mnistcnn.screening import grade_id


def notebook_names() -> list[str]:
    return list(NOTEBOOKS)


class Progress:
    """A line for every finished job; on a terminal also rich's bar (elapsed, time left) under them,
    in a log file (``out`` not a terminal) the elapsed and left time at the end of each line instead."""

    def __init__(self, total: int, out=sys.stdout):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, TimeElapsedColumn, TimeRemainingColumn
        from rich.progress import Progress as Bar

        console = Console(file=out, highlight=False, markup=False, emoji=False, soft_wrap=True)
        self.bar = Bar(BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                       console=console, disable=not console.is_terminal)
        self.task = self.bar.add_task("grading", total=total)

    def __enter__(self):
        self.bar.start()
        return self

    def __exit__(self, *exc):
        self.bar.stop()

    def update(self, text: str) -> None:
        self.bar.advance(self.task)
        task = self.bar.tasks[0]
        line = f"{task.completed:.0f}/{task.total:.0f}  {text}"
        if self.bar.disable:
            left = f", about {task.time_remaining:.0f} s left" if task.time_remaining is not None else ""
            line += f"  (elapsed {task.elapsed:.0f} s{left})"
        self.bar.console.print(line)
        self.bar.console.file.flush()


def released_sources(lang: str = "en") -> dict[str, str]:
    """grade_id -> source of the graded and locked cells of the edition in ``lang``, all notebooks together."""
    return {gid: src for cells in released_by_notebook(lang).values() for gid, src in cells.items()}


def released_by_notebook(lang: str = "en") -> dict[str, dict[str, str]]:
    """notebook -> grade_id -> source of the graded and locked cells of the edition in ``lang``, as
    released: what the feedback shows (nbgrader's autograde puts the English source's locked cells back)."""
    import nbformat
    from nbgrader.utils import is_grade, is_locked

    from autograder.grading import screen

    out = {}
    for path in sorted(screen.edition_folder(lang).glob("*.ipynb")):
        out[path.stem] = {grade_id(cell): cell.source for cell in nbformat.read(path, as_version=4).cells
                          if grade_id(cell) and (is_grade(cell) or is_locked(cell))}
    return out


def default_workers() -> tuple[int, int]:
    cores = os.cpu_count() or 1
    workers = max(1, cores // 2)
    return workers, max(1, cores // workers)


def sandbox_setting(limits: sandbox.Limits | None, unsandboxed: bool, local: bool = True) -> dict | None:
    """The sandbox every job uses, or None when the instructor allowed grading without one.

    Only the limits: each worker checks its own bubblewrap and finds its own MNIST file. For a local
    cluster both are checked here first (MNIST fetched once); remote workers check when they grade."""
    if unsandboxed:
        return None
    why = sandbox.unavailable_reason() if local else None
    if why:
        raise SandboxUnavailable(
            f"{why}.\nStudent code would run with your permissions, next to the gradebook. Install "
            "bubblewrap, or pass --unsandboxed to grade without the sandbox (the report will say so).")
    if local:
        mnist_file()
    return {"limits": asdict(limits or sandbox.Limits())}


def screen_submission(student: str, files: dict[str, Path], released: dict, languages: dict | None = None,
                      editions: dict | None = None) -> tuple[dict, list[dict]]:
    """Screen each notebook (:mod:`autograder.grading.screen`) against the release of its language
    (``languages``: notebook -> language; ``editions``: language -> ``released`` of that edition), its
    notes in that language: the usable ones, and the notes."""
    usable, notes = {}, []
    for nb, path in sorted(files.items()):
        lang = (languages or {}).get(nb, i18n.SOURCE_LANGUAGE)
        with i18n.using(lang):
            ok, lines, data = _screen_one(nb, Path(path), (editions or {}).get(lang, released).get(nb, {}))
        notes += [{"notebook": nb, "cell": None, "kind": "screen" if ok else "unusable", "text": t} for t in lines]
        if ok:
            usable[nb] = data
    return usable, notes


def _screen_one(nb: str, path: Path, cells: dict) -> tuple[bool, list[str], bytes]:
    from autograder.grading import screen

    size = path.stat().st_size
    if size > screen.MAX_NOTEBOOK_BYTES:  # not even read into memory
        return False, [_("{name} is {size:.1f} MB, over the limit of {limit:.0f} MB: graded as missing").format(
            name=f"{nb}.ipynb", size=size / 2**20, limit=screen.MAX_NOTEBOOK_BYTES / 2**20)], b""
    return screen.screen(path.read_bytes(), f"{nb}.ipynb", cells)


def _missing_notes(names: list[str], files: dict, lang: str) -> list[dict]:
    with i18n.using(lang):
        return [{"notebook": n, "cell": None, "kind": "missing",
                 "text": _("{name} was not handed in: 0 points for its tests").format(name=f"{n}.ipynb")}
                for n in names if n not in files]


def grade_class(source: Path, ws: Workspace, *, workers: int | None = None, threads: int | None = None,
                scheduler: str | None = None, force: bool = False, timeout: float | None = None,
                threshold: float = ACCURACY_THRESHOLD, marker_dir: Path | None = None, out=sys.stdout,
                limits: sandbox.Limits | None = None, unsandboxed: bool = False,
                cell_timeout: float | None = None, policy: late_mod.Policy | None = None,
                sources: timestamps.TimeSources | None = None, lms: lms_export.LmsOptions | None = None,
                language: str = i18n.SOURCE_LANGUAGE) -> dict:
    """Collect, grade (in parallel), write. Returns a summary (students, skipped, unmapped, errors).
    ``language``: the class report's (each student's feedback is in the language of their notebooks)."""
    from autograder.grading import screen

    release.use_tool_path()  # nbgrader's Gradebook runs `alembic` from PATH when it creates one
    threshold = threshold or ACCURACY_THRESHOLD
    d_workers, d_threads = default_workers()
    workers, threads = workers or d_workers, threads or d_threads
    names = notebook_names()
    box = sandbox_setting(limits, unsandboxed, local=not scheduler)
    if box is None:
        print("WARNING: grading WITHOUT the sandbox (--unsandboxed): student code runs with your permissions.",
              file=out, flush=True)
    else:
        print(f"Sandbox: bubblewrap; per notebook: {sandbox.Limits(**box['limits']).describe()}", file=out)
    wall = (limits or sandbox.Limits()).wall
    timeout = timeout or len(names) * (wall + 120) + 600
    released_by_lang = {lang: {p.stem: screen.released_cells(p) for p in sorted(folder.glob("*.ipynb"))}
                        for lang, folder in screen.editions().items()}

    print(f"Collecting submissions from {source} ...", file=out, flush=True)
    found = intake_mod.collect(Path(source), names, ws.path)
    for path, why in found.unmapped:
        print(f"  not used: {path}: {why}", file=out)
    times = _submission_times(found, ws, policy, sources, out)
    specs, skipped = [], []
    for student, files in sorted(found.submissions.items()):
        dest = ws.path / "submitted" / student / ASSIGNMENT
        dest.mkdir(parents=True, exist_ok=True)
        for nb, path in files.items():
            shutil.copyfile(path, dest / f"{nb}.ipynb")  # a copy: the original is never touched
        when = times[student]
        _write_timestamp(dest, when)
        late_key = json.dumps([policy.to_dict(), when.nbgrader_text()]) if policy else None
        sha = intake_mod.sha256_files(files)
        previous = ws.load_result(student)
        if not force and previous and previous.get("input_sha") == sha and previous.get("status") == "ok" \
                and previous.get("late_key") == late_key and in_gradebook(ws, student):
            skipped.append(student)
            continue
        languages = {nb: screen.file_language(path) for nb, path in files.items()}
        usable, notes = screen_submission(student, files, released_by_lang[i18n.SOURCE_LANGUAGE], languages,
                                          released_by_lang)
        notes += [{"notebook": None, "cell": None, "kind": "unusable", "text": f"{path}: {why}"}
                  for path, why in found.unmapped if found.students_of.get(path) == student]
        missing = [n for n in names if n not in usable]
        notes += _missing_notes(names, files, submission_language(languages))
        specs.append({"student": student, "input_sha": sha, "files": usable, "missing": missing,
                      "languages": languages,
                      "incidents": notes, "timestamp": when.nbgrader_text(), "submitted": _time_dict(when),
                      "late": policy.to_dict() if policy else None,
                      "late_key": late_key})  # completed into Jobs below, once the shared parts are made
    print(f"  {len(found.submissions)} students; {len(skipped)} already graded (use --force to regrade); "
          f"{len(specs)} to grade", file=out, flush=True)
    summary = {"students": sorted(found.submissions), "skipped": skipped, "unmapped": found.unmapped,
               "errors": {}}
    write_atomic(ws.path / "run.json", json.dumps({
        "source": str(source), "unmapped": found.unmapped, "sandbox": "bubblewrap" if box else "none",
        "limits": box["limits"] if box else None, "threshold": threshold,
        "late_policy": policy.describe() if policy else None}, indent=1).encode())
    late_mod.set_duedate(ws.db_url, ASSIGNMENT, policy)
    late_mod.save_policy(ws.path, policy)
    if specs:
        template = prepare_gradebook(ws)
        solutions = {p.name: p.read_bytes() for p in sorted(release.SOLUTIONS.glob("*.ipynb"))}
        released = {lang: released_by_notebook(lang) for lang in {i18n.SOURCE_LANGUAGE}.union(
            *(spec["languages"].values() for spec in specs))}
        jobs = [Job(**spec, solutions=solutions, released=released, template_db=template, threads=threads,
                    timeout=timeout, threshold=threshold, sandbox=box, cell_timeout=cell_timeout,
                    started_marker=str(marker_dir / spec["student"]) if marker_dir else None) for spec in specs]
        _run_jobs(jobs, ws, workers, threads, scheduler, out, summary)
    finish(ws, out, lms, language)
    return summary


def _submission_times(found, ws: Workspace, policy, sources, out) -> dict:
    """Each student's submission time (printed with its source when there is a deadline), and the
    students' LMS identities kept for the grade imports (``lms_identities.json``)."""
    zone = policy.deadline.tzinfo if policy else timezone.utc
    times = timestamps.submission_times(found, sources or timestamps.TimeSources(zone))
    known = read_identities(ws)
    known.update({s: asdict(i) for s, i in found.identities.items()})
    write_atomic(ws.path / "lms_identities.json", json.dumps(known, indent=1, sort_keys=True).encode())
    if policy:
        print(f"Late policy: {policy.describe()}", file=out)
        for student, when in sorted(times.items()):
            stamp = when.timestamp.isoformat(timespec="minutes") if when.timestamp else "unknown"
            print(f"  {student}: handed in {stamp} ({when.source}{'; ' + when.note if when.note else ''})", file=out)
    return times


def _time_dict(when: late_mod.SubmissionTime) -> dict:
    return {"timestamp": when.timestamp.isoformat() if when.timestamp else None, "source": when.source,
            "note": when.note}


def _write_timestamp(dest: Path, when: late_mod.SubmissionTime) -> None:
    """nbgrader's timestamp.txt in the submission's folder (nbgrader's own commands read it too)."""
    stamp = dest / "timestamp.txt"
    if when.timestamp is None:
        stamp.unlink(missing_ok=True)
    else:
        stamp.write_text(when.nbgrader_text())


def _run_jobs(jobs: list[Job], ws, workers, threads, scheduler, out, summary) -> None:
    import logging

    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler:
        client = Client(scheduler)
        where = f"the Dask cluster at {scheduler}"
    else:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.ERROR)
        client = Client(cluster)
        where = f"a local Dask cluster of {workers} worker(s)"
    print(f"Grading {len(jobs)} submission(s) on {where}, {threads} CPU thread(s) per job ...", file=out, flush=True)
    try:
        futures = {client.submit(grade_one, job, key=job.key, pure=False): job for job in jobs}
        with Progress(len(jobs), out) as progress:
            for future in as_completed(list(futures)):
                job = futures[future]
                try:
                    result = future.result()
                except Exception as exc:  # the job itself died (e.g. its worker was lost too often)
                    result = JobResult(job.student, job.input_sha, error=f"{type(exc).__name__}: {exc}")
                result = write_result(ws, result)
                if result["status"] != "ok":
                    summary["errors"][result["student"]] = result["error"]
                progress.update(job_line(result))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def job_line(result: dict) -> str:
    """A finished job in a line: the student, the score (accuracy, late penalty) and the seconds."""
    if result["status"] != "ok":
        return f"{result['student']}: NOT GRADED: {result['error']}"
    text = f"{result['student']}: {result['score']:g}/{result['max_score']:g}"
    if result.get("accuracy") is not None:
        text += f", test accuracy {result['accuracy']:.2%}"
    if (result.get("late") or {}).get("penalty"):
        text += f", late penalty -{result['late']['penalty']:g}"
    return text + f" ({result['seconds']:.0f} s)"


def finish(ws: Workspace, out=sys.stdout, lms: lms_export.LmsOptions | None = None,
           language: str = i18n.SOURCE_LANGUAGE) -> None:
    """Grades CSV, the LMS imports and the class report (in ``language``) from the gradebook and the stored
    results."""
    from autograder.grading import report

    csv_path = export_grades(ws)
    written, notes = lms_export.write_all(ws, identities(ws), lms or lms_export.LmsOptions())
    html = report.write_report(ws, i18n.check_language(language))
    print(f"\nResults in {ws.path}:", file=out)
    print(f"  feedback per student: {ws.path / 'feedback'}/<student>/{ASSIGNMENT}/*.html", file=out)
    print(f"  grades:               {csv_path}", file=out)
    for path in written:
        print(f"  LMS import:           {path}", file=out)
    for note in notes:
        print(f"  ({note})", file=out)
    print(f"  class report:         {html}", file=out)
    print(f"  gradebook:            {ws.db_url}", file=out, flush=True)
