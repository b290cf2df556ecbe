"""A run bank: K runs of one sweep trained together in one PyTorch process (docs/bank.md).

Runs can share a bank when everything that shapes the computation is the same: the framework
(PyTorch), the network, the batch size, the epochs, the data and its subsets, the device and the
optimizer's rule with the hyperparameters it does not vary per run. Everything else stays each
run's own: its seed (initial weights and batch order, drawn exactly as a single run draws them),
its schedule (the plan's rate and momentum of every update), weight decay, ``lr_mult`` and the
optimizer's state. This module only decides who may share a bank (framework-free, no torch);
``harness.bank.trainer`` trains one, and the launcher ``hydra/launcher=bank`` hands it a sweep.
"""

from __future__ import annotations

from harness.validate import RunConfig

RULES = ("sgd", "adam", "adamw")  # the optimizer rules the bank computes (adapters.torch_bank.optim)


def why_alone(cfg: RunConfig) -> str | None:
    """Why this run cannot train in a bank (one clause), or None when it can."""
    if cfg.framework.name != "torch":
        return f"framework={cfg.framework.name} (a bank is PyTorch only)"
    if cfg.optimizer.name not in RULES:
        return f"optimizer={cfg.optimizer.name} (a bank computes {', '.join(RULES)})"
    from harness.sinks import enabled

    if enabled(cfg):
        return f"logger={','.join(enabled(cfg))} (a tracker copies one run at a time)"
    return None


def bank_key(cfg: RunConfig) -> tuple:
    """What runs of one bank have in common: equal keys, one bank. Per run (not in it): seed,
    schedule, momentum or beta1 values, weight decay, lr_mult, results_dir, rerun."""
    from harness import identity

    opt = cfg.optimizer
    return (cfg.framework.name, cfg.protocol, identity.model_hash(cfg.model), cfg.batch_size, cfg.epochs,
            tuple(sorted((k, v) for k, v in cfg.data.items())), cfg.device, cfg.threads, opt.name,
            bool(opt.get("nesterov")), float(opt.get("momentum") or 0) > 0, opt.get("beta2"), opt.get("eps"),
            bool(cfg.keep_checkpoint))


def banks(cfgs: list[RunConfig], size: int) -> tuple[list[list[int]], dict[int, str]]:
    """The indices of ``cfgs`` as banks of at most ``size`` runs (in sweep order, runs that share
    a key together) and, for each run that trains alone, why."""
    alone = {i: why for i, cfg in enumerate(cfgs) if (why := why_alone(cfg))}
    groups: dict[tuple, list[int]] = {}
    for i, cfg in enumerate(cfgs):
        if i not in alone:
            groups.setdefault(bank_key(cfg), []).append(i)
    out = []
    for members in groups.values():
        out += [members[start : start + size] for start in range(0, len(members), size)]
    return out, alone
