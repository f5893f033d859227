"""nbgrader's own words on a feedback page, in the language of its notebook.

nbgrader's feedback template (``formgrader/templates/feedback/index.html.j2``) writes its headings
and labels in English and has no translation hook. The page it wrote is rewritten here, label by
label, only where the template puts them (a label's surrounding markup is part of the pattern), so
nothing of the notebook's own content is touched. An English page is left as it is.
"""

from __future__ import annotations

import re

from autograder.grading.language import _
from mnistcnn import i18n
from mnistcnn.i18n import N_

_NUM = r"(-?[0-9.]+)"
#: (pattern of the template's output, message with the pattern's groups as {0}, {1}).
LABELS = [
    (r"(?<=</a> )\(Score: " + _NUM + " / " + _NUM + r"\)", N_("(Score: {0} / {1})")),
    (r"(<h4>.*?) \(Score: " + _NUM + " / " + _NUM + r"\)</h4>", N_("{0} (Score: {1} / {2})</h4>")),
    (r'(?<=<span class="pull-right">)(\s*)Score: ' + _NUM + " / " + _NUM, N_("{0}Score: {1} / {2}")),
    (r'(?<=href="#top">)\(Top\)(?=</a>)', N_("(Top)")),
    (r"(?<=\">)Test cell(?=</a>)", N_("Test cell")),
    (r"(?<=\">)Coding free-response(?=</a>)", N_("Coding free-response")),
    (r"(?<=\">)Written response(?=</a>)", N_("Written response")),
    (r"(?<=\">)Task(?=</a>)", N_("Task")),
    (r"(?<=\">)Comment(?=</a>)", N_("Comment")),
    (r'(?<=<li class="late-penalty">)Late submission penalty \(Score: ' + _NUM + r"\)",
     N_("Late submission penalty (Score: {0})")),
    (r'(?<=<span class="nbgrader-label">)Student\'s answer(?=</span>)', N_("Student's answer")),
    (r'(?<=<span class="nbgrader-label">)Student\'s task(?=</span>)', N_("Student's task")),
    (r'(?<=<span class="nbgrader-label">)Grade cell:(?= <code>)', N_("Grade cell:")),
    (r'(?<=<span class="nbgrader-label">)Task:(?= <code>)', N_("Task:")),
    (r"(?<=<b>)Comments:(?=</b>)", N_("Comments:")),
]


def translate_labels(page: str, lang: str) -> str:
    """nbgrader's labels on ``page`` in ``lang`` (the page as it is in English)."""
    if lang == i18n.SOURCE_LANGUAGE:
        return page
    with i18n.using(lang):
        for pattern, message in LABELS:
            text = _(message)
            page = re.sub(pattern, lambda m, text=text: text.format(*m.groups()), page)
    return page
