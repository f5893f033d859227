"""Figures of the lessons: digit grids, a confusion matrix, a gallery of mistakes.

Every figure comes with a text alternative in the kernel's language that carries its information
(the digits' labels, the accuracy and the largest confusions, the misclassified pairs): in a
notebook the figure is shown, then its text right under it, as an output of its own that a screen
reader reads and that the grader's feedback keeps. :func:`describe_figure` writes the text of any
figure of line plots (a student's training curves); :func:`show` shows a figure with its text.
Titles, axis labels and the text follow the language of the kernel (:mod:`mnistcnn.i18n`); Chinese
text in a figure is drawn with the course's CJK font (:mod:`mnistcnn.fonts`).
"""

from __future__ import annotations

import html
import sys

import matplotlib.pyplot as plt
import numpy as np

from mnistcnn import fonts, i18n
from mnistcnn.i18n import _

#: The attribute of a figure that holds its text alternative.
ALT_ATTRIBUTE = "mnistcnn_text_alternative"
#: The largest confusions named in the confusion matrix's text.
TOP_CONFUSIONS = 5
#: Misclassified pairs named in the gallery's text.
PAIRS_NAMED = 12


def _use_fonts() -> None:
    """The CJK font behind DejaVu Sans; an English figure is drawn without it if it is missing."""
    try:
        fonts.use_cjk_font()
    except FileNotFoundError:
        if i18n.language() != i18n.SOURCE_LANGUAGE:
            raise


def _in_kernel() -> bool:
    """True in a Jupyter kernel (where a figure is displayed as an output of the cell)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython else None
    return getattr(shell, "kernel", None) is not None


def text_alternative(fig) -> str | None:
    """The text alternative a figure of this module was given (None for any other figure)."""
    return getattr(fig, ALT_ATTRIBUTE, None)


def show(fig, text: str | None = None):
    """Keep ``text`` (default: :func:`describe_figure`) as the figure's text alternative; in a notebook,
    show the figure and then the text under it. Returns the figure."""
    text = describe_figure(fig) if text is None else text
    setattr(fig, ALT_ATTRIBUTE, text)
    if _in_kernel():
        from IPython.display import display

        display(fig)
        plt.close(fig)  # shown once: the inline backend would show it again at the cell's end
        display(_bundle(text), raw=True)
    return fig


def _bundle(text: str) -> dict:
    """The text as an output: HTML paragraphs (rendered in JupyterLab and in the feedback's HTML) and
    the same as plain text."""
    paragraphs = "".join(f"<p>{html.escape(line)}</p>" for line in text.splitlines() if line.strip())
    return {"text/html": f'<div class="mnistcnn-text-alternative">{paragraphs}</div>', "text/plain": text}


# --------------------------------------------------------------------------- digit grids


def _digit_grid(images, labels, n: int, columns: int, predictions=None, title: str | None = None):
    rows = int(np.ceil(n / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(1.3 * columns, 1.5 * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(np.asarray(images[i]).reshape(28, 28), cmap="gray_r", vmin=0)
        text, color = f"{int(labels[i])}", "black"
        if predictions is not None:
            text = _("true {true} / pred {pred}").format(true=int(labels[i]), pred=int(predictions[i]))
            color = "crimson" if int(predictions[i]) != int(labels[i]) else "black"
        ax.set_title(text, fontsize=8 if predictions is not None else 10, color=color)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _rows(values, columns: int) -> list[str]:
    """``values`` as text, row by row of the grid: "row 1: 5 0 4 1 ..."."""
    return [_("row {i}: {values}").format(i=r + 1, values=" ".join(values[start:start + columns]))
            for r, start in enumerate(range(0, len(values), columns))]


def describe_digits(labels, n: int, columns: int, predictions=None, title: str | None = None) -> str:
    """The text alternative of a digit grid: its size, then the labels (and predictions) row by row."""
    rows = int(np.ceil(n / columns))
    lines = [title] if title else []
    lines.append(_("Figure: {n} handwritten digits in {rows} rows of {columns}.").format(n=n, rows=rows,
                                                                                         columns=columns))
    if predictions is None:
        lines.append(_("Their labels, row by row:"))
        lines += _rows([str(int(label)) for label in labels[:n]], columns)
    else:
        lines.append(_("True digit → prediction, row by row:"))
        lines += _rows([f"{int(t)}→{int(p)}" for t, p in zip(labels[:n], predictions[:n])], columns)
    return "\n".join(lines)


def show_digits(images, labels, n: int = 32, columns: int = 8, predictions=None, title: str | None = None):
    """A grid of the first ``n`` digits with their labels (and predictions, if given), and its text."""
    _use_fonts()
    n = min(n, len(images))
    fig = _digit_grid(images, labels, n, columns, predictions, title)
    return show(fig, describe_digits(labels, n, columns, predictions, title))


# --------------------------------------------------------------------------- confusion matrix


def confusion_matrix(y_true, y_pred, n_classes: int = 10) -> np.ndarray:
    """Counts: row = true digit, column = predicted digit."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)), 1)
    return matrix


def largest_confusions(matrix: np.ndarray, top: int = TOP_CONFUSIONS) -> list[tuple[int, int, int]]:
    """(true digit, predicted digit, count) of the largest off-diagonal counts, largest first."""
    off = [(int(matrix[i, j]), i, j) for i in range(len(matrix)) for j in range(len(matrix))
           if i != j and matrix[i, j]]
    off.sort(key=lambda c: (-c[0], c[1], c[2]))
    return [(i, j, count) for count, i, j in off[:top]]


def describe_confusion_matrix(matrix: np.ndarray, title: str) -> str:
    """The text alternative of a confusion matrix: the accuracy and the largest confusions."""
    total, right = int(matrix.sum()), int(np.trace(matrix))
    lines = [title, _("Figure: the confusion matrix of {n} digits (rows: true digit, columns: predicted "
                      "digit).").format(n=f"{total:,}"),
             _("Overall accuracy: {accuracy} ({right} of {n} right).").format(
                 accuracy=f"{right / max(total, 1):.2%}", right=f"{right:,}", n=f"{total:,}")]
    confusions = largest_confusions(matrix)
    if not confusions:
        lines.append(_("No digit was taken for another."))
        return "\n".join(lines)
    lines.append(_("The largest confusions:"))
    lines += [i18n.ngettext("{true} taken for {pred}: {count} time", "{true} taken for {pred}: {count} times",
                            count).format(true=i, pred=j, count=count) for i, j, count in confusions]
    return "\n".join(lines)


def plot_confusion_matrix(y_true, y_pred, title: str | None = None):
    """The confusion matrix as a heat map with the counts written in the cells, and its text."""
    _use_fonts()
    title = title or _("Confusion matrix (test set)")
    matrix = confusion_matrix(y_true, y_pred)
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    # A log-like scale: the diagonal (about 1000 per digit) would otherwise hide the few mistakes.
    im = ax.imshow(np.log1p(matrix), cmap="Blues")
    for i in range(10):
        for j in range(10):
            if matrix[i, j]:
                ax.text(j, i, matrix[i, j], ha="center", va="center", fontsize=8,
                        color="white" if i == j else "black")
    ax.set_xticks(range(10))
    ax.set_yticks(range(10))
    ax.set_xlabel(_("predicted digit"))
    ax.set_ylabel(_("true digit"))
    ax.set_title(title)
    fig.colorbar(im, ax=ax, label=_("log(1 + count)"))
    fig.tight_layout()
    return show(fig, describe_confusion_matrix(matrix, title))


# --------------------------------------------------------------------------- mistakes


def describe_misclassified(y_true, y_pred, shown) -> str:
    """The text alternative of the gallery of mistakes: how many, and the first pairs."""
    total = int(np.sum(np.asarray(y_true) != np.asarray(y_pred)))
    pairs = [_("{true} taken for {pred}").format(true=int(y_true[i]), pred=int(y_pred[i]))
             for i in shown[:PAIRS_NAMED]]
    return "\n".join([
        _("Figure: {total} misclassified test digits, the first {shown} shown with the true digit and the "
          "prediction.").format(total=f"{total:,}", shown=len(shown)),
        _("The first ones: {pairs}.").format(pairs=_("; ").join(pairs)),
    ])


def show_misclassified(images, y_true, y_pred, n: int = 24, columns: int = 8):
    """The first ``n`` test digits the model gets wrong, with true and predicted labels, and its text."""
    _use_fonts()
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    wrong = np.flatnonzero(y_true != y_pred)
    if wrong.size == 0:
        print(_("No misclassified digits."))
        return None
    idx = wrong[:n]
    title = _("{total} misclassified test digits (first {shown} shown)").format(total=wrong.size, shown=len(idx))
    fig = _digit_grid(images[idx], y_true[idx], len(idx), columns, y_pred[idx], title)
    return show(fig, describe_misclassified(y_true, y_pred, idx))


# --------------------------------------------------------------------------- any figure of lines


def _number(value) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:.4g}"


