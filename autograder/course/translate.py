"""The lessons in other languages: solutions/ stays the one English source, a gettext catalog
(``mnistcnn/locale/<lang>/LC_MESSAGES/lessons.po``) holds the translations.

    python -m autograder.course.translate update zh_CN   # add new units to the catalog, drop vanished ones
    python -m autograder.course.translate check zh_CN    # missing, empty, fuzzy, stale entries; lost placeholders

A *unit* is one piece of English text a student reads:

* a block of a markdown cell (a paragraph, a heading, a list; blocks are separated by blank lines),
  except a block that is only display math (``$$...$$``), which stays as it is;
* the text of a comment in a code cell (not nbgrader's ``### BEGIN/END SOLUTION`` and
  ``### BEGIN/END HIDDEN TESTS`` markers, ``# noqa`` or ``# YOUR CODE HERE``);
* the one-line docstring of a function in an answer cell or a plain locked code cell.

Test cells (graded cells that are not answer cells) are never touched: the grader compares them
with the released ones, and one grader grades every edition. String literals are code, and code is
the same in every edition.

The catalog is not refreshed by ``make notebooks``: the release translates strictly, so a unit
without a translation stops it with the list of what is missing; ``make catalogs`` (``update``)
then adds those units to the catalog for a translator, and ``check`` says what is left to do.
"""

from __future__ import annotations

import argparse
import ast
import io
import re
import sys
import tokenize
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

from mnistcnn.constants import ASSIGNMENT, LANGUAGE_KERNELS
from mnistcnn.i18n import catalog_path, check_language

ROOT = Path(__file__).resolve().parents[2]
SOLUTIONS = ROOT / "solutions" / ASSIGNMENT
DOMAIN = "lessons"

MARKER = re.compile(r"^#+\s*(BEGIN|END) (SOLUTION|HIDDEN TESTS)\b|^#\s*noqa\b|^#\s*YOUR CODE HERE\s*$")
BLOCK_SEPARATOR = re.compile(r"(\n[ \t]*\n+)")
CODE_SPAN = re.compile(r"`[^`\n]+`")
MATH = re.compile(r"\$\$.+?\$\$|\$[^$\n]+\$", re.S)
URL = re.compile(r"https?://[\w/%#?=&:+~.-]*[\w/%#=&+~-]")
NUMBER = re.compile(r"\d+(?:[.,]\d+)*")

Lookup = Callable[[str], "str | None"]


class MissingTranslations(LookupError):
    """Units of a notebook without a translation in the catalog."""


@dataclass(frozen=True)
class Unit:
    """One translatable text: its English, what it is (markdown, comment, docstring), its cell."""

    text: str
    kind: str
    cell: str


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def cell_id(cell) -> str:
    return nbgrader_meta(cell).get("grade_id") or cell.get("id") or "?"


def is_test_cell(cell) -> bool:
    """A graded cell that is not an answer: left byte-identical in every edition."""
    meta = nbgrader_meta(cell)
    return bool(meta.get("grade")) and not meta.get("solution")


def has_docstrings(cell) -> bool:
    """Answer cells and plain locked code cells: their functions' docstrings are translated."""
    meta = nbgrader_meta(cell)
    return bool(meta.get("solution") or (meta.get("locked") and not meta.get("grade")))


def is_display_math(block: str) -> bool:
    text = block.strip()
    return text.startswith("$$") and text.endswith("$$") and len(text) > 4


def markdown_parts(source: str) -> list[str]:
    """The cell split into blocks and the blank lines between them (joined again, the source)."""
    return BLOCK_SEPARATOR.split(source)


def is_block(part: str) -> bool:
    """A markdown part that is translated: a block with text that is not only display math."""
    return not BLOCK_SEPARATOR.fullmatch(part) and bool(part.strip()) and not is_display_math(part)


def comments(source: str) -> list[tuple[int, int, str]]:
    """(row, column, text) of each translatable comment: the text after ``#`` and its spaces."""
    found = []
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    for tok in tokens:
        if tok.type == tokenize.COMMENT and not MARKER.match(tok.string):
            text = tok.string.lstrip("#").strip()
            if text:
                found.append((tok.start[0], tok.start[1], text))
    return found


def docstrings(source: str) -> list[tuple[int, int, int, str]]:
    """(row, start column, end column, text) of each one-line function docstring written as a plain
    string literal (columns in characters)."""
    found = []
    lines = source.split("\n")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                    and isinstance(first.value.value, str) and first.lineno == first.end_lineno):
                line = lines[first.lineno - 1].encode()
                start = len(line[:first.col_offset].decode())
                end = len(line[:first.end_col_offset].decode())
                if lines[first.lineno - 1][start] in "\"'":
                    found.append((first.lineno, start, end, first.value.value))
    return found


