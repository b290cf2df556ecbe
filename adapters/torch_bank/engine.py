"""The bank's tensor work: K runs' stacked network and optimizer on one device, numpy in and out.

``harness.bank.trainer`` decides what each run trains (its batch order, its rates and momenta,
its epoch) and writes what it measured; this module is the only part of the bank that holds
tensors. It trains on the data a single run's ``TorchAdapter`` already put on the device (the
runner's set-up of the bank's first run), so the bank reads the dataset once, as a run does.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from adapters.torch_bank.network import BankNetwork
from adapters.torch_bank.optim import BankOptimizer
from harness.model import ModelSpec
from harness.optimizers import OptimizerSpec

EVAL_BATCH = 500  # as TorchAdapter.EVAL_BATCH: the same batches, so the same sums in the same order


class BankEngine:
    """The stacked parameters and optimizer state of the runs still training, by place (0..K-1)."""

    def __init__(self, adapter, spec: ModelSpec, weights: list[dict[str, np.ndarray]],
                 optimizers: list[OptimizerSpec]) -> None:
        """``adapter``: the ``TorchAdapter`` whose data (``set_data``) and device the bank shares."""
        self.device = torch.device("cuda:0" if adapter.device.startswith("cuda") else "cpu")
        self.data = {k: getattr(adapter, k) for k in ("train_x", "train_y", "test_x", "test_y", "val_x", "val_y")}
        self.network = BankNetwork(spec, weights, self.device)
        self.optimizer = BankOptimizer(list(optimizers), self.network.params)

    @property
    def size(self) -> int:
        return self.network.size

    @property
    def train_size(self) -> int:
        return int(self.data["train_y"].shape[0])

    def state(self, place: int) -> dict[str, np.ndarray]:
        """The run at ``place`` as a single run's ``get_state``: its weights, its own optimizer
        slots (SGD without momentum has none) and, for the rules that count, its step."""
        spec = self.optimizer.specs[place]
        state = {n: p[place].detach().cpu().contiguous().numpy().copy() for n, p in self.network.params.items()}
        for slot in spec.slots():
            for name in self.network.names:
                state[f"{slot}/{name}"] = self.optimizer.slots[slot][name][place].cpu().contiguous().numpy().copy()
        if spec.counts_steps:
            state["step"] = np.array(int(self.optimizer.steps[place]), dtype=np.int64)
        return state

    @torch.no_grad()
    def load_state(self, place: int, state: dict[str, np.ndarray]) -> None:
        """Put a checkpoint's ``state`` (``state``'s keys) into the run at ``place``."""
        slots = self.optimizer.specs[place].slots()
        for name, param in self.network.params.items():
            param[place].copy_(torch.from_numpy(np.ascontiguousarray(state[name])))
            for slot in slots:
                self.optimizer.slots[slot][name][place].copy_(torch.from_numpy(np.array(state[f"{slot}/{name}"])))
        if "step" in state:
            self.optimizer.steps[place] = int(state["step"])

    def keep(self, places: list[int]) -> None:
        """Only the runs at ``places`` stay, in that order (the others have stopped)."""
        index = torch.tensor(places, dtype=torch.long, device=self.device)
        self.network.keep(index)
        self.optimizer.keep(index, places)

    def train_epoch(self, orders: np.ndarray, rates: np.ndarray, momenta: list, batch_size: int,
                    trace: dict | None = None) -> tuple[list[float], list[float], float]:
        """One epoch of every run: run k reads ``orders[k]`` in batches of ``batch_size`` at the
        rates ``rates[:, k]`` (and momenta ``momenta[k]``, None for its constant). Each run's
        mean train loss and accuracy over the epoch, and the wall seconds it took. ``trace``
        (tests): each update's losses ``(updates, K)``, before it, and the process time."""
        net, device = self.network, self.device
        train_x, train_y = self.data["train_x"], self.data["train_y"]
        k, n = orders.shape
        order = torch.from_numpy(np.ascontiguousarray(orders)).to(device)
        scalars = self.optimizer.epoch_scalars(net.names, rates, momenta, device)
        loss_sum = torch.zeros(k, dtype=torch.float64, device=device)
        correct = torch.zeros(k, dtype=torch.int64, device=device)
        step_losses = []
        self._sync()
        started, started_cpu = time.perf_counter(), time.process_time()
        for i, start in enumerate(range(0, n, batch_size)):
            idx = order[:, start : start + batch_size]  # (K, b): each run its own batch
            x, y = train_x[idx], train_y[idx]
            logits = net.forward(x, k)
            losses = net.losses(logits, y)
            grads = torch.autograd.grad(losses.sum(), list(net.params.values()))
            self.optimizer.step(net.params, grads, scalars, i)
            with torch.no_grad():  # stays on the device: no host sync per update
                loss_sum += losses.detach() * idx.shape[1]
                correct += (logits.argmax(dim=2) == y).sum(dim=1)
            if trace is not None:
                step_losses.append(losses.detach())
        self._sync()
        seconds = time.perf_counter() - started
        if trace is not None:
            trace.update(step_losses=torch.stack(step_losses).cpu().numpy(), train_cpu_s=time.process_time() - started_cpu)
        return [s / n for s in loss_sum.tolist()], [c / n for c in correct.tolist()], seconds

    def has_validation(self) -> bool:
        return self.data["val_y"] is not None

    @torch.no_grad()
    def evaluate(self, split: str) -> tuple[list[float], list[float]]:
        """Each run's mean loss and accuracy on ``split`` ("test" or "val"), every run reading the
        same batches; synchronised, so a wall clock around it measures it."""
        xs, ys = self.data[f"{split}_x"], self.data[f"{split}_y"]
        net, n = self.network, int(ys.shape[0])
        k = net.size
        loss_sum = torch.zeros(k, dtype=torch.float64, device=xs.device)
        correct = torch.zeros(k, dtype=torch.int64, device=xs.device)
        for start in range(0, n, EVAL_BATCH):
            x, y = xs[start : start + EVAL_BATCH], ys[start : start + EVAL_BATCH]
            logits = net.forward(x.unsqueeze(0), 1)  # (K, b, classes): one batch for every run
            b = int(y.shape[0])
            loss_sum += torch.nn.functional.cross_entropy(
                logits.reshape(k * b, -1), y.repeat(k), reduction="none").view(k, b).sum(dim=1)
            correct += (logits.argmax(dim=2) == y).sum(dim=1)
        self._sync()
        return [s / n for s in loss_sum.tolist()], [c / n for c in correct.tolist()]

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
