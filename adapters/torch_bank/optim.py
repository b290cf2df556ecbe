"""The optimizer rules of ``harness.optimizers`` on a bank's stacked parameters.

One update of K runs is a few elementwise ops over each stacked tensor, each run's rate,
momentum (or beta1), weight decay and ``lr_mult`` broadcast from a ``(K, 1, ...)`` column.
The ops and their order are those of ``torch.optim``'s single-tensor SGD, Adam and AdamW (what
a single run's ``TorchAdapter`` steps on the CPU), and the scalars torch.optim computes in Python
(``lr * lr_mult``, Adam's ``lr / (1 - beta1**t)``, ``sqrt(1 - beta2**t)``, AdamW's
``1 - lr * weight_decay``) are computed the same way, in float64 on the host, a whole epoch at
once (``EpochScalars``), then rounded to float32 as the kernels round them: no host sync per update.
"""

from __future__ import annotations

import numpy as np
import torch

from harness.optimizers import OptimizerSpec, momenta_or_constant


class EpochScalars:
    """Every per-run scalar the updates of one epoch need, on the device: ``(updates, K)`` or
    ``(updates, P, K)`` float32 (P: the parameters, in the network's order)."""

    def __init__(self, specs: list[OptimizerSpec], names: list[str], rates: np.ndarray, momenta: np.ndarray,
                 steps_before: np.ndarray, device: torch.device) -> None:
        rule = specs[0]
        mult = np.array([[s.multiplier(n) for s in specs] for n in names])  # (P, K)
        lr = rates[:, None, :] * mult[None]  # (U, P, K): the group's rate, float64 as torch.optim has it
        wd = np.array([s.weight_decay for s in specs])
        as_tensor = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).to(device)  # noqa: E731
        self.momentum = as_tensor(momenta)
        if rule.name == "sgd":
            self.neg_lr = as_tensor(-lr)
        else:
            step = steps_before[None, :] + np.arange(1, len(rates) + 1)[:, None]  # (U, K): t of each update
            self.one_minus_beta1 = as_tensor(1 - momenta)
            self.neg_step_size = as_tensor(-lr / (1 - momenta**step)[:, None, :])
            self.bias_correction2_sqrt = as_tensor(np.sqrt(1 - rule.beta2**step))
            self.decay = as_tensor(1 - lr * wd) if rule.name == "adamw" else None
        self.weight_decay = as_tensor(wd)


class BankOptimizer:
    """The state of K runs' optimizer (``<slot>/<param>`` stacked over runs) and its update."""

    def __init__(self, specs: list[OptimizerSpec], params: dict[str, torch.Tensor]) -> None:
        self.specs, self.rule = specs, specs[0]
        self.slots = {slot: {n: torch.zeros_like(p) for n, p in params.items()} for slot in self._slots()}
        self.steps = np.zeros(len(specs), dtype=np.int64)  # updates applied, per run
        self.decays = any(s.weight_decay for s in specs)  # coupled (L2) decay in any run: add wd * w

    def _slots(self) -> tuple[str, ...]:
        return ("momentum",) if self.rule.name == "sgd" and self.rule.momentum > 0 else self.rule.slots()

    def keep(self, members: torch.Tensor, kept: list[int]) -> None:
        self.specs = [self.specs[i] for i in kept]
        self.steps = self.steps[kept]
        self.decays = any(s.weight_decay for s in self.specs)
        self.slots = {s: {n: t.index_select(0, members) for n, t in held.items()} for s, held in self.slots.items()}

    def epoch_scalars(self, names: list[str], rates: np.ndarray, momenta: list, device) -> EpochScalars:
        """``rates``: (updates, K); ``momenta``: each run's array or None (its constant)."""
        updates = rates.shape[0]
        mom = np.stack([momenta_or_constant(s, m, updates)[:updates] for s, m in zip(self.specs, momenta)], axis=1)
        return EpochScalars(self.specs, names, rates, mom, self.steps.copy(), device)

    @torch.no_grad()
    def step(self, params: dict[str, torch.Tensor], grads: list[torch.Tensor], scalars: EpochScalars, i: int) -> None:
        """Update ``i`` of the epoch, for every run of the bank."""
        rule = self.rule
        for p_index, ((name, param), grad) in enumerate(zip(params.items(), grads)):
            shape = (-1,) + (1,) * (param.dim() - 1)
            col = lambda table: table[i, p_index].view(shape) if table.dim() == 3 else table[i].view(shape)  # noqa: E731
            if rule.name != "adamw" and self.decays:
                grad = grad.add(param * scalars.weight_decay.view(shape))
            if rule.name == "sgd":
                if "momentum" in self.slots:
                    buf = self.slots["momentum"][name]
                    buf.mul_(col(scalars.momentum)).add_(grad)
                    grad = grad.add(buf * col(scalars.momentum)) if rule.nesterov else buf
                param.addcmul_(grad, col(scalars.neg_lr))
                continue
            if rule.name == "adamw":
                param.mul_(col(scalars.decay))
            exp_avg, exp_avg_sq = self.slots["exp_avg"][name], self.slots["exp_avg_sq"][name]
            exp_avg.lerp_(grad, col(scalars.one_minus_beta1))
            exp_avg_sq.mul_(rule.beta2).addcmul_(grad, grad, value=1 - rule.beta2)
            denom = (exp_avg_sq.sqrt() / col(scalars.bias_correction2_sqrt)).add_(rule.eps)
            param.addcmul_(exp_avg / denom, col(scalars.neg_step_size))
        self.steps += 1
