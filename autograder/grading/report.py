"""The class report: one HTML page with the figures embedded, from the gradebook and the stored results.

It reads as well for 300 students as for 5: distributions instead of one bar or legend entry per
student, the students worth a look named, and one table row per student linked to their feedback.
The page is the Jinja2 template ``templates/report.html.j2``; the words drawn in the figures, their
``alt`` texts and the table's columns are defined at the top of this module, in one place.
"""

from __future__ import annotations

import base64
import io
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter, PercentFormatter  # noqa: E402

from autograder.grading.language import _  # noqa: E402
from mnistcnn import i18n  # noqa: E402
from mnistcnn.constants import ACCURACY_THRESHOLD, ASSIGNMENT  # noqa: E402
from mnistcnn.i18n import N_  # noqa: E402

FEW = 10  # up to this many students, every point carries its student's name
NAMED = 12  # at most this many outliers named inside a figure (the page lists all of them)
TRAIN, VAL, GOOD, BAD, NEUTRAL = "#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b2"

# ----------------------------------------------------------------------------- words, in one place

TEXT = {
    "students": N_("students"),
    "median": N_("median"),
    "band": N_("middle half of the class (25th to 75th percentile)"),
    "scores_title": N_("Total scores"),
    "scores_x": N_("score (out of {max:g})"),
    "scores_alt": N_("Histogram of the total scores of {n} students: median {median:g} of {max:g} (middle half "
                     "{q1:g} to {q3:g}); {full} with full marks, {zero} with zero."),
    "pass_title": N_("Share of the class with full points, per graded test"),
    "pass_x": N_("students with full points"),
    "pass_alt": N_("Share of the {n} students with full points on each of the {cells} graded tests; "
                   "lowest: {lowest}."),
    "curves_title": N_("Training curves of {n} students (thin: one student; bold: median per epoch; "
                       "band: middle half)"),
    "curves_each": N_("each student ({kind})"),
    "curves_median": N_("median ({kind})"),
    "training": N_("training"),
    "validation": N_("validation"),
    "epoch": N_("epoch"),
    "loss": N_("loss (log scale)"),
    "accuracy": N_("accuracy"),
    "clipped": N_("{k} curve(s) go below this axis"),
    "curves_alt": N_("Training curves of {n} students. Final training accuracy: median {acc:.2%} (middle half "
                     "{acc_q1:.2%} to {acc_q3:.2%}); final validation accuracy: median {val:.2%}; final "
                     "training loss: median {loss:.3f}."),
    "acc_title": N_("Test accuracy measured by the grader"),
    "acc_required": N_("{t} required"),
    "acc_x": N_("test accuracy"),
    "acc_zoom": N_("{lo:.0%} to 100%: {k} of {n} students"),
    "acc_more": N_("and {k} more below"),
    "acc_alt": N_("Test accuracy of {n} trained convnets, measured by the grader: median {median:.2%}; {below} "
               "below the required {t}{names}."),
    "time_title": N_("Grading time per submission"),
    "time_x": N_("seconds{log}"),
    "time_log": N_(" (log scale)"),
    "time_alt": N_("Grading time of {n} submissions: median {median:.0f} s (middle half {q1:.0f} to {q3:.0f} s); "
                   "slowest: {slowest}."),
    "none": N_("none"),
    "separator": N_("; "),  # between the items of a list in a sentence
    "comma": N_(", "),
    "seconds_short": N_("{t:.0f} s"),
    "table_score": N_("score"),
    "table_who": N_("who"),
    "table_test": N_("graded test"),
    "table_share": N_("share"),
    "table_loss": N_("median training loss"),
    "table_val_loss": N_("median validation loss"),
    "table_accuracy": N_("median training accuracy"),
    "table_val_accuracy": N_("median validation accuracy"),
    "table_student": N_("student"),
    "table_required": N_("required accuracy"),
    "table_below": N_("below"),
    "table_reached": N_("reached"),
    "table_seconds": N_("seconds"),
    "no_data": N_("{what}: nothing to show yet."),
}


