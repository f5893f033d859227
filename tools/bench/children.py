"""The measured TensorFlow programs, each run alone in a fresh process by :mod:`tools.bench.child`
with the environment of the configuration it measures. Each takes its configuration (a dict) and
returns its measurements (a JSON-able dict)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import sys
import time
from types import SimpleNamespace

from tools.bench.common import ROOT

MATMUL_N = 2048


def start_tensorflow() -> SimpleNamespace:
    """TensorFlow imported with exactly the environment the benchmark set, then the course's modules
    and the reference solution; the import time and whether oneDNN is on."""
    t0 = time.perf_counter()
    sys.path.insert(0, str(ROOT / "tests" / "fixtures"))
    original = dict(os.environ)
    from mnistcnn import TF_ENV, _quiet_fd

    with _quiet_fd(2):
        import keras
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")
    from mnistcnn import recipe  # its quiet_tensorflow() fills in TF_ENV: put the environment back

    for key in TF_ENV:
        if key not in original:
            os.environ.pop(key, None)
    if os.environ.get("MNISTCNN_THREADS"):  # what quiet_tensorflow() does in a grading job's kernel
        tf.config.threading.set_intra_op_parallelism_threads(int(os.environ["MNISTCNN_THREADS"]))
        tf.config.threading.set_inter_op_parallelism_threads(1)
    import numpy as np
    import reference

    from mnistcnn.data import load_mnist

    return SimpleNamespace(tf=tf, keras=keras, np=np, recipe=recipe, ref=reference, load_mnist=load_mnist,
                           import_s=time.perf_counter() - t0, onednn=_onednn())


def _onednn() -> bool | None:
    try:
        from tensorflow.python.util import _pywrap_util_port

        return bool(_pywrap_util_port.IsMklEnabled())
    except Exception:  # a private module: absent in some builds
        return None


def _weights_hash(model, np) -> str:
    data = b"".join(np.ascontiguousarray(w).tobytes() for w in model.get_weights())
    return hashlib.sha256(data).hexdigest()[:16]


def _fit_data(t: SimpleNamespace, x, y, feed: str) -> dict:
    """``model.fit``'s data arguments for one way of feeding it."""
    tf, batch = t.tf, t.recipe.BATCH_SIZE
    if feed == "numpy":
        return {"x": x, "y": y, "batch_size": batch, "shuffle": True}
    if feed == "tensor":
        return {"x": tf.constant(x), "y": tf.constant(y), "batch_size": batch, "shuffle": True}
    ds = (tf.data.Dataset.from_tensor_slices((x, y)).cache()  # tf.data: cached, shuffled with a seed, prefetched
          .shuffle(len(x), seed=t.recipe.SEED).batch(batch).prefetch(tf.data.AUTOTUNE))
    return {"x": ds}


def train_steps(cfg: dict) -> dict:
    """Steady-state ms per training step inside ``model.fit``: ``steps`` steps timed after ``warmup``."""
    t = start_tensorflow()
    (x_train, y_train), _ = t.load_mnist(online=False)
    x, y = t.ref.preprocess(x_train, y_train)
    n_fit = len(x) - int(len(x) * t.recipe.VALIDATION_SPLIT)
    spe = cfg["spe"]
    steps = -(-(cfg["warmup"] + cfg["steps"]) // spe) * spe
    t.recipe.make_deterministic(t.recipe.SEED)
    model = t.ref.compile_model(t.ref.build_model(), len(x))
    model.steps_per_execution = spe
    marks = []
    timer = t.keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: marks.append((batch, time.perf_counter())))
    model.fit(**_fit_data(t, x[:n_fit], y[:n_fit], cfg["feed"]), epochs=1, steps_per_epoch=steps, verbose=0,
              callbacks=[timer])
    start = next(m for m in marks if m[0] >= cfg["warmup"] - 1)
    end = marks[-1]
    return {"ms_per_step": (end[1] - start[1]) / (end[0] - start[0]) * 1000, "steps_timed": end[0] - start[0],
            "steps": steps, "onednn": t.onednn, "import_s": t.import_s, "weights": _weights_hash(model, t.np)}


