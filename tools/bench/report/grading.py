"""Sections 3 and 4 of the report: grading (this grader against the older one, paired in one run;
the fixed cost's parts; throughput) and the projection to larger classes."""

from __future__ import annotations

import math

from tools.bench.common import fmt_s, med, spread
from tools.bench.report.figures import Grading

WHAT = {"ada": "the correct submission `ada` (it trains the convnet)",
        "dee": "the blank submission `dee` (no convnet; notebook 3's dense network still runs)"}
REFERENCE = {"ada": "the bare process (notebook 3's work)", "dee": "the dense network's bare process"}


def short(text: str, n: int = 72) -> str:
    return text if len(text) <= n else text[:n].rsplit(" ", 1)[0] + " …"


def graders(g: Grading) -> str:
    old, new = g.g["graders"]["old"], g.g["graders"]["new"]
    return "\n".join([
        "## 3. Grading", "",
        f"**Old against new, in one run.** The old grader is revision `{old['sha'][:7]}` (“{short(old['subject'])}”), "
        f"{where_old(old)} (`--baseline {old['rev']}`); the new one is this checkout, `{new['rev']}` "
        f"(“{short(new['subject'])}”){where_new(new)}. Each grading job runs in its own Python process, on the "
        "same submission files; only `grade_one` is timed (nbgrader autograde of the 3 notebooks in sandboxed course "
        f"kernels, every graded cell judged outside the kernel, feedback), with {g.g['threads']} threads; the "
        "template gradebook each job starts from is made once per grader, outside the timing. The two graders "
        "alternate round by round (old, new / new, old / ...), and each round also runs the same work in a bare "
        "`python` process of this checkout's venv with the grader's environment: the 5-epoch training of notebook 3, "
        "its evaluation and the dense network (for the correct submission), the dense network alone (for the blank "
        f"one).{versions(g.g, old, new)}", ""])


def where_old(old: dict) -> str:
    if "venv" not in old:  # a run from before the baseline had its own venv
        diff = ", ".join(f"`{d}`" for d in old.get("mnistcnn_diff") or [])
        return ("exported with `git archive` and run from that tree in this checkout's venv, its kernels importing "
                "this checkout's `mnistcnn`" + (f" (it differs in {diff})" if diff else ""))
    return ("whole: its own checkout with its own venv (made once, in the benchmark's cache), so its own "
            "`autograder`, `mnistcnn` and course kernel, each job run by that venv's python")


def where_new(new: dict) -> str:
    return ", with this checkout's venv" if "venv" in new else ""


def versions(run: dict, old: dict, new: dict) -> str:
    if "versions" not in old:
        return ""
    text = ", ".join(f"{name} {v}" for name, v in new["versions"].items())
    if run.get("same_versions"):
        return f" Both venvs have the same {text} (Python {new['python_version']})."
    other = ", ".join(f"{name} {v}" for name, v in old["versions"].items())
    return f" **The venvs differ**: the old one has {other}, the new one {text}."


def rounds_table(g: Grading) -> str:
    heads, cells = ["round", "order"], []
    for s in g.students:
        heads += [f"bare for `{s}`", f"`{s}` old", f"`{s}` new"]
    for i, row in enumerate(g.rounds):
        line = [str(i + 1), ", ".join(row["order"])]
        for s in g.students:
            bare = g.reference(row, s)
            line += [f"{bare:.1f}"] + [f"{row[s][w]['job_s']:.1f} (+{row[s][w]['job_s'] - bare:.1f}; "
                                       f"{row[s][w]['job_s'] / bare:.2f}×)" for w in ("old", "new")]
        cells.append("| " + " | ".join(line) + " |")
    return "\n".join(["Seconds, round by round: the bare process, and each grader's job (in brackets its fixed cost "
                      "and overhead in that round):", "", "| " + " | ".join(heads) + " |",
                      "| ---: | --- |" + " ---: |" * (len(heads) - 2), *cells, ""])


