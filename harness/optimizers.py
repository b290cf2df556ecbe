"""Optimizers, framework-neutral: one definition each (docs/optimizers.md), validated here.

An adapter receives an ``OptimizerSpec``: the rule, its hyperparameters and a learning-rate
multiplier per canonical parameter name. The runner still owns the rate (and, when a schedule
varies it, the momentum or beta1) of every update. ``reference_step`` is the documented formula
in plain numpy (float64), which the tests hold every adapter to.

The definitions are PyTorch's (``torch.optim``), the most used in the literature these
experiments follow; PyTorch's native classes match them, the TensorFlow and MXNet adapters write
them with their frameworks' own ops. Momentum buffers exclude the rate (``b = mu*b + g;
w -= lr*b``), so that momentum means the same thing under a changing rate. schedule_free_adamw's
definition is its authors' package's (``schedulefree``), which the PyTorch adapter runs as it is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, Mapping

import numpy as np

from harness.errors import HarnessError

RULES = ("sgd", "adam", "adamw", "adagrad", "rmsprop", "schedule_free_adamw")
# Schedule-free AdamW runs where a framework has a maintained implementation to hold ours to: PyTorch
# runs the authors' package (``schedulefree``, an optional extra), TensorFlow the same algorithm in
# its own ops (docs/optimizers.md says why not Keras's ScheduleFreeAdamW); MXNet has none.
UNAVAILABLE = {("schedule_free_adamw", "mxnet"): "MXNet has no maintained implementation of it"}

# The hyperparameters each rule reads; any other key must stay at its default.
USES = {
    "sgd": ("momentum", "nesterov", "weight_decay"),
    "adam": ("beta1", "beta2", "eps", "weight_decay"),
    "adamw": ("beta1", "beta2", "eps", "weight_decay"),
    "adagrad": ("eps", "initial_accumulator_value", "weight_decay"),
    "rmsprop": ("alpha", "eps", "momentum", "centered", "weight_decay"),
    "schedule_free_adamw": ("beta1", "beta2", "eps", "weight_decay", "r", "weight_lr_power"),
}
LAYER_TYPES = ("conv", "dense")  # the layer types that hold parameters


@dataclass(frozen=True)
class OptimizerSpec:
    """One optimizer's rule and hyperparameters; defaults are PyTorch's (docs/optimizers.md)."""

    name: str = "sgd"
    momentum: float = 0.0  # sgd and rmsprop; the buffer excludes the rate
    nesterov: bool = False  # sgd
    beta1: float = 0.9  # adam, adamw
    beta2: float = 0.999
    eps: float = 1e-8  # adam, adamw, adagrad, rmsprop
    weight_decay: float = 0.0  # coupled L2 (added to the gradient), except adamw: decoupled
    alpha: float = 0.99  # rmsprop: decay of the mean square
    centered: bool = False  # rmsprop
    initial_accumulator_value: float = 0.0  # adagrad
    r: float = 0.0  # schedule_free_adamw: the average weighs update t by t^r * lr_max^weight_lr_power
    weight_lr_power: float = 2.0  # schedule_free_adamw
    lr_mult: Mapping[str, float] = field(default_factory=dict)  # canonical parameter name -> multiplier

    def multiplier(self, param: str) -> float:
        return float(self.lr_mult.get(param, 1.0))

    @property
    def momentum_name(self) -> str | None:
        """What a per-update momentum array sets: ``momentum`` or ``beta1`` (None: nothing)."""
        if self.name in ("adam", "adamw"):
            return "beta1"
        # schedule_free_adamw's beta1 is the interpolation between its two sequences, not a momentum
        # a schedule may cycle: a schedule that varies momentum is an error there (momenta_or_constant).
        if self.name in ("sgd", "rmsprop") and self.momentum > 0:
            return "momentum"
        return None

    @property
    def constant_momentum(self) -> float:
        return self.beta1 if self.momentum_name == "beta1" else self.momentum

    def slots(self) -> tuple[str, ...]:
        """The per-parameter buffers, in the order every adapter keeps them; checkpoint keys are
        ``<slot>/<param>``, plus ``step`` (updates applied) for the rules that count them."""
        if self.name == "sgd":
            return ("momentum",) if self.momentum > 0 else ()
        if self.name in ("adam", "adamw"):
            return ("exp_avg", "exp_avg_sq")
        if self.name == "adagrad":
            return ("sum",)
        if self.name == "schedule_free_adamw":
            return ("z", "exp_avg_sq")  # z: the sequence the steps are taken on
        return ("square_avg",) + (("grad_avg",) if self.centered else ()) + (("momentum",) if self.momentum > 0 else ())

    @property
    def counts_steps(self) -> bool:
        return self.name != "sgd"  # adam's bias corrections read it; the others keep it for PyTorch

    def scalars(self) -> tuple[str, ...]:
        """Per-parameter float64 scalars of the state, keys ``<scalar>/<param>`` like the slots':
        schedule-free's running maximum rate and the sum of the averaging weights (one per
        parameter, because a parameter's rate is the scheduled one times its lr_mult)."""
        return ("lr_max", "weight_sum") if self.name == "schedule_free_adamw" else ()

    def initial_slot(self, slot: str) -> float:
        return self.initial_accumulator_value if slot == "sum" else 0.0

    @property
    def evaluates_elsewhere(self) -> bool:
        """Whether the network is evaluated at other weights than it trains at: schedule-free
        trains at y and evaluates at the average x (``schedule_free_eval_point``)."""
        return self.name == "schedule_free_adamw"


