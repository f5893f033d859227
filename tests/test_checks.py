"""The teaching messages: each typical mistake gets its own, with expected, found and likely cause."""

import json
from types import SimpleNamespace

import keras
import matplotlib
import numpy as np
import pytest
from keras import layers

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from fixtures.reference import build_model, compile_model, preprocess  # noqa: E402

from autograder.grading import references  # noqa: E402
from mnistcnn import checks  # noqa: E402


def message(fn, *args, **kwargs) -> str:
    with pytest.raises(checks.CheckFailed) as err:
        fn(*args, **kwargs)
    text = str(err.value)
    assert "expected:" in text and "you have:" in text, text
    return text


def conv(f, **kw):
    return layers.Conv2D(f, (3, 3), activation=kw.pop("activation", "relu"), **kw)


def model_of(*layer_list, input_shape=(28, 28, 1)):
    return keras.Sequential([keras.Input(input_shape), *layer_list])


def base_layers(**overrides):
    return [overrides.get("c1", conv(32)), overrides.get("p1", layers.MaxPooling2D((2, 2))),
            overrides.get("c2", conv(64)), overrides.get("p2", layers.MaxPooling2D((2, 2))),
            overrides.get("c3", conv(64))]


def head_layers(out_activation="softmax", units=10):
    return [layers.Flatten(), layers.Dense(64, activation="relu"), layers.Dense(units, activation=out_activation)]


# ------------------------------------------------------------------------------ the reference passes


def test_expected_table_is_what_keras_builds():
    """The grader's layer table agrees with Keras itself (not typed-in numbers only), and the
    students' architecture with it (classes and configs; the shapes and counts left out but Flatten's)."""
    model = build_model()
    rows = [(type(layer).__name__, tuple(layer.output.shape[1:]), layer.count_params()) for layer in model.layers]
    assert rows == [row[:3] for row in references.FULL_MODEL]
    assert model.count_params() == references.TOTAL_PARAMS == checks.TOTAL_PARAMS == 93_322
    assert rows[5][1] == (576,)
    assert [(r[0], r[3]) for r in checks.FULL_MODEL] == [(r[0], r[3]) for r in references.FULL_MODEL]
    assert [r[1:3] for r in checks.FULL_MODEL] == [(None, None)] * 5 + [((576,), None)] + [(None, None)] * 2


@pytest.mark.parametrize("side", [checks, references], ids=["kernel", "grader"])
def test_reference_passes_every_check(mnist, capsys, side):
    (x, y), _ = mnist
    xp, yp = preprocess(x[:200], y[:200])
    side.check_images(xp, x[:200])
    side.check_labels(yp, y[:200])
    side.check_conv_base(model_of(*base_layers()))
    side.check_full_model(build_model())
    side.check_probabilities(build_model().predict(xp[:4], verbose=0), 4)
    assert "✓" in capsys.readouterr().out


# ------------------------------------------------------------------------------ data mistakes


@pytest.mark.parametrize("side", [checks, references], ids=["kernel", "grader"])
def test_images_without_channel_axis(mnist, side):
    (x, _), _ = mnist
    text = message(side.check_images, x[:10].astype("float32") / 255, x[:10])
    assert "channel axis is missing" in text and "(10, 28, 28, 1)" in text


@pytest.mark.parametrize("side", [checks, references], ids=["kernel", "grader"])
def test_images_not_scaled(mnist, side):
    (x, _), _ = mnist
    text = message(side.check_images, x[:10].reshape(10, 28, 28, 1).astype("float32"), x[:10])
    assert "divide by 255" in text and "255" in text


@pytest.mark.parametrize("side", [checks, references], ids=["kernel", "grader"])
def test_images_float64_and_flattened_and_divided_by_256(mnist, side):
    (x, _), _ = mnist
    assert "float32" in message(side.check_images, x[:5].reshape(5, 28, 28, 1) / 255, x[:5])
    assert "flattened" in message(side.check_images, x[:5].reshape(5, 784).astype("float32") / 255, x[:5])
    text = message(side.check_images, x[:5].reshape(5, 28, 28, 1).astype("float32") / 256, x[:5])
    assert "not 256" in text
    assert "return" in message(side.check_images, None, x[:5])


