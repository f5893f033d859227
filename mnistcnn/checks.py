"""Checks behind the notebooks' tests: each failure says what was expected, what the student has,
and the likely mistake.

Every check raises :class:`CheckFailed` (an ``AssertionError``, so nbgrader and pytest treat it as
a failed test) with a message in three parts::

    What is checked: <the rule>
      expected: <the right value>
      you have: <the student's value>
      likely mistake: <the usual cause, and how to fix it>

The message is in the kernel's language (:mod:`mnistcnn.i18n`, catalog ``course``): every part
of it, the three labels too (in Chinese ``应为：`` / ``你的结果：`` / ``可能的错误：``), while code,
numbers and names stay as they are. A message kept in a module constant is marked with ``N_`` and
translated where it is used.

In a notebook, a failed check shows the line of the student's test cell and the message, not the
inside of this module (:mod:`mnistcnn.hints`, which also adds a hint after three failures in a row);
the functions set ``__tracebackhide__`` for pytest.
"""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Callable, Sequence

import numpy as np

from mnistcnn import quiet_tensorflow

quiet_tensorflow()

import keras  # noqa: E402

from mnistcnn import constants, evidence, hints, i18n  # noqa: E402
from mnistcnn.i18n import N_, _  # noqa: E402


class CheckFailed(AssertionError):
    """A test of the course failed; the message explains why."""

    def _render_traceback_(self) -> list[str]:
        """What IPython shows: the student's line and the message, not this module's frames.
        (IPython asks twice, for the output and for the reply: the failure counts once.)"""
        if not hasattr(self, "_shown"):
            self._shown = hints.render(self)
        return list(self._shown)


def fail(what: str, expected, have, mistake: str | None = None) -> None:
    __tracebackhide__ = True
    lines = [what, _labelled(_("expected:"), expected), _labelled(_("you have:"), have)]
    if mistake:
        lines.append(_labelled(_("likely mistake:"), mistake))
    raise CheckFailed("\n".join(lines)) from None  # the message says it all: no chained error


def _labelled(label: str, value) -> str:
    """One indented part of a failure: its label, then the value (no space after a full-width colon)."""
    return f"  {label}{'' if label.endswith('：') else ' '}{value}"


def passed(what: str) -> None:
    """A ✓ line; ``what`` is translated (a notebook's ``checks.passed("...")`` is in the catalog too)."""
    hints.passed(sys._getframe(1))
    print(f"✓ {i18n.gettext(what)}")


def _require_number(got, what: str, want: str) -> None:
    """A result must be a plain number (an object that claims to equal everything is not)."""
    __tracebackhide__ = True
    import numbers

    if not isinstance(got, numbers.Real) or isinstance(got, bool):
        fail(what, want, _describe(got), _(NO_RETURN) if got is None
             else _("return a number (an int), computed from the arguments"))


NO_RETURN = N_("the function does not `return` its result")


def as_array(x):
    """A TensorFlow tensor as the NumPy array it holds (``tf.one_hot``, ``tf.cast`` answers); anything
    else as it is."""
    if type(x).__module__.startswith("tensorflow") and callable(getattr(x, "numpy", None)):
        try:
            return np.asarray(x.numpy())
        except Exception:  # noqa: BLE001 - described as it is instead
            return x
    return x


class Recorded:
    """A value the grader received as a description only (an object that is not plain data)."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


class Raised:
    """The exception a student's function raised on one input (the exception itself in the kernel,
    its text when the grader reads it back)."""

    def __init__(self, exc: BaseException | None, text: str):
        self.exc, self.text = exc, text

    def again(self):
        if self.exc is not None:
            raise self.exc
        raise RuntimeError(self.text)


def results_of(fn: Callable, calls: Sequence[tuple[tuple, dict]]) -> list:
    """``fn(*args, **kwargs)`` for each call; an exception becomes a :class:`Raised` (the check
    reports it). NotImplementedError (an answer not written yet) propagates as it is."""
    out = []
    for args, kwargs in calls:
        try:
            out.append(fn(*args, **kwargs))
        except NotImplementedError:
            raise
        except Exception as exc:  # noqa: BLE001 - reported by the check
            out.append(Raised(exc, f"{type(exc).__name__}: {exc}"))
    return out


def as_evidence(value):
    """A result as the grader receives it: plain data, an exception's text, or a description."""
    if isinstance(value, Raised):
        return {"$exception": value.text[:300]}
    return evidence.plain(value)


def from_evidence(value):
    """The inverse of :func:`as_evidence` (used by the grader)."""
    if isinstance(value, dict) and "$exception" in value:
        return Raised(None, str(value["$exception"]))
    if isinstance(value, dict) and "$repr" in value:
        return Recorded(str(value["$repr"]))
    return value


def _describe(obj) -> str:
    if obj is None:
        return "None"
    if isinstance(obj, Recorded):
        return obj.text
    if isinstance(obj, np.ndarray):
        return _("a NumPy array of shape {shape} and dtype {dtype}").format(shape=obj.shape, dtype=obj.dtype)
    return f"{type(obj).__name__} {obj!r}"[:200]


# --------------------------------------------------------------------------- 1. the data


def _array_evidence(x):
    """What the grader gets of a returned array: the array (a sketch when large), else its description."""
    x = as_array(x)
    if isinstance(x, np.ndarray):
        return {"array": evidence.describe_array(x)}
    if isinstance(x, (list, tuple)):
        try:
            arr = np.asarray(x)
            if arr.dtype.kind in "biuf":
                return {"array": evidence.describe_array(arr), "type": type(x).__name__}
        except Exception:  # noqa: BLE001 - described instead
            pass
    return {"value": evidence.plain(x)}


def check_images(x, images) -> None:
    """``x`` must be ``images`` (uint8, (N, 28, 28)) as float32 (N, 28, 28, 1) in [0, 1]: checked by
    its properties and scaled back (``x * 255`` close to the uint8 pixels)."""
    __tracebackhide__ = True
    _check_images(x, images, _scaled_close, _fail_scaling)


def _check_images(x, images, close: Callable, explain: Callable) -> None:
    """:func:`check_images` with ``close(x, images)`` telling right pixel values and
    ``explain(x, images, what)`` failing on wrong ones."""
    __tracebackhide__ = True
    evidence.save("images", input=evidence.fingerprint(images), output=_array_evidence(x))
    x = as_array(x)
    n = len(images)
    what = _("Preprocessed images: float32 of shape (N, 28, 28, 1), pixel values in [0, 1]")
    want_shape = _shape((n, 28, 28, 1))
    if x is None:
        fail(what, _an_array((n, 28, 28, 1)), "None", _(NO_RETURN))
    if not isinstance(x, np.ndarray):
        fail(what, _("a NumPy array"), _describe(x), _("return a NumPy array (e.g. images.reshape(...))"))
    if x.shape == (n, 28, 28):
        fail(what, want_shape, _shape(x.shape),
             _("the channel axis is missing: Conv2D expects (height, width, channels); "
               "reshape to ({n}, 28, 28, 1)").format(n=n))
    if x.shape == (n, 784):
        fail(what, want_shape, _shape(x.shape),
             _("the images are flattened, as for a dense network; a convnet keeps them as 28x28 "
               "images with one channel"))
    if x.shape == (n, 1, 28, 28):
        fail(what, want_shape, _shape(x.shape),
             _("channels first; Keras's Conv2D expects channels last: (N, 28, 28, 1)"))
    if x.shape != (n, 28, 28, 1):
        fail(what, want_shape, _shape(x.shape), _("keep all N images and reshape each to 28x28x1"))
    if x.dtype != np.float32:
        hint = (_("float64 doubles memory and is slower; use .astype('float32') before dividing")
                if x.dtype == np.float64 else _("convert with .astype('float32')"))
        fail(what, _("dtype {dtype}").format(dtype="float32"), _("dtype {dtype}").format(dtype=x.dtype), hint)
    lo, hi = float(x.min()), float(x.max())
    if hi > 1.0 + 1e-6 or lo < -1e-6:
        fail(what, _("values in [0, 1]"), _("values from {lo} to {hi}").format(lo=f"{lo:g}", hi=f"{hi:g}"),
             _("the pixels are not scaled: divide by 255") if hi > 1.5 else _("values outside [0, 1]"))
    if not close(x, images):
        explain(x, images, what)
    passed(_("{what}: all {n} images").format(what=what, n=f"{n:,}"))


def _shape(shape) -> str:
    return _("shape {shape}").format(shape=tuple(shape))


def _an_array(shape) -> str:
    return _("an array of shape {shape}").format(shape=tuple(shape))