def _t(key: str) -> str:
    """The words of ``key`` in the report's language (chosen with :func:`mnistcnn.i18n.using`)."""
    return _(TEXT[key])


@dataclass(frozen=True)
class Column:
    """A column of the students' table: its value from the stored result and the gradebook's submission."""

    key: str
    header: str
    value: Callable  # (result: dict, submission or None) -> value, None when there is none
    fmt: str = "{}"
    optional: bool = False  # shown only when some student has a value


def _note(r: dict, sub) -> str | None:
    return r.get("error") if r.get("status") != "ok" else (r.get("accuracy_note") or None)


def _lateness(late: dict | None) -> str | None:
    """The late policy's record of one student, short: on time, time unknown, or hours late and penalty."""
    if not late:
        return None
    if not late.get("timestamp"):
        return _("time unknown")
    if not late.get("seconds_late"):
        return _("on time")
    return _("{hours:g} h late").format(hours=late["hours_late"]) + (f", -{late['penalty']:g}" if late.get("penalty")
                                                                    else "")


COLUMNS = [
    Column("score", N_("score"), lambda r, sub: None if sub is None else float(sub.score), "{:g}"),
    Column("accuracy", N_("test accuracy"), lambda r, sub: r.get("accuracy"), "{:.2%}"),
    Column("seconds", N_("grading time (s)"), lambda r, sub: r.get("seconds"), "{:.0f}"),
    Column("submitted", N_("submitted"), lambda r, sub: sub and sub.timestamp, "{:%Y-%m-%d %H:%M}", optional=True),
    Column("penalty", N_("late penalty"), lambda r, sub: sub and (sub.late_submission_penalty or None), "{:g}",
           optional=True),
    Column("late", N_("lateness"), lambda r, sub: _lateness(r.get("late")), optional=True),
    Column("note", N_("note"), _note),
]

# ----------------------------------------------------------------------------- the data


def class_data(ws) -> dict:
    """Everything the report shows, as plain data (the tests check the figures against it)."""
    results = {r["student"]: r for r in ws.results()}
    run = _read_json(ws.path / "run.json")
    data = _gradebook_data(ws, results)
    data.update({
        "histories": {s: r["history"] for s, r in results.items() if r.get("history")},
        "accuracies": {s: r["accuracy"] for s, r in results.items() if r.get("accuracy") is not None},
        "seconds": {s: r["seconds"] for s, r in results.items() if r.get("seconds") is not None},
        "errors": {s: r["error"] for s, r in results.items() if r.get("status") != "ok"},
        "incidents": {s: [i["text"] for i in r.get("incidents", [])] for s, r in results.items()
                      if r.get("incidents")},
        "languages": {s: r.get("languages") or {} for s, r in results.items()},
        "sandbox": {s: r.get("sandbox", "none") for s, r in results.items()},
        "feedback": {s: _feedback_files(ws, s) for s in results},
        "run": run,
    })
    data["thresholds"], data["threshold"] = _thresholds(results, run)
    data["outliers"] = find_outliers(data)
    return data


