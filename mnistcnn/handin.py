"""The hand-in: the student's notebooks in one zip file that the grader maps back to the student.

    python -m mnistcnn.handin --student ID      # (the kit's `python course.py handin --student ID`)

It writes ``convnet-<ID>.zip`` holding ``<ID>/convnet/01_data.ipynb`` ... , the layout the
grader's intake reads (alone, or inside a Canvas or Moodle download, where the LMS's name of the
student wins). A notebook the grader would grade as missing is refused, with the reason: not
found, empty, damaged, not a notebook, an old notebook format, its nbgrader metadata cleared
(the same checks as the grader's, :mod:`mnistcnn.screening`), or every answer still as handed out
(never saved). Nothing is run.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from mnistcnn import i18n, screening
from mnistcnn.constants import ASSIGNMENT
from mnistcnn.i18n import _

#: Student ids as the grader's intake keeps them: lower-case letters and digits, single underscores.
STUDENT_ID = re.compile(r"[a-z0-9]+(?:_[a-z0-9]+)*")


@dataclass
class Checked:
    """One notebook as it would be handed in: its bytes, or the reason it is refused."""

    name: str
    data: bytes = b""
    refused: str = ""
    notes: list[str] = field(default_factory=list)


def check_notebook(path: Path, original: Path) -> Checked:
    """Would the grader grade ``path`` (the student's copy of the released notebook ``original``)?"""
    name = original.name
    if not path.is_file():
        return Checked(name, refused=_("{name} not found in {folder} (deleted or renamed?); graded as missing. "
                                       "A blank copy is in {originals}").format(
                                           name=name, folder=path.parent, originals=original.parent))
    data = path.read_bytes()
    released = screening.released_cells(original)
    verdict = screening.screen_file(data, name, released)
    if not verdict.usable:
        return Checked(name, refused=verdict.notes[0])
    if screening.unanswered(verdict.notebook, released):
        return Checked(name, refused=_("{name}: every answer cell is as handed out, so nothing of your work "
                                       "is saved in it (it would get no points). Save it in JupyterLab "
                                       "(File > Save Notebook) and hand in again").format(name=name))
    return Checked(name, data=data, notes=verdict.notes)


def check_all(course: Path) -> list[Checked]:
    """Every notebook of the assignment in the kit folder ``course`` (blank copies in originals/)."""
    originals = sorted((course / "originals" / ASSIGNMENT).glob("*.ipynb"))
    if not originals:
        raise FileNotFoundError(_("no notebooks in {folder}: is {course} the course kit?").format(
            folder=course / "originals" / ASSIGNMENT, course=course))
    return [check_notebook(course / ASSIGNMENT / o.name, o) for o in originals]


def zip_name(student: str) -> str:
    return f"{ASSIGNMENT}-{student}.zip"


def write_zip(checked: list[Checked], student: str, dest: Path) -> Path:
    """``dest/convnet-<student>.zip`` with ``<student>/convnet/<notebook>`` for every accepted notebook."""
    target = Path(dest) / zip_name(student)
    stamp = time.localtime()[:6]
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for nb in checked:
            if not nb.refused:
                zf.writestr(zipfile.ZipInfo(f"{student}/{ASSIGNMENT}/{nb.name}", stamp), nb.data,
                            zipfile.ZIP_DEFLATED)
    return target


def report(checked: list[Checked]) -> None:
    for nb in checked:
        print(_("  REFUSED  {reason}").format(reason=nb.refused) if nb.refused
              else _("  ok       {name}").format(name=nb.name))
        for note in nb.notes:
            print(_("           note: {note}").format(note=note))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.language:
        i18n.set_language(args.language)
    if not STUDENT_ID.fullmatch(args.student):
        print(_("handin: {student} is not a student id the grader keeps as it is: use lower-case letters and "
                "digits, with single '_' between them (e.g. jane_doe)").format(student=repr(args.student)),
              file=sys.stderr)
        return 2
    checked = check_all(args.course.resolve())
    report(checked)
    return finish(checked, args.student, (args.out or args.course).resolve(), args.skip_refused)


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="handin", description=_("Zip your notebooks for handing in."))
    ap.add_argument("--student", required=True, help=_("your student id (lower-case letters, digits, '_')"))
    ap.add_argument("--course", type=Path, default=Path.cwd(), help=_("the course kit's folder (default: here)"))
    ap.add_argument("--out", type=Path, help=_("where to write the zip (default: the course kit's folder)"))
    ap.add_argument("--skip-refused", action="store_true",
                    help=_("hand in the other notebooks anyway (the refused ones count as missing)"))
    ap.add_argument("--language", choices=list(i18n.LANGUAGES),
                    help=_("the language of the messages (default: ${env}, else English)").format(env=i18n.ENV))
    return ap


def finish(checked: list[Checked], student: str, dest: Path, skip_refused: bool) -> int:
    """Write the zip unless a notebook is refused (or all are); say what to upload."""
    target = dest / zip_name(student)
    accepted = [nb for nb in checked if not nb.refused]
    if not accepted or (len(accepted) < len(checked) and not skip_refused):
        if target.exists():
            target.unlink()
            print(_("The older {file} was removed, so that it is not handed in by mistake.").format(
                file=target.name))
        print(_("Nothing was written: fix the refused notebooks and run the hand-in again.") if not accepted
              else _("Nothing was written: fix the refused notebooks and run the hand-in again, or add "
                     "--skip-refused to hand in the others without them."))
        return 1
    write_zip(checked, student, dest)
    print("\n" + _("Wrote {file} ({accepted} of {total} notebooks).").format(
        file=target, accepted=len(accepted), total=len(checked)))
    print(_("Upload this one file, as it is (not unpacked, not renamed), to the assignment '{assignment}' "
            "on your course's page (Canvas, Moodle, or where your instructor says).").format(assignment=ASSIGNMENT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
