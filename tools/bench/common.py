"""What every part of the benchmark shares: paths, the training's constants, fresh child processes,
progress lines, the machine's description and the figures' formatting."""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
N_TRAIN = 60_000
EPOCHS, BATCH = 5, 64
N_FIT = N_TRAIN - int(N_TRAIN * 0.1)
STEPS_PER_EPOCH = math.ceil(N_FIT / BATCH)
STEPS_5_EPOCHS = STEPS_PER_EPOCH * EPOCHS


def clean_env(extra: dict) -> dict:
    """This process's environment without any TensorFlow/OpenMP setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TF_", "OMP_", "KMP_", "MKL_", "ONEDNN_", "DNNL_")) and k != "KERAS_BACKEND"}
    env.update({"TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow", "PYTHONWARNINGS": "ignore"})
    env.update(extra)
    return env


def run_child(name: str, cfg: dict, env: dict, timeout: float = 1800) -> dict:
    """Run the child program ``name`` (:mod:`tools.bench.children`) in a fresh Python process with
    ``env``; its JSON answer, with the process's wall time as ``process_s``."""
    return run_json([sys.executable, "-m", "tools.bench.child", name, json.dumps(cfg)], env, timeout, name)


def run_json(cmd: list[str], env: dict, timeout: float, name: str, cwd: Path = ROOT) -> dict:
    """Run ``cmd``, a program that answers with one line of JSON last; that answer, with the process's
    wall time as ``process_s``."""
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark child {name!r} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["process_s"] = wall
    return out


class Log:
    """Progress on stderr: one line per measured item with the time since the start (a log file
    gets whole lines, no carriage returns)."""

    def __init__(self):
        self.t0 = time.perf_counter()

    def __call__(self, text: str) -> None:
        print(f"[{fmt_clock(time.perf_counter() - self.t0)}] {text}", file=sys.stderr, flush=True)


def fmt_clock(seconds: float) -> str:
    return f"{int(seconds // 60):3d}:{int(seconds % 60):02d}"


def machine() -> dict:
    """The CPU, its SIMD extensions, the versions that matter, and the date."""
    text = ""
    with contextlib.suppress(OSError):
        text = Path("/proc/cpuinfo").read_text()
    lines = text.splitlines()
    model = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")), "unknown")
    flags = next((ln for ln in lines if ln.startswith("flags")), "")
    simd = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_tile") if f" {f}" in flags]
    return {"cpu": model, "cores": os.cpu_count() or 1, "simd": simd, "python": platform.python_version(),
            "tensorflow": metadata.version("tensorflow-cpu" if _has("tensorflow-cpu") else "tensorflow"),
            "keras": metadata.version("keras"), "nbgrader": metadata.version("nbgrader"),
            "os": f"{platform.system()} {platform.release()}",
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def _has(dist: str) -> bool:
    try:
        metadata.version(dist)
        return True
    except metadata.PackageNotFoundError:
        return False


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def med(values) -> float:
    values = list(values)
    return statistics.median(values) if values else float("nan")


def spread(values, fmt: str = "{:.2f}", unit: str = "") -> str:
    """``median (min–max)`` of ``values``."""
    values = list(values)
    if not values:
        return "n/a"
    return (f"{fmt.format(med(values))}{unit} ({fmt.format(min(values))}–{fmt.format(max(values))}{unit})"
            if len(values) > 1 else f"{fmt.format(values[0])}{unit}")


def fmt_s(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def yes(ok: bool) -> str:
    return "yes" if ok else "**no**"
