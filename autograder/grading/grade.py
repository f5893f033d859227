"""mnistcnn-grade: grade a whole class with nbgrader, several submissions at a time.

    make grade                              # the example class (tests/fixtures/submissions/)
    mnistcnn-grade submissions.zip          # an LMS download (Canvas, Moodle) or a folder
    mnistcnn-grade FOLDER --workers 4 --scheduler tcp://host:8786 --db postgresql://...

Steps: collect the notebooks into nbgrader's layout; autograde each submission as a separate job
on a Dask cluster (a local one by default); write every job's result into the one gradebook from
this process only; feedback per student without the hidden tests; grades as CSV; a class report.

nbgrader cannot autograde in parallel against one gradebook, so each job grades in a private
course folder with a private copy of the gradebook and returns its results; this process is the
only writer of the course's gradebook. A result is stored (``results/<student>.json``) only after
its grades are in the gradebook: a run that dies loses nothing, and the next run grades only what
is missing (``--force`` grades everything again).
"""

from __future__ import annotations

import argparse
import sys
from datetime import timezone
from pathlib import Path

from autograder.course import release
from autograder.grading import late as late_mod
from autograder.grading import lms_export, timestamps
from autograder.grading.gradebook import Workspace
from autograder.grading.run import SandboxUnavailable, grade_class
from autograder.sandbox import launcher as sandbox
from mnistcnn import i18n
from mnistcnn.constants import CELL_TIMEOUT
from mnistcnn.data import MnistUnavailable


def _lms_arguments(ap: argparse.ArgumentParser) -> None:
    late = ap.add_argument_group("deadline and late penalty (applied by nbgrader, once per notebook)")
    late.add_argument("--deadline", help="e.g. 2026-12-15T23:59+01:00 (with its UTC offset, or Z)")
    late.add_argument("--late-penalty", help="share of the points per day or hour started late: 10%%/day, 2%%/hour")
    late.add_argument("--late-cap", help="the largest total penalty, e.g. 50%% (default 100%%)")
    late.add_argument("--grace", help="late by at most this counts as on time: 15m, 2h, 1d (default 0)")
    late.add_argument("--lms-timezone", help="zone of the times an LMS file gives without one (zip entries, "
                      "Moodle's worksheet): Europe/Berlin, +01:00 (default: the deadline's offset)")
    lms = ap.add_argument_group("LMS files (read, and written beside grades.csv)")
    lms.add_argument("--worksheet", help="Moodle's offline grading worksheet (CSV): submission times, emails; "
                     "written back filled in as moodle_worksheet.csv")
    lms.add_argument("--canvas-submissions", help="JSON of Canvas's Submissions API for the assignment: "
                     "submission times (Canvas's zip has none)")
    lms.add_argument("--lms-assignment", default="Convnets on MNIST",
                     help="the assignment's column in the LMS, e.g. 'Convnets (12345)' for Canvas")
    lms.add_argument("--lms-max-grade", type=float,
                     help="the LMS assignment's maximum grade (default: the worksheet's, else the course's points)")


