"""The report's figures (matplotlib, Agg backend, PNG). One colour per schedule everywhere."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

# Okabe-Ito, a palette that stays distinct for colour-blind readers; fixed per schedule so a
# schedule has the same colour in every plot of every protocol.
SCHEDULE_COLOURS = {
    "constant": "#000000",
    "sqrt": "#E69F00",
    "factor": "#56B4E9",
    "multifactor": "#009E73",
    "cosine": "#0072B2",
    "warmup": "#D55E00",
}
_SPARE_COLOURS = ["#CC79A7", "#F0E442", "#999999", "#8C564B", "#17BECF"]
PUBLISHED_STYLE = dict(marker="D", s=46, facecolor="white", edgecolor="#444444", linewidth=1.4, zorder=5)
DPI = 110
PANEL_WIDTH = 4.0  # inches per framework: three panels fit the page's 1160 px column at DPI

plt.rcParams.update(
    {
        "font.size": 11,
        "axes.titlesize": 12,
        "axes.labelsize": 11,
        "legend.fontsize": 10,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "grid.color": "#e3e3e3",
        "grid.linewidth": 0.8,
        "figure.dpi": DPI,
        "savefig.dpi": DPI,
        "savefig.bbox": "tight",
    }
)


def colour(scheduler: str, order: list[str]) -> str:
    if scheduler in SCHEDULE_COLOURS:
        return SCHEDULE_COLOURS[scheduler]
    extras = [s for s in order if s not in SCHEDULE_COLOURS]
    return _SPARE_COLOURS[extras.index(scheduler) % len(_SPARE_COLOURS)] if scheduler in extras else "#999999"


def _save(fig, path: Path) -> None:
    fig.savefig(path, format="png", facecolor="white")
    plt.close(fig)


def _finish_with_legend(fig, handles, labels) -> None:
    """Lay the axes out above a legend that fits the figure's width (in as few rows as needed)."""
    width = fig.get_figwidth()
    item = [0.75 + 0.075 * len(label) for label in labels]  # inches: marker + text at legend.fontsize
    ncol = len(labels)
    while ncol > 1 and max(sum(item[i:i + ncol]) for i in range(0, len(item), ncol)) > width - 0.3:
        ncol -= 1
    rows = math.ceil(len(labels) / ncol)
    ncol = math.ceil(len(labels) / rows)  # balanced rows: 4 + 3, not 6 + 1
    fig.tight_layout(rect=(0, (0.2 + 0.25 * rows) / fig.get_figheight(), 1, 1))
    fig.legend(handles, labels, loc="lower center", ncol=ncol, frameon=False, bbox_to_anchor=(0.5, 0.0))


def plot_learning_rates(sequences: dict[str, dict[str, np.ndarray]], steps_per_epoch: dict[str, int],
                        fw_labels: dict[str, str], schedules: list[str], title: str, path: Path) -> None:
    """One column per framework key (a key may name several frameworks that share sequences).
    Top row: linear axes against epochs, every update drawn. Bottom row: both axes logarithmic
    against the update count, so that what happens within the first epoch (per-update
    schedules) and small final rates (0.01 vs 0.001) are visible too."""
    keys = list(sequences)
    if len(keys) == 1:  # one panel pair: side by side
        fig, grid = plt.subplots(1, 2, figsize=(10.0, 3.9), squeeze=False)
        pairs = [(grid[0][0], grid[0][1])]
    else:
        fig, grid = plt.subplots(2, len(keys), figsize=(PANEL_WIDTH * len(keys) + 0.8, 6.6), sharey="row",
                                 squeeze=False)
        pairs = [(grid[0][c], grid[1][c]) for c in range(len(keys))]
    handles = {}
    for (top, bottom), key in zip(pairs, keys):
        spe = steps_per_epoch[key]
        for sched in schedules:
            lrs = sequences[key].get(sched)
            if lrs is None:
                continue
            colr = colour(sched, schedules)
            updates = np.arange(lrs.size)
            (line,) = top.plot(updates / spe, lrs, color=colr, lw=1.8, alpha=0.9, drawstyle="steps-post")
            handles[sched] = line
            positive = lrs > 0  # a rate of 0 (a warmup's first update) has no logarithm
            bottom.plot(updates[positive] + 1, lrs[positive], color=colr, lw=1.8, alpha=0.9, drawstyle="steps-post")
        top.set_title(fw_labels[key] if len(keys) > 1 else "linear")
        if len(keys) == 1:
            bottom.set_title("log–log: the first updates and small rates")
        top.set_xlabel("epoch")
        top.set_xlim(left=0)
        top.set_ylim(bottom=0)
        bottom.set_xscale("log")
        bottom.set_yscale("log")
        bottom.set_xlabel("update (log scale; 1 = first)")
        bottom.axvline(spe + 1, color="#999999", lw=1, ls=":")
        bottom.text(spe + 1, 0.03, " end of epoch 1", transform=bottom.get_xaxis_transform(), va="bottom",
                    ha="left", fontsize=9, color="#777777")
    pairs[0][0].set_ylabel("learning rate")
    pairs[0][1].set_ylabel("learning rate (log)")
    if len(keys) == 1:
        title = f"{title} ({fw_labels[keys[0]]})"
    fig.suptitle(title, x=0.01, ha="left", fontsize=13)
    ordered = [s for s in schedules if s in handles]
    _finish_with_legend(fig, [handles[s] for s in ordered], ordered)
    _save(fig, path)


