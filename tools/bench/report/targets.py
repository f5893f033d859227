"""Section 5 (student waits), the targets, and why a target is missed, from the run's own figures."""

from __future__ import annotations

from tools.bench.common import med, spread, yes
from tools.bench.configs import PAIRED
from tools.bench.report.figures import Grading, Training
from tools.bench.report.grading import fixed_parts, judging_added

SPEEDUP, SHARE, FIXED, OVERHEAD, JUDGING, VALIDATE = 1.3, 40, 15, 1.25, 5, 15


def validate(res: dict) -> str:
    lines = ["## 5. Student waits: `nbgrader validate`", "",
             "`nbgrader validate` on each notebook as a student hands it in (the released notebook with every answer "
             "filled in), from the command line (start of nbgrader included).", "",
             "| notebook | trains | seconds | result |", "| --- | --- | ---: | --- |"]
    lines += [f"| {r['notebook']} | {'yes' if r['trains'] else 'no'} | {r['seconds']:.1f} | "
              f"{'passes' if r['ok'] else 'FAILS'} |" for r in res["validate"]]
    return "\n".join([*lines, ""])


def targets(res: dict, t: Training, g: Grading) -> str:
    speedup, cand = med(t.ratios["shipped"]), med(t.ratios[PAIRED[2]])
    shares = t.rows["shipped"].shares
    lines = ["## Targets", "", "| target | measured | met |", "| --- | --- | --- |",
             f"| shipped training ≥ {SPEEDUP}× faster than stock, paired | {speedup:.2f}× (median of "
             f"{len(t.ratios['shipped'])} rounds); {PAIRED[2]} (not shipped): {cand:.2f}× | "
             f"{yes(speedup >= SPEEDUP)} |",
             f"| shipped training ≥ {SHARE} % of the matmul rate, per round | {spread(shares, '{:.0f}', ' %')} of the "
             f"rate measured around each run, median (min–max) over {len(shares)} runs | {yes(med(shares) >= SHARE)} |"]
    if "ada" in g.students:
        fixed, over = g.fixed("ada", "new"), g.overhead("ada", "new")
        lines += [f"| fixed cost per submission ≤ {FIXED} s | {spread(fixed, '{:.1f}', ' s')} (blank submission: "
                  f"{spread(g.fixed('dee', 'new'), '{:.1f}', ' s')}); old grader {med(g.fixed('ada', 'old')):.1f} s "
                  f"| {yes(med(fixed) <= FIXED)} |",
                  f"| grading overhead ≤ {OVERHEAD}× | {spread(over, '{:.2f}', '×')}; old grader "
                  f"{med(g.overhead('ada', 'old')):.2f}× | {yes(med(over) <= OVERHEAD)} |"]
    added = judging_added(g)
    if added is not None:
        got = f"{added:.1f} s" if added >= 0 else f"none: {-added:.1f} s saved"
        lines.append(f"| judging every cell outside the kernel adds ≤ {JUDGING} s per submission | {got} | "
                     f"{yes(added <= JUDGING)} |")
    for r in res["validate"]:
        if not r["trains"]:
            lines.append(f"| {r['notebook']} validates in < {VALIDATE} s | {r['seconds']:.1f} s | "
                         f"{yes(r['seconds'] < VALIDATE)} |")
    return "\n".join([*lines, ""])


def why_speedup(t: Training) -> list[str]:
    speedup = med(t.ratios["shipped"])
    if speedup >= SPEEDUP:
        return []
    ship = t.rows["shipped"]
    runs = [r["ms_per_step"] for r in ship.runs]
    text = (f"**Training against stock defaults: {speedup:.2f}× where {SPEEDUP:.2f}× is asked** (short by "
            f"{(SPEEDUP / speedup - 1) * 100:.0f} %). ")
    if t.rows["stock"].hashes == ship.hashes and {r["onednn"] for r in t.rows["stock"].runs} == {True}:
        text += ("oneDNN is on by default in this TensorFlow on Linux x86-64 (the stock processes report it on), so "
                 "the shipped `TF_ENABLE_ONEDNN_OPTS=1` selects the kernels that stock already runs, and the two "
                 "configurations train to bit-identical weights. What the shipped configuration adds is in notebook "
                 "3's training cell (`steps_per_execution`): it saves Keras's per-step work around the same "
                 f"computation; its ratio round by round ({min(t.ratios['shipped']):.2f}–"
                 f"{max(t.ratios['shipped']):.2f}×) is to be read against the spread between runs on a shared machine "
                 f"(the shipped configuration alone ranged over {min(runs) / ship.ms:.2f}–{max(runs) / ship.ms:.2f}× "
                 "its median). ")
    if "onednn-off" in t.rows:
        text += (f"What oneDNN is worth shows in the `onednn-off` row: without it a step takes "
                 f"{t.rows['onednn-off'].ms / ship.ms:.2f}× as long. ")
    return [text + others_text(t), ""]


