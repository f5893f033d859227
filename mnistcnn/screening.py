"""Would a notebook be graded, and what was changed? The checks on a notebook file's bytes.

One home for both sides: the grader screens every submitted notebook with them before any of it
runs (``autograder/screen.py``), and the students' hand-in (``mnistcnn/handin.py``) refuses a
notebook the grader would grade as missing, with the same reason. Nothing of the notebook is run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from mnistcnn.i18n import _

MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024


@dataclass
class Screening:
    """The verdict on one file: usable (graded) or not (graded as missing), the notes, the notebook."""

    usable: bool
    notes: list[str] = field(default_factory=list)
    notebook: Any = None  # the nbformat notebook when usable


def released_cells(path) -> dict:
    """grade_id -> (cell_type, source, is_test, position) of a released (student-version) notebook."""
    import nbformat
    from nbgrader.utils import is_grade, is_solution

    out = {}
    for pos, cell in enumerate(nbformat.read(path, as_version=4).cells):
        gid = grade_id(cell)
        if gid and (is_grade(cell) or is_solution(cell)):
            out[gid] = {"cell_type": cell.cell_type, "source": cell.source,
                        "test": bool(is_grade(cell)) and not is_solution(cell), "position": pos}
    return out


def grade_id(cell) -> str | None:
    """The nbgrader grade_id of a cell (nbformat's or plain JSON), or None: also where the cell, its
    metadata or its nbgrader metadata is not a mapping (a file from a student may be anything).
    nbgrader.utils has is_grade, is_solution ... but nothing for the grade_id."""
    meta = cell.get("metadata") if isinstance(cell, dict) else None
    meta = meta.get("nbgrader") if isinstance(meta, dict) else None
    gid = meta.get("grade_id") if isinstance(meta, dict) else None
    return gid if isinstance(gid, str) else None


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else _("{n} bytes").format(n=f"{n:,}")


def _missing(text: str) -> Screening:
    return Screening(False, [text])


def screen_file(data: bytes, filename: str, released: dict, max_bytes: int = MAX_NOTEBOOK_BYTES) -> Screening:
    """Screen the bytes of ``filename`` against its released cells (see :func:`released_cells`)."""
    if len(data) == 0:
        return _missing(_("{file} is empty (0 bytes): graded as missing").format(file=filename))
    if len(data) > max_bytes:
        return _missing(_("{file} is {size}, over the limit of {limit}: graded as missing (clear the outputs "
                          "and save again)").format(file=filename, size=_size(len(data)), limit=_size(max_bytes)))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _missing(_("{file} is not UTF-8 text (byte {byte}): not a notebook, graded as missing").format(
            file=filename, byte=exc.start))
    try:
        raw = json.loads(text)
    except ValueError as exc:
        return _missing(_("{file} is not a readable notebook: invalid JSON ({error}); graded as missing. "
                          "Download it again from JupyterLab (File > Download)").format(file=filename, error=exc))
    if not isinstance(raw, dict) or "cells" not in raw and "worksheets" not in raw:
        return _missing(_("{file} is JSON but not a notebook: graded as missing").format(file=filename))
    major = raw.get("nbformat")
    if major != 4:
        return _missing(_("{file} is in notebook format {major}, not 4: graded as missing "
                          "(open it in JupyterLab and save it again)").format(file=filename, major=major))
    try:
        import nbformat

        nb = nbformat.reads(text, as_version=4)
    except Exception as exc:  # noqa: BLE001 - any reading error means the same to the student
        return _missing(_("{file} could not be read as a notebook ({error}): graded as missing").format(
            file=filename, error=type(exc).__name__))
    return _screen_cells(nb, filename, released)


def _screen_cells(nb, filename: str, released: dict) -> Screening:
    notes: list[str] = []
    seen: dict[str, int] = {}
    order = []
    for cell in nb.cells:
        gid = grade_id(cell)
        if not gid or gid not in released:
            continue
        seen[gid] = seen.get(gid, 0) + 1
        if seen[gid] > 1:
            continue
        order.append(gid)
        notes += _changed(cell, gid, released[gid], filename)
    if not order:
        return _missing(_("{file} contains none of the graded cells of this notebook (another assignment's "
                          "notebook, or its nbgrader metadata was removed): graded as missing").format(file=filename))
    notes += _copied_and_missing(seen, released, filename)
    expected = [g for g in sorted(released, key=lambda g: released[g]["position"]) if g in seen]
    if order != expected:
        moved = next(a for a, b in zip(order, expected) if a != b)
        notes.append(_("{file}: graded cells are not in their original order (first moved: {cell}); "
                       "they were run in the order of the file").format(file=filename, cell=moved))
    return Screening(True, notes, nb)


def _changed(cell, gid: str, want: dict, filename: str) -> list[str]:
    if cell.cell_type != want["cell_type"]:
        return [_("{file}: cell {cell} was changed from {before} to {after}; the grader changed it back and "
                  "ran it").format(file=filename, cell=gid, before=want["cell_type"], after=cell.cell_type)]
    if want["test"] and cell.source != want["source"]:
        return [_("{file}: test cell {cell} was edited; the original test was run instead").format(
            file=filename, cell=gid)]
    return []


def _copied_and_missing(seen: dict[str, int], released: dict, filename: str) -> list[str]:
    notes = [_("{file}: graded cell {cell} appears {count} times (a copied cell); only the first counts").format(
        file=filename, cell=gid, count=count) for gid, count in seen.items() if count > 1]
    for gid, want in released.items():
        if gid in seen:
            continue
        if want["test"]:
            note = _("{file}: test cell {cell} is missing (deleted, or its nbgrader metadata removed): the "
                     "grader put the original test back and ran it")
        else:
            note = _("{file}: answer cell {cell} is missing (deleted, or its nbgrader metadata removed): the "
                     "grader put the blank answer cell back, so the tests that use it fail")
        notes.append(note.format(file=filename, cell=gid))
    return notes


def unanswered(nb, released: dict) -> bool:
    """True when every answer cell of ``nb`` is still exactly as released (nothing of the work is saved)."""
    answers = {gid: want["source"] for gid, want in released.items() if not want["test"]}
    found = {gid: cell.source for cell in nb.cells if (gid := grade_id(cell)) in answers}
    return bool(answers) and all(found.get(gid, blank) == blank for gid, blank in answers.items())