def layer_names(param_names: list[str], layer_types: list[str]) -> dict[str, list[int]]:
    """``conv1, conv2, dense1, ...`` (type and 1-based rank) and the types themselves -> layer indices."""
    names: dict[str, list[int]] = {}
    seen: dict[str, int] = {}
    for index in sorted({int(p.split(".")[0]) for p in param_names}):
        kind = layer_types[index]
        seen[kind] = seen.get(kind, 0) + 1
        names[f"{kind}{seen[kind]}"] = [index]
        names.setdefault(kind, []).append(index)
    return names


def param_multipliers(lr_mult: Mapping[str, float], model_spec) -> dict[str, float]:
    """Canonical parameter name -> multiplier; a layer name wins over its type."""
    params = list(model_spec.param_shapes())
    names = layer_names(params, [layer.type for layer in model_spec.layers])
    unknown = sorted(set(lr_mult) - set(names))
    if unknown:
        known = [n for n in LAYER_TYPES if n in names] + [n for n in names if n not in LAYER_TYPES]
        raise HarnessError(
            f"optimizer.lr_mult names unknown layer {unknown[0]!r}; known layers of model "
            f"{model_spec.name!r}: {', '.join(known)}"
        )
    by_layer: dict[int, float] = {}
    for key in sorted(lr_mult, key=lambda k: k not in LAYER_TYPES):  # types first, names override
        value = lr_mult[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value >= 0):
            raise HarnessError(f"optimizer.lr_mult.{key}={lr_mult[key]} must be a finite multiplier >= 0")
        for index in names[key]:
            by_layer[index] = float(value)
    return {p: by_layer[int(p.split(".")[0])] for p in params if int(p.split(".")[0]) in by_layer}


def lr_mult_json(lr_mult) -> str | None:
    """The results column: the multipliers as the user gave them, keys sorted; None when none."""
    import json

    return json.dumps({k: float(v) for k, v in sorted(dict(lr_mult).items())}) if lr_mult else None


