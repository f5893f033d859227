"""Sections 1 and 2 of the report: the hardware's reach, and training (paired rounds, every
configuration, the profile of one step)."""

from __future__ import annotations

from tools.bench.common import BATCH, STEPS_5_EPOCHS, STEPS_PER_EPOCH, fmt_s, med, spread
from tools.bench.configs import PAIRED, env_text
from tools.bench.report.figures import Training


def hardware(res: dict, t: Training) -> str:
    mm, a = res["matmul"], res["args"]
    numpy = f"NumPy (OpenBLAS) **{mm['numpy_gflops']:.0f} GFLOP/s**, " if "numpy_gflops" in mm else ""
    return "\n".join([
        "## 1. The hardware's reach", "",
        f"fp32 matrix multiply, {mm['n']}×{mm['n']} by {mm['n']}×{mm['n']}, all cores, at the start of the run "
        f"(best of {a['matmul_reps']}): {numpy}TensorFlow `matmul` **{mm['tf_gflops']:.0f} GFLOP/s**. "
        f"TensorFlow's matmul measured again between the training runs of section 2 ({len(t.matmuls)} times, "
        f"each in a fresh process with the course kernel's environment, best of {t.tr['near_matmul_reps']}): "
        f"{spread(t.matmuls, '{:.0f}', ' GFLOP/s')}, median (min–max). The matmul rate moves with the other "
        "work on the machine: section 2 sets each training run against the rate measured just before and "
        "just after it, not against one number.", ""])


def flops_table(res: dict) -> str:
    fl = res["flops"]
    lines = ["## 2. Training", "",
             "FLOPs of one training image, counted from the model's layers (multiply and add = 2 FLOPs; "
             "pooling, activations, loss and optimizer are not counted):", "",
             "* `Conv2D`: 2 · H_out · W_out · k · k · C_in · C_out per image, forward;",
             "* `Dense`: 2 · in · out per image, forward;",
             "* training = forward + backward ≈ 3 × forward (the backward pass computes the gradients of the "
             "weights and of the inputs, each as costly as the forward pass).", "",
             "| layer | forward FLOPs per image |", "| --- | ---: |"]
    lines += [f"| {name} | {f:,} |" for name, f in fl["layers"]]
    lines += [f"| **forward** | **{fl['forward']:,}** |", f"| **training (× 3)** | **{fl['train']:,}** |", ""]
    return "\n".join(lines)


def method(res: dict, t: Training) -> str:
    a = res["args"]
    return "\n".join([
        f"**How it is measured.** Each configuration runs in its own fresh Python process (TensorFlow reads "
        f"its settings when it is imported). The process builds the reference model and compiles it as "
        f"notebook 3 does (`tests/fixtures/reference.py`: `build_model`, `compile_model`: RMSprop with the "
        f"course's cosine schedule, categorical cross-entropy, accuracy) with `make_deterministic(0)`, and "
        f"calls `model.fit` on the 54,000 training images in batches of 64; a callback times {a['steps']} "
        f"training steps after {a['warmup']} warm-up steps (steady state). The projected 5-epoch time is "
        f"ms/step × {STEPS_5_EPOCHS:,} steps ({STEPS_PER_EPOCH} per epoch); it leaves out the per-epoch "
        "validation pass and the start-up, which section 3 measures in full runs. images/s = 64 / (s/step); "
        f"GFLOP/s = images/s × {t.flop / 1e6:.2f} MFLOP.", "",
        "**Share of the matmul rate.** Between two training runs, a fresh process measures TensorFlow's "
        "matmul rate (section 1) with the course kernel's environment; each run is set against the mean of "
        "the rate measured just before it and just after it, so both figures share the machine's load of "
        "that moment. The share is given per run and summed up as median (min–max) over the runs; on a shared "
        "machine one run's share can still be off (over 100 % when the load was heavier during the matmul "
        "measurements than during the training), hence the spread.", ""])


def _paired_row(t: Training, name: str, res: dict) -> str:
    r, c = t.rows[name], t.tr["configs"][name]
    return (f"| **{name}**: {c['what']} | {env_text(c['env'])} | {len(r.runs)} | {r.ms:.2f} | {r.images_s:,.0f} | "
            f"{r.gflops:.1f} | {spread(r.shares, '{:.0f}', ' %')} | {fmt_s(r.ms * STEPS_5_EPOCHS / 1000)} |")