def whole_fit(cfg: dict) -> dict:
    """The whole training of notebook 3 (5 epochs, the last 10 % held out): the fit's time, the test
    accuracy and the weights."""
    t = start_tensorflow()
    if cfg["feed"] not in ("numpy", "tensor"):
        raise SystemExit(f"the whole fit is measured on NumPy arrays or tf.constant tensors, not {cfg['feed']!r}")
    (x_train, y_train), (x_test, y_test) = t.load_mnist(online=False)
    x, y = t.ref.preprocess(x_train, y_train)
    xt, _ = t.ref.preprocess(x_test, y_test)
    t.recipe.make_deterministic(t.recipe.SEED)
    model = t.ref.compile_model(t.ref.build_model(), len(x))
    model.steps_per_execution = cfg["spe"]
    start = time.perf_counter()
    if cfg["feed"] == "tensor":
        x, y = t.tf.constant(x), t.tf.constant(y)
    history = model.fit(x, y, epochs=t.recipe.EPOCHS, batch_size=t.recipe.BATCH_SIZE,
                        validation_split=t.recipe.VALIDATION_SPLIT, verbose=0)
    fit_s = time.perf_counter() - start
    accuracy = float((model.predict(xt, verbose=0).argmax(axis=1) == y_test).mean())
    return {"fit_s": fit_s, "accuracy": accuracy, "weights": _weights_hash(model, t.np),
            "val_accuracy": history.history["val_accuracy"], "onednn": t.onednn}


def _best_rate(fn, reps: int, flop: float) -> float:
    fn()
    best = 0.0
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        best = max(best, flop / (time.perf_counter() - start) / 1e9)
    return best


def matmul(cfg: dict) -> dict:
    """The fp32 matrix-multiply rate, best of ``reps``: TensorFlow's ``matmul`` (and NumPy's with ``numpy``)."""
    t = start_tensorflow()
    n, reps = cfg.get("n", MATMUL_N), cfg["reps"]
    a = t.np.random.default_rng(0).standard_normal((n, n), dtype=t.np.float32)
    b = t.np.random.default_rng(1).standard_normal((n, n), dtype=t.np.float32)
    out = {"n": n, "onednn": t.onednn}
    if cfg.get("numpy"):
        out["numpy_gflops"] = _best_rate(lambda: a @ b, reps, 2 * n ** 3)
    ta, tb = t.tf.constant(a), t.tf.constant(b)
    mm = t.tf.function(lambda u, v: t.tf.linalg.matmul(u, v))
    out["tf_gflops"] = _best_rate(lambda: mm(ta, tb).numpy(), reps, 2 * n ** 3)
    return out


def _timeit(tf, reps: int, fn, *args) -> float:
    """ms per call of ``fn`` after 10 warm-up calls."""
    for _ in range(10):
        out = fn(*args)
    tf.nest.map_structure(lambda v: v.numpy(), out)
    start = time.perf_counter()
    for _ in range(reps):
        out = fn(*args)
    tf.nest.map_structure(lambda v: v.numpy(), out)
    return (time.perf_counter() - start) / reps * 1000


def _layer_step(tf, layer, first: bool):
    """Forward and backward of one layer: the weights' gradients, and the input's but for the first layer."""
    def step(inp):
        with tf.GradientTape() as tape:
            if not first:
                tape.watch(inp)
            loss = tf.reduce_sum(layer(inp))
        return tape.gradient(loss, list(layer.trainable_weights) + ([] if first else [inp]))
    return tf.function(step)


def _forward_flops(keras, layer, shape_in, shape_out) -> int:
    if isinstance(layer, keras.layers.Conv2D):
        kh, kw = layer.kernel_size
        return 2 * shape_out[1] * shape_out[2] * kh * kw * shape_in[-1] * layer.filters
    if isinstance(layer, keras.layers.Dense):
        return 2 * shape_in[-1] * layer.units
    return 0


def profile(cfg: dict) -> dict:
    """Each layer's forward and backward at batch 64 alone, then a whole training step without ``model.fit``."""
    t = start_tensorflow()
    tf, reps = t.tf, cfg["reps"]
    t.recipe.make_deterministic(t.recipe.SEED)
    model = t.ref.build_model()
    (x_train, y_train), _ = t.load_mnist(online=False)
    xb, yb = (tf.constant(v) for v in t.ref.preprocess(x_train[:t.recipe.BATCH_SIZE], y_train[:t.recipe.BATCH_SIZE]))
    rows, h = [], xb
    for i, layer in enumerate(model.layers):
        ms = _timeit(tf, reps, _layer_step(tf, layer, i == 0), h)
        shape_in, h = tuple(h.shape[1:]), layer(h)
        rows.append({"layer": f"{type(layer).__name__} {shape_in} -> {tuple(h.shape[1:])}", "ms": ms,
                     "flops_fwd": int(_forward_flops(t.keras, layer, shape_in, h.shape))})
    t.ref.compile_model(model, 60_000)
    loss_fn = t.keras.losses.CategoricalCrossentropy()

    def forward_backward(xb, yb):
        with tf.GradientTape() as tape:
            loss = loss_fn(yb, model(xb, training=True))
        return loss, tape.gradient(loss, model.trainable_weights)

    def train_step(xb, yb):
        loss, grads = forward_backward(xb, yb)
        model.optimizer.apply(grads, model.trainable_weights)
        return loss

    return {"layers": rows, "train_step_ms": _timeit(tf, reps, tf.function(train_step), xb, yb),
            "fwd_bwd_ms": _timeit(tf, reps, tf.function(forward_backward), xb, yb), "onednn": t.onednn}