def _gradebook_data(ws, results: dict) -> dict:
    """Scores, per-test pass rates and the table's column values, from the gradebook."""
    from nbgrader.api import Gradebook, MissingEntry

    scores, cells, notebooks, columns = {}, {}, {}, {}
    with Gradebook(ws.db_url) as gb:
        assignment = gb.find_assignment(ASSIGNMENT)
        names = [f"{nb.name}:{c.name}" for nb in sorted(assignment.notebooks, key=lambda n: n.name)
                 for c in nb.grade_cells]
        for student in sorted(results):
            try:
                sub = gb.find_submission(ASSIGNMENT, student)
            except MissingEntry:
                sub = None
            columns[student] = {c.key: c.value(results[student], sub) for c in COLUMNS}
            if sub is None:
                continue
            scores[student] = float(sub.score)
            notebooks[student] = {nb.name: (float(nb.score), float(nb.max_score)) for nb in sub.notebooks}
            for nb in sub.notebooks:
                for g in nb.grades:
                    cells.setdefault(f"{nb.name}:{g.name}", {})[student] = (float(g.score or 0), float(g.max_score))
        max_score = float(assignment.max_score)
    pass_rate = {name: (sum(s >= m for s, m in cells[name].values()) / len(cells[name])) if cells.get(name) else 0.0
                 for name in names}
    passed = {name: sum(s >= m for s, m in cells.get(name, {}).values()) for name in names}
    return {"max_score": max_score, "scores": scores, "pass_rate": pass_rate, "passed": passed,
            "notebook_scores": notebooks, "columns": columns}


def _feedback_files(ws, student: str) -> list[str]:
    """The student's feedback pages, relative to the report (which sits at the top of the grading folder)."""
    folder = ws.path / "feedback" / student / ASSIGNMENT
    return [p.relative_to(ws.path).as_posix() for p in sorted(folder.glob("*.html"))]


def percent(fraction: float) -> str:
    """A threshold as a percentage with the digits it has: 99%, 99.5%."""
    return f"{round(fraction * 100, 2):g}%"


def _thresholds(results: dict, run: dict) -> tuple[dict, float]:
    """Each student's accuracy threshold as stored with their result, and the class's (the most common
    one; else the run's; else the course's)."""
    own = {s: float(r["threshold"]) for s, r in results.items() if r.get("threshold")}
    if own:
        return own, Counter(own.values()).most_common(1)[0][0]
    return own, float(run.get("threshold") or ACCURACY_THRESHOLD)


def find_outliers(data: dict) -> dict:
    """The students worth a look: below the accuracy threshold, no trained model, the slowest gradings."""
    below = sorted(((s, a) for s, a in data["accuracies"].items() if a < data["thresholds"].get(s, data["threshold"])),
                   key=lambda item: (item[1], item[0]))
    no_model = sorted(s for s in data["scores"] if s not in data["accuracies"])
    return {"below": below, "no_model": no_model, "slow": _slowest(data["seconds"])}


def _slowest(seconds: dict) -> list[tuple[str, float]]:
    """Gradings far slower than the class (above the upper quartile by 1.5 interquartile ranges), slowest
    first; at least the slowest one."""
    if not seconds:
        return []
    q1, q3 = np.percentile(list(seconds.values()), [25, 75])
    ranked = sorted(seconds.items(), key=lambda item: (-item[1], item[0]))
    far = [(s, t) for s, t in ranked if t > q3 + 1.5 * (q3 - q1)]
    return far or ranked[:1]


def _read_json(path: Path) -> dict:
    import json

    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}


# ----------------------------------------------------------------------------- the figures, one function each


def build_figures(data: dict) -> dict:
    """name -> (matplotlib figure, alt text saying in words what it shows)."""
    figures = {}
    for name, (draw, key, title) in FIGURES.items():
        fig, alt = draw(data)
        figures[name] = (fig, alt if data[key] else _t("no_data").format(what=_t(title).format(n=0)))
    return figures


def _quartiles(values) -> tuple[float, float, float]:
    if not len(values):
        return (float("nan"),) * 3
    q1, med, q3 = np.percentile(values, [25, 50, 75])
    return float(q1), float(med), float(q3)


def _jitter(n: int) -> np.ndarray:
    """Vertical spread of a strip of n points, the same on every run."""
    return np.random.default_rng(0).uniform(-0.3, 0.3, n) if n > 1 else np.zeros(n)


def _point_style(n: int) -> dict:
    return {"s": 36 if n <= FEW else 14, "alpha": 0.9 if n <= FEW else 0.55, "zorder": 3, "linewidths": 0}


