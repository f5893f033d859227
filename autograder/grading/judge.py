"""The grader's verdict on every graded test cell, from the evidence the cell handed over.

    python -I -m autograder.grading.judge EVIDENCE --cells 01_data:test_encode_labels,... --threshold 0.99 [--wait]

``EVIDENCE/<notebook>/<grade_id>/`` holds what each graded test cell of the student's notebook
wrote while it ran (:mod:`mnistcnn.evidence`), moved out of the kernel's reach as soon as the cell
ended (:mod:`autograder.sandbox.execute`). This module runs in a fresh, sandboxed process, with the
grader's own copy of the course's checks and its own copy of each test's inputs (the hidden ones
too), and decides every graded cell: it loads data only (JSON, ``.npy`` without pickle, ``.keras``
with ``safe_mode=True``), never imports or runs anything that came out of the kernel, rebuilds
each model from its file and judges it, and measures the trained model's test accuracy on freshly
loaded test data. It prints a JSON line as it starts each cell, then one with the cell's
:class:`~autograder.grading.verdicts.Verdict`; :func:`autograder.grading.verdicts.run_judge` drives it.

Missing, malformed or oversized evidence fails that cell only, with the reason.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import re
import sys
import time
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from mnistcnn import quiet_tensorflow

quiet_tensorflow()

import keras  # noqa: E402

from autograder.grading import exercises as ex  # noqa: E402
from autograder.grading import references as checks  # noqa: E402
from autograder.grading.language import _  # noqa: E402
from autograder.grading.verdicts import ACCURACY_CELL, GRADED_CELLS, Verdict  # noqa: E402
from mnistcnn import evidence, i18n  # noqa: E402
from mnistcnn.checks import CheckFailed  # noqa: E402
from mnistcnn.constants import ACCURACY_THRESHOLD  # noqa: E402

PROBLEMS_FILE, RUN_FILE = evidence.PROBLEMS_FILE, evidence.RUN_FILE
MAX_JSON_BYTES = 8 * 2**20
MAX_ARRAY_BYTES = 64 * 2**20
MAX_MODEL_BYTES = 64 * 2**20
_RECORD = re.compile(r"^(\d{4})-([a-z_]+)\.json$")
_DATA_FILE = re.compile(r"^\d{4}-[a-z_]+(-[A-Za-z0-9_]+)*\.(npy|keras)$")


class EvidenceError(Exception):
    """The evidence of a cell is malformed or too large; the message says which."""


class MissingEvidence(EvidenceError):
    """A record the test writes did not reach the grader (the test stopped before, or was bypassed)."""


# ----------------------------------------------------------------------------- reading evidence


@dataclass
class Item:
    """One record a check wrote: its kind and fields, data files still on disk until asked for."""

    kind: str
    fields: dict
    folder: Path

    def get(self, name: str):
        if name not in self.fields:
            raise EvidenceError(_("the {kind} record has no {name}").format(kind=self.kind, name=repr(name)))
        return tame(resolve(self.fields[name], self.folder))


def resolve(value, folder: Path):
    """Data files referenced by a record, loaded safely; an ``$error`` entry is an EvidenceError."""
    if isinstance(value, dict):
        if "$error" in value:
            raise EvidenceError(str(value["$error"])[:300])
        if "$npy" in value:
            return load_array(_data_path(folder, value["$npy"], ".npy"))
        if "$keras" in value:
            return load_model(_data_path(folder, value["$keras"], ".keras"))
        return {k: resolve(v, folder) if isinstance(v, (dict, list)) else v for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, folder) if isinstance(v, (dict, list)) else v for v in value]
    return value


def _data_path(folder: Path, name, suffix: str) -> Path:
    if not isinstance(name, str) or not _DATA_FILE.match(name) or not name.endswith(suffix):
        raise EvidenceError(_("a reference to {name}, not a file of this cell's evidence").format(
            name=repr(str(name)[:80])))
    path = folder / name
    if path.is_symlink() or not path.is_file():
        raise EvidenceError(_("{name} is missing").format(name=name))
    return path


def load_array(path: Path) -> np.ndarray:
    """A ``.npy`` file of numbers, checked before it is read: no objects (no pickle), not too large."""
    with open(path, "rb") as f:
        try:
            version = np.lib.format.read_magic(f)
            header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _fortran_order, dtype = header(f)
        except (ValueError, OSError) as exc:
            raise EvidenceError(_("{name} is not a NumPy array file ({error})").format(name=path.name,
                                                                                      error=exc)) from None
    if dtype.hasobject or dtype.kind not in "biuf":
        raise EvidenceError(_("{name} holds {dtype} values, not numbers").format(name=path.name, dtype=dtype))
    if math.prod(shape) * dtype.itemsize > MAX_ARRAY_BYTES:
        raise EvidenceError(_("{name} is larger than {limit:.0f} MiB").format(name=path.name,
                                                                           limit=MAX_ARRAY_BYTES / 2**20))
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise EvidenceError(_("{name} could not be read ({error})").format(name=path.name, error=exc)) from None


def load_model(path: Path, compile: bool = False):
    """A ``.keras`` file, checked as an archive first, then loaded with ``safe_mode=True``."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise EvidenceError(_("{name} is not a Keras model file ({error})").format(name=path.name, error=exc)) from None
    if len(infos) > 16 or sum(i.file_size for i in infos) > MAX_MODEL_BYTES:
        raise EvidenceError(_("{name} is larger than {limit:.0f} MiB unpacked").format(name=path.name,
                                                                                limit=MAX_MODEL_BYTES / 2**20))
    try:
        return keras.models.load_model(path, safe_mode=True, compile=compile)
    except Exception as exc:  # noqa: BLE001 - any failure to rebuild the model is the evidence's
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise EvidenceError(_("the model could not be rebuilt from its file with Keras's safe mode ({error})").format(
            error=f"{type(exc).__name__}: {first}")) from None