def _fail_scaling(x, images, what: str) -> None:
    """The images hold other values than each uint8 pixel / 255: say how they were scaled (from
    ``x`` scaled back, ``x * 255`` against ``images``)."""
    __tracebackhide__ = True
    n = len(images)
    pixels = images.reshape(x.shape).astype("float32")
    if _scaled_close(x, images, 256):
        mistake = _("divide by 255 (the largest pixel value), not 256")
    elif _scaled_close(x, images, max(float(images.max()), 1e-12)):
        mistake = _("divide by 255, not by the largest value of this batch")
    elif np.allclose(np.sort(x.ravel()) * 255, np.sort(pixels.ravel()), atol=255e-6):
        mistake = _("the pixels are rearranged: reshape, don't transpose or shuffle")
    else:
        mistake = _("each pixel should be its uint8 value divided by 255")
    off = np.abs(x * np.float32(255) - pixels).reshape(n, -1).max(axis=1) / 255
    bad = int(np.argmax(off))
    fail(what, _("image {i} equal to images[{i}] / 255").format(i=bad),
         _("a largest difference of {diff}").format(diff=f"{float(off.max()):.4g}"), mistake)


#: Images compared per block: np.allclose on all 60,000 at once makes several temporary copies of
#: 188 MB; block by block the same element-wise test runs in cache, several times faster.
CLOSE_BLOCK = 1024


def _scaled_close(x: np.ndarray, images: np.ndarray, scale: float = 255) -> bool:
    """``x * scale`` close to the uint8 ``images`` (shaped like ``x``), block by block: the tolerance
    of ``np.allclose(x, images / scale, atol=1e-6)``, scaled back."""
    for i in range(0, len(images), CLOSE_BLOCK):
        block = images[i:i + CLOSE_BLOCK]
        pixels = block.reshape(x[i:i + CLOSE_BLOCK].shape).astype("float32")
        if not np.allclose(x[i:i + CLOSE_BLOCK] * np.float32(scale), pixels, atol=scale * 1e-6):
            return False
    return True


def check_labels(y, labels) -> None:
    """``y`` must be the one-hot encoding (N, 10) of the integer ``labels``."""
    __tracebackhide__ = True
    evidence.save("labels", input=evidence.fingerprint(labels), output=_array_evidence(y))
    n = len(labels)
    what = _("Encoded labels: one-hot rows of 10 (keras.utils.to_categorical)")
    if y is None:
        fail(what, _an_array((n, 10)), "None", _(NO_RETURN))
    try:
        y = np.asarray(as_array(y))
    except Exception:  # noqa: BLE001 - not array-like
        fail(what, _an_array((n, 10)), _describe(y), _("return a NumPy array"))
    if y.dtype == object:
        fail(what, _an_array((n, 10)), _describe(y), _("return a NumPy array of numbers"))
    if y.shape == (n,):
        fail(what, _shape((n, 10)), _("shape {shape} (integer labels)").format(shape=y.shape),
             _("the labels are not one-hot encoded; categorical_crossentropy needs one-hot targets: "
               "keras.utils.to_categorical(labels, 10)"))
    if y.ndim != 2 or y.shape[0] != n:
        fail(what, _shape((n, 10)), _shape(y.shape), _("one row per label, one column per digit"))
    if y.shape[1] != 10:
        fail(what, _shape((n, 10)), _shape(y.shape),
             _("MNIST has 10 classes (digits 0-9): pass num_classes=10 so that a batch without "
               "some digit still gets 10 columns"))
    if not np.issubdtype(y.dtype, np.floating):
        fail(what, _("a float dtype (float32)"), _("dtype {dtype}").format(dtype=y.dtype),
             _("use keras.utils.to_categorical"))
    if not np.all((y == 0) | (y == 1)) or not np.all(y.sum(axis=1) == 1):
        fail(what, _("exactly one 1 in each row, zeros elsewhere"), _("rows like {row}").format(row=y[0].tolist()),
             _("build the rows with keras.utils.to_categorical(labels, 10)"))
    wrong = np.flatnonzero(y.argmax(axis=1) != labels)
    if wrong.size:
        i = int(wrong[0])
        fail(what, _("row {i} with its 1 in column {label} (the label)").format(i=i, label=int(labels[i])),
             _("its 1 in column {column}").format(column=int(y[i].argmax())),
             _("the one-hot rows don't follow the labels (shuffled, sorted or shifted?)"))
    passed(_("{what}: all {n} labels").format(what=what, n=f"{n:,}"))


# --------------------------------------------------------------------------- 2. formulas


def _cases(cases) -> tuple[list[tuple], list | None]:
    """The inputs of a check and their stored values: ``{inputs: value}`` gives both, a list of
    inputs gives the inputs alone (their values are then unknown here: see the checks)."""
    if isinstance(cases, dict):
        return [tuple(c) for c in cases], list(cases.values())
    return [tuple(c) for c in cases], None


def check_output_size_function(fn: Callable[..., int], cases) -> None:
    """``fn(size, kernel, stride=..., padding=...)`` on each configuration of ``cases``.

    ``cases`` maps each configuration ``(size, kernel, stride, padding)`` to the size Keras's Conv2D
    gives, as the test cell states it: each result must be that value. Given a list of
    configurations without values, the check records the results for the grader (which judges them
    against its own references) and checks here only that each is a number.
    """
    __tracebackhide__ = True
    configs, wants = _cases(cases)
    results = results_of(fn, [((size, kernel), {"stride": stride, "padding": padding})
                              for size, kernel, stride, padding in configs])
    evidence.save("output_size", configs=configs, results=[as_evidence(r) for r in results])
    if wants is None:
        _judge_types(configs, results, _("conv_output_size agrees with Keras's Conv2D"), _output_size_inputs)
        return
    judge_output_sizes(configs, results, wants, _output_size_mistake)


def _output_size_inputs(size, kernel, stride, padding) -> str:
    return _("size={size}, kernel={kernel}, stride={stride}, padding='{padding}'").format(
        size=size, kernel=kernel, stride=stride, padding=padding)


def _judge_types(configs, results, what: str, inputs: Callable[..., str]) -> None:
    """Results whose right values are not known here: each must be a number, not an exception."""
    __tracebackhide__ = True
    for config, got in zip(configs, results):
        expected = _("a number for {inputs}").format(inputs=inputs(*config))
        if isinstance(got, Raised):
            fail(what, expected, _("an exception: {error}").format(error=got.text))
        _require_number(got, what, expected)


def judge_output_sizes(configs, results, wants, mistake: Callable) -> None:
    """The results of conv_output_size on ``configs`` (one each) against the right sizes ``wants``;
    ``mistake(got, want, size, kernel, stride, padding)`` names the likely mistake."""
    __tracebackhide__ = True
    what = _("conv_output_size agrees with Keras's Conv2D")
    for (size, kernel, stride, padding), got, want in zip(configs, results, wants):
        expected = _("{want} for size={size}, kernel={kernel}, stride={stride}, padding='{padding}'").format(
            want=want, size=size, kernel=kernel, stride=stride, padding=padding)
        if isinstance(got, Raised):
            fail(what, expected, _("an exception: {error}").format(error=got.text))
        _require_number(got, what, expected)
        if got != want or isinstance(got, float) and not float(got).is_integer():
            fail(what, expected, repr(got), mistake(got, want, size, kernel, stride, padding))
    passed(_("{what} on {n} configurations").format(what=what, n=len(configs)))


def _output_size_mistake(got, want: int, size: int, kernel: int, stride: int, padding: str) -> str:
    """The likely mistake behind ``got``, told from its relation to the right size ``want``."""
    if padding == "same" and got < want:
        return _("padding='same' pads so that the output is ceil(size / stride)")
    if padding != "valid":
        return _("valid: (size - kernel) // stride + 1; same: ceil(size / stride)")
    if stride > 1 and got > want and float(got).is_integer() and (int(got) - 1) // stride == want - 1:
        return _("the stride is ignored: divide (size - kernel) by the stride")
    if isinstance(got, float) and not got.is_integer() and math.floor(got) == want:
        return _("use integer division (//): a window only counts if it fits entirely")
    if got == want - 1:
        return _("forgot the + 1 (the first window position)")
    if got == want + 1 and (size - kernel) % stride:
        return _("round down, not up: a window that runs off the edge is dropped")
    return _("valid: (size - kernel) // stride + 1; same: ceil(size / stride)")


def check_param_count_function(fn: Callable[..., int], cases) -> None:
    """``fn(kernel, in_channels, filters)`` on each configuration of ``cases``.

    ``cases`` maps each configuration ``(kernel, in_channels, filters)`` to what Keras's
    Conv2D.count_params() gives, as the test cell states it: each result must be that value. Given a
    list of configurations without values, the check records the results for the grader (which
    judges them against its own references) and checks here only that each is a number.
    """
    __tracebackhide__ = True
    configs, wants = _cases(cases)
    results = results_of(fn, [(tuple(c), {}) for c in configs])
    evidence.save("param_count", configs=configs, results=[as_evidence(r) for r in results])
    if wants is None:
        _judge_types(configs, results, _("conv_param_count agrees with Keras's Conv2D.count_params()"),
                     _param_count_inputs)
        return
    judge_param_counts(configs, results, wants, _param_count_mistake)


