"""``python -m harness find-lr [find_lr.KEY=VALUE ...] [any run override]``: the LR range test.

The runner's pieces with an exponential rate plan instead of a schedule: the run's data, model,
optimizer, batch size and initial weights (``harness.runner._set_up``), its training batches in
its batch order (``batch_order(seed, epoch)``), one update per rate from ``find_lr.start_lr`` to
``find_lr.end_lr`` on fastai's geometric grid: by default 1e-5 to 10 over ``find_lr.epochs`` = 3
epochs' worth of the run's batches, so the test follows the batch size (``find_lr.num_updates=100
find_lr.start_lr=1e-7`` is fastai's own test).
The arithmetic (smoothing, stop rule, the rules, the collapse to chance) is ``harness.lr_finder``.

It writes ``<results_dir>/_find_lr/<name>/range_test.parquet`` (one row per update) and
``range_test.png``, prints one line and the advice as a note. The leading underscore keeps the
folder away from pyarrow's and pandas' readers of ``results_dir`` and from the run-skipping logic
(which only looks at run directories by name). DuckDB's and polars' ``**/*.parquet`` globs do see
it (they skip no ``_`` folder): read runs with ``**/epochs.parquet``. Range tests written before
are named ``range_test.pq``; ``read`` takes either. No checkpoint, lock or run directory is
written: a following run finds nothing of it.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness import lr_finder
from harness.errors import HarnessError

PREFIX = "find_lr."
KEYS = {"start_lr": float, "end_lr": float, "epochs": float, "num_updates": int}
# num_updates None: the test lasts `epochs` epochs' worth of the run's batches (num_updates=100
# start_lr=1e-7 is fastai's test).
DEFAULTS = {"start_lr": lr_finder.TEST_START_LR, "end_lr": lr_finder.END_LR, "epochs": float(lr_finder.TEST_EPOCHS),
            "num_updates": None}
FOLDER = "_find_lr"
TABLE, FIGURE = "range_test.parquet", "range_test.png"
OLD_TABLE = "range_test.pq"  # what find-lr wrote before every results file was .parquet
USAGE = """usage: python -m harness find-lr [find_lr.start_lr=1e-5] [find_lr.end_lr=10] [find_lr.epochs=3 | find_lr.num_updates=N] [KEY=VALUE ...]

