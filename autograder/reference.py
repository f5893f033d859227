"""The reference solution, as plain code, for the instructor's tools and the tests.

The notebooks in ``solutions/`` are the lesson's source of truth; this module repeats their two
central answers so that tools (the seed sweep) and tests can build the model without running a
notebook. ``tests/test_reference.py`` checks both against the same expectations as the notebooks.
"""

from __future__ import annotations

from mnistcnn import quiet_tensorflow

quiet_tensorflow()

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers  # noqa: E402


def preprocess(images, labels):
    """uint8 (N, 28, 28) and int labels -> float32 (N, 28, 28, 1) in [0, 1] and one-hot (N, 10)."""
    x = images.reshape((len(images), 28, 28, 1)).astype("float32") / 255
    y = keras.utils.to_categorical(labels, 10)
    return x, np.asarray(y, dtype="float32")


def build_model() -> keras.Sequential:
    """The book's convnet: three Conv2D with two MaxPooling2D, then Flatten, Dense(64), Dense(10)."""
    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            layers.Conv2D(32, (3, 3), activation="relu"),
            layers.MaxPooling2D((2, 2)),
            layers.Conv2D(64, (3, 3), activation="relu"),
            layers.MaxPooling2D((2, 2)),
            layers.Conv2D(64, (3, 3), activation="relu"),
            layers.Flatten(),
            layers.Dense(64, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ]
    )
