"""A corpus of students' answers, right ones in the many forms people write them and common wrong
ones, each run through its notebook's real test cell (visible and hidden tests, from ``solutions/``)
twice: in the kernel, as the student sees it, and by the grader's judge, from the evidence the cell
hands over. A right answer passes both; a wrong one fails both with its own message (what is
checked, expected, you have, likely mistake).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import keras
import matplotlib
import nbformat
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from fixtures.judging import exercise_with, judge_result, run_exercises  # noqa: E402
from fixtures.reference import build_model as reference_model  # noqa: E402

from mnistcnn import checks, recipe, screening  # noqa: E402
from mnistcnn.constants import ASSIGNMENT  # noqa: E402

pytestmark = pytest.mark.slow

SOLUTIONS = Path(__file__).resolve().parent.parent / "solutions" / ASSIGNMENT


def cell_source(notebook: str, grade_id: str) -> str:
    """The source of a graded test cell with its hidden tests, as the grader runs it."""
    nb = nbformat.read(SOLUTIONS / f"{notebook}.ipynb", as_version=4)
    for cell in nb.cells:
        if screening.grade_id(cell) == grade_id:
            return "\n".join(line for line in cell.source.splitlines() if "HIDDEN TESTS" not in line)
    raise LookupError(grade_id)


# exercise -> (notebook, test cell)
EXERCISES = {
    "preprocess_images": ("01_data", "test_preprocess_images"),
    "encode_labels": ("01_data", "test_encode_labels"),
    "conv_output_size": ("02_convnet", "test_conv_output_size"),
    "conv_param_count": ("02_convnet", "test_conv_param_count"),
    "build_conv_base": ("02_convnet", "test_build_conv_base"),
    "build_model": ("02_convnet", "test_build_model"),
    "compile_model": ("03_training", "test_compile_model"),
    "plot_history": ("03_training", "test_plot_history"),
    "error_reduction": ("03_training", "test_error_reduction"),
}

BASE = """
def build_conv_base():
    return keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(32, (3, 3), activation="relu"), layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"), layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"),
    ])
"""

PLOT = """
def plot_history(history):
    h = history.history
    epochs = {epochs}
    fig, axes = plt.subplots(1, 2)
    for ax, metric in zip(axes, {order}):
        ax.plot(epochs, h[metric], label={train_label})
        ax.plot(epochs, h["val_" + metric], label={val_label})
        ax.set_xlabel("epoch")
        ax.set_ylabel({ylabel})
        {legend}
    return fig
"""


def with_base(source: str) -> str:
    """An answer that reuses the lesson's build_conv_base."""
    return BASE + textwrap.dedent(source)


def plot(epochs="range(1, len(h['loss']) + 1)", order='("loss", "accuracy")', train_label='"training " + metric',
         val_label='"validation " + metric', ylabel="metric", legend="ax.legend()"):
    return PLOT.format(epochs=epochs, order=order, train_label=train_label, val_label=val_label, ylabel=ylabel,
                       legend=legend)


COMPILE = """
def compile_model(model, n_samples):
    model.compile(optimizer={optimizer}, loss={loss}, metrics={metrics})
    return model
"""


def compile_(optimizer="keras.optimizers.RMSprop(learning_rate=recipe.learning_rate_schedule(n_samples))",
             loss='"categorical_crossentropy"', metrics='["accuracy"]'):
    return COMPILE.format(optimizer=optimizer, loss=loss, metrics=metrics)