def _name_points(ax, points: list[tuple[str, float, float]]) -> None:
    """Student names next to their points, alternately above and below; on the left of points near the
    right edge."""
    lo, hi = ax.get_xlim()
    for i, (name, x, y) in enumerate(points):
        right = ax.transLimits.transform((x, y))[0] > 0.75 if hi > lo else False
        ax.annotate(name, (x, y), xytext=(-4 if right else 4, 7 if i % 2 == 0 else -11), textcoords="offset points",
                    fontsize=7, ha="right" if right else "left")


def _name_curve_ends(ax, ends: list[tuple[str, float, float]]) -> None:
    """Names at the right end of few curves, moved apart vertically so that none covers another."""
    lo, hi = ax.get_ylim()
    gap, ends = 0.05 * (hi - lo), sorted(ends, key=lambda end: end[2])
    at = []
    for y in (end[2] for end in ends):
        at.append(max(min(max(y, lo), hi), at[-1] + gap if at else -np.inf))
    shift = min(0.0, hi - at[-1]) if at else 0.0
    for (name, x, y), text_y in zip(ends, at):
        ax.annotate(name, (x, y), xytext=(x + 0.1, text_y + shift), textcoords="data", fontsize=7, va="center",
                    arrowprops={"arrowstyle": "-", "color": "grey", "linewidth": 0.5})


def _name_bars(ax, values: dict, counts: np.ndarray, edges: np.ndarray) -> None:
    """For few students: above each bar of the histogram, the names of the students in it."""
    bins = {s: min(int(np.searchsorted(edges, v, side="right")) - 1, len(counts) - 1) for s, v in values.items()}
    for b in sorted(set(bins.values())):
        names = ", ".join(s for s in sorted(values) if bins[s] == b)
        ax.text((edges[b] + edges[b + 1]) / 2, counts[b], names, rotation=90, ha="center", va="bottom", fontsize=7)
    ax.set_ylim(0, max(counts) * 2 + 1)


def fig_scores(data: dict):
    values = list(data["scores"].values())
    top = int(np.ceil(data["max_score"]))
    fig, ax = plt.subplots(figsize=(7, 3.4))
    counts, edges, _ = ax.hist(values, bins=np.arange(-0.5, top + 1.5, 1), color=TRAIN, edgecolor="white")
    q1, med, q3 = _quartiles(values)
    if values:
        ax.axvline(med, color="black", linestyle="--", linewidth=1, label=f"{_t('median')} {med:g}")
        ax.legend(loc="upper left", fontsize=8)
    if 0 < len(values) <= FEW:
        _name_bars(ax, data["scores"], counts, edges)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(-1, top + 1)
    ax.set_xlabel(_t("scores_x").format(max=data["max_score"]))
    ax.set_ylabel(_t("students"))
    ax.set_title(_t("scores_title"))
    alt = _t("scores_alt").format(n=len(values), median=med, max=data["max_score"], q1=q1, q3=q3,
                                    full=sum(v >= data["max_score"] for v in values), zero=sum(v == 0 for v in values))
    return fig, alt


def fig_pass_rate(data: dict):
    names = list(data["pass_rate"])
    n = len(data["scores"])
    fig, ax = plt.subplots(figsize=(8, 0.3 * max(len(names), 4) + 1.2))
    ax.barh(names, [data["pass_rate"][c] for c in names], color=GOOD)
    for i, c in enumerate(names):
        ax.text(data["pass_rate"][c], i, f" {data['passed'][c]}/{n}", va="center", fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.12)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel(_t("pass_x"))
    ax.set_title(_t("pass_title"))
    lowest = sorted(names, key=lambda c: data["pass_rate"][c])[:3]
    alt = _t("pass_alt").format(n=n, cells=len(names), lowest=_t("separator").join(
        f"{c} {data['pass_rate'][c]:.0%}" for c in lowest) or _t("none"))
    return fig, alt


