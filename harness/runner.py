"""The training loop: the only place that knows epochs, steps, the schedule, timing and files."""

from __future__ import annotations

import contextlib
import math
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from adapters import load_adapter
from adapters.base import Adapter
from harness import checkpoint, identity, optimizers, sinks, verdicts
from harness.data import Dataset, load as load_data
from harness.model import ModelSpec, init_weights, spec_from_config
from harness.errors import HarnessError
from harness.launch import limit_cpu_threads
from harness.results import (
    FAILED_FILE,
    FINISHED,
    CorruptFile,
    claim_run,
    ensure_writable,
    epoch_row,
    git_sha,
    read_epochs,
    run_columns,
    set_aside,
    write_config,
    write_epochs,
    write_failure,
)
from harness.plan import Plan, build_plan, constant_momentum
from harness.plan_checks import horizon_warning, zero_rate_warning
from harness.schema import as_dict
from harness.validate import RunConfig

# A mean cross-entropy this large means logits in the thousands: the run has blown up, even when
# the NaN has not come yet (lr 100 on 1,024 images gives 4e16 and then a finite, dead network).
DIVERGED_LOSS = 1e3


@dataclass
class RunSummary:
    run_id: str
    run_dir: Path
    status: str  # complete | diverged | failed (raised) | skipped (finished before) | busy (another process trains it)
    epochs_done: int
    final_test_acc: float
    resumed_from: int | None = None  # the epoch a killed run continued from
    set_aside: Path | None = None  # where unreadable or superseded results were moved
    error: str | None = None  # status=failed: the exception, in one line


def batch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The epoch's shuffle, a pure function of (seed, epoch): no RNG state to carry or restore."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def steps_per_epoch(n: int, batch_size: int) -> int:
    return math.ceil(n / batch_size)  # the last, smaller batch is kept, as d2l's DataLoader does


@dataclass
class Previous:
    """What an earlier command left in a run's directory."""

    rows: list[dict] | None = None
    saved: checkpoint.Checkpoint | None = None
    corrupt: bool = False  # unreadable: kept aside for inspection, and the run starts afresh
    bad_checkpoint: str | None = None  # the checkpoint cannot be trusted (why); the rows can

    @property
    def finished(self) -> bool:
        return bool(self.rows) and self.rows[-1]["status"] in FINISHED


def previous_results(run_dir: Path) -> Previous:
    """Read (never change) what the run's directory holds."""
    try:
        rows = read_epochs(run_dir)
    except CorruptFile:
        return Previous(corrupt=True)
    if rows and rows[-1]["status"] in FINISHED:
        return Previous(rows)  # a leftover checkpoint of a finished run is never needed
    try:
        return Previous(rows, checkpoint.load(run_dir))
    except CorruptFile as exc:  # intact rows stay where they are; only the state is lost
        return Previous(rows, bad_checkpoint=str(exc))


@dataclass
class Setup:
    """Everything a run needs before it trains; building it is where bad input fails."""

    spec: ModelSpec
    plan: Plan  # the rate (and momentum) of every update, lengths derived from the real data size
    data: Dataset
    adapter: Adapter
    model_hash: str


class Interrupted(Exception):
    """Ctrl-C during training: the rows written so far say ``interrupted``; the same command resumes."""

    def __init__(self, run_dir: Path, epochs_done: int, epochs: int) -> None:
        # Counted as epochs done, from 1 (rows' `epoch` is 0-based).
        done = f"before its first epoch ended (0 of {epochs} epochs done)" if epochs_done == 0 else \
            f"after {epochs_done} of {epochs} epochs"
        super().__init__(f"interrupted {done}")
        self.run_dir, self.epochs_done, self.epochs = run_dir, epochs_done, epochs


