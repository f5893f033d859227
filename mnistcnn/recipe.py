"""The course's reference training recipe.

The book's recipe (RMSprop at a constant learning rate of 1e-3, 5 epochs, batch 64) lands on either
side of 99 % test accuracy depending on the random seed. The course keeps the book's architecture,
optimizer, epochs and batch size, and lets the learning rate decay from 1e-3 to 0 along a cosine
over the 5 epochs: the last steps are small, so the weights settle instead of jumping around the
minimum. ``tools/seed_sweep.py`` measures it over many seeds (docs/recipe.md has the figures).

One setting of the training cell only makes it faster, with bit-identical weights: ``model.fit``
runs ``STEPS_PER_EXECUTION`` steps per call into TensorFlow (``tools/bench.py`` measures it against
the plain call and other ways of feeding ``fit``).
"""

from __future__ import annotations

import math

from mnistcnn import quiet_tensorflow

quiet_tensorflow()

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

SEED = 0
EPOCHS = 5
BATCH_SIZE = 64
VALIDATION_SPLIT = 0.1
INITIAL_LEARNING_RATE = 1e-3
#: Training steps Keras runs per call of its compiled training function (``model.steps_per_execution``):
#: fewer returns to Python between steps, the same steps in the same order.
STEPS_PER_EXECUTION = 32


def make_deterministic(seed: int = SEED) -> None:
    """Seed Python, NumPy and TensorFlow and ask for deterministic ops (same run, same weights)."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def learning_rate_schedule(
    n_samples: int,
    epochs: int = EPOCHS,
    batch_size: int = BATCH_SIZE,
    validation_split: float = VALIDATION_SPLIT,
) -> keras.optimizers.schedules.CosineDecay:
    """A cosine decay from 1e-3 to 0 over all the training steps of ``model.fit``."""
    n_fit = n_samples - int(n_samples * validation_split)  # Keras holds out the last fraction
    steps = math.ceil(n_fit / batch_size) * epochs
    return keras.optimizers.schedules.CosineDecay(INITIAL_LEARNING_RATE, decay_steps=steps)