@pytest.mark.parametrize("scaled, must_say", [
    (lambda x: x.reshape(-1, 28, 28, 1).astype("float32") / x.max(), "not by the largest value"),
    (lambda x: x.reshape(-1, 28, 28, 1).transpose(0, 2, 1, 3).astype("float32") / 255, "rearranged"),
    (lambda x: x.reshape(-1, 28, 28, 1).astype("float32") / 254, "its uint8 value divided by 255"),
])
def test_images_scaled_wrong_give_the_same_message_in_the_kernel_and_for_the_grader(mnist, scaled, must_say):
    """The kernel tells the mistake from the images scaled back, the grader against its reference."""
    (x, _), _ = mnist
    x = x[:7] // 2  # a batch whose largest pixel is not 255
    kernel, grader = (message(side.check_images, scaled(x), x) for side in (checks, references))
    assert must_say in kernel and kernel == grader, (kernel, grader)


def test_integer_labels_for_categorical_crossentropy(mnist):
    (_, y), _ = mnist
    text = message(checks.check_labels, y[:20], y[:20])
    assert "one-hot" in text and "to_categorical" in text
    assert "one-hot" in message(checks.check_training_labels, y[:20])


def test_labels_with_too_few_columns_and_shifted_rows():
    labels = np.array([0, 1, 2])
    assert "num_classes=10" in message(checks.check_labels, keras.utils.to_categorical(labels), labels)
    shifted = keras.utils.to_categorical((labels + 1) % 10, 10)
    assert "column 0" in message(checks.check_labels, shifted, labels)


# ------------------------------------------------------------------------------ model mistakes


@pytest.mark.parametrize("model, must_say", [
    (lambda: model_of(*base_layers(c1=conv(32, padding="same"))), "padding='same'"),
    (lambda: keras.Sequential(base_layers()), "keras.Input(shape=(28, 28, 1))"),
    (lambda: model_of(*base_layers(), input_shape=(32, 32, 1)), "input shape (28, 28, 1)"),
    (lambda: model_of(*base_layers(p1=layers.MaxPooling2D((3, 3)))), "pool_size=(2, 2)"),
    (lambda: model_of(*base_layers(c1=conv(64), c2=conv(32))), "filters grow with depth"),
    (lambda: model_of(*base_layers(c2=conv(64, activation=None))), "activation='relu'"),
    (lambda: model_of(*base_layers()[:4]), "a layer is missing"),
    (lambda: model_of(*base_layers(), layers.MaxPooling2D((2, 2))), "extra layers"),
    (lambda: model_of(conv(32), conv(64), layers.MaxPooling2D((2, 2)), layers.MaxPooling2D((2, 2)), conv(64)),
     "MaxPooling2D((2, 2)) follows each"),
])
def test_conv_base_mistakes(model, must_say):
    text = message(checks.check_conv_base, model())
    assert must_say in text, text
    assert "likely mistake:" in text


@pytest.mark.parametrize("model, must_say", [
    (lambda: model_of(*base_layers(), layers.Dense(64, activation="relu"), layers.Dense(10, activation="softmax")),
     "Flatten is missing"),
    (lambda: model_of(conv(32), layers.MaxPooling2D((2, 2)), conv(64), layers.MaxPooling2D((2, 2)), layers.Flatten(),
                      layers.Dense(64, activation="relu"), layers.Dense(10, activation="softmax")),
     "Flatten goes right after the last Conv2D"),
    (lambda: model_of(*base_layers(), layers.Dense(64, activation="relu"), layers.Flatten(),
                      layers.Dense(10, activation="softmax")),
     "Flatten goes right after the last Conv2D"),
    (lambda: model_of(*base_layers(), *head_layers(out_activation="sigmoid")), "softmax"),
    (lambda: model_of(*base_layers(), *head_layers(out_activation=None)), "logits"),
    (lambda: model_of(*base_layers(), *head_layers(units=1)), "one output unit per digit"),
    (lambda: model_of(*base_layers(), *head_layers(), layers.Dense(10, activation="softmax")), "extra layers"),
])
def test_full_model_mistakes(model, must_say):
    text = message(checks.check_full_model, model())
    assert must_say in text, text


def test_builder_errors_and_warnings_are_explained(capsys):
    text = message(checks.check_conv_base, lambda: model_of(*base_layers(), input_shape=(28, 28)))
    assert "channel axis is missing" in text
    with pytest.raises(NotImplementedError):  # a blank answer stays a blank answer
        checks.check_conv_base(lambda: (_ for _ in ()).throw(NotImplementedError()))
    # The book's `input_shape=` still builds the right model; Keras 3's warning becomes a note on stdout.
    checks.check_conv_base(lambda: keras.Sequential([conv(32, input_shape=(28, 28, 1)), *base_layers()[1:]]))
    out = capsys.readouterr()
    assert "note: Keras 3 prefers" in out.out and out.err == ""


def test_not_a_model():
    assert "return" in message(checks.check_full_model, None)
    assert "keras.Sequential" in message(checks.check_conv_base, [conv(32)])