def run(cfg: RunConfig, on_start=None) -> RunSummary:
    """Train (or resume, or skip) the run ``harness.validate.validate`` returned. ``on_start()``,
    when given, is called once this process holds the run and is about to train it (a sweep's
    start line: never printed for a run another process holds or has finished)."""
    rid, results_dir, run_dir, skipped = locate(cfg, "runner.run")
    if skipped:
        return skipped

    # Everything that can fail on bad input (data, framework, results_dir) fails here, before
    # the first change to results_dir. Anything else that raises (a bug, a framework error, out
    # of memory) is this run's failure, recorded, and never the end of a sweep.
    try:
        setup = _set_up(cfg)
    except (HarnessError, KeyboardInterrupt):
        raise
    except Exception as exc:  # noqa: BLE001 - any error of one run is recorded as that run's failure
        ensure_writable(results_dir)
        with claim_run(results_dir, run_dir.name) as claimed:
            return _failed(rid, run_dir, exc, claimed)
    ensure_writable(results_dir)
    warn(cfg, setup.plan)
    with claim_run(results_dir, run_dir.name) as claimed:
        if not claimed:
            return RunSummary(rid, run_dir, "busy", 0, float("nan"))
        skipped, previous, moved = take_over(cfg, rid, run_dir)
        if skipped:
            return skipped
        if on_start is not None:
            on_start()
        try:
            with sinks.closed_on_error():  # a tracker records a crash or Ctrl-C as FAILED / KILLED
                return _train(cfg, rid, run_dir, previous, setup, moved)
        except KeyboardInterrupt:
            raise _interrupted(run_dir, cfg.epochs) from None
        except HarnessError:
            raise
        except Exception as exc:  # noqa: BLE001 - any error of one run is recorded as that run's failure
            return _failed(rid, run_dir, exc, True)


@contextlib.contextmanager
def _ctrl_c_held():
    """Hold a Ctrl-C until the block ends. Between an epoch's rows and its checkpoint, an interrupt
    would leave a row the checkpoint cannot resume from: the run would say it stopped after N epochs
    and resume after N - 1. Only the main thread can take signals; elsewhere the block runs as it is,
    as it does where Ctrl-C is ignored (holding would turn an ignored signal into an interrupt)."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        yield  # no signals here, or Ctrl-C ignored (a `nohup ... &` job): nothing to hold
        return
    caught = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if caught:
            raise KeyboardInterrupt


def locate(cfg: RunConfig, caller: str) -> tuple[str, Path, Path, RunSummary | None]:
    """The run's id, its results folder and its own folder, and its skip when it is finished
    already (read without the lock: a finished run is never written again but by ``rerun``)."""
    if not isinstance(cfg, RunConfig):  # a composed config has not been checked, nor made canonical
        raise TypeError(f"{caller} takes the RunConfig of harness.validate.validate(cfg), not {type(cfg).__name__}")
    rid = identity.run_id(cfg)
    results_dir = identity.results_path(cfg.results_dir)
    run_dir = identity.run_dir(cfg, results_dir)
    previous = previous_results(run_dir)
    skipped = _skip(cfg, rid, run_dir, previous) if previous.finished and not cfg.rerun else None
    return rid, results_dir, run_dir, skipped


def warn(cfg: RunConfig, plan: Plan) -> None:
    """The warnings of a run whose input has passed every check (a single run's and a bank's)."""
    for warning in (horizon_warning(cfg), zero_rate_warning(cfg, plan), optimizers.rate_warning(cfg)):
        if warning:
            print(f"harness: warning: {warning}", file=sys.stderr)


def take_over(cfg: RunConfig, rid: str, run_dir: Path) -> tuple[RunSummary | None, Previous, Path | None]:
    """Once this process holds the run (``claim_run``): its skip, when another process finished
    it meanwhile; else what it resumes from, after a rerun's or an unreadable folder's move aside
    (and where to) and an unreadable checkpoint's removal (a single run's and a bank's)."""
    previous = previous_results(run_dir)
    if previous.finished and not cfg.rerun:
        return _skip(cfg, rid, run_dir, previous), previous, None
    moved = None
    if run_dir.exists() and (cfg.rerun or previous.corrupt):
        moved = set_aside(run_dir, "superseded" if cfg.rerun else "corrupt")
        previous = Previous()
    if previous.bad_checkpoint and not cfg.rerun:
        _drop_bad_checkpoint(cfg, run_dir, previous)
    return None, previous, moved


