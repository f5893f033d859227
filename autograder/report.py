"""The class report: one HTML page with the figures embedded, from the gradebook and the results."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from mnistcnn.expected import ACCURACY_THRESHOLD  # noqa: E402


def class_data(ws) -> dict:
    """Everything the report shows, as plain data (the tests check the figures against it)."""
    from nbgrader.api import Gradebook, MissingEntry

    from autograder.grade import ASSIGNMENT

    results = {r["student"]: r for r in ws.results()}
    scores, cells = {}, {}
    with Gradebook(ws.db_url) as gb:
        assignment = gb.find_assignment(ASSIGNMENT)
        max_score = float(assignment.max_score)
        names = [f"{nb.name}:{c.name}" for nb in sorted(assignment.notebooks, key=lambda n: n.name)
                 for c in nb.grade_cells]
        for student in sorted(results):
            try:
                sub = gb.find_submission(ASSIGNMENT, student)
            except MissingEntry:
                continue
            scores[student] = float(sub.score)
            for nb in sub.notebooks:
                for g in nb.grades:
                    cells.setdefault(f"{nb.name}:{g.name}", {})[student] = (float(g.score or 0), float(g.max_score))
    pass_rate = {name: (sum(s >= m for s, m in cells.get(name, {}).values()) / len(cells[name]))
                 if cells.get(name) else 0.0 for name in names}
    return {
        "max_score": max_score,
        "scores": scores,
        "pass_rate": pass_rate,
        "histories": {s: r["history"] for s, r in results.items() if r.get("history")},
        "accuracies": {s: r["accuracy"] for s, r in results.items() if r.get("accuracy") is not None},
        "seconds": {s: r["seconds"] for s, r in results.items() if r.get("seconds") is not None},
        "errors": {s: r["error"] for s, r in results.items() if r.get("status") != "ok"},
        "notes": {s: r.get("accuracy_note", "") for s, r in results.items()},
        "incidents": {s: [i["text"] for i in r.get("incidents", [])] for s, r in results.items()
                      if r.get("incidents")},
        "sandbox": {s: r.get("sandbox", "none") for s, r in results.items()},
        "late": {s: r["late"] for s, r in results.items() if r.get("late")},  # late.LateRecord, as stored
        "run": _read_json(ws.path / "run.json"),
    }


def _read_json(path: Path) -> dict:
    import json

    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}


def build_figures(data: dict) -> dict:
    figs = {}

    fig, ax = plt.subplots(figsize=(6, 3.2))
    values = list(data["scores"].values())
    bins = range(0, int(data["max_score"]) + 2)
    ax.hist(values, bins=bins, color="#4c72b0", edgecolor="white", align="left")
    ax.set_xlabel(f"score (out of {data['max_score']:g})")
    ax.set_ylabel("students")
    ax.set_title("Distribution of scores")
    figs["scores"] = fig

    fig, ax = plt.subplots(figsize=(7, 0.35 * max(len(data["pass_rate"]), 4) + 1))
    names = list(data["pass_rate"])
    ax.barh(names, [data["pass_rate"][n] for n in names], color="#55a868")
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of students with full points")
    ax.set_title("Pass rate of every graded test")
    figs["pass_rate"] = fig

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    for student, h in sorted(data["histories"].items()):
        epochs = list(range(1, len(h["loss"]) + 1))
        for ax, metric in ((ax_loss, "loss"), (ax_acc, "accuracy")):
            (line,) = ax.plot(epochs, h[metric], "o-", markersize=3, label=f"{student} (training)",
                              gid=f"{student}:{metric}")
            if f"val_{metric}" in h:
                ax.plot(epochs, h[f"val_{metric}"], "s--", markersize=3, color=line.get_color(),
                        label=f"{student} (validation)", gid=f"{student}:val_{metric}")
    longest = max((len(h["loss"]) for h in data["histories"].values()), default=1)
    for ax, metric in ((ax_loss, "loss"), (ax_acc, "accuracy")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.set_xticks(range(1, longest + 1))
        if ax.lines:
            ax.legend(fontsize=7)
    fig.suptitle("Every student's training curves (solid: training, dashed: validation)")
    figs["curves"] = fig

    fig, ax = plt.subplots(figsize=(7, 0.35 * max(len(data["accuracies"]), 4) + 1))
    students = sorted(data["accuracies"])
    accs = [data["accuracies"][s] for s in students]
    ax.scatter(accs, students, color=["#55a868" if a >= ACCURACY_THRESHOLD else "#c44e52" for a in accs], zorder=3)
    ax.axvline(ACCURACY_THRESHOLD, color="black", linestyle=":", label=f"{ACCURACY_THRESHOLD:.0%} required")
    ax.set_xlabel("test accuracy (measured by the grader)")
    ax.set_title("Test accuracy of every trained convnet")
    ax.legend(loc="lower left")
    figs["accuracy"] = fig

    fig, ax = plt.subplots(figsize=(7, 0.35 * max(len(data["seconds"]), 4) + 1))
    students = sorted(data["seconds"])
    ax.barh(students, [data["seconds"][s] for s in students], color="#8172b2")
    ax.invert_yaxis()
    ax.set_xlabel("seconds")
    ax.set_title("Grading time per submission")
    figs["time"] = fig
    return figs


def _png(fig, save_as: Path | None = None) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    if save_as is not None:
        save_as.parent.mkdir(parents=True, exist_ok=True)
        save_as.write_bytes(buf.getvalue())
    return base64.b64encode(buf.getvalue()).decode()


def write_report(ws) -> Path:
    data = class_data(ws)
    figs = build_figures(data)
    n = len(data["scores"])
    mean = sum(data["scores"].values()) / n if n else 0.0
    rows = []
    for student in sorted(set(data["scores"]) | set(data["errors"])):
        score = data["scores"].get(student)
        acc = data["accuracies"].get(student)
        note = data["errors"].get(student) or data["notes"].get(student) or ""
        rows.append(
            f"<tr><td>{html.escape(student)}</td><td>{'' if score is None else f'{score:g}'}</td>"
            f"<td>{'' if acc is None else f'{acc:.2%}'}</td><td>{data['seconds'].get(student, '')}</td>"
            f"<td>{html.escape(note)}</td>{_late_cell(data['late'].get(student))}</tr>")
    notes_html = "<table><tr><th>student</th><th>note</th></tr>" + "".join(
        f"<tr><td>{html.escape(st)}</td><td>{html.escape(t)}</td></tr>"
        for st in sorted(data["incidents"]) for t in data["incidents"][st]) + "</table>" \
        if data["incidents"] else "<p>None.</p>"
    unused = data["run"].get("unmapped", [])
    unused_html = "<ul>" + "".join(f"<li>{html.escape(str(p))}: {html.escape(str(w))}</li>" for p, w in unused) \
        + "</ul>" if unused else "<p>None.</p>"
    unsandboxed = sorted(st for st, mode in data["sandbox"].items() if mode != "bubblewrap")
    if unsandboxed:
        sandbox_html = (f"<p style='color:#b00;font-weight:bold'>WARNING: {len(unsandboxed)} submission(s) were "
                        f"graded WITHOUT the sandbox (--unsandboxed): {html.escape(', '.join(unsandboxed))}. "
                        "Their code ran with the grader's permissions.</p>")
    else:
        limits = data["run"].get("limits") or {}
        sandbox_html = ("<p>Every notebook ran in the grader's sandbox (bubblewrap: no network, only its own "
                        "folder writable" + (f"; limits per notebook: {limits.get('wall', 0):.0f} s, "
                                             f"{limits.get('memory', 0) / 2**30:.1f} GiB of memory, "
                                             f"{limits.get('nproc', 0)} processes"
                                             if limits else "") + ").</p>")
    # Embedded in the page, and also as PNG files next to it (for slides or a course site).
    images = "\n".join(f'<figure><img alt="{k}" src="data:image/png;base64,'
                       f'{_png(f, ws.path / "report_figures" / f"{k}.png")}"></figure>' for k, f in figs.items())
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Class report: Convnets on MNIST</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}
figure{{margin:1.5em 0}}</style></head><body>
<h1>Class report: Convnets on MNIST</h1>
<p>{n} graded submission(s); mean score {mean:.1f} of {data['max_score']:g};
{sum(a >= ACCURACY_THRESHOLD for a in data['accuracies'].values())} of {len(data['accuracies'])} trained
convnets reach {ACCURACY_THRESHOLD:.0%} test accuracy (measured by the grader, outside the students' notebooks).
{len(data['errors'])} submission(s) could not be graded.</p>
{images}
{sandbox_html}
<h2>Students</h2>
<table><tr><th>student</th><th>score</th><th>test accuracy</th><th>grading time (s)</th><th>note</th><th>late</th></tr>
{''.join(rows)}</table>
<h2>Grader's notes</h2>
<p>What the grader noticed or did for each student: files it could not use, changed test cells, limits
of the sandbox that stopped a notebook, cheats. Every line is also in that student's feedback.</p>
{notes_html}
<h2>Files not used</h2>
{unused_html}
</body></html>
"""
    out = ws.path / "report.html"
    out.write_text(page)
    return out


def _late_cell(late: dict | None) -> str:
    """Lateness and late penalty of one student (the score column is before the penalty)."""
    if not late:
        return "<td></td>"
    if not late.get("timestamp"):
        text = "time unknown"
    elif not late.get("seconds_late"):
        text = "on time"
    else:
        text = f"{late['hours_late']:g} h late" + (f", -{late['penalty']:g}" if late.get("penalty") else "")
    return f"<td title='{html.escape(late.get('text', ''), quote=True)}'>{html.escape(text)}</td>"