def tame(value):
    """A value from evidence with every text in it cut short (:func:`short_text`): what student code
    made can be quoted in a message, a few words of it, never a page."""
    if isinstance(value, str):
        return short_text(value) if len(value) > QUOTE_MAX or "\n" in value else value
    if isinstance(value, list):
        return [tame(v) for v in value]
    if isinstance(value, dict):
        return {k: tame(v) for k, v in value.items()}
    return value


def read_cell(folder: Path) -> list[Item]:
    """The records of one cell, in the order they were written."""
    if not folder.is_dir():
        return []
    problems = folder / PROBLEMS_FILE
    if problems.is_file():
        raise EvidenceError(problems.read_text(errors="replace")[:500].strip())
    records = []
    for path in sorted(folder.iterdir()):
        m = _RECORD.match(path.name)
        if not m or path.is_symlink():
            continue
        if path.stat().st_size > MAX_JSON_BYTES:
            raise EvidenceError(_("{name} is larger than {limit:.0f} MiB").format(name=path.name,
                                                                               limit=MAX_JSON_BYTES / 2**20))
        try:
            data = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError) as exc:
            raise EvidenceError(_("{name} is not valid JSON ({error})").format(name=path.name, error=exc)) from None
        if not isinstance(data, dict) or data.get("kind") != m.group(2) or not isinstance(data.get("fields"), dict):
            raise EvidenceError(_("{name} is not a record of the course's checks").format(name=path.name))
        records.append((int(m.group(1)), Item(m.group(2), data["fields"], folder)))
    return [item for _, item in sorted(records, key=lambda r: r[0])]


class Cell:
    """The evidence of one cell, taken kind by kind in the order the test wrote it."""

    def __init__(self, items: list[Item]):
        self.items = items

    def take(self, kind: str, n: int) -> list[Item]:
        found = [i for i in self.items if i.kind == kind]
        if len(found) < n:
            raise MissingEvidence(_("the grader received {found} of the {n} {kind} record(s) this test hands over: its "
                                    "checks did not all run as released").format(found=len(found), n=n, kind=kind))
        return found[:n]

    def each(self, kind: str, n: int):
        """The first ``n`` records of ``kind``, one at a time: a record is judged before the absence of
        the next one is reported (the test stops at its first failure)."""
        for i in range(n):
            yield self.take(kind, i + 1)[i]

    def model(self, index: int = 0, kind: str = "model"):
        item = self.take(kind, index + 1)[index]
        failure = item.fields.get("failure")
        if isinstance(failure, str):  # the builder failed in the kernel: a record that can only cost points
            raise checks.CheckFailed("\n".join(short_text(line) for line in failure.splitlines()[:5]))
        model = item.get("model")
        if not isinstance(model, keras.Model):
            return checks.from_evidence(model)
        return model


# ----------------------------------------------------------------------------- the grader's inputs


