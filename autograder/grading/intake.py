"""Intake: from a folder of submissions or an LMS download archive to nbgrader's course layout.

Recognised layouts (file names are matched case-insensitively; a resubmission suffix such as
Canvas's ``-1`` in ``01_data-1.ipynb`` is ignored):

* one folder per student: ``<student>/01_data.ipynb`` (nbgrader's own layout, also below an
  assignment folder: ``<student>/convnet/01_data.ipynb``);
* Canvas: ``<login>[_late]_<userid>_<submissionid>_<file>``, e.g. ``doejane_1234_5678_01_data.ipynb``;
* Moodle: ``<Full Name>_<userid>_assignsubmission_file_<file>``, as a flat file or as a folder
  holding the student's files.
* a zip of a student's notebooks, such as the one the students' kit writes (``convnet-<id>.zip``
  holding ``<id>/convnet/01_data.ipynb`` ...), alone or as the ``<file>`` of a Canvas or Moodle
  download: the LMS's (or the folder's) student wins over the ``<id>`` inside.

A ``.zip`` archive is unpacked safely first: entries with absolute paths or ``..``, links, and
files over the size limit are refused and reported. Nothing is ever written into the source.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import stat
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_ARCHIVE_FILES = 10_000

# Canvas: the sortable name without its non-word characters, lower case (letters beyond ASCII kept), an
# upper-case LATE when Canvas found it late, the user id, the file's id (lib/content_zipper.rb, get_filename).
CANVAS = re.compile(r"^(?P<student>[^\W_]+)(?P<late>_late)?_(?P<uid>\d+)_(?P<sid>\d+)_(?P<file>.+)$", re.I)
MOODLE = re.compile(r"^(?P<name>.+?)_(?P<uid>\d+)_assignsubmission_(?:file|onlinetext)_(?P<file>.*)$", re.I)


@dataclass
class LmsIdentity:
    """A student as the LMS download names them: what its grade imports identify them by."""

    lms: str  # "canvas" or "moodle"
    name: str  # Canvas: the name in the file name (sortable name, lower case); Moodle: the full name
    uid: str  # Canvas: the user id; Moodle: the participant number of the assignment
    late: bool = False  # Canvas marked the file LATE


@dataclass
class Intake:
    """What was found: notebooks per student, and what could not be used (with the reason)."""

    submissions: dict[str, dict[str, Path]] = field(default_factory=dict)
    unmapped: list[tuple[str, str]] = field(default_factory=list)
    students_of: dict[str, str] = field(default_factory=dict)  # file (as printed) -> student
    identities: dict[str, LmsIdentity] = field(default_factory=dict)  # student -> LMS identity
    root: Path | None = None  # the folder the files were found in (the unpacked archive's)
    archive: Path | None = None  # the .zip they came from, if any
    carriers: dict[Path, Path] = field(default_factory=dict)  # a notebook unpacked from a hand-in zip -> that zip

    def add(self, student: str, notebook: str, path: Path, origin: str) -> None:
        current = self.submissions.setdefault(student, {})
        if notebook in current:
            # Keep the newest file (LMS resubmissions), report the other.
            older, newer = sorted([current[notebook], path], key=lambda p: (p.stat().st_mtime, str(p)))
            current[notebook] = newer
            self.unmapped.append((str(older), f"another file for {student}/{notebook} was used"))
        else:
            current[notebook] = path


def printable(path) -> str:
    """A file name as text that can always be printed and stored (undecodable bytes shown as \\xNN)."""
    import os

    return os.fsencode(str(path)).decode("utf-8", "backslashreplace")


def slug(name: str) -> str:
    """A student id nbgrader accepts: lower-case ASCII letters, digits, '_' and '-'."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    text = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    return text[:64] or "student"


def notebook_name(filename: str, notebooks: list[str]) -> str | None:
    """The assignment notebook that ``filename`` is (None if none)."""
    stem = Path(filename).name
    if not stem.lower().endswith(".ipynb"):
        return None
    stem = re.sub(r"(-\d+)?\.ipynb$", "", stem, flags=re.I)
    for nb in notebooks:
        if stem.lower() == nb.lower():
            return nb
    return None


def safe_extract(archive: Path, dest: Path) -> list[tuple[str, str]]:
    """Unpack ``archive`` into ``dest``, refusing dangerous entries; returns the refusals."""
    refused = []
    dest = dest.resolve()
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        if len(infos) > MAX_ARCHIVE_FILES:
            raise ValueError(f"{archive.name}: {len(infos)} entries, more than {MAX_ARCHIVE_FILES}")
        for info in infos:
            name = info.filename
            mode = info.external_attr >> 16
            target = (dest / name).resolve()
            if name.startswith("/") or ".." in Path(name).parts or not str(target).startswith(str(dest)):
                refused.append((name, "path outside the archive folder refused"))
            elif stat.S_ISLNK(mode):
                refused.append((name, "symbolic link refused"))
            elif info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
            elif info.file_size > MAX_FILE_BYTES:
                refused.append((name, f"file of {info.file_size:,} bytes refused (limit {MAX_FILE_BYTES:,})"))
            else:
                try:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(info) as src, open(target, "wb") as out:
                        shutil.copyfileobj(src, out, 1 << 20)
                except (OSError, zipfile.BadZipFile) as exc:  # a name too long for this disk, a damaged entry
                    try:
                        target.unlink(missing_ok=True)
                    except OSError:
                        pass
                    refused.append((name, f"could not be unpacked ({exc.strerror or exc})"
                                    if isinstance(exc, OSError) else f"damaged entry ({exc})"))
    return refused


