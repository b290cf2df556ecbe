"""The d2l chapter's TensorFlow loop, as a reader would write it: the baseline for `make bench`.

Keras ``fit`` over a shuffled ``tf.data`` pipeline with a ``LearningRateScheduler`` callback,
accuracy as a compiled metric, and the test set evaluated at the end of every epoch by a
callback, as d2l's ``TrainCallback`` does. Same modern LeNet, NHWC.
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402


def _net() -> keras.Sequential:
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(6, 5, activation="relu", padding="same"), keras.layers.MaxPooling2D(2, 2),
        keras.layers.Conv2D(16, 5, activation="relu"), keras.layers.MaxPooling2D(2, 2),
        keras.layers.Flatten(), keras.layers.Dense(120, activation="relu"),
        keras.layers.Dense(84, activation="relu"), keras.layers.Dense(10),
    ])


class _EpochTimer(keras.callbacks.Callback):
    def __init__(self, test_ds):
        super().__init__()
        self.test_ds, self.times = test_ds, []

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.model.evaluate(self.test_ds, verbose=0)
        self.times.append(time.perf_counter() - self.started)


def epoch_seconds(data, epochs: int, batch_size: int, lr_at, seed: int) -> list[float]:
    keras.utils.set_random_seed(seed)
    train = tf.data.Dataset.from_tensor_slices((data.train_x.transpose(0, 2, 3, 1), data.train_y))
    train = train.shuffle(len(data.train_y)).batch(batch_size)
    test = tf.data.Dataset.from_tensor_slices((data.test_x.transpose(0, 2, 3, 1), data.test_y)).batch(batch_size)
    net = _net()
    net.compile(optimizer=keras.optimizers.SGD(learning_rate=lr_at(0)),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    timer = _EpochTimer(test)
    net.fit(train, epochs=epochs, verbose=0,
            callbacks=[timer, keras.callbacks.LearningRateScheduler(lambda epoch: lr_at(epoch))])
    return timer.times
