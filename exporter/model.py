"""Build and train the multi-layer perceptron: Rescaling → Flatten → Dense hidden layers → softmax.

Training is backpropagation with stochastic gradient descent (momentum, cosine-decayed
learning rate) on a cross-entropy loss, seeded so that one seed gives one set of weights
on a given machine and library set.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from exporter.contract import IMAGE_SIZE, INPUT_NAME, INPUT_RANGE, LABELS, OUTPUT_NAME
from exporter.model_config import ACTIVATIONS, TrainingConfig, validate_config  # noqa: F401 - re-exported

class TrainingDivergedError(ValueError):
    """The loss became NaN or infinite, so the weights are useless; the message names the fix."""


@dataclass(frozen=True)
class EpochRecord:
    """Loss and accuracy after one epoch, on the training and validation sets."""

    epoch: int
    loss: float
    accuracy: float
    val_loss: float
    val_accuracy: float
    seconds: float


def seed_everything(seed: int) -> None:
    """Reset Keras's state, seed Python, NumPy and TensorFlow, and make TensorFlow's kernels deterministic."""
    # Keras numbers name scopes per process (fashion_mnist_mlp_1, _2, …) and those names end up
    # in the exported graphs, so a second build in one process would differ without the reset.
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def build_model(config: TrainingConfig):
    """Return the uncompiled Keras model for ``config``, with the input scaling built in."""
    inputs = keras.Input(shape=(IMAGE_SIZE, IMAGE_SIZE), dtype="float32", name=INPUT_NAME)
    x = keras.layers.Rescaling(1.0 / INPUT_RANGE[1], name="scale")(inputs)
    x = keras.layers.Flatten(name="flatten")(x)
    for index, units in enumerate(config.hidden):
        x = keras.layers.Dense(units, activation=config.activation, name=f"hidden_{index}")(x)
        if config.dropout:
            x = keras.layers.Dropout(config.dropout, name=f"dropout_{index}")(x)
    outputs = keras.layers.Dense(len(LABELS), activation="softmax", name=OUTPUT_NAME)(x)
    return keras.Model(inputs, outputs, name="fashion_mnist_mlp")


def split_validation(images: np.ndarray, labels: np.ndarray, config: TrainingConfig):
    """Shuffle the training set with the seed and hold out ``validation_size`` images."""
    if config.validation_size >= len(images):
        raise ValueError(
            f"validation size {config.validation_size:,} leaves no training images out of {len(images):,}"
        )
    order = np.random.default_rng(config.seed).permutation(len(images))
    validation, training = order[: config.validation_size], order[config.validation_size :]
    return (images[training], labels[training]), (images[validation], labels[validation])


def train(
    model,
    train_images: np.ndarray,
    train_labels: np.ndarray,
    config: TrainingConfig,
    *,
    log: Callable[[str], None] = print,
) -> list[EpochRecord]:
    """Train ``model`` in place with SGD on cross-entropy; return one record per epoch."""
    (x_train, y_train), (x_val, y_val) = split_validation(train_images, train_labels, config)
    steps = config.epochs * -(-len(x_train) // config.batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(config.learning_rate, decay_steps=steps)
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=schedule, momentum=config.momentum),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    progress = _EpochLogger(config.epochs, log)
    model.fit(
        x_train.astype("float32"),
        y_train,
        batch_size=config.batch_size,
        epochs=config.epochs,
        validation_data=(x_val.astype("float32"), y_val),
        shuffle=True,
        verbose=0,
        callbacks=[progress, keras.callbacks.TerminateOnNaN()],
    )
    last = progress.records[-1] if progress.records else None
    if last is None or not math.isfinite(last.loss):
        raise TrainingDivergedError(
            f"training diverged: the loss became NaN or infinite"
            f"{f' in epoch {last.epoch}' if last else ' in the first epoch'} with learning rate "
            f"{config.learning_rate}. Lower --learning-rate and build again."
        )
    return progress.records


class _EpochLogger(keras.callbacks.Callback):
    """Print one line per epoch: loss, accuracy, validation accuracy and seconds."""

    def __init__(self, epochs: int, log: Callable[[str], None]):
        super().__init__()
        self.epochs = epochs
        self.log = log
        self.records: list[EpochRecord] = []
        self._started = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        record = EpochRecord(
            epoch=epoch + 1,
            loss=float(logs["loss"]),
            accuracy=float(logs["accuracy"]),
            val_loss=float(logs["val_loss"]),
            val_accuracy=float(logs["val_accuracy"]),
            seconds=time.perf_counter() - self._started,
        )
        self.records.append(record)
        width = len(str(self.epochs))
        self.log(
            f"  epoch {record.epoch:>{width}}/{self.epochs}  loss {record.loss:.4f}  "
            f"accuracy {record.accuracy:.4f}  val_accuracy {record.val_accuracy:.4f}  "
            f"{record.seconds:.1f} s"
        )


def predict(model, images: np.ndarray, batch_size: int = 1_000) -> np.ndarray:
    """Return Keras's float32 probabilities ``[n, 10]`` for uint8 or float images ``[n, 28, 28]``."""
    return np.asarray(model.predict(images.astype("float32"), batch_size=batch_size, verbose=0), dtype=np.float32)
