"""The checks speak the notebook's language: in a zh_CN kernel every message of a failed check (what
is checked, expected, you have, likely mistake), the hint, the figures' text alternatives and the
hand-in's notes are Chinese, with code, numbers and names left as they are; in English nothing changed.

"No English left" is decided by :func:`english_runs`: three or more plain English words in a row,
outside `code spans`, quoted values (the student's own labels and strings), Python's own exception
text and URLs, where Keras's class names and a few proper names do not count as words. A string
that is not marked for translation shows up as such a run even when its catalog entry exists.
"""

from __future__ import annotations

import re
import warnings

import keras
import matplotlib
import numpy as np
import pytest
from keras import layers

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from fixtures.reference import build_model, compile_model  # noqa: E402

from autograder.course import catalogs  # noqa: E402
from autograder.grading import references  # noqa: E402
from mnistcnn import checks, handin, hints, i18n, plots, recipe, screening  # noqa: E402

LABELS_ZH = ("应为：", "你的结果：", "可能的错误：")
LABELS_EN = ("expected:", "you have:", "likely mistake:")

# --------------------------------------------------------------------------- the rule


def _names() -> set[str]:
    """Names that are not English prose: Keras's classes, and the proper names the messages use."""
    modules = (keras.layers, keras.optimizers, keras.losses, keras.metrics, keras.optimizers.schedules)
    keras_names = {name for module in modules for name in dir(module) if name[:1].isupper()}
    return keras_names | {"None", "True", "False", "NumPy", "Keras", "MNIST", "JupyterLab", "Python"}


NAMES = _names()
_STRIPPED = [
    re.compile(r"`[^`]*`"),                                      # code spans
    re.compile(r"'[^'\n]*'|\"[^\"\n]*\""),                       # quoted values: the student's own
    re.compile(r"\b[A-Z]\w*(?:Error|Exception|Warning)\b: [^\n]*"),  # Python's own error text
    re.compile(r"https?://\S+"),
]
_CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef“”‘’…→·]")
_EDGES = "()[]{},.;:!?<>"


def english_runs(text: str, longest: int = 2) -> list[str]:
    """Every run of more than ``longest`` plain English words in a row in ``text``."""
    for pattern in _STRIPPED:
        text = pattern.sub(" | ", text)
    text = _CJK.sub(" | ", text)
    runs, run = [], []
    for token in text.split():
        word = token.strip(_EDGES)
        if re.fullmatch(r"[A-Za-z]{2,}|a", word) and word not in NAMES:
            run.append(word)
            if token[-1] in ",.;:!?" or token[0] in "(":  # a punctuation mark ends or starts a clause
                run = _flush(run, runs, longest)
        else:
            run = _flush(run, runs, longest)
    _flush(run, runs, longest)
    return runs


def _flush(run: list[str], runs: list[str], longest: int) -> list[str]:
    if len(run) > longest:
        runs.append(" ".join(run))
    return []


def test_the_rule_finds_an_english_sentence_and_lets_code_and_names_pass():
    assert english_runs("  应为：a model that builds") == ["a model that builds"]
    assert english_runs("可能的错误：the stride is ignored") == ["the stride is ignored"]
    assert english_runs("your layers: Conv2D") == []  # two words only
    assert english_runs("你的各层：Conv2D, MaxPooling2D, Flatten, Dense, Dense, Dropout") == []
    assert english_runs("请用 keras.utils.to_categorical(labels, 10) 生成，见 `the function does not return`") == []
    assert english_runs("它的标签是 'the training loss'；ValueError: it is not a valid shape") == []
    assert english_runs("模型 train the model well") == ["train the model well"]


# --------------------------------------------------------------------------- the corpus of failures


def _builder(*stack, functional: bool = False):
    def build():
        if functional:
            inputs = keras.Input(shape=(28, 28, 1))
            return keras.Model(inputs, layers.Conv2D(32, 3)(inputs)).add(layers.Dense(10))
        return keras.Sequential(list(stack))
    return build


def _base(*changes):
    conv = dict(activation="relu")
    stack = [keras.Input(shape=(28, 28, 1)), layers.Conv2D(32, (3, 3), **conv), layers.MaxPooling2D((2, 2)),
             layers.Conv2D(64, (3, 3), **conv), layers.MaxPooling2D((2, 2)), layers.Conv2D(64, (3, 3), **conv)]
    for i, layer in changes:
        stack[i] = layer
    return [layer for layer in stack if layer is not None]


