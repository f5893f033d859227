"""The grader's words in the language of the notebook they are about (gettext domain ``grader``).

Every note the grader writes for a student is marked ``_("...")`` (found by the catalog's
extraction, :mod:`autograder.course.catalogs`) and given in the language chosen with
:func:`mnistcnn.i18n.using`: the language of the notebook the note is about, or of the submission.
"""

from __future__ import annotations

from collections import Counter

from mnistcnn import i18n

DOMAIN = "grader"


def _(message: str) -> str:
    """``message`` in the current language, from the grader's catalog."""
    return i18n.gettext(message, DOMAIN)


def ngettext(singular: str, plural: str, n: int) -> str:
    return i18n.ngettext(singular, plural, n, DOMAIN)


def submission_language(languages: dict) -> str:
    """The language of a submission: that of most of its notebooks (English when it has none)."""
    counts = Counter(languages.values()).most_common()
    return min((lang for lang, k in counts if k == counts[0][1]), default=i18n.SOURCE_LANGUAGE)
