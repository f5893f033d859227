"""Test accuracy measured where the student's code cannot reach it.

:func:`test_accuracy` saves the model, then a fresh Python process (``python -I``: no current
folder on the path, no PYTHON* variables) loads it with ``safe_mode=True`` (no arbitrary code),
loads the MNIST test set anew and computes the accuracy from the model's predictions. A number the
student printed or returned, or a patched ``model.evaluate`` in the notebook, plays no part.

    python -m mnistcnn.grading model.keras    # prints {"accuracy": ..., "n": 10000}
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

from mnistcnn import TF_ENV, i18n
from mnistcnn.i18n import _

_PASS_ENV = ("HOME", "PATH", "LANG", "LC_ALL", "KERAS_HOME", "MNIST_PATH", "MNIST_CACHE_DIR",
             "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "TMPDIR", "OMP_NUM_THREADS",
             "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


class EvaluationError(RuntimeError):
    """The saved model could not be evaluated; the message says why."""


RECORD_ENV = "MNISTCNN_RECORD_DIR"


def recording() -> bool:
    """True when a class is being graded: the grader set ``$MNISTCNN_RECORD_DIR`` for this kernel."""
    return bool(os.environ.get(RECORD_ENV))


def record(kind: str, obj) -> bool:
    """When a class is graded, hand the grader the training history for the class report's curves.

    The grader sets ``$MNISTCNN_RECORD_DIR`` for the notebook's kernel; elsewhere (a student's own
    JupyterLab, ``nbgrader validate``) this does nothing. Quiet: no output, no exception; returns
    whether something was recorded. (What decides a grade is handed over as evidence instead:
    :mod:`mnistcnn.evidence`.)
    """
    folder = os.environ.get(RECORD_ENV)
    if not folder or obj is None or kind != "history":
        return False
    try:
        import keras

        if isinstance(obj, keras.callbacks.History):  # the real one, not a made-up test history
            data = {k: [float(v) for v in vals] for k, vals in obj.history.items()}
            with open(os.path.join(folder, "history.json"), "w") as f:
                json.dump(data, f)
            return True
    except Exception:  # noqa: BLE001 - a recording problem must never cost the student points
        pass
    return False


def evaluate_file(path: str) -> dict:
    """Load a saved model safely and measure its accuracy on freshly loaded MNIST test data."""
    from mnistcnn import quiet_tensorflow

    quiet_tensorflow()
    import keras

    from mnistcnn.data import load_mnist

    model = keras.models.load_model(path, safe_mode=True, compile=False)
    return measure(model, load_mnist())


def measure(model, mnist) -> dict:
    """Accuracy of ``model`` on the test images of ``mnist`` (as :func:`mnistcnn.data.load_mnist`
    returns it) and on its first 10,000 training images."""
    import numpy as np

    (x_train, y_train), (x_test, y_test) = mnist

    def predict(images):
        x = images.reshape((len(images), 28, 28, 1)).astype("float32") / 255
        probs = np.asarray(model.predict(x, batch_size=500, verbose=0))
        if probs.shape != (len(images), 10):
            raise EvaluationError(_("the model's predictions have shape {shape}, expected {want}").format(
                shape=probs.shape, want=(len(images), 10)))
        return probs.argmax(axis=1)

    predicted = predict(x_test)
    # Also the first 10,000 training images: a model trained on them scores at least as well there
    # as on the test set; one trained on the test set does not (see TRAINED_ON_TEST_MARGIN).
    train_acc = float((predict(x_train[:10000]) == y_train[:10000]).mean())
    return {"accuracy": float((predicted == y_test).mean()), "n": int(len(y_test)),
            "errors": int((predicted != y_test).sum()), "train_accuracy": train_acc}


# A model whose accuracy on training images is this much lower than on the test images was
# trained on the test set (a model trained as the course asks is 0.2-0.8 points better on images
# it was trained on; one trained on the 10,000 test images is about 2 points worse on the others).
TRAINED_ON_TEST_MARGIN = 0.005


def measure_in_clean_process(path: str, timeout: float = 900, env: dict | None = None, preexec_fn=None,
                             prefix: list[str] | None = None) -> dict:
    """:func:`evaluate_file` of the model saved at ``path``, run by ``python -I -m mnistcnn.grading``.

    ``env`` defaults to this process's relevant variables plus the course's TensorFlow settings;
    ``prefix`` is put before the command (the grader's sandbox).
    """
    if env is None:
        env = {k: os.environ[k] for k in _PASS_ENV if k in os.environ}
        env.update(TF_ENV)
        env[i18n.ENV] = i18n.language()  # its messages in the language of this process
    cmd = [*(prefix or []), sys.executable, "-I", "-m", "mnistcnn.grading", str(path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                          cwd=os.path.dirname(str(path)) or ".", preexec_fn=preexec_fn)
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        raise EvaluationError(_("evaluating the saved model failed: {error}").format(
            error=lines[-1] if lines else _("no message")))
    return json.loads(proc.stdout.strip().splitlines()[-1])


def evaluate_in_clean_process(path: str, timeout: float = 900, env: dict | None = None, preexec_fn=None) -> float:
    """Test accuracy of the model saved at ``path`` (:func:`measure_in_clean_process`)."""
    return float(measure_in_clean_process(path, timeout, env, preexec_fn)["accuracy"])


def test_accuracy(model, timeout: float = 900) -> float:
    """The model's accuracy on the MNIST test set, computed in a separate clean process."""
    with tempfile.TemporaryDirectory(prefix="mnistcnn-eval-") as tmp:
        path = os.path.join(tmp, "model.keras")
        try:
            model.save(path)
        except Exception as exc:
            raise EvaluationError(_("the model could not be saved ({error}); build it with keras.Sequential "
                                    "as in the lesson").format(error=f"{type(exc).__name__}: {exc}")) from None
        return evaluate_in_clean_process(path, timeout)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m mnistcnn.grading MODEL.keras", file=sys.stderr)
        return 2
    print(json.dumps(evaluate_file(argv[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
