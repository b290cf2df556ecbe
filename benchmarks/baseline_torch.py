"""The d2l chapter's PyTorch training loop, as a reader would write it: the baseline for `make bench`.

DataLoader over in-memory tensors (shuffled, num_workers=0: the data is already decoded),
default PyTorch initialisation replaced by Xavier as in the chapter, per-batch ``float()``
accumulation like d2l's Accumulator, a per-batch accuracy on the test set like
``d2l.evaluate_accuracy_gpu``, and the rate changed after each epoch the chapter's way.
"""

from __future__ import annotations

import time

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def _net() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.ReLU(), nn.MaxPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.ReLU(), nn.MaxPool2d(kernel_size=2, stride=2),
        nn.Flatten(), nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
    )


def _accuracy(y_hat, y) -> float:
    return float((y_hat.argmax(axis=1).type(y.dtype) == y).type(y.dtype).sum())


def epoch_seconds(data, epochs: int, batch_size: int, lr_at, seed: int) -> list[float]:
    torch.manual_seed(seed)
    net = _net()

    def init_weights(m):
        if type(m) in (nn.Linear, nn.Conv2d):
            nn.init.xavier_uniform_(m.weight)

    net.apply(init_weights)
    train_iter = DataLoader(TensorDataset(torch.from_numpy(data.train_x), torch.from_numpy(data.train_y)),
                            batch_size, shuffle=True)
    test_iter = DataLoader(TensorDataset(torch.from_numpy(data.test_x), torch.from_numpy(data.test_y)),
                           batch_size, shuffle=False)
    loss = nn.CrossEntropyLoss()
    trainer = torch.optim.SGD(net.parameters(), lr=lr_at(0))
    times = []
    for epoch in range(epochs):
        started = time.perf_counter()
        net.train()
        metric = [0.0, 0.0, 0.0]  # train loss sum, correct, examples
        for X, y in train_iter:
            trainer.zero_grad()
            y_hat = net(X)
            l = loss(y_hat, y)
            l.backward()
            trainer.step()
            with torch.no_grad():
                for i, v in enumerate((l * X.shape[0], _accuracy(y_hat, y), X.shape[0])):
                    metric[i] += float(v)
        net.eval()
        correct = total = 0.0
        with torch.no_grad():
            for X, y in test_iter:
                correct += _accuracy(net(X), y)
                total += y.numel()
        for group in trainer.param_groups:
            group["lr"] = lr_at(epoch)  # the chapter's PyTorch tab: scheduler(epoch) after each epoch
        times.append(time.perf_counter() - started)
    return times