def _full(*head):
    return _base() + [layers.Flatten(), layers.Dense(64, activation="relu"), *head]


def _compiled(optimizer=None, loss="categorical_crossentropy", metrics=("accuracy",), n=54_000):
    model = build_model()
    model.compile(optimizer=optimizer or keras.optimizers.RMSprop(recipe.learning_rate_schedule(n)), loss=loss,
                  metrics=list(metrics))
    return checks.compile_settings(model)


def _history_figure(epochs=None, labels=("training", "validation"), ylabels=("loss", "accuracy"), legend=True,
                    panels=2, swap=False):
    history = checks.example_history(epochs=4, seed=3).history
    fig, axes = plt.subplots(1, panels, squeeze=False)
    metrics = ["accuracy", "loss"] if swap else ["loss", "accuracy"]
    for ax, metric, ylabel in zip(axes.flat, metrics, ylabels):
        x = range(1, 5) if epochs is None else epochs
        ax.plot(x, history[metric], label=labels[0])
        ax.plot(x, history["val_" + metric], label=labels[1])
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        if legend:
            ax.legend()
    data = checks.figure_data(fig)
    plt.close(fig)
    return data, history


def _figure_cases():
    def judged(**kw):
        return lambda: checks.judge_figure(*_history_figure(**kw))
    return {
        "figure: one panel": judged(panels=1),
        "figure: swapped panels": judged(swap=True),
        "figure: epochs from 0": judged(epochs=range(4)),
        "figure: other x values": judged(epochs=[2, 4, 6, 8]),
        "figure: no labels": judged(labels=(None, None)),
        "figure: labels swapped": judged(labels=("validation", "training")),
        "figure: training labelled as validation": judged(labels=("val", "val")),
        "figure: no legend": judged(legend=False),
        "figure: y labels swapped": judged(ylabels=("accuracy", "loss")),
        "figure: no y label": judged(ylabels=("", "")),
        "figure: not returned": lambda: checks.judge_figure(None, {}),
    }


def _image_cases(images):
    n = len(images)
    scaled = images.reshape((n, 28, 28, 1)).astype("float32") / 255
    half = images // 2
    return {
        "images: None": (checks.check_images, None, images),
        "images: a list": (checks.check_images, [1, 2], images),
        "images: no channel": (checks.check_images, scaled.reshape(n, 28, 28), images),
        "images: flattened": (checks.check_images, scaled.reshape(n, 784), images),
        "images: channels first": (checks.check_images, scaled.reshape(n, 1, 28, 28), images),
        "images: too few": (checks.check_images, scaled[:-1], images),
        "images: float64": (checks.check_images, scaled.astype("float64"), images),
        "images: uint8": (checks.check_images, images.reshape(n, 28, 28, 1), images),
        "images: not scaled": (checks.check_images, scaled * 255, images),
        "images: by 256": (checks.check_images, scaled * 255 / 256, images),
        "images: by the batch's largest": (checks.check_images, _by_largest(half), half),
        "images: shuffled": (checks.check_images, scaled[::-1].copy(), images),
        "images: other": (checks.check_images, scaled * 0.5, images),
    }


def _by_largest(images):
    x = images.reshape((len(images), 28, 28, 1)).astype("float32")
    return x / x.max()


def _label_cases(labels):
    onehot = keras.utils.to_categorical(labels, 10)
    return {
        "labels: None": (checks.check_labels, None, labels),
        "labels: objects": (checks.check_labels, np.array([{}, {}], dtype=object), labels),
        "labels: integers": (checks.check_labels, labels, labels),
        "labels: rows": (checks.check_labels, onehot[:-1], labels),
        "labels: 9 columns": (checks.check_labels, onehot[:, :9], labels),
        "labels: int one-hot": (checks.check_labels, onehot.astype(int), labels),
        "labels: not one-hot": (checks.check_labels, onehot * 2, labels),
        "labels: shifted": (checks.check_labels, np.roll(onehot, 1, axis=0), labels),
        "training labels": (checks.check_training_labels, labels),
    }


