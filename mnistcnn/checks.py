"""Checks behind the notebooks' tests: each failure says what was expected, what the student has,
and the likely mistake.

Every check raises :class:`CheckFailed` (an ``AssertionError``, so nbgrader and pytest treat it as
a failed test) with a message in three parts::

    What is checked: <the rule>
      expected: <the right value>
      you have: <the student's value>
      likely mistake: <the usual cause, and how to fix it>

The functions set ``__tracebackhide__`` so that Jupyter (and pytest) show the student's test cell
and the message, not the inside of this module.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence

import numpy as np

from mnistcnn import quiet_tensorflow

quiet_tensorflow()

import keras  # noqa: E402

from mnistcnn import evidence  # noqa: E402
from mnistcnn import expected as E  # noqa: E402


class CheckFailed(AssertionError):
    """A test of the course failed; the message explains why."""


def fail(what: str, expected, have, mistake: str | None = None) -> None:
    __tracebackhide__ = True
    lines = [what, f"  expected: {expected}", f"  you have: {have}"]
    if mistake:
        lines.append(f"  likely mistake: {mistake}")
    raise CheckFailed("\n".join(lines))


def passed(what: str) -> None:
    print(f"✓ {what}")


def _require_number(got, what: str, want: str) -> None:
    """A result must be a plain number (an object that claims to equal everything is not)."""
    __tracebackhide__ = True
    import numbers

    if not isinstance(got, numbers.Real) or isinstance(got, bool):
        fail(what, want, _describe(got), "return a number (an int), computed from the arguments")


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
    if isinstance(obj, Recorded):
        return obj.text
    if isinstance(obj, np.ndarray):
        return f"a NumPy array of shape {obj.shape} and dtype {obj.dtype}"
    return f"{type(obj).__name__} {obj!r}"[:200]


# --------------------------------------------------------------------------- 1. the data


def _array_evidence(x):
    """What the grader gets of a returned array: the array (a sketch when large), else its description."""
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
    """``x`` must be ``images`` (uint8, (N, 28, 28)) as float32 (N, 28, 28, 1) in [0, 1]."""
    __tracebackhide__ = True
    evidence.save("images", input=evidence.fingerprint(images), output=_array_evidence(x))
    n = len(images)
    what = "Preprocessed images: float32 of shape (N, 28, 28, 1), pixel values in [0, 1]"
    if x is None:
        fail(what, f"an array of shape ({n}, 28, 28, 1)", "None",
             "the function does not `return` its result")
    if not isinstance(x, np.ndarray):
        fail(what, "a NumPy array", _describe(x), "return a NumPy array (e.g. images.reshape(...))")
    if x.shape == (n, 28, 28):
        fail(what, f"shape ({n}, 28, 28, 1)", f"shape {x.shape}",
             "the channel axis is missing: Conv2D expects (height, width, channels); "
             f"reshape to ({n}, 28, 28, 1)")
    if x.shape == (n, 784):
        fail(what, f"shape ({n}, 28, 28, 1)", f"shape {x.shape}",
             "the images are flattened, as for a dense network; a convnet keeps them as 28x28 "
             "images with one channel")
    if x.shape == (n, 1, 28, 28):
        fail(what, f"shape ({n}, 28, 28, 1)", f"shape {x.shape}",
             "channels first; Keras's Conv2D expects channels last: (N, 28, 28, 1)")
    if x.shape != (n, 28, 28, 1):
        fail(what, f"shape ({n}, 28, 28, 1)", f"shape {x.shape}",
             "keep all N images and reshape each to 28x28x1")
    if x.dtype != np.float32:
        hint = ("float64 doubles memory and is slower; use .astype('float32') before dividing"
                if x.dtype == np.float64 else "convert with .astype('float32')")
        fail(what, "dtype float32", f"dtype {x.dtype}", hint)
    lo, hi = float(x.min()), float(x.max())
    if hi > 1.0 + 1e-6 or lo < -1e-6:
        fail(what, "values in [0, 1]", f"values from {lo:g} to {hi:g}",
             "the pixels are not scaled: divide by 255" if hi > 1.5 else "values outside [0, 1]")
    reference = images.reshape((n, 28, 28, 1)).astype("float32") / 255
    if not np.allclose(x, reference, atol=1e-6):
        if np.allclose(x, images.reshape(x.shape).astype("float32") / 256, atol=1e-6):
            mistake = "divide by 255 (the largest pixel value), not 256"
        elif np.allclose(x, reference / max(float(reference.max()), 1e-12), atol=1e-6):
            mistake = "divide by 255, not by the largest value of this batch"
        elif np.allclose(np.sort(x.ravel()), np.sort(reference.ravel()), atol=1e-6):
            mistake = "the pixels are rearranged: reshape, don't transpose or shuffle"
        else:
            mistake = "each pixel should be its uint8 value divided by 255"
        bad = int(np.argmax(np.abs(x - reference).reshape(n, -1).max(axis=1)))
        fail(what, f"image {bad} equal to images[{bad}] / 255",
             f"a largest difference of {float(np.abs(x - reference).max()):.4g}", mistake)


def check_labels(y, labels) -> None:
    """``y`` must be the one-hot encoding (N, 10) of the integer ``labels``."""
    __tracebackhide__ = True
    evidence.save("labels", input=evidence.fingerprint(labels), output=_array_evidence(y))
    n = len(labels)
    what = "Encoded labels: one-hot rows of 10 (keras.utils.to_categorical)"
    if y is None:
        fail(what, f"an array of shape ({n}, 10)", "None", "the function does not `return` its result")
    y = np.asarray(y)
    if y.shape == (n,):
        fail(what, f"shape ({n}, 10)", f"shape {y.shape} (integer labels)",
             "the labels are not one-hot encoded; categorical_crossentropy needs one-hot targets: "
             "keras.utils.to_categorical(labels, 10)")
    if y.ndim != 2 or y.shape[0] != n:
        fail(what, f"shape ({n}, 10)", f"shape {y.shape}", "one row per label, one column per digit")
    if y.shape[1] != 10:
        fail(what, f"shape ({n}, 10)", f"shape {y.shape}",
             "MNIST has 10 classes (digits 0-9): pass num_classes=10 so that a batch without "
             "some digit still gets 10 columns")
    if not np.issubdtype(y.dtype, np.floating):
        fail(what, "a float dtype (float32)", f"dtype {y.dtype}", "use keras.utils.to_categorical")
    if not np.all((y == 0) | (y == 1)) or not np.all(y.sum(axis=1) == 1):
        fail(what, "exactly one 1 in each row, zeros elsewhere", f"rows like {y[0].tolist()}",
             "build the rows with keras.utils.to_categorical(labels, 10)")
    wrong = np.flatnonzero(y.argmax(axis=1) != labels)
    if wrong.size:
        i = int(wrong[0])
        fail(what, f"row {i} with its 1 in column {int(labels[i])} (the label)",
             f"its 1 in column {int(y[i].argmax())}",
             "the one-hot rows don't follow the labels (shuffled, sorted or shifted?)")


# --------------------------------------------------------------------------- 2. formulas


def _conv_configs():
    for size in (5, 7, 13, 26, 28, 32):
        for kernel in (1, 2, 3, 5):
            for stride in (1, 2, 3):
                for padding in ("valid", "same"):
                    if kernel <= size:
                        yield size, kernel, stride, padding


def keras_output_size(size: int, kernel: int, stride: int, padding: str) -> int:
    layer = keras.layers.Conv2D(1, kernel, strides=stride, padding=padding)
    return int(layer.compute_output_shape((None, size, size, 1))[1])


def check_output_size_function(fn: Callable[..., int], configs=None) -> None:
    """``fn(size, kernel, stride, padding)`` must agree with Keras on every configuration."""
    __tracebackhide__ = True
    configs = [tuple(c) for c in (configs or _conv_configs())]
    results = results_of(fn, [((size, kernel), {"stride": stride, "padding": padding})
                              for size, kernel, stride, padding in configs])
    evidence.save("output_size", configs=configs, results=[as_evidence(r) for r in results])
    judge_output_sizes(configs, results)


def judge_output_sizes(configs, results) -> None:
    """The results of conv_output_size on ``configs`` (one each), against Keras."""
    __tracebackhide__ = True
    what = "conv_output_size agrees with Keras's Conv2D"
    for (size, kernel, stride, padding), got in zip(configs, results):
        want = keras_output_size(size, kernel, stride, padding)
        if isinstance(got, Raised):
            fail(what, f"{want} for size={size}, kernel={kernel}, stride={stride}, padding='{padding}'",
                 f"an exception: {got.text}")
        _require_number(got, what, f"{want} for size={size}, kernel={kernel}, stride={stride}, padding='{padding}'")
        if got != want or isinstance(got, float) and not float(got).is_integer():
            if padding == "same" and got == (size - kernel) // stride + 1:
                mistake = "padding='same' pads so that the output is ceil(size / stride)"
            elif padding == "valid" and got == size - kernel + 1 and stride > 1:
                mistake = "the stride is ignored: divide (size - kernel) by the stride"
            elif padding == "valid" and got == (size - kernel) / stride + 1:
                mistake = "use integer division (//): a window only counts if it fits entirely"
            elif padding == "valid" and got == (size - kernel) // stride:
                mistake = "forgot the + 1 (the first window position)"
            elif padding == "valid" and got == math.ceil((size - kernel) / stride) + 1:
                mistake = "round down, not up: a window that runs off the edge is dropped"
            else:
                mistake = "valid: (size - kernel) // stride + 1; same: ceil(size / stride)"
            fail(what, f"{want} for size={size}, kernel={kernel}, stride={stride}, padding='{padding}'",
                 repr(got), mistake)
    passed(f"{what} on {len(configs)} configurations")


def keras_param_count(kernel: int, in_channels: int, filters: int) -> int:
    layer = keras.layers.Conv2D(filters, kernel)
    layer.build((None, 28, 28, in_channels))
    return int(layer.count_params())


def param_count_configs() -> list[tuple[int, int, int]]:
    return [(k, c, f) for k in (1, 3, 5) for c in (1, 3, 32, 64) for f in (1, 16, 64)]


def check_param_count_function(fn: Callable[..., int], configs=None) -> None:
    """``fn(kernel, in_channels, filters)`` must agree with Keras's count_params()."""
    __tracebackhide__ = True
    configs = [tuple(c) for c in (configs or param_count_configs())]
    results = results_of(fn, [(tuple(c), {}) for c in configs])
    evidence.save("param_count", configs=configs, results=[as_evidence(r) for r in results])
    judge_param_counts(configs, results)


