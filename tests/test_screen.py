"""Screening of submitted notebooks before they run (autograder/screen.py): fast, no kernel."""

from __future__ import annotations

import json

import nbformat
import pytest

from autograder.course import release
from autograder.grading import screen
from mnistcnn.screening import grade_id

NB1 = release.NOTEBOOKS / "01_data.ipynb"


@pytest.fixture(scope="module")
def released():
    return screen.released_cells(NB1)


def _bytes(nb) -> bytes:
    return nbformat.writes(nb).encode()


def test_released_notebook_is_clean(released):
    ok, notes, data = screen.screen(NB1.read_bytes(), "01_data.ipynb", released)
    assert ok and notes == [] and data == NB1.read_bytes()


@pytest.mark.parametrize("data, words", [
    (b"", "is empty"),
    (b'{"cells": [', "invalid JSON"),
    ('{"cells": [], "x": "\u00e9"}'.encode("latin-1"), "not UTF-8"),
    (b"[1, 2]", "not a notebook"),
    (json.dumps({"nbformat": 3, "worksheets": []}).encode(), "format 3"),
])
def test_unusable_files(released, data, words):
    ok, notes, _ = screen.screen(data, "01_data.ipynb", released)
    assert not ok and words in notes[0] and "graded as missing" in notes[0]


def test_too_big(released, monkeypatch):
    monkeypatch.setattr(screen, "MAX_NOTEBOOK_BYTES", 1000)
    ok, notes, _ = screen.screen(NB1.read_bytes(), "01_data.ipynb", released)
    assert not ok and "over the limit" in notes[0]


def test_changed_test_cells_are_named(released):
    nb = nbformat.read(NB1, as_version=4)
    cells = {grade_id(c): c for c in nb.cells}
    cells["test_preprocess_images"].source = "pass"
    nb.cells.remove(cells["test_encode_labels"])
    prepared = cells["test_prepared_data"]
    nb.cells.remove(prepared)
    nb.cells.insert(0, prepared)
    ok, notes, _ = screen.screen(_bytes(nb), "01_data.ipynb", released)
    text = "\n".join(notes)
    assert ok
    assert "test_preprocess_images was edited" in text
    assert "test_encode_labels is missing" in text
    assert "not in their original order (first moved: test_prepared_data)" in text


def test_duplicate_grade_id_keeps_only_the_first(released):
    nb = nbformat.read(NB1, as_version=4)
    copy = next(c for c in nb.cells if grade_id(c) == "test_preprocess_images")
    nb.cells.append(nbformat.from_dict(json.loads(json.dumps(copy))))
    ok, notes, data = screen.screen(_bytes(nb), "01_data.ipynb", released)
    assert ok and any("appears 2 times" in n for n in notes)
    graded = [grade_id(c) for c in nbformat.reads(data.decode(), 4).cells]
    assert graded.count("test_preprocess_images") == 1


def test_another_assignment(released):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)")])
    ok, notes, _ = screen.screen(_bytes(nb), "01_data.ipynb", released)
    assert not ok and "none of the graded cells" in notes[0]


@pytest.mark.parametrize("cell, gid", [
    ({"metadata": {"nbgrader": {"grade_id": "test_x", "grade": True}}}, "test_x"),
    (nbformat.v4.new_code_cell(metadata={"nbgrader": {"grade_id": "x"}}), "x"),
    ({"metadata": {}}, None),
    ({}, None),
    ("a string", None),
    ({"metadata": ["nbgrader"]}, None),
    ({"metadata": {"nbgrader": "test_x"}}, None),
    ({"metadata": {"nbgrader": {"grade_id": ["test_x"]}}}, None),
])
def test_grade_id_of_any_cell(cell, gid):
    """A student's file may hold anything where nbgrader's metadata should be: no grade_id, no crash."""
    assert grade_id(cell) == gid


def test_malformed_metadata_is_screened_not_a_crash(released):
    """Cells whose nbgrader metadata is not a mapping, or whose grade_id is a list, are no graded cells."""
    nb = nbformat.read(NB1, as_version=4)
    cell = next(c for c in nb.cells if grade_id(c) == "test_preprocess_images")
    cell.metadata["nbgrader"] = {**cell.metadata["nbgrader"], "grade_id": ["test_preprocess_images"]}
    nb.cells.append(nbformat.v4.new_code_cell("x = 1", metadata={"nbgrader": "grade"}))
    ok, notes, data = screen.screen(_bytes(nb), "01_data.ipynb", released)
    assert ok and any("test_preprocess_images is missing" in n for n in notes), notes
    graded = [grade_id(c) for c in nbformat.reads(data.decode(), 4).cells]
    assert "test_preprocess_images" not in graded and graded.count(None) < len(graded)
    assert all("nbgrader" not in c.metadata or isinstance(c.metadata["nbgrader"], dict)
               for c in nbformat.reads(data.decode(), 4).cells)


def test_each_notebook_is_screened_in_its_language_against_its_edition(tmp_path, monkeypatch):
    """screen_submission: the notes of a notebook are made inside i18n.using(its language), against the
    released cells of its edition (English when that edition is not given)."""
    from autograder.grading import run
    from mnistcnn import i18n, screening

    calls = []
    real = screening.screen_file

    def spy(data, filename, released, **kw):
        calls.append((filename, i18n.language(), released))
        return real(data, filename, released, **kw)

    monkeypatch.setattr(screening, "screen_file", spy)
    nb = nbformat.read(NB1, as_version=4)
    nb.metadata["mnistcnn"] = {"language": "zh_CN"}
    nbformat.write(nb, tmp_path / "01_data.ipynb")
    files = {"01_data": tmp_path / "01_data.ipynb", "02_convnet": release.NOTEBOOKS / "02_convnet.ipynb"}
    languages = {name: screen.file_language(path) for name, path in files.items()}
    assert languages == {"01_data": "zh_CN", "02_convnet": "en"}
    english = {p.stem: screen.released_cells(p) for p in release.NOTEBOOKS.glob("*.ipynb")}
    chinese = {"01_data": {**english["01_data"]}}
    usable, notes = run.screen_submission("li", files, english, languages, {"en": english, "zh_CN": chinese})
    assert set(usable) == set(files) and notes == []
    assert [(f, lang) for f, lang, _ in calls] == [("01_data.ipynb", "zh_CN"), ("02_convnet.ipynb", "en")]
    assert calls[0][2] is chinese["01_data"] and calls[1][2] is english["02_convnet"]
    calls.clear()
    run.screen_submission("li", files, english, languages)  # no Chinese edition: the English one
    assert calls[0][1:] == ("zh_CN", english["01_data"]) and i18n.language() == "en"