def collect(source: Path, notebooks: list[str], workdir: Path) -> Intake:
    """Find every student's notebooks in a folder or a ``.zip`` archive."""
    source = Path(source)
    intake = Intake()
    if source.is_file() and zipfile.is_zipfile(source):
        unpacked = workdir / "unpacked"
        if unpacked.exists():
            shutil.rmtree(unpacked)
        unpacked.mkdir(parents=True)
        intake.unmapped += safe_extract(source, unpacked)
        root, intake.archive = unpacked, source
    elif source.is_dir():
        root = source
    else:
        raise FileNotFoundError(f"{source}: neither a folder nor a .zip archive")
    intake.root = root

    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            rel = path.relative_to(root)
            if len(rel.parts) >= 2:
                intake.submissions.setdefault(slug(rel.parts[0]), {})
                intake.students_of[printable(rel)] = slug(rel.parts[0])
            intake.unmapped.append((printable(rel), "symbolic link ignored"))
            continue
        if not path.is_file() or any(part.startswith(".") for part in path.relative_to(root).parts):
            continue
        rel = path.relative_to(root)
        nb = notebook_name(path.name, notebooks)
        student = None
        if m := CANVAS.match(path.name):
            student, nb = slug(m["student"]), notebook_name(m["file"], notebooks)
            _identify(intake, student, LmsIdentity("canvas", m["student"], m["uid"], bool(m["late"])))
        elif m := MOODLE.match(path.name):
            student, nb = slug(m["name"]), notebook_name(m["file"], notebooks)
            _identify(intake, student, LmsIdentity("moodle", m["name"], m["uid"]))
        elif len(rel.parts) >= 2:
            top = rel.parts[0]
            student = slug(m["name"]) if (m := MOODLE.match(top + "x")) else slug(top)
            if m:
                _identify(intake, student, LmsIdentity("moodle", m["name"], m["uid"]))
        if student:  # a student who handed in nothing usable is still graded (0, with the reasons)
            intake.submissions.setdefault(student, {})
            intake.students_of[printable(rel)] = student
        if path.stat().st_size > MAX_FILE_BYTES:
            intake.unmapped.append((printable(rel), f"larger than {MAX_FILE_BYTES:,} bytes"))
        elif path.suffix.lower() == ".zip" and zipfile.is_zipfile(path):
            add_handin_zip(intake, path, printable(rel), student, workdir, notebooks)
        elif student and nb:
            intake.add(student, nb, path, printable(rel))
        elif student and path.name == "timestamp.txt":
            pass  # nbgrader's submission time, read by autograder.grading.timestamps
        elif student:
            intake.unmapped.append((printable(rel), f"not a notebook of the assignment ({', '.join(notebooks)})"))
        else:
            intake.unmapped.append((printable(rel), "no student recognised in the file name or folder"))
    return intake


def _identify(intake: Intake, student: str, identity: LmsIdentity) -> None:
    """Keep the LMS identity of a student (a file Canvas marked LATE marks the student late)."""
    known = intake.identities.get(student)
    if known is not None and known.lms == identity.lms and known.uid == identity.uid:
        known.late = known.late or identity.late
    elif known is None:
        intake.identities[student] = identity
    else:  # two LMS people with one name: the grade imports would mix them up
        intake.unmapped.append((student, f"two LMS identities for one student name: {known.uid} and {identity.uid}"))


def add_handin_zip(intake: Intake, path: Path, origin: str, student: str | None, workdir: Path,
                   notebooks: list[str]) -> None:
    """A zip inside the source, such as the students' hand-in (``<id>/convnet/01_data.ipynb`` ...):
    its notebooks go to the student the LMS file name or folder names, else to the ``<id>`` inside."""
    dest = Path(workdir) / "zips" / hashlib.sha256(origin.encode()).hexdigest()[:16]
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    try:
        intake.unmapped += [(f"{origin}/{name}", why) for name, why in safe_extract(path, dest)]
    except (ValueError, zipfile.BadZipFile) as exc:
        intake.unmapped.append((origin, f"archive not unpacked ({exc})"))
        return
    for inner in sorted(p for p in dest.rglob("*") if p.is_file()):
        rel = inner.relative_to(dest)
        if any(part.startswith(".") for part in rel.parts):
            continue
        owner = student or (slug(rel.parts[0]) if len(rel.parts) >= 2 else None)
        where, nb = f"{origin}/{printable(rel.as_posix())}", notebook_name(inner.name, notebooks)
        if owner:
            intake.submissions.setdefault(owner, {})
            intake.students_of[where] = owner
        if owner and nb:
            intake.add(owner, nb, inner, where)
            intake.carriers[inner] = path
        else:
            intake.unmapped.append((where, f"not a notebook of the assignment ({', '.join(notebooks)})" if owner
                                    else "no student recognised in the archive's folder"))


def sha256_files(paths: dict[str, Path]) -> str:
    digest = hashlib.sha256()
    for name in sorted(paths):
        digest.update(name.encode())
        digest.update(Path(paths[name]).read_bytes())
    return digest.hexdigest()