class Reference:
    """The grader's own MNIST, loaded once, when first needed: ``ref.train_images`` and so on."""

    _data = None
    _FIELDS = {"train_images": (0, 0), "train_labels": (0, 1), "test_images": (1, 0), "test_labels": (1, 1)}

    @property
    def data(self):
        if Reference._data is None:
            from mnistcnn.data import load_mnist

            Reference._data = load_mnist()
        return Reference._data

    def __getattr__(self, name: str):
        if name not in self._FIELDS:
            raise AttributeError(name)
        split, field = self._FIELDS[name]
        return self.data[split][field]


def _returned(item: Item, inputs: np.ndarray, name: str = "output"):
    """The value a function returned for ``inputs``, as the check received it."""
    if item.fields.get("input") != evidence.fingerprint(inputs):
        raise EvidenceError(_("the {kind} record is for other inputs than the test's").format(kind=item.kind))
    out = item.fields.get(name)
    if not isinstance(out, dict):
        raise EvidenceError(_("the {kind} record has no {name}").format(kind=item.kind, name=name))
    if "value" in out:
        return checks.from_evidence(tame(resolve(out["value"], item.folder)))
    desc = out.get("array")
    if not isinstance(desc, dict):
        raise EvidenceError(_("the {kind} record's {name} is malformed").format(kind=item.kind, name=name))
    if "$error" in desc:
        return checks.Recorded(_("an array of shape {shape} of {dtype} values").format(
            shape=tuple(desc.get("shape", ())), dtype=desc.get("dtype")))
    if "values" in desc:
        values = resolve(desc["values"], item.folder)
        if not isinstance(values, np.ndarray):
            raise EvidenceError(_("the {kind} record's values are not an array").format(kind=item.kind))
        return values.tolist() if out.get("type") in ("list", "tuple") else values
    return desc  # a large array: its description and sketch


def _judge_sketch(desc: dict, folder: Path, images: np.ndarray) -> None:
    n = len(images)
    what = _("Preprocessed images: float32 of shape (N, 28, 28, 1), pixel values in [0, 1]")
    shape = tuple(int(s) for s in desc.get("shape", ()))
    if shape != (n, 28, 28, 1):
        checks.fail(what, _("shape {shape}").format(shape=(n, 28, 28, 1)), _("shape {shape}").format(shape=shape),
                    _("keep all N images and reshape each to 28x28x1"))
    if desc.get("dtype") != "float32":
        checks.fail(what, _("dtype {dtype}").format(dtype="float32"),
                    _("dtype {dtype}").format(dtype=desc.get("dtype")), _("convert with .astype('float32')"))
    lo, hi = float(desc.get("min", 0)), float(desc.get("max", 0))
    if hi > 1.0 + 1e-6 or lo < -1e-6:
        checks.fail(what, _("values in [0, 1]"), _("values from {lo} to {hi}").format(lo=f"{lo:g}", hi=f"{hi:g}"),
                    _("divide by 255"))
    got = resolve(desc.get("sketch"), folder)
    block = evidence.SKETCH_BLOCK  # the reference block by block: no 188 MB copy of all the images
    want = np.concatenate([evidence.sketch(images[i:i + block].reshape((-1, 28, 28, 1)).astype("float32") / 255)
                           for i in range(0, n, block)]) if n else np.zeros((0, evidence.SKETCH_FEATURES))
    if not isinstance(got, np.ndarray) or got.shape != want.shape:
        raise EvidenceError(_("the sketch of the large array is missing or of the wrong shape"))
    tol = 784 * (1e-6 + 1e-5)  # np.allclose's tolerance on each of a row's 784 values, weights below 1
    bad = np.flatnonzero(~(np.abs(got - want) <= tol))
    if bad.size:
        checks.fail(what, _("image {i} equal to images[{i}] / 255").format(i=int(bad[0])),
                    _("other values in {k} of the {n} images").format(k=f"{bad.size:,}", n=f"{n:,}"),
                    _("each pixel should be its uint8 value / 255"))


# ----------------------------------------------------------------------------- hidden inputs stay hidden


@contextlib.contextmanager
def hidden_part():
    """Judge the records of the test's hidden part: a failure says what is wrong, not on which input,
    and quotes nothing the answer gave there."""
    try:
        yield
    except (CheckFailed, EvidenceError) as exc:
        if isinstance(exc, EvidenceError):
            raise
        raise CheckFailed(hide_inputs(str(exc))) from None
    except Exception as exc:  # noqa: BLE001 - an error the answer raised on a hidden input
        raise CheckFailed(_("your answer raised an error on an input of the grader's hidden test (not shown): "
                            "{error}").format(error=type(exc).__name__)) from None