def _formula_cases():
    """The students' checks with the values a test cell states (here: every hidden configuration's)."""
    sizes = {c: references.keras_output_size(*c) for c in references.conv_configs()}
    counts = {c: references.keras_param_count(*c) for c in references.param_count_configs()}
    reductions = {p: references.error_reduction(*p) for p in [(0.993, 0.978), (0.99, 0.95), (0.98, 0.9)]}

    def f(fn):
        checks.check_output_size_function(fn, sizes)

    def g(fn):
        checks.check_param_count_function(fn, counts)

    def e(fn):
        checks.check_error_reduction(fn, reductions)

    return {
        "output size: same as valid": (f, lambda s, k, stride=1, padding="valid": (s - k) // stride + 1),
        "output size: no stride": (f, lambda s, k, stride=1, padding="valid": s - k + 1 if padding == "valid"
                                   else -(-s // stride)),
        "output size: no +1": (f, lambda s, k, stride=1, padding="valid": (s - k) // stride
                               if padding == "valid" else -(-s // stride)),
        "output size: None": (f, lambda s, k, stride=1, padding="valid": None),
        "output size: raises": (f, lambda s, k, stride=1, padding="valid": 1 / 0),
        "output size: other": (f, lambda s, k, stride=1, padding="valid": 7),
        "params: no bias": (g, lambda k, c, f: k * k * c * f),
        "params: one channel": (g, lambda k, c, f: (k * k + 1) * f),
        "params: one bias": (g, lambda k, c, f: k * k * c * f + 1),
        "params: other": (g, lambda k, c, f: 3),
        "params: a string": (g, lambda k, c, f: "320"),
        "reduction: percentage": (e, lambda c, d: 100 * ((1 - d) - (1 - c)) / (1 - d)),
        "reduction: difference": (e, lambda c, d: c - d),
        "reduction: sign": (e, lambda c, d: ((1 - c) - (1 - d)) / (1 - d)),
        "reduction: over conv": (e, lambda c, d: ((1 - d) - (1 - c)) / (1 - c)),
        "reduction: accuracy gain": (e, lambda c, d: (c - d) / d),
        "reduction: other": (e, lambda c, d: 0.5),
        "reduction: None": (e, lambda c, d: None),
    }


def _model_cases():
    base, full = checks.check_conv_base, checks.check_full_model
    softmax = layers.Dense(10, activation="softmax")
    return {
        "base: no return": (base, lambda: None),
        "base: a list": (base, lambda: _base()),
        "base: not a model": (base, lambda: "model"),
        "base: no channel (Keras refuses)": (base, _builder(keras.Input(shape=(28, 28)), layers.Conv2D(32, 3))),
        "base: functional .add": (base, _builder(functional=True)),
        "base: no input": (base, _builder(layers.Conv2D(32, 3))),
        "base: other input": (base, _builder(*_base((0, keras.Input(shape=(32, 32, 1)))))),
        "base: padding same": (base, _builder(*_base((1, layers.Conv2D(32, 3, activation="relu", padding="same"))))),
        "base: kernel 5": (base, _builder(*_base((1, layers.Conv2D(32, 5, activation="relu"))))),
        "base: filters": (base, _builder(*_base((1, layers.Conv2D(64, 3, activation="relu")),
                                             (3, layers.Conv2D(32, 3, activation="relu"))))),
        "base: stride 2": (base, _builder(*_base((1, layers.Conv2D(32, 3, strides=2, activation="relu"))))),
        "base: pool 3": (base, _builder(*_base((2, layers.MaxPooling2D(3))))),
        "base: pool stride 1": (base, _builder(*_base((2, layers.MaxPooling2D(2, strides=1))))),
        "base: pool same": (base, _builder(*_base((2, layers.MaxPooling2D(2, padding="same"))))),
        "base: no activation": (base, _builder(*_base((1, layers.Conv2D(32, 3))))),
        "base: tanh": (base, _builder(*_base((1, layers.Conv2D(32, 3, activation="tanh"))))),
        "base: pooling missing": (base, _builder(*_base((2, None)))),
        "base: a layer missing": (base, _builder(*_base((5, None)))),
        "base: an extra layer": (base, _builder(*_base(), layers.MaxPooling2D(2))),
        "base: same model twice": (checks.judge_distinct, False, build_model),
        "model: no Flatten": (full, _builder(*_base(), layers.Dense(64, activation="relu"), softmax)),
        "model: sigmoid": (full, _builder(*_full(layers.Dense(10, activation="sigmoid")))),
        "model: logits": (full, _builder(*_full(layers.Dense(10)))),
        "model: tanh output": (full, _builder(*_full(layers.Dense(10, activation="tanh")))),
        "model: 5 outputs": (full, _builder(*_full(layers.Dense(5, activation="softmax")))),
        "model: dropout": (full, _builder(*_base(), layers.Flatten(), layers.Dropout(0.5),
                                          layers.Dense(64, activation="relu"), softmax)),
        "model: Flatten late": (full, _builder(*_base(), layers.Dense(64, activation="relu"), layers.Flatten(),
                                               layers.Dense(10, activation="softmax"))),
        "model: 32 hidden units": (full, _builder(*_base(), layers.Flatten(), layers.Dense(32, activation="relu"),
                                                  layers.Dense(10, activation="softmax"))),
        "probabilities: None": (checks.check_probabilities, None, 4),
        "probabilities: shape": (checks.check_probabilities, np.ones((4, 9)) / 9, 4),
        "probabilities: not summing to 1": (checks.check_probabilities, np.ones((4, 10)), 4),
    }


def _summary_cases():
    shapes = [s[1] for s in references.CONV_BASE]
    params = [s[2] for s in references.CONV_BASE]
    s = references.check_summary_answers  # the grader's, against its table
    return {
        "summary: None": (s, None, params),
        "summary: too few": (s, shapes[:-1], params),
        "summary: a string": (s, ["(26, 26, 32)", *shapes[1:]], params),
        "summary: batch axis": (s, [(None, 26, 26, 32), *shapes[1:]], params),
        "summary: wrong shape": (s, [(28, 28, 32), *shapes[1:]], params),
        "summary: a float count": (s, shapes, [320.5, *params[1:]]),
        "summary: pooling weights": (s, shapes, [params[0], 10, *params[2:]]),
        "summary: wrong count": (s, shapes, [288, *params[1:]]),
        "summary: another model": (s, shapes, params, _builder(*_base((1, layers.Conv2D(16, 3, activation="relu"))))),
        "summary: kernel, another model": (checks.check_summary_answers, shapes, params,
                                           _builder(*_base((1, layers.Conv2D(16, 3, activation="relu"))))),
        "summary: kernel, wrong count": (checks.check_summary_answers, shapes, [288, *params[1:]], _builder(*_base())),
    }


def _compile_cases():
    j = checks.judge_compile_settings
    rms = keras.optimizers.RMSprop
    schedules = keras.optimizers.schedules
    return {
        "compile: no model": (j, {"model": None}, 54_000),
        "compile: not compiled": (j, {"compiled": False}, 54_000),
        "compile: Adam": (j, _compiled(keras.optimizers.Adam()), 54_000),
        "compile: momentum": (j, _compiled(rms(recipe.learning_rate_schedule(54_000), momentum=0.9)), 54_000),
        "compile: constant rate": (j, _compiled(rms(1e-3)), 54_000),
        "compile: exponential decay": (j, _compiled(rms(schedules.ExponentialDecay(1e-3, 100, 0.9))), 54_000),
        "compile: alpha": (j, _compiled(rms(schedules.CosineDecay(1e-3, 4220, alpha=0.1))), 54_000),
        "compile: 60,000 images": (j, _compiled(n=60_000), 54_000),
        "compile: counting validation": (j, _compiled(rms(schedules.CosineDecay(1e-3, 313 * 5))), 20_000),
        "compile: within an epoch": (j, _compiled(rms(schedules.CosineDecay(1e-3, 500))), 54_000),
        "compile: short": (j, _compiled(rms(schedules.CosineDecay(1e-3, 1000))), 54_000),
        "compile: long": (j, _compiled(rms(schedules.CosineDecay(1e-3, 99_999))), 54_000),
        "compile: sparse loss": (j, _compiled(loss="sparse_categorical_crossentropy"), 54_000),
        "compile: binary loss": (j, _compiled(loss="binary_crossentropy"), 54_000),
        "compile: mse": (j, _compiled(loss="mse"), 54_000),
        "compile: hinge": (j, _compiled(loss="hinge"), 54_000),
        "compile: from logits": (j, _compiled(loss=keras.losses.CategoricalCrossentropy(from_logits=True)), 54_000),
        "compile: smoothing": (j, _compiled(loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.1)), 54_000),
        "compile: Accuracy()": (j, _compiled(metrics=[keras.metrics.Accuracy()]), 54_000),
        "compile: sparse accuracy": (j, _compiled(metrics=["sparse_categorical_accuracy"]), 54_000),
        "compile: binary accuracy": (j, _compiled(metrics=["binary_accuracy"]), 54_000),
        "compile: no metric": (j, _compiled(metrics=[]), 54_000),
    }


def _accuracy_cases():
    return {
        "accuracy: low": (checks.check_accuracy_value, 0.5),
        "accuracy: not a number": (checks.check_accuracy_value, "high"),
        "accuracy: nothing trained": (checks.trained, None),
        "accuracy: a model that cannot be saved": (checks.check_test_accuracy, object()),
    }


@pytest.fixture(scope="module")
def corpus(mnist):
    """Name -> a call that fails, for every kind of failure of every check."""
    (x, y), _ = mnist
    cases = {**_image_cases(x[:64]), **_label_cases(y[:64].astype("int64")), **_formula_cases(), **_model_cases(),
             **_summary_cases(), **_compile_cases(), **_accuracy_cases()}
    calls = {name: (lambda case=case: case[0](*case[1:])) for name, case in cases.items()}
    return {**calls, **_figure_cases()}


def failure(call, lang: str, name: str = "the call") -> str:
    """The message of the failure ``call`` raises in ``lang``."""
    with i18n.using(lang), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            call()
        except checks.CheckFailed as exc:
            return str(exc)
        finally:
            plt.close("all")
    pytest.fail(f"{name} did not fail")


def test_every_failure_of_the_corpus_is_in_chinese_with_its_three_labels_and_in_english_as_before(corpus):
    problems, kinds = [], set()
    for name, call in corpus.items():
        zh, en = failure(call, "zh_CN", name), failure(call, "en", name)
        lines = zh.splitlines()
        if english_runs(zh):
            problems.append(f"{name}: English left {english_runs(zh)}:\n{zh}")
        if not (lines[1].startswith("  应为：") and lines[2].startswith("  你的结果：")):
            problems.append(f"{name}: the labels are not Chinese, each on its line:\n{zh}")
        if ("likely mistake:" in en) != ("  可能的错误：" in zh):
            problems.append(f"{name}: the likely mistake is missing in one language:\n{zh}\n{en}")
        if not ("\n  expected: " in en and "\n  you have: " in en) or _CJK.search(en) or zh == en:
            problems.append(f"{name}: the English message changed:\n{en}")
        kinds.add(lines[0])
    assert problems == [], "\n\n".join(problems)
    assert len(corpus) >= 115 and len(kinds) >= 25


def test_a_message_left_unmarked_is_caught(corpus, monkeypatch):
    """What the corpus test relies on: a check whose text does not go through the catalog fails it."""
    monkeypatch.setattr(checks, "_", lambda message: message)  # as if no message of checks.py were marked
    zh = failure(corpus["images: float64"], "zh_CN")
    assert english_runs(zh), zh


def test_chinese_failure_reads_as_a_teacher_wrote_it():
    with i18n.using("zh_CN"), pytest.raises(checks.CheckFailed) as err:
        checks.check_error_reduction(lambda c, d: 100 * ((1 - d) - (1 - c)) / (1 - d), {(0.993, 0.978): 0.6818182})
    assert str(err.value).splitlines() == [
        "error_reduction(conv_accuracy, dense_accuracy)",
        "  应为：conv_accuracy=0.993、dense_accuracy=0.978 时为 0.6818",
        "  你的结果：68.1818",
        "  可能的错误：请返回小数（0.68），而不是百分数（68）",
    ]


def test_a_passed_check_says_so_in_chinese(mnist, capsys):
    (x, y), _ = mnist
    with i18n.using("zh_CN"):
        checks.check_labels(keras.utils.to_categorical(y[:50], 10), y[:50])
    assert capsys.readouterr().out.strip() == ("✓ 编码后的标签：每行 10 个元素的 one-hot 编码"
                                               "（keras.utils.to_categorical）：50 个标签全部正确")


# --------------------------------------------------------------------------- the hint


def test_the_hint_names_the_chinese_lesson_and_the_count_in_both_languages():
    with i18n.using("zh_CN"):
        zh = hints.hint_line("check_images", 3)
    assert zh.startswith("  提示（连续失败 3 次）：课上在笔记本 1 的“练习 1 · ") and english_runs(zh) == [], zh
    assert "https://numpy.org/" in zh
    assert hints.hint_line("check_images", 4).startswith(
        '  hint (4 failures in a row): the lesson explains this in notebook 1, "Exercise 1 · Images')


# --------------------------------------------------------------------------- figures and their text


@pytest.fixture
def digits():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (40, 28, 28), dtype=np.uint8)
    labels = np.array([5, 0, 4, 1, 9, 2, 1, 3, 1, 4] * 4)
    return images, labels


def confusions():
    """Test labels with known mistakes: 7 taken for 2 nine times, 4 for 9 seven times, and so on."""
    mistakes = [(7, 2, 9), (4, 9, 7), (3, 5, 6), (9, 4, 5), (2, 7, 4), (8, 3, 2)]
    y_true = list(np.repeat(np.arange(10), 100))
    y_pred = list(y_true)
    for k, (t, p, count) in enumerate(mistakes):
        start = t * 100 + 10 * k
        y_pred[start:start + count] = [p] * count
    return np.array(y_true), np.array(y_pred)


def test_the_digit_grid_lists_its_labels_row_by_row(digits):
    images, labels = digits
    with i18n.using("zh_CN"):
        zh = plots.text_alternative(plots.show_digits(images, labels, n=20, columns=8))
    en = plots.text_alternative(plots.show_digits(images, labels, n=20, columns=8))
    plt.close("all")
    assert zh.splitlines() == ["图：20 个手写数字，共 3 行，每行 8 个。", "逐行列出它们的标签：",
                               "第 1 行：5 0 4 1 9 2 1 3", "第 2 行：1 4 5 0 4 1 9 2", "第 3 行：1 3 1 4"]
    assert en.splitlines()[0] == "Figure: 20 handwritten digits in 3 rows of 8."
    assert en.splitlines()[2:] == ["row 1: 5 0 4 1 9 2 1 3", "row 2: 1 4 5 0 4 1 9 2", "row 3: 1 3 1 4"]


def test_the_confusion_matrix_says_the_accuracy_and_the_five_largest_confusions():
    y_true, y_pred = confusions()
    with i18n.using("zh_CN"):
        fig = plots.plot_confusion_matrix(y_true, y_pred)
        zh = plots.text_alternative(fig)
    assert fig.axes[0].get_title() == "混淆矩阵（测试集）" and fig.axes[0].get_xlabel() == "预测数字"
    assert zh.splitlines()[2:] == ["总体精度：96.70%（1,000 个中预测对了 967 个）。", "最常见的混淆：",
                                   "7 被认成 2：9 次", "4 被认成 9：7 次", "3 被认成 5：6 次", "9 被认成 4：5 次",
                                   "2 被认成 7：4 次"]
    en = plots.text_alternative(plots.plot_confusion_matrix(y_true, y_pred))
    assert "Overall accuracy: 96.70% (967 of 1,000 right)." in en
    assert "7 taken for 2: 9 times" in en and "2 taken for 7: 4 times" in en and "8 taken for 3" not in en
    one = plots.text_alternative(plots.plot_confusion_matrix([1, 2], [1, 3]))
    plt.close("all")
    assert one.endswith("2 taken for 3: 1 time")


def test_the_gallery_of_mistakes_gives_the_count_and_the_first_pairs(digits, capsys):
    images, labels = digits
    predicted = labels.copy()
    predicted[[2, 5, 30]] = [9, 7, 1]
    with i18n.using("zh_CN"):
        zh = plots.text_alternative(plots.show_misclassified(images, labels, predicted, n=2))
        assert plots.show_misclassified(images, labels, labels) is None
    plt.close("all")
    assert zh.splitlines() == ["图：共有 3 个测试数字被分错，这里显示前 2 个，并标出真实数字和预测结果。",
                               "前几个依次是：4 被认成 9；2 被认成 7。"]
    assert capsys.readouterr().out.strip() == "没有分错的数字。"


def test_describe_figure_gives_each_line_epoch_by_epoch():
    history = checks.example_history(epochs=3, seed=1).history
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2)
    ax_loss.plot([1, 2, 3], history["loss"], label="训练")
    ax_loss.plot([1, 2, 3], history["val_loss"], label="验证")
    ax_loss.set(title="损失", xlabel="轮次", ylabel="损失")
    ax_acc.plot([1, 2, 3], history["accuracy"])
    with i18n.using("zh_CN"):
        zh = plots.describe_figure(fig).splitlines()
    en = plots.describe_figure(fig).splitlines()
    plt.close(fig)
    first = "；".join(f"轮次 {e}：{v:.4g}" for e, v in zip([1, 2, 3], history["loss"]))
    assert zh[:3] == ["图：2 个带曲线的子图。", "子图 1：损失。x 轴：轮次；y 轴：损失。", f"训练：{first}"]
    assert zh[4] == "子图 2：无标题。x 轴：无标签；y 轴：无标签。"
    assert zh[5].startswith(f"曲线 1：1：{history['accuracy'][0]:.4g}；2：")
    assert en[0] == "Figure: 2 panels with lines." and en[4] == "Panel 2: untitled. x axis: no label; y axis: no label."


def test_in_a_notebook_the_text_comes_right_under_the_figure_shown_once(digits, monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(plots, "_in_kernel", lambda: True)
    monkeypatch.setattr(IPython.display, "display", lambda obj, raw=False: shown.append(obj))
    images, labels = digits
    with i18n.using("zh_CN"):
        fig = plots.show_digits(images, labels, n=8)
    assert shown[0] is fig and not plt.fignum_exists(fig.number), "shown, then closed: not shown again"
    assert shown[1]["text/plain"] == plots.text_alternative(fig)
    assert "<p>第 1 行：5 0 4 1 9 2 1 3</p>" in shown[1]["text/html"]


@pytest.mark.slow
def test_in_the_chinese_kernel_the_grid_is_shown_once_with_its_chinese_text_under_it():
    """The notebook's own call, run by the course's zh_CN kernel (the inline backend, as in JupyterLab)."""
    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
    from nbclient import NotebookClient

    from mnistcnn.constants import LANGUAGE_KERNELS

    kernel = LANGUAGE_KERNELS["zh_CN"][0]
    try:
        KernelSpecManager().get_kernel_spec(kernel)
    except NoSuchKernel:
        pytest.skip(f"the kernel {kernel} is not installed (make setup installs it)")
    source = ("import numpy as np\nfrom mnistcnn import plots\n"
              "plots.show_digits(np.zeros((10, 28, 28), np.uint8), np.arange(10), n=10);")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    NotebookClient(nb, kernel_name=kernel, timeout=300).execute()
    outputs = nb.cells[0].outputs
    assert [o.output_type for o in outputs] == ["display_data", "display_data"], outputs
    assert "image/png" in outputs[0].data
    assert outputs[1].data["text/plain"].splitlines()[2:] == ["第 1 行：0 1 2 3 4 5 6 7", "第 2 行：8 9"]


def test_the_text_survives_the_feedback_html(digits):
    """nbgrader's feedback is nbconvert's HTML of the graded notebook: the text is in it."""
    import nbformat
    from nbconvert import HTMLExporter

    images, labels = digits
    with i18n.using("zh_CN"):
        text = plots.text_alternative(plots.show_digits(images, labels, n=8))
    plt.close("all")
    output = nbformat.v4.new_output("display_data", data=plots._bundle(text))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("plots.show_digits(...);", outputs=[output])])
    body, _ = HTMLExporter().from_notebook_node(nb)
    assert "第 1 行：5 0 4 1 9 2 1 3" in body


def test_a_chinese_figure_draws_without_a_missing_glyph():
    y_true, y_pred = confusions()
    with i18n.using("zh_CN"), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plots.plot_confusion_matrix(y_true, y_pred).canvas.draw()
    plt.close("all")
    assert not [w for w in caught if "missing from" in str(w.message)], [str(w.message) for w in caught]


# --------------------------------------------------------------------------- the hand-in and its notes


def test_the_screening_notes_are_chinese():
    with i18n.using("zh_CN"):
        empty = screening.screen_file(b"", "01_data.ipynb", {}).notes[0]
        old = screening.screen_file(b'{"nbformat": 3, "worksheets": []}', "01_data.ipynb", {}).notes[0]
    assert empty == "01_data.ipynb 是空文件（0 字节）：将按未提交计分"
    assert old.startswith("01_data.ipynb 的笔记本格式是版本 3，而不是 4") and english_runs(old) == []


def test_the_hand_in_speaks_the_chosen_language(capsys):
    try:
        assert handin.main(["--student", "Jane Doe", "--language", "zh_CN"]) == 2
    finally:
        i18n.set_language(None)
    err = capsys.readouterr().err
    assert err.startswith("handin：'Jane Doe' 不是评分程序能原样使用的学号") and english_runs(err) == []
    assert handin.main(["--student", "Jane Doe"]) == 2
    assert "is not a student id the grader keeps as it is" in capsys.readouterr().err


def test_the_hand_in_report_and_its_end_are_chinese(tmp_path, capsys):
    with i18n.using("zh_CN"):
        missing = handin.check_notebook(tmp_path / "convnet" / "02_convnet.ipynb",
                                        tmp_path / "originals" / "convnet" / "02_convnet.ipynb")
        checked = [handin.Checked("01_data.ipynb", data=b"{}", notes=["01_data.ipynb：……"]), missing]
        handin.report(checked)
        assert handin.finish(checked, "ada", tmp_path, skip_refused=False) == 1
        assert handin.finish(checked, "ada", tmp_path, skip_refused=True) == 0
    out = capsys.readouterr().out
    assert "  可提交   01_data.ipynb\n           注意：01_data.ipynb：……" in out
    assert "  未通过   在 " in out and "中找不到 02_convnet.ipynb（被删除或改名了？）；将按未提交计分" in out
    assert "也可以加上 --skip-refused" in out and "已生成 " in out and "（共 2 个笔记本，收入 1 个）" in out
    assert english_runs(out) == [], out


# --------------------------------------------------------------------------- the catalog itself


#: Words the course does not use, with the glossary's word for the same thing.
NOT_THE_GLOSSARY = {"准确率": "精度", "准确度": "精度", "周期": "轮次", "滤波器": "过滤器", "批次": "批量",
                    "纪元": "轮次", "笔记簿": "笔记本", "单元 ": "单元格"}


def test_every_chinese_message_is_chinese_and_follows_the_glossary():
    problems = []
    for m in catalogs.read("zh_CN", "course"):
        strings = [m.string] if isinstance(m.string, str) else list(m.string or [])
        for text in filter(None, strings):
            if english_runs(text):
                problems.append(f"{m.id!r}: English left {english_runs(text)}")
            problems += [f"{m.id!r}: {bad} (the glossary says {good})" for bad, good in NOT_THE_GLOSSARY.items()
                         if bad in text]
            if re.search(r"[\u4e00-\u9fff][,;:?!]|[,;:?!][\u4e00-\u9fff]", text):
                problems.append(f"{m.id!r}: half-width punctuation in a Chinese sentence: {text}")
    assert problems == [], "\n".join(problems)


def test_the_course_catalog_is_complete():
    assert catalogs.problems("zh_CN", "course") == []


@pytest.mark.slow
def test_the_wrong_answer_corpus_fails_in_chinese_without_english(mnist):
    """Every wrong answer of tests/test_answers.py that the notebook's visible test catches, through its
    notebook's real test cell, in zh_CN (the others only the grader's hidden part catches)."""
    import test_answers as answers

    standins = answers.standins.__wrapped__(mnist)
    problems = []
    for name, (exercise, source, _must_say) in sorted(answers.WRONG.items()):
        if name in answers.HIDDEN_ONLY:
            continue
        with i18n.using("zh_CN"):
            kernel = answers.kernel_run(standins, exercise, source)
        if kernel is None or any(label not in kernel for label in LABELS_ZH) or english_runs(kernel):
            problems.append(f"{name}: {english_runs(kernel or '')}\n{kernel}")
    assert problems == [], "\n\n".join(problems)


def test_compile_model_reference_passes_in_chinese(capsys):
    """A right answer passes in Chinese too, and says so in Chinese."""
    with i18n.using("zh_CN"):
        checks.judge_compile_settings(checks.compile_settings(compile_model(build_model(), 54_000)), 54_000)
    assert capsys.readouterr().out.startswith("✓ 编译后的模型：RMSprop 配合课程的学习率衰减计划")