def test_softmax_missing_shows_in_probabilities():
    m = model_of(*base_layers(), *head_layers(out_activation=None))
    x = np.random.default_rng(0).random((3, 28, 28, 1), dtype=np.float32)
    assert "softmax" in message(checks.check_probabilities, m.predict(x, verbose=0) * 3, 3)


# ------------------------------------------------------------------------------ formulas


def good_size(size, kernel, stride=1, padding="valid"):
    return -(-size // stride) if padding == "same" else (size - kernel) // stride + 1


#: The stored values of every hidden configuration, from the grader's references (the students'
#: checks compare with the values a test cell states).
SIZES = {c: references.keras_output_size(*c) for c in references.conv_configs()}
COUNTS = {c: references.keras_param_count(*c) for c in references.param_count_configs()}


OUTPUT_SIZE_MISTAKES = [
    (lambda s, k, stride=1, padding="valid": (s - k) // stride + 1, "ceil(size / stride)"),
    (lambda s, k, stride=1, padding="valid": good_size(s, k, 1, padding) if padding == "valid"
     else good_size(s, k, stride, padding), "stride is ignored"),
    (lambda s, k, stride=1, padding="valid": (s - k) / stride + 1 if padding == "valid"
     else good_size(s, k, stride, padding), "integer division"),
    (lambda s, k, stride=1, padding="valid": (s - k) // stride if padding == "valid"
     else good_size(s, k, stride, padding), "+ 1"),
    (lambda s, k, stride=1, padding="valid": -(-(s - k) // stride) + 1 if padding == "valid"
     else good_size(s, k, stride, padding), "round down, not up"),
]


@pytest.mark.parametrize("wrong, must_say", OUTPUT_SIZE_MISTAKES)
def test_output_size_formula_mistakes(wrong, must_say):
    """The same message from the stored values in the kernel and from Keras for the grader."""
    kernel = message(checks.check_output_size_function, wrong, SIZES)
    assert must_say in kernel
    got = checks.results_of(wrong, [((s, k), {"stride": st, "padding": p}) for s, k, st, p in SIZES])
    assert message(references.judge_output_sizes, list(SIZES), got) == kernel


def test_formulas_right_answers_pass_on_every_configuration():
    checks.check_output_size_function(good_size, SIZES)
    checks.check_param_count_function(lambda k, c, f: (k * k * c + 1) * f, COUNTS)
    assert len(SIZES) == 144 and len(COUNTS) == 36


def test_inputs_without_stored_values_are_recorded_and_only_their_type_checked(monkeypatch, tmp_path):
    """A check given inputs alone cannot judge their values (it has no reference): it records the
    results for the grader and fails only on what is not a number."""
    import mnistcnn.grading

    monkeypatch.setenv(mnistcnn.grading.RECORD_ENV, str(tmp_path))
    checks.check_output_size_function(lambda *a, **k: 1, list(SIZES))
    checks.check_param_count_function(lambda k, c, f: 0, list(COUNTS))
    checks.check_error_reduction(lambda c, d: 0.5, [(0.99, 0.9)])
    records = [json.loads(p.read_text()) for p in sorted((tmp_path / "evidence").glob("*.json"))]
    assert sorted(r["kind"] for r in records) == ["error_reduction", "output_size", "param_count"]
    sizes = next(r for r in records if r["kind"] == "output_size")["fields"]
    assert [tuple(c) for c in sizes["configs"]] == list(SIZES) and set(sizes["results"]) == {1}
    assert "`return`" in message(checks.check_output_size_function, lambda *a, **k: None, [(28, 3, 1, "valid")])
    assert "a number" in message(checks.check_param_count_function, lambda k, c, f: "320", [(3, 1, 32)])
    assert "`return`" in message(checks.check_error_reduction, lambda c, d: None, [(0.99, 0.9)])


@pytest.mark.parametrize("wrong, must_say", [
    (lambda k, c, f: k * k * c * f, "biases are missing"),
    (lambda k, c, f: (k * k + 1) * f, "all input channels"),
    (lambda k, c, f: k * k * c * f + 1, "one bias per filter"),
    (lambda k, c, f: (k * c + 1) * f, "the kernel is square"),
])
def test_param_count_mistakes(wrong, must_say):
    kernel = message(checks.check_param_count_function, wrong, COUNTS)
    assert must_say in kernel
    assert message(references.judge_param_counts, list(COUNTS), checks.results_of(wrong, [(c, {}) for c in COUNTS])) \
        == kernel


def test_summary_reading_mistakes():
    shapes = [row[1] for row in references.CONV_BASE]
    params = [row[2] for row in references.CONV_BASE]
    base = lambda: model_of(*base_layers())  # noqa: E731
    for side, model in ((checks, base), (references, None)):
        side.check_summary_answers(shapes, params, model)
        assert "batch axis" in message(side.check_summary_answers, [(None, *s) for s in shapes], params, model)
        assert "no weights" in message(side.check_summary_answers, shapes, [320, 1, 18496, 0, 36928], model)
        assert "one entry per layer" in message(side.check_summary_answers, shapes[:4], params, model)
    # The kernel compares with what Keras reports for the student's own base, checked first.
    text = message(checks.check_summary_answers, shapes, params, lambda: model_of(*base_layers(c1=conv(16))))
    assert "rebuild the base with build_conv_base()" in text
    # Without a model, the kernel checks only the form of the answers.
    checks.check_summary_answers([(1, 2, 3)] * 5, [7] * 5)
    assert "tuple of numbers" in message(checks.check_summary_answers, ["26x26x32"] * 5, params)


def test_use_bias_false_is_a_parameter_mistake_in_the_kernel_and_for_the_grader():
    model = model_of(*base_layers(c2=conv(64, use_bias=False)))
    for side in (checks, references):
        text = message(side.check_conv_base, model)
        assert "parameters" in text and "use_bias must stay True" in text, text


# ------------------------------------------------------------------------------ training and plots


def compiled(**changes):
    """The model compiled as notebook 3 does, then again with ``changes`` to its settings."""
    m = compile_model(build_model(), 60000)
    if changes:
        m.compile(**{"optimizer": m.optimizer, "loss": "categorical_crossentropy", "metrics": ["accuracy"], **changes})
    return m


def test_the_reference_compiles_as_notebook_3_asks():
    model = build_model()
    assert compile_model(model, 1000) is model
    checks.check_compiled(model, 1000)
    assert "learning_rate_schedule" in message(checks.check_compiled, model, 60000)  # the schedule is n's


def test_compile_mistakes():
    checks.check_compiled(compiled(), 60000)
    assert "sparse_" in message(checks.check_compiled, compiled(loss="sparse_categorical_crossentropy"), 60000)
    assert "RMSprop" in message(checks.check_compiled, compiled(optimizer=keras.optimizers.Adam()), 60000)
    assert "learning_rate_schedule" in message(checks.check_compiled, compiled(optimizer=keras.optimizers.RMSprop()),
                                               60000)
    assert "metrics=['accuracy']" in message(checks.check_compiled, compiled(metrics=()), 60000)
    assert "not compiled" in message(checks.check_compiled, build_model(), 60000)


def fake_history(n=5, seed=0):
    rng = np.random.default_rng(seed)
    return SimpleNamespace(history={k: list(rng.random(n)) for k in ("loss", "accuracy", "val_loss", "val_accuracy")},
                           epoch=list(range(n)))


def plot(h, swap=False, legend=True, xlabel="epoch", shift=0):
    fig, axes = plt.subplots(1, 2)
    for ax, metric in zip(axes[::-1] if swap else axes, ("loss", "accuracy")):
        epochs = range(1 + shift, len(h.history[metric]) + 1 + shift)
        ax.plot(epochs, h.history[metric], label="training")
        ax.plot(epochs, h.history[f"val_{metric}"], label="validation")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(metric)
        if legend:
            ax.legend()
    return fig


def test_plot_check_reads_the_figure():
    h = fake_history()
    checks.check_history_plot(plot(h), h)
    assert "swapped" in message(checks.check_history_plot, plot(h, swap=True), h)
    assert "legend" in message(checks.check_history_plot, plot(h, legend=False), h)
    assert "axis labels" in message(checks.check_history_plot, plot(h, xlabel=""), h)
    assert "the epochs 1, 2, ..., 5" in message(checks.check_history_plot, plot(h, shift=3), h)
    # A figure made for another history (hard-coded values) fails.
    assert "history.history['loss']" in message(checks.check_history_plot, plot(fake_history(seed=1)), h)
    assert "return fig" in message(checks.check_history_plot, plt.subplots(1, 2)[1], h)
    plt.close("all")


@pytest.mark.parametrize("wrong, must_say", [
    (lambda c, d: 100 * ((1 - d) - (1 - c)) / (1 - d), "not a percentage"),
    (lambda c, d: c - d, "difference in accuracy"),
    (lambda c, d: ((1 - c) - (1 - d)) / (1 - d), "sign is reversed"),
    (lambda c, d: ((1 - d) - (1 - c)) / (1 - c), "baseline"),
])
def test_error_reduction_mistakes(wrong, must_say):
    pairs = [(0.993, 0.978), (0.991, 0.978), (0.99, 0.95), (0.98, 0.9), (0.9, 0.9)]
    kernel = message(checks.check_error_reduction, wrong, {p: references.error_reduction(*p) for p in pairs})
    assert must_say in kernel
    assert message(references.judge_error_reductions, pairs, checks.results_of(wrong, [(p, {}) for p in pairs])) \
        == kernel


def test_error_reduction_of_the_book_is_68_percent():
    checks.check_error_reduction(lambda c, d: ((1 - d) - (1 - c)) / (1 - d), {(0.993, 0.978): 0.6818182})
    assert round(references.error_reduction(0.993, 0.978), 2) == 0.68
    assert abs(references.error_reduction(0.993, 0.978) - 0.6818182) < 1e-6


def test_accuracy_value_below_threshold():
    checks.check_accuracy_value(0.9912)
    assert "99.00%" in message(checks.check_accuracy_value, 0.985)


def test_test_accuracy_is_measured_in_the_kernel_when_no_grader_records(monkeypatch, capsys):
    import mnistcnn.grading

    monkeypatch.delenv(mnistcnn.grading.RECORD_ENV, raising=False)
    monkeypatch.setattr(mnistcnn.grading, "test_accuracy", lambda model: 0.9951)
    checks.check_test_accuracy(build_model())
    assert "99.51%" in capsys.readouterr().out
    monkeypatch.setattr(mnistcnn.grading, "test_accuracy", lambda model: 0.9712)
    text = message(checks.check_test_accuracy, build_model())
    assert "at least 99.00%" in text and "97.12%" in text


def test_test_accuracy_only_records_the_model_when_the_grader_measures_it(monkeypatch, tmp_path, capsys):
    """Graded as a class: the grader measures the saved model in a clean process; the kernel does not
    evaluate it a second time."""
    import mnistcnn.grading

    def must_not_evaluate(model):
        raise AssertionError("evaluated in the kernel although the grader measures the accuracy")

    monkeypatch.setenv(mnistcnn.grading.RECORD_ENV, str(tmp_path))
    monkeypatch.setattr(mnistcnn.grading, "test_accuracy", must_not_evaluate)
    checks.check_test_accuracy(build_model())
    records = [json.loads(p.read_text()) for p in (tmp_path / "evidence").glob("*.json")]
    assert [r["kind"] for r in records] == ["trained_model"]
    assert (tmp_path / "evidence" / records[0]["fields"]["model"]["$keras"]).is_file()
    assert "handed to the grader" in capsys.readouterr().out
    text = message(checks.check_test_accuracy, SimpleNamespace(save=None))
    assert "could not be saved" in text


def rendered(fn, *args) -> str:
    """What IPython would show for the check's failure."""
    with pytest.raises(checks.CheckFailed) as err:
        fn(*args)
    return "\n".join(err.value._render_traceback_())


def test_a_failed_check_shows_its_message_without_the_course_frames_and_a_hint_on_the_third_try(
        monkeypatch, tmp_path):
    from mnistcnn import hints

    monkeypatch.setattr(hints, "in_notebook", lambda: True)
    monkeypatch.setenv(hints.STATE_ENV, str(tmp_path))
    labels = np.array([1, 2, 3])
    shown = [rendered(checks.check_labels, labels, labels) for _ in range(3)]
    assert all(s.startswith("CheckFailed: Encoded labels") and "checks.py" not in s for s in shown), shown
    assert ["hint (" in s for s in shown] == [False, False, True], shown
    assert 'notebook 1, "Exercise 2 · Labels as the loss wants them"' in shown[2]
    # IPython asks twice for one failure (output and reply): it counts once.
    with pytest.raises(checks.CheckFailed) as err:
        checks.check_labels(labels, labels)
    assert err.value._render_traceback_() == err.value._render_traceback_()
    # A pass starts the count again; another check keeps its own count.
    checks.check_labels(keras.utils.to_categorical(labels, 10), labels)
    assert "hint (" not in rendered(checks.check_labels, labels, labels)
    assert "hint (" not in rendered(checks.check_compiled, None, 60000)


def test_an_error_inside_a_check_is_not_shown_as_a_chain_of_tracebacks():
    def broken():
        raise ZeroDivisionError("division by zero")

    with pytest.raises(checks.CheckFailed) as err:
        checks.check_conv_base(broken)
    assert err.value.__suppress_context__ and "ZeroDivisionError: division by zero" in str(err.value)
