"""Screening of a submitted notebook before any of it runs: is it usable, and what was changed?

Runs in the grader's own process on the file's bytes (nothing of the student's code is executed).
A file that is not a usable notebook of this assignment is graded as missing (0 points for its
tests) with a line saying why; a usable notebook is graded, with a line for every change to the
graded cells that nbgrader undoes or that costs points. The lines go into the student's feedback
and into the class report. The checks themselves are :mod:`mnistcnn.screening`, which the students'
hand-in uses too.
"""

from __future__ import annotations

import json
from pathlib import Path

from autograder.course import release
from mnistcnn import i18n, screening
from mnistcnn.screening import MAX_NOTEBOOK_BYTES, released_cells  # noqa: F401 - the grader's names


def editions() -> dict[str, Path]:
    """language -> released folder (:func:`autograder.course.release.release_folder`), for every
    edition released so far (English always); a notebook names its edition in its metadata."""
    found = {lang: release.release_folder(lang) for lang in i18n.LANGUAGES}
    return {lang: folder for lang, folder in found.items()
            if lang == i18n.SOURCE_LANGUAGE or any(folder.glob("*.ipynb"))}


def edition_folder(lang: str) -> Path:
    """The released folder a notebook in ``lang`` is screened and shown against (English while its
    own edition is not released)."""
    return editions().get(lang, release.NOTEBOOKS)


def file_language(path) -> str:
    """The language a submitted notebook file says it is written in (English when it cannot be read)."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_NOTEBOOK_BYTES:
            return i18n.SOURCE_LANGUAGE
        return i18n.notebook_language(json.loads(path.read_bytes()))
    except (OSError, ValueError):
        return i18n.SOURCE_LANGUAGE


def screen(data: bytes, filename: str, released: dict) -> tuple[bool, list[str], bytes]:
    """(usable, notes, data to grade) for the bytes of ``filename`` against its released cells.

    The data to grade is the file itself, except that the nbgrader metadata of a second copy of a
    graded cell (or of a cell whose metadata has no grade_id) is removed: nbgrader's own handling
    of duplicates leaves metadata that makes its autograde fail.
    """
    verdict = screening.screen_file(data, filename, released, max_bytes=MAX_NOTEBOOK_BYTES)
    ok, notes, nb = verdict.usable, verdict.notes, verdict.notebook
    if nb is None:
        return ok, notes, b""
    import nbformat

    seen, changed = set(), False
    for cell in nb.cells:
        meta = cell.get("metadata")
        if not isinstance(meta, dict) or "nbgrader" not in meta:
            continue
        gid = screening.grade_id(cell)
        if not gid or gid in seen:
            cell.metadata.pop("nbgrader")
            changed = True
        else:
            seen.add(gid)
    return ok, notes, (nbformat.writes(nb).encode() if changed else data)