RIGHT = {
    # 1. the data
    "expand_dims": ("preprocess_images", """
        def preprocess_images(images):
            return np.expand_dims(images, -1).astype("float32") / 255"""),
    "newaxis_after_scaling": ("preprocess_images", """
        def preprocess_images(images):
            return (images / 255.0).astype(np.float32)[..., np.newaxis]"""),
    "tensorflow_tensor": ("preprocess_images", """
        import tensorflow as tf
        def preprocess_images(images):
            return tf.cast(tf.expand_dims(images, -1), tf.float32) / 255.0"""),
    "np_eye_float32": ("encode_labels", """
        def encode_labels(labels):
            return np.eye(10, dtype="float32")[labels]"""),
    "np_eye_default_dtype": ("encode_labels", """
        def encode_labels(labels):
            return np.eye(10)[labels]"""),
    "tf_one_hot": ("encode_labels", """
        import tensorflow as tf
        def encode_labels(labels):
            return tf.one_hot(labels, 10)"""),
    # 2. formulas
    "math_ceil_for_same": ("conv_output_size", """
        import math
        def conv_output_size(size, kernel, stride=1, padding="valid"):
            if padding == "same":
                return math.ceil(size / stride)
            return math.floor((size - kernel) / stride) + 1"""),
    "param_count_in_two_steps": ("conv_param_count", """
        def conv_param_count(kernel, in_channels, filters):
            weights = kernel ** 2 * in_channels * filters
            return weights + filters"""),
    # 2. the model
    "functional_api": ("build_conv_base", """
        def build_conv_base():
            inputs = keras.Input(shape=(28, 28, 1))
            x = layers.Conv2D(32, (3, 3), activation="relu")(inputs)
            x = layers.MaxPooling2D((2, 2))(x)
            x = layers.Conv2D(64, (3, 3), activation="relu")(x)
            x = layers.MaxPooling2D((2, 2))(x)
            outputs = layers.Conv2D(64, (3, 3), activation="relu")(x)
            return keras.Model(inputs, outputs)"""),
    "sequential_add": ("build_conv_base", """
        def build_conv_base():
            model = keras.Sequential()
            model.add(keras.Input(shape=(28, 28, 1)))
            model.add(layers.Conv2D(32, (3, 3), activation="relu"))
            model.add(layers.MaxPooling2D((2, 2)))
            model.add(layers.Conv2D(64, (3, 3), activation="relu"))
            model.add(layers.MaxPooling2D((2, 2)))
            model.add(layers.Conv2D(64, (3, 3), activation="relu"))
            return model"""),
    "input_shape_on_first_layer": ("build_conv_base", """
        def build_conv_base():
            return keras.Sequential([
                layers.Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)),
                layers.MaxPooling2D((2, 2)),
                layers.Conv2D(64, (3, 3), activation="relu"),
                layers.MaxPooling2D((2, 2)),
                layers.Conv2D(64, (3, 3), activation="relu"),
            ])"""),
    "integer_sizes_and_aliases": ("build_conv_base", """
        def build_conv_base():
            return keras.Sequential([
                keras.Input((28, 28, 1)),
                layers.Conv2D(32, 3, activation=keras.activations.relu), layers.MaxPool2D(2),
                layers.Conv2D(filters=64, kernel_size=3, strides=1, activation="relu"), layers.MaxPool2D(pool_size=2),
                layers.Conv2D(64, 3, padding="valid", activation="relu"),
            ])"""),
    "separate_activation_layers": ("build_conv_base", """
        def build_conv_base():
            return keras.Sequential([
                keras.Input(shape=(28, 28, 1)),
                layers.Conv2D(32, (3, 3)), layers.Activation("relu"), layers.MaxPooling2D((2, 2)),
                layers.Conv2D(64, (3, 3)), layers.ReLU(), layers.MaxPooling2D((2, 2)),
                layers.Conv2D(64, (3, 3)), layers.Activation("relu"),
            ])"""),
    "base_nested_in_sequential": ("build_model", with_base("""
        def build_model():
            return keras.Sequential([build_conv_base(), layers.Flatten(), layers.Dense(64, activation="relu"),
                                     layers.Dense(10, activation="softmax")])""")),
    "functional_on_the_base": ("build_model", with_base("""
        def build_model():
            inputs = keras.Input(shape=(28, 28, 1))
            x = layers.Flatten()(build_conv_base()(inputs))
            x = layers.Dense(64, activation="relu")(x)
            return keras.Model(inputs, layers.Dense(10, activation="softmax")(x))""")),
    "softmax_layer": ("build_model", with_base("""
        def build_model():
            model = build_conv_base()
            for layer in (layers.Flatten(), layers.Dense(64, activation="relu"), layers.Dense(10), layers.Softmax()):
                model.add(layer)
            return model""")),
    # 3. training
    "loss_and_metric_objects": ("compile_model", compile_(
        loss="keras.losses.CategoricalCrossentropy()", metrics="[keras.metrics.CategoricalAccuracy()]")),
    "loss_function_and_acc": ("compile_model", compile_(
        loss="keras.losses.categorical_crossentropy", metrics='["acc"]')),
    "schedule_positional_and_metric_name": ("compile_model", compile_(
        optimizer="keras.optimizers.RMSprop(recipe.learning_rate_schedule(n_samples))",
        metrics='["categorical_accuracy"]')),
    "figure_legend": ("plot_history",
                      plot(legend="pass").replace("    return fig", "    fig.legend()\n    return fig")),
    "short_labels_and_history_epoch": ("plot_history", plot(
        epochs="[e + 1 for e in history.epoch]", train_label="metric", val_label='"val_" + metric')),
    "legend_given_the_labels": ("plot_history", plot(train_label="None", val_label="None",
                                                     legend='ax.legend(["training", "validation"])')),
    "named_loss_object": ("compile_model", compile_(
        loss='keras.losses.CategoricalCrossentropy(name="cce")',
        metrics='[keras.metrics.CategoricalAccuracy(name="acc")]')),
    "one_line_error_reduction": ("error_reduction", """
        def error_reduction(conv_accuracy, dense_accuracy):
            return (conv_accuracy - dense_accuracy) / (1 - dense_accuracy)"""),
}