def judge_param_counts(configs, results) -> None:
    """The results of conv_param_count on ``configs`` (one each), against Keras."""
    __tracebackhide__ = True
    what = "conv_param_count agrees with Keras's Conv2D.count_params()"
    for (kernel, in_channels, filters), got in zip(configs, results):
        want = keras_param_count(kernel, in_channels, filters)
        if isinstance(got, Raised):
            got.again()
        _require_number(got, what, f"{want} for kernel={kernel}, in_channels={in_channels}, filters={filters}")
        if got != want:
            if got == kernel * kernel * in_channels * filters:
                mistake = "the biases are missing: each filter has one bias, + filters"
            elif got == (kernel * kernel + 1) * filters:
                mistake = "each filter spans all input channels: kernel * kernel * in_channels weights"
            elif got == kernel * kernel * in_channels * filters + 1:
                mistake = "one bias per filter, not one in all"
            elif got == (kernel * in_channels + 1) * filters:
                mistake = "the kernel is square: kernel * kernel weights per channel"
            else:
                mistake = "(kernel * kernel * in_channels + 1) * filters"
            fail(what, f"{want} for kernel={kernel}, in_channels={in_channels}, filters={filters}",
                 repr(got), mistake)
    passed(f"{what} on {len(configs)} configurations")