def summary_table(g: Grading) -> str:
    lines = ["Per submission, median (min–max) over the rounds; fixed cost = grading job − bare process, "
             "overhead = grading job ÷ bare process, both taken within each round:", "",
             "| submission | what | old grader | new grader |", "| --- | --- | ---: | ---: |"]
    for s in g.students:
        first = g.first(s, "new")
        lines += [f"| {WHAT[s]}: {first['score'][0]:g}/{first['score'][1]:g} points"
                  + (f", accuracy {first['accuracy']:.2%}" if first.get("accuracy") else "") + " | grading job (s) | "
                  f"{spread(g.jobs(s, 'old'), '{:.1f}')} | {spread(g.jobs(s, 'new'), '{:.1f}')} |",
                  f"| | {REFERENCE[s]} (s) | {spread(g.bares(s), '{:.1f}')} | (same) |",
                  f"| | **fixed cost** (s) | {spread(g.fixed(s, 'old'), '{:.1f}')} | "
                  f"**{spread(g.fixed(s, 'new'), '{:.1f}')}** |",
                  f"| | **overhead** | {spread(g.overhead(s, 'old'), '{:.2f}', '×')} | "
                  f"**{spread(g.overhead(s, 'new'), '{:.2f}', '×')}** |",
                  f"| | new job ÷ old job | | {spread(g.new_over_old(s), '{:.2f}', '×')} |"]
    return "\n".join([*lines, ""])


def bare_parts(g: Grading) -> str:
    row = g.rounds[0]
    if "bare" not in row:
        return ""
    bare, mk = row["bare"], row["bare"]["marks"]
    return "\n".join([
        "The bare process of the first round, part by part:", "", "| what | seconds |", "| --- | ---: |",
        f"| whole (start to exit) | {bare['process_s']:.1f} |", f"| … of which imports | {mk['imports']:.1f} |",
        f"| … data | {mk['data']:.1f} |",
        f"| … `model.fit`, 5 epochs (test accuracy {bare['accuracy']:.2%}) | {mk['convnet_fit']:.1f} |",
        f"| … evaluate and predict | {mk['evaluate']:.1f} |", f"| … dense network | {mk['dense']:.1f} |", ""])


def fixed_parts(res: dict, g: Grading) -> list[tuple[str, float, int, str]]:
    """The new grader's fixed cost in parts, each timed on its own: (what, seconds once, times per job, why)."""
    parts = g.g.get("parts")
    if not parts:
        return []
    cells12 = sum(max(0.0, r["seconds"] - parts["nbgrader_start"] - parts["kernel_start_imports"])
                  for r in res["validate"] if not r["trains"])
    known = [("an nbgrader command's start (`nbgrader --version`)", parts["nbgrader_start"], 0,
              "the old grader started two, autograde and generate_feedback; the new one runs nbgrader's converters "
              "in the job's own process"),
             ("a course kernel's start with the notebooks' imports (TensorFlow, Keras, matplotlib)",
              parts["kernel_start_imports"], 1, "notebook 1's; notebooks 2 and 3 run in kernels started, imports "
              "done, while the previous notebook ran, and notebook 3's is set against the bare process's own start"),
             ("the cells of notebooks 1 and 2 (their `nbgrader validate` times, section 5, less one command start "
              "and one kernel start each)", cells12, 1, "")]
    judge = [r["ada"]["new"]["judge_s"] for r in g.rounds if r["ada"]["new"].get("judge_s") is not None]
    if judge:
        known.append(("the grader's judging process: every graded cell's evidence and the trained model's accuracy, "
                      "in one clean sandboxed process (timed inside the job from the end of the notebooks, median of "
                      "the rounds)", med(judge), 1, "it starts, imports and loads MNIST while the notebooks run"))
    known.append(("the graded tests writing their evidence in the kernel (checks with a recording folder against "
                  "without, median of 3)", parts["evidence_write"], 1, ""))
    if parts["sandbox_start"] == parts["sandbox_start"]:  # not NaN: the sandbox ran here
        known.append(("starting a process in the sandbox rather than bare (launcher, bubblewrap, cgroups; median of "
                      "5)", parts["sandbox_start"], 3, "3 kernels"))
    return known


def judging_added(g: Grading) -> float | None:
    """Seconds judging outside the kernel adds to a correct submission's job: the judging process less
    what it replaces (the accuracy evaluation in a clean sandboxed process), plus the evidence written."""
    parts = g.g.get("parts")
    judge = [r["ada"]["new"]["judge_s"] for r in g.rounds if r.get("ada") and r["ada"]["new"].get("judge_s")]
    if not parts or not judge:
        return None
    sandbox = parts["sandbox_start"] if parts["sandbox_start"] == parts["sandbox_start"] else 0.0
    return med(judge) - parts["accuracy_process"] - sandbox + parts["evidence_write"]