WRONG = {
    # 1. the data
    "images_not_returned": ("preprocess_images", """
        def preprocess_images(images):
            x = images.reshape((len(images), 28, 28, 1)).astype("float32") / 255""",
        ["you have: None", "`return`"]),
    "images_channels_first": ("preprocess_images", """
        def preprocess_images(images):
            return images.reshape((len(images), 1, 28, 28)).astype("float32") / 255""",
        ["channels first"]),
    "images_not_scaled": ("preprocess_images", """
        def preprocess_images(images):
            return images[..., np.newaxis].astype("float32")""",
        ["divide by 255"]),
    "labels_without_num_classes": ("encode_labels", """
        def encode_labels(labels):
            return keras.utils.to_categorical(labels)""",
        ["num_classes=10"]),
    # 2. formulas
    "output_size_ignores_padding": ("conv_output_size", """
        def conv_output_size(size, kernel, stride=1, padding="valid"):
            return (size - kernel) // stride + 1""",
        ["padding='same'"]),
    "param_count_not_returned": ("conv_param_count", """
        def conv_param_count(kernel, in_channels, filters):
            (kernel * kernel * in_channels + 1) * filters""",
        ["you have: None", "`return`"]),
    # 2. the model
    "list_of_layers": ("build_conv_base", """
        def build_conv_base():
            return [keras.Input(shape=(28, 28, 1)), layers.Conv2D(32, (3, 3), activation="relu")]""",
        ["wrap the layers in a model"]),
    "input_without_channel": ("build_conv_base", """
        def build_conv_base():
            inputs = keras.Input(shape=(28, 28))
            x = layers.Reshape((28, 28, 1))(inputs)
            x = layers.Conv2D(32, (3, 3), activation="relu")(x)
            return keras.Model(inputs, x)""",
        ["input shape (28, 28, 1)", "channel axis"]),
    "conv_without_activation": ("build_conv_base", """
        def build_conv_base():
            return keras.Sequential([
                keras.Input(shape=(28, 28, 1)),
                layers.Conv2D(32, (3, 3)), layers.MaxPooling2D((2, 2)),
                layers.Conv2D(64, (3, 3), activation="relu"), layers.MaxPooling2D((2, 2)),
                layers.Conv2D(64, (3, 3), activation="relu"),
            ])""",
        ["activation='relu'", "collapse to one linear map"]),
    "overlapping_pooling": ("build_conv_base", """
        def build_conv_base():
            return keras.Sequential([
                keras.Input(shape=(28, 28, 1)),
                layers.Conv2D(32, (3, 3), activation="relu"), layers.MaxPooling2D((2, 2), strides=1),
                layers.Conv2D(64, (3, 3), activation="relu"), layers.MaxPooling2D((2, 2)),
                layers.Conv2D(64, (3, 3), activation="relu"),
            ])""",
        ["strides=(2, 2)", "must not overlap"]),
    "one_shared_model": ("build_conv_base", with_base("""
        _make, build_conv_base = build_conv_base, None
        _base = _make()
        def build_conv_base():
            return _base"""),
        ["two new models", "at each call"]),
    "add_on_a_functional_base": ("build_model", """
        def build_conv_base():
            inputs = keras.Input(shape=(28, 28, 1))
            x = layers.MaxPooling2D((2, 2))(layers.Conv2D(32, (3, 3), activation="relu")(inputs))
            x = layers.MaxPooling2D((2, 2))(layers.Conv2D(64, (3, 3), activation="relu")(x))
            return keras.Model(inputs, layers.Conv2D(64, (3, 3), activation="relu")(x))

        def build_model():
            model = build_conv_base()
            model.add(layers.Flatten())
            return model""",
        ["only a keras.Sequential model has .add()"]),
    "sigmoid_output": ("build_model", with_base("""
        def build_model():
            model = build_conv_base()
            model.add(layers.Flatten())
            model.add(layers.Dense(64, activation="relu"))
            model.add(layers.Dense(10, activation="sigmoid"))
            return model"""),
        ["activation='softmax'", "probability distribution"]),
    "dropout_added": ("build_model", with_base("""
        def build_model():
            return keras.Sequential([build_conv_base(), layers.Flatten(), layers.Dropout(0.5),
                                     layers.Dense(64, activation="relu"), layers.Dense(10, activation="softmax")])"""),
        ["layer 6 (Dropout)"]),
    # 3. training
    "schedule_for_a_fixed_number": ("compile_model", compile_(
        optimizer="keras.optimizers.RMSprop(learning_rate=recipe.learning_rate_schedule(60000))"),
        ["whatever n_samples is"]),
    "schedule_over_one_epoch_of_steps": ("compile_model", compile_(
        optimizer="keras.optimizers.RMSprop(keras.optimizers.schedules.CosineDecay("
                  "1e-3, decay_steps=n_samples // 64))"),
        ["expected: a schedule over the 4,220 training steps", "reaches 0 after 1.1 epochs"]),
    "schedule_that_ends_in_the_first_epoch": ("compile_model", compile_(
        optimizer="keras.optimizers.RMSprop(keras.optimizers.schedules.CosineDecay(1e-3, decay_steps=500))"),
        ["falls to nothing within the first epoch"]),
    "schedule_counting_validation_images": ("compile_model", compile_(
        optimizer="keras.optimizers.RMSprop(keras.optimizers.schedules.CosineDecay("
                  "1e-3, decay_steps=-(-n_samples // 64) * 5))"),
        ["counts the validation images too"]),
    "compile_without_return": ("compile_model", compile_().replace("    return model\n", ""),
        ["you have: None", "`return model`"]),
    "accuracy_metric_object": ("compile_model", compile_(metrics="[keras.metrics.Accuracy()]"),
        ["exactly equal to the labels"]),
    "from_logits_after_softmax": ("compile_model", compile_(
        loss="keras.losses.CategoricalCrossentropy(from_logits=True)"),
        ["from_logits=True", "probabilities, not logits"]),
    "rmsprop_with_momentum": ("compile_model", compile_(
        optimizer="keras.optimizers.RMSprop(learning_rate=recipe.learning_rate_schedule(n_samples), momentum=0.9)"),
        ["momentum=0.0", "you have: momentum=0.9"]),
    "labels_swapped": ("plot_history", plot(train_label='"validation " + metric', val_label='"training " + metric'),
        ["labelled as training", "the labels are swapped"]),
    "epochs_from_zero": ("plot_history", plot(epochs="range(len(h['loss']))"),
        ["expected: the epochs 1, 2, ..., 5", "numbered from 0"]),
    "plotted_without_epochs": ("plot_history", plot().replace("ax.plot(epochs, ", "ax.plot("),
        ["numbered from 0"]),
    "y_labels_swapped": ("plot_history", plot(ylabel='"accuracy" if metric == "loss" else "loss"'),
        ["the label and the data disagree"]),
    "lines_without_labels": ("plot_history", plot(train_label="None", val_label="None"),
        ["a line without a label"]),
    "figure_not_returned": ("plot_history", plot().replace("    return fig", "    plt.show()"),
        ["you have: None", "return the figure"]),
    "error_reduction_not_returned": ("error_reduction", """
        def error_reduction(conv_accuracy, dense_accuracy):
            reduction = (conv_accuracy - dense_accuracy) / (1 - dense_accuracy)""",
        ["you have: None", "`return`"]),
}