def spec_from_config(cfg: Any, model_spec) -> OptimizerSpec:
    """Build and validate the spec from the ``optimizer`` config group (HarnessError on bad values)."""
    plain = dict(cfg.items()) if hasattr(cfg, "items") else dict(cfg)
    name = plain.get("name", "sgd")
    if name not in RULES:
        raise HarnessError(f"optimizer={name!r} is unknown; choose one of: {', '.join(RULES)}")
    defaults = OptimizerSpec()
    values = {}
    for f in fields(OptimizerSpec):
        if f.name in ("name", "lr_mult") or f.name not in plain:
            continue
        value = plain[f.name]
        default = getattr(defaults, f.name)
        if f.name not in USES[name] and value != default:
            raise HarnessError(
                f"optimizer.{f.name}={value} has no effect on optimizer={name} (it reads "
                f"{', '.join(USES[name])}); remove it"
            )
        values[f.name] = type(default)(value)
    spec = OptimizerSpec(name=name, **values)
    for key in ("momentum", "beta1", "beta2", "alpha"):
        value = getattr(spec, key)
        if key in USES[name] and not (0 <= value < 1):
            raise HarnessError(f"optimizer.{key}={value} must be in [0, 1)")
    if name == "schedule_free_adamw" and spec.beta1 == 0:
        # evaluation reads x = y + (1 - 1/beta1) (z - y)
        raise HarnessError("optimizer.beta1=0 leaves schedule_free_adamw no average to evaluate at; use beta1 in (0, 1), e.g. 0.9")
    for key in ("eps", "weight_decay", "initial_accumulator_value", "r", "weight_lr_power"):
        value = getattr(spec, key)
        if key in USES[name] and not (math.isfinite(value) and value >= 0):
            raise HarnessError(f"optimizer.{key}={value} must be a finite number >= 0")
    if "eps" in USES[name] and spec.eps == 0:
        # a parameter whose gradient is exactly zero (a dead unit) would get 0/0 = NaN
        raise HarnessError("optimizer.eps=0 divides 0 by 0 for a zero gradient; use a small positive eps such as 1e-8")
    if spec.nesterov and spec.momentum == 0:
        raise HarnessError("optimizer.nesterov=true needs optimizer.momentum > 0 (e.g. optimizer.momentum=0.9)")
    lr_mult = plain.get("lr_mult") or {}
    if not hasattr(lr_mult, "items"):
        raise HarnessError(f"optimizer.lr_mult={lr_mult} must map layers to multipliers, e.g. optimizer.lr_mult={{conv1: 0.1}}")
    lr_mult = dict(lr_mult.items())
    return OptimizerSpec(name=name, **values, lr_mult=param_multipliers(lr_mult, model_spec))


def validate(cfg) -> None:
    """harness.validate's one call: the optimizer group of a composed run config."""
    from harness.model import spec_from_config as model_spec

    check_available(cfg.optimizer.name, cfg.framework.name)
    spec_from_config(cfg.optimizer, model_spec(cfg.model))  # the network that trains (validate.trained_model)


def check_available(name: str, framework: str) -> None:
    """A one-line error for a rule a framework cannot run here, before anything is written."""
    if (name, framework) in UNAVAILABLE:
        from harness.frameworks import NAMES

        others = [f for f in NAMES if (name, f) not in UNAVAILABLE]
        raise HarnessError(f"optimizer={name} is not available with framework={framework}: "
                           f"{UNAVAILABLE[name, framework]}; use framework={' or framework='.join(others)}")
    if name == "schedule_free_adamw" and framework == "torch":
        import importlib.util

        if importlib.util.find_spec("schedulefree") is None:
            raise HarnessError("optimizer=schedule_free_adamw with framework=torch runs the schedulefree package, "
                               "which is not installed: pip install 'lr-harness[schedulefree]'")


# The rate each optimizer is studied at in experiments/optimizers.yaml (docs/optimizers.md says
# where each comes from); cosine decays to a thirtieth of it, the d2l chapter's 0.3 -> 0.01.
SUGGESTED_LR = {"sgd": 0.3, "adam": 1e-3, "adamw": 1e-3, "adagrad": 1e-2, "rmsprop": 1e-3,
                "schedule_free_adamw": 2.5e-3}


