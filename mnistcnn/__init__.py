"""Shared code of the course *Convnets on MNIST*.

Importing this package prepares TensorFlow for a notebook: the course's CPU settings are applied
(unless already set) and TensorFlow's start-up messages, which its C++ core writes straight to the
process's stderr before any setting can silence them, are kept out of the notebook. nbgrader gives
zero points to a test cell that prints anything to stderr, and students should not be alarmed by
messages they cannot act on.
"""

from __future__ import annotations

import contextlib
import os
import sys

__version__ = "1.0.0"

#: Environment the course runs TensorFlow with (the kernel spec sets the same values).
TF_ENV = {
    # Hide TensorFlow's C++ INFO and WARNING logs once logging is initialised.
    "TF_CPP_MIN_LOG_LEVEL": "3",
    # oneDNN kernels: measured faster on these CPUs (see docs/benchmarks.md), still deterministic.
    "TF_ENABLE_ONEDNN_OPTS": "1",
    # Keras picks TensorFlow even where another backend is configured in ~/.keras/keras.json.
    "KERAS_BACKEND": "tensorflow",
}


@contextlib.contextmanager
def _quiet_fd(fd: int = 2):
    """Send the file descriptor ``fd`` to /dev/null for the duration (C-level output only)."""
    try:
        saved = os.dup(fd)
    except OSError:  # no such descriptor: nothing to silence
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), fd)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)


def quiet_tensorflow() -> None:
    """Import TensorFlow and Keras with the course's settings and without start-up noise."""
    for key, value in TF_ENV.items():
        os.environ.setdefault(key, value)
    if "tensorflow" in sys.modules:
        return
    with _quiet_fd(2):
        import keras  # noqa: F401
        import tensorflow as tf  # noqa: F401

        # absl's "logging before InitializeLog" notice goes out on the first log call; trigger
        # the initialisation while stderr is still silenced.
        tf.get_logger().setLevel("ERROR")

    threads = os.environ.get("MNISTCNN_THREADS")
    if threads:  # a grading job's share of the CPU: TensorFlow uses exactly this many threads
        tf.config.threading.set_intra_op_parallelism_threads(int(threads))
        tf.config.threading.set_inter_op_parallelism_threads(1)
