"""When each submission was handed in, from what the LMS download or the folder tells.

Sources, per student, in this order (the first that gives a time is used; its name is recorded and
shown with the lateness):

* Moodle, with ``--worksheet``: the offline grading worksheet's "Last modified (submission)"
  (the time Moodle recorded the submission; the worksheet writes it in the instructor's time zone
  without naming it, so it is read in ``--lms-timezone``).
* Canvas, with ``--canvas-submissions``: ``submitted_at`` of Canvas's Submissions API (the JSON list
  of ``GET /api/v1/courses/<course>/assignments/<assignment>/submissions``), matched by user id.
* Canvas, without it: no time. Canvas builds its bulk download when it is asked for and dates every
  entry then (``lib/content_zipper.rb`` adds each file with ``get_output_stream`` and no time), so
  those dates say nothing about the submission. The file name's LATE mark is reported, no penalty
  is computed.
* Any other ``.zip`` (Moodle's download, a zipped folder): the newest of the student's notebooks'
  entry times: the zip's extended timestamp (UTC) where the entry has one, otherwise its DOS time,
  which names no zone and is read in ``--lms-timezone``. Moodle's zip writer dates an entry as the
  file on the server is dated, which is not always when it was handed in: the worksheet's time is the
  exact one, and the source is printed and shown with every lateness.
* A folder: nbgrader's ``timestamp.txt`` in the student's folder (or its ``convnet/``), otherwise the
  newest modification time of the student's notebooks.
"""

from __future__ import annotations

import json
import struct
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone, tzinfo
from pathlib import Path

from autograder.grading.intake import Intake
from autograder.grading.late import SubmissionTime, parse_iso
from mnistcnn.i18n import N_  # the sources' names, told in the lateness note's language (late.LateRecord.text)

EXTENDED_TIMESTAMP = 0x5455  # the "UT" extra field of Info-ZIP: modification time in UTC


@dataclass
class TimeSources:
    """What the instructor passed besides the download."""

    zone: tzinfo  # for the times that name no zone
    worksheet: dict[str, dict[str, str]] = field(default_factory=dict)  # Moodle participant number -> row
    canvas: dict[str, str] = field(default_factory=dict)  # Canvas user id -> submitted_at (ISO 8601)


def zone_from_text(text: str) -> tzinfo:
    """``Europe/Berlin``, ``UTC`` or ``+01:00`` as a time zone."""
    import re

    from dateutil import tz

    if m := re.fullmatch(r"([+-])(\d{2}):?(\d{2})", text.strip()):
        sign = 1 if m[1] == "+" else -1
        return tz.tzoffset(text, sign * (int(m[2]) * 3600 + int(m[3]) * 60))
    zone = tz.gettz(text.strip())
    if zone is None:
        raise ValueError(f"--lms-timezone {text!r}: not a time zone (e.g. Europe/Berlin, UTC, +01:00)")
    return zone


def read_canvas_submissions(path: Path) -> dict[str, str]:
    """Canvas user id -> ``submitted_at``, from the JSON list of Canvas's Submissions API."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"--canvas-submissions {path}: not a JSON file ({exc})") from None
    if not isinstance(data, list):
        raise ValueError(f"--canvas-submissions {path}: expected the JSON list Canvas's Submissions API returns")
    return {str(s["user_id"]): s["submitted_at"] for s in data
            if isinstance(s, dict) and s.get("user_id") is not None and s.get("submitted_at")}


def submission_times(found: Intake, sources: TimeSources) -> dict[str, SubmissionTime]:
    """Every student's submission time, with its source."""
    entries = _zip_entries(found.archive) if found.archive else {}
    return {student: _time_of(student, files, found, sources, entries)
            for student, files in sorted(found.submissions.items())}


def _time_of(student: str, files: dict[str, Path], found: Intake, sources: TimeSources,
             entries: dict[str, zipfile.ZipInfo]) -> SubmissionTime:
    ident = found.identities.get(student)
    if ident and ident.lms == "moodle" and ident.uid in sources.worksheet:
        when = _worksheet_time(sources.worksheet[ident.uid], sources.zone)
        if when:
            return when
    if ident and ident.lms == "canvas":
        return _canvas_time(ident, sources)
    if not files:
        return SubmissionTime(None, "none", "no notebook was handed in")
    # A notebook that came in a student's hand-in zip is dated as that zip is (it was handed in then).
    files = {nb: found.carriers.get(Path(path), Path(path)) for nb, path in files.items()}
    if found.archive:
        return _archive_time(files, found.root, entries, sources.zone)
    return _folder_time(files, found.root)