def _lms_settings(args) -> tuple[late_mod.Policy | None, timestamps.TimeSources, lms_export.LmsOptions]:
    policy = late_mod.policy_from_args(args.deadline, args.late_penalty, args.late_cap, args.grace)
    zone = timestamps.zone_from_text(args.lms_timezone) if args.lms_timezone else \
        (policy.deadline.tzinfo if policy else timezone.utc)
    worksheet = Path(args.worksheet) if args.worksheet else None
    rows = lms_export.worksheet_by_participant(lms_export.read_worksheet(worksheet)[1]) if worksheet else {}
    canvas = timestamps.read_canvas_submissions(Path(args.canvas_submissions)) if args.canvas_submissions else {}
    return (policy, timestamps.TimeSources(zone, rows, canvas),
            lms_export.LmsOptions(args.lms_assignment, args.lms_max_grade, worksheet))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="mnistcnn-grade", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    ap.add_argument("source", help="a folder of submissions or an LMS .zip download (make grade: the example class)")
    ap.add_argument("--out", default=str(release.ROOT / "grading"), help="grading folder (default: grading/)")
    ap.add_argument("--db", help="gradebook as an SQLAlchemy URL (default: sqlite in the grading folder)")
    ap.add_argument("--workers", type=int, help="parallel jobs on the local cluster (default: cores / 2)")
    ap.add_argument("--threads", type=int, help="CPU threads per job (default: cores / workers)")
    ap.add_argument("--scheduler", help="address of an existing Dask scheduler (default: a local cluster)")
    ap.add_argument("--force", action="store_true", help="grade again what was already graded")
    ap.add_argument("--language", default=i18n.SOURCE_LANGUAGE, choices=list(i18n.LANGUAGES),
                    help="language of the class report (default: English); each student's feedback is in the "
                         "language of their notebooks")
    d = sandbox.Limits()
    ap.add_argument("--timeout", type=float, help="seconds per submission (default: from --wall-limit)")
    box = ap.add_argument_group("sandbox (bubblewrap) and limits, per notebook")
    box.add_argument("--unsandboxed", action="store_true",
                     help="run student code WITHOUT the sandbox (only where bubblewrap is missing; unsafe)")
    box.add_argument("--wall-limit", type=float, default=d.wall, help=f"seconds (default {d.wall:.0f})")
    box.add_argument("--cpu-limit", type=float, default=d.cpu, help=f"CPU seconds (default {d.cpu:.0f})")
    box.add_argument("--memory-limit", type=float, default=d.memory / sandbox.GiB,
                     help=f"GiB of memory (default {d.memory / sandbox.GiB:g})")
    box.add_argument("--disk-limit", type=float, default=d.disk / sandbox.MiB,
                     help=f"MiB written (default {d.disk / sandbox.MiB:g})")
    box.add_argument("--nproc-limit", type=int, default=d.nproc, help=f"processes and threads (default {d.nproc})")
    box.add_argument("--output-limit", type=float, default=d.output / sandbox.MiB,
                     help=f"MiB of output kept (default {d.output / sandbox.MiB:g})")
    box.add_argument("--cell-timeout", type=float,
                     help=f"seconds per cell (default: nbgrader_config.py, {CELL_TIMEOUT})")
    _lms_arguments(ap)
    args = ap.parse_args(argv)
    limits = sandbox.Limits(wall=args.wall_limit, cpu=args.cpu_limit, memory=int(args.memory_limit * sandbox.GiB),
                            disk=int(args.disk_limit * sandbox.MiB), nproc=args.nproc_limit,
                            output=int(args.output_limit * sandbox.MiB))
    if not Path(args.source).exists():
        print(f"mnistcnn-grade: {args.source}: no such folder or archive", file=sys.stderr)
        return 2
    try:
        policy, sources, lms = _lms_settings(args)
    except (ValueError, OSError) as exc:  # a deadline, penalty, time zone or LMS file that cannot be used
        print(f"mnistcnn-grade: {exc}", file=sys.stderr)
        return 2
    ws = Workspace(Path(args.out), args.db)
    try:
        summary = grade_class(Path(args.source), ws, workers=args.workers, threads=args.threads,
                              scheduler=args.scheduler, force=args.force, timeout=args.timeout,
                              limits=limits, unsandboxed=args.unsandboxed, cell_timeout=args.cell_timeout,
                              policy=policy, sources=sources, lms=lms, language=args.language)
    except (FileNotFoundError, ValueError, SandboxUnavailable, MnistUnavailable) as exc:  # source, sandbox, data
        print(f"mnistcnn-grade: {exc}", file=sys.stderr)
        return 2
    if summary["errors"]:
        print(f"\n{len(summary['errors'])} submission(s) could not be graded: "
              f"{', '.join(sorted(summary['errors']))} (see the report)", file=sys.stderr)
        return 1
    return 0
