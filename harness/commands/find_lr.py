"""``python -m harness find-lr [find_lr.KEY=VALUE ...] [any run override]``: the LR range test.

The runner's pieces with an exponential rate plan instead of a schedule: the run's data, model,
optimizer, batch size and initial weights (``harness.runner._set_up``), its training batches in
its batch order (``batch_order(seed, epoch)``), one update per rate from ``find_lr.start_lr`` to
``find_lr.end_lr`` over ``find_lr.num_updates`` (fastai's defaults: 1e-7 to 10 over 100). The
arithmetic (smoothing, stop rule, the four rules) is ``harness.lr_finder``.

It writes ``<results_dir>/_find_lr/<name>/range_test.pq`` (one row per update) and
``range_test.png`` and prints one line. The leading underscore keeps the folder away from
pyarrow's and pandas' readers of ``results_dir`` and from the run-skipping logic (which only
looks at run directories by name); the table is named ``.pq``, not ``.parquet``, so that DuckDB's
``read_parquet('results/**/*.parquet')`` does not read it as a run either. No checkpoint, lock or
run directory is written: a following run finds nothing of it.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness import lr_finder
from harness.errors import HarnessError

PREFIX = "find_lr."
KEYS = {"start_lr": float, "end_lr": float, "num_updates": int}
DEFAULTS = {"start_lr": lr_finder.START_LR, "end_lr": lr_finder.END_LR, "num_updates": lr_finder.NUM_UPDATES}
FOLDER = "_find_lr"
TABLE, FIGURE = "range_test.pq", "range_test.png"
USAGE = """usage: python -m harness find-lr [find_lr.start_lr=1e-7] [find_lr.end_lr=10] [find_lr.num_updates=100] [KEY=VALUE ...]

