"""The grader's judging of evidence, without a kernel: each kind of evidence, right, wrong, forged,
malformed and oversized, and the collection step that moves it out of the kernel's reach.

The evidence is written by the course's own checks (as in a graded notebook, with
``$MNISTCNN_RECORD_DIR`` set), collected by the real collection step of the grader's execution
preprocessor, and judged by :mod:`autograder.grading.judge` with the grader's own inputs.
"""

from __future__ import annotations

import json
import os

import keras
import matplotlib
import nbformat
import numpy as np
import pytest
from keras import layers
from nbgrader.utils import is_grade

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from fixtures.judging import Grader  # noqa: E402
from fixtures.reference import build_model, compile_model  # noqa: E402

from autograder.grading import judge, references  # noqa: E402
from mnistcnn import checks, evidence  # noqa: E402
from mnistcnn.constants import ACCURACY_THRESHOLD, ASSIGNMENT
from mnistcnn.screening import grade_id  # noqa: E402


@pytest.fixture
def nb1(tmp_path, monkeypatch):
    return Grader(tmp_path, monkeypatch, "01_data")


@pytest.fixture
def nb2(tmp_path, monkeypatch):
    return Grader(tmp_path, monkeypatch, "02_convnet")


@pytest.fixture
def nb3(tmp_path, monkeypatch):
    return Grader(tmp_path, monkeypatch, "03_training")


def preprocess(images):
    return images.reshape((len(images), 28, 28, 1)).astype("float32") / 255


def encode(labels):
    return keras.utils.to_categorical(labels, 10).astype("float32")


def run_preprocess_test(fn, mnist):
    (train, _), (test, _) = mnist
    noise = np.random.default_rng(501).integers(0, 256, size=(37, 28, 28), dtype=np.uint8)
    for images in (train[:500], noise, test[-3:]):
        checks.check_images(fn(images), images)


# ----------------------------------------------------------------------------- notebook 1: arrays


def test_right_images_pass_and_wrong_ones_fail_with_the_checks_message(nb1, mnist):
    assert nb1.cell("test_preprocess_images", lambda: run_preprocess_test(preprocess, mnist)).passed
    v = nb1.cell("test_preprocess_images", lambda: run_preprocess_test(lambda im: preprocess(im) * 255, mnist))
    assert not v.passed and "divide by 255" in v.message and not v.problem


def test_a_patched_check_hands_over_nothing_and_gets_nothing(nb1, mnist, monkeypatch):
    monkeypatch.setattr(checks, "check_images", lambda x, images: None)  # the classic tamper
    v = nb1.cell("test_preprocess_images", lambda: run_preprocess_test(lambda im: None, mnist))
    assert not v.passed and v.missing and "did not all run as released" in v.message


def test_evidence_for_other_inputs_is_refused(nb1, mnist):
    """Right outputs for inputs the student chose (all zeros) are not the test's."""
    zeros = np.zeros((500, 28, 28), np.uint8)

    def forged():
        for _ in range(3):
            checks.check_images(preprocess(zeros), zeros)

    v = nb1.cell("test_preprocess_images", forged)
    assert not v.passed and "other inputs" in v.message


def test_the_whole_data_set_is_judged_from_a_sketch(nb1, mnist):
    (train, train_labels), (test, test_labels) = mnist

    def whole(fn):
        def run():
            checks.check_images(fn(train), train)
            checks.check_images(fn(test), test)
            checks.check_labels(encode(train_labels), train_labels)
            checks.check_labels(encode(test_labels), test_labels)
        return run

    assert nb1.cell("test_prepared_data", whole(preprocess)).passed, "right answer refused"
    sizes = [p.stat().st_size for p in nb1.evidence.rglob("*.npy")]
    assert sizes and max(sizes) < 8 * 2**20, "the 60,000 images were handed over whole, not sketched"
    v = nb1.cell("test_prepared_data", whole(lambda im: im.reshape((len(im), 28, 28, 1)).astype("float32") / 256))
    assert not v.passed and "image" in v.message, v.message