def _dense_network(t: SimpleNamespace, x_train, y_train, x_test, y_test) -> None:
    """Notebook 3's dense network: built, compiled, trained 5 epochs, evaluated."""
    layers = t.keras.layers
    dense = t.keras.Sequential([t.keras.Input(shape=(784,)), layers.Dense(512, activation="relu"),
                                layers.Dense(10, activation="softmax")])
    dense.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    dense.fit(x_train.reshape((len(x_train), 784)), y_train, epochs=5, batch_size=128, verbose=0)
    dense.evaluate(x_test.reshape((len(x_test), 784)), y_test, verbose=0)


def _course_data(t: SimpleNamespace):
    (train_images, train_labels), (test_images, test_labels) = t.load_mnist(online=False)
    return (*t.ref.preprocess(train_images, train_labels), *t.ref.preprocess(test_images, test_labels))


def bare(cfg: dict) -> dict:
    """What notebook 3 computes, in a plain Python process: the convnet's training as its training cell
    runs it, its evaluation and the dense network; the seconds of each part."""
    t = start_tensorflow()
    marks = {"imports": t.import_s}
    start = time.perf_counter()
    x_train, y_train, x_test, y_test = _course_data(t)
    marks["data"] = time.perf_counter() - start
    start = time.perf_counter()
    t.recipe.make_deterministic(t.recipe.SEED)
    model = t.ref.compile_model(t.ref.build_model(), len(x_train))
    model.steps_per_execution = t.recipe.STEPS_PER_EXECUTION  # as notebook 3's training cell
    model.fit(x_train, y_train, epochs=t.recipe.EPOCHS, batch_size=t.recipe.BATCH_SIZE,
              validation_split=t.recipe.VALIDATION_SPLIT, verbose=0)
    marks["convnet_fit"] = time.perf_counter() - start
    start = time.perf_counter()
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    model.predict(x_test, verbose=0)
    marks["evaluate"] = time.perf_counter() - start
    start = time.perf_counter()
    _dense_network(t, x_train, y_train, x_test, y_test)
    marks["dense"] = time.perf_counter() - start
    if cfg.get("save"):
        model.save(cfg["save"])
    return {"marks": marks, "accuracy": float(accuracy), "onednn": t.onednn}


def dense(cfg: dict) -> dict:
    """Notebook 3's dense network alone, in a plain Python process (the work of a blank submission)."""
    t = start_tensorflow()
    data = _course_data(t)
    start = time.perf_counter()
    _dense_network(t, *data)
    return {"dense": time.perf_counter() - start, "imports": t.import_s}


def _evidence_checks(t: SimpleNamespace, checks) -> None:
    """The checks a correct submission's graded tests run, on the reference answers."""
    (train_images, train_labels), (test_images, test_labels) = t.load_mnist(online=False)
    layers = t.keras.layers

    def base():
        return t.keras.Sequential([t.keras.Input((28, 28, 1)), layers.Conv2D(32, 3, activation="relu"),
                                   layers.MaxPooling2D(2), layers.Conv2D(64, 3, activation="relu"),
                                   layers.MaxPooling2D(2), layers.Conv2D(64, 3, activation="relu")])

    def output_size(s, k, stride=1, padding="valid"):
        return -(-s // stride) if padding == "same" else (s - k) // stride + 1

    for images in (train_images[:500], test_images[-3:], train_images, test_images):
        checks.check_images(t.ref.preprocess(images, train_labels[:len(images)])[0], images)
    for labels in (train_labels[:500], train_labels, test_labels):
        checks.check_labels(t.ref.preprocess(train_images[:1], labels)[1], labels)
    from autograder.grading import references

    checks.check_output_size_function(output_size, {c: references.keras_output_size(*c)
                                                     for c in references.conv_configs()})
    checks.check_conv_base(base)
    checks.check_new_model_each_call(base)
    checks.check_full_model(t.ref.build_model)
    checks.check_new_model_each_call(t.ref.build_model)
    for _ in range(2):
        checks.build(t.ref.build_model)
    checks.check_full_model(t.ref.build_model)


def evidence(cfg: dict) -> dict:
    """Seconds of the checks a correct submission's graded tests run, recording their evidence into
    ``record`` when it is given (as in a grading job) or not."""
    t = start_tensorflow()
    from mnistcnn import checks

    if cfg.get("record"):
        os.environ["MNISTCNN_RECORD_DIR"] = cfg["record"]
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        _evidence_checks(t, checks)
    return {"seconds": time.perf_counter() - start}


PROGRAMS = {"train_steps": train_steps, "whole_fit": whole_fit, "matmul": matmul, "profile": profile,
            "bare": bare, "dense": dense, "evidence": evidence}
