"""Evidence for the grader: what a graded test hands over, when a class is graded.

The grade of a test is not decided in the student's kernel, where code in an answer cell can change
what runs later (the checks, the names the tests call, IPython itself). Instead each check, while
the grader runs the notebook (``$MNISTCNN_RECORD_DIR`` set), writes down the *data* it is about to
judge: the student's functions evaluated on the test's inputs, each model built (a ``.keras``
file), the compiled settings, the figure's lines and labels. The grader moves what a test cell
wrote out of the kernel's reach as soon as the cell ends and judges it in a clean process
(:mod:`autograder.grading.judge`) with its own copy of the checks. Forged evidence only earns points when it
is right, and being right is the exercise.

Only data is written: JSON, ``.npy`` without pickled objects, ``.keras`` (loaded by the grader with
``safe_mode=True``). Elsewhere (a student's JupyterLab, ``nbgrader validate``) nothing is written.
Recording never raises and prints nothing: a problem becomes an ``$error`` entry the grader reports.

Layout: ``$MNISTCNN_RECORD_DIR/evidence/<seq>-<kind>.json`` with its arrays and models beside it
(``<seq>-<kind>-<field>.npy`` / ``.keras``), referenced from the JSON by file name.
"""

from __future__ import annotations

import itertools
import json
import numbers
import os

import numpy as np

from mnistcnn.grading import RECORD_ENV

FOLDER = "evidence"
#: Beside a test's evidence, as the grader keeps it: the answer runner's account of its run (what raised,
#: which answer cell was missing), and the reason the evidence was refused, if it was.
RUN_FILE = "_run.json"
PROBLEMS_FILE = "_problems.txt"
#: Arrays with more elements than this are handed over as a sketch (see :func:`sketch`).
MAX_FULL_ELEMENTS = 2_000_000
#: Features of each row in a sketch (random non-negative projections).
SKETCH_FEATURES = 4
SKETCH_SEED = 20_240_501
#: Rows sketched at a time.
SKETCH_BLOCK = 4096
#: Longer lists are described, not handed over item by item.
MAX_LIST = 10_000

_seq = itertools.count()


def folder() -> str | None:
    """The folder evidence goes to, or None when no grader is recording."""
    base = os.environ.get(RECORD_ENV)
    return os.path.join(base, FOLDER) if base else None


def sketch_matrix(row_size: int) -> np.ndarray:
    """The fixed projection of a sketch: ``row_size`` x SKETCH_FEATURES weights in [0, 1)."""
    return np.random.default_rng(SKETCH_SEED).random((row_size, SKETCH_FEATURES))


def sketch(x: np.ndarray) -> np.ndarray:
    """Each row (first axis) of ``x`` projected on fixed random non-negative weights, in float64.

    Two arrays that agree element by element within ``tol`` have sketches that agree within
    ``tol * row_size``; a scaled, shifted or rearranged array does not.
    """
    n = len(x)
    weights = sketch_matrix(int(np.prod(np.shape(x)[1:])))
    # Block by block: the whole array in float64 would be a temporary of 376 MB for 60,000 images.
    blocks = [np.asarray(x[i:i + SKETCH_BLOCK], dtype=np.float64).reshape(-1, weights.shape[0]) @ weights
              for i in range(0, n, SKETCH_BLOCK)]
    return np.concatenate(blocks) if blocks else np.zeros((0, SKETCH_FEATURES))


def describe_array(x) -> dict:
    """An array as evidence: shape, dtype, range, and the values (or, when large, their sketch)."""
    x = np.asarray(x)
    out = {"shape": list(x.shape), "dtype": str(x.dtype)}
    if x.dtype == object or x.dtype.kind not in "biuf":
        out["$error"] = f"an array of {x.dtype} values, not numbers"
        return out
    if x.size:
        out["min"], out["max"] = float(x.min()), float(x.max())
    if x.size <= MAX_FULL_ELEMENTS:
        out["values"] = x
    elif x.ndim >= 2 and len(x):
        out["sketch"] = sketch(x)
    return out


def plain(value):
    """A value as JSON: numbers, strings, None, lists; anything else described, never pickled."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real) and type(value).__module__ in ("builtins", "numpy"):
        return float(value)
    if isinstance(value, (list, tuple)) and type(value) in (list, tuple) and len(value) <= MAX_LIST:
        return [plain(v) for v in value]
    if isinstance(value, dict) and type(value) is dict and len(value) <= MAX_LIST:
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, dict)) and type(value) in (list, tuple, dict):
        return {"$repr": f"a {type(value).__name__} of {len(value):,} items"}
    text = f"{type(value).__name__} {value!r}" if type(value).__repr__ is not object.__repr__ \
        else type(value).__name__
    return {"$repr": text[:200]}


def save(kind: str, **fields) -> None:
    """Hand ``fields`` of one check to the grader (when one is recording). Never raises."""
    where = folder()
    if not where:
        return
    seq = next(_seq)
    stem = f"{seq:04d}-{kind}"
    try:
        os.makedirs(where, exist_ok=True)
        record = {"kind": kind, "seq": seq, "fields": {k: _store(where, f"{stem}-{k}", v) for k, v in fields.items()}}
        tmp = os.path.join(where, f".{stem}.json")
        with open(tmp, "w") as f:
            json.dump(record, f)
        os.replace(tmp, os.path.join(where, f"{stem}.json"))
    except Exception:  # noqa: BLE001 - recording must never cost the student points; the grader sees none
        pass


def _store(where: str, stem: str, value):
    import keras

    if isinstance(value, keras.Model):
        name = f"{stem}.keras"
        try:
            value.save(os.path.join(where, name))
        except Exception as exc:  # noqa: BLE001 - the grader says why
            return {"$error": f"the model could not be saved ({type(exc).__name__}: {str(exc)[:200]})"}
        return {"$keras": name}
    if isinstance(value, np.ndarray):
        if value.dtype == object or value.dtype.kind not in "biuf":
            return {"$error": f"an array of {value.dtype} values, not numbers"}
        name = f"{stem}.npy"
        np.save(os.path.join(where, name), value, allow_pickle=False)
        return {"$npy": name}
    if isinstance(value, dict) and type(value) is dict and len(value) <= MAX_LIST:
        return {str(k): _store(where, f"{stem}-{i}", v) for i, (k, v) in enumerate(value.items())}
    if isinstance(value, (list, tuple)) and type(value) in (list, tuple) and len(value) <= MAX_LIST:
        return [_store(where, f"{stem}-{i}", v) for i, v in enumerate(value)]
    return plain(value)


def fingerprint(x) -> str:
    """SHA-256 of an input array's shape, dtype and bytes: which input the grader gave this output for."""
    import hashlib

    x = np.ascontiguousarray(np.asarray(x))
    h = hashlib.sha256(f"{x.shape}|{x.dtype}|".encode())
    h.update(x.tobytes())
    return h.hexdigest()