# The base rates each adaptive optimizer is usually run at (its PyTorch default inside the range):
# they divide each update by a running gradient size, so their step is about the rate itself
# whatever the gradient, and SGD's 0.1-0.3 is orders of magnitude too large for them.
USUAL_LR = {"adam": (1e-4, 1e-2), "adamw": (1e-4, 1e-2), "rmsprop": (1e-4, 1e-2), "adagrad": (1e-3, 1e-1),
            "schedule_free_adamw": (1e-4, 1e-2)}
FAR_ABOVE = 3.0  # a peak rate this many times the range's top earns a warning (Adam: above 0.03)


def rate_warning(cfg) -> str | None:
    """A sentence when an adaptive optimizer runs at a peak rate far above its usual range
    (``optimizer=adam`` keeping the d2l cosine's 0.3 never learns), else None."""
    name = cfg.optimizer.name
    if name not in USUAL_LR:
        return None
    low, high = USUAL_LR[name]
    key, peak = max((("base_lr", cfg.scheduler.base_lr), ("max_lr", cfg.scheduler.get("max_lr"))),
                    key=lambda kv: kv[1] or 0)
    if not peak or peak <= FAR_ABOVE * high:
        return None
    return (f"optimizer={name} at scheduler.{key}={peak:g} is {peak / high:.0f}x the top of its usual range "
            f"({low:g} to {high:g}); an adaptive optimizer's step is about the rate itself, so this rate "
            f"rarely learns: set scheduler.{key}={SUGGESTED_LR[name]:g} (and scheduler.final_lr below it)")


def suggested_lr(name: str, which: str, kind: str = "cosine") -> float | None:
    """``${optimizer_lr:<optimizer>,base|final,<scheduler kind>}`` in a preset: the optimizer's
    rate, or the cosine's final rate (None for a schedule without one)."""
    base = SUGGESTED_LR[name]
    if which == "base":
        return base
    return base / 30 if kind == "cosine" else None


def register_resolvers() -> None:
    from omegaconf import OmegaConf

    OmegaConf.register_new_resolver("optimizer_lr", suggested_lr, replace=True)


def momenta_or_constant(spec: OptimizerSpec, momenta, updates: int) -> np.ndarray:
    """The per-update momentum (or beta1) array an adapter applies: ``momenta`` as given, or the
    spec's constant. A ValueError when momenta are given to a rule without a momentum."""
    if momenta is None:
        return np.full(updates, spec.constant_momentum, dtype=np.float64)
    if spec.momentum_name is None:
        raise ValueError(
            f"optimizer={spec.name} with momentum={spec.momentum} has no momentum to schedule; "
            f"set optimizer.momentum > 0 (sgd, rmsprop) or use adam/adamw (beta1)"
        )
    momenta = np.asarray(momenta, dtype=np.float64)
    if len(momenta) < updates:
        raise ValueError(f"momenta has {len(momenta)} values for {updates} updates")
    return momenta


# --- the definitions, in numpy -------------------------------------------------------------------