def _describe_line(line, index: int, xlabel: str) -> str:
    """A line's label, then each point as "<x label> <x>: <y>" (e.g. "epoch 3: 0.0312")."""
    label = str(line.get_label())
    name = _("line {i}").format(i=index) if label.startswith("_") else label
    try:
        points = [(_number(x), _number(y)) for x, y in zip(line.get_xdata(), line.get_ydata())]
    except (TypeError, ValueError):
        points = [(str(x), str(y)) for x, y in zip(line.get_xdata(), line.get_ydata())]
    shown = [_("{x}: {y}").format(x=f"{xlabel} {x}".strip(), y=y) for x, y in points]
    return _("{line}: {points}").format(line=name, points=_("; ").join(shown))


def _describe_axes(ax, index: int) -> list[str]:
    title = ax.get_title() or _("untitled")
    head = _("Panel {i}: {title}. x axis: {x}; y axis: {y}.").format(
        i=index, title=title, x=ax.get_xlabel() or _("no label"), y=ax.get_ylabel() or _("no label"))
    return [head] + [_describe_line(line, i + 1, ax.get_xlabel()) for i, line in enumerate(ax.lines)]


def describe_figure(fig) -> str:
    """A text alternative of a figure of line plots: per panel its title and axis labels, then each
    line's label and its values per x (e.g. the training curves, epoch by epoch)."""
    panels = [ax for ax in fig.axes if ax.lines]
    lines = [fig._suptitle.get_text()] if getattr(fig, "_suptitle", None) is not None else []
    lines.append(i18n.ngettext("Figure: {n} panel with lines.", "Figure: {n} panels with lines.",
                               len(panels)).format(n=len(panels)))
    for i, ax in enumerate(panels):
        lines += _describe_axes(ax, i + 1)
    return "\n".join(lines)
