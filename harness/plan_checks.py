"""The checks and warnings built on a run's plan (``harness.plan``): the schedule builds and has
a momentum to cycle, its horizon is not far longer than the run and none of its milestones,
boundaries or warmup lies beyond it, and the epochs it would train at
rate 0 (a warning, or a refusal when that is every epoch). ``harness.validate`` runs the checks,
the runner and ``plot-schedule`` print the warnings.
"""

from __future__ import annotations

from harness.errors import HarnessError
from harness.plan import D2LTabPlan, Plan, build_plan, has_momentum, schedule_params, updates_per_epoch
from harness.schedules import has_horizon

FAR_LONGER = 2.0  # a horizon this many times the run's length earns a warning


def check_schedule(cfg) -> None:
    """Validation of the schedule for ``harness.validate``: it builds, and a schedule that
    cycles momentum has an optimizer with momentum to cycle."""
    try:
        plan = build_plan(cfg)
    except ValueError as exc:
        raise HarnessError(f"scheduler={cfg.scheduler.name}: {exc}") from None
    if plan.momentum_at is not None and not has_momentum(cfg.optimizer):
        if cfg.optimizer.name == "schedule_free_adamw":  # a beta1, but no momentum (OptimizerSpec.momentum_name)
            why = ("optimizer=schedule_free_adamw's beta1 is its averaging, not a momentum to cycle; "
                   "set scheduler.cycle_momentum=false")
        else:
            why = (f"optimizer={cfg.optimizer.name} with momentum={cfg.optimizer.get('momentum', 0)} has none to "
                   f"cycle; set optimizer.momentum=0.9, or scheduler.cycle_momentum=false")
        raise HarnessError(f"scheduler={cfg.scheduler.name} cycles momentum (scheduler.cycle_momentum=true) but {why}")
    check_zero_rate(cfg, plan)


def horizon_warning(cfg) -> str | None:
    """A sentence when part of the schedule lies beyond the run, else None: a horizon far longer
    than the run (it would stop early on its curve: ``scheduler.total_steps=7050`` with
    unit=epoch), or a milestone, a sequence's boundary, a step decay's step or a warmup the run
    never reaches (``scheduler=multifactor epochs=10``: both of [15, 30] past it, a constant rate).

    A milestone or boundary *at* the run's length marks the end of the run, as a horizon equal to
    it does (the d2l chapter's multifactor [15, 30] over 30 epochs), and is not warned about."""
    kind, unit = cfg.scheduler.kind, cfg.scheduler.unit
    params = schedule_params(cfg)
    run_length = cfg.epochs if unit == "epoch" else cfg.epochs * updates_per_epoch(cfg)
    what = ("epoch" if unit == "epoch" else "update") + ("" if run_length == 1 else "s")
    run = f"the run's {run_length} {what} (unit={unit})"
    found = []
    horizon = params.get("total_steps")
    if has_horizon(kind) and horizon is not None and horizon > FAR_LONGER * run_length:
        found.append(f"total_steps={horizon} is {horizon / run_length:.1f}x {run}, so the run stops at "
                     f"{100 * run_length / horizon:.2g} % of the schedule; set scheduler.total_steps=null to follow epochs")
    for key, what_it_is, effect in (
        ("milestones", "milestone", "the rate never drops there"),
        ("boundaries", "boundary", "the phase after it never runs"),
    ):
        beyond = [m for m in params.get(key) or [] if m > run_length]
        if beyond:
            listed = ", ".join(map(str, beyond))
            found.append(f"{key}={params[key]}: {what_it_is if len(beyond) == 1 else key} {listed} "
                         f"{'lies' if len(beyond) == 1 else 'lie'} beyond {run}, so {effect}; "
                         f"set scheduler.{key} within the run")
    step_size = params.get("step_size")
    if kind == "step" and step_size is not None and step_size >= run_length:
        found.append(f"step_size={step_size} is not shorter than {run}, so the rate never drops; "
                     f"set scheduler.step_size below {run_length}")
    warmup = params.get("warmup_steps")
    if warmup and warmup > run_length:
        found.append(f"warmup_steps={warmup} is longer than {run}, so the rate never reaches base_lr; "
                     f"set scheduler.warmup_steps below {run_length}")
    return f"scheduler={cfg.scheduler.name}: " + "; ".join(found) if found else None


