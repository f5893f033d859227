"""The training configurations measured, and the environments they run with."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mnistcnn import TF_ENV
from mnistcnn.constants import KERNEL_NAME

KERNEL_JSON = Path(sys.prefix) / "share" / "jupyter" / "kernels" / KERNEL_NAME / "kernel.json"
#: Run in turn in every round (A B C, B C A, ...): stock defaults, the shipped configuration (notebook 3's
#: training cell: recipe.STEPS_PER_EXECUTION), and the nearest alternative to it (tf.constant tensors too).
PAIRED = ("stock", "shipped", "tensors-spe32")


def kernel_env() -> dict:
    """The environment the course's Jupyter kernel runs with (its kernel.json), else TF_ENV."""
    try:
        return dict(json.loads(KERNEL_JSON.read_text())["env"])
    except (OSError, KeyError, ValueError):
        return dict(TF_ENV)


def grader_env(threads: int) -> dict:
    """The TensorFlow and thread settings of a grading job's environment."""
    from autograder.grading import jobs

    env = jobs.job_env(threads)
    keys = [*TF_ENV, "MNISTCNN_THREADS", "OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"]
    return {k: env[k] for k in keys if k in env}


def _threads(cores: int, on: dict, ship: dict) -> dict:
    def env(n: int) -> dict:
        return {**on, "OMP_NUM_THREADS": str(n), "TF_NUM_INTRAOP_THREADS": str(n), "TF_NUM_INTEROP_THREADS": str(n)}

    return {f"intra{n}-inter{n}": {"env": env(n), **ship, "what": f"shipped with oneDNN, {n} intra-op, {n} inter-op"}
            for n in dict.fromkeys((1, cores))}


def configurations(cores: int) -> dict[str, dict]:
    """name -> {env, spe, feed, what}. 'stock' and 'shipped' are the paired pair.

    'shipped' is what notebook 3 runs: the course kernel's environment, ``model.fit`` on NumPy arrays
    with ``recipe.STEPS_PER_EXECUTION``; 'stock' is TensorFlow's defaults and the plain call (one step
    per execution). The environment variants run with the shipped feed; the feed variants with the kernel's
    environment.
    """
    from mnistcnn.recipe import STEPS_PER_EXECUTION as SPE

    kernel = kernel_env()
    numpy = {"spe": 1, "feed": "numpy"}
    ship = {"spe": SPE, "feed": "numpy"}
    return {
        "stock": {"env": {}, **numpy, "what": "TensorFlow's stock defaults (no setting), fit on NumPy arrays"},
        "shipped": {"env": kernel, **ship, "what": "the course: kernel.json's environment, fit on NumPy arrays, "
                    f"steps_per_execution={SPE} (notebook 3)"},
        "grader": {"env": grader_env(cores), **ship,
                   "what": f"shipped, in a grading job's environment (job_env({cores}))"},
        "onednn-off": {"env": {"TF_ENABLE_ONEDNN_OPTS": "0"}, **ship, "what": "shipped with TF_ENABLE_ONEDNN_OPTS=0"},
        **_threads(cores, {**TF_ENV, "TF_ENABLE_ONEDNN_OPTS": "1"}, ship),
        "fpmath-bf16": {"env": {**kernel, "TF_SET_ONEDNN_FPMATH_MODE": "BF16"}, **ship,
                        "what": "shipped + oneDNN allowed to compute fp32 in bf16"},
        "numpy": {"env": kernel, **numpy, "what": "the course before: kernel.json's environment, fit on NumPy "
                  "arrays, one step per execution"},
        "tensors": {"env": kernel, "spe": 1, "feed": "tensor", "what": "tf.constant tensors only"},
        "spe8": {"env": kernel, "spe": 8, "feed": "numpy", "what": "NumPy arrays, steps_per_execution=8"},
        "tensors-spe32": {"env": kernel, "spe": SPE, "feed": "tensor",
                          "what": f"tf.constant tensors, steps_per_execution={SPE}"},
        "tfdata": {"env": kernel, "spe": SPE, "feed": "tfdata",
                   "what": f"a cached, prefetched tf.data pipeline, steps_per_execution={SPE}"},
    }


def env_text(env: dict) -> str:
    """The settings of an environment that matter to TensorFlow, short."""
    short = {"TF_ENABLE_ONEDNN_OPTS": "oneDNN", "TF_NUM_INTRAOP_THREADS": "intra", "TF_NUM_INTEROP_THREADS": "inter",
             "OMP_NUM_THREADS": "OMP", "TF_ONEDNN_THREADPOOL_USE_CALLER_THREAD": "caller thread",
             "TF_SET_ONEDNN_FPMATH_MODE": "fpmath", "MNISTCNN_THREADS": "threads"}
    parts = [f"{short[k]}={v}" for k, v in env.items() if k in short]
    return ", ".join(parts) or "none"