def _worksheet_time(row: dict[str, str], zone: tzinfo) -> SubmissionTime | None:
    from dateutil import parser

    text = (row.get("Last modified (submission)") or "").strip()
    if not text or text == "-":
        return None
    try:
        when = parser.parse(text)
    except (ValueError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=zone)
    return SubmissionTime(when, N_("Moodle worksheet, Last modified (submission)"),
                          f"read in {_zone_name(zone, when)} (--lms-timezone)")


def _canvas_time(ident, sources: TimeSources) -> SubmissionTime:
    text = sources.canvas.get(ident.uid)
    try:
        when = parse_iso(text) if text else None
    except ValueError:
        return SubmissionTime(None, "none", f"--canvas-submissions gives {text!r}, not a time")
    if when is not None and when.tzinfo is not None:
        return SubmissionTime(when, N_("Canvas submissions, submitted_at"))
    mark = "Canvas marked it LATE" if ident.late else "Canvas did not mark it late"
    why = "no --canvas-submissions given" if not sources.canvas else "not in --canvas-submissions"
    return SubmissionTime(None, "none", f"Canvas's download is dated when it was built, not when students "
                          f"handed in; {why}; {mark}")


def _archive_time(files: dict[str, Path], root: Path | None, entries: dict[str, zipfile.ZipInfo],
                  zone: tzinfo) -> SubmissionTime:
    times = []
    for path in files.values():
        info = entries.get(Path(path).relative_to(root).as_posix()) if root else None
        when = _entry_time(info, zone) if info is not None else None
        if when is not None:
            times.append(when)
    if not times:
        return SubmissionTime(None, "none", "the archive gives no valid time for these files")
    when, utc = max(times, key=lambda t: t[0])
    if utc:
        return SubmissionTime(when, N_("zip entry time (UTC)"))
    return SubmissionTime(when, N_("zip entry time"), f"the zip names no time zone: read in {_zone_name(zone, when)} "
                          "(--lms-timezone)")


def _folder_time(files: dict[str, Path], root: Path | None) -> SubmissionTime:
    from nbgrader.utils import parse_utc

    folders = {Path(p).parent for p in files.values()}
    for folder in sorted(folders | {f.parent for f in folders if root and f.parent != root}):
        stamp = folder / "timestamp.txt"
        if stamp.is_file():
            try:
                when = parse_utc(stamp.read_text().strip())
            except (ValueError, OverflowError):
                continue
            return SubmissionTime(when.replace(tzinfo=timezone.utc), "timestamp.txt")
    newest = max(Path(p).stat().st_mtime for p in files.values())
    return SubmissionTime(datetime.fromtimestamp(newest, timezone.utc), N_("file modification time"),
                          "no timestamp.txt: the newest notebook's modification time")


def _zip_entries(archive: Path) -> dict[str, zipfile.ZipInfo]:
    with zipfile.ZipFile(archive) as zf:
        return {Path(info.filename).as_posix(): info for info in zf.infolist() if not info.is_dir()}


def _entry_time(info: zipfile.ZipInfo, zone: tzinfo) -> tuple[datetime, bool] | None:
    """The entry's modification time, and whether it came with its zone (the UT extra field); None
    when the archive's date is no date (a zero DOS date, for example)."""
    extra, i = info.extra, 0
    while i + 4 <= len(extra):
        kind, size = struct.unpack("<HH", extra[i:i + 4])
        data = extra[i + 4:i + 4 + size]
        if kind == EXTENDED_TIMESTAMP and len(data) >= 5 and data[0] & 1:
            return datetime.fromtimestamp(struct.unpack("<I", data[1:5])[0], timezone.utc), True
        i += 4 + size
    try:
        return datetime(*info.date_time, tzinfo=zone), False
    except ValueError:
        return None


def _zone_name(zone: tzinfo, when: datetime) -> str:
    offset = when.utcoffset() or zone.utcoffset(when.replace(tzinfo=None))
    name = zone.tzname(when.replace(tzinfo=None)) or ""
    hours = offset.total_seconds() / 3600 if offset is not None else 0
    return f"{name} (UTC{hours:+g})".strip()