def _param_count_inputs(kernel, in_channels, filters) -> str:
    return _("kernel={kernel}, in_channels={in_channels}, filters={filters}").format(
        kernel=kernel, in_channels=in_channels, filters=filters)


def judge_param_counts(configs, results, wants, mistake: Callable) -> None:
    """The results of conv_param_count on ``configs`` (one each) against the right counts ``wants``;
    ``mistake(got, want, kernel, in_channels, filters)`` names the likely mistake."""
    __tracebackhide__ = True
    what = _("conv_param_count agrees with Keras's Conv2D.count_params()")
    for (kernel, in_channels, filters), got, want in zip(configs, results, wants):
        if isinstance(got, Raised):
            got.again()
        expected = _("{want} for kernel={kernel}, in_channels={in_channels}, filters={filters}").format(
            want=want, kernel=kernel, in_channels=in_channels, filters=filters)
        _require_number(got, what, expected)
        if got != want:
            fail(what, expected, repr(got), mistake(got, want, kernel, in_channels, filters))
    passed(_("{what} on {n} configurations").format(what=what, n=len(configs)))


def _param_count_mistake(got, want: int, kernel: int, in_channels: int, filters: int) -> str:
    """The likely mistake behind ``got``, told from its relation to the right count ``want``."""
    per_filter = want // filters - 1 if filters else 0  # the weights of one filter
    if got == want - filters:
        return _("the biases are missing: each filter has one bias, + filters")
    if filters and got % filters == 0 and (got // filters - 1) * in_channels == per_filter and in_channels > 1:
        return _("each filter spans all input channels: kernel * kernel * in_channels weights")
    if got == want - filters + 1:
        return _("one bias per filter, not one in all")
    if filters and got % filters == 0 and (got // filters - 1) * kernel == per_filter and kernel > 1:
        return _("the kernel is square: kernel * kernel weights per channel")
    return "(kernel * kernel * in_channels + 1) * filters"


# --------------------------------------------------------------------------- 2-4. the model


#: The architecture the lesson states, layer by layer: (class, output shape, parameters, config).
#: The output shapes and parameter counts of the layers are left out (None): reading them is an
#: exercise, and the grader keeps them (autograder/grading/references.py). The lesson gives the
#: Flatten's 576 numbers and the total of 93,322 parameters.
CONV_BASE = [
    ("Conv2D", None, None, {"filters": 32, "kernel_size": (3, 3), "activation": "relu"}),
    ("MaxPooling2D", None, None, {}),
    ("Conv2D", None, None, {"filters": 64, "kernel_size": (3, 3), "activation": "relu"}),
    ("MaxPooling2D", None, None, {}),
    ("Conv2D", None, None, {"filters": 64, "kernel_size": (3, 3), "activation": "relu"}),
]

FULL_MODEL = CONV_BASE + [
    ("Flatten", (576,), None, {}),
    ("Dense", None, None, {"units": 64, "activation": "relu"}),
    ("Dense", None, None, {"units": 10, "activation": "softmax"}),
]

TOTAL_PARAMS = 93_322


def _leaf_layers(model) -> list:
    """The model's layers in order, models nested in it (a base reused inside a Sequential or a
    functional model) opened up, the functional API's InputLayer left out."""
    out = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            out += _leaf_layers(layer)
        elif not isinstance(layer, keras.layers.InputLayer):
            out.append(layer)
    return out


def _activation_name(value) -> str:
    """An activation as its name, however it was given ('relu', keras.activations.relu, a config)."""
    if isinstance(value, dict):
        inner = value.get("config")
        return str(inner if isinstance(inner, str) else value.get("class_name", value))
    return str(getattr(value, "__name__", value))


def _separate_activation(layer) -> str | None:
    """The activation of an Activation, ReLU or Softmax layer (written after a linear layer, the same
    model as the activation given to that layer); None for any other layer."""
    cfg = layer.get_config()
    if isinstance(layer, keras.layers.Activation):
        return _activation_name(cfg.get("activation"))
    if isinstance(layer, keras.layers.ReLU) and not cfg.get("max_value") and not cfg.get("negative_slope") \
            and not cfg.get("threshold"):
        return "relu"
    if isinstance(layer, keras.layers.Softmax) and cfg.get("axis") in (-1, [-1], (-1,)):
        return "softmax"
    return None


def _layer_rows(model) -> list[tuple[str, tuple, int, dict]]:
    """(class, output shape, parameters, config) of each layer: the Sequential, functional and nested
    ways of writing the model give the same rows."""
    rows = []
    for layer in _leaf_layers(model):
        shape = tuple(layer.output.shape[1:]) if hasattr(layer, "output") else None
        cfg = dict(layer.get_config())
        if "activation" in cfg:
            cfg["activation"] = _activation_name(cfg["activation"])
        act = _separate_activation(layer)
        if act is not None and rows and rows[-1][3].get("activation") == "linear":
            rows[-1][3]["activation"] = act  # Conv2D(32, 3) then Activation("relu")
            continue
        rows.append((type(layer).__name__, shape, int(layer.count_params()), cfg))
    return rows


def build(builder, what: str | None = None):
    """Call ``builder()`` (e.g. ``build_model``) and return the model; explain the usual errors.

    Warnings raised while building (Keras 3 warns about ``input_shape=``, which the book uses) are
    shown as notes on stdout: nbgrader gives zero points to a test cell that writes to stderr.
    """
    __tracebackhide__ = True
    what = what or _("Building your model")
    if isinstance(builder, keras.Model) or not callable(builder):
        evidence.save("model", model=builder if isinstance(builder, keras.Model) else evidence.plain(builder))
        return builder
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = builder()
        except NotImplementedError:
            raise
        except Exception as exc:  # noqa: BLE001 - explained to the student
            expected, have, mistake = _build_error(exc)
            try:
                fail(what, expected, have, mistake)
            except CheckFailed as failure:
                # A failure can only cost the student points: the grader takes its word for it.
                evidence.save("model", model=None, failure=str(failure))
                raise
    for w in caught:
        text = str(w.message)
        if "input_shape" in text:
            print(_("note: Keras 3 prefers `keras.Input(shape=(28, 28, 1))` as the first element of the "
                    "Sequential to `input_shape=` on the first layer; both build the same model."))
        else:
            print(_("note: {warning}").format(warning=f"{w.category.__name__}: {text.splitlines()[0][:200]}"))
    evidence.save("model", model=model if isinstance(model, keras.Model) else evidence.plain(model))
    return model


def _build_error(exc: Exception) -> tuple[str, str, str | None]:
    """(expected, you have, likely mistake) for an error raised while building a model."""
    text = str(exc).splitlines()[0][:300] if str(exc) else ""
    have = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    if isinstance(exc, ValueError) and ("min_ndim=4, found ndim=3" in str(exc) or "expected ndim=4, found ndim=3"
                                        in str(exc)):
        return (_("inputs of shape (28, 28, 1)"), _("inputs of shape (28, 28): Keras refuses the Conv2D"),
                _(NO_CHANNEL))
    if isinstance(exc, ValueError):
        return _("a model that builds"), have, _("read the error: a layer got an input of a shape it cannot take")
    if isinstance(exc, AttributeError) and "has no attribute 'add'" in str(exc):
        return (_("a model that builds"), have, _("only a keras.Sequential model has .add(): a base built with "
                "the functional API is extended by calling it, x = build_conv_base()(inputs), then "
                "keras.Model(inputs, outputs)"))
    return _("a model that builds"), have, None


NO_CHANNEL = N_("the channel axis is missing: keras.Input(shape=(28, 28, 1))")


def _is_layer(x) -> bool:
    """A Keras layer or input, or (for the grader) the description of one."""
    if isinstance(x, dict) and "$repr" in x:
        x = Recorded(str(x["$repr"]))
    if isinstance(x, Recorded):
        name = (x.text.split() or [""])[0]
        return name == "KerasTensor" or isinstance(getattr(keras.layers, name, None), type)
    return isinstance(x, (keras.layers.Layer, keras.KerasTensor))


def _check_is_model(model, what: str) -> None:
    __tracebackhide__ = True
    if model is None:
        fail(what, _("a Keras model"), "None", _("the function does not `return` the model"))
    if isinstance(model, (list, tuple)) and model and all(_is_layer(x) for x in model):
        fail(what, _("a Keras model"), _("a {kind} of {n} layers").format(kind=type(model).__name__, n=len(model)),
             _("wrap the layers in a model: keras.Sequential([keras.Input(shape=(28, 28, 1)), ...])"))
    if not isinstance(model, keras.Model):
        fail(what, _("a Keras model"), _describe(model), _("return the model you built"))
    try:
        model.inputs  # noqa: B018  (raises if the model was never built)
        shape = tuple(model.input_shape)
    except Exception:
        fail(what, _("a model built for inputs of shape (28, 28, 1)"), _("a model with no input shape"),
             _("start the Sequential with keras.Input(shape=(28, 28, 1))"))
    if isinstance(shape, list):
        fail(what, _("one input of shape (28, 28, 1)"), _("{n} inputs").format(n=len(shape)),
             _("the convnet takes one image input"))
    want = _("input shape {shape}").format(shape=(28, 28, 1))
    if shape == (None, 28, 28):
        fail(what, want, _("input shape {shape}").format(shape=(28, 28)), _(NO_CHANNEL))
    if shape != (None, 28, 28, 1):
        fail(what, want, _("input shape {shape}").format(shape=shape[1:]),
             _("MNIST images are 28x28 pixels with 1 channel: keras.Input(shape=(28, 28, 1))"))


FLATTEN_MISSING = N_("Flatten is missing: Dense layers need a vector, flatten the (3, 3, 64) maps first")


def _check_layers(rows, spec, what: str) -> None:
    """Compare layer rows with the spec (class, output shape, params, config checks); a shape or a
    count given as None is not compared."""
    __tracebackhide__ = True
    for i, (want, got) in enumerate(zip(spec, rows)):
        w_cls, w_shape, w_params, w_cfg = want
        g_cls, g_shape, g_params, g_cfg = got
        where = _("{what}: layer {i} ({kind})").format(what=what, i=i, kind=g_cls)
        if g_cls != w_cls:
            _fail_layer_kind(rows, w_cls, g_cls, where)
        if g_cls == "Conv2D":
            _check_conv(rows, g_cfg, w_cfg, where)
        if g_cls == "MaxPooling2D":
            _check_pooling(g_cfg, where)
        if g_cls in ("Conv2D", "Dense") and "activation" in w_cfg and g_cfg["activation"] != w_cfg["activation"]:
            _fail_activation(g_cfg["activation"], w_cfg["activation"], where)
        if g_cls == "Dense" and g_cfg["units"] != w_cfg["units"]:
            mistake = (_("one output unit per digit: Dense(10, activation='softmax')") if w_cfg["units"] == 10
                       else _("the book's classifier has Dense(64, activation='relu') before the output"))
            fail(where, _("{n} units").format(n=w_cfg["units"]), _("{n} units").format(n=g_cfg["units"]), mistake)
        if w_params is None and g_cls in ("Conv2D", "Dense") and g_cfg.get("use_bias") is False:
            fail(_("{where} parameters").format(where=where), _("use_bias=True (the default)"), "use_bias=False",
                 _("use_bias must stay True; check the number of filters/units"))
        if w_shape is not None and g_shape != w_shape:
            fail(_("{where} output shape").format(where=where), w_shape, g_shape,
                 _("check the layers before this one (sizes, padding, pooling)"))
        if w_params is not None and g_params != w_params:
            fail(_("{where} parameters").format(where=where), f"{w_params:,}", f"{g_params:,}",
                 _("use_bias must stay True; check the number of filters/units"))


def _fail_layer_kind(rows, w_cls: str, g_cls: str, where: str) -> None:
    __tracebackhide__ = True
    classes = [r[0] for r in rows]
    if w_cls == "Flatten" and "Flatten" not in classes:
        mistake = _(FLATTEN_MISSING)
    elif w_cls == "Flatten" or g_cls == "Flatten":
        mistake = _("Flatten goes right after the last Conv2D, before the first Dense")
    elif w_cls == "MaxPooling2D" and g_cls == "Conv2D":
        mistake = _("a MaxPooling2D((2, 2)) follows each of the first two Conv2D layers")
    else:
        mistake = _("the layers are in the wrong order or of the wrong kind")
    fail(where, w_cls, _("{kind} (your layers: {layers})").format(kind=g_cls, layers=", ".join(classes)), mistake)


def _check_conv(rows, g_cfg: dict, w_cfg: dict, where: str) -> None:
    __tracebackhide__ = True
    if g_cfg.get("padding") != "valid":
        fail(where, _("padding='valid' (the default)"), f"padding='{g_cfg.get('padding')}'",
             _("padding='same' keeps the size: the book's convnet shrinks each map by 2 "
               "(28 -> 26); leave padding at its default"))
    if tuple(g_cfg["kernel_size"]) != w_cfg["kernel_size"]:
        fail(where, f"kernel_size={w_cfg['kernel_size']}", f"kernel_size={tuple(g_cfg['kernel_size'])}",
             _("every Conv2D uses a 3x3 window: (3, 3)"))
    if g_cfg["filters"] != w_cfg["filters"]:
        order = [r[3].get("filters") for r in rows if r[0] == "Conv2D"]
        mistake = (_("the filters grow with depth: 32, then 64, then 64")
                   if sorted(order) == sorted([32, 64, 64]) else _("32, 64 and 64 filters"))
        fail(where, _("{n} filters").format(n=w_cfg["filters"]),
             _("{n} filters (your Conv2D layers: {order})").format(n=g_cfg["filters"], order=order), mistake)
    if tuple(g_cfg.get("strides", (1, 1))) != (1, 1):
        fail(where, "strides=(1, 1)", f"strides={tuple(g_cfg['strides'])}",
             _("leave the stride at 1; the pooling layers do the downsampling"))


def _check_pooling(g_cfg: dict, where: str) -> None:
    __tracebackhide__ = True
    if tuple(g_cfg["pool_size"]) != (2, 2):
        fail(where, "pool_size=(2, 2)", f"pool_size={tuple(g_cfg['pool_size'])}",
             _("MaxPooling2D((2, 2)) halves each side: 26 -> 13"))
    if tuple(g_cfg.get("strides") or g_cfg["pool_size"]) != (2, 2):
        fail(where, _("strides=(2, 2) (the default: the pool size)"), f"strides={tuple(g_cfg['strides'])}",
             _("leave the pooling's strides at their default: the windows must not overlap, each side is halved"))
    if g_cfg.get("padding") != "valid":
        fail(where, "padding='valid'", f"padding='{g_cfg.get('padding')}'",
             _("leave the pooling padding at its default"))


def _fail_activation(act: str, want: str, where: str) -> None:
    __tracebackhide__ = True
    if want == "softmax":
        mistake = {
            "sigmoid": _("sigmoid scores each digit on its own; softmax makes the 10 outputs "
                         "a probability distribution (one class per image)"),
            "linear": _("no activation gives raw scores (logits); use activation='softmax'"),
        }.get(act) or _("the output layer of a 10-class classifier uses softmax")
    elif act == "linear":
        mistake = _("the hidden layers use activation='relu' (with no activation, stacked layers collapse "
                    "to one linear map)")
    else:
        mistake = _("the hidden layers use activation='relu'")
    fail(where, f"activation='{want}'", f"activation='{act}'", mistake)


def _check_count(rows, spec, what: str) -> None:
    __tracebackhide__ = True
    if len(rows) != len(spec):
        classes = ", ".join(r[0] for r in rows)
        want = ", ".join(s[0] for s in spec)
        if len(rows) < len(spec):
            missing = spec[len(rows)][0]
            mistake = _("a layer is missing (the next expected one is {layer})").format(layer=missing)
            if "Flatten" not in [r[0] for r in rows] and "Flatten" in want:
                mistake = _(FLATTEN_MISSING)
        else:
            mistake = _("there are extra layers (Dropout, another Dense, a pooling after the last Conv2D?)")
        fail(_("{what}: number of layers").format(what=what),
             _("{n} layers ({layers})").format(n=len(spec), layers=want),
             _("{n} layers ({layers})").format(n=len(rows), layers=classes or _("none")), mistake)


def check_conv_base(model, spec: list | None = None) -> None:
    """The convolutional base of the book, layer by layer (class, config; output shape and
    parameters when ``spec`` gives them: the grader's table does, the lesson's architecture here
    does not).

    ``model`` is the model or, better, the function that builds it (its errors get explained).
    """
    __tracebackhide__ = True
    what = _("Convolutional base")
    model = build(model, what)
    _check_is_model(model, what)
    rows = _layer_rows(model)
    spec = CONV_BASE if spec is None else spec
    _check_layers(rows, spec, what)  # compares the common prefix first: a better message
    _check_count(rows, spec, what)
    passed(_("{what}: 5 layers, output (3, 3, 64), {n} parameters").format(what=what, n=f"{sum(r[2] for r in rows):,}"))


def check_full_model(model, spec: list | None = None) -> None:
    """The whole convnet: the base, Flatten -> (576,), Dense(64, relu), Dense(10, softmax).

    ``model`` is the model or the function that builds it; ``spec`` as for :func:`check_conv_base`.
    """
    __tracebackhide__ = True
    what = _("The convnet")
    model = build(model, what)
    _check_is_model(model, what)
    rows = _layer_rows(model)
    spec = FULL_MODEL if spec is None else spec
    classes = [r[0] for r in rows]
    if "Flatten" not in classes and classes[:5] == [s[0] for s in spec[:5]]:
        fail(_("{what}: layer {i} ({kind})").format(what=what, i=5, kind="Flatten"),
             _("Flatten, turning the (3, 3, 64) maps into 576 numbers"),
             _("{kind} (your layers: {layers})").format(kind=classes[5] if len(classes) > 5 else _("nothing"),
                                                         layers=", ".join(classes)),
             _("Flatten is missing: Dense applied to (3, 3, 64) maps gives an output of shape "
               "{shape} instead of (10,)").format(shape=rows[-1][1]))
    _check_layers(rows, spec, what)
    _check_count(rows, spec, what)
    total = int(model.count_params())
    if total != TOTAL_PARAMS:
        fail(_("{what}: total parameters").format(what=what), f"{TOTAL_PARAMS:,}", f"{total:,}")
    passed(_("{what}: 8 layers, Flatten -> (576,), output (10,), {n} parameters").format(what=what, n=f"{total:,}"))


def check_new_model_each_call(builder) -> None:
    """Two calls of the builder give two distinct models (no model shared between calls)."""
    __tracebackhide__ = True
    first, second = build(builder), build(builder)
    evidence.save("distinct", distinct=first is not second)
    judge_distinct(first is not second, builder)


def judge_distinct(distinct: bool, builder=None) -> None:
    __tracebackhide__ = True
    if not distinct:
        fail(_("{builder}() called twice").format(builder=getattr(builder, "__name__", None) or _("the builder")),
             _("two new models"), _("the same model object twice"),
             _("create the model inside the function, at each call"))
    passed(_("a new model at each call"))


def check_summary_answers(shapes: Sequence, params: Sequence, model=None, spec: list | None = None) -> None:
    """The student's reading of model.summary(): output shapes and parameter counts per layer.

    In the notebook, ``model`` (the base or its builder, build_conv_base) is checked against the
    lesson's architecture, then the values read must be what Keras reports for its layers. Without
    ``model`` (and without ``spec``), only the form of the answers is checked here (five tuples of
    integers, five integers): they are recorded for the grader, which judges them against its own
    table. The grader passes that table as ``spec`` (rows of class, output shape, parameters,
    config); ``model``, given then, must have the shapes and counts read.
    """
    __tracebackhide__ = True
    evidence.save("summary", shapes=evidence.plain(shapes), params=evidence.plain(params))
    what = _("Your reading of model.summary()")
    want_shapes = want_params = [None] * len(CONV_BASE)
    if spec is not None:
        want_shapes, want_params = [s[1] for s in spec], [s[2] for s in spec]
    elif model is not None:
        rows = _layer_rows(build(model))
        configs_ok = True
        try:
            _check_layers(rows, CONV_BASE, what)
        except CheckFailed:
            configs_ok = False
        if not configs_ok or [r[0] for r in rows] != [s[0] for s in CONV_BASE]:
            fail(what, _("your model to have the shapes and counts you read"),
                 f"{[r[1] for r in rows]}, {[r[2] for r in rows]}", _("rebuild the base with build_conv_base()"))
        want_shapes, want_params = [r[1] for r in rows], [r[2] for r in rows]
    for name, got in ((_("output shapes"), shapes), (_("parameter counts"), params)):
        if got is None or not hasattr(got, "__len__"):
            fail(f"{what}: {name}", _("a list of {n} entries").format(n=len(CONV_BASE)), _describe(got),
                 _("fill in the list"))
        if len(got) != len(CONV_BASE):
            fail(_("{what}: number of {name}").format(what=what, name=name),
                 _("{n} (one per layer of the base)").format(n=len(CONV_BASE)), len(got),
                 _("one entry per layer: Conv2D, MaxPooling2D, Conv2D, MaxPooling2D, Conv2D"))
    for i, (got, want) in enumerate(zip(shapes, want_shapes)):
        _judge_summary_shape(got, want, _("{what}: output shape of layer {i} ({kind})").format(
            what=what, i=i, kind=CONV_BASE[i][0]))
    for i, (got, want) in enumerate(zip(params, want_params)):
        _judge_summary_count(got, want, _("{what}: parameters of layer {i} ({kind})").format(
            what=what, i=i, kind=CONV_BASE[i][0]))
    if spec is not None and model is not None:
        rows = _layer_rows(build(model))
        if [r[1] for r in rows] != want_shapes or [r[2] for r in rows] != want_params:
            fail(what, _("your model to have the shapes and counts you read"),
                 f"{[r[1] for r in rows]}, {[r[2] for r in rows]}", _("rebuild the base with build_conv_base()"))
    if spec is not None or model is not None:
        passed(_("{what}: all {n} layers right").format(what=what, n=len(want_shapes)))


def _plain_int(x) -> bool:
    """A real integer, not an object that claims to equal anything."""
    import numbers

    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def _judge_summary_shape(got, want: tuple | None, where: str) -> None:
    """A shape read, against ``want`` (its form only when ``want`` is None)."""
    __tracebackhide__ = True
    got_t = tuple(got) if isinstance(got, (tuple, list)) else got
    if not isinstance(got_t, tuple) or not all(_plain_int(x) or x is None for x in got_t):
        fail(where, _("a tuple of integers such as {example}").format(example=want or "(26, 26, 32)"), _describe(got),
             _("write the shape as a tuple of numbers, e.g. (26, 26, 32)"))
    got_t = tuple(None if x is None else int(x) for x in got_t)
    if want is not None and got_t != want:
        mistake = (_("leave out the batch axis (None)") if got_t[1:] == want
                   else _("read the 'Output Shape' column of the summary"))
        fail(where, want, got, mistake)


def _judge_summary_count(got, want: int | None, where: str) -> None:
    """A count read, against ``want`` (its form only when ``want`` is None)."""
    __tracebackhide__ = True
    if not _plain_int(got):
        fail(where, _("an integer such as {example}").format(example="320" if want is None else want), _describe(got),
             _("write the count as a whole number, e.g. 320"))
    if want is not None and int(got) != want:
        mistake = (_("pooling layers have no weights: 0") if want == 0
                   else _("read the 'Param #' column, or compute (3*3*in_channels + 1) * filters"))
        fail(where, want, got, mistake)


def check_probabilities(probs, n: int) -> None:
    """Predictions on a batch of n images: (n, 10), non-negative, rows summing to 1."""
    __tracebackhide__ = True
    what = _("Predictions are probabilities over the 10 digits")
    if probs is None:
        fail(what, _an_array((n, 10)), "None", _("model.predict(batch) returns the probabilities"))
    probs = np.asarray(as_array(probs))
    if probs.shape != (n, 10):
        fail(what, _shape((n, 10)), _shape(probs.shape), _("model.predict(batch) on the whole batch"))
    sums = probs.sum(axis=1)
    if probs.min() < 0 or not np.allclose(sums, 1, atol=1e-4):
        fail(what, _("non-negative rows summing to 1"),
             _("row sums from {lo} to {hi}").format(lo=f"{sums.min():.3f}", hi=f"{sums.max():.3f}"),
             _("the output layer needs activation='softmax'"))
    passed(what)


# --------------------------------------------------------------------------- 5. training


#: RMSprop's own settings, which the course keeps (only the learning rate is the course's).
RMSPROP_DEFAULTS = {"rho": 0.9, "momentum": 0.0, "epsilon": 1e-7, "centered": False, "weight_decay": None,
                    "clipnorm": None, "clipvalue": None, "global_clipnorm": None, "use_ema": False}


def _loss_settings(loss) -> dict:
    """A loss given as a string, a function or a Loss object, as its name and options."""
    if isinstance(loss, str):
        return {"name": loss}
    name = getattr(loss, "name", None) or getattr(loss, "__name__", None) or type(loss).__name__
    cfg = loss.get_config() if isinstance(loss, keras.losses.Loss) else {}
    return {"name": str(name), "kind": type(loss).__name__, "from_logits": bool(cfg.get("from_logits", False)),
            "label_smoothing": float(cfg.get("label_smoothing", 0.0) or 0.0)}


def _metric_settings(metric) -> dict:
    """A metric given as a string, a function or a Metric object, as its name and kind."""
    if isinstance(metric, str):
        return {"name": metric, "kind": "string"}
    if isinstance(metric, keras.metrics.Metric):
        return {"name": str(metric.name), "kind": type(metric).__name__}
    return {"name": str(getattr(metric, "__name__", repr(metric))), "kind": "function"}


def compile_settings(model) -> dict:
    """What model.compile set, as data: optimizer and its settings, learning rate (or schedule),
    loss, metrics."""
    if model is None:
        return {"model": None}
    if getattr(model, "optimizer", None) is None or not getattr(model, "compiled", False):
        return {"compiled": False}
    opt = model.optimizer
    rate = getattr(opt, "_learning_rate", None)
    if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
        lr = {"schedule": type(rate).__name__, "config": evidence.plain(rate.get_config())}
    else:
        lr = {"constant": float(np.asarray(opt.learning_rate))}
    config = opt.get_config()
    metrics = model._compile_metrics._user_metrics if getattr(model, "_compile_metrics", None) else None
    metrics = metrics if isinstance(metrics, (list, tuple)) else [] if metrics is None else [metrics]
    return {"compiled": True, "optimizer": type(opt).__name__, "learning_rate": lr,
            "optimizer_config": {k: evidence.plain(config.get(k)) for k in RMSPROP_DEFAULTS},
            "loss": _loss_settings(model.loss), "metrics": [_metric_settings(m) for m in metrics]}


def check_compiled(model, n_samples: int) -> None:
    """RMSprop with the course's schedule for ``n_samples`` training images, categorical
    cross-entropy (one-hot labels) and the accuracy metric."""
    __tracebackhide__ = True
    settings = compile_settings(model)
    compiled = model if isinstance(model, keras.Model) and settings.get("compiled") else None
    # the grader reads the settings from the model's file
    evidence.save("compiled", settings=settings, model=compiled, n_samples=int(n_samples))
    judge_compile_settings(settings, int(n_samples))


def judge_compile_settings(settings: dict, n_samples: int) -> None:
    """The settings of :func:`compile_settings` against the course's recipe for ``n_samples`` images."""
    __tracebackhide__ = True
    what = _("Compiled model")
    if "model" in settings and settings["model"] is None:
        fail(what, _("the compiled model"), "None", _("compile_model must `return model` after compiling it"))
    if not settings.get("compiled"):
        fail(what, _("a compiled model"), _("a model that was not compiled"),
             _("call model.compile(optimizer=..., loss=..., metrics=[...]) inside compile_model"))
    _judge_optimizer(settings, what)
    _judge_schedule(settings["learning_rate"], n_samples, what)
    _judge_loss(settings["loss"], what)
    _judge_metrics(settings["metrics"], what)
    passed(_("{what}: RMSprop with the course's schedule, categorical cross-entropy, accuracy").format(what=what))


def _judge_optimizer(settings: dict, what: str) -> None:
    __tracebackhide__ = True
    opt = settings["optimizer"]
    if opt != "RMSprop":
        fail(_("{what}: optimizer").format(what=what), "RMSprop", opt,
             _("the book trains with keras.optimizers.RMSprop"))
    have = settings.get("optimizer_config", {})
    changed = {k: have.get(k) for k, v in RMSPROP_DEFAULTS.items() if have.get(k) != v}
    if changed:
        fail(_("{what}: RMSprop's settings").format(what=what),
             _("{settings} (RMSprop's defaults)").format(
                 settings=", ".join(f"{k}={RMSPROP_DEFAULTS[k]!r}" for k in changed)),
             ", ".join(f"{k}={v!r}" for k, v in changed.items()),
             _("give RMSprop only the learning rate: keras.optimizers.RMSprop(learning_rate=...)"))


def _judge_schedule(lr: dict, n_samples: int, what: str) -> None:
    """The learning rate must be recipe.learning_rate_schedule(n_samples): a cosine from 1e-3 to 0
    over exactly the training steps of 5 epochs on n_samples images."""
    __tracebackhide__ = True
    from mnistcnn import recipe

    recipe_call = "recipe.learning_rate_schedule(n_samples)"
    where = _("{what}: learning rate").format(what=what)
    if "schedule" not in lr:
        fail(where, _("the course's schedule, {call}").format(call=recipe_call),
             _("a constant {value}").format(value=f"{float(lr['constant']):g}"),
             _("pass learning_rate={call} to RMSprop").format(call=recipe_call))
    want = recipe.learning_rate_schedule(n_samples).get_config()
    have = lr.get("config") or {}
    if lr["schedule"] != "CosineDecay":
        fail(where, _("a CosineDecay schedule, {call}").format(call=recipe_call),
             _("a {schedule}").format(schedule=lr["schedule"]),
             _("use the course's schedule: learning_rate={call}").format(call=recipe_call))
    for key in ("initial_learning_rate", "alpha", "warmup_steps", "warmup_target"):
        if have.get(key) != want[key]:
            fail(_("{what}: learning-rate schedule, {key}").format(what=what, key=key), repr(want[key]),
                 repr(have.get(key)), _("use the course's schedule unchanged: {call}").format(call=recipe_call))
    if have.get("decay_steps") != want["decay_steps"]:
        _schedule_span_failure(have.get("decay_steps"), want["decay_steps"], n_samples, what)


def _schedule_span_failure(got, want: int, n_samples: int, what: str) -> None:
    __tracebackhide__ = True
    from mnistcnn import recipe

    per_epoch = want // recipe.EPOCHS
    where = _("{what}: learning-rate schedule").format(what=what)
    expected = _("a schedule over the {steps} training steps of {epochs} epochs on n_samples = {n} images "
                 "({per_epoch} steps per epoch)").format(steps=f"{want:,}", epochs=recipe.EPOCHS,
                                                         n=f"{n_samples:,}", per_epoch=f"{per_epoch:,}")
    if not isinstance(got, (int, float)) or isinstance(got, bool) or got <= 0:
        fail(where, expected, f"decay_steps={got!r}", _("use recipe.learning_rate_schedule(n_samples)"))
    have = _("a schedule over {steps} steps, i.e. {fraction} of the {epochs} epochs").format(
        steps=f"{got:,}", fraction=f"{got / per_epoch:.2f}", epochs=recipe.EPOCHS)
    for images in (60_000, 54_000, 10_000):
        if images != n_samples and got == recipe.learning_rate_schedule(images).get_config()["decay_steps"]:
            fail(where, expected, _("{have} (a schedule for {n} images)").format(have=have, n=f"{images:,}"),
                 _("the schedule is built for {n} images whatever n_samples is: pass n_samples, "
                   "the argument of compile_model, to recipe.learning_rate_schedule").format(n=f"{images:,}"))
    fail(where, expected, have, _schedule_mistake(got, want, per_epoch, n_samples))


def _schedule_mistake(got, want: int, per_epoch: int, n_samples: int) -> str:
    from mnistcnn import recipe

    if got == math.ceil(n_samples / recipe.BATCH_SIZE) * recipe.EPOCHS:
        return _("the schedule counts the validation images too: fit trains on 90 % of them; "
                 "recipe.learning_rate_schedule(n_samples) leaves them out")
    if got < per_epoch:
        return _("the learning rate falls to nothing within the first epoch, and the model stops "
                 "learning: build the schedule from n_samples with recipe.learning_rate_schedule")
    if got < want:
        return _("the learning rate reaches 0 after {epochs} epochs and the last ones learn "
                 "nothing: use recipe.learning_rate_schedule(n_samples)").format(epochs=f"{got / per_epoch:.1f}")
    return _("the learning rate is still far from 0 when training ends: use "
             "recipe.learning_rate_schedule(n_samples)")


LOSS_MISTAKES = {
    "sparsecategoricalcrossentropy": N_("the labels are one-hot: sparse_... is for integer labels"),
    "binarycrossentropy": N_("binary cross-entropy is for two classes; there are 10"),
    "mse": N_("mean squared error is for regression; classification uses cross-entropy"),
    "meansquarederror": N_("mean squared error is for regression; classification uses cross-entropy"),
}


def _judge_loss(loss: dict, what: str) -> None:
    __tracebackhide__ = True
    name = str(loss.get("name"))
    canonical = name.lower().replace("_", "")
    if loss.get("kind") == "CategoricalCrossentropy":  # a Loss object, whatever name it was given
        canonical = "categoricalcrossentropy"
    where = _("{what}: loss").format(what=what)
    if canonical != "categoricalcrossentropy":
        mistake = LOSS_MISTAKES.get(canonical, N_("10 classes with one-hot labels: loss='categorical_crossentropy'"))
        fail(where, "'categorical_crossentropy'", repr(name), _(mistake))
    if loss.get("from_logits"):
        fail(where, _("categorical cross-entropy on probabilities (from_logits=False)"), "from_logits=True",
             _("the model ends with a softmax, so its outputs are probabilities, not logits: leave "
               "from_logits at its default"))
    if loss.get("label_smoothing"):
        fail(where, _("label_smoothing=0 (the default)"), f"label_smoothing={loss['label_smoothing']:g}",
             _("the lesson's loss is plain categorical cross-entropy: loss='categorical_crossentropy'"))


def _judge_metrics(metrics: list, what: str) -> None:
    __tracebackhide__ = True
    names = [f"{m.get('name')}" if m.get("kind") in ("string", "function") else f"{m.get('kind')}()"
             for m in metrics]
    where = _("{what}: metrics").format(what=what)
    for m in metrics:
        kind, name = m.get("kind"), str(m.get("name"))
        if kind == "Accuracy" or (kind == "string" and name == "Accuracy"):
            fail(where, "['accuracy']", names,
                 _("keras.metrics.Accuracy() counts the outputs exactly equal to the labels (probabilities "
                   "never are): use metrics=['accuracy'] or keras.metrics.CategoricalAccuracy()"))
        canonical = name.lower().replace("_", "")
        if kind in ("string", "function") and (name in ("accuracy", "acc") or canonical == "categoricalaccuracy"):
            return
        if kind == "CategoricalAccuracy":
            return
    mistake = _("pass metrics=['accuracy'] to follow accuracy per epoch")
    if any("sparse" in n.lower() for n in names):
        mistake = _("the labels are one-hot: sparse_categorical_accuracy is for integer labels; use 'accuracy'")
    elif any("binary" in n.lower() for n in names):
        mistake = _("binary accuracy is for two classes; use metrics=['accuracy']")
    fail(where, "['accuracy']", names, mistake)


def trained(obj, what: str | None = None):
    """``obj`` (a trained model or a History) from the notebook, or a clear failure if it is missing."""
    __tracebackhide__ = True
    if obj is None:
        fail(_("Nothing to check: {what} is missing").format(what=what or _("the result of the training cell")),
             _("the training cell to have run without error"), _("no such variable"),
             _("run the notebook from the top (Run All) and fix the first error"))
    return obj


def example_history(epochs: int = 5, seed: int = 0):
    """A made-up Keras History (same attributes) with plausible values, for testing plots."""
    from types import SimpleNamespace

    rng = np.random.default_rng(seed)
    decay = np.exp(-np.arange(epochs) / 2)
    h = {
        "loss": (0.05 + 0.2 * decay + 0.01 * rng.random(epochs)).tolist(),
        "val_loss": (0.04 + 0.1 * decay + 0.02 * rng.random(epochs)).tolist(),
        "accuracy": (0.99 - 0.05 * decay - 0.005 * rng.random(epochs)).tolist(),
        "val_accuracy": (0.99 - 0.02 * decay - 0.005 * rng.random(epochs)).tolist(),
    }
    return SimpleNamespace(history=h, epoch=list(range(epochs)))


def check_training_labels(y) -> None:
    """Labels fed to fit with categorical_crossentropy must be one-hot."""
    __tracebackhide__ = True
    y = np.asarray(y)
    if y.ndim == 1:
        fail(_("Training labels for categorical_crossentropy"), _("one-hot labels of shape (N, 10)"),
             _("integer labels of shape {shape}").format(shape=y.shape),
             _("categorical_crossentropy compares probability vectors: one-hot encode the labels with "
               "keras.utils.to_categorical, or use sparse_categorical_crossentropy"))


def figure_data(fig) -> dict:
    """What a figure shows, as data: per panel with lines, each line's x, y and label, the axis
    labels, the title and the legend's texts; the legends drawn on the figure itself."""
    def numbers(values):
        try:
            return [float(v) for v in np.asarray(values, dtype=float).ravel()]
        except (TypeError, ValueError):
            return [str(v) for v in np.asarray(values).ravel()]

    panels = []
    for ax in fig.axes:
        if not ax.lines:
            continue
        legend = ax.get_legend()
        panels.append({
            "lines": [{"x": numbers(line.get_xdata()), "y": numbers(line.get_ydata()), "label": str(line.get_label())}
                      for line in ax.lines],
            "xlabel": ax.get_xlabel(), "ylabel": ax.get_ylabel(), "title": ax.get_title(),
            "legend": None if legend is None else [t.get_text() for t in legend.get_texts()],
        })
    figure_legends = [t.get_text() for legend in getattr(fig, "legends", []) for t in legend.get_texts()]
    return {"panels": panels, "figure_legend": figure_legends}


def check_history_plot(fig, history) -> None:
    """Inspect the figure: a loss and an accuracy panel, training and validation lines = history."""
    __tracebackhide__ = True
    import matplotlib.figure

    from mnistcnn.grading import record

    record("history", history)

    what = _("Training curves")
    hist = {k: [float(v) for v in vals] for k, vals in history.history.items()}
    if fig is None:
        evidence.save("figure", figure=None, history=hist)
        fail(what, _("a matplotlib Figure"), "None", _(NO_FIGURE))
    if not isinstance(fig, matplotlib.figure.Figure):
        evidence.save("figure", figure=evidence.plain(fig), history=hist)
        fail(what, _("a matplotlib Figure"), _describe(fig), _(NOT_A_FIGURE))
    data = figure_data(fig)
    evidence.save("figure", figure=data, history=hist)
    judge_figure(data, hist)
    # Checked: closed, so that the cell shows no figure without its text; the lesson's next cell
    # shows the real training curves with theirs (plots.show).
    import matplotlib.pyplot as plt

    plt.close(fig)


NO_FIGURE = N_("return the figure (fig, axes = plt.subplots(...))")
NOT_A_FIGURE = N_("return fig, not the axes or plt")

#: Words that name the validation line in a legend (English and the course's other languages).
VALIDATION_WORDS = ("val", "验证")


def _is_validation_label(label: str) -> bool:
    return any(w in label.lower() for w in VALIDATION_WORDS)


def _values(line: dict, axis: str) -> np.ndarray:
    try:
        return np.asarray(line[axis], dtype=float)
    except (TypeError, ValueError):
        return np.full(len(line[axis]), np.nan)


def _find_line(panel: dict, values: list) -> dict | None:
    for line in panel["lines"]:
        y = _values(line, "y")
        if y.shape == (len(values),) and np.allclose(y, values):
            return line
    return None


def judge_figure(data, hist: dict) -> None:
    """The figure's data (:func:`figure_data`) against the history it should show."""
    __tracebackhide__ = True
    what = _("Training curves")
    if data is None:
        fail(what, _("a matplotlib Figure"), "None", _(NO_FIGURE))
    if not isinstance(data, dict) or "panels" not in data:
        fail(what, _("a matplotlib Figure"), _describe(from_evidence(data)), _(NOT_A_FIGURE))
    axes = data["panels"]
    if len(axes) != 2:
        fail(_("{what}: panels").format(what=what), _("2 panels with lines (loss, accuracy)"),
             _("{n} panels with lines").format(n=len(axes)),
             _("fig, (ax_loss, ax_acc) = plt.subplots(1, 2): one for loss, one for accuracy"))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        panel = (_("{what}: the loss panel") if metric == "loss" else _("{what}: the accuracy panel")).format(what=what)
        _judge_panel(ax, metric, hist, data.get("figure_legend") or [], panel)
    passed(_("{what}: loss and accuracy panels, training and validation, {n} epochs").format(
        what=what, n=len(hist["loss"])))


METRIC_NAMES = {"loss": N_("loss"), "accuracy": N_("accuracy")}


def _judge_panel(ax: dict, metric: str, hist: dict, figure_legend: list, panel: str) -> None:
    __tracebackhide__ = True
    if len(ax["lines"]) != 2:
        fail(panel, _("2 lines (training and validation)"), _("{n} lines").format(n=len(ax["lines"])),
             _("plot history.history['{metric}'] and history.history['val_{metric}']").format(metric=metric))
    other = "accuracy" if metric == "loss" else "loss"
    labels = _line_labels(ax)
    for key in (metric, f"val_{metric}"):
        line = _find_line(ax, hist[key])
        if line is None:
            swapped = any(_find_line(ax, hist[k]) for k in (other, f"val_{other}"))
            fail(panel, _("a line with the values of history.history['{key}']").format(key=key), _("no such line"),
                 _("the panels are swapped: loss on the left, accuracy on the right") if swapped
                 else _("plot history.history['{key}'] against the epochs").format(key=key))
        _judge_epochs(line, len(hist[key]), _("{panel}, the line of history.history['{key}']").format(
            panel=panel, key=key))
        _judge_label(labels[ax["lines"].index(line)], key, panel)
    _judge_axis_labels(ax, metric, other, panel)
    _judge_legend(ax, labels, figure_legend, panel)


def _judge_axis_labels(ax: dict, metric: str, other: str, panel: str) -> None:
    __tracebackhide__ = True
    ylabel = f"{ax['ylabel']} {ax.get('title') or ''}".lower()
    if not ax["xlabel"] or not ax["ylabel"]:
        fail(_("{panel}: axis labels").format(panel=panel), _("an x label (epoch) and a y label"),
             _("x: {x}, y: {y}").format(x=repr(ax["xlabel"]), y=repr(ax["ylabel"])),
             "ax.set_xlabel(...), ax.set_ylabel(...)")
    if other in ylabel and metric not in ylabel:
        name = _(METRIC_NAMES[metric])
        fail(_("{panel}: y label").format(panel=panel), _("a label naming the {metric}").format(metric=name),
             repr(ax["ylabel"]),
             _("this panel shows the {metric}: the label and the data disagree").format(metric=name))


def _judge_legend(ax: dict, labels: list, figure_legend: list, panel: str) -> None:
    __tracebackhide__ = True
    legend = ax["legend"]
    texts = list(legend or []) + list(figure_legend)
    where = _("{panel}: legend").format(panel=panel)
    if legend is None and not all(label in figure_legend for label in labels):
        fail(where, _("a legend naming training and validation"), _("no legend"),
             _("give each line a label=... and call ax.legend()"))
    if [label for label in labels if label not in texts]:
        fail(where, _("a legend with both lines: {labels}").format(labels=labels), list(texts),
             _("call ax.legend() after plotting both lines, each with its label=..."))


def _line_labels(ax: dict) -> list[str]:
    """Each line's label: its own, or the legend's text in the same place when the legend was given
    the labels (``ax.legend(["training", "validation"])`` names the lines in the order drawn)."""
    labels = [str(line["label"]) for line in ax["lines"]]
    legend = ax.get("legend")
    if legend and len(legend) == len(labels) and all(label.startswith("_") for label in labels):
        return [str(text) for text in legend]
    return labels


def _judge_epochs(line: dict, n_epochs: int, where: str) -> None:
    __tracebackhide__ = True
    x = _values(line, "x")
    epochs = np.arange(1, n_epochs + 1)
    if np.array_equal(x, epochs):
        return
    where = _("{where}: x values").format(where=where)
    expected = _("the epochs 1, 2, ..., {n}").format(n=n_epochs)
    if np.array_equal(x, epochs - 1):
        fail(where, expected, f"0, 1, ..., {n_epochs - 1}",
             _("the epochs are numbered from 0 (plotting the values alone numbers them 0, 1, ...): "
               "plot against range(1, {end}), i.e. range(1, len(values) + 1)").format(end=n_epochs + 1))
    fail(where, expected, x.tolist(), _("plot against range(1, len(values) + 1)"))


def _judge_label(label: str, key: str, panel: str) -> None:
    __tracebackhide__ = True
    validation = key.startswith("val_")
    where = _("{panel}: labels").format(panel=panel)
    if label.startswith("_"):  # matplotlib's name for a line given no label
        fail(where, _("a label on the line of history.history['{key}']").format(key=key),
             _("a line without a label"), f"plt.plot(..., label='{'validation' if validation else 'training'}')")
    have = _("it is labelled {label}").format(label=repr(label))
    if validation and not _is_validation_label(label):
        fail(where, _("the line of history.history['{key}'] labelled as validation").format(key=key), have,
             _("the labels are swapped or wrong: the validation values "
               "(history.history['{key}']) need the validation label").format(key=key))
    if not validation and _is_validation_label(label):
        fail(where, _("the line of history.history['{key}'] labelled as training").format(key=key), have,
             _("the labels are swapped: the training values "
               "(history.history['{key}']) carry the validation label").format(key=key))


# --------------------------------------------------------------------------- 6. evaluation


def check_error_reduction(fn: Callable[[float, float], float], cases) -> None:
    """``fn(conv_accuracy, dense_accuracy)`` is the relative reduction of the error rate.

    ``cases`` maps each pair ``(conv_accuracy, dense_accuracy)`` to its reduction, as the test cell
    states it: each result must be that value (within 1e-6). Given a list of pairs without values,
    the check records the results for the grader (which judges them against its own reference) and
    checks here only that each is a number.
    """
    __tracebackhide__ = True
    pairs, wants = _cases(cases)
    results = results_of(fn, [(c, {}) for c in pairs])
    evidence.save("error_reduction", cases=pairs, results=[as_evidence(r) for r in results])
    if wants is None:
        what = _("error_reduction(conv_accuracy, dense_accuracy)")
        for (conv, dense), got in zip(pairs, results):
            if isinstance(got, Raised):
                got.again()
            try:
                float(got)
            except (TypeError, ValueError):
                fail(what, _("a number for ({conv}, {dense})").format(conv=conv, dense=dense), _describe(got),
                     _(NO_RETURN) if got is None else _("return a number (a fraction such as 0.68)"))
        return
    judge_error_reductions(pairs, results, wants, _reduction_mistake)


def judge_error_reductions(cases, results, wants, mistake: Callable) -> None:
    """The results of error_reduction on ``cases`` (one each) against the right reductions ``wants``;
    ``mistake(got, want, conv, dense)`` names the likely mistake."""
    __tracebackhide__ = True
    what = _("error_reduction(conv_accuracy, dense_accuracy)")
    for (conv, dense), got, want in zip(cases, results, wants):
        if isinstance(got, Raised):
            got.again()
        try:
            ok = abs(float(got) - want) <= 1e-6
        except (TypeError, ValueError):
            fail(what, _("a number close to {want} for ({conv}, {dense})").format(
                     want=f"{want:.4f}", conv=conv, dense=dense), _describe(got),
                 _(NO_RETURN) if got is None else _("return a number (a fraction such as 0.68)"))
        if not ok:
            fail(what, _("{want} for conv_accuracy={conv}, dense_accuracy={dense}").format(
                     want=f"{want:.4f}", conv=conv, dense=dense),
                 f"{float(got):.4f}", mistake(float(got), want, conv, dense))
    passed(_("{what} on {n} cases").format(what=what, n=len(cases)))


def _reduction_mistake(g: float, want: float, conv: float, dense: float) -> str:
    """The likely mistake behind ``g``, told from its relation to the right reduction ``want``."""
    if abs(g - 100 * want) < 1e-4:
        return _("return a fraction (0.68), not a percentage (68)")
    if abs(g - (conv - dense)) < 1e-6:
        return _("that is the difference in accuracy; the question asks for the relative "
                 "reduction of the error rate: (dense error - conv error) / dense error")
    if abs(g + want) < 1e-6:
        return _("the sign is reversed: a smaller error is a positive reduction")
    if conv != 1 and abs(g - want * (1 - dense) / (1 - conv)) < 1e-6:
        return _("divide by the dense network's error rate (the baseline), not the convnet's")
    if dense and abs(g - (conv - dense) / dense) < 1e-6:
        return _("that is the relative gain in accuracy; use the error rates (1 - accuracy)")
    return _("error rate = 1 - accuracy; reduction = (dense error - conv error) / dense error")


def check_accuracy_value(accuracy, threshold: float | None = None) -> None:
    """A quick look at the accuracy the notebook computed (the grade uses check_test_accuracy)."""
    __tracebackhide__ = True
    threshold = constants.ACCURACY_THRESHOLD if threshold is None else threshold
    what = _("Test accuracy (your model.evaluate)")
    trained(accuracy, _("test_accuracy (computed by the evaluation cell)"))
    try:
        value = float(accuracy)
    except (TypeError, ValueError):
        fail(what, _("a number of at least {threshold}").format(threshold=threshold), _describe(accuracy))
    if not value >= threshold:
        fail(what, _at_least(threshold), f"{value:.2%}",
             _("train with the course's recipe (RMSprop with recipe.learning_rate_schedule, 5 epochs, "
               "batch 64) on images scaled to [0, 1]; rerun the notebook from the top"))
    passed(_("{what}: {accuracy} (the grader measures it again on fresh test data)").format(
        what=what, accuracy=f"{value:.2%}"))


def _at_least(threshold: float) -> str:
    return _("at least {threshold}").format(threshold=f"{threshold:.2%}")


def check_test_accuracy(model, threshold: float | None = None) -> None:
    """Grade the trained model: accuracy on freshly loaded test data, measured in a clean process.

    When grading a class (``$MNISTCNN_RECORD_DIR`` set), the model is saved for the grader, which
    measures it outside the student's kernel, and that measurement decides the points: this check
    then only records the model (no second evaluation here). Elsewhere (a student's own JupyterLab,
    ``nbgrader validate``) it measures the accuracy itself, in a clean process.
    Returns nothing: nbgrader would take a number shown by a test cell as partial credit.
    """
    __tracebackhide__ = True
    from mnistcnn.grading import EvaluationError, recording, test_accuracy

    threshold = constants.ACCURACY_THRESHOLD if threshold is None else threshold
    what = _("Test accuracy of your trained convnet (measured on freshly loaded test data)")
    if recording():
        _hand_to_grader(model, what, threshold)
        return
    try:
        acc = test_accuracy(model)
    except EvaluationError as exc:
        fail(what, _at_least(threshold), _("no accuracy: {reason}").format(reason=exc))
    if acc < threshold:
        fail(what, _at_least(threshold), f"{acc:.2%}",
             _("check the preprocessing (scaled to [0, 1]?), the architecture, and that the model was "
               "trained with the course's recipe (5 epochs, batch 64, RMSprop with the schedule) "
               "before this cell") if acc > 0.2 else _("the model looks untrained: run the training cell first"))
    passed(_("{what}: {accuracy}").format(what=what, accuracy=f"{acc:.2%}"))


def _hand_to_grader(model, what: str, threshold: float) -> None:
    """While grading: the model is saved for the grader, which measures it."""
    __tracebackhide__ = True
    evidence.save("trained_model", model=model if isinstance(model, keras.Model) else evidence.plain(model))
    if not isinstance(model, keras.Model):
        fail(what, _at_least(threshold), _("no accuracy: the trained model could not be saved for the grader"),
             _("build the model with keras.Sequential as in the lesson, and train it in the training cell"))
    print(_("{what}: the model is handed to the grader, which measures its accuracy on freshly loaded "
            "test data in a clean process; that measurement decides this test's points "
            "(at least {threshold} needed).").format(what=what, threshold=f"{threshold:.2%}"))