def _per_epoch(histories: dict, key: str) -> tuple[np.ndarray, np.ndarray]:
    """Epochs and the (25th, 50th, 75th) percentiles per epoch of one curve over the students who have it."""
    curves = [h[key] for h in histories.values() if h.get(key)]
    longest = max((len(c) for c in curves), default=0)
    table = np.full((len(curves), longest), np.nan)
    for i, c in enumerate(curves):
        table[i, :len(c)] = c
    if not curves:
        return np.arange(1, 1), np.empty((3, 0))
    return np.arange(1, longest + 1), np.nanpercentile(table, [25, 50, 75], axis=0)


def _draw_curves(ax, histories: dict, key: str, color: str, style: str) -> None:
    n = len(histories)
    alpha = 0.8 if n <= FEW else max(0.04, min(0.3, 6 / n))
    for student, h in sorted(histories.items()):
        if h.get(key):
            ax.plot(range(1, len(h[key]) + 1), h[key], style, color=color, linewidth=0.7, alpha=alpha,
                    gid=f"{student}:{key}")
    epochs, (q1, med, q3) = _per_epoch(histories, key)
    if len(epochs):
        ax.fill_between(epochs, q1, q3, color=color, alpha=0.25, linewidth=0, gid=f"band:{key}")
        ax.plot(epochs, med, style, color=color, linewidth=2.6, gid=f"median:{key}")


def _curves_legend(ax) -> None:
    handles = []
    for kind, color, style in ((_t("training"), TRAIN, "-"), (_t("validation"), VAL, "--")):
        handles += [Line2D([], [], color=color, linestyle=style, linewidth=width, label=_t(words).format(kind=kind))
                    for width, words in ((0.7, "curves_each"), (2.6, "curves_median"))]
    handles.append(Patch(color="grey", alpha=0.35, label=_t("band")))
    ax.legend(handles=handles, fontsize=7)


def _clip_accuracy_axis(ax, histories: dict) -> None:
    """Keep the class's curves readable: the axis leaves out only the curves whose lowest point is far
    below the others' (under the lower quartile of the lowest points by 1.5 interquartile ranges)."""
    lowest = np.array([min(h.get("accuracy", []) + h.get("val_accuracy", []), default=np.nan)
                       for h in histories.values()])
    lowest = lowest[~np.isnan(lowest)]
    if not len(lowest):
        return
    q1, q3 = np.percentile(lowest, [25, 75])
    low = float(lowest[lowest >= q1 - 1.5 * (q3 - q1)].min())
    low = max(0.0, low - 0.05 * (1 - low))
    ax.set_ylim(low, 1.0 + 0.02 * (1 - low))
    clipped = int((lowest < low).sum())
    if clipped:
        ax.text(0.99, 0.02, _t("clipped").format(k=clipped), transform=ax.transAxes, ha="right", fontsize=7)


def fig_curves(data: dict):
    histories = data["histories"]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, metric in ((ax_loss, "loss"), (ax_acc, "accuracy")):
        _draw_curves(ax, histories, metric, TRAIN, "-")
        _draw_curves(ax, histories, f"val_{metric}", VAL, "--")
        ax.set_xlabel(_t("epoch"))
        ax.set_ylabel(_t(metric))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if any(v > 0 for h in histories.values() for v in h.get("loss", [])):
        ax_loss.set_yscale("log")
    _clip_accuracy_axis(ax_acc, histories)
    if len(histories) <= FEW:
        _name_curve_ends(ax_acc, [(s, len(h["accuracy"]), h["accuracy"][-1]) for s, h in sorted(histories.items())
                                  if h.get("accuracy")])
    _curves_legend(ax_loss)
    fig.suptitle(_t("curves_title").format(n=len(histories)))
    return fig, _curves_alt(histories)


def _curves_alt(histories: dict) -> str:
    def final(key):
        return _quartiles([h[key][-1] for h in histories.values() if h.get(key)])

    (acc_q1, acc, acc_q3), (_, val, _), (_, loss, _) = final("accuracy"), final("val_accuracy"), final("loss")
    return _t("curves_alt").format(n=len(histories), acc=acc, acc_q1=acc_q1, acc_q3=acc_q3, val=val, loss=loss)


