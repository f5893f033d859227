"""Training measurements: each configuration in its own fresh process, the paired configurations in
turn round by round, and every training run between two measurements of the matmul rate."""

from __future__ import annotations

import os
import sys

from tools.bench.common import BATCH, Log, clean_env, med, run_child
from tools.bench.configs import PAIRED, configurations, kernel_env

#: Repetitions of the 2048×2048 matmul next to each training run (the best one counts).
NEAR_MATMUL_REPS = 3


def train_gflops(flop_per_image: float, ms_per_step: float) -> float:
    return BATCH / ms_per_step * 1000 * flop_per_image / 1e9


class Interleaved:
    """Training runs with a matmul measurement before and after each (M T M T M ...: neighbours share
    the measurement between them); each run's share of the matmul rate is against the mean of its two."""

    def __init__(self, configs: dict, cfg: dict, flop_per_image: float, log: Log):
        self.configs, self.cfg, self.flop, self.log = configs, cfg, flop_per_image, log
        self.matmuls: list[float] = []
        self.runs: dict[str, list[dict]] = {name: [] for name in configs}

    def matmul(self) -> float:
        rate = run_child("matmul", {"reps": NEAR_MATMUL_REPS}, clean_env(kernel_env()))["tf_gflops"]
        self.matmuls.append(rate)
        return rate

    def train(self, name: str, round_no: int | None) -> dict:
        c = self.configs[name]
        before = self.matmuls[-1] if self.matmuls else self.matmul()
        r = run_child("train_steps", {**self.cfg, "spe": c["spe"], "feed": c["feed"]}, clean_env(c["env"]))
        after = self.matmul()
        r.update(round=round_no, matmul_before=before, matmul_after=after, matmul_gflops=(before + after) / 2)
        r["share"] = train_gflops(self.flop, r["ms_per_step"]) / r["matmul_gflops"]
        self.runs[name].append(r)
        self.log(f"  {name:16s} {r['ms_per_step']:6.2f} ms/step, {r['share']:4.0%} of the matmul rate "
                 f"({before:.0f}/{after:.0f} GFLOP/s before/after; weights {r['weights']})")
        return r


def bench_training(args, cores: int, flop_per_image: float, log: Log) -> dict:
    """The paired rounds (stock, shipped, the candidate: A B C, B C A, ...), then one or more rounds of
    every other configuration; the ratios to stock within each round."""
    configs = configurations(cores)
    runs = Interleaved(configs, {"warmup": args.warmup, "steps": args.steps}, flop_per_image, log)
    paired = list(PAIRED)
    ratios: dict[str, list[float]] = {name: [] for name in paired[1:]}
    log(f"training: {args.pairs} rounds of {' / '.join(paired)} in turn, {args.steps} steps after {args.warmup}, "
        "a matmul measurement between runs")
    for i in range(args.pairs):
        order = paired[i % len(paired):] + paired[:i % len(paired)]
        got = {name: runs.train(name, i) for name in order}
        for name in paired[1:]:
            ratios[name].append(got["stock"]["ms_per_step"] / got[name]["ms_per_step"])
    others = [n for n in configs if n not in paired]
    log(f"training: {len(others)} other configurations, {args.reps} round(s)")
    for _ in range(args.reps):
        for name in others:
            runs.train(name, None)
    return {"configs": configs, "runs": runs.runs, "ratios": ratios, "matmuls": runs.matmuls,
            "near_matmul_reps": NEAR_MATMUL_REPS}


def compare(args, names: list[str]) -> int:
    """Rounds of the named training configurations in turn (A B C, B C A, ...): a quick paired look."""
    configs = configurations(os.cpu_count() or 1)
    unknown = [n for n in names if n not in configs]
    if unknown:
        print(f"unknown configuration(s) {unknown}; known: {', '.join(configs)}", file=sys.stderr)
        return 2
    log = Log()
    key, unit = ("fit_s", "s for the 5-epoch fit") if args.full else ("ms_per_step", "ms/step")
    runs: dict[str, list[dict]] = {n: [] for n in names}
    ratios: dict[str, list[float]] = {n: [] for n in names}
    log(f"compare: {args.pairs} rounds of {' / '.join(names)}, "
        + ("the whole 5-epoch fit" if args.full else f"{args.steps} steps after {args.warmup}"))
    for i in range(args.pairs):
        got = {}
        for n in names[i % len(names):] + names[:i % len(names)]:
            c = configs[n]
            got[n] = run_child("whole_fit" if args.full else "train_steps",
                               {"warmup": args.warmup, "steps": args.steps, "spe": c["spe"], "feed": c["feed"]},
                               clean_env(c["env"]))
            runs[n].append(got[n])
            extra = f", test accuracy {got[n]['accuracy']:.4f}" if args.full else ""
            log(f"  {n:16s} {got[n][key]:7.2f} {unit}  (weights {got[n]['weights']}{extra})")
        for n in names:
            ratios[n].append(got[names[0]][key] / got[n][key])
    print_comparison(args, names, runs, ratios, key, unit)
    return 0


def print_comparison(args, names, runs, ratios, key, unit) -> None:
    print(f"| configuration | {unit} (median of {args.pairs}) | speed vs {names[0]} (median of rounds) | "
          "weights |" + (" test accuracy |" if args.full else ""))
    print("| --- | ---: | ---: | --- |" + (" ---: |" if args.full else ""))
    first = {r["weights"] for r in runs[names[0]]}
    for n in names:
        hashes = {r["weights"] for r in runs[n]}
        same = "differ between runs" if len(hashes) > 1 else (
            f"= {names[0]}" if hashes == first and n != names[0] else next(iter(hashes)))
        acc = f" {', '.join(sorted({format(r['accuracy'], '.2%') for r in runs[n]}))} |" if args.full else ""
        print(f"| {n} | {med([r[key] for r in runs[n]]):.2f} | {med(ratios[n]):.2f}× "
              f"({', '.join(f'{r:.2f}' for r in ratios[n])}) | {same} |{acc}")


def flops_per_image() -> dict:
    """FLOPs of the reference model per image, from its architecture (the formula is in the report)."""
    h, w, c = 28, 28, 1
    layers = []
    for kind, arg in (("conv", 32), ("pool", 2), ("conv", 64), ("pool", 2), ("conv", 64), ("flatten", None),
                      ("dense", 64), ("dense", 10)):
        if kind == "conv":
            ho, wo = h - 2, w - 2
            layers.append((f"Conv2D {h}x{w}x{c} -> {ho}x{wo}x{arg}", 2 * ho * wo * 3 * 3 * c * arg))
            h, w, c = ho, wo, arg
        elif kind == "pool":
            h, w = h // 2, w // 2
        elif kind == "flatten":
            c, h, w = h * w * c, 1, 1
        else:
            layers.append((f"Dense {c} -> {arg}", 2 * c * arg))
            c = arg
    forward = sum(f for _, f in layers)
    return {"layers": layers, "forward": forward, "train": 3 * forward}