def quotes(literal: str) -> str:
    """The quotes a string literal opens with."""
    return next(q for q in ('"""', "'''", '"', "'") if literal.startswith(q))


def cell_units(cell) -> Iterator[tuple[str, str]]:
    """(kind, text) of the cell's units, in order."""
    if cell.cell_type == "markdown":
        yield from (("markdown", part) for part in markdown_parts(cell.source) if is_block(part))
    elif cell.cell_type == "code" and not is_test_cell(cell):
        units = [(row, col, "comment", text) for row, col, text in comments(cell.source)]
        if has_docstrings(cell):
            units += [(row, col, "docstring", text) for row, col, _, text in docstrings(cell.source)]
        yield from ((kind, text) for _, _, kind, text in sorted(units))


def notebook_units(nb) -> list[Unit]:
    return [Unit(text, kind, cell_id(cell)) for cell in nb.cells for kind, text in cell_units(cell)]


def translate_markdown(source: str, lookup: Lookup, missing: list[str]) -> str:
    parts = markdown_parts(source)
    for i, part in enumerate(parts):
        if is_block(part):
            found = lookup(part)
            if found is None:
                missing.append(part)
            else:
                parts[i] = found
    return "".join(parts)


def translate_code(cell, lookup: Lookup, missing: list[str]) -> str:
    """The cell's source with its comments and (where they are translated) docstrings replaced, each
    docstring in its own quotes."""
    lines = cell.source.split("\n")
    edits = [(row, col, len(lines[row - 1]), "# ", "", text) for row, col, text in comments(cell.source)]
    if has_docstrings(cell):
        for row, start, end, text in docstrings(cell.source):
            quote = quotes(lines[row - 1][start:end])
            edits.append((row, start, end, quote, quote, text))
    not_found = []
    for row, start, end, opening, closing, text in sorted(edits, reverse=True):  # right to left: columns stay valid
        found = lookup(text)
        if found is None:
            not_found.append(text)
            continue
        if "\n" in found or "\\" in found or (closing and closing[0] in found):
            raise ValueError(f"a comment or docstring translation must be one line, without quotes "
                             f"or backslashes: {found!r}")
        line = lines[row - 1]
        lines[row - 1] = line[:start] + opening + found + closing + line[end:]
    missing += reversed(not_found)
    return "\n".join(lines)


def load_catalog(lang: str, path: Path | None = None) -> Catalog:
    path = path or catalog_path(check_language(lang), DOMAIN)
    if not path.exists():
        header = (f"# The lessons of the course in {lang}: the prose, comments and docstrings of solutions/.\n"
                  f"# python -m autograder.course.translate update {lang} refreshes it (make catalogs).\n#")
        return Catalog(locale=lang, domain=DOMAIN, project="mnistcnn", version=DOMAIN, fuzzy=False,
                       header_comment=header)
    with path.open("rb") as f:
        return read_po(f, locale=lang, domain=DOMAIN)


def catalog_lookup(catalog: Catalog) -> Lookup:
    """msgid -> its translation; None when the catalog has none (absent, empty or fuzzy). A text
    that is already a translation stays as it is (translating twice changes nothing)."""
    done = {m.string: m.string for m in catalog if m.id and m.string and not m.fuzzy}
    translated = {m.id: m.string for m in catalog if m.id and m.string and not m.fuzzy}

    def lookup(text: str) -> str | None:
        return translated.get(text, done.get(text))
    return lookup


def translate_notebook(nb, lang: str, *, locked_only: bool = False, strict: bool = True,
                       catalog: Catalog | None = None):
    """A translated copy of ``nb`` (the ``lessons`` catalog of ``lang``, or ``catalog``): its language
    in the metadata, the language's kernel. ``locked_only``: only nbgrader-locked cells (an
    autograded notebook, whose locked cells nbgrader put back in English). ``strict``: raise
    :class:`MissingTranslations` listing every unit without a translation (else they stay English)."""
    name, display_name = LANGUAGE_KERNELS[check_language(lang)]
    lookup = catalog_lookup(catalog if catalog is not None else load_catalog(lang))
    nb = nbformat.from_dict(nb)  # a deep copy
    missing: list[str] = []
    for cell in nb.cells:
        if locked_only and not nbgrader_meta(cell).get("locked"):
            continue
        if cell.cell_type == "markdown":
            cell.source = translate_markdown(cell.source, lookup, missing)
        elif cell.cell_type == "code" and not is_test_cell(cell):
            cell.source = translate_code(cell, lookup, missing)
    if strict and missing:
        listed = "\n".join(f"  {text!r}" for text in missing)
        raise MissingTranslations(f"{len(missing)} text(s) without a {lang} translation in {DOMAIN}.po "
                                  f"(python -m autograder.course.translate update {lang}):\n{listed}")
    nb.metadata["mnistcnn"] = {"language": lang}
    nb.metadata["kernelspec"] = {"display_name": display_name, "language": "python", "name": name}
    return nb