def fig_accuracy(data: dict):
    acc, t = data["accuracies"], data["threshold"]
    below = data["outliers"]["below"]
    fig, (ax, ax_zoom) = plt.subplots(1, 2, figsize=(11, 3.6), gridspec_kw={"width_ratios": [3, 2]})
    low = {s for s, _ in below}
    students = sorted(acc, key=lambda s: (s in low, s))  # those below drawn last, on top
    x, y = np.array([acc[s] for s in students]), _jitter(len(students))
    style = _point_style(len(x))
    ax.scatter(x, y, c=[BAD if s in low else GOOD for s in students], gid="students",
               **{**style, "s": [style["s"] * (2 if s in low else 1) for s in students]})
    ax.axvline(t, color="black", linestyle=":", label=_t("acc_required").format(t=percent(t)), gid="threshold")
    ax.set_ylim(-0.6, 0.6)
    named = students if len(students) <= FEW else [s for s, _ in below[:NAMED]]
    _name_points(ax, [(s, acc[s], y[students.index(s)]) for s in named])
    if len(below) > NAMED and len(students) > FEW:
        ax.text(0.01, 0.03, _t("acc_more").format(k=len(below) - NAMED), transform=ax.transAxes, fontsize=7)
    ax.set_yticks([])
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel(_t("acc_x"))
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(_t("acc_title"))
    _accuracy_zoom(ax_zoom, x, t)
    names = _(": {names}").format(names=_t("comma").join(f"{s} {a:.2%}" for s, a in below)) if below else ""
    alt = _t("acc_alt").format(n=len(x), median=_quartiles(x)[1], below=len(below), t=percent(t), names=names)
    return fig, alt


def _accuracy_zoom(ax, values: np.ndarray, t: float) -> None:
    """A histogram of the accuracies from one point below the threshold to 100 %, in 0.1 % bins."""
    lo = max(0.0, t - 0.01)
    bins = np.linspace(lo, 1.0, int(round((1.0 - lo) / 0.001)) + 1)
    near = values[values >= lo]
    ax.hist([near[near < t], near[near >= t]], bins=bins, color=[BAD, GOOD], edgecolor="white", stacked=True)
    ax.axvline(t, color="black", linestyle=":")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.xaxis.set_major_locator(MaxNLocator(5))
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=1))
    ax.set_xlim(lo, 1.0)
    ax.set_ylabel(_t("students"))
    ax.set_title(_t("acc_zoom").format(lo=lo, k=len(near), n=len(values)), fontsize=9)


def fig_time(data: dict):
    seconds = data["seconds"]
    students = sorted(seconds)
    x, y = np.array([seconds[s] for s in students], dtype=float), 1 + _jitter(len(students))
    fig, ax = plt.subplots(figsize=(9, 2.8))
    if len(x):
        ax.boxplot([x], orientation="horizontal", widths=0.7, showfliers=False, whis=1.5)
    ax.scatter(x, y, color=NEUTRAL, gid="students", **_point_style(len(x)))
    slow = data["outliers"]["slow"]
    named = students if len(students) <= FEW else [s for s, _ in slow[:NAMED]]
    _name_points(ax, [(s, seconds[s], y[students.index(s)]) for s in named])
    log = len(x) > 0 and x.min() > 0 and x.max() / x.min() > 20
    if log:
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_yticks([])
    ax.set_xlabel(_t("time_x").format(log=_t("time_log") if log else ""))
    ax.set_title(_t("time_title"))
    q1, med, q3 = _quartiles(x)
    alt = _t("time_alt").format(n=len(x), median=med, q1=q1, q3=q3,
                                  slowest=_t("comma").join(f"{s} " + _t("seconds_short").format(t=t) for s, t in slow)
                                  or _t("none"))
    return fig, alt


