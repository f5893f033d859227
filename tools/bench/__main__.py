"""Command line of the benchmark: ``python -m tools.bench`` (``make bench``); ``--help`` lists the options."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from tools.bench import __doc__ as DOCSTRING
from tools.bench import report
from tools.bench.baseline import CACHE as BASELINE_CACHE
from tools.bench.baseline import prepare as prepare_baseline
from tools.bench.common import DOC, ROOT, Log, clean_env, loadavg, machine, run_child
from tools.bench.configs import kernel_env
from tools.bench.training import bench_training, compare, flops_per_image

#: The grader before the restructure into autograder/{course,grading,sandbox}.
BASELINE = "ed22d5f"


def measure(args) -> dict:
    """Every section's measurements, saved to ``--json`` after each one."""
    log = Log()
    res: dict = {"load_start": loadavg(), "machine": machine(), "flops": flops_per_image(),
                 "args": {k: getattr(args, k) for k in ("quick", "pairs", "reps", "steps", "warmup", "matmul_reps",
                                                        "profile_reps", "grading_rounds", "baseline")}}
    cores = res["machine"]["cores"]
    t0 = time.perf_counter()
    log(f"machine: {res['machine']['cpu']}, {cores} cores, load {res['load_start']}")
    prepare_baseline(args.baseline, log)  # before the measurements: once, and a failure shows at once
    res["matmul"] = run_child("matmul", {"reps": args.matmul_reps, "numpy": True}, clean_env(kernel_env()))
    log(f"matmul: numpy {res['matmul']['numpy_gflops']:.0f}, tf {res['matmul']['tf_gflops']:.0f} GFLOP/s")
    res["training"] = bench_training(args, cores, res["flops"]["train"], log)
    save(args, res)
    res["profile"] = run_child("profile", {"reps": args.profile_reps}, clean_env(kernel_env()))
    log(f"profile: train step {res['profile']['train_step_ms']:.2f} ms")
    save(args, res)
    with tempfile.TemporaryDirectory(prefix="mnistcnn-bench-") as tmp:
        res["grading"] = grade(args, log, Path(tmp))
        save(args, res)
        from tools.bench.validate import bench_validate

        log("validate:")
        res["validate"] = bench_validate(args, log, Path(tmp))
    res["total_s"] = time.perf_counter() - t0
    res["load_end"] = loadavg()
    save(args, res)
    log(f"done in {res['total_s']:.0f} s, load {res['load_end']}")
    return res


def grade(args, log: Log, work: Path) -> dict:
    from autograder.grading import run
    from tools.bench.grading import bench_grading

    return bench_grading(args, run.default_workers()[1], log, work)


def grading_only(args) -> int:
    """``--grading-only``: the paired grading jobs alone, their table printed (and --json written)."""
    from tools.bench.grading import paired_text

    with tempfile.TemporaryDirectory(prefix="mnistcnn-bench-") as tmp:
        res = grade(args, Log(), Path(tmp))
    if args.json and Path(args.json).resolve().parent != DOC.parent:
        Path(args.json).write_text(json.dumps(res, indent=1, default=str))
    print(paired_text(res))
    return 0


def save(args, res: dict) -> None:
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1, default=str))


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m tools.bench", description=DOCSTRING.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a short run for development; does not write the docs")
    ap.add_argument("--out", help=f"write the report there (default: {DOC.relative_to(ROOT)}; not with --quick)")
    ap.add_argument("--pairs", type=int, help="rounds of stock/shipped/candidate (default 5, quick 2)")
    ap.add_argument("--reps", type=int, help="runs of each other configuration (default 1)")
    ap.add_argument("--steps", type=int, help="timed training steps per run (default 224, quick 96)")
    ap.add_argument("--warmup", type=int, help="warm-up steps before timing (default 64, quick 32)")
    ap.add_argument("--grading-rounds", type=int, help="rounds of old and new grading jobs (default 3, quick 1)")
    ap.add_argument("--baseline", default=BASELINE,
                    help=f"the older grader's revision (default {BASELINE}), run whole: its own checkout and venv, "
                    "made once (~4 min, its `make setup`) in $XDG_CACHE_HOME/mnistcnn-bench/<sha>/ (here "
                    f"{BASELINE_CACHE}/<sha>/) and kept")
    ap.add_argument("--grading-only", action="store_true",
                    help="only the paired grading jobs of the old grader (--baseline) and this one, for the correct "
                    "and the blank submission with their bare processes (--grading-rounds); prints a table, "
                    "writes nothing in docs/")
    ap.add_argument("--no-two-workers", dest="two_workers", action="store_false",
                    help="skip the measured 2-worker grading run")
    ap.add_argument("--json", help="also write the raw measurements there (written after each section)")
    ap.add_argument("--from-json", help="measure nothing: write the report from the raw measurements of a run")
    ap.add_argument("--compare", help="measure only these training configurations (comma-separated names), "
                    "in turn for --pairs rounds, and print ms/step, the ratio to the first and the weights")
    ap.add_argument("--full", action="store_true", help="with --compare: time the whole 5-epoch fit of notebook 3 "
                    "(validation_split included) and report its test accuracy")
    args = ap.parse_args(argv)
    q = args.quick
    args.pairs = args.pairs or (2 if q else 5)
    args.reps = args.reps or 1
    args.steps = args.steps or (96 if q else 224)  # warm-up + steps: a multiple of 32 (steps_per_execution)
    args.warmup = args.warmup or (32 if q else 64)
    args.grading_rounds = args.grading_rounds or (1 if q else 3)
    args.matmul_reps = 3 if q else 5
    args.profile_reps = 50 if q else 100
    if q and args.json and Path(args.json).resolve().parent == DOC.parent:
        print(f"--quick writes nothing in {DOC.parent.relative_to(ROOT)}/: --json {args.json} is ignored",
              file=sys.stderr)
        args.json = None
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.grading_only:
        return grading_only(args)
    if args.compare:
        return compare(args, [n.strip() for n in args.compare.split(",") if n.strip()])
    res = json.loads(Path(args.from_json).read_text()) if args.from_json else measure(args)
    quick = res["args"]["quick"]
    text = report.build(res, "python -m tools.bench --quick" if quick else "make bench")
    print(text)
    if args.json and not args.from_json:
        save(args, res)
    out = Path(args.out) if args.out else (None if quick else DOC)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        print(f"written to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
