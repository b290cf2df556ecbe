"""Train a bank of runs: each run still a run, as ``harness.runner`` makes one.

Every run of the bank goes through the runner's own steps, imported from it: its run_id, its
folder and the skip of a finished run (``locate``), its warnings (``warn``), the lock
(``results.claim_run``), then ``take_over`` (a rerun's or an unreadable folder's move aside, an
unreadable checkpoint's removal), its ``_config.yaml``, its resume from its checkpoint
(``_resumed``), its identity columns (``_run_columns``), its failure (``_failed``) and its Ctrl-C
(``_interrupted``). The shared set-up (data, network spec, thread limits, the device and the
columns that describe it) is the runner's ``_set_up`` of the bank's first run. What differs is
the epoch: the bank trains every run's epoch at once, each run on its own batch order
(``runner.batch_order`` of its seed and epoch) at its own plan's rates and momenta; the tensors
live in ``adapters.torch_bank.engine`` (this module imports no framework). Runs resumed from
different epochs train side by side, each at its own epoch (all epochs have the same number of
updates). A run that diverges, or finishes, leaves the bank at the end of that epoch; the others
go on.

Beside a run's files, ``_bank.json`` says which bank trained it (its size, the run's place, the
other runs' ids); it is not part of the run's identity, like ``threads``.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from harness import checkpoint, identity, optimizers, verdicts
from harness.errors import HarnessError
from harness.model import init_weights
from harness.plan import Plan, build_plan, constant_momentum
from harness.results import (FAILED_FILE, atomic_write_bytes, claim_run, ensure_writable, epoch_row, write_config,
                             write_epochs)
from harness.runner import (DIVERGED_LOSS, Interrupted, Previous, RunSummary, Setup, _failed, _interrupted,
                            _resumed, _run_columns, _set_up, batch_order, locate, take_over, warn)
from harness.schema import as_dict
from harness.validate import RunConfig

BANK_FILE = "_bank.json"


class BankInterrupted(Exception):
    """Ctrl-C during a bank: every run still training says ``interrupted``; the same command resumes them."""

    def __init__(self, stops: list[Interrupted]) -> None:
        super().__init__(f"{len(stops)} runs interrupted")
        self.stops = stops


@dataclass(eq=False)  # a run is itself, whatever its values
class Member:
    index: int  # in the list of configs the bank was given
    cfg: RunConfig
    rid: str
    results_dir: Path
    run_dir: Path
    previous: Previous = field(default_factory=Previous)
    moved: Path | None = None
    plan: Plan | None = None
    optimizer: optimizers.OptimizerSpec | None = None
    weights: dict | None = None
    setup: Setup | None = None
    run: dict | None = None
    rows: list = field(default_factory=list)
    epoch: int = 0  # the next epoch to train
    step: int = 0
    first_epoch: int = 0


class MemberState:
    """One run's slice of the bank, seen as an adapter by the runner's code (its columns, state)."""

    def __init__(self, bank: "Bank", member: Member, template) -> None:
        self.bank, self.member = bank, member
        self.framework_version, self.device = template.framework_version, template.device
        self.settings = dict(template.settings)

    def get_state(self) -> dict[str, np.ndarray]:
        return self.bank.state_of(self.member)

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        self.bank.load_state(self.member, state)


class Bank:
    """The runs still training, in place order, and the engine that holds their tensors."""

    def __init__(self, members: list[Member], template: Setup) -> None:
        from adapters.torch_bank.engine import BankEngine  # the framework, imported when a bank trains

        self.members = list(members)
        self.engine = BankEngine(template.adapter, template.spec, [m.weights for m in members],
                                 [m.optimizer for m in members])

    def place(self, member: Member) -> int:
        return self.members.index(member)

    def state_of(self, member: Member) -> dict[str, np.ndarray]:
        return self.engine.state(self.place(member))

    def load_state(self, member: Member, state: dict[str, np.ndarray]) -> None:
        self.engine.load_state(self.place(member), state)

    def keep(self, members: list[Member]) -> None:
        kept = [self.place(m) for m in members]
        self.members = list(members)
        if kept:
            self.engine.keep(kept)


def train(cfgs: list[RunConfig], on_start: list | None = None) -> list[RunSummary]:
    """Train (or resume, or skip) the runs of one bank (``harness.bank.banks`` made it), each as
    ``runner.run`` would; their summaries in the order given. ``on_start[i]`` is called when run
    i is held and about to train (``runner.run``'s ``on_start``: the sweep's start line).
    HarnessError for bad input, before anything is written; BankInterrupted for Ctrl-C."""
    summaries: list[RunSummary | None] = [None] * len(cfgs)
    members = []
    for i, cfg in enumerate(cfgs):
        rid, results_dir, run_dir, summaries[i] = locate(cfg, "bank.train")
        if not summaries[i]:
            members.append(Member(i, cfg, rid, results_dir, run_dir))
    if not members:
        return summaries

    def failed(member: Member, exc: BaseException) -> None:  # before the run was claimed: claim it to record it
        ensure_writable(member.results_dir)
        with claim_run(member.results_dir, member.run_dir.name) as claimed:
            summaries[member.index] = _failed(member.rid, member.run_dir, exc, claimed)

    try:  # what every run shares, set up once, the runner's way (bad input raises HarnessError here)
        template = _set_up(members[0].cfg)
    except (HarnessError, KeyboardInterrupt):
        raise
    except Exception as exc:  # noqa: BLE001 - recorded as each run's failure, as the runner does
        for member in members:
            failed(member, exc)
        return summaries
    ready = []
    for member in members:
        try:
            _prepare(member, template, member is members[0])
        except (HarnessError, KeyboardInterrupt):
            raise
        except Exception as exc:  # noqa: BLE001
            failed(member, exc)
            continue
        ready.append(member)
    for member in ready:
        ensure_writable(member.results_dir)
        warn(member.cfg, member.plan)

    with contextlib.ExitStack() as locks:
        claimed = []
        for member in ready:
            if not locks.enter_context(claim_run(member.results_dir, member.run_dir.name)):
                summaries[member.index] = RunSummary(member.rid, member.run_dir, "busy", 0, float("nan"))
                continue
            skipped, member.previous, member.moved = take_over(member.cfg, member.rid, member.run_dir)
            if skipped:
                summaries[member.index] = skipped
                continue
            claimed.append(member)
        for member in claimed:
            if on_start and on_start[member.index]:
                on_start[member.index]()
        if claimed:
            _train(claimed, template, summaries)
    return summaries


def _prepare(member: Member, template: Setup, first: bool) -> None:
    """The run's own plan, optimizer spec and initial weights (as ``runner._set_up`` draws them)."""
    member.plan = template.plan if first else build_plan(member.cfg, len(template.data.train_y))
    member.optimizer = optimizers.spec_from_config(member.cfg.optimizer, template.spec)
    member.weights = init_weights(template.spec, member.cfg.seed, member.cfg.model.init)


