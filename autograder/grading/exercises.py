"""The graded exercises as the grader runs them: the one home of what each graded test needs and of
the hidden tests' inputs.

For every graded test cell (but the accuracy test, whose trained model comes from the notebook's
own run) the grader runs the student's answer itself, in a fresh sandboxed process of plain Python
(:mod:`autograder.grading.runner`): the set-up cells the exercise needs, as released; the answer
cells it needs, from the submission (its own and those it builds on, nothing else the student
wrote); the test's visible part, as released; then its hidden part, :data:`PROBES` below, on inputs
the student never saw. What the checks record there is the evidence the judge
(:mod:`autograder.grading.judge`) decides the cell from, with the grader's references
(:mod:`autograder.grading.references`), which never enter the process that runs student code.

This module is copied alone into the runner's sandbox: it imports nothing of the grader's, and it
holds inputs, never an answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Exercise:
    """One graded test cell as the grader runs it."""

    notebook: str
    cell: str  # the graded test cell's grade_id
    setup: tuple[str, ...]  # locked cells run first, as released (their errors are ignored)
    answers: tuple[str, ...]  # the student's answer cells, in the order of the notebook
    probe: str  # the hidden part: a function of this module, run after the visible part


def _ex(notebook: str, cell: str, setup: tuple, answers: tuple, probe: str = "") -> tuple:
    return (notebook, cell), Exercise(notebook, cell, setup, answers, probe)


#: (notebook, grade_id) -> Exercise, for every graded cell the grader runs itself.
EXERCISES = dict([
    _ex("01_data", "test_preprocess_images", ("imports", "load_data"), ("preprocess_images",),
        "probe_preprocess_images"),
    _ex("01_data", "test_encode_labels", ("imports", "load_data"), ("encode_labels",), "probe_encode_labels"),
    _ex("01_data", "test_prepared_data", ("imports", "load_data"), ("preprocess_images", "encode_labels")),
    _ex("02_convnet", "test_conv_output_size", ("imports",), ("conv_output_size",), "probe_conv_output_size"),
    _ex("02_convnet", "test_conv_param_count", ("imports",), ("conv_param_count",), "probe_conv_param_count"),
    _ex("02_convnet", "test_build_conv_base", ("imports",), ("build_conv_base",), "probe_build_conv_base"),
    _ex("02_convnet", "test_read_summary", ("imports",), ("build_conv_base", "read_summary")),
    _ex("02_convnet", "test_build_model", ("imports",), ("build_conv_base", "build_model"), "probe_build_model"),
    _ex("02_convnet", "test_probabilities", ("imports", "model_summary", "predict_batch"),
        ("build_conv_base", "build_model"), "probe_probabilities"),
    _ex("03_training", "test_build_model", ("imports",), ("build_model",)),
    _ex("03_training", "test_compile_model", ("imports", "data"), ("build_model", "compile_model"),
        "probe_compile_model"),
    _ex("03_training", "test_plot_history", ("imports",), ("plot_history",), "probe_plot_history"),
    _ex("03_training", "test_error_reduction", ("imports",), ("error_reduction",), "probe_error_reduction"),
])


# ----------------------------------------------------------------------------- the visible inputs
# What the visible tests state in the notebooks (the judge checks the records made for them);
# tests/test_runner.py keeps these in step with the test cells of solutions/.

OUTPUT_SIZE_VISIBLE = [(28, 3, 1, "valid"), (26, 2, 2, "valid"), (13, 2, 2, "valid"), (28, 3, 1, "same"),
                       (28, 3, 2, "same")]
PARAM_COUNT_VISIBLE = [(3, 1, 32), (3, 32, 64), (5, 3, 16)]
ERROR_REDUCTION_VISIBLE = [(0.993, 0.978)]


# ----------------------------------------------------------------------------- the hidden inputs


def noise_images() -> np.ndarray:
    """37 images of random pixels."""
    return np.random.default_rng(501).integers(0, 256, size=(37, 28, 28), dtype=np.uint8)


def hidden_images(test_images: np.ndarray) -> list[np.ndarray]:
    return [noise_images(), test_images[-3:]]


def hidden_labels() -> list[np.ndarray]:
    """41 random labels, and a batch without the digit 9 (it still needs 10 columns)."""
    return [np.random.default_rng(502).integers(0, 10, size=41), np.array([0, 1, 2])]


def output_size_configs() -> list[tuple]:
    """144 configurations (size, kernel, stride, padding)."""
    return [(size, kernel, stride, padding) for size in (5, 7, 13, 26, 28, 32) for kernel in (1, 2, 3, 5)
            for stride in (1, 2, 3) for padding in ("valid", "same") if kernel <= size]


def param_count_configs() -> list[tuple]:
    """36 configurations (kernel, in_channels, filters)."""
    return [(k, c, f) for k in (1, 3, 5) for c in (1, 3, 32, 64) for f in (1, 16, 64)]


def probability_inputs() -> np.ndarray:
    """5 images of uniform noise in [0, 1)."""
    return np.random.default_rng(503).random((5, 28, 28, 1), dtype=np.float32)


#: The number of training images the hidden compile test compiles for (a schedule built for a fixed
#: number of images instead of n_samples fails on it).
COMPILE_N = 12_345

#: The made-up training histories the hidden plot test draws: (epochs, seed).
HISTORIES = [(7, 504)]


def error_reduction_cases() -> list[tuple[float, float]]:
    """8 pairs (conv_accuracy, dense_accuracy)."""
    rng = np.random.default_rng(505)
    return [(float(c), float(d)) for c, d in zip(rng.uniform(0.95, 0.999, 8), rng.uniform(0.80, 0.949, 8))]


# ----------------------------------------------------------------------------- the hidden parts
# Each probe gets the namespace the answer cells ran in and the course's checks, which record what
# they are given (the evidence); a failure of one call does not stop the next (the judge decides).


def _each(calls) -> None:
    for call in calls:
        try:
            call()
        except Exception:  # noqa: BLE001 - what was recorded is judged; a call that raised recorded nothing
            pass


def probe_preprocess_images(ns: dict, checks) -> None:
    fn = ns["preprocess_images"]
    _each(lambda x=x: checks.check_images(fn(x), x) for x in hidden_images(ns["test_images"]))


def probe_encode_labels(ns: dict, checks) -> None:
    fn = ns["encode_labels"]
    _each(lambda y=y: checks.check_labels(fn(y), y) for y in hidden_labels())


def probe_conv_output_size(ns: dict, checks) -> None:
    checks.check_output_size_function(ns["conv_output_size"], cases=output_size_configs())


def probe_conv_param_count(ns: dict, checks) -> None:
    checks.check_param_count_function(ns["conv_param_count"], cases=param_count_configs())


def probe_build_conv_base(ns: dict, checks) -> None:
    checks.check_new_model_each_call(ns["build_conv_base"])


def probe_build_model(ns: dict, checks) -> None:
    checks.check_new_model_each_call(ns["build_model"])


def probe_probabilities(ns: dict, checks) -> None:
    x = probability_inputs()
    checks.check_probabilities(checks.build(ns["build_model"]).predict(x, verbose=0), len(x))


def probe_compile_model(ns: dict, checks) -> None:
    checks.check_compiled(ns["compile_model"](checks.build(ns["build_model"]), COMPILE_N), n_samples=COMPILE_N)


def probe_plot_history(ns: dict, checks) -> None:
    import matplotlib.pyplot as plt

    for epochs, seed in HISTORIES:
        history = checks.example_history(epochs=epochs, seed=seed)
        _each([lambda h=history: checks.check_history_plot(ns["plot_history"](h), h)])
    plt.close("all")


def probe_error_reduction(ns: dict, checks) -> None:
    checks.check_error_reduction(ns["error_reduction"], cases=error_reduction_cases())