The learning-rate range test: from the run's initial weights, one update per rate, the rate
growing exponentially from start_lr towards end_lr (fastai's grid) over `epochs` epochs' worth of
the run's batches (or num_updates updates: fastai's test is num_updates=100 start_lr=1e-7); stops
once the smoothed loss passes 4x its best or a loss is not finite. A network that dies (loss back
at chance, ln 10, for good) ends the useful range there. Recommended: that edge / 3 for SGD,
/ 10 for an adaptive optimizer (docs/finding_the_rate.md).
Any run override applies (framework=tf, batch_size=128, optimizer.momentum=0.9, data.train_size=...).
Writes <results_dir>/_find_lr/<name>/range_test.parquet and range_test.png; prints one line
and the advice (a note on stderr).
"""


@dataclass
class RangeTest:
    name: str
    folder: Path
    rows: list[dict]
    recommendation: lr_finder.Recommendation
    stopped: bool
    stop: str | None = None  # lr_finder.above() | lr_finder.NOT_FINITE: the parquet's `stop`


def split_args(args: list[str]) -> tuple[dict, list[str]]:
    """The find_lr.* settings (typed, defaults filled) and the run overrides that remain."""
    import difflib

    values, rest = dict(DEFAULTS), []
    for arg in args:
        if not arg.startswith(PREFIX):
            rest.append(arg)
            continue
        key, _, text = arg[len(PREFIX):].partition("=")
        if key not in KEYS:
            close = difflib.get_close_matches(key, KEYS, n=1)
            hint = f" (did you mean 'find_lr.{close[0]}'?)" if close else ""
            raise HarnessError(f"unknown key 'find_lr.{key}'{hint}; find-lr takes {', '.join(PREFIX + k for k in KEYS)}")
        try:
            values[key] = KEYS[key](text)
        except ValueError:
            kind = "whole number" if KEYS[key] is int else "number"
            raise HarnessError(f"find_lr.{key}={text!r} is not a {kind}") from None
    given = {arg[len(PREFIX):].partition("=")[0] for arg in args if arg.startswith(PREFIX)}
    if {"epochs", "num_updates"} <= given:
        raise HarnessError("find-lr takes find_lr.epochs or find_lr.num_updates, not both; drop one")
    if not (math.isfinite(values["epochs"]) and values["epochs"] > 0):
        raise HarnessError(f"find_lr.epochs={values['epochs']} must be a positive number of epochs")
    try:
        lr_finder.check_range(values["start_lr"], values["end_lr"], values["num_updates"])
    except ValueError as exc:
        raise HarnessError(f"find-lr: {exc}") from None
    return values, rest


def planned_updates(epochs: float, num_updates: int | None, per_epoch: int) -> int:
    """The test's length: ``num_updates`` when given, else ``epochs`` epochs' worth of batches."""
    if num_updates is not None:
        return num_updates
    planned = round(epochs * per_epoch)
    if planned < lr_finder.MIN_UPDATES:
        raise HarnessError(f"find-lr: find_lr.epochs={epochs:g} is {planned} updates of {per_epoch} per epoch; "
                           f"the test needs at least {lr_finder.MIN_UPDATES}: raise find_lr.epochs")
    return planned


def test_name(cfg, start_lr: float, end_lr: float, num_updates: int) -> str:
    from harness.identity import run_id

    key = json.dumps({"run": run_id(cfg), "start_lr": start_lr, "end_lr": end_lr, "num_updates": num_updates})
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return f"{cfg.framework.name}-{cfg.optimizer.name}-b{cfg.batch_size}-s{cfg.seed}-{digest}"


def run_range_test(cfg, start_lr: float, end_lr: float, num_updates: int | None = None,
                   epochs: float = lr_finder.TEST_EPOCHS) -> RangeTest:
    from harness.optimizers import USUAL_LR
    from harness.results import ensure_writable
    from harness.runner import _set_up, batch_order, steps_per_epoch

    setup = _set_up(cfg)  # data, adapter and the run's initial weights; bad input fails here
    adapter, n = setup.adapter, len(setup.data.train_y)
    per_epoch = steps_per_epoch(n, cfg.batch_size)
    num_updates = planned_updates(epochs, num_updates, per_epoch)
    folder = Path(cfg.results_dir) / FOLDER / test_name(cfg, start_lr, end_lr, num_updates)
    ensure_writable(Path(cfg.results_dir))
    rates = lr_finder.exponential_rates(start_lr, end_lr, num_updates)
    smoother = lr_finder.Smoother()
    rows, order = [], None
    for update, lr in enumerate(rates):
        epoch, batch = divmod(update, per_epoch)
        if batch == 0:
            order = batch_order(cfg.seed, epoch, n)
        idx = order[batch * cfg.batch_size : (batch + 1) * cfg.batch_size]
        loss = adapter.train_epoch(idx, len(idx), [float(lr)]).loss  # one update, the run's batch
        smoothed = smoother.add(loss)
        rows.append({"update": update, "epoch": epoch, "lr": float(lr), "loss": float(loss),
                     "smoothed_loss": float(smoothed), "stopped": smoother.stopped})
        if smoother.stopped:
            break
    identity = {"framework": cfg.framework.name, "framework_version": adapter.framework_version,
                "device": adapter.device, "model": setup.spec.name, "optimizer": cfg.optimizer.name,
                "momentum": float(cfg.optimizer.momentum), "batch_size": cfg.batch_size, "seed": cfg.seed,
                "train_size": n, "num_classes": setup.spec.num_classes, "start_lr": start_lr, "end_lr": end_lr,
                "num_updates": num_updates, "test_epochs": num_updates / per_epoch,
                "adaptive": cfg.optimizer.name in USUAL_LR, "stop": smoother.stop}
    for row in rows:
        row.update(identity)
    return judge(folder, rows)


def judge(folder: Path, rows: list[dict]) -> RangeTest:
    """The recommendation for recorded rows (a fresh test, or one read back), written onto them."""
    first = rows[0]
    stopped = bool(rows[-1]["stopped"])
    # Range tests written before these columns existed were all of the 10-class LeNet.
    num_classes = int(first.get("num_classes") or 10)
    adaptive = first.get("adaptive")
    if adaptive is None:  # written before the column existed
        from harness.optimizers import USUAL_LR

        adaptive = first.get("optimizer") in USUAL_LR
    recommendation = lr_finder.recommend(
        [r["lr"] for r in rows], [r["smoothed_loss"] for r in rows], stopped,
        num_updates=int(first["num_updates"]), losses=[r["loss"] for r in rows], num_classes=num_classes,
        adaptive=bool(adaptive),
    )
    picked = {f"suggested_{rule}": (s.lr if s else None) for rule, s in recommendation.suggestions.items()}
    collapse = recommendation.collapse
    stop = lr_finder.OLD_STOPS.get(first.get("stop"), first.get("stop")) if stopped else None
    if stopped and stop is None:  # written before the column existed
        stop = lr_finder.NOT_FINITE if not np.isfinite(rows[-1]["smoothed_loss"]) else lr_finder.above()
    for row in rows:
        row.update(picked, collapse_lr=collapse.lr if collapse else None, recommended_lr=recommendation.lr,
                   recommended_rule=recommendation.rule, edge_lr=recommendation.edge, stop=stop)
    return RangeTest(folder.name, folder, rows, recommendation, stopped, stop)


def read(folder: Path) -> RangeTest:
    """A range test read back from its folder (``range_test.parquet``, or ``range_test.pq`` as
    written before) and judged by today's rules."""
    import pyarrow.parquet as pq

    folder = Path(folder)
    for name in (TABLE, OLD_TABLE):
        if (folder / name).is_file():
            rows = pq.read_table(folder / name).to_pylist()
            if rows:
                return judge(folder, rows)
            raise HarnessError(f"{folder / name} holds no updates; rerun find-lr")
    raise HarnessError(f"no range test in {folder} (looked for {TABLE} and {OLD_TABLE}); run find-lr")


