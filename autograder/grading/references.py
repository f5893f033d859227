"""The grader's references: the right answers of the graded exercises and the hidden inputs, with the
judging functions that compare a student's results with them (used by :mod:`autograder.grading.judge`).

The students never get this module: their kit holds ``mnistcnn/`` only
(:mod:`autograder.course.kit`), whose checks compare with the values each visible test states and
hold no answer key. Here are the output size and the parameter count of a Conv2D as Keras computes
them, the reduction of the error rate, the preprocessed images, the table of the base's and the
convnet's layers (output shapes and parameter counts); the hidden inputs are
:mod:`autograder.grading.exercises`'. The
judging reuses the students' checks with these references, so that a verdict reads the same as in
the notebook; what needs no reference is taken from :mod:`mnistcnn.checks` as it is.
"""

from __future__ import annotations

import math

import numpy as np

from mnistcnn import quiet_tensorflow

quiet_tensorflow()

import keras  # noqa: E402

from autograder.grading import exercises  # noqa: E402
from autograder.grading.language import _  # noqa: E402
from mnistcnn import checks  # noqa: E402
from mnistcnn.checks import (  # noqa: E402, F401 - the judge's names, as before
    CheckFailed,
    Raised,
    Recorded,
    _describe,
    check_labels,
    check_probabilities,
    compile_settings,
    example_history,
    fail,
    from_evidence,
    judge_compile_settings,
    judge_distinct,
    judge_figure,
)

# ----------------------------------------------------------------------------- the hidden inputs
# Their one home is autograder/grading/exercises.py (the answer runner runs them); named here as the
# judge and the tests have called them.

conv_configs = exercises.output_size_configs
param_count_configs = exercises.param_count_configs


# ----------------------------------------------------------------------------- 1. the data


def preprocessed(images: np.ndarray) -> np.ndarray:
    """The right preprocessing of uint8 ``images`` (N, 28, 28): float32 (N, 28, 28, 1) in [0, 1]."""
    return images.reshape((len(images), 28, 28, 1)).astype("float32") / 255


#: Images compared per block: np.allclose on all 60,000 at once makes several temporary copies of
#: 188 MB; block by block the same element-wise test runs in cache, several times faster.
CLOSE_BLOCK = checks.CLOSE_BLOCK


def _scaled_close(x: np.ndarray, images: np.ndarray) -> bool:
    """``np.allclose(x, preprocessed(images), atol=1e-6)``, block by block."""
    for i in range(0, len(images), CLOSE_BLOCK):
        if not np.allclose(x[i:i + CLOSE_BLOCK], preprocessed(images[i:i + CLOSE_BLOCK]), atol=1e-6):
            return False
    return True


def _fail_scaling(x, images, what: str) -> None:
    """The images hold other values than ``images / 255``: say how they were scaled."""
    __tracebackhide__ = True
    n = len(images)
    reference = preprocessed(images)
    if np.allclose(x, images.reshape(x.shape).astype("float32") / 256, atol=1e-6):
        mistake = _("divide by 255 (the largest pixel value), not 256")
    elif np.allclose(x, reference / max(float(reference.max()), 1e-12), atol=1e-6):
        mistake = _("divide by 255, not by the largest value of this batch")
    elif np.allclose(np.sort(x.ravel()), np.sort(reference.ravel()), atol=1e-6):
        mistake = _("the pixels are rearranged: reshape, don't transpose or shuffle")
    else:
        mistake = _("each pixel should be its uint8 value divided by 255")
    bad = int(np.argmax(np.abs(x - reference).reshape(n, -1).max(axis=1)))
    fail(what, _("image {i} equal to images[{i}] / 255").format(i=bad),
         _("a largest difference of {diff}").format(diff=f"{float(np.abs(x - reference).max()):.4g}"), mistake)


def check_images(x, images) -> None:
    """``x`` must be ``images`` (uint8, (N, 28, 28)) as float32 (N, 28, 28, 1) in [0, 1], against
    :func:`preprocessed`."""
    __tracebackhide__ = True
    checks._check_images(x, images, _scaled_close, _fail_scaling)


# ----------------------------------------------------------------------------- 2. formulas


def keras_output_size(size: int, kernel: int, stride: int, padding: str) -> int:
    layer = keras.layers.Conv2D(1, kernel, strides=stride, padding=padding)
    return int(layer.compute_output_shape((None, size, size, 1))[1])


def judge_output_sizes(configs, results) -> None:
    """The results of conv_output_size on ``configs`` (one each), against Keras."""
    __tracebackhide__ = True
    configs = [tuple(c) for c in configs]
    checks.judge_output_sizes(configs, results, [keras_output_size(*c) for c in configs],
                              lambda got, want, *config: _output_size_mistake(got, *config))