def parts_table(res: dict, g: Grading) -> str:
    known = fixed_parts(res, g)
    if not known:
        return ""
    fixed = med(g.fixed("ada", "new"))
    total = sum(sec * n for _, sec, n, _ in known)
    lines = ["Where the new grader's fixed cost goes: its parts, each timed on its own in this run (an attribution, "
             "not a trace of the job):", "", "| part | seconds once | times per job | seconds per job |",
             "| --- | ---: | ---: | ---: |"]
    lines += [f"| {what}{f' ({why})' if why else ''} | {sec:.1f} | {n} | {sec * n:.1f} |"
              for what, sec, n, why in known]
    lines += [f"| the rest: nbgrader's bookkeeping (course folder, gradebook, checksums), notebook 3 beyond the bare "
              f"work (plots, hidden tests), feedback HTML | | | {fixed - total:.1f} |",
              f"| **fixed cost** (median of the rounds) | | | **{fixed:.1f}** |", ""]
    added, parts = judging_added(g), g.g["parts"]
    if added is not None:
        verb = f"adds {added:.1f} s" if added >= 0 else f"saves {-added:.1f} s"
        lines += [f"**Judging outside the kernel {verb} per correct submission**: the judging process "
                  f"less what it replaces, the accuracy evaluation in a clean sandboxed process "
                  f"({parts['accuracy_process']:.1f} s + the sandbox's start), plus the evidence written in the "
                  f"kernel ({parts['evidence_write']:.1f} s). Target: at most 5 s added."
                  + (" It saves time because the judging process has started, imported TensorFlow and loaded "
                     "MNIST while the notebooks ran, where that evaluation paid for its own start."
                     if added < 0 else ""), ""]
    return "\n".join(lines)


def throughput(g: Grading) -> str:
    one = g.g.get("class_one")
    if not one:
        return ""
    job, threads = med(g.jobs("ada", "new")), g.g["threads"]
    lines = ["Throughput of the new grader on this machine:", "",
             "| workers × threads | how | submissions per hour |", "| --- | --- | ---: |",
             f"| 1 × {threads} | derived: 3600 s ÷ one grading job ({job:.0f} s, median) | {3600 / job:.0f} |",
             f"| 1 × {threads} | measured: `grade_class` run for one submission ({one['wall']:.0f} s, with the "
             f"class's fixed cost) | {3600 / one['wall']:.0f} |"]
    two = g.g.get("class_two")
    if two:
        lines.append(f"| 2 × {max(1, threads // 2)} | measured: `grade_class` of 2 copies of `ada` "
                     f"({two['wall']:.0f} s; jobs {', '.join(f'{s:.0f} s' for s in two['job_s'].values())}) | "
                     f"{2 * 3600 / two['wall']:.0f} |")
    return "\n".join([*lines, ""])


def grading(res: dict, g: Grading) -> str:
    return "\n".join(filter(None, [graders(g), rounds_table(g), summary_table(g), bare_parts(g), parts_table(res, g),
                                   throughput(g)]))


def scale(res: dict, g: Grading) -> str:
    one = g.g.get("class_one")
    if not one:
        return ""
    job, dee_job = med(g.jobs("ada", "new")), med(g.jobs("dee", "new"))
    class_fixed = max(0.0, one["wall"] - next(iter(one["job_s"].values())))
    lines = ["## 4. Scale", "",
             f"Projected time to grade N submissions with the new grader on w Dask workers: "
             f"T = {class_fixed:.0f} s + ⌈N / w⌉ × {job:.0f} s.", "",
             "| submissions | 1 worker | 8 workers | 64 workers |", "| ---: | ---: | ---: | ---: |"]
    for n in (100, 1000, 10000):
        lines.append(f"| {n:,} | " + " | ".join(fmt_s(class_fixed + math.ceil(n / w) * job) for w in (1, 8, 64)) + " |")
    lines += ["", "Assumptions:", "",
              f"* every worker has {g.g['threads']} cores of its own, like this machine, so a job takes what it took "
              f"here ({job:.0f} s for a correct submission that trains, the median of the rounds; a submission that "
              f"does not train costs less, {dee_job:.0f} s here); workers on the same machine share its cores (the "
              "2-worker row above);",
              f"* the class's fixed cost ({class_fixed:.0f} s: Dask cluster start, gradebook template, writer, CSV and "
              "report, measured for one submission) does not grow with N; the one gradebook writer stores a result "
              f"in less than {job / 64:.1f} s (the job time ÷ 64: not measured on its own here), so it keeps up "
              "with 64 workers;",
              "* the scheduler hands out jobs with no idle time and no job is retried.", ""]
    return "\n".join(lines)