def _drop_bad_checkpoint(cfg: RunConfig, run_dir: Path, previous: Previous) -> None:
    """An unreadable checkpoint beside intact rows: the rows stay (in place, replaced one by one as
    the run trains again), the checkpoint goes. It is the run's only saved state, so nothing
    later than the start can be trusted: the run trains again from epoch 0."""
    checkpoint.remove(run_dir)
    kept = len(previous.rows or [])
    rows = f"its {kept} {'epoch' if kept == 1 else 'epochs'} of rows are kept until retrained" if kept else "it has no rows yet"
    print(f"harness: note: the checkpoint of {cfg.framework.name} {cfg.scheduler.name} seed={cfg.seed} in "
          f"{identity.shown(run_dir)}/ is unreadable and was removed ({previous.bad_checkpoint.split(' (', 1)[-1].rstrip(')')}); "
          f"{rows}, and the run trains again from epoch 0 (no earlier state to resume from)", file=sys.stderr)


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or "(no message)"
    return f"{type(exc).__name__}: {text[:300]}"


def _failed(rid: str, run_dir: Path, exc: BaseException, claimed: bool) -> RunSummary:
    """The run raised: its rows (if any) say ``failed`` with the error, ``_failed.txt`` holds the
    traceback, and the same command retries it (a failed run is not finished)."""
    message = one_line(exc)
    rows = []
    if claimed:
        try:
            rows = read_epochs(run_dir) or []
            write_failure(run_dir, message, "".join(traceback.format_exception(exc)))
        except (OSError, CorruptFile):
            pass  # the failure is still printed; nothing written before is touched
    last = rows[-1]["test_acc"] if rows else float("nan")
    return RunSummary(rid, run_dir, "failed", len(rows), last, error=message)


def _interrupted(run_dir: Path, epochs: int) -> Interrupted:
    """Ctrl-C: the rows written so far say ``interrupted`` (not ``running`` forever), so a reader
    can tell a dead run from a live one; the checkpoint stays, and the same command resumes."""
    rows = read_epochs(run_dir) or []
    if rows:
        for row in rows:
            row["status"] = "interrupted"
        write_epochs(run_dir, rows)
    return Interrupted(run_dir, len(rows), epochs)


def _skip(cfg: RunConfig, rid: str, run_dir: Path, previous: Previous) -> RunSummary:
    if not cfg.keep_checkpoint:
        checkpoint.remove(run_dir)  # one a kill left between the last two writes
    return RunSummary(rid, run_dir, "skipped", len(previous.rows), previous.rows[-1]["test_acc"])


def _set_up(cfg: RunConfig) -> Setup:
    spec = spec_from_config(cfg.model)  # protocol=d2l: the tab's network (validate.trained_model)
    data = load_data(cfg.data)
    plan = build_plan(cfg, len(data.train_y))
    limit_cpu_threads(cfg.threads)
    optimizer = optimizers.spec_from_config(cfg.optimizer, spec)
    adapter = load_adapter(cfg.framework.name)(spec, optimizer, cfg.device, cfg.seed)
    adapter.set_data(data.train_x, data.train_y, data.test_x, data.test_y, data.val_x, data.val_y)
    adapter.set_weights(init_weights(spec, cfg.seed, cfg.model.init))
    return Setup(spec, plan, data, adapter, identity.model_hash(cfg.model))