def paired(res: dict, t: Training) -> str:
    lines = [f"### Shipped configuration against TensorFlow's stock defaults, {res['args']['pairs']} rounds, in turn",
             "", "Each round runs the three configurations one after the other, starting with a different one each "
             "round (A B C, B C A, C A B, ...); the ratios are taken within each round.", "",
             "| configuration | settings | runs | ms/step (median) | images/s | GFLOP/s | share of the matmul rate, "
             "median (min–max) | projected 5 epochs |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    lines += [_paired_row(t, name, res) for name in PAIRED]
    lines += ["", *per_round(t), ""]
    cand = PAIRED[2]
    lines += ["Speed-up over stock (stock ms/step ÷ ms/step, round by round):", "",
              f"* shipped: {', '.join(f'{r:.2f}×' for r in t.ratios['shipped'])}; "
              f"**median {med(t.ratios['shipped']):.2f}×**;",
              f"* {cand}: {', '.join(f'{r:.2f}×' for r in t.ratios[cand])}; **median {med(t.ratios[cand]):.2f}×**.",
              "", provenance(t), ""]
    return "\n".join(lines)


def per_round(t: Training) -> list[str]:
    """Each round's ms/step and share of the matmul rate, configuration by configuration."""
    lines = ["Round by round: ms/step, and in brackets the share of the matmul rate measured around the run "
             "(before / after it, GFLOP/s):", "",
             "| round | " + " | ".join(PAIRED) + " | shipped ÷ stock |", "| ---: |" + " ---: |" * (len(PAIRED) + 1)]
    for i, got in enumerate(t.rounds(PAIRED)):
        cells = [f"{got[n]['ms_per_step']:.2f} ({got[n]['share'] * 100:.0f} %; {got[n]['matmul_before']:.0f} / "
                 f"{got[n]['matmul_after']:.0f})" for n in PAIRED]
        lines.append(f"| {i + 1} | " + " | ".join(cells) + f" | {t.ratios['shipped'][i]:.2f}× |")
    return lines


def provenance(t: Training) -> str:
    onednn = {n: ", ".join(sorted({str(r["onednn"]) for r in row.runs})) for n, row in t.rows.items()}
    hashes = {n: ", ".join(row.hashes) for n, row in t.rows.items()}
    return (f"oneDNN as TensorFlow reports it in the child processes: stock {onednn['stock']}, shipped "
            f"{onednn['shipped']}, onednn-off {onednn.get('onednn-off', '-')}. Weights after the timed steps "
            f"(SHA-256 prefix): stock {hashes['stock']}; shipped {hashes['shipped']}; {PAIRED[2]} {hashes[PAIRED[2]]}.")


def weights_text(t: Training, name: str) -> str:
    h, runs = t.rows[name].hashes, len(t.rows[name].runs)
    if len(h) > 1:
        return f"**differ between runs** ({len(h)} different)"
    same = f"identical in {runs} runs" if runs > 1 else "1 run"
    return same + ("; = shipped" if h == t.rows["shipped"].hashes and name != "shipped" else "")


def every_configuration(res: dict, t: Training) -> str:
    lines = ["### Every configuration tried", "",
             "Interleaved in the same run (the rounds above included), each between two matmul measurements; the "
             "ratio is against the shipped configuration's median. “= shipped”: bit-identical weights to the "
             "shipped configuration after the same steps, so the same accuracy. Different weights (other thread "
             "counts, another order of the data) would need their own accuracy check over seeds before shipping.",
             "", "| name | what | settings | runs | ms/step (median) | images/s | GFLOP/s | share of the matmul "
             "rate | vs shipped | weights |", "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    ship = t.rows["shipped"].ms
    for name, r in t.rows.items():
        c = t.tr["configs"][name]
        lines.append(f"| {name} | {c['what']} | {env_text(c['env'])} | {len(r.runs)} | {r.ms:.2f} | "
                     f"{r.images_s:,.0f} | {r.gflops:.1f} | {spread(r.shares, '{:.0f}', ' %')} | {ship / r.ms:.2f}× | "
                     f"{weights_text(t, name)} |")
    return "\n".join([*lines, ""])


def _profile_row(part: str, flop: float, ms: float, rate: float, step_ms: float) -> str:
    gf = flop / (ms / 1000) / 1e9 if flop else 0.0
    flops = f"{flop / 1e6:.1f} M" if flop else ""
    return f"| {part} | {flops} | {ms:.2f} | {gf:.1f} | {gf / rate * 100:.0f} % | {ms / step_ms * 100:.0f} % |"


def profile(res: dict, t: Training) -> str:
    prof = res.get("profile")
    if not prof:
        return ""
    step_ms, rate, step_flop = t.rows["shipped"].ms, t.matmul_median, t.flop * BATCH
    lines = ["### Profile of one training step (shipped configuration, batch 64)", "",
             f"Each layer's forward and backward pass alone, in a `tf.function`, {res['args']['profile_reps']} "
             "repetitions; then the whole step without `model.fit`, and the step inside `model.fit` (from the "
             f"table above). % of the matmul rate: against the median of the matmul measurements of section 2 "
             f"({rate:.0f} GFLOP/s).", "",
             "| part | FLOPs per step | ms | GFLOP/s | % of matmul rate | share of the fit step |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in prof["layers"]:  # the first layer has no input gradient: forward + weights' gradient only
        flop = r["flops_fwd"] * (2 if r["layer"].startswith("Conv2D (28") else 3) * BATCH
        lines.append(_profile_row(r["layer"], flop, r["ms"], rate, step_ms))
    lsum = sum(r["ms"] for r in prof["layers"])
    lines += [f"| sum of the layers | | {lsum:.2f} | | | {lsum / step_ms * 100:.0f} % |",
              _profile_row("forward + backward of the whole model (`tf.function`)", step_flop, prof["fwd_bwd_ms"],
                           rate, step_ms),
              _profile_row("+ loss and RMSprop update (`tf.function` train step)", step_flop, prof["train_step_ms"],
                           rate, step_ms),
              _profile_row("`model.fit` step (section 2)", step_flop, step_ms, rate, step_ms), ""]
    return "\n".join(lines)


def training(res: dict, t: Training) -> str:
    return "\n".join([flops_table(res), method(res, t), paired(res, t), every_configuration(res, t),
                      profile(res, t)])