# --------------------------------------------------------------------------- 2-4. the model


def _layer_rows(model) -> list[tuple[str, tuple, int, dict]]:
    rows = []
    for layer in model.layers:
        shape = tuple(layer.output.shape[1:]) if hasattr(layer, "output") else None
        cfg = layer.get_config()
        rows.append((type(layer).__name__, shape, int(layer.count_params()), cfg))
    return rows


def build(builder, what: str = "Building your model"):
    """Call ``builder()`` (e.g. ``build_model``) and return the model; explain the usual errors.

    Warnings raised while building (Keras 3 warns about ``input_shape=``, which the book uses) are
    shown as notes on stdout: nbgrader gives zero points to a test cell that writes to stderr.
    """
    __tracebackhide__ = True
    if isinstance(builder, keras.Model) or not callable(builder):
        evidence.save("model", model=builder if isinstance(builder, keras.Model) else evidence.plain(builder))
        return builder
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = builder()
        except NotImplementedError:
            raise
        except ValueError as exc:
            text = str(exc)
            if "min_ndim=4, found ndim=3" in text or "expected ndim=4, found ndim=3" in text:
                fail(what, "inputs of shape (28, 28, 1)", "inputs of shape (28, 28): Keras refuses the Conv2D",
                     "the channel axis is missing: keras.Input(shape=(28, 28, 1))")
            fail(what, "a model that builds", f"ValueError: {text.splitlines()[0][:300]}",
                 "read the error: a layer got an input of a shape it cannot take")
        except Exception as exc:
            fail(what, "a model that builds", f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}" if str(exc)
                 else type(exc).__name__)
    for w in caught:
        text = str(w.message)
        if "input_shape" in text:
            print("note: Keras 3 prefers `keras.Input(shape=(28, 28, 1))` as the first element of the "
                  "Sequential to `input_shape=` on the first layer; both build the same model.")
        else:
            print(f"note: {w.category.__name__}: {text.splitlines()[0][:200]}")
    evidence.save("model", model=model if isinstance(model, keras.Model) else evidence.plain(model))
    return model


def _check_is_model(model, what: str) -> None:
    __tracebackhide__ = True
    if model is None:
        fail(what, "a keras.Sequential model", "None", "the function does not `return` the model")
    if not isinstance(model, keras.Model):
        fail(what, "a keras.Sequential model", _describe(model), "return the model you built")
    try:
        model.inputs  # noqa: B018  (raises if the model was never built)
        shape = tuple(model.input_shape)
    except Exception:
        fail(what, "a model built for inputs of shape (28, 28, 1)", "a model with no input shape",
             "start the Sequential with keras.Input(shape=(28, 28, 1))")
    if shape == (None, 28, 28):
        fail(what, "input shape (28, 28, 1)", "input shape (28, 28)",
             "the channel axis is missing: keras.Input(shape=(28, 28, 1))")
    if shape != (None, 28, 28, 1):
        fail(what, "input shape (28, 28, 1)", f"input shape {shape[1:]}",
             "MNIST images are 28x28 pixels with 1 channel: keras.Input(shape=(28, 28, 1))")


