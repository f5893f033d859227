"""The course's languages: every word a student reads comes through here from a gettext catalog.

The catalogs are plain gettext ``.po`` files, one per domain, that a translator edits without
touching a notebook or a line of code::

    mnistcnn/locale/<language>/LC_MESSAGES/course.po    checks, hints and figures (this package)
    mnistcnn/locale/<language>/LC_MESSAGES/grader.po    the grader's notes, feedback and class report
    mnistcnn/locale/<language>/LC_MESSAGES/lessons.po   the notebooks' prose and comments

English is the source language: a message is its own English text. The language of a kernel is
``$MNISTCNN_LANGUAGE`` (the course's kernel for a language sets it; see :mod:`mnistcnn.kernelspec`),
or what :func:`set_language` or :func:`using` chose in this process. A notebook says its language in
its metadata (``metadata.mnistcnn.language``); the grader reads it there (:func:`notebook_language`).
"""

from __future__ import annotations

import contextlib
import functools
import gettext as _gettext
import io
import os
from pathlib import Path

#: The course's languages: code -> the name a speaker of it reads.
LANGUAGES = {"en": "English", "zh_CN": "简体中文"}
SOURCE_LANGUAGE = "en"
ENV = "MNISTCNN_LANGUAGE"
LOCALE_DIR = Path(__file__).with_name("locale")
DOMAINS = ("course", "grader", "lessons")

_chosen: str | None = None


def check_language(lang: str) -> str:
    """``lang`` if the course has it; a ValueError naming the languages it has otherwise."""
    if lang not in LANGUAGES:
        raise ValueError(f"the course has no language {lang!r}; it has: {', '.join(LANGUAGES)}")
    return lang


def language() -> str:
    """The language messages are given in now (an unknown ``$MNISTCNN_LANGUAGE`` counts as English)."""
    if _chosen:
        return _chosen
    lang = os.environ.get(ENV, SOURCE_LANGUAGE)
    return lang if lang in LANGUAGES else SOURCE_LANGUAGE


def set_language(lang: str | None) -> None:
    """Give messages in ``lang`` from now on in this process (None: back to ``$MNISTCNN_LANGUAGE``)."""
    global _chosen
    _chosen = check_language(lang) if lang else None


@contextlib.contextmanager
def using(lang: str | None):
    """Messages in ``lang`` for the duration (the grader judges each notebook in its own language)."""
    global _chosen
    before = _chosen
    set_language(lang)
    try:
        yield
    finally:
        _chosen = before


def catalog_path(lang: str, domain: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{domain}.po"


@functools.cache
def translations(lang: str, domain: str) -> _gettext.NullTranslations:
    """The catalog of ``domain`` in ``lang``, read from its ``.po`` file (no compiled ``.mo`` to keep
    in step). Fuzzy and untranslated entries are left out: they show in English."""
    path = catalog_path(lang, domain)
    if lang == SOURCE_LANGUAGE or not path.exists():
        return _gettext.NullTranslations()
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with path.open("rb") as f:
        catalog = read_po(f, locale=lang, domain=domain)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return _gettext.GNUTranslations(buf)


def gettext(message: str, domain: str = "course", lang: str | None = None) -> str:
    """``message`` in the current language (or ``lang``)."""
    return translations(lang or language(), domain).gettext(message)


def ngettext(singular: str, plural: str, n: int, domain: str = "course", lang: str | None = None) -> str:
    """The singular or plural form for ``n``, in the current language (or ``lang``)."""
    return translations(lang or language(), domain).ngettext(singular, plural, n)


def _(message: str) -> str:
    """``message`` in the current language: the mark the catalog's extraction looks for."""
    return gettext(message)


def N_(message: str) -> str:
    """Marks a message for the catalog where it is defined; it is translated where it is used (``_(x)``)."""
    return message


def notebook_language(nb) -> str:
    """The language a notebook (nbformat's, or its JSON as a dict) is written in; English if it says
    nothing or names a language the course does not have."""
    meta = nb.get("metadata") if isinstance(nb, dict) else None
    meta = meta.get("mnistcnn") if isinstance(meta, dict) else None
    lang = meta.get("language") if isinstance(meta, dict) else None
    return lang if lang in LANGUAGES else SOURCE_LANGUAGE
