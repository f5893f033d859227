"""How a failed check looks in the notebook, and the hint that grows with repeated failures.

A :class:`~mnistcnn.checks.CheckFailed` shown by IPython (JupyterLab, ``nbgrader validate``, the
grader's feedback) shows the line of the student's test cell and the check's message, not the
frames of the course's own code. When the same check fails three runs in a row, one more line
points at the lesson's paragraph and the documentation page that explain it; a pass of that check
starts the count again. The count is kept in ``~/.mnistcnn/attempts.json`` (or
``$MNISTCNN_STATE_DIR``), so that it spans kernels: Validate runs a fresh one each time. While the
grader runs a notebook nothing is counted: its feedback never depends on earlier tries.

Nothing here decides a grade: it only changes what the student reads.
"""

from __future__ import annotations

import json
import linecache
import os
import sys
import traceback
from pathlib import Path

from mnistcnn.grading import recording
from mnistcnn.i18n import N_, _, ngettext

STATE_ENV = "MNISTCNN_STATE_DIR"
#: Failures in a row of one check before its hint is shown.
HINT_AFTER = 3
_CHECKS_FILE = str(Path(__file__).with_name("checks.py"))

_KERAS = "https://keras.io/api"
_CONV2D = f"{_KERAS}/layers/convolution_layers/convolution2d/"
_SEQUENTIAL = "https://keras.io/guides/sequential_model/"
_FIT = f"{_KERAS}/models/model_training_apis/#fit-method"
#: The lessons' sections, named as the student reads them (translated where shown).
SECTIONS = {
    "images": N_('notebook 1, "Exercise 1 · Images as a convnet wants them"'),
    "labels": N_('notebook 1, "Exercise 2 · Labels as the loss wants them"'),
    "output_size": N_('notebook 2, "How big is the output of a convolution?"'),
    "param_count": N_('notebook 2, "How many weights does a convolution learn?"'),
    "conv_base": N_('notebook 2, "Exercise 3 · The convolutional base"'),
    "summary": N_('notebook 2, "Reading `model.summary()`"'),
    "full_model": N_('notebook 2, "Flattening, then a classifier"'),
    "probabilities": N_('notebook 2, "Predictions are probabilities"'),
    "compile": N_('notebook 3, "Compiling: optimizer, loss, metric"'),
    "history_plot": N_('notebook 3, "Exercise 3 · Plot the training curves"'),
    "error_reduction": N_('notebook 3, "The convnet against a dense network"'),
    "training": N_('notebook 3, "Training"'),
}
#: check -> (the lesson's paragraph, a documentation page).
HINTS = {
    "check_images": (SECTIONS["images"], "https://numpy.org/doc/stable/reference/generated/numpy.reshape.html"),
    "check_labels": (SECTIONS["labels"], f"{_KERAS}/utils/python_utils/#tocategorical-function"),
    "check_output_size_function": (SECTIONS["output_size"], _CONV2D),
    "check_param_count_function": (SECTIONS["param_count"], _CONV2D),
    "check_conv_base": (SECTIONS["conv_base"], _SEQUENTIAL),
    "check_new_model_each_call": (SECTIONS["conv_base"], _SEQUENTIAL),
    "check_summary_answers": (SECTIONS["summary"], f"{_KERAS}/models/model/#summary-method"),
    "check_full_model": (SECTIONS["full_model"], f"{_KERAS}/layers/reshaping_layers/flatten/"),
    "check_probabilities": (SECTIONS["probabilities"], f"{_KERAS}/layers/activations/"),
    "check_compiled": (SECTIONS["compile"], f"{_KERAS}/optimizers/learning_rate_schedules/cosine_decay/"),
    "check_history_plot": (SECTIONS["history_plot"],
                           "https://matplotlib.org/stable/api/_as_gen/matplotlib.axes.Axes.legend.html"),
    "check_error_reduction": (SECTIONS["error_reduction"], "https://en.wikipedia.org/wiki/Relative_change"),
    "check_test_accuracy": (SECTIONS["training"], _FIT),
    "check_accuracy_value": (SECTIONS["training"], _FIT),
}


def _state_file() -> Path:
    return Path(os.environ.get(STATE_ENV) or Path.home() / ".mnistcnn") / "attempts.json"


def _load() -> dict:
    try:
        data = json.loads(_state_file().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _store(data: dict) -> None:
    path = _state_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, path)
    except OSError:
        pass  # a hint is a help, not a need: a read-only home shows none


def in_notebook() -> bool:
    """True in an IPython kernel (the count is kept only where a student reads the messages)."""
    ipython = sys.modules.get("IPython")
    return ipython is not None and ipython.get_ipython() is not None


def _outermost_check(frames) -> str | None:
    """The first ``check_*`` function of the course among ``frames``, given outermost first."""
    return next((f.f_code.co_name for f in frames
                 if f.f_code.co_filename == _CHECKS_FILE and f.f_code.co_name.startswith("check_")), None)


def check_name(tb) -> str | None:
    """The outermost ``check_*`` function of the course in a traceback."""
    return _outermost_check(frame for frame, _lineno in traceback.walk_tb(tb))


def failed(check: str | None) -> str | None:
    """Count one more failure of ``check`` in a row; the hint line once there are enough."""
    if check is None:
        return None
    data = _load()
    data[check] = int(data.get(check, 0)) + 1 if isinstance(data.get(check), int) else 1
    _store(data)
    if data[check] < HINT_AFTER or check not in HINTS:
        return None
    return hint_line(check, data[check])


def hint_line(check: str, failures: int) -> str:
    """The hint for ``check`` after ``failures`` failures in a row, in the current language."""
    paragraph, page = HINTS[check]
    in_a_row = ngettext("{n} failure in a row", "{n} failures in a row", failures).format(n=failures)
    return "  " + _("hint ({in_a_row}): the lesson explains this in {section}; see also {page}").format(
        in_a_row=in_a_row, section=_(paragraph), page=page)


def passed(frame) -> None:
    """A check passed: its failures in a row start again from zero."""
    if not in_notebook():
        return
    name = _outermost_check(reversed([f for f, _lineno in traceback.walk_stack(frame)]))
    data = _load()
    if name in data:
        del data[name]
        _store(data)


def _cell_label(filename: str) -> str | None:
    """``Cell In[7]`` for a notebook cell's code (as IPython names it), None for any other file."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython else None
    names = getattr(getattr(shell, "compile", None), "_filename_map", {})
    if filename in names:
        return f"Cell In[{names[filename]}]"
    return None


def student_lines(tb) -> list[str]:
    """The lines of the student's cells in a traceback: where the check was called."""
    out = []
    while tb is not None:
        code = tb.tb_frame.f_code
        label = _cell_label(code.co_filename)
        if label is not None:
            line = linecache.getline(code.co_filename, tb.tb_lineno).rstrip()
            out += [f"{label}, line {tb.tb_lineno}", f"----> {tb.tb_lineno} {line.strip()}", ""]
        tb = tb.tb_next
    return out


def render(exc: BaseException) -> list[str]:
    """What IPython shows for a failed check: the student's line, the message, maybe a hint."""
    lines = student_lines(exc.__traceback__)
    message = f"{type(exc).__name__}: {exc}"
    hint = failed(check_name(exc.__traceback__)) if in_notebook() and not recording() else None
    return [*lines, message + (f"\n{hint}" if hint else "")]
