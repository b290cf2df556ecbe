"""The largest relative difference between each schedule and each framework object it is checked
against in tests/test_native_schedules.py, over the same runs: the figures in docs/schedules.md.

    python -m benchmarks.schedule_differences
"""

from __future__ import annotations

import numpy as np

from harness import schedules as s
from tests.test_native_schedules import keras_values, ours, relative_error, torch_trace


def torch_rows():
    import torch

    sched = torch.optim.lr_scheduler
    rows = []
    for n in (30, 240):
        w = n // 10
        rows += [
            (f"step / StepLR (T={n})", s.step_decay(0.3, n // 3, 0.1), lambda o, n=n: sched.StepLR(o, n // 3, 0.1), n + 5),
            (f"exponential / ExponentialLR (T={n})", s.exponential(0.3, gamma=0.9 ** (30 / n)), lambda o, n=n: sched.ExponentialLR(o, 0.9 ** (30 / n)), n + 5),
            (f"polynomial / PolynomialLR (T={n})", s.polynomial(0.3, n, 0.9), lambda o, n=n: sched.PolynomialLR(o, n, 0.9), n + 5),
            (f"linear_decay / LinearLR (T={n})", s.linear_decay(0.3, n, 0.03), lambda o, n=n: sched.LinearLR(o, 1.0, 0.1, n), n + 5),
            (f"noam / LambdaLR (T={n})", s.noam(0.3, w), lambda o, w=w: sched.LambdaLR(o, lambda t: w**0.5 * min((t + 1) ** -0.5, (t + 1) * w**-1.5)), n + 5),
        ]
    for m in (1, 2, 3):
        rows.append((f"cosine_restarts / CosineAnnealingWarmRestarts (T_mult={m})", s.cosine_restarts(0.3, 10, 0.001, m),
                     lambda o, m=m: sched.CosineAnnealingWarmRestarts(o, 10, m, 0.001), 200))
    rows.append(("warmup_linear / SequentialLR(LinearLR, LinearLR)", s.warmup_linear(0.3, 240, 24, 0.3e-9, 0.03),
                 lambda o: sched.SequentialLR(o, [sched.LinearLR(o, 0.1, 1.0, 24), sched.LinearLR(o, 1.0, 1e-9, 216)], [24]), 240))
    for name, mine, make, n in rows:
        print(f"{name}: {relative_error(ours(mine, n), torch_trace(make, 0.3, n)[0]):.1e}")
    worst_rate = worst_momentum = 0.0
    for total in (240, 7050):
        for three in (False, True):
            for anneal in ("cos", "linear"):
                rates, momenta = torch_trace(lambda o: sched.OneCycleLR(o, 0.5, total_steps=total, anneal_strategy=anneal, three_phase=three), 0.5, total, 0.9)
                worst_rate = max(worst_rate, relative_error(ours(s.onecycle(0.5, total, anneal=anneal, three_phase=three), total), rates))
                worst_momentum = max(worst_momentum, relative_error(ours(s.onecycle_momentum(total, anneal=anneal, three_phase=three), total), momenta))
    print(f"onecycle / OneCycleLR: rate {worst_rate:.1e}, momentum {worst_momentum:.1e}")
    worst_rate = worst_momentum = 0.0
    for mode, gamma in (("triangular", 1.0), ("triangular2", 1.0), ("exp_range", 0.999)):
        rates, momenta = torch_trace(lambda o: sched.CyclicLR(o, 0.05, 0.5, 20, 30, mode, gamma), 0.05, 500, 0.9)
        worst_rate = max(worst_rate, relative_error(ours(s.cyclic(0.05, 0.5, 20, 30, mode, gamma), 500), rates))
        worst_momentum = max(worst_momentum, relative_error(ours(s.cyclic_momentum(20, 30, mode, gamma), 500), momenta))
    print(f"cyclic / CyclicLR: rate {worst_rate:.1e}, momentum {worst_momentum:.1e}")


def keras_rows():
    import keras

    ks = keras.optimizers.schedules
    for stairs in (False, True):
        print(f"exponential / ExponentialDecay (staircase={stairs}): "
              f"{relative_error(keras_values(ks.ExponentialDecay(0.3, 24, 0.5, stairs), 240), ours(s.exponential(0.3, decay_rate=0.5, decay_steps=24, staircase=stairs), 240)):.1e}")
        print(f"inverse_time / InverseTimeDecay (staircase={stairs}): "
              f"{relative_error(keras_values(ks.InverseTimeDecay(0.3, 24, 1.0, stairs), 240), ours(s.inverse_time(0.3, 1.0, 24, stairs), 240)):.1e}")
    print(f"polynomial / PolynomialDecay: {relative_error(keras_values(ks.PolynomialDecay(0.3, 200, 0.003, 0.9), 240), ours(s.polynomial(0.3, 200, 0.9, 0.003), 240)):.1e}")
    theirs, mine = keras_values(ks.CosineDecayRestarts(0.3, 10, 2.0, 1.0, 0.01 / 0.3), 700), ours(s.cosine_restarts(0.3, 10, 0.01, 2.0), 700)
    print(f"cosine_restarts / CosineDecayRestarts: {relative_error(theirs, mine):.1e} relative, {np.max(np.abs(theirs - mine)):.1e} absolute")


def mxnet_rows():
    import adapters.mxnet_adapter  # noqa: F401  (MXNet behind its numpy shim)
    from mxnet import lr_scheduler

    poly = lr_scheduler.PolyScheduler(max_update=200, base_lr=0.3, pwr=2, final_lr=0.003)
    print(f"polynomial / PolyScheduler: {relative_error([poly(t) for t in range(240)], ours(s.polynomial(0.3, 200, 2.0, 0.003), 240)):.1e}")
    factor = lr_scheduler.FactorScheduler(step=24, factor=0.1, base_lr=0.3, stop_factor_lr=1e-12)
    values = [factor(t) for t in range(240)]
    print(f"step / FactorScheduler(step=24), one update later: {relative_error(values[1:], ours(s.step_decay(0.3, 24, 0.1), 239)):.1e}")


if __name__ == "__main__":
    torch_rows()
    keras_rows()
    mxnet_rows()