def _check_layers(rows, spec, what: str) -> None:
    """Compare layer rows with the spec (class, output shape, params, config checks)."""
    __tracebackhide__ = True
    for i, (want, got) in enumerate(zip(spec, rows)):
        w_cls, w_shape, w_params, w_cfg = want
        g_cls, g_shape, g_params, g_cfg = got
        where = f"layer {i} ({g_cls})"
        if g_cls != w_cls:
            classes = [r[0] for r in rows]
            if w_cls == "Flatten" and "Flatten" not in classes:
                mistake = "Flatten is missing: Dense layers need a vector, flatten the (3, 3, 64) maps first"
            elif w_cls == "Flatten" or g_cls == "Flatten":
                mistake = "Flatten goes right after the last Conv2D, before the first Dense"
            elif w_cls == "MaxPooling2D" and g_cls == "Conv2D":
                mistake = "a MaxPooling2D((2, 2)) follows each of the first two Conv2D layers"
            else:
                mistake = "the layers are in the wrong order or of the wrong kind"
            fail(f"{what}: {where}", f"{w_cls}", f"{g_cls} (your layers: {', '.join(classes)})", mistake)
        if g_cls == "Conv2D":
            if g_cfg.get("padding") != "valid":
                fail(f"{what}: {where}", "padding='valid' (the default)", f"padding='{g_cfg.get('padding')}'",
                     "padding='same' keeps the size: the book's convnet shrinks each map by 2 "
                     "(28 -> 26); leave padding at its default")
            if tuple(g_cfg["kernel_size"]) != w_cfg["kernel_size"]:
                fail(f"{what}: {where}", f"kernel_size={w_cfg['kernel_size']}",
                     f"kernel_size={tuple(g_cfg['kernel_size'])}", "every Conv2D uses a 3x3 window: (3, 3)")
            if g_cfg["filters"] != w_cfg["filters"]:
                order = [r[3].get("filters") for r in rows if r[0] == "Conv2D"]
                mistake = ("the filters grow with depth: 32, then 64, then 64"
                           if sorted(order) == sorted([32, 64, 64]) else "32, 64 and 64 filters")
                fail(f"{what}: {where}", f"{w_cfg['filters']} filters", f"{g_cfg['filters']} filters "
                     f"(your Conv2D layers: {order})", mistake)
            if tuple(g_cfg.get("strides", (1, 1))) != (1, 1):
                fail(f"{what}: {where}", "strides=(1, 1)", f"strides={tuple(g_cfg['strides'])}",
                     "leave the stride at 1; the pooling layers do the downsampling")
        if g_cls == "MaxPooling2D" and tuple(g_cfg["pool_size"]) != (2, 2):
            fail(f"{what}: {where}", "pool_size=(2, 2)", f"pool_size={tuple(g_cfg['pool_size'])}",
                 "MaxPooling2D((2, 2)) halves each side: 26 -> 13")
        if g_cls == "MaxPooling2D" and g_cfg.get("padding") != "valid":
            fail(f"{what}: {where}", "padding='valid'", f"padding='{g_cfg.get('padding')}'",
                 "leave the pooling padding at its default")
        if g_cls in ("Conv2D", "Dense") and "activation" in w_cfg and g_cfg["activation"] != w_cfg["activation"]:
            act = g_cfg["activation"]
            if w_cfg["activation"] == "softmax":
                mistake = {
                    "sigmoid": "sigmoid scores each digit on its own; softmax makes the 10 outputs "
                               "a probability distribution (one class per image)",
                    "linear": "no activation gives raw scores (logits); use activation='softmax'",
                }.get(act, "the output layer of a 10-class classifier uses softmax")
            else:
                mistake = "the hidden layers use activation='relu'" + (
                    " (with no activation, stacked layers collapse to one linear map)" if act == "linear" else "")
            fail(f"{what}: {where}", f"activation='{w_cfg['activation']}'", f"activation='{act}'", mistake)
        if g_cls == "Dense" and g_cfg["units"] != w_cfg["units"]:
            mistake = ("one output unit per digit: Dense(10, activation='softmax')" if w_cfg["units"] == 10
                       else "the book's classifier has Dense(64, activation='relu') before the output")
            fail(f"{what}: {where}", f"{w_cfg['units']} units", f"{g_cfg['units']} units", mistake)
        if g_shape != w_shape:
            fail(f"{what}: {where} output shape", w_shape, g_shape,
                 "check the layers before this one (sizes, padding, pooling)")
        if g_params != w_params:
            fail(f"{what}: {where} parameters", f"{w_params:,}", f"{g_params:,}",
                 "use_bias must stay True; check the number of filters/units")