def _train(cfg: RunConfig, rid: str, run_dir: Path, previous: Previous, setup: Setup, moved: Path | None) -> RunSummary:
    plan, adapter = setup.plan, setup.adapter
    run = _run_columns(cfg, rid, setup)
    write_config(run_dir, OmegaConf.to_yaml(as_dict(cfg)))  # canonical: derived lengths written out
    (run_dir / FAILED_FILE).unlink(missing_ok=True)  # a failed run, retried
    rows, first_epoch, step = _resumed(previous, rid, run, setup, run_dir)
    # Rows of epochs not yet (re)trained: kept in the file until their epoch is trained again, so
    # a run that starts over (an unreadable checkpoint) loses no row it had.
    pending = [row for row in previous.rows or [] if row["epoch"] >= first_epoch]

    status = "running"
    log = sinks.open_run(cfg, run, run_dir, rows, first_epoch or None)  # logger=: tracker copies
    progress = _progress_bar(cfg, f"{cfg.framework.name} {cfg.scheduler.name} seed={cfg.seed}", first_epoch)
    for epoch in range(first_epoch, cfg.epochs):
        row = _epoch(cfg, epoch, step, run, setup)
        step = row["step"]
        rows.append(row)
        plan.observe(epoch, row)  # plateau: this epoch's metric decides the next epoch's rates
        losses = (row["train_loss"], row["test_loss"]) + ((row["val_loss"],) if row["val_loss"] is not None else ())
        if not all(math.isfinite(loss) and loss < DIVERGED_LOSS for loss in losses):
            status = "diverged"  # a result, recorded with the epoch where it happened
        elif epoch == cfg.epochs - 1:
            status = "complete"
        # Every row carries the run's current status, so a reader never needs a join. The verdict
        # is judged from the curves once the run has finished (from the rows' measured columns).
        verdict = None
        if status != "running":
            verdict = verdicts.judge({key: [r.get(key) for r in rows] for key in row}).verdict
        for r in rows:
            r["status"] = status
            r["verdict"] = verdict
        pending = [{**r, "status": status} for r in pending if r["epoch"] > epoch] if status == "running" else []
        with _ctrl_c_held():  # the rows and the checkpoint they resume from, both or neither
            write_epochs(run_dir, rows + pending)
            checkpoint.save(run_dir, adapter.get_state(), epoch, step, rid, plan.state())
        log.epoch(row)  # after parquet and checkpoint: a tracker never holds more than they do
        progress.update(1)
        progress.set_postfix(lr=f"{row['lr']:.4g}", loss=f"{row['train_loss']:.4f}", acc=f"{row['train_acc']:.3f}",
                             test_acc=f"{row['test_acc']:.3f}")
        if status == "diverged":
            break
    progress.close()
    log.close(status)
    if not cfg.keep_checkpoint:
        checkpoint.remove(run_dir)
    resumed = first_epoch if first_epoch else None
    return RunSummary(rid, run_dir, status, len(rows), rows[-1]["test_acc"], resumed, moved)


def _epoch(cfg: RunConfig, epoch: int, step: int, run: dict, setup: Setup) -> dict:
    """Train and evaluate one epoch at the plan's rates; its row, without a status yet."""
    plan, data, adapter = setup.plan, setup.data, setup.adapter
    order = batch_order(cfg.seed, epoch, len(data.train_y))
    lrs = plan.rates(epoch)
    momenta = plan.momenta(epoch)  # an array only when the schedule varies momentum
    # Sync before each clock read: on a GPU the work is queued, not done, when a call returns.
    adapter.synchronize()
    started = time.perf_counter()
    if momenta is None:
        train = adapter.train_epoch(order, cfg.batch_size, lrs)
    else:
        train = adapter.train_epoch(order, cfg.batch_size, lrs, momenta=momenta)
    adapter.synchronize()
    trained = time.perf_counter()
    test = adapter.evaluate()
    val = adapter.evaluate("val") if data.val_y is not None else None
    adapter.synchronize()
    evaluated = time.perf_counter()
    return epoch_row(
        run,
        epoch=epoch,
        step=step + plan.updates_per_epoch,
        lr=float(lrs[0]),
        step_lrs=lrs.tolist(),
        train_loss=train.loss,
        train_acc=train.accuracy,
        test_loss=test.loss,
        test_acc=test.accuracy,
        train_time_s=trained - started,
        eval_time_s=evaluated - trained,
        val_loss=val.loss if val else None,
        val_acc=val.accuracy if val else None,
        momentum=float(momenta[0]) if momenta is not None else constant_momentum(cfg.optimizer),
        step_momenta=momenta.tolist() if momenta is not None else None,
    )