def assemble(cfgs: list[RunConfig]) -> tuple[Bank, Setup]:
    """A bank of ``cfgs`` at their initial weights, each at epoch 0, and its set-up; nothing read
    or written (for tests and benchmarks: ``train_epoch`` trains it)."""
    template = _set_up(cfgs[0])
    members = [Member(i, cfg, identity.run_id(cfg), Path(), Path()) for i, cfg in enumerate(cfgs)]
    for member in members:
        _prepare(member, template, member is members[0])
    return Bank(members, template), template


def _train(members: list[Member], template: Setup, summaries: list) -> None:
    bank = Bank(members, template)
    for place, member in enumerate(members):
        member.setup = Setup(template.spec, member.plan, template.data, MemberState(bank, member, template.adapter),
                             template.model_hash)
        member.run = _run_columns(member.cfg, member.rid, member.setup)
        write_config(member.run_dir, OmegaConf.to_yaml(as_dict(member.cfg)))
        (member.run_dir / FAILED_FILE).unlink(missing_ok=True)
        member.rows, member.epoch, member.step = _resumed(member.previous, member.rid, member.run,
                                                          member.setup, member.run_dir)
        member.first_epoch = member.epoch
        atomic_write_bytes(member.run_dir / BANK_FILE, json.dumps(
            {"size": len(members), "place": place, "run_ids": [m.rid for m in members]}, indent=1).encode())
    try:
        while bank.members:
            measured = train_epoch(bank, members[0].cfg.batch_size)
            leaving = [m for m, row in zip(list(bank.members), measured) if _record(m, row, summaries)]
            if leaving:
                bank.keep([m for m in bank.members if m not in leaving])
    except KeyboardInterrupt:
        raise BankInterrupted([_interrupted(m.run_dir, m.cfg.epochs) for m in bank.members]) from None
    except HarnessError:
        raise
    except Exception as exc:  # noqa: BLE001 - the bank's failure is each of its runs' failure, recorded
        for member in bank.members:
            summaries[member.index] = _failed(member.rid, member.run_dir, exc, True)