def _accuracy_limits(values: list[np.ndarray]) -> tuple[float, float] | None:
    vals = np.concatenate([v[np.isfinite(v)] for v in values]) if values else np.array([])
    if vals.size == 0:
        return None
    lo, hi = float(np.min(vals)), float(np.max(vals))
    pad = max(0.01, 0.06 * (hi - lo))
    return max(0.0, lo - pad), min(1.0, hi + pad)


def plot_curves(curves: pd.DataFrame, loose: pd.DataFrame, frameworks: list[str], fw_labels: dict[str, str],
                schedules: list[str], off_scale: set[tuple[str, str]], title: str, path: Path) -> None:
    """Rows: train loss, train accuracy, test accuracy; one column per framework; schedules overlaid.

    ``curves`` has columns framework, scheduler, metric, epoch, mean, lo, hi (complete runs);
    ``loose`` has framework, scheduler, run_id, status, metric, epoch, value (running and
    diverged runs, drawn thin and dashed; "never learned" runs, dotted). ``off_scale`` cells (at chance) are left out of
    the accuracy axes' limits so they do not flatten the differences between the others.
    """
    metrics = [("train_loss", "train loss (log)"), ("train_acc", "train accuracy"), ("test_acc", "test accuracy")]
    fig, axes = plt.subplots(3, len(frameworks), figsize=(PANEL_WIDTH * len(frameworks) + 0.8, 9.6), sharex=True,
                             sharey="row", squeeze=False)
    handles = {}
    ends = []  # where each incomplete run stops: marked once the axes' limits are known
    for r, (metric, label) in enumerate(metrics):
        limit_values = []
        for c, fw in enumerate(frameworks):
            ax = axes[r][c]
            for sched in schedules:
                colr = colour(sched, schedules)
                g = curves[(curves.framework == fw) & (curves.scheduler == sched) & (curves.metric == metric)]
                if not g.empty:
                    x = g.epoch.to_numpy() + 1
                    ax.fill_between(x, g.lo, g.hi, color=colr, alpha=0.18, lw=0)
                    (line,) = ax.plot(x, g["mean"], color=colr, lw=1.8)
                    handles.setdefault(sched, line)
                    if metric != "train_loss" and (fw, sched) not in off_scale:
                        # the first tenth of training is far below the rest (a warmup most of
                        # all): zoom the accuracy axes on where schedules differ
                        skip = min(len(g) - 1, max(1, round(0.1 * len(g))))
                        limit_values.append(g["mean"].to_numpy()[skip:])
                lg = loose[(loose.framework == fw) & (loose.scheduler == sched) & (loose.metric == metric)]
                for _, run in lg.groupby("run_id"):
                    dead = run.status.iloc[0] == "never learned"
                    ax.plot(run.epoch + 1, run.value, color=colr, lw=1.1, ls=":" if dead else "--", alpha=0.8)
                    if not dead:  # a finished run needs no marker for where it stopped
                        last = run.iloc[-1]
                        ends.append((ax, last.epoch + 1, last.value, last.status, colr, metric))
            if metric == "train_loss":
                ax.set_yscale("log")
            if r == 0:
                ax.set_title(fw_labels[fw])
            if r == 2:
                ax.set_xlabel("epoch")
            if c == 0:
                ax.set_ylabel(label)
        if metric != "train_loss":
            lim = _accuracy_limits(limit_values)
            if lim:
                axes[r][0].set_ylim(*lim)
                axes[r][0].yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(nbins=6, steps=[1, 2, 5, 10]))
                axes[r][0].yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
    for ax in axes.flat:
        ax.set_xlim(left=1)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    for ax, x, y, status, colr, metric in ends:
        # a diverged run's last loss is not finite and its accuracy is usually below the zoomed
        # axis: pin the marker to the edge so the reader still sees where it stopped
        lo, hi = ax.get_ylim()
        if not np.isfinite(y):
            y = hi if metric == "train_loss" else lo
        ax.plot(x, min(max(y, lo), hi), marker="x" if status == "diverged" else ">", color=colr, ms=8, mew=2,
                ls="none", clip_on=False, zorder=6)
    fig.suptitle(title, x=0.01, ha="left", fontsize=13)
    ordered = [s for s in schedules if s in handles]
    extra_h, extra_l = [], []
    if (loose.status != "never learned").any():
        extra_h += [plt.Line2D([], [], color="#555555", ls="--", lw=1.1)]
        extra_l += ["one run each: incomplete (▶ its latest epoch) or diverged (✕)"]
    if (loose.status == "never learned").any():
        extra_h += [plt.Line2D([], [], color="#555555", ls=":", lw=1.1)]
        extra_l += ["one run each: never learned (others of its schedule did)"]
    _finish_with_legend(fig, [handles[s] for s in ordered] + extra_h, ordered + extra_l)
    _save(fig, path)