def _check_count(rows, spec, what: str) -> None:
    __tracebackhide__ = True
    if len(rows) != len(spec):
        classes = ", ".join(r[0] for r in rows)
        want = ", ".join(s[0] for s in spec)
        if len(rows) < len(spec):
            missing = spec[len(rows)][0]
            mistake = f"a layer is missing (the next expected one is {missing})"
            if "Flatten" not in [r[0] for r in rows] and "Flatten" in want:
                mistake = "Flatten is missing: Dense layers need a vector, flatten the (3, 3, 64) maps first"
        else:
            mistake = "there are extra layers (Dropout, another Dense, a pooling after the last Conv2D?)"
        fail(f"{what}: number of layers", f"{len(spec)} layers ({want})",
             f"{len(rows)} layers ({classes or 'none'})", mistake)


def check_conv_base(model) -> None:
    """The convolutional base of the book, layer by layer (class, config, shape, parameters).

    ``model`` is the model or, better, the function that builds it (its errors get explained).
    """
    __tracebackhide__ = True
    what = "Convolutional base"
    model = build(model, what)
    _check_is_model(model, what)
    rows = _layer_rows(model)
    spec = E.CONV_BASE
    _check_layers(rows, spec, what)  # compares the common prefix first: a better message
    _check_count(rows, spec, what)
    passed(f"{what}: 5 layers, output (3, 3, 64), {sum(s[2] for s in spec):,} parameters")


def check_full_model(model) -> None:
    """The whole convnet: the base, Flatten -> (576,), Dense(64, relu), Dense(10, softmax).

    ``model`` is the model or the function that builds it.
    """
    __tracebackhide__ = True
    what = "The convnet"
    model = build(model, what)
    _check_is_model(model, what)
    rows = _layer_rows(model)
    spec = E.FULL_MODEL
    classes = [r[0] for r in rows]
    if "Flatten" not in classes and classes[:5] == [s[0] for s in spec[:5]]:
        fail(f"{what}: layer 5", "Flatten, turning the (3, 3, 64) maps into 576 numbers",
             f"{classes[5] if len(classes) > 5 else 'nothing'} (your layers: {', '.join(classes)})",
             "Flatten is missing: Dense applied to (3, 3, 64) maps gives an output of shape "
             f"{rows[-1][1]} instead of (10,)")
    _check_layers(rows, spec, what)
    _check_count(rows, spec, what)
    total = int(model.count_params())
    if total != E.TOTAL_PARAMS:
        fail(f"{what}: total parameters", f"{E.TOTAL_PARAMS:,}", f"{total:,}")
    passed(f"{what}: 8 layers, Flatten -> (576,), output (10,), {total:,} parameters")


def check_new_model_each_call(builder) -> None:
    """Two calls of the builder give two distinct models (no model shared between calls)."""
    __tracebackhide__ = True
    first, second = build(builder), build(builder)
    evidence.save("distinct", distinct=first is not second)
    judge_distinct(first is not second, builder)


def judge_distinct(distinct: bool, builder=None) -> None:
    __tracebackhide__ = True
    if not distinct:
        fail(f"{getattr(builder, '__name__', 'the builder')}() called twice", "two new models",
             "the same model object twice", "create the model inside the function, at each call")
    passed("a new model at each call")


def check_summary_answers(shapes: Sequence, params: Sequence, model=None) -> None:
    """The student's reading of model.summary(): output shapes and parameter counts per layer.

    ``model`` (the base or its builder), when given, must have the shapes and counts read.
    """
    __tracebackhide__ = True
    evidence.save("summary", shapes=evidence.plain(shapes), params=evidence.plain(params))
    what = "Your reading of model.summary()"
    want_shapes = [s[1] for s in E.CONV_BASE]
    want_params = [s[2] for s in E.CONV_BASE]
    for name, got, want in (("output shapes", shapes, want_shapes), ("parameter counts", params, want_params)):
        if got is None or not hasattr(got, "__len__"):
            fail(f"{what}: {name}", f"a list of {len(want)} entries", _describe(got), "fill in the list")
        if len(got) != len(want):
            fail(f"{what}: number of {name}", f"{len(want)} (one per layer of the base)", len(got),
                 "one entry per layer: Conv2D, MaxPooling2D, Conv2D, MaxPooling2D, Conv2D")
    import numbers

    def plain_int(x) -> bool:  # a real integer, not an object that claims to equal anything
        return isinstance(x, numbers.Integral) and not isinstance(x, bool)

    for i, (got, want) in enumerate(zip(shapes, want_shapes)):
        got_t = tuple(got) if isinstance(got, (tuple, list)) else got
        if not isinstance(got_t, tuple) or not all(plain_int(x) or x is None for x in got_t):
            fail(f"{what}: output shape of layer {i} ({E.CONV_BASE[i][0]})", f"a tuple of integers such as {want}",
                 _describe(got), "write the shape as a tuple of numbers, e.g. (26, 26, 32)")
        got_t = tuple(None if x is None else int(x) for x in got_t)
        if got_t != want:
            mistake = "leave out the batch axis (None)" if (isinstance(got_t, tuple)
                      and got_t[1:] == want) else "read the 'Output Shape' column of the summary"
            fail(f"{what}: output shape of layer {i} ({E.CONV_BASE[i][0]})", want, got, mistake)
    for i, (got, want) in enumerate(zip(params, want_params)):
        if not plain_int(got):
            fail(f"{what}: parameters of layer {i} ({E.CONV_BASE[i][0]})", f"an integer such as {want}",
                 _describe(got), "write the count as a whole number, e.g. 320")
        if int(got) != want:
            mistake = ("pooling layers have no weights: 0" if want == 0
                       else "read the 'Param #' column, or compute (3*3*in_channels + 1) * filters")
            fail(f"{what}: parameters of layer {i} ({E.CONV_BASE[i][0]})", want, got, mistake)
    if model is not None:
        rows = _layer_rows(build(model))
        if [r[1] for r in rows] != want_shapes or [r[2] for r in rows] != want_params:
            fail(what, "your model to have the shapes and counts you read",
                 f"{[r[1] for r in rows]}, {[r[2] for r in rows]}", "rebuild the base with build_conv_base()")
    passed(f"{what}: all {len(want_shapes)} layers right")