def train_epoch(bank: Bank, batch_size: int, trace: dict | None = None) -> list[dict]:
    """Train every run of the bank one epoch (each its own) and evaluate it: one row's measured
    columns per run, in bank order. ``trace`` (tests): filled with the batch orders ``(K, n)``,
    the rates ``(updates, K)``, each update's losses ``(updates, K)``, before the update, and the
    training's process time ``train_cpu_s``."""
    members, engine = bank.members, bank.engine
    n = engine.train_size
    orders = np.stack([batch_order(m.cfg.seed, m.epoch, n) for m in members])  # each run its own, as drawn alone
    rates = np.stack([m.plan.rates(m.epoch) for m in members], axis=1)  # (updates, K)
    momenta = [m.plan.momenta(m.epoch) for m in members]
    train_loss, train_acc, train_s = engine.train_epoch(orders, rates, momenta, batch_size, trace)
    if trace is not None:
        trace.update(orders=orders, rates=rates)
    started = time.perf_counter()
    test = engine.evaluate("test")
    val = engine.evaluate("val") if engine.has_validation() else None
    eval_s = time.perf_counter() - started
    updates = rates.shape[0]
    rows = []
    for place, member in enumerate(members):
        lrs, mom = rates[:, place], momenta[place]
        rows.append(dict(
            epoch=member.epoch, step=member.step + updates, lr=float(lrs[0]), step_lrs=lrs.tolist(),
            train_loss=train_loss[place], train_acc=train_acc[place],
            test_loss=test[0][place], test_acc=test[1][place],
            train_time_s=train_s, eval_time_s=eval_s,  # the bank's: shared by its runs
            val_loss=val[0][place] if val else None, val_acc=val[1][place] if val else None,
            momentum=float(mom[0]) if mom is not None else constant_momentum(member.cfg.optimizer),
            step_momenta=mom.tolist() if mom is not None else None,
        ))
    return rows


def _record(member: Member, measured: dict, summaries: list) -> bool:
    """Write the epoch's row, status and checkpoint as the runner does; True when the run is done."""
    cfg = member.cfg
    row = epoch_row(member.run, **measured)
    member.rows.append(row)
    member.plan.observe(member.epoch, row)  # plateau: this epoch's metric decides the next epoch's rates
    member.step = row["step"]
    losses = (row["train_loss"], row["test_loss"]) + ((row["val_loss"],) if row["val_loss"] is not None else ())
    status = "running"
    if not all(math.isfinite(loss) and loss < DIVERGED_LOSS for loss in losses):
        status = "diverged"
    elif member.epoch == cfg.epochs - 1:
        status = "complete"
    verdict = None
    if status != "running":
        verdict = verdicts.judge({key: [r.get(key) for r in member.rows] for key in row}).verdict
    for r in member.rows:
        r["status"], r["verdict"] = status, verdict
    write_epochs(member.run_dir, member.rows)
    checkpoint.save(member.run_dir, member.setup.adapter.get_state(), member.epoch, member.step, member.rid,
                    member.plan.state())
    member.epoch += 1
    if status == "running":
        return False
    if not cfg.keep_checkpoint:
        checkpoint.remove(member.run_dir)
    summaries[member.index] = RunSummary(member.rid, member.run_dir, status, len(member.rows), row["test_acc"],
                                         member.first_epoch or None, member.moved)
    return True


def summary_line(cfg: RunConfig, summary: RunSummary, place: int, size: int, label: str | None = None) -> str:
    """How a run of a bank ended, in one line (the words of a single run's job line); ``label``:
    the run's name in its sweep (``progress.sweep_label``)."""
    name = f"{label or f'{cfg.framework.name} {cfg.scheduler.name} seed={cfg.seed}'} (bank place {place + 1} of {size})"
    where = identity.shown(summary.run_dir)
    if summary.status == "failed":
        return f"harness: failed: {name}: {summary.error}; traceback in {where}/_failed.txt; run the same command to retry it"
    if summary.status == "busy":
        return f"harness: skipped: {name} is owned by another process, which is training it now; its results will be in {where}/"
    epochs = f"{summary.epochs_done} epoch{'' if summary.epochs_done == 1 else 's'}"
    if summary.status == "skipped":
        return f"harness: skipped: {name} is already finished ({epochs}); results in {where}/ (rerun=true trains it again)"
    resumed = f" ({summary.resumed_from} of them done before a resume)" if summary.resumed_from else ""
    moved = f" (earlier results moved to {identity.shown(summary.set_aside)}/)" if summary.set_aside else ""
    return f"harness: {summary.status}: {name}, {epochs}{resumed}, final test_acc {summary.final_test_acc:.4f}; results in {where}/{moved}"