def plot_final_accuracy(cells: list[dict], frameworks: list[str], fw_labels: dict[str, str],
                        schedules: list[str], title: str, path: Path) -> None:
    """Final test accuracy per schedule (rows) and framework (panels): seeds as small dots,
    the mean with its 95% t interval, and the published d2l figure as an open diamond.

    Each cell dict: framework, scheduler, seeds (list of final accuracies of complete runs),
    mean, low, high (None without an interval), published (float or None), label (text shown
    when there is no mean: 'missing', 'diverged', 'incomplete'), n_at_chance and learned_seeds
    (a cell whose seeds partly stayed at chance shows the learned seeds and its mean as text)."""
    rows = list(reversed(schedules))
    fig, axes = plt.subplots(1, len(frameworks), figsize=(max(8.0, PANEL_WIDTH * len(frameworks) + 0.8), 0.55 * len(rows) + 2.1),
                             sharey=True, sharex=True, squeeze=False)
    on_scale = []
    for cell in cells:
        if cell["mean"] is not None and not cell["off_scale"] and not cell.get("n_at_chance"):
            on_scale += [cell["low"] if cell["low"] is not None else cell["mean"],
                         cell["high"] if cell["high"] is not None else cell["mean"], *cell["seeds"]]
        elif cell.get("n_at_chance"):
            # seeds that learned set the scale; a mean dragged down by dead seeds would flatten it
            on_scale += cell["learned_seeds"]
        if cell["published"] is not None:
            on_scale.append(cell["published"])
    lo, hi = (min(on_scale), max(on_scale)) if on_scale else (0.0, 1.0)
    pad = max(0.004, 0.08 * (hi - lo))
    lo, hi = lo - pad, hi + pad
    by_key = {(c["framework"], c["scheduler"]): c for c in cells}
    for ax, fw in zip(axes[0], frameworks):
        for y, sched in enumerate(rows):
            cell = by_key.get((fw, sched))
            colr = colour(sched, schedules)
            if cell is None:
                continue
            if cell["published"] is not None:
                ax.scatter([cell["published"]], [y - 0.22], **PUBLISHED_STYLE)
            if cell["mean"] is None:
                ax.text(0.5, y, cell["label"], transform=ax.get_yaxis_transform(), ha="center", va="center",
                        color="#777777", fontsize=10, style="italic")
                continue
            if cell["off_scale"]:
                ax.annotate(f"◀ {cell['mean']:.1%} (chance)", xy=(0.01, y), xycoords=("axes fraction", "data"), va="center",
                            ha="left", color=colr, fontsize=10)
                continue
            if cell.get("n_at_chance"):
                learned = np.asarray(cell["learned_seeds"], dtype=float)
                ax.scatter(learned, np.full(learned.size, y + 0.16), s=14, color=colr, alpha=0.55, lw=0, zorder=3)
                ax.annotate(f"◀ {cell['n_at_chance']} of {len(cell['seeds'])} seeds at chance\n    (mean {cell['mean']:.1%})",
                            xy=(0.01, y - 0.05), xycoords=("axes fraction", "data"), va="center", ha="left",
                            color=colr, fontsize=9)
                continue
            seeds = np.asarray(cell["seeds"], dtype=float)
            if seeds.size > 1:
                ax.scatter(seeds, np.full(seeds.size, y + 0.16), s=14, color=colr, alpha=0.55, lw=0, zorder=3)
            if cell["low"] is not None:
                ax.errorbar([cell["mean"]], [y], xerr=[[cell["mean"] - cell["low"]], [cell["high"] - cell["mean"]]],
                            fmt="o", color=colr, ms=7, capsize=4, lw=2, zorder=4)
            else:
                ax.plot([cell["mean"]], [y], "o", color=colr, ms=7, mfc="white", mew=2, zorder=4)
        ax.set_title(fw_labels[fw])
        ax.set_xlim(lo, hi)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(nbins=5, steps=[1, 2, 5, 10]))
        ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=1 if hi - lo < 0.04 else 0))
        ax.set_xlabel("final test accuracy")
        ax.grid(axis="y", visible=False)
    axes[0][0].set_yticks(range(len(rows)), rows)
    axes[0][0].set_ylim(-0.6, len(rows) - 0.4)
    for tick, sched in zip(axes[0][0].get_yticklabels(), rows):
        tick.set_color(colour(sched, schedules))
        tick.set_fontweight("bold")
    fig.suptitle(title, x=0.01, ha="left", fontsize=13)
    legend = [
        plt.Line2D([], [], color="#555555", marker="o", lw=2, ms=7),
        plt.Line2D([], [], color="#555555", marker="o", lw=0, ms=4, alpha=0.55),
        plt.Line2D([], [], color="#555555", marker="o", lw=0, ms=7, mfc="white", mew=2),
        plt.Line2D([], [], color="#444444", marker="D", lw=0, ms=7, mfc="white", mew=1.4),
    ]
    _finish_with_legend(fig, legend, ["mean, 95% t interval over seeds", "one seed", "single seed (no interval)",
                                "published d2l figure"])
    _save(fig, path)