def reference_step(spec: OptimizerSpec, weights: dict, grads: dict, state: dict, lr: float,
                   momentum: float | None = None) -> tuple[dict, dict]:
    """One update of every parameter, in float64: returns (new weights, new state). ``state``
    holds ``<slot>/<param>`` arrays and ``step``; empty means a fresh optimizer. ``momentum`` is
    this update's momentum (or beta1), default the spec's."""
    mu = spec.constant_momentum if momentum is None else momentum
    state = {k: np.array(v, dtype=np.float64) for k, v in state.items()}
    step = int(state.get("step", 0)) + 1
    out = {}
    for name, w in weights.items():
        w = np.asarray(w, dtype=np.float64)
        g = np.asarray(grads[name], dtype=np.float64)
        rate = lr * spec.multiplier(name)
        slot = {s: state.get(f"{s}/{name}", w.copy() if s == "z" else np.full_like(w, spec.initial_slot(s)))
                for s in spec.slots()}
        if spec.name == "schedule_free_adamw":
            w = _schedule_free_step(spec, w, g, slot, state, name, rate, step)
        elif spec.name == "adamw":
            w = w * (1 - rate * spec.weight_decay)
        elif spec.weight_decay:
            g = g + spec.weight_decay * w
        if spec.name == "sgd":
            if spec.momentum > 0:
                slot["momentum"] = mu * slot["momentum"] + g
                g = g + mu * slot["momentum"] if spec.nesterov else slot["momentum"]
            w = w - rate * g
        elif spec.name in ("adam", "adamw"):
            slot["exp_avg"] = mu * slot["exp_avg"] + (1 - mu) * g
            slot["exp_avg_sq"] = spec.beta2 * slot["exp_avg_sq"] + (1 - spec.beta2) * g * g
            m_hat = slot["exp_avg"] / (1 - mu**step)
            v_hat = slot["exp_avg_sq"] / (1 - spec.beta2**step)
            w = w - rate * m_hat / (np.sqrt(v_hat) + spec.eps)
        elif spec.name == "adagrad":
            slot["sum"] = slot["sum"] + g * g
            w = w - rate * g / (np.sqrt(slot["sum"]) + spec.eps)
        elif spec.name == "rmsprop":
            slot["square_avg"] = spec.alpha * slot["square_avg"] + (1 - spec.alpha) * g * g
            mean_square = slot["square_avg"]
            if spec.centered:
                slot["grad_avg"] = spec.alpha * slot["grad_avg"] + (1 - spec.alpha) * g
                mean_square = mean_square - slot["grad_avg"] ** 2
            scaled = g / (np.sqrt(mean_square) + spec.eps)
            if spec.momentum > 0:
                slot["momentum"] = mu * slot["momentum"] + scaled
                scaled = slot["momentum"]
            w = w - rate * scaled
        out[name] = w
        state.update({f"{s}/{name}": v for s, v in slot.items()})
    if spec.counts_steps:
        state["step"] = np.array(step)
    return out, state


def _schedule_free_step(spec: OptimizerSpec, y, g, slot: dict, state: dict, name: str, rate: float, step: int):
    """Schedule-free AdamW (Defazio et al. 2024, "The Road Less Scheduled", Algorithm 1 with Adam's
    normalisation), as the authors' ``schedulefree.AdamWScheduleFree`` computes it: gradients are
    taken at y, steps on z, and x, the weighted average of the z's, is where the network is
    evaluated; y = (1 - beta1) z + beta1 x is kept, x is recovered from y and z. Update t weighs
    ``t^r * lr_max^weight_lr_power`` in the average. Weight decay acts at y, after normalisation."""
    lr_max = max(float(state.get(f"lr_max/{name}", -1.0)), rate)
    weight = step**spec.r * lr_max**spec.weight_lr_power
    weight_sum = float(state.get(f"weight_sum/{name}", 0.0)) + weight
    c = weight / weight_sum if weight_sum else 0.0
    slot["exp_avg_sq"] = spec.beta2 * slot["exp_avg_sq"] + (1 - spec.beta2) * g * g
    normalised = g / (np.sqrt(slot["exp_avg_sq"] / (1 - spec.beta2**step)) + spec.eps) + spec.weight_decay * y
    y = (1 - c) * y + c * slot["z"] + rate * (spec.beta1 * (1 - c) - 1) * normalised
    slot["z"] = slot["z"] - rate * normalised
    state[f"lr_max/{name}"], state[f"weight_sum/{name}"] = np.array(lr_max), np.array(weight_sum)
    return y


def schedule_free_eval_point(y: np.ndarray, z: np.ndarray, beta1: float) -> np.ndarray:
    """x, where schedule-free evaluates, from the training point y and the step sequence z:
    ``x = y + (1 - 1/beta1) (z - y)``, the inverse of ``y = (1 - beta1) z + beta1 x``."""
    return y + (1 - 1 / beta1) * (z - y)