#: The figures, in the page's order: name -> (drawing function, the data it draws, its title's words).
FIGURES = {"scores": (fig_scores, "scores", "scores_title"), "pass_rate": (fig_pass_rate, "scores", "pass_title"),
           "curves": (fig_curves, "histories", "curves_title"), "accuracy": (fig_accuracy, "accuracies", "acc_title"),
           "time": (fig_time, "seconds", "time_title")}


# ----------------------------------------------------------------------------- the figures' numbers, as tables


def figure_tables(data: dict) -> dict:
    """name -> the numbers a figure shows, as a table beside it: {"headers": [...], "rows": [[...], ...]}."""
    return {name: table(data) for name, table in TABLES.items()}


def table_scores(data: dict) -> dict:
    by_score: dict[float, list[str]] = {}
    for student, score in sorted(data["scores"].items()):
        by_score.setdefault(score, []).append(student)
    return {"headers": [_t("table_score"), _t("students"), _t("table_who")],
            "rows": [[f"{score:g}", str(len(who)), ", ".join(who)] for score, who in sorted(by_score.items())]}


def table_pass_rate(data: dict) -> dict:
    n = len(data["scores"])
    return {"headers": [_t("table_test"), _t("pass_x"), _t("table_share")],
            "rows": [[name, f"{data['passed'][name]}/{n}", f"{rate:.0%}"] for name, rate in data["pass_rate"].items()]}


def table_curves(data: dict) -> dict:
    keys = ("loss", "val_loss", "accuracy", "val_accuracy")
    medians = {key: dict(zip(*_epoch_medians(data["histories"], key))) for key in keys}
    epochs = sorted({e for m in medians.values() for e in m})
    cell = {"loss": "{:.4f}", "val_loss": "{:.4f}", "accuracy": "{:.2%}", "val_accuracy": "{:.2%}"}
    return {"headers": [_t("epoch"), *(_t(f"table_{key}") for key in keys)],
            "rows": [[str(e), *(cell[k].format(medians[k][e]) if e in medians[k] else "" for k in keys)]
                     for e in epochs]}


def _epoch_medians(histories: dict, key: str) -> tuple[list[int], list[float]]:
    epochs, (_, med, _) = _per_epoch(histories, key) if histories else (np.arange(1, 1), np.empty((3, 0)))
    return [int(e) for e in epochs], [float(m) for m in med]


def table_accuracy(data: dict) -> dict:
    low = {s for s, _ in data["outliers"]["below"]}
    rows = sorted(data["accuracies"].items(), key=lambda item: (item[1], item[0]))
    return {"headers": [_t("table_student"), _t("acc_x"), _t("table_required")],
            "rows": [[s, f"{a:.2%}", _t("table_below") if s in low else _t("table_reached")] for s, a in rows]}


def table_time(data: dict) -> dict:
    rows = sorted(data["seconds"].items(), key=lambda item: (-item[1], item[0]))
    return {"headers": [_t("table_student"), _t("table_seconds")], "rows": [[s, f"{t:.0f}"] for s, t in rows]}


#: The numbers of each figure (same names as FIGURES).
TABLES = {"scores": table_scores, "pass_rate": table_pass_rate, "curves": table_curves, "accuracy": table_accuracy,
          "time": table_time}


# ----------------------------------------------------------------------------- the page


def _png(fig, save_as: Path | None = None) -> str:
    buf = io.BytesIO()
    with warnings.catch_warnings():  # many names around the axes: the default layout, still saved whole
        warnings.filterwarnings("ignore", message="Tight layout not applied")
        fig.tight_layout()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    if save_as is not None:
        save_as.parent.mkdir(parents=True, exist_ok=True)
        save_as.write_bytes(buf.getvalue())
    return base64.b64encode(buf.getvalue()).decode()


def _template(lang: str = i18n.SOURCE_LANGUAGE):
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("autograder.grading", "templates"), autoescape=select_autoescape(["j2"]),
                      extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True)
    env.install_gettext_translations(i18n.translations(lang, "grader"), newstyle=True)
    return env.get_template("report.html.j2")


