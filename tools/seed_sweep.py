"""Train the reference convnet with the course's recipe for several seeds; report test accuracy.

    python tools/seed_sweep.py --seeds 0-11 [--book]

Each seed runs in a fresh process (as a notebook kernel would) and trains as notebook 3's training
cell does (``recipe.STEPS_PER_EXECUTION``). Prints one line per seed and the
min / median / max at the end; ``--book`` uses the book's constant learning rate for comparison.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from mnistcnn.constants import ACCURACY_THRESHOLD

FIXTURES = str(Path(__file__).resolve().parent.parent / "tests" / "fixtures")


def train_one(seed: int, book: bool) -> dict:
    """One seed's training and test accuracy; run in a fresh process (``--child``), as a notebook kernel would."""
    sys.path.insert(0, FIXTURES)
    import keras
    from reference import build_model, compile_model, preprocess

    from mnistcnn import recipe
    from mnistcnn.data import load_mnist

    (x_train, y_train), (x_test, y_test) = load_mnist(online=False)
    x_train, y_train = preprocess(x_train, y_train)
    x_test, _ = preprocess(x_test, y_test)
    recipe.make_deterministic(seed)
    model = build_model()
    if book:  # the book's constant learning rate instead of the course's schedule
        model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=1e-3), loss="categorical_crossentropy",
                      metrics=["accuracy"])
    else:
        compile_model(model, len(x_train))
    model.steps_per_execution = recipe.STEPS_PER_EXECUTION  # as notebook 3's training cell
    t = time.perf_counter()
    model.fit(x_train, y_train, epochs=recipe.EPOCHS, batch_size=recipe.BATCH_SIZE,
              validation_split=recipe.VALIDATION_SPLIT, verbose=0)
    seconds = time.perf_counter() - t
    acc = float((model.predict(x_test, verbose=0).argmax(axis=1) == y_test).mean())
    return {"seed": seed, "test_accuracy": acc, "fit_seconds": round(seconds, 1)}


def parse_seeds(text: str) -> list[int]:
    seeds: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        seeds.extend(range(int(lo), int(hi or lo) + 1))
    return seeds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0-11", help="e.g. 0-11 or 0,3,7 (default 0-11)")
    ap.add_argument("--book", action="store_true", help="the book's constant learning rate")
    ap.add_argument("--child", type=int, metavar="SEED", help=argparse.SUPPRESS)  # one seed, in this process
    args = ap.parse_args(argv)
    if args.child is not None:
        print(json.dumps(train_one(args.child, args.book)))
        return 0
    results = []
    for seed in parse_seeds(args.seeds):
        t = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, __file__, "--child", str(seed), *(["--book"] if args.book else [])],
            capture_output=True, text=True,
        )
        if proc.returncode != 0:
            print(proc.stderr[-2000:], file=sys.stderr)
            return 1
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        results.append(row)
        print(f"seed {seed:3d}  test accuracy {row['test_accuracy']:.4f}  "
              f"fit {row['fit_seconds']:.0f} s  (process {time.perf_counter() - t:.0f} s)", flush=True)
    accs = [r["test_accuracy"] for r in results]
    print(f"{'book' if args.book else 'course'} recipe, {len(accs)} seeds: min {min(accs):.4f}  "
          f"median {statistics.median(accs):.4f}  max {max(accs):.4f}  "
          f"below {ACCURACY_THRESHOLD}: {sum(a < ACCURACY_THRESHOLD for a in accs)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