def test_labels_judged_and_a_list_is_not_an_array(nb1, mnist):
    (_, train_labels), _ = mnist
    labels = np.random.default_rng(502).integers(0, 10, size=41)
    few = np.array([0, 1, 2])

    def run(fn):
        return lambda: [checks.check_labels(fn(x), x) for x in (train_labels[:500], labels, few)]

    assert nb1.cell("test_encode_labels", run(encode)).passed
    v = nb1.cell("test_encode_labels", run(lambda y: keras.utils.to_categorical(y)))
    assert not v.passed and "10" in v.message  # [0, 1, 2] gives 3 columns


# ----------------------------------------------------------------------------- notebook 2: tables and models


def conv_output_size(size, kernel, stride=1, padding="valid"):
    return -(-size // stride) if padding == "same" else (size - kernel) // stride + 1


#: The visible test's configurations and the sizes its cell states.
VISIBLE_SIZES = dict(zip(judge.OUTPUT_SIZE_VISIBLE, (26, 13, 6, 28, 14)))


def run_output_size(fn):
    def run():
        checks.check_output_size_function(fn, cases=VISIBLE_SIZES)
        checks.check_output_size_function(fn, cases=references.conv_configs())
    return run


def test_function_tables(nb2):
    assert nb2.cell("test_conv_output_size", run_output_size(conv_output_size)).passed
    v = nb2.cell("test_conv_output_size", run_output_size(lambda s, k, stride=1, padding="valid": s - k + 1))
    assert not v.passed and "stride" in v.message
    v = nb2.cell("test_conv_output_size", run_output_size(lambda *a, **k: 1 / 0))
    assert not v.passed and "ZeroDivisionError" in v.message


def test_a_table_for_fewer_inputs_than_the_test_is_refused(nb2):
    """Only the visible configurations handed over: the hidden ones are missing."""
    v = nb2.cell("test_conv_output_size", lambda: checks.check_output_size_function(
        conv_output_size, cases=VISIBLE_SIZES))
    assert not v.passed and v.missing


def base():
    return keras.Sequential([keras.Input((28, 28, 1)), layers.Conv2D(32, 3, activation="relu"),
                             layers.MaxPooling2D(2), layers.Conv2D(64, 3, activation="relu"),
                             layers.MaxPooling2D(2), layers.Conv2D(64, 3, activation="relu")])


def test_models_are_rebuilt_from_their_files(nb2):
    def run(builder):
        return lambda: (checks.check_conv_base(builder), checks.check_new_model_each_call(builder))

    assert nb2.cell("test_build_conv_base", run(base)).passed
    same = base()
    v = nb2.cell("test_build_conv_base", run(lambda: same))
    assert not v.passed and "same model object" in v.message
    padded = lambda: keras.Sequential([keras.Input((28, 28, 1)), layers.Conv2D(32, 3, padding="same")])  # noqa: E731
    v = nb2.cell("test_build_conv_base", run(padded))
    assert not v.passed and "padding" in v.message


def test_a_lambda_layer_is_not_run_by_the_grader(nb2):
    """A model whose file would run code when loaded: Keras's safe mode refuses it, the cell fails."""
    def sneaky():
        return keras.Sequential([keras.Input((28, 28, 1)), layers.Lambda(lambda x: x * 1.0),
                                 *base().layers])

    v = nb2.cell("test_build_conv_base", lambda: checks.check_conv_base(sneaky))
    assert not v.passed


def test_summary_answers_and_objects_that_equal_anything(nb2):
    shapes = [(26, 26, 32), (13, 13, 32), (11, 11, 64), (5, 5, 64), (3, 3, 64)]
    params = [320, 0, 18496, 0, 36928]
    assert nb2.cell("test_read_summary", lambda: checks.check_summary_answers(shapes, params, base)).passed

    class Anything:
        def __eq__(self, other):
            return True

    v = nb2.cell("test_read_summary", lambda: checks.check_summary_answers([Anything()] * 5, [Anything()] * 5, base))
    assert not v.passed and "tuple of integers" in v.message


def test_probabilities_are_computed_by_the_grader(nb2, mnist):
    (train, _), _ = mnist
    batch = preprocess(train[:8])

    def run(builder):
        def cell():
            checks.check_probabilities(checks.build(builder).predict(batch, verbose=0), 8)
            x = np.random.default_rng(503).random((5, 28, 28, 1), dtype=np.float32)
            checks.check_probabilities(checks.build(builder).predict(x, verbose=0), 5)
        return cell

    assert nb2.cell("test_probabilities", run(build_model)).passed
    logits = lambda: keras.Sequential([*build_model().layers[:-1], layers.Dense(10)])  # noqa: E731
    v = nb2.cell("test_probabilities", run(logits))
    assert not v.passed and "softmax" in v.message


# ----------------------------------------------------------------------------- notebook 3: settings, figures


def compiled_with_adam(model, n_samples=None):
    """Compiled as notebook 3 asks but with Adam, not RMSprop and the course's schedule."""
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def run_compile(compile_fn):
    """The test cell: compiled for the notebook's 60,000 images, then for the hidden test's number."""
    def cell():
        checks.check_compiled(compile_fn(build_model(), 60000), n_samples=60000)
        checks.check_compiled(compile_fn(build_model(), judge.COMPILE_HIDDEN_N), n_samples=judge.COMPILE_HIDDEN_N)
    return cell


def test_compiled_settings(nb3):
    assert nb3.cell("test_compile_model", run_compile(compile_model)).passed
    v = nb3.cell("test_compile_model", run_compile(compiled_with_adam))
    assert not v.passed and "RMSprop" in v.message
    v = nb3.cell("test_compile_model", run_compile(lambda m, n: None))
    assert not v.passed and "None" in v.message


def test_a_schedule_for_a_fixed_number_of_images_fails_on_the_hidden_number(nb3):
    """Right for the notebook's 60,000 images, wrong for any other n_samples: only the grader's
    hidden number tells."""
    v = nb3.cell("test_compile_model", run_compile(lambda m, n: compile_model(m, 60000)))
    assert not v.passed and "60,000 images whatever n_samples is" in v.message


def test_settings_are_read_from_the_compiled_model_not_from_the_record(nb3):
    """A record written by hand, claiming the right settings: without the compiled model's own file
    nothing passes, and with a file the file decides."""
    right = {"compiled": True, "optimizer": "RMSprop", "learning_rate": {"schedule": "CosineDecay", "config": {}},
             "loss": "categorical_crossentropy", "metrics": ["accuracy"]}
    v = nb3.cell("test_compile_model", lambda: evidence.save("compiled", settings=right, n_samples=60000))
    assert not v.passed and "file did not reach the grader" in v.message
    adam = compiled_with_adam(build_model())
    v = nb3.cell("test_compile_model", lambda: evidence.save("compiled", settings=right, model=adam, n_samples=60000))
    assert not v.passed and "RMSprop" in v.message


def test_a_forged_flag_does_not_make_one_model_two(nb2):
    """The record 'two distinct models' written by hand, with one model handed over twice."""
    def forged():
        checks.check_conv_base(base)
        same = base()
        checks.build(same)
        checks.build(same)
        evidence.save("distinct", distinct=True)
    v = nb2.cell("test_build_conv_base", forged)
    assert not v.passed and "identical weights" in v.message


def plot_history(history, swap=False, start=1):
    h = history.history
    epochs = range(start, len(h["loss"]) + start)
    fig, axes = plt.subplots(1, 2)
    for ax, metric in zip(axes, ("loss", "accuracy")):
        train, val = h[metric], h[f"val_{metric}"]
        ax.plot(epochs, val if swap else train, label=f"training {metric}")
        ax.plot(epochs, train if swap else val, label=f"validation {metric}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.legend()
    return fig


def run_plot(**kw):
    def cell():
        for h in (checks.example_history(), checks.example_history(epochs=7, seed=504),
                  checks.example_history(epochs=5, seed=9)):
            checks.check_history_plot(plot_history(h, **kw), h)
        plt.close("all")
    return cell


def test_figures_judged_from_their_data(nb3):
    assert nb3.cell("test_plot_history", run_plot()).passed
    v = nb3.cell("test_plot_history", lambda: [checks.check_history_plot(None, checks.example_history())
                                               for _ in range(3)])
    assert not v.passed and "None" in v.message


def test_a_figure_for_another_history_does_not_pass(nb3):
    """The first two figures must show the grader's own made-up histories, not the student's."""
    def forged():
        for _ in range(3):
            h = checks.example_history(epochs=3, seed=1)
            checks.check_history_plot(plot_history(h), h)
    v = nb3.cell("test_plot_history", forged)
    assert not v.passed and "history.history" in v.message


def test_error_reduction_cases(nb3):
    rng = np.random.default_rng(505)
    hidden = [(float(c), float(d)) for c, d in zip(rng.uniform(0.95, 0.999, 8), rng.uniform(0.80, 0.949, 8))]

    def run(fn):
        return lambda: (checks.check_error_reduction(fn, cases={(0.993, 0.978): 0.6818182}),
                        checks.check_error_reduction(fn, cases=hidden))

    assert nb3.cell("test_error_reduction", run(lambda c, d: ((1 - d) - (1 - c)) / (1 - d))).passed
    v = nb3.cell("test_error_reduction", run(lambda c, d: c - d))
    assert not v.passed and "difference in accuracy" in v.message


def test_untrained_model_measured_below_the_threshold(nb3, monkeypatch):
    monkeypatch.setenv(evidence.RECORD_ENV, str(nb3.record))
    v = nb3.cell("test_accuracy_99", lambda: checks.check_test_accuracy(build_model()))
    assert not v.passed and v.details["accuracy"] < 0.5 and not v.problem


# ----------------------------------------------------------------------------- malformed, oversized, misplaced


def write_record(grader: Grader, name: str, data, extra: dict | None = None) -> None:
    folder = grader.record / "evidence"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(data if isinstance(data, str) else json.dumps(data))
    for fname, content in (extra or {}).items():
        (folder / fname).write_bytes(content)


def test_malformed_json_fails_the_cell_only(nb1, mnist):
    v = nb1.cell("test_encode_labels", lambda: write_record(nb1, "0000-labels.json", "{not json"))
    assert not v.passed and v.problem and not v.missing and "not valid JSON" in v.message


def test_an_array_file_claiming_a_huge_shape_is_not_read(nb1, mnist):
    (_, labels), _ = mnist
    header = {"descr": "<f8", "fortran_order": False, "shape": (10**9, 10)}
    import io

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    record = {"kind": "labels", "seq": 0, "fields": {"input": evidence.fingerprint(labels[:500]),
                                                     "output": {"array": {"values": {"$npy": "0000-labels-x.npy"}}}}}
    v = nb1.cell("test_encode_labels", lambda: write_record(
        nb1, "0000-labels.json", record, {"0000-labels-x.npy": np.lib.format.magic(1, 0) + buf.getvalue()[8:]}))
    assert not v.passed and v.problem and "larger than" in v.message, v.message


def test_pickled_objects_are_never_loaded(nb1, mnist):
    (_, labels), _ = mnist
    import io

    buf = io.BytesIO()
    np.save(buf, np.array([object()] * 3, dtype=object), allow_pickle=True)
    record = {"kind": "labels", "seq": 0, "fields": {"input": evidence.fingerprint(labels[:500]),
                                                     "output": {"array": {"values": {"$npy": "0000-labels-x.npy"}}}}}
    v = nb1.cell("test_encode_labels", lambda: write_record(nb1, "0000-labels.json", record,
                                                           {"0000-labels-x.npy": buf.getvalue()}))
    assert not v.passed and "not numbers" in v.message


def test_references_outside_the_cell_are_refused(nb1, mnist):
    (_, labels), _ = mnist
    record = {"kind": "labels", "seq": 0, "fields": {"input": evidence.fingerprint(labels[:500]),
                                                     "output": {"array": {"values": {"$npy": "../../etc/passwd"}}}}}
    v = nb1.cell("test_encode_labels", lambda: write_record(nb1, "0000-labels.json", record))
    assert not v.passed and "not a file of this cell" in v.message


def test_collection_moves_plain_files_only_and_limits_them(nb1, tmp_path):
    folder = nb1.record / "evidence"
    folder.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("the instructor's")
    os.symlink(secret, folder / "0000-images.json")
    nb1.collect("test_preprocess_images")
    cell = nb1.evidence / "01_data" / "test_preprocess_images"
    assert not (cell / "0000-images.json").exists() and secret.read_text() == "the instructor's"
    assert "not a plain file" in (cell / judge.PROBLEMS_FILE).read_text()
    for i in range(nb1.execute.max_evidence_files + 5):
        (folder / f"{i:04d}-labels.json").write_text("{}")
    nb1.collect("test_encode_labels")
    assert "more than" in (nb1.evidence / "01_data" / "test_encode_labels" / judge.PROBLEMS_FILE).read_text()
    assert not list(folder.iterdir())


def test_evidence_written_outside_a_test_cell_is_dropped(nb1, mnist):
    """Written by an answer cell ahead of time: not attributed to any test."""
    (train, _), _ = mnist
    checks.check_images(preprocess(train[:500]), train[:500])
    nb1.collect(None)  # an answer cell
    v = nb1.cell("test_preprocess_images", lambda: None)
    assert not v.passed and v.missing


def test_a_symlinked_evidence_folder_is_not_followed(nb1, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "0000-images.json").write_text("{}")
    os.symlink(outside, nb1.record / "evidence")
    nb1.collect("test_preprocess_images")
    assert (outside / "0000-images.json").exists()
    assert not (nb1.evidence / "01_data" / "test_preprocess_images" / "0000-images.json").exists()


def test_every_graded_cell_of_the_course_has_a_judge(root):
    from autograder.grading.verdicts import GRADED_CELLS

    graded = set()
    for path in sorted((root / "solutions" / ASSIGNMENT).glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if is_grade(cell):
                graded.add((path.stem, grade_id(cell)))
    assert graded == {*judge.JUDGES, judge.ACCURACY_CELL} == set(GRADED_CELLS)


# ----------------------------------------------------------------------------- the driver of the judging process

FAKE_JUDGE = r"""
import json, os, sys, time
cells = sys.argv[sys.argv.index("--cells") + 1].split(",")
for item in cells:
    nb, _, cell = item.partition(":")
    print(json.dumps({"start": [nb, cell]}), flush=True)
    if cell == os.environ["DIE_ON"]:
        os._exit(9)
    if cell == os.environ["STALL_ON"]:
        time.sleep(60)
    print(json.dumps({"verdict": {"notebook": nb, "cell": cell, "passed": True, "message": "",
                                  "problem": False, "missing": False, "details": {}}}), flush=True)
"""


def test_a_cell_that_kills_or_stalls_the_judge_fails_alone(monkeypatch, tmp_path):
    """The judging process dies on one cell and stalls on another: those two fail with the reason,
    every other cell is judged by the processes started after them."""
    import sys

    from autograder.grading import verdicts

    script = tmp_path / "fake_judge.py"
    script.write_text(FAKE_JUDGE)
    monkeypatch.setattr(verdicts, "judge_command", lambda evidence, cells, threshold: [
        sys.executable, str(script), "--cells", ",".join(f"{nb}:{c}" for nb, c in cells)])
    env = {**os.environ, "DIE_ON": "test_encode_labels", "STALL_ON": "test_build_conv_base"}
    out = verdicts.run_judge(str(tmp_path), ["01_data", "02_convnet"], ACCURACY_THRESHOLD, env=env, cwd=str(tmp_path),
                             cell_timeout=3)
    by_cell = {v["cell"]: v for v in out}
    assert len(out) == 9
    assert not by_cell["test_encode_labels"]["passed"] and "exit status 9" in by_cell["test_encode_labels"]["message"]
    assert not by_cell["test_build_conv_base"]["passed"] and "longer than 3 s" in by_cell["test_build_conv_base"][
        "message"]
    failed = sorted(v["cell"] for v in out if not v["passed"])
    assert failed == ["test_build_conv_base", "test_encode_labels"], failed


FAKE_READY_JUDGE = r"""
import json, sys
waited = "--wait" in sys.argv
if waited and sys.stdin.readline().strip() != "go":
    sys.exit(0)
for item in sys.argv[sys.argv.index("--cells") + 1].split(","):
    nb, _, cell = item.partition(":")
    print(json.dumps({"start": [nb, cell]}), flush=True)
    print(json.dumps({"verdict": {"notebook": nb, "cell": cell, "passed": True, "message": "", "problem": False,
                                  "missing": False, "details": {"waited": waited}}}), flush=True)
"""


def test_a_judge_started_ahead_judges_on_its_go_and_a_dead_one_is_replaced(monkeypatch, tmp_path):
    """The judging process started while the notebooks run judges nothing before its go; one that died
    waiting is replaced by a fresh process, and every cell is still judged."""
    import sys
    import time

    from autograder.grading import verdicts

    script = tmp_path / "fake_judge.py"
    script.write_text(FAKE_READY_JUDGE)
    monkeypatch.setattr(verdicts, "judge_command", lambda evidence, cells, threshold: [
        sys.executable, str(script), "--cells", ",".join(f"{nb}:{c}" for nb, c in cells)])
    kw = {"env": dict(os.environ), "cwd": str(tmp_path)}
    ready = verdicts.start_judge(str(tmp_path), ["01_data"], 0.99, **kw)
    time.sleep(1)
    assert ready.proc.poll() is None  # waiting for its go
    out = verdicts.run_judge(str(tmp_path), ["01_data"], 0.99, ready=ready, **kw)
    assert [v["details"]["waited"] for v in out] == [True] * 3 and all(v["passed"] for v in out)
    dead = verdicts.start_judge(str(tmp_path), ["01_data"], 0.99, **kw)
    dead.proc.kill()
    dead.proc.wait()
    out = verdicts.run_judge(str(tmp_path), ["01_data"], 0.99, ready=dead, **kw)
    assert [v["details"]["waited"] for v in out] == [False] * 3 and all(v["passed"] for v in out)


def test_each_notebook_is_judged_in_its_language(tmp_path, monkeypatch, capsys):
    """--languages: the checks run inside i18n.using(the notebook's language); English where none is named."""
    from mnistcnn import i18n

    seen = {}

    def fake_judge(root, notebook, cell, ref, threshold):
        seen[notebook] = i18n.language()
        return judge.Verdict(notebook, cell, True)

    monkeypatch.setattr(judge, "judge_cell", fake_judge)
    assert judge.main([str(tmp_path), "--cells", "01_data:test_encode_labels,02_convnet:test_conv_output_size",
                       "--languages", "01_data=zh_CN"]) == 0
    assert seen == {"01_data": "zh_CN", "02_convnet": "en"}
    assert i18n.language() == "en"
    assert capsys.readouterr().out.count('"verdict"') == 2
