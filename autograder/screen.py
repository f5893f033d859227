"""Screening of a submitted notebook before any of it runs: is it usable, and what was changed?

Runs in the grader's own process on the file's bytes (nothing of the student's code is executed).
A file that is not a usable notebook of this assignment is graded as missing (0 points for its
tests) with a line saying why; a usable notebook is graded, with a line for every change to the
graded cells that nbgrader undoes or that costs points. The lines go into the student's feedback
and into the class report.
"""

from __future__ import annotations

import json

MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024


def released_cells(path) -> dict:
    """grade_id -> (cell_type, source, is_test, position) of a released (student-version) notebook."""
    import nbformat

    out = {}
    for pos, cell in enumerate(nbformat.read(path, as_version=4).cells):
        meta = cell.metadata.get("nbgrader", {})
        gid = meta.get("grade_id")
        if gid and (meta.get("grade") or meta.get("solution")):
            out[gid] = {"cell_type": cell.cell_type, "source": cell.source,
                        "test": bool(meta.get("grade")) and not meta.get("solution"), "position": pos}
    return out


def _kb(n: int) -> str:
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n:,} bytes"


def screen(data: bytes, filename: str, released: dict) -> tuple[bool, list[str], bytes]:
    """(usable, notes, data to grade) for the bytes of ``filename`` against its released cells.

    The data to grade is the file itself, except that the nbgrader metadata of a second copy of a
    graded cell (or of a cell whose metadata has no grade_id) is removed: nbgrader's own handling
    of duplicates leaves metadata that makes its autograde fail.
    """
    ok, notes, nb = _screen(data, filename, released)
    if nb is None:
        return ok, notes, b""
    import nbformat

    seen, changed = set(), False
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader")
        if meta is None:
            continue
        gid = meta.get("grade_id") if isinstance(meta, dict) else None
        if not gid or gid in seen:
            cell.metadata.pop("nbgrader")
            changed = True
        else:
            seen.add(gid)
    return ok, notes, (nbformat.writes(nb).encode() if changed else data)


def _screen(data: bytes, filename: str, released: dict):
    if len(data) == 0:
        return False, [f"{filename} is empty (0 bytes): graded as missing"], None
    if len(data) > MAX_NOTEBOOK_BYTES:
        return False, [f"{filename} is {_kb(len(data))}, over the limit of {_kb(MAX_NOTEBOOK_BYTES)}: "
                       "graded as missing (clear the outputs and save again)"], None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return False, [f"{filename} is not UTF-8 text (byte {exc.start}): not a notebook, graded as missing"], None
    try:
        raw = json.loads(text)
    except ValueError as exc:
        return False, [f"{filename} is not a readable notebook: invalid JSON ({exc}); graded as missing. "
                       "Download it again from JupyterLab (File > Download)"], None
    if not isinstance(raw, dict) or "cells" not in raw and "worksheets" not in raw:
        return False, [f"{filename} is JSON but not a notebook: graded as missing"], None
    major = raw.get("nbformat")
    if major != 4:
        return False, [f"{filename} is in notebook format {major}, not 4: graded as missing "
                       "(open it in JupyterLab and save it again)"], None
    try:
        import nbformat

        nb = nbformat.reads(text, as_version=4)
    except Exception as exc:  # noqa: BLE001 - any reading error means the same to the student
        return False, [f"{filename} could not be read as a notebook ({type(exc).__name__}): graded as missing"], None

    notes = []
    seen: dict[str, int] = {}
    order = []
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        gid = meta.get("grade_id") if isinstance(meta, dict) else None
        if not gid or gid not in released:
            continue
        seen[gid] = seen.get(gid, 0) + 1
        if seen[gid] > 1:
            continue
        order.append(gid)
        want = released[gid]
        if cell.cell_type != want["cell_type"]:
            notes.append(f"{filename}: cell {gid} was changed from {want['cell_type']} to {cell.cell_type}; "
                         f"the grader changed it back and ran it")
        elif want["test"] and cell.source != want["source"]:
            notes.append(f"{filename}: test cell {gid} was edited; the original test was run instead")
    if not order:
        return False, [f"{filename} contains none of the graded cells of this notebook "
                       "(another assignment's notebook, or its nbgrader metadata was removed): graded as missing"], None
    for gid, count in seen.items():
        if count > 1:
            notes.append(f"{filename}: graded cell {gid} appears {count} times (a copied cell); "
                         "only the first counts")
    for gid, want in released.items():
        if gid not in seen:
            kind = "test cell" if want["test"] else "answer cell"
            notes.append(f"{filename}: {kind} {gid} is missing (deleted, or its nbgrader metadata removed): "
                         + ("the grader put the original test back and ran it" if want["test"]
                            else "the grader put the blank answer cell back, so the tests that use it fail"))
    expected = [g for g in sorted(released, key=lambda g: released[g]["position"]) if g in seen]
    if order != expected:
        moved = next(a for a, b in zip(order, expected) if a != b)
        notes.append(f"{filename}: graded cells are not in their original order (first moved: {moved}); "
                     "they were run in the order of the file")
    return True, notes, nb