def others_text(t: Training) -> str:
    """The best setting that needs no change in the notebooks, and the other ways of feeding ``fit``."""
    ship, cfg = t.rows["shipped"], t.tr["configs"]["shipped"]
    runs = [r["ms_per_step"] for r in ship.runs]
    same_feed = [n for n, c in t.tr["configs"].items() if n not in ("stock", "shipped", "onednn-off")
                 and (c["spe"], c["feed"]) == (cfg["spe"], cfg["feed"]) and n in t.rows]
    text = ""
    if same_feed:
        best = max(same_feed, key=lambda n: ship.ms / t.rows[n].ms)
        gain, own = ship.ms / t.rows[best].ms, max(runs) / min(runs)
        text += (f"Of the settings that need no change in the notebooks (threads, bf16 math), the best was `{best}` at "
                 f"{gain:.2f}× the shipped median" + (
                     f", within the spread of the shipped configuration's own runs (slowest ÷ fastest = {own:.2f}), so "
                     "nothing is shipped on its strength. " if gain <= own else
                     f", beyond the shipped runs' own spread ({own:.2f}) in {len(t.rows[best].runs)} run(s): to "
                     "confirm in paired rounds (and over seeds if its weights differ) before it is shipped. "))
    feeds = [n for n, c in t.tr["configs"].items() if n not in ("stock", "shipped")
             and (c["spe"], c["feed"]) != (cfg["spe"], cfg["feed"]) and n in t.rows]
    same = [n for n in feeds if t.rows[n].hashes == ship.hashes]
    cand = med(t.ratios[PAIRED[2]])
    return (text + f"Other ways of feeding `fit`: `{PAIRED[2]}` ran {cand:.2f}× as fast as stock in the rounds above"
            + (" (the target, on a configuration that is not shipped)" if cand >= SPEEDUP else ", short of the target "
               "too in this run") + f", and {', '.join(f'`{n}`' for n in feeds)} are at "
            f"{', '.join(f'{ship.ms / t.rows[n].ms:.2f}×' for n in feeds)} the shipped speed in the table; "
            + (f"{', '.join(f'`{n}`' for n in same)} train to the same weights as the shipped configuration, bit for "
               "bit. " if same else "") + "Single runs need paired rounds before they count.")


def why_share(res: dict, t: Training) -> list[str]:
    ship, prof = t.rows["shipped"], res.get("profile")
    share = med(ship.shares)
    if share >= SHARE or not prof:
        return []
    layers = prof["layers"]
    flop_total = sum(r["flops_fwd"] for r in layers)
    big = max((r for r in layers if r["layer"].startswith("Conv2D")), key=lambda r: r["flops_fwd"])
    big_gf = big["flops_fwd"] * 3 * 64 / big["ms"] / 1e6
    small = [r for r in layers if r["flops_fwd"] * 20 < flop_total]
    lsum = sum(r["ms"] for r in layers)
    fit_extra = ship.ms - prof["train_step_ms"]
    return [f"**Training at {share:.0f} % of the matmul rate where {SHARE} % is asked** (median of the runs, "
            f"{min(ship.shares):.0f}–{max(ship.shares):.0f} %). The profile above says where the time goes:", "",
            f"* the biggest convolution, {big['layer']} ({big['flops_fwd'] / flop_total * 100:.0f} % of the FLOPs), "
            f"runs at {big_gf:.0f} GFLOP/s, {big_gf / t.matmul_median * 100:.0f} % of the matmul rate: the matrices of "
            "a batch of 64 small images are small, and oneDNN's convolutions stay below a large matmul's rate;",
            f"* the first convolution has one input channel: {layers[0]['flops_fwd'] / flop_total * 100:.0f} % of the "
            f"FLOPs, {layers[0]['ms'] / lsum * 100:.0f} % of the layers' time;",
            f"* the layers with almost no FLOPs ({', '.join(r['layer'].split(' ')[0] for r in small)}) take "
            f"{sum(r['ms'] for r in small) / lsum * 100:.0f} % of the layers' time (memory traffic, per-op overhead);",
            f"* `model.fit` adds {fit_extra:.1f} ms per step to the same step in a `tf.function`.", ""]


def why_grading(res: dict, g: Grading) -> list[str]:
    if "ada" not in g.students:
        return []
    fixed, over, bare = med(g.fixed("ada", "new")), med(g.overhead("ada", "new")), med(g.bares("ada"))
    if fixed <= FIXED and over <= OVERHEAD:
        return []
    biggest = sorted(fixed_parts(res, g), key=lambda k: -k[1] * k[2])[:3]
    return [f"**Grading: {over:.2f}× the bare process where {OVERHEAD}× is asked, and a fixed cost of {fixed:.0f} s "
            f"per submission where {FIXED} s is asked** (old grader in the same run: "
            f"{med(g.overhead('ada', 'old')):.2f}×, "
            f"{med(g.fixed('ada', 'old')):.0f} s). With a {bare:.0f} s bare process, {OVERHEAD}× leaves "
            f"{bare * (OVERHEAD - 1):.0f} s for everything grading adds. "
            + (f"The largest parts: {'; '.join(f'{w} ({sec * n:.0f} s)' for w, sec, n, _ in biggest)}." if biggest
               else ""), ""]


def why(res: dict, t: Training, g: Grading) -> str:
    out = [*why_speedup(t), *why_share(res, t), *why_grading(res, g)]
    for r in res["validate"]:
        if not r["trains"] and r["seconds"] >= VALIDATE:
            out += [f"**`nbgrader validate` of {r['notebook']}: {r['seconds']:.1f} s where under {VALIDATE} s is "
                    "asked.** It runs in a fresh kernel that imports TensorFlow.", ""]
    return "\n".join(["## Why targets are missed", "", *(out or ["Every target is met.", ""])])