def _output_size_mistake(got, size: int, kernel: int, stride: int, padding: str) -> str:
    if padding == "same" and got == (size - kernel) // stride + 1:
        return _("padding='same' pads so that the output is ceil(size / stride)")
    if padding == "valid" and got == size - kernel + 1 and stride > 1:
        return _("the stride is ignored: divide (size - kernel) by the stride")
    if padding == "valid" and got == (size - kernel) / stride + 1:
        return _("use integer division (//): a window only counts if it fits entirely")
    if padding == "valid" and got == (size - kernel) // stride:
        return _("forgot the + 1 (the first window position)")
    if padding == "valid" and got == math.ceil((size - kernel) / stride) + 1:
        return _("round down, not up: a window that runs off the edge is dropped")
    return _("valid: (size - kernel) // stride + 1; same: ceil(size / stride)")


def keras_param_count(kernel: int, in_channels: int, filters: int) -> int:
    layer = keras.layers.Conv2D(filters, kernel)
    layer.build((None, 28, 28, in_channels))
    return int(layer.count_params())


def judge_param_counts(configs, results) -> None:
    """The results of conv_param_count on ``configs`` (one each), against Keras."""
    __tracebackhide__ = True
    configs = [tuple(c) for c in configs]
    checks.judge_param_counts(configs, results, [keras_param_count(*c) for c in configs],
                              lambda got, want, *config: _param_count_mistake(got, *config))


def _param_count_mistake(got, kernel: int, in_channels: int, filters: int) -> str:
    if got == kernel * kernel * in_channels * filters:
        return _("the biases are missing: each filter has one bias, + filters")
    if got == (kernel * kernel + 1) * filters:
        return _("each filter spans all input channels: kernel * kernel * in_channels weights")
    if got == kernel * kernel * in_channels * filters + 1:
        return _("one bias per filter, not one in all")
    if got == (kernel * in_channels + 1) * filters:
        return _("the kernel is square: kernel * kernel weights per channel")
    return "(kernel * kernel * in_channels + 1) * filters"


# ----------------------------------------------------------------------------- 2-4. the model

#: The lesson's model layer by layer: (class, output shape, parameters, config). Output shapes leave
#: out the batch axis. The numbers are the book's (Deep Learning with Python, 5.1).
CONV_BASE = [
    ("Conv2D", (26, 26, 32), 320, {"filters": 32, "kernel_size": (3, 3), "activation": "relu"}),
    ("MaxPooling2D", (13, 13, 32), 0, {}),
    ("Conv2D", (11, 11, 64), 18_496, {"filters": 64, "kernel_size": (3, 3), "activation": "relu"}),
    ("MaxPooling2D", (5, 5, 64), 0, {}),
    ("Conv2D", (3, 3, 64), 36_928, {"filters": 64, "kernel_size": (3, 3), "activation": "relu"}),
]

FULL_MODEL = CONV_BASE + [
    ("Flatten", (576,), 0, {}),
    ("Dense", (64,), 36_928, {"units": 64, "activation": "relu"}),
    ("Dense", (10,), 650, {"units": 10, "activation": "softmax"}),
]

TOTAL_PARAMS = 93_322
assert sum(row[2] for row in FULL_MODEL) == TOTAL_PARAMS


def check_conv_base(model) -> None:
    """The convolutional base, layer by layer, output shapes and parameters included."""
    __tracebackhide__ = True
    checks.check_conv_base(model, CONV_BASE)


def check_full_model(model) -> None:
    """The whole convnet, layer by layer, output shapes and parameters included."""
    __tracebackhide__ = True
    checks.check_full_model(model, FULL_MODEL)


def check_summary_answers(shapes, params, model=None) -> None:
    """The shapes and counts read from model.summary() against the table; ``model``, when given,
    must have them."""
    __tracebackhide__ = True
    checks.check_summary_answers(shapes, params, model, spec=CONV_BASE)


# ----------------------------------------------------------------------------- 6. evaluation


def error_reduction(conv: float, dense: float) -> float:
    """The relative reduction of the error rate from the dense network to the convnet."""
    return ((1 - dense) - (1 - conv)) / (1 - dense)


def judge_error_reductions(cases, results) -> None:
    """The results of error_reduction on ``cases`` (one each)."""
    __tracebackhide__ = True
    cases = [tuple(c) for c in cases]
    checks.judge_error_reductions(cases, results, [error_reduction(*c) for c in cases], _reduction_mistake)


def _reduction_mistake(g: float, want: float, conv: float, dense: float) -> str:
    if abs(g - 100 * want) < 1e-4:
        return _("return a fraction (0.68), not a percentage (68)")
    if abs(g - (conv - dense)) < 1e-6:
        return _("that is the difference in accuracy; the question asks for the relative "
                 "reduction of the error rate: (dense error - conv error) / dense error")
    if abs(g + want) < 1e-6:
        return _("the sign is reversed: a smaller error is a positive reduction")
    if abs(g - ((1 - dense) - (1 - conv)) / (1 - conv)) < 1e-6:
        return _("divide by the dense network's error rate (the baseline), not the convnet's")
    if abs(g - (conv - dense) / dense) < 1e-6:
        return _("that is the relative gain in accuracy; use the error rates (1 - accuracy)")
    return _("error rate = 1 - accuracy; reduction = (dense error - conv error) / dense error")
