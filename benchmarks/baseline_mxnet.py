"""The d2l chapter's MXNet loop, as a reader would write it: the baseline for `make bench`.

Gluon ``DataLoader`` over an ``ArrayDataset`` (shuffled), a hybridized network with Xavier
initialisation, per-example loss with ``trainer.step(batch_size)``, per-batch metric reads
like d2l's ``Accumulator``, and a per-batch accuracy over the test set like
``d2l.evaluate_accuracy_gpu``. Same modern LeNet, NCHW.
"""

from __future__ import annotations

import time

import adapters.mxnet_adapter  # noqa: F401  (imports MXNet behind its numpy.bool shim)
import mxnet as mx
from mxnet import autograd, gluon, init
from mxnet.gluon import nn


def _net() -> nn.HybridSequential:
    net = nn.HybridSequential()
    net.add(nn.Conv2D(channels=6, kernel_size=5, padding=2, activation="relu"), nn.MaxPool2D(pool_size=2, strides=2),
            nn.Conv2D(channels=16, kernel_size=5, activation="relu"), nn.MaxPool2D(pool_size=2, strides=2),
            nn.Dense(120, activation="relu"), nn.Dense(84, activation="relu"), nn.Dense(10))
    return net


def epoch_seconds(data, epochs: int, batch_size: int, lr_at, seed: int) -> list[float]:
    mx.random.seed(seed)
    net = _net()
    net.initialize(init=init.Xavier())
    net.hybridize()
    train_iter = gluon.data.DataLoader(gluon.data.ArrayDataset(data.train_x, data.train_y.astype("float32")),
                                       batch_size, shuffle=True)
    test_iter = gluon.data.DataLoader(gluon.data.ArrayDataset(data.test_x, data.test_y.astype("float32")), batch_size)
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": lr_at(0)})
    times = []
    for epoch in range(epochs):
        started = time.perf_counter()
        trainer.set_learning_rate(lr_at(epoch))
        metric = [0.0, 0.0, 0.0]
        for X, y in train_iter:
            with autograd.record():
                y_hat = net(X)
                l = loss(y_hat, y)
            l.backward()
            trainer.step(X.shape[0])
            metric[0] += float(l.sum().asscalar())
            metric[1] += float((y_hat.argmax(axis=1) == y).sum().asscalar())
            metric[2] += X.shape[0]
        correct = total = 0.0
        for X, y in test_iter:
            correct += float((net(X).argmax(axis=1) == y).sum().asscalar())
            total += y.size
        times.append(time.perf_counter() - started)
    return times
