"""The report's learning-rate figures: every update's rate, read from the runs' ``step_lrs``,
overlaid per framework (a few series) or as small multiples by schedule family (many)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import numpy as np

from harness.report.plotting import PANEL_WIDTH, family_grid, finish_with_legend, plt, row_legend, save
from harness.report.style import Style

PANEL_HEIGHT = 2.3  # inches: a learning-rate panel is as tall as a training-curve panel (9.6 / 3 rows, less titles)
LEGEND_LINE = 0.24  # inches per legend entry at 9 pt, with its spacing


def _first_epoch_updates(epochs: dict[str, np.ndarray], shown: list[str]) -> int | None:
    """Updates in the first epoch when every shown series has the same number, else None (no
    single "end of epoch 1" line fits them all)."""
    counts = {int(np.sum(epochs[k] < 1)) for k in shown if k in epochs}
    return counts.pop() if len(counts) == 1 else None


def _labels(sequences: dict[str, dict[str, np.ndarray]], names: list[str]) -> dict[str, str]:
    """Legend labels: a series whose rates equal an earlier one's in every framework that ran both is
    drawn exactly under it, so its label says so ("wsd (= step)") rather than leave it to look missing."""
    labels = {}
    for i, name in enumerate(names):
        twins = [earlier for earlier in names[:i]
                 if all(np.array_equal(rates[name], rates[earlier]) for rates in sequences.values()
                        if name in rates and earlier in rates)
                 and any(name in rates and earlier in rates for rates in sequences.values())]
        labels[name] = f"{name} (= {twins[0]})" if twins else name
    return labels


def plot_learning_rates(sequences: dict[str, dict[str, np.ndarray]], epochs: dict[str, dict[str, np.ndarray]],
                        fw_labels: dict[str, str], schedules: list[str], styles: dict[str, Style], title: str,
                        path: Path) -> None:
    """One column per framework key (a key may name several frameworks that share sequences).
    Top row: linear axes against epochs (``epochs[key][series]``: each update's place, from its
    own run's updates per epoch), every update drawn. Bottom row: both axes logarithmic against
    the update count, so that what happens within the first epoch (per-update schedules) and
    small final rates (0.01 vs 0.001) are visible too."""
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
        spe = _first_epoch_updates(epochs[key], schedules)
        for sched in schedules:
            lrs = sequences[key].get(sched)
            if lrs is None:
                continue
            st = styles[sched]
            updates = np.arange(lrs.size)
            (line,) = top.plot(epochs[key][sched], lrs, color=st.colour, ls=st.dash, lw=1.8, alpha=0.9,
                               drawstyle="steps-post")
            handles[sched] = line
            positive = lrs > 0  # a rate of 0 (a warmup's first update) has no logarithm
            bottom.plot(updates[positive] + 1, lrs[positive], color=st.colour, ls=st.dash, lw=1.8, alpha=0.9,
                        drawstyle="steps-post")
        top.set_title(fw_labels[key] if len(keys) > 1 else "linear")
        if len(keys) == 1:
            bottom.set_title("log–log: the first updates and small rates")
        top.set_xlabel("epoch")
        top.set_xlim(0, _last_epoch(epochs[key], schedules))
        top.set_ylim(bottom=0)
        top.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        bottom.set_xscale("log")
        bottom.set_yscale("log")
        _readable_log_rates(bottom, [sequences[key][k] for k in schedules if k in sequences[key]])
        bottom.set_xlabel("update (log scale; 1 = first)")
        if spe:
            bottom.axvline(spe + 1, color="#999999", lw=1, ls=":")
            bottom.text(spe + 1, 0.03, " end of epoch 1", transform=bottom.get_xaxis_transform(), va="bottom",
                        ha="left", fontsize=9, color="#777777")
    pairs[0][0].set_ylabel("learning rate")
    pairs[0][1].set_ylabel("learning rate (log)")
    if len(keys) == 1:
        title = f"{title} ({fw_labels[keys[0]]})"
    fig.suptitle(title, x=0.01, ha="left", fontsize=13)
    ordered = [s for s in schedules if s in handles]
    labels = _labels(sequences, ordered)
    finish_with_legend(fig, [handles[s] for s in ordered], [labels[s] for s in ordered])
    save(fig, path)


def plot_learning_rates_by_family(sequences, epochs, fw_labels, groups: list[tuple[str, list[str]]],
                                  styles: dict[str, Style], title: str, path: Path) -> None:
    """Small multiples, linear axes, each panel on its own scale (a family's peak rates differ):
    one panel per family in rows of three, each with its legend below it, when every framework
    ran the same rates; else one row per family and one column per framework."""
    keys = list(sequences)
    legend_axes = {}
    if len(keys) == 1:
        # a grid row of panels, then a row as tall as its longest legend: every panel keeps its
        # height however many series a family has, and no legend covers the panel below it
        ncols = min(3, len(groups))
        nrows = math.ceil(len(groups) / ncols)
        longest = [max(len(m) for _, m in groups[r * ncols:(r + 1) * ncols]) for r in range(nrows)]
        heights = [h for n in longest for h in (PANEL_HEIGHT, 0.65 + LEGEND_LINE * n)]
        fig = plt.figure(figsize=(PANEL_WIDTH * ncols + 0.8, sum(heights) + 0.6))
        grid = fig.add_gridspec(2 * nrows, ncols, height_ratios=heights, hspace=0.05)
        cells = []
        for i, (fam, members) in enumerate(groups):
            r, c = divmod(i, ncols)
            ax = fig.add_subplot(grid[2 * r, c])
            legend_axes[fam] = (fig.add_subplot(grid[2 * r + 1, c]), heights[2 * r + 1])
            legend_axes[fam][0].axis("off")
            cells.append((ax, keys[0], fam, members))
    else:
        fig, axes = family_grid(len(groups), len(keys), sharey=False)
        cells = [(axes[r][c], key, fam, members) for r, (fam, members) in enumerate(groups) for c, key in enumerate(keys)]
    family_handles: dict[str, dict] = {}  # every series of a family, whichever framework drew it
    for ax, key, fam, members in cells:
        handles = family_handles.setdefault(fam, {})
        for sched in members:
            lrs = sequences[key].get(sched)
            if lrs is None:
                continue
            st = styles[sched]
            handles[sched] = ax.plot(epochs[key][sched], lrs, color=st.colour, ls=st.dash, lw=1.6,
                                     drawstyle="steps-post")[0]
        ax.set_ylim(bottom=0)
        ax.set_xlim(0, _last_epoch(epochs[key], members))
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True, nbins=6))
        if len(keys) == 1 or fam == groups[-1][0]:  # the grid shares its x axis: named under the last row
            ax.set_xlabel("epoch", labelpad=1)
        if len(keys) == 1:
            ax.set_title(fam)
            ax.set_ylabel("learning rate")
            names = [m for m in members if m in handles]
            labels = _labels(sequences, names)
            lax, height = legend_axes[fam]
            # below the tick labels and the axis label (the row's top 0.5 inch)
            lax.legend([handles[m] for m in names], [labels[m] for m in names], loc="upper center", frameon=False, fontsize=9, ncol=1,
                       handlelength=2.6, borderaxespad=0, bbox_to_anchor=(0.5, 1 - 0.5 / height))
        else:
            if ax is axes[0][keys.index(key)]:
                ax.set_title(fw_labels[key])
            if key == keys[0]:
                ax.set_ylabel(f"{fam}\nlearning rate")
            if key == keys[-1]:
                row_legend(ax, handles, members, labels=_labels(sequences, [m for m in members if m in handles]))
    fig.suptitle(title + (f" ({fw_labels[keys[0]]})" if len(keys) == 1 else ""), x=0.01, ha="left", fontsize=13)
    if len(keys) == 1:
        fig.subplots_adjust(left=0.8 / fig.get_figwidth(), right=0.98, top=1 - 0.6 / fig.get_figheight(),
                            bottom=0.05 / fig.get_figheight(), wspace=0.32)
    else:
        fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))
    save(fig, path)


def _readable_log_rates(ax, sequences: list[np.ndarray]) -> None:
    """Rates as plain numbers (0.3, 0.02) at 1-2-5 steps, and at least a factor of 4 of range: a
    schedule that barely moves (cosine over a 2-epoch run of a 20-epoch horizon) would otherwise
    get tick labels like 2.9975×10⁻¹ on an axis a thousandth of a decade high."""
    rates = np.concatenate([v[v > 0] for v in sequences]) if sequences else np.array([])
    if rates.size == 0:
        return
    lo, hi = float(rates.min()), float(rates.max())
    if hi / lo < 4:
        mid = math.sqrt(lo * hi)
        ax.set_ylim(mid / 2.5, mid * 2.5)
    ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def _last_epoch(epochs: dict[str, np.ndarray], shown: list[str]) -> float:
    """The end of the last epoch any shown series reached (its last update is inside that epoch)."""
    ends = [math.floor(float(epochs[k].max())) + 1 for k in shown if k in epochs and epochs[k].size]
    return max(ends, default=1)