def check_probabilities(probs, n: int) -> None:
    """Predictions on a batch of n images: (n, 10), non-negative, rows summing to 1."""
    __tracebackhide__ = True
    what = "Predictions are probabilities over the 10 digits"
    probs = np.asarray(probs)
    if probs.shape != (n, 10):
        fail(what, f"shape ({n}, 10)", f"shape {probs.shape}", "model.predict(batch) on the whole batch")
    sums = probs.sum(axis=1)
    if probs.min() < 0 or not np.allclose(sums, 1, atol=1e-4):
        fail(what, "non-negative rows summing to 1", f"row sums from {sums.min():.3f} to {sums.max():.3f}",
             "the output layer needs activation='softmax'")
    passed(what)


# --------------------------------------------------------------------------- 5. training


def compile_settings(model) -> dict:
    """What model.compile set, as data: optimizer, learning rate (or schedule), loss, metrics."""
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
    loss = model.loss
    name = loss if isinstance(loss, str) else getattr(loss, "name", getattr(loss, "__name__", repr(loss)))
    metrics = model._compile_metrics._user_metrics if getattr(model, "_compile_metrics", None) else None
    flat = [m if isinstance(m, str) else getattr(m, "name", "") for m in (metrics or [])]
    return {"compiled": True, "optimizer": type(opt).__name__, "learning_rate": lr, "loss": str(name),
            "metrics": [str(m) for m in flat]}


def check_compiled(model, one_hot: bool = True) -> None:
    """RMSprop, categorical cross-entropy (one-hot labels) and the accuracy metric."""
    __tracebackhide__ = True
    settings = compile_settings(model)
    compiled = model if isinstance(model, keras.Model) and settings.get("compiled") else None
    evidence.save("compiled", settings=settings, model=compiled)  # the grader reads the settings from the file
    judge_compile_settings(settings)


def judge_compile_settings(settings: dict) -> None:
    """The settings of :func:`compile_settings` against the course's recipe."""
    __tracebackhide__ = True
    what = "Compiled model"
    if "model" in settings and settings["model"] is None:
        fail(what, "the compiled model", "None", "compile_model must `return model` after compiling it")
    if not settings.get("compiled"):
        fail(what, "a compiled model", "a model that was not compiled",
             "call model.compile(optimizer=..., loss=..., metrics=[...]) inside compile_model")
    opt = settings["optimizer"]
    if opt != "RMSprop":
        fail(f"{what}: optimizer", "RMSprop", opt, "the book trains with keras.optimizers.RMSprop")
    lr = settings["learning_rate"]
    if "schedule" not in lr:
        fail(f"{what}: learning rate", "the course's schedule, recipe.learning_rate_schedule(len(x_train))",
             f"a constant {float(lr['constant']):g}",
             "pass learning_rate=recipe.learning_rate_schedule(len(x_train)) to RMSprop")
    name = settings["loss"]
    if name != "categorical_crossentropy":
        mistakes = {
            "sparse_categorical_crossentropy": "the labels are one-hot: sparse_... is for integer labels",
            "binary_crossentropy": "binary cross-entropy is for two classes; there are 10",
            "mse": "mean squared error is for regression; classification uses cross-entropy",
            "mean_squared_error": "mean squared error is for regression; classification uses cross-entropy",
        }
        fail(f"{what}: loss", "'categorical_crossentropy'", repr(name),
             mistakes.get(name, "10 classes with one-hot labels: loss='categorical_crossentropy'"))
    flat = list(settings["metrics"])
    if "accuracy" not in flat and "acc" not in flat:
        fail(f"{what}: metrics", "['accuracy']", flat, "pass metrics=['accuracy'] to follow accuracy per epoch")
    passed(f"{what}: RMSprop with the course's schedule, categorical cross-entropy, accuracy")