def translate_folder(source: Path, dest: Path, lang: str, **kwargs) -> Path:
    """Every notebook of ``source`` translated into ``dest`` (created); returns ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for path in sorted(Path(source).glob("*.ipynb")):
        nbformat.write(translate_notebook(nbformat.read(path, as_version=4), lang, **kwargs), dest / path.name)
    return dest


def template(lang: str, solutions: Path = SOLUTIONS) -> Catalog:
    """A catalog of every unit of solutions/, each located at its notebook and cell."""
    catalog = Catalog(locale=lang, domain=DOMAIN, project="mnistcnn lessons", fuzzy=False)
    for path in sorted(solutions.glob("*.ipynb")):
        where = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.name
        for unit in notebook_units(nbformat.read(path, as_version=4)):
            location = (f"{where}#{unit.cell}", None)
            if unit.text in catalog:
                message = catalog[unit.text]
                message.locations += [location] if location not in message.locations else []
                message.auto_comments += [unit.kind] if unit.kind not in message.auto_comments else []
            else:
                catalog.add(unit.text, locations=[location], auto_comments=[unit.kind])
    return catalog


def po_bytes(catalog: Catalog) -> bytes:
    buf = io.BytesIO()
    write_po(buf, catalog, width=0, ignore_obsolete=True)
    return buf.getvalue()


def update(lang: str, path: Path | None = None, solutions: Path = SOLUTIONS) -> Catalog:
    """Refresh the catalog from solutions/: new units added untranslated, vanished ones removed,
    translations kept. Writes the file only if an entry changed."""
    path = path or catalog_path(check_language(lang), DOMAIN)
    catalog = load_catalog(lang, path)
    before = [(m.id, m.string, m.locations, m.flags) for m in catalog if m.id]
    catalog.update(template(lang, solutions), no_fuzzy_matching=True, update_header_comment=False)
    catalog.obsolete.clear()
    if [(m.id, m.string, m.locations, m.flags) for m in catalog if m.id] != before or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(po_bytes(catalog))
    return catalog


def placeholders(text: str) -> list[str]:
    """What a translation keeps as it is: code spans, math, URLs, then the numbers of the rest."""
    kept = []
    for pattern in (CODE_SPAN, MATH, URL):
        kept += pattern.findall(text)
        text = pattern.sub(" ", text)
    return kept + NUMBER.findall(text)


def lost_placeholders(source: str, translation: str) -> list[str]:
    """The placeholders of ``source`` that ``translation`` does not have as many times."""
    ours, theirs = placeholders(source), placeholders(translation)
    return [item for item in dict.fromkeys(ours) if ours.count(item) > theirs.count(item)]


def problems(lang: str, path: Path | None = None, solutions: Path = SOLUTIONS) -> list[str]:
    """Everything that keeps the catalog from translating the lessons faithfully."""
    catalog = load_catalog(lang, path)
    units = template(lang, solutions)
    out = [f"missing: {m.id!r} ({m.locations[0][0]})" for m in units if m.id and m.id not in catalog]
    for message in catalog:
        if not message.id:
            continue
        if message.id not in units:
            out.append(f"stale (no longer in solutions/): {message.id!r}")
        elif not message.string:
            out.append(f"empty: {message.id!r}")
        elif message.fuzzy:
            out.append(f"fuzzy: {message.id!r}")
        else:
            lost = lost_placeholders(message.id, message.string)
            out += [f"placeholder {item!r} not kept in the translation of {message.id!r}" for item in lost]
            if "markdown" not in units[message.id].auto_comments and "\n" in message.string:
                out.append(f"a comment or docstring translated on more than one line: {message.id!r}")
    out += [f"stale (obsolete entry): {m.id!r}" for m in catalog.obsolete.values()]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=["update", "check"])
    ap.add_argument("lang", help="a language of the course other than English, e.g. zh_CN")
    args = ap.parse_args(argv)
    path = catalog_path(check_language(args.lang), DOMAIN)
    if args.command == "update":
        catalog = update(args.lang)
        todo = sum(1 for m in catalog if m.id and (not m.string or m.fuzzy))
        print(f"{path.relative_to(ROOT)}: {sum(1 for m in catalog if m.id)} entries, {todo} to translate")
        return 0
    found = problems(args.lang)
    for problem in found:
        print(problem)
    print(f"{path.relative_to(ROOT)}: {len(found)} problem(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
