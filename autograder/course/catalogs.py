"""The translation catalogs of the code (domains ``course`` and ``grader``): extract, update, check.

    python -m autograder.course.catalogs update zh_CN   # add new messages (untranslated), drop vanished ones
    python -m autograder.course.catalogs check zh_CN    # every problem; exit status 1 if there is one

A message is marked in the code with ``_("...")``, ``N_("...")`` or ``ngettext("...", "...", n)``
(Python) or ``{% trans %}``/``_()`` (the report's Jinja2 template). The translator edits only the
``.po`` files (mnistcnn/locale/<language>/LC_MESSAGES/); ``check`` finds what is missing, left
empty or fuzzy, what no longer exists in the code (stale), and translations that lost a placeholder
(``{name}``, ``%(name)s``, a `code span`, a number). The lessons' catalog is
:mod:`autograder.course.translate`'s.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from mnistcnn import i18n

ROOT = Path(__file__).resolve().parents[2]
#: domain -> the files its messages are extracted from (relative to the repository's root).
SOURCES = {
    "course": ["mnistcnn/*.py", "solutions/*/*.ipynb"],
    "grader": ["autograder/grading/*.py", "autograder/grading/templates/*.j2", "autograder/sandbox/*.py"],
}
KEYWORDS = {"_": None, "N_": None, "gettext": None, "ngettext": (1, 2)}
#: In the notebooks' code: the words of ``checks.passed("...")``, which the check translates.
NOTEBOOK_KEYWORDS = {"passed": None}
JINJA_OPTIONS = {"extensions": "jinja2.ext.i18n", "trim_blocks": "true", "lstrip_blocks": "true",
                 "newstyle_gettext": "true"}
#: What a translation must keep as it is: format fields, code spans, numbers.
PLACEHOLDERS = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*(?:[:!][^{}]*)?\}|%\([a-z_]+\)[sdfr]|%[sdfr]|`[^`]+`"
                          r"|\d+(?:[.,]\d+)*")


def source_files(domain: str) -> list[Path]:
    return sorted(p for pattern in SOURCES[domain] for p in ROOT.glob(pattern) if p.name != "i18n.py")


def extract(domain: str):
    """A Babel catalog (template) of every message marked in the domain's files."""
    from babel.messages.catalog import Catalog
    from babel.messages.extract import extract_from_file

    template = Catalog(domain=domain)
    for path in source_files(domain):
        method, keywords, options = {".j2": ("jinja2.ext:babel_extract", KEYWORDS, JINJA_OPTIONS),
                                     ".ipynb": (extract_notebook, NOTEBOOK_KEYWORDS, {})}.get(
                                         path.suffix, ("python", KEYWORDS, {}))
        for lineno, message, comments, context in extract_from_file(method, path, keywords=keywords,
                                                                    options=options):
            template.add(message, locations=[(str(path.relative_to(ROOT)), lineno)],
                         auto_comments=comments, context=context)
    return template


def extract_notebook(fileobj, keywords, comment_tags, options):
    """Babel's Python extraction over a notebook's code cells (IPython's ``%``/``!`` lines left out)."""
    import io
    import json

    from babel.messages.extract import extract_python

    cells = json.load(fileobj).get("cells", [])
    code = "\n".join("".join(c.get("source", "")) for c in cells if c.get("cell_type") == "code")
    code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in code.splitlines())
    return extract_python(io.BytesIO(code.encode()), keywords, comment_tags, options)


def read(lang: str, domain: str):
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import read_po

    path = i18n.catalog_path(lang, domain)
    if not path.exists():
        return Catalog(locale=lang, domain=domain)
    with path.open("rb") as f:
        return read_po(f, locale=lang, domain=domain)


def update(lang: str, domain: str) -> Path:
    """Bring the language's catalog of ``domain`` in step with the code; return its path."""
    from babel.messages.pofile import write_po

    catalog = read(lang, domain)
    catalog.update(extract(domain), no_fuzzy_matching=True)
    catalog.obsolete.clear()
    path = i18n.catalog_path(lang, domain)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        write_po(f, catalog, width=100, sort_by_file=True, omit_header=False)
    return path


def _key(message) -> str:
    return message.id if isinstance(message.id, str) else message.id[0]


def placeholders(text: str) -> list[str]:
    return sorted(PLACEHOLDERS.findall(text))


def problems(lang: str, domain: str) -> list[str]:
    """Every reason the catalog is not complete and in step with the code (empty when it is)."""
    wanted = {_key(m): m for m in extract(domain) if m.id}
    have = {_key(m): m for m in read(lang, domain) if m.id}
    path = _shown(i18n.catalog_path(lang, domain))
    out = [f"{path}: no translation for {key!r} ({_where(m)})" for key, m in wanted.items() if key not in have]
    out += [f"{path}: stale entry {key!r} (no longer in the code)" for key in have if key not in wanted]
    for key, m in have.items():
        strings = [m.string] if isinstance(m.string, str) else list(m.string or [])
        if not any(strings) or not all(strings):
            out.append(f"{path}: empty translation of {key!r}")
        elif m.fuzzy:
            out.append(f"{path}: fuzzy (unchecked) translation of {key!r}")
        elif any(placeholders(s) != placeholders(key) for s in strings[:1]):
            out.append(f"{path}: the translation of {key!r} does not keep {placeholders(key)}")
    return out


def _shown(path: Path) -> Path:
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def _where(message) -> str:
    return ", ".join(f"{f}:{n}" for f, n in message.locations) or "?"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("action", choices=["update", "check"])
    ap.add_argument("language", choices=[lang for lang in i18n.LANGUAGES if lang != i18n.SOURCE_LANGUAGE])
    ap.add_argument("--domain", choices=list(SOURCES), action="append", help="default: every domain")
    args = ap.parse_args(argv)
    status = 0
    for domain in args.domain or SOURCES:
        if args.action == "update":
            print(f"updated {_shown(update(args.language, domain))}")
            continue
        found = problems(args.language, domain)
        print("\n".join(found) or f"{domain}: complete")
        status |= bool(found)
    return status


if __name__ == "__main__":
    sys.exit(main())