def _run_columns(cfg: RunConfig, rid: str, setup: Setup) -> dict:
    """The run's identity, written on every row."""
    adapter = setup.adapter
    return run_columns(
        run_id=rid,
        framework=cfg.framework.name,
        framework_version=adapter.framework_version,
        device=adapter.device,
        tf32=adapter.settings.get("tf32"),
        protocol=cfg.protocol,
        model=setup.spec.name,
        scheduler=cfg.scheduler.name,
        unit=setup.plan.trained_unit,  # what t counted in the rates that ran: a d2l tab may step per update
        optimizer=cfg.optimizer.name,
        weight_decay=float(cfg.optimizer.weight_decay),
        lr_mult=optimizers.lr_mult_json(cfg.optimizer.lr_mult),
        base_lr=cfg.scheduler.base_lr,
        seed=cfg.seed,
        batch_size=cfg.batch_size,
        epochs=cfg.epochs,
        train_size=len(setup.data.train_y),
        test_size=len(setup.data.test_y),
        git_sha=git_sha(),
        variant=identity.variant(cfg),
        schedule_params=identity.to_json(identity.schedule_column(cfg)),
        optimizer_params=identity.to_json(identity.optimizer_params(cfg)),
        model_hash=setup.model_hash,
        subset_seed=cfg.data.subset_seed,
        dataset=cfg.data.name,
    )


def _resumed(previous: Previous, rid: str, run: dict, setup: Setup, run_dir: Path) -> tuple[list[dict], int, int]:
    """(rows kept, first epoch to train, updates done): a killed run continues after its last
    checkpointed epoch, the adapter and the plan restored from it; rows written after it are
    trained again. A fresh run starts at (no rows, epoch 0, update 0)."""
    saved = previous.saved
    if saved is None or saved.run_id != rid or not previous.rows:
        return [], 0, 0
    setup.adapter.set_state(saved.state)
    setup.plan.restore(saved.schedule_state)
    rows = [{**_upgraded(row, run), "error": None} for row in previous.rows if row["epoch"] <= saved.epoch]
    _warn_if_code_changed(rows, run["git_sha"], run_dir)
    return rows, saved.epoch + 1, saved.step


def _upgraded(row: dict, columns: dict) -> dict:
    """A row written by an earlier schema version, with the identity columns it lacks filled in
    (same run_id, so the same settings); its own git_sha and times are kept."""
    return {**row, **{key: value for key, value in columns.items() if row.get(key) is None}}


def _warn_if_code_changed(rows: list[dict], sha: str, run_dir: Path) -> None:
    earlier = sorted({row["git_sha"] for row in rows} - {sha})
    if earlier:
        print(f"harness: warning: resuming {identity.shown(run_dir)} with code {sha}, but its first "
              f"{len(rows)} epochs came from {', '.join(earlier)}; each row's git_sha records which", file=sys.stderr)


def _progress_bar(cfg: RunConfig, description: str, done: int):
    from tqdm import tqdm

    # A bar is for a person watching: drawn into a log file it is only noise.
    return tqdm(total=cfg.epochs, initial=done, desc=description, unit="epoch",
                disable=not (cfg.progress and sys.stderr.isatty()), file=sys.stderr, dynamic_ncols=True)