def trained(obj, what: str = "the result of the training cell"):
    """``obj`` (a trained model or a History) from the notebook, or a clear failure if it is missing."""
    __tracebackhide__ = True
    if obj is None:
        fail(f"Nothing to check: {what} is missing", "the training cell to have run without error",
             "no such variable", "run the notebook from the top (Run All) and fix the first error")
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
        fail("Training labels for categorical_crossentropy", "one-hot labels of shape (N, 10)",
             f"integer labels of shape {y.shape}",
             "categorical_crossentropy compares probability vectors: one-hot encode the labels with "
             "keras.utils.to_categorical, or use sparse_categorical_crossentropy")


def figure_data(fig) -> dict:
    """What a figure shows, as data: per panel with lines, each line's x, y and label, the axis
    labels and the legend's texts."""
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
            "xlabel": ax.get_xlabel(), "ylabel": ax.get_ylabel(),
            "legend": None if legend is None else [t.get_text() for t in legend.get_texts()],
        })
    return {"panels": panels}


def check_history_plot(fig, history) -> None:
    """Inspect the figure: a loss and an accuracy panel, training and validation lines = history."""
    __tracebackhide__ = True
    import matplotlib.figure

    from mnistcnn.grading import record

    record("history", history)

    what = "Training curves"
    hist = {k: [float(v) for v in vals] for k, vals in history.history.items()}
    if fig is None:
        evidence.save("figure", figure=None, history=hist)
        fail(what, "a matplotlib Figure", "None", "return the figure (fig, axes = plt.subplots(...))")
    if not isinstance(fig, matplotlib.figure.Figure):
        evidence.save("figure", figure=evidence.plain(fig), history=hist)
        fail(what, "a matplotlib Figure", _describe(fig), "return fig, not the axes or plt")
    data = figure_data(fig)
    evidence.save("figure", figure=data, history=hist)
    judge_figure(data, hist)


def judge_figure(data, hist: dict) -> None:
    """The figure's data (:func:`figure_data`) against the history it should show."""
    __tracebackhide__ = True
    what = "Training curves"
    if data is None:
        fail(what, "a matplotlib Figure", "None", "return the figure (fig, axes = plt.subplots(...))")
    if not isinstance(data, dict) or "panels" not in data:
        fail(what, "a matplotlib Figure", _describe(from_evidence(data)), "return fig, not the axes or plt")
    n_epochs = len(hist["loss"])
    axes = data["panels"]
    if len(axes) != 2:
        fail(f"{what}: panels", "2 panels with lines (loss, accuracy)", f"{len(axes)} panels with lines",
             "fig, (ax_loss, ax_acc) = plt.subplots(1, 2): one for loss, one for accuracy")
    epochs = np.arange(1, n_epochs + 1)

    def values(line, axis):
        try:
            return np.asarray(line[axis], dtype=float)
        except (TypeError, ValueError):
            return np.full(len(line[axis]), np.nan)

    for ax, metric in zip(axes, ("loss", "accuracy")):
        panel = f"{what}: the {metric} panel"
        if len(ax["lines"]) != 2:
            fail(panel, "2 lines (training and validation)", f"{len(ax['lines'])} lines",
                 f"plot history.history['{metric}'] and history.history['val_{metric}']")
        found = {}
        for line in ax["lines"]:
            y, x = values(line, "y"), values(line, "x")
            for key in (metric, f"val_{metric}"):
                if y.shape == (n_epochs,) and np.allclose(y, hist[key]):
                    found[key] = (line, x)
        for key in (metric, f"val_{metric}"):
            if key not in found:
                other = "accuracy" if metric == "loss" else "loss"
                swapped = any(np.allclose(values(line, "y"), hist[f"{k}{other}"])
                              for line in ax["lines"] for k in ("", "val_")
                              if len(line["y"]) == n_epochs)
                fail(panel, f"a line with the values of history.history['{key}']",
                     "no such line", "the panels are swapped: loss first, then accuracy" if swapped
                     else f"plot history.history['{key}'] against the epochs")
            line, x = found[key]
            if not (np.array_equal(x, epochs) or np.array_equal(x, epochs - 1)):
                fail(f"{panel}, x values", f"the epochs 1..{n_epochs}", x.tolist(),
                     "plot against range(1, len(loss) + 1)")
        if not ax["xlabel"] or not ax["ylabel"]:
            fail(f"{panel}: axis labels", "an x label (epoch) and a y label",
                 f"x: {ax['xlabel']!r}, y: {ax['ylabel']!r}", "ax.set_xlabel(...), ax.set_ylabel(...)")
        legend = ax["legend"]
        if legend is None or len(legend) < 2:
            fail(f"{panel}: legend", "a legend naming training and validation",
                 "no legend" if legend is None else list(legend),
                 "give each line a label=... and call ax.legend()")
    passed(f"{what}: loss and accuracy panels, training and validation, {n_epochs} epochs")