def hide_inputs(message: str) -> str:
    """A check's message on a hidden input, without the input and without what the answer gave on it:
    its first line (what is checked) and its likely mistake, if any."""
    from mnistcnn.i18n import _ as course_  # the checks' own label, in the checks' catalog

    lines = message.strip().splitlines()
    mistake = [ln for ln in lines[1:] if ln.strip().startswith(course_("likely mistake:"))]
    return "\n".join([lines[0] if lines else "", "  " + _("on an input of the grader's hidden test (not shown)"),
                       *mistake[:1]])


def explain_missing(folder: Path) -> str | None:
    """Why the grader's run of the answer handed over less than its test records, from the runner's
    account (:data:`autograder.grading.answers.RUN_FILE`): an answer cell missing, what raised where,
    the run stopped. Student code's own words are cut short, and never from the hidden part."""
    try:
        run = json.loads((folder / RUN_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(run, dict):
        return None
    if run.get("missing_answers"):
        return _("your notebook has no answer cell {cells}: the grader runs the answer cells it released, "
                 "found by their place in the notebook (their nbgrader id)").format(
            cells=", ".join(str(c)[:40] for c in run["missing_answers"][:3]))
    problem = run.get("problem")
    if problem:
        return {"timeout": _("the grader's own run of your answer took too long and was stopped"),
                "too large": _("the grader's own run of your answer handed back too much data"),
                "nothing": _("the grader's own run of your answer ended without handing anything back "
                             "(did it exit the process?)")}.get(problem, _("the grader's own run of your answer "
                                                                        "was stopped"))
    errors = [e for e in run.get("errors") or [] if isinstance(e, dict)]
    first = next((e for e in errors if str(e.get("where", "")).startswith("answer cell")), None) \
        or next((e for e in errors if e.get("where") == "visible test"), None) \
        or next((e for e in errors if e.get("where") == "hidden test"), None)
    if first is None:
        return None
    name = str(first.get("error", "Exception"))[:40]
    if name == "NotImplementedError":
        return _("the answer is not written yet: it still raises NotImplementedError")
    if first.get("where") == "hidden test":
        return _("your answer raised {error} on an input of the grader's hidden test (not shown)").format(error=name)
    text = short_text(first.get("message"))
    error = f"{name}: {text}" if text else name
    if first.get("where") == "visible test":
        return _("when the grader ran the test on your answer, it raised {error}").format(error=error)
    return _("when the grader ran your answer cell {cell} on its own (plain Python, only the cells this exercise "
             "needs), it raised {error}; everything the answer needs must be in its answer cell").format(
        cell=str(first["where"]).removeprefix("answer cell ")[:40], error=error)


#: Characters of the student's own words (an exception's message) a message of the grader quotes at most.
QUOTE_MAX = 80


def short_text(text) -> str:
    """Words that came from student code, as the grader's messages quote them: one line, cut short."""
    line = str(text or "").strip().splitlines()[0] if str(text or "").strip() else ""
    return line if len(line) <= QUOTE_MAX else line[:QUOTE_MAX - 1] + "…"


# ----------------------------------------------------------------------------- one judge per graded cell


def _images(cell: Cell, inputs: list[np.ndarray], hidden: list[np.ndarray] = ()) -> None:
    inputs = [*inputs, *hidden]
    for i, (item, images) in enumerate(zip(cell.each("images", len(inputs)), inputs)):
        with hidden_part() if i >= len(inputs) - len(hidden) else contextlib.nullcontext():
            got = _returned(item, images)
            if isinstance(got, dict):
                _judge_sketch(got, item.folder, images)
            else:
                checks.check_images(got, images)


def _labels(cell: Cell, inputs: list[np.ndarray], hidden: list[np.ndarray] = ()) -> None:
    inputs = [*inputs, *hidden]
    for i, (item, labels) in enumerate(zip(cell.each("labels", len(inputs)), inputs)):
        with hidden_part() if i >= len(inputs) - len(hidden) else contextlib.nullcontext():
            got = _returned(item, labels)
            if isinstance(got, dict):
                raise EvidenceError(_("the labels were handed over as a sketch: too large"))
            checks.check_labels(got, labels)


def _table(cell: Cell, kind: str, expected: list[tuple], judge) -> None:
    """A function's results on the grader's own list of inputs (the record made for that list)."""
    item = next((i for i in cell.items if i.kind == kind and _same_inputs(i, expected)), None)
    if item is None:
        raise MissingEvidence(_("the grader received no {kind} record for the test's {n} inputs: its checks did "
                                "not all run as released").format(kind=kind, n=len(expected)))
    results = item.get("results")
    if not isinstance(results, list):
        raise EvidenceError(_("the {kind} record has no results for {n} inputs").format(kind=kind, n=len(expected)))
    if len(results) != len(expected):
        raise EvidenceError(_("the {kind} record has {k} results for {n} inputs").format(kind=kind, k=len(results),
                                                                                         n=len(expected)))
    judge(expected, [checks.from_evidence(tame(r)) for r in results])


def _same_inputs(item: Item, expected: list[tuple]) -> bool:
    recorded = item.fields.get("configs", item.fields.get("cases"))
    return isinstance(recorded, list) and [tuple(c) if isinstance(c, list) else c for c in recorded] == \
        [tuple(c) for c in expected]


def judge_preprocess_images(cell: Cell, ref: Reference) -> None:
    _images(cell, [ref.train_images[:500]], ex.hidden_images(ref.test_images))


def judge_encode_labels(cell: Cell, ref: Reference) -> None:
    _labels(cell, [ref.train_labels[:500]], ex.hidden_labels())


def judge_prepared_data(cell: Cell, ref: Reference) -> None:
    _images(cell, [ref.train_images, ref.test_images])
    _labels(cell, [ref.train_labels, ref.test_labels])


OUTPUT_SIZE_VISIBLE, PARAM_COUNT_VISIBLE = ex.OUTPUT_SIZE_VISIBLE, ex.PARAM_COUNT_VISIBLE


def judge_conv_output_size(cell: Cell, ref: Reference) -> None:
    _table(cell, "output_size", OUTPUT_SIZE_VISIBLE, checks.judge_output_sizes)
    with hidden_part():
        _table(cell, "output_size", ex.output_size_configs(), checks.judge_output_sizes)


def judge_conv_param_count(cell: Cell, ref: Reference) -> None:
    _table(cell, "param_count", PARAM_COUNT_VISIBLE, checks.judge_param_counts)
    with hidden_part():
        _table(cell, "param_count", ex.param_count_configs(), checks.judge_param_counts)


def _distinct(cell: Cell) -> None:
    """The builder called twice gave two new models: the test's record says so, and the two model
    files (the 2nd and 3rd of the cell) have weights of their own (one model returned twice has the
    same weights; the flag alone could be written by anyone)."""
    flag = cell.take("distinct", 1)[0].get("distinct")
    if not isinstance(flag, bool):
        raise EvidenceError(_("the record of two calls is malformed"))
    checks.judge_distinct(flag)
    first, second = cell.model(1), cell.model(2)
    if not isinstance(first, keras.Model) or not isinstance(second, keras.Model):
        raise EvidenceError(_("the two models built by the two calls did not reach the grader"))
    a, b = first.get_weights(), second.get_weights()
    if len(a) == len(b) and all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(a, b)):
        checks.fail(_("The builder called twice"), _("two new models, each with its own initial weights"),
                    _("two models with identical weights"), _("create the model inside the function at each call "
                                                              "(and set no random seed inside it)"))


def judge_build_conv_base(cell: Cell, ref: Reference) -> None:
    checks.check_conv_base(cell.model(0))
    _distinct(cell)  # no input to hide: the builder called twice


def judge_read_summary(cell: Cell, ref: Reference) -> None:
    item = cell.take("summary", 1)[0]
    shapes, params = (checks.from_evidence(item.get(k)) for k in ("shapes", "params"))
    shapes = [checks.from_evidence(s) for s in shapes] if isinstance(shapes, list) else shapes
    params = [checks.from_evidence(p) for p in params] if isinstance(params, list) else params
    checks.check_summary_answers(shapes, params)
    checks.check_summary_answers(shapes, params, cell.model(0))


def judge_build_model(cell: Cell, ref: Reference) -> None:
    checks.check_full_model(cell.model(0))
    _distinct(cell)


def judge_build_model_again(cell: Cell, ref: Reference) -> None:
    checks.check_full_model(cell.model(0))


def judge_probabilities(cell: Cell, ref: Reference) -> None:
    batch = ref.train_images[:8].reshape((8, 28, 28, 1)).astype("float32") / 255
    what = _("Predictions are probabilities over the 10 digits")
    for i, x in enumerate((batch, ex.probability_inputs())):
        with hidden_part() if i else contextlib.nullcontext():
            model = cell.model(i)
            if not isinstance(model, keras.Model):
                checks.fail(what, _("a Keras model from build_model"), checks._describe(model))
            try:
                probs = model.predict(x, verbose=0)
            except Exception as exc:  # noqa: BLE001 - the model cannot predict: the test fails
                checks.fail(what, _("predictions of shape (n, 10)"),
                            _("{error} from model.predict").format(error=type(exc).__name__))
            checks.check_probabilities(probs, len(x))


#: The number of training images the hidden test compiles for (a schedule built for a fixed number
#: of images instead of n_samples fails on it).
COMPILE_HIDDEN_N = 12_345


def judge_compile_model(cell: Cell, ref: Reference) -> None:
    """The settings are read from the compiled model's own file (Keras's serialization, loaded safely);
    the record's settings only stand for a model that was not compiled or not returned. The visible
    test compiles for the notebook's len(x_train), the hidden one for the grader's own number."""
    for item, n_hidden in zip(cell.each("compiled", 2), (None, COMPILE_HIDDEN_N)):
        n = item.get("n_samples") if n_hidden is None else n_hidden
        if not isinstance(n, int) or isinstance(n, bool) or not 0 < n <= 10_000_000:
            raise EvidenceError(_("the number of training images handed over is malformed"))
        if n_hidden is not None and item.get("n_samples") != n_hidden:
            raise EvidenceError(_("the hidden compile test's record is for another number of images"))
        with hidden_part() if n_hidden else contextlib.nullcontext():
            _judge_compiled(item, n)


def _judge_compiled(item: Item, n_samples: int) -> None:
    settings = item.get("settings")
    if not isinstance(settings, dict):
        raise EvidenceError(_("the compiled settings are malformed"))
    if settings.get("compiled"):
        ref_ = item.fields.get("model")
        if not isinstance(ref_, dict) or "$keras" not in ref_:
            raise EvidenceError(_("the compiled model's file did not reach the grader"))
        settings = checks.compile_settings(load_model(_data_path(item.folder, ref_["$keras"], ".keras"), compile=True))
    try:
        checks.judge_compile_settings(settings, n_samples)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise EvidenceError(_("the compiled settings are malformed ({error})").format(
            error=f"{type(exc).__name__}: {exc}")) from None


def judge_plot_history(cell: Cell, ref: Reference) -> None:
    """The visible test's made-up history, then the hidden test's (:data:`exercises.HISTORIES`)."""
    made_up = [checks.example_history().history,
               *(checks.example_history(epochs=e, seed=s).history for e, s in ex.HISTORIES)]
    for i, (item, hist) in enumerate(zip(cell.each("figure", len(made_up)), made_up)):
        with hidden_part() if i else contextlib.nullcontext():
            try:
                checks.judge_figure(item.get("figure"), hist)
            except (KeyError, TypeError, ValueError, IndexError) as exc:
                raise EvidenceError(_("the figure's data is malformed ({error})").format(
                    error=type(exc).__name__)) from None


def judge_error_reduction(cell: Cell, ref: Reference) -> None:
    _table(cell, "error_reduction", ex.ERROR_REDUCTION_VISIBLE, checks.judge_error_reductions)
    with hidden_part():
        _table(cell, "error_reduction", ex.error_reduction_cases(), checks.judge_error_reductions)


def measure_accuracy(cell: Cell, ref: Reference) -> dict:
    """The trained model's accuracy on the test images and on 10,000 training images
    (:func:`mnistcnn.grading.measure`, on the grader's own data)."""
    from mnistcnn.grading import TRAINED_ON_TEST_MARGIN, EvaluationError, measure

    model = cell.model(0, kind="trained_model")
    if not isinstance(model, keras.Model):
        raise EvidenceError(_("no trained model: {what}").format(what=checks._describe(model)))
    try:
        m = measure(model, ref.data)
    except EvaluationError as exc:
        raise EvidenceError(str(exc)) from None
    except Exception as exc:  # noqa: BLE001
        raise EvidenceError(_("the trained model cannot predict ({error})").format(error=type(exc).__name__)) from None
    return {**m, "trained_on_test": m["accuracy"] - m["train_accuracy"] > TRAINED_ON_TEST_MARGIN}


#: The grader's judge of every graded cell: (notebook, grade_id) -> judge(cell, reference).
JUDGES = {
    ("01_data", "test_preprocess_images"): judge_preprocess_images,
    ("01_data", "test_encode_labels"): judge_encode_labels,
    ("01_data", "test_prepared_data"): judge_prepared_data,
    ("02_convnet", "test_conv_output_size"): judge_conv_output_size,
    ("02_convnet", "test_conv_param_count"): judge_conv_param_count,
    ("02_convnet", "test_build_conv_base"): judge_build_conv_base,
    ("02_convnet", "test_read_summary"): judge_read_summary,
    ("02_convnet", "test_build_model"): judge_build_model,
    ("02_convnet", "test_probabilities"): judge_probabilities,
    ("03_training", "test_build_model"): judge_build_model_again,
    ("03_training", "test_compile_model"): judge_compile_model,
    ("03_training", "test_plot_history"): judge_plot_history,
    ("03_training", "test_error_reduction"): judge_error_reduction,
}
assert set(JUDGES) | {ACCURACY_CELL} == set(GRADED_CELLS), "a graded cell without a judge, or a judge too many"


@contextlib.contextmanager
def _not_recording():
    """The checks run here judge; they must not record evidence of their own."""
    saved = os.environ.pop(evidence.RECORD_ENV, None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ[evidence.RECORD_ENV] = saved


def judge_cell(root: Path, notebook: str, cell_id: str, ref: Reference, threshold: float) -> Verdict:
    """One cell's verdict; whatever goes wrong fails this cell only."""
    t0 = time.perf_counter()
    verdict = Verdict(notebook, cell_id, False)
    try:
        cell = Cell(read_cell(root / notebook / cell_id))
        with contextlib.redirect_stdout(io.StringIO()), _not_recording():
            if (notebook, cell_id) == ACCURACY_CELL:
                m = measure_accuracy(cell, ref)
                verdict.details = m
                verdict.passed = m["accuracy"] >= threshold and not m["trained_on_test"]
            elif (notebook, cell_id) in JUDGES:
                JUDGES[(notebook, cell_id)](cell, ref)
                verdict.passed = True
            else:
                verdict.message, verdict.problem = _("the grader has no judge for this test"), True
    except CheckFailed as exc:
        verdict.message = str(exc)
    except MissingEvidence as exc:
        verdict.message, verdict.problem, verdict.missing = explain_missing(root / notebook / cell_id) or str(exc), \
            True, True
    except EvidenceError as exc:
        verdict.message, verdict.problem = str(exc), True
    except Exception as exc:  # noqa: BLE001 - never a crash: this cell fails, with the reason
        verdict.message, verdict.problem = _("the evidence could not be judged ({error})").format(
            error=f"{type(exc).__name__}: {exc}")[:400], True
    verdict.details["seconds"] = round(time.perf_counter() - t0, 3)
    return verdict


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m autograder.grading.judge", description=__doc__.split("\n\n")[0])
    ap.add_argument("evidence", help="the evidence folder: <notebook>/<grade_id>/ of one submission")
    ap.add_argument("--cells", required=True, help="comma-separated notebook:grade_id to judge, in order")
    ap.add_argument("--threshold", type=float, default=ACCURACY_THRESHOLD, help="test accuracy needed")
    ap.add_argument("--languages", default="", help="comma-separated notebook=language: the checks' messages "
                    "in that language (default: English)")
    ap.add_argument("--wait", action="store_true", help="load the data, then wait for a line 'go' on the "
                    "standard input before judging (started ahead, while the notebooks run)")
    args = ap.parse_args(argv)
    languages = dict(item.split("=", 1) for item in filter(None, args.languages.split(",")))
    ref = Reference()
    if args.wait:
        ref.data  # noqa: B018 - loaded while waiting
        if sys.stdin.readline().strip() != "go":
            return 0
    for item in filter(None, args.cells.split(",")):
        notebook, _sep, cell = item.partition(":")
        print(json.dumps({"start": [notebook, cell]}), flush=True)  # the driver knows where a crash happened
        with i18n.using(languages.get(notebook)):  # the checks speak the notebook's language
            verdict = judge_cell(Path(args.evidence), notebook, cell, ref, args.threshold)
        print(json.dumps({"verdict": asdict(verdict)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