def write(test: RangeTest) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from harness.results import atomic_write_bytes

    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pylist(test.rows), sink)
    atomic_write_bytes(test.folder / TABLE, sink.getvalue().to_pybytes())
    atomic_write_bytes(test.folder / FIGURE, figure_png(test))
    # The same test (same folder name) written before under the old name: superseded, and a
    # reader would otherwise have two answers to choose from.
    (test.folder / OLD_TABLE).unlink(missing_ok=True)


RULE_STYLE = {"steep": ("v", "tab:orange"), "minimum": ("s", "tab:green"), "valley": ("o", "tab:red"),
              "slide": ("D", "tab:brown"), "first_rise": ("^", "tab:purple")}


LABEL = lr_finder.LABEL


def figure_png(test: RangeTest) -> bytes:
    """The raw and smoothed loss against the rate, each rule's suggestion on it, the window the
    rules read (outside it greyed), chance, and a collapse with the range it advises."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lrs = np.array([r["lr"] for r in test.rows])
    raw = np.array([r["loss"] for r in test.rows], dtype=np.float64)
    smoothed = np.array([r["smoothed_loss"] for r in test.rows], dtype=np.float64)
    first, rec = test.rows[0], test.recommendation
    fig, ax = plt.subplots(figsize=(8, 4.8), dpi=120)
    ax.plot(lrs, raw, color="0.7", linewidth=1, label="loss (raw)")
    ax.plot(lrs, smoothed, color="tab:blue", linewidth=2, label="loss (smoothed, EMA 0.98)")
    lo, hi = rec.window
    if lo > 0:
        ax.axvspan(lrs[0], lrs[min(lo, len(lrs) - 1)], color="0.5", alpha=0.12, linewidth=0)
    if hi < len(lrs):
        ax.axvspan(lrs[max(hi, 0)], lrs[-1], color="0.5", alpha=0.12, linewidth=0,
                   label="not read by the rules")
    chance = rec.collapse.chance if rec.collapse else float(np.log(int(first.get("num_classes") or 10)))
    ax.axhline(chance, color="0.35", linestyle="--", linewidth=0.8, label=f"chance: ln {int(first.get('num_classes') or 10)} = {chance:.2f}")
    if rec.collapse is not None:
        ax.axvline(rec.collapse.lr, color="black", linestyle="-.", linewidth=1.2,
                   label=f"died (back at chance for good): {rec.collapse.lr:.3g}")
    if rec.lr is not None:
        ax.plot([rec.lr], [float(np.interp(np.log(rec.lr), np.log(lrs), smoothed))], marker="*", color="tab:red",
                markersize=14, linestyle="none", label=f"{rec.rule} (recommended): {rec.lr:.3g}")
    # Drawn largest first, so that two rules at the same rate both stay visible.
    for size, (rule, s) in zip((12, 10.5, 9, 7, 7), rec.suggestions.items()):
        if s is None:
            continue
        marker, colour = RULE_STYLE[rule]
        star = " (recommended)" if LABEL.get(rule, rule) == rec.rule else ""
        ax.axvline(s.lr, color=colour, linestyle=":", linewidth=1)
        y = float(np.interp(np.log(s.lr), np.log(lrs), smoothed))
        ax.plot([s.lr], [y], marker=marker, color=colour, markersize=size, linestyle="none",
                markeredgecolor="black", markeredgewidth=0.5, label=f"{LABEL.get(rule, rule)}{star}: {s.lr:.3g}")
    ax.set_xscale("log")
    finite = np.concatenate([raw[np.isfinite(raw)], smoothed[np.isfinite(smoothed)]])
    if len(finite):
        best = float(smoothed[np.isfinite(smoothed)].min()) if np.isfinite(smoothed).any() else float(finite.min())
        top = max(min(float(finite.max()), 4 * best, 1.5 * float(finite[0])), float(finite[0]), chance)
        ax.set_ylim(0.9 * float(finite.min()), top * 1.05)
    if test.stopped:
        ax.axvline(lrs[-1], color="black", linewidth=1, alpha=0.5)
        ax.annotate(f"stopped ({test.stop})", (lrs[-1], 0.02), xycoords=("data", "axes fraction"), fontsize=8,
                    ha="right", rotation=90, va="bottom")
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("training loss")
    ax.set_title(f"LR range test: {first['framework']} {first['model']} {first['optimizer']}, batch {first['batch_size']}, "
                 f"{len(test.rows)} of {first['num_updates']} updates ({'stopped: ' + test.stop if test.stopped else 'full range'})",
                 fontsize=9)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight", facecolor="white", metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def summary_line(test: RangeTest) -> str:
    """One line: what ran, how it ended (the parquet's ``stop``, word for word), the recommended
    rate and every rule's rate, each named as the rate it suggests (``minimum/10``, not the minimum)."""
    first, rec = test.rows[0], test.recommendation
    last = test.rows[-1]
    length = f"{first['num_updates']} updates"
    if first.get("test_epochs"):
        length += f", {first['test_epochs']:.3g} epochs"
    how = (f"stopped at lr {last['lr']:.3g} after {len(test.rows)} of {length} ({test.stop})"
           if test.stopped else f"all {length}, up to lr {last['lr']:.3g}")
    rules = ", ".join(f"{LABEL.get(rule, rule)} {s.lr:.3g}" if s else f"{LABEL.get(rule, rule)} -"
                      for rule, s in rec.suggestions.items())
    if rec.collapse is not None:
        rules += f"; died at {rec.collapse.lr:.3g}"
    said = f"suggests lr {rec.lr:.3g} ({rec.rule})" if rec.lr is not None else "no suggestion"
    return (f"harness: find-lr: {first['framework']} {first['model']} {first['optimizer']} batch {first['batch_size']}, "
            f"{how}; {said}; rules: {rules}; in {test.folder}/")


def main(args: list[str]) -> int:
    from harness.errors import fail
    from harness.preflight import preflight

    if any(a in ("-h", "--help") for a in args):
        print(USAGE, end="")
        return 0
    if any(a in ("-m", "--multirun") for a in args):
        fail("find-lr runs one range test; drop -m")
    try:
        values, rest = split_args(args)
        configs = preflight(rest)
        test = run_range_test(configs[0], **values)
        write(test)
    except HarnessError as exc:
        fail(str(exc))
    print(summary_line(test))
    print(f"harness: note: {test.recommendation.reason}", file=sys.stderr)
    return 0
