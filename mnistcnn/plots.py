"""Figures of the lessons: digit grids, a confusion matrix, a gallery of mistakes."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np


def show_digits(images, labels, n: int = 32, columns: int = 8, predictions=None, title: str | None = None):
    """A grid of the first ``n`` digits with their labels (and predictions, if given)."""
    n = min(n, len(images))
    rows = int(np.ceil(n / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(1.3 * columns, 1.5 * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(np.asarray(images[i]).reshape(28, 28), cmap="gray_r", vmin=0)
        text = f"{int(labels[i])}"
        color = "black"
        if predictions is not None:
            text = f"true {int(labels[i])} / pred {int(predictions[i])}"
            color = "crimson" if int(predictions[i]) != int(labels[i]) else "black"
        ax.set_title(text, fontsize=8 if predictions is not None else 10, color=color)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def confusion_matrix(y_true, y_pred, n_classes: int = 10) -> np.ndarray:
    """Counts: row = true digit, column = predicted digit."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)), 1)
    return matrix


def plot_confusion_matrix(y_true, y_pred, title: str = "Confusion matrix (test set)"):
    """The confusion matrix as a heat map with the counts written in the cells."""
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
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, label="log(1 + count)")
    fig.tight_layout()
    return fig


def show_misclassified(images, y_true, y_pred, n: int = 24, columns: int = 8):
    """The first ``n`` test digits the model gets wrong, with true and predicted labels."""
    wrong = np.flatnonzero(np.asarray(y_true) != np.asarray(y_pred))
    if wrong.size == 0:
        print("No misclassified digits.")
        return None
    idx = wrong[:n]
    return show_digits(images[idx], np.asarray(y_true)[idx], n=len(idx), columns=columns,
                       predictions=np.asarray(y_pred)[idx],
                       title=f"{wrong.size} misclassified test digits (first {len(idx)} shown)")