@pytest.fixture(scope="module")
def standins(mnist):
    """The notebooks' variables that the test cells read (the data, a batch, a trained history)."""
    (train_images, train_labels), (test_images, test_labels) = mnist
    return {
        "train_images": train_images, "train_labels": train_labels,
        "test_images": test_images, "test_labels": test_labels,
        "batch": train_images[:8].reshape((8, 28, 28, 1)).astype("float32") / 255,
        "x_train": np.zeros((60000, 1), np.uint8),  # only its length is read
        "history": checks.example_history(epochs=5, seed=9),
    }


@pytest.fixture(scope="module")
def graded_corpus():
    """The whole corpus run by the grader's answer runner in one process (a fresh fork per answer, as in
    grading): answer name -> (the runner's entry, its result)."""
    corpus = {name: (v[0], v[1]) for name, v in [*RIGHT.items(), *WRONG.items()]}
    entries = {name: exercise_with(*EXERCISES[ex], {ex: textwrap.dedent(src)}) for name, (ex, src) in corpus.items()}
    results = run_exercises(list(entries.values()))
    return {name: (entry, result) for (name, entry), result in zip(entries.items(), results)}


def kernel_run(standins, exercise: str, source: str) -> str | None:
    """The answer in the kernel: its test cell's own outcome (the visible test), the message if it failed."""
    from keras import layers

    notebook, grade_id = EXERCISES[exercise]
    ns = {"checks": checks, "np": np, "keras": keras, "layers": layers, "plt": plt, "recipe": recipe,
          "build_model": reference_model, **standins}
    exec(compile(textwrap.dedent(source), f"<answer {exercise}>", "exec"), ns)  # noqa: S102
    try:
        exec(compile(cell_source(notebook, grade_id), f"<{grade_id}>", "exec"), ns)  # noqa: S102
    except checks.CheckFailed as exc:
        return str(exc)
    finally:
        plt.close("all")
    return None