def student_rows(data: dict) -> tuple[list[Column], list[dict]]:
    """The table: the columns with something to show, and one row per student (cells as text and sort key)."""
    columns = [c for c in COLUMNS if not c.optional or any(v[c.key] is not None for v in data["columns"].values())]
    rows = []
    for student in sorted(data["columns"]):
        values = data["columns"][student]
        marks = data["notebook_scores"].get(student, {})
        links = [{"href": quote(path), "name": Path(path).stem, "score": marks.get(Path(path).stem)}
                 for path in data["feedback"][student]]
        cells = [{"text": "" if values[c.key] is None else c.fmt.format(values[c.key]),
                  "sort": _sort_key(values[c.key]), "lang": _cell_language(c, values)} for c in columns]
        rows.append({"student": student, "feedback": links, "cells": cells})
    return columns, rows


def _cell_language(column: Column, values: dict) -> str | None:
    """A note is the student's (in their submission's language); one saying why grading failed is the grader's
    own error message, in English."""
    if column.key != "note" or values[column.key] is None:
        return None
    return "student" if values.get("score") is not None else "en"


def _sort_key(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (int, float)):
        return f"{value:020.6f}"
    return str(value)


def note_languages(data: dict) -> dict:
    """student -> the language of each of their notes (that of the notebook it is about, else of the submission),
    as HTML's ``lang`` attribute has it: a note is shown as the student read it."""
    from autograder.grading.language import submission_language

    out = {}
    for student, texts in data["incidents"].items():
        langs = data["languages"].get(student, {})
        out[student] = [_html_lang(submission_language(langs))] * len(texts)
    return out


def _html_lang(lang: str) -> str:
    return lang.replace("_", "-")


def page_context(data: dict, figures: list[dict]) -> dict:
    from autograder.grading.language import submission_language

    columns, rows = student_rows(data)
    accs, t = data["accuracies"], data["threshold"]
    others = [percent(v) for v in sorted({v for v in data["thresholds"].values() if v != t})]
    return {
        "n": len(data["scores"]), "max_score": data["max_score"], "threshold": percent(t), "other_thresholds": others,
        "mean": sum(data["scores"].values()) / len(data["scores"]) if data["scores"] else 0.0,
        "median": _quartiles(list(data["scores"].values()))[1] if data["scores"] else 0.0,
        "trained": len(accs), "reached": len(accs) - len(data["outliers"]["below"]),
        "errors": data["errors"], "figures": figures, "columns": columns, "rows": rows,
        "outliers": data["outliers"], "incidents": data["incidents"], "note_langs": note_languages(data),
        "student_langs": {s: _html_lang(submission_language(langs)) for s, langs in data["languages"].items()},
        "unused": data["run"].get("unmapped", []), "limits": data["run"].get("limits") or {},
        "unsandboxed": sorted(s for s, mode in data["sandbox"].items() if mode != "bubblewrap"),
    }


def write_report(ws, language: str = i18n.SOURCE_LANGUAGE) -> Path:
    """The class report in ``language`` (the instructor's choice: ``mnistcnn-grade --language``)."""
    from mnistcnn.fonts import use_cjk_font

    data = class_data(ws)
    with i18n.using(language), matplotlib.rc_context():
        if language != i18n.SOURCE_LANGUAGE:
            use_cjk_font()  # the figures' words in the report's language
        # Embedded in the page, and also as PNG files next to it (for slides or a course site).
        tables = figure_tables(data)
        figures = [{"name": name, "alt": alt, "png": _png(fig, ws.path / "report_figures" / f"{name}.png"),
                    "table": tables[name]} for name, (fig, alt) in build_figures(data).items()]
        page = _template(language).render(**page_context(data, figures))
    out = ws.path / "report.html"
    out.write_text(page)
    return out