The learning-rate range test: from the run's initial weights, one update per rate, the rate
growing exponentially from start_lr to end_lr; stops once the smoothed loss passes 4x its best.
Any run override applies (framework=tf, batch_size=128, optimizer.momentum=0.9, data.train_size=...).
Writes <results_dir>/_find_lr/<name>/range_test.pq and range_test.png; prints one line.
"""


@dataclass
class RangeTest:
    name: str
    folder: Path
    rows: list[dict]
    recommendation: lr_finder.Recommendation
    stopped: bool


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
            raise HarnessError(f"find_lr.{key}={text!r} is not a {KEYS[key].__name__}") from None
    try:
        lr_finder.check_range(values["start_lr"], values["end_lr"], values["num_updates"])
    except ValueError as exc:
        raise HarnessError(f"find-lr: {exc}") from None
    return values, rest


def test_name(cfg, start_lr: float, end_lr: float, num_updates: int) -> str:
    from harness.identity import run_id

    key = json.dumps({"run": run_id(cfg), "start_lr": start_lr, "end_lr": end_lr, "num_updates": num_updates})
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return f"{cfg.framework.name}-{cfg.optimizer.name}-b{cfg.batch_size}-s{cfg.seed}-{digest}"


def run_range_test(cfg, start_lr: float, end_lr: float, num_updates: int) -> RangeTest:
    from harness.results import ensure_writable
    from harness.runner import _set_up, batch_order, steps_per_epoch

    setup = _set_up(cfg)  # data, adapter and the run's initial weights; bad input fails here
    folder = Path(cfg.results_dir) / FOLDER / test_name(cfg, start_lr, end_lr, num_updates)
    ensure_writable(Path(cfg.results_dir))
    adapter, n = setup.adapter, len(setup.data.train_y)
    per_epoch = steps_per_epoch(n, cfg.batch_size)
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
    lrs = np.array([r["lr"] for r in rows])
    recommendation = lr_finder.recommend(lrs, np.array([r["smoothed_loss"] for r in rows]), smoother.stopped)
    identity = {"framework": cfg.framework.name, "framework_version": adapter.framework_version,
                "device": adapter.device, "model": setup.spec.name, "optimizer": cfg.optimizer.name,
                "momentum": float(cfg.optimizer.momentum), "batch_size": cfg.batch_size, "seed": cfg.seed,
                "train_size": n, "start_lr": start_lr, "end_lr": end_lr, "num_updates": num_updates}
    picked = {f"suggested_{rule}": (s.lr if s else None) for rule, s in recommendation.suggestions.items()}
    for row in rows:
        row.update(identity, **picked, recommended_lr=recommendation.lr, recommended_rule=recommendation.rule)
    return RangeTest(folder.name, folder, rows, recommendation, smoother.stopped)


def write(test: RangeTest) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from harness.results import atomic_write_bytes

    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pylist(test.rows), sink)
    atomic_write_bytes(test.folder / TABLE, sink.getvalue().to_pybytes())
    atomic_write_bytes(test.folder / FIGURE, figure_png(test))


RULE_STYLE = {"steep": ("v", "tab:orange"), "minimum": ("s", "tab:green"), "valley": ("o", "tab:red"),
              "first_rise": ("^", "tab:purple")}


def figure_png(test: RangeTest) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lrs = np.array([r["lr"] for r in test.rows])
    raw = np.array([r["loss"] for r in test.rows])
    smoothed = np.array([r["smoothed_loss"] for r in test.rows])
    first = test.rows[0]
    fig, ax = plt.subplots(figsize=(7.5, 4.5), dpi=120)
    ax.plot(lrs, raw, color="0.75", linewidth=1, label="loss (raw)")
    ax.plot(lrs, smoothed, color="tab:blue", linewidth=2, label="loss (smoothed, EMA 0.98)")
    for rule, s in test.recommendation.suggestions.items():
        if s is None:
            continue
        marker, colour = RULE_STYLE[rule]
        star = " (recommended)" if rule == test.recommendation.rule else ""
        ax.axvline(s.lr, color=colour, linestyle=":", linewidth=1)
        y = float(np.interp(np.log(s.lr), np.log(lrs), smoothed))
        label = {"minimum": "minimum/10", "first_rise": "first rise"}.get(rule, rule)
        ax.plot([s.lr], [y], marker=marker, color=colour, markersize=9 if star else 7, linestyle="none",
                label=f"{label}{star}: {s.lr:.3g}")
    ax.set_xscale("log")
    finite = np.concatenate([raw[np.isfinite(raw)], smoothed[np.isfinite(smoothed)]])
    if len(finite):
        best = float(np.nanmin(smoothed[np.isfinite(smoothed)])) if np.isfinite(smoothed).any() else float(finite.min())
        top = max(min(float(finite.max()), 4 * best, 1.5 * float(finite[0])), float(finite[0]))
        ax.set_ylim(0.9 * float(finite.min()), top * 1.05)
    if test.stopped:
        ax.axvline(lrs[-1], color="black", linewidth=1, alpha=0.5)
        ax.annotate("stopped", (lrs[-1], 0.02), xycoords=("data", "axes fraction"), fontsize=8, ha="right",
                    rotation=90, va="bottom")
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("training loss")
    ended = "stopped early: smoothed loss above 4x its best" if test.stopped else "full range"
    ax.set_title(f"LR range test: {first['framework']} {first['model']} {first['optimizer']}, batch {first['batch_size']}, "
                 f"{len(test.rows)} of {first['num_updates']} updates ({ended})", fontsize=9)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight", facecolor="white")
    plt.close(fig)
    return buffer.getvalue()


def summary_line(test: RangeTest) -> str:
    first, rec = test.rows[0], test.recommendation
    last = test.rows[-1]
    how = (f"stopped at lr {last['lr']:.3g} after {len(test.rows)} of {first['num_updates']} updates"
           if test.stopped else f"all {len(test.rows)} updates, up to lr {last['lr']:.3g}")
    rules = ", ".join(f"{rule} {s.lr:.3g}" if s else f"{rule} -" for rule, s in rec.suggestions.items())
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
    if test.recommendation.lr is None or "raise end_lr" in test.recommendation.reason:
        print(f"harness: note: {test.recommendation.reason}", file=sys.stderr)
    return 0