def zero_rate_epochs(cfg, plan: Plan | None = None) -> list[int]:
    """The epochs (0-based) in which every update would train at rate 0, from the rates the run
    uses (under protocol=d2l the tab's own). With unit=epoch every update of epoch ``e`` takes
    ``lr_at(e)``, so a warmup from ``warmup_begin_lr=0`` spends its whole first epoch at 0."""
    plan = plan or build_plan(cfg)
    epochs, per_epoch = cfg.epochs, plan.updates_per_epoch
    if isinstance(plan, D2LTabPlan):  # the tab's own rates, computed for the whole run already
        return [e for e in range(epochs) if not (plan.rates(e) > 0).any()]
    if plan.unit == "epoch":
        return [e for e in range(epochs) if not plan.lr_at(e) > 0]
    # unit=step: all() stops at an epoch's first nonzero update, so a run that is not at 0 costs
    # about one schedule call per epoch.
    return [e for e in range(epochs) if all(not plan.lr_at(e * per_epoch + i) > 0 for i in range(per_epoch))]


def zero_rate_warning(cfg, plan: Plan | None = None) -> str | None:
    """A sentence naming the epochs that would train at rate 0 and how to avoid them, else None.
    The d2l chapter's own warmup does this (its first epoch at warmup_begin_lr=0), so it is a
    warning; ``check_zero_rate`` refuses a run that would train nothing at all."""
    plan = plan or build_plan(cfg)
    zero = zero_rate_epochs(cfg, plan)
    if not zero:
        return None
    return f"scheduler={cfg.scheduler.name}: {_epoch_list(zero)} of {cfg.epochs} would train at rate 0 {_zero_rate_fix(cfg, plan, zero)}"


def check_zero_rate(cfg, plan: Plan | None = None) -> None:
    """Refuse a run whose every update would be at rate 0 (``scheduler=warmup epochs=1``): it
    would train nothing and still be recorded as a complete run."""
    plan = plan or build_plan(cfg)
    zero = zero_rate_epochs(cfg, plan)
    if len(zero) == cfg.epochs:
        raise HarnessError(f"scheduler={cfg.scheduler.name} trains nothing: every update of its {_epochs_word(cfg.epochs)} "
                           f"would have rate 0 {_zero_rate_fix(cfg, plan, zero)}")


def _epochs_word(n: int) -> str:
    return f"{n} epoch" + ("" if n == 1 else "s")


def _epoch_list(epochs: list[int]) -> str:
    """[0] -> 'epoch 0'; [0, 1, 2, 7] -> 'epochs 0-2, 7'."""
    spans: list[list[int]] = []
    for e in epochs:
        if spans and e == spans[-1][1] + 1:
            spans[-1][1] = e
        else:
            spans.append([e, e])
    text = ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in spans)
    return ("epoch " if len(epochs) == 1 else "epochs ") + text


def _zero_rate_fix(cfg, plan: Plan, zero: list[int]) -> str:
    """'(why): what to set', for the two causes: a warmup that starts at 0 (a zero epoch inside
    the warmup) and a schedule at final_lr=0 (a decay past its horizon, a restart's warmup)."""
    params, clean = plan.params, cfg.protocol != "d2l"
    phases = params.get("phases") or [{}]
    warmup_steps = 0 if cfg.scheduler.kind == "noam" else params.get("warmup_steps") or phases[0].get("warmup_steps") or 0
    in_warmup = lambda e: (e if plan.unit == "epoch" else e * plan.updates_per_epoch) < warmup_steps
    per_epoch_unit = clean and plan.unit == "epoch"
    why, fixes = [], []
    if per_epoch_unit:
        why.append("unit=epoch: every update of an epoch takes the schedule's value at that epoch")
    elif not clean:
        why.append(f"protocol=d2l: as the d2l {cfg.framework.name} tab runs it")
    if any(map(in_warmup, zero)):
        why.append(f"the warmup starts at warmup_begin_lr={params.get('warmup_begin_lr') or 0:g}")
        if per_epoch_unit:
            fixes.append("scheduler.unit=step makes the warmup per update")
        elif not clean:
            fixes.append("protocol=clean scheduler.unit=step makes the warmup per update")
        example = f"={float(params['base_lr']) / 10:g} (any value > 0)" if params.get("base_lr") else " > 0"
        fixes.append(f"scheduler.warmup_begin_lr{example} starts it above 0")
    if not all(map(in_warmup, zero)):
        why.append("the schedule is at final_lr=0 there" if params.get("final_lr") == 0 else "the schedule is 0 there")
        if per_epoch_unit and not fixes:
            fixes.append("scheduler.unit=step steps the schedule per update")
        horizon = ", or scheduler.total_steps=null (a horizon as long as the run)" if cfg.scheduler.get("total_steps") else ""
        fixes.append(f"scheduler.final_lr above 0{horizon}")
    return f"({'; '.join(why)}): {', or '.join(fixes)}"