def run_answer(tmp_path, graded_corpus, standins, name: str, exercise: str, source: str):
    """The answer in the kernel (:func:`kernel_run`) and the judge's verdict on the grader's own run of it
    (the answer runner: the answer cell in a fresh process, visible and hidden inputs)."""
    return kernel_run(standins, exercise, source), judge_result(tmp_path, *graded_corpus[name])


def test_the_corpus_is_as_large_as_promised():
    assert len(RIGHT) >= 8 and len(WRONG) >= 15
    assert {e for e, _ in RIGHT.values()} | {e for e, _, _ in WRONG.values()} == set(EXERCISES)


@pytest.mark.parametrize("name", sorted(RIGHT))
def test_right_answer_passes_in_the_kernel_and_for_the_grader(name, tmp_path, graded_corpus, standins):
    exercise, source = RIGHT[name]
    kernel, verdict = run_answer(tmp_path, graded_corpus, standins, name, exercise, source)
    assert kernel is None, f"the check refused a right answer:\n{kernel}"
    assert verdict.passed, f"the grader refused a right answer:\n{verdict.message}"


#: Wrong answers only the grader's hidden part catches (the notebook's visible test passes them); on a
#: hidden input the grader's message says what is wrong and the likely mistake, not the input.
HIDDEN_ONLY = {"labels_without_num_classes", "one_shared_model", "schedule_for_a_fixed_number"}
HIDDEN_INPUT = {"labels_without_num_classes", "schedule_for_a_fixed_number"}


@pytest.mark.parametrize("name", sorted(WRONG))
def test_wrong_answer_fails_with_its_own_message(name, tmp_path, graded_corpus, standins):
    exercise, source, must_say = WRONG[name]
    kernel, verdict = run_answer(tmp_path, graded_corpus, standins, name, exercise, source)
    assert not verdict.passed and not verdict.problem, verdict.message
    for text in must_say:
        assert text in verdict.message, verdict.message
    if name in HIDDEN_ONLY:
        assert kernel is None, f"the visible test now catches {name}: move it out of HIDDEN_ONLY\n{kernel}"
        if name in HIDDEN_INPUT:
            assert "(not shown)" in verdict.message and "expected:" not in verdict.message, verdict.message
        return
    assert kernel is not None, "a wrong answer passed the notebook's test"
    for part in ("expected:", "you have:", "likely mistake:"):
        assert part in kernel, kernel
    for text in must_say:
        assert text in kernel, kernel