# --------------------------------------------------------------------------- 6. evaluation


def check_error_reduction(fn: Callable[[float, float], float], cases=None) -> None:
    """``fn(conv_accuracy, dense_accuracy)`` is the relative reduction of the error rate."""
    __tracebackhide__ = True
    cases = [tuple(c) for c in (cases or [(0.993, 0.978), (0.991, 0.978), (0.99, 0.95), (0.98, 0.9), (0.9, 0.9)])]
    results = results_of(fn, [(c, {}) for c in cases])
    evidence.save("error_reduction", cases=cases, results=[as_evidence(r) for r in results])
    judge_error_reductions(cases, results)


def judge_error_reductions(cases, results) -> None:
    """The results of error_reduction on ``cases`` (one each)."""
    __tracebackhide__ = True
    what = "error_reduction(conv_accuracy, dense_accuracy)"
    for (conv, dense), got in zip(cases, results):
        want = ((1 - dense) - (1 - conv)) / (1 - dense)
        if isinstance(got, Raised):
            got.again()
        try:
            ok = abs(float(got) - want) <= 1e-6
        except (TypeError, ValueError):
            fail(what, f"a number close to {want:.4f} for ({conv}, {dense})", _describe(got))
        if not ok:
            g = float(got)
            if abs(g - 100 * want) < 1e-4:
                mistake = "return a fraction (0.68), not a percentage (68)"
            elif abs(g - (conv - dense)) < 1e-6:
                mistake = "that is the difference in accuracy; the question asks for the relative " \
                          "reduction of the error rate: (dense error - conv error) / dense error"
            elif abs(g + want) < 1e-6:
                mistake = "the sign is reversed: a smaller error is a positive reduction"
            elif abs(g - ((1 - dense) - (1 - conv)) / (1 - conv)) < 1e-6:
                mistake = "divide by the dense network's error rate (the baseline), not the convnet's"
            elif abs(g - (conv - dense) / dense) < 1e-6:
                mistake = "that is the relative gain in accuracy; use the error rates (1 - accuracy)"
            else:
                mistake = "error rate = 1 - accuracy; reduction = (dense error - conv error) / dense error"
            fail(what, f"{want:.4f} for conv_accuracy={conv}, dense_accuracy={dense}", f"{g:.4f}", mistake)
    passed(f"{what} on {len(cases)} cases")


def check_accuracy_value(accuracy, threshold: float | None = None) -> None:
    """A quick look at the accuracy the notebook computed (the grade uses check_test_accuracy)."""
    __tracebackhide__ = True
    threshold = E.ACCURACY_THRESHOLD if threshold is None else threshold
    what = "Test accuracy (your model.evaluate)"
    trained(accuracy, "test_accuracy (computed by the evaluation cell)")
    try:
        value = float(accuracy)
    except (TypeError, ValueError):
        fail(what, f"a number of at least {threshold}", _describe(accuracy))
    if not value >= threshold:
        fail(what, f"at least {threshold:.2%}", f"{value:.2%}",
             "train with the course's recipe (RMSprop with recipe.learning_rate_schedule, 5 epochs, "
             "batch 64) on images scaled to [0, 1]; rerun the notebook from the top")
    passed(f"{what}: {value:.2%} (the grader measures it again on fresh test data)")


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

    threshold = E.ACCURACY_THRESHOLD if threshold is None else threshold
    what = "Test accuracy of your trained convnet (measured on freshly loaded test data)"
    if recording():
        evidence.save("trained_model", model=model if isinstance(model, keras.Model) else evidence.plain(model))
        if not isinstance(model, keras.Model):
            fail(what, f"at least {threshold:.2%}", "no accuracy: the trained model could not be saved for the "
                 "grader", "build the model with keras.Sequential as in the lesson, and train it in the "
                 "training cell")
        print(f"{what}: the model is handed to the grader, which measures its accuracy on freshly loaded "
              f"test data in a clean process; that measurement decides this test's points "
              f"(at least {threshold:.2%} needed).")
        return
    try:
        acc = test_accuracy(model)
    except EvaluationError as exc:
        fail(what, f"at least {threshold:.2%}", f"no accuracy: {exc}")
    if acc < threshold:
        fail(what, f"at least {threshold:.2%}", f"{acc:.2%}",
             "check the preprocessing (scaled to [0, 1]?), the architecture, and that the model was "
             "trained with the course's recipe (5 epochs, batch 64, RMSprop with the schedule) "
             "before this cell" if acc > 0.2 else "the model looks untrained: run the training cell first")
    passed(f"{what}: {acc:.2%}")
