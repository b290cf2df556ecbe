"""The report's learning-rate figures: every update's rate, read from the runs' ``step_lrs``,
overlaid per framework (a few series) or as small multiples by schedule family (many)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import numpy as np

from harness.report.plotting import PANEL_WIDTH, family_grid, finish_with_legend, plt, row_legend, save
from harness.report.style import Style


def _first_epoch_updates(epochs: dict[str, np.ndarray], shown: list[str]) -> int | None:
    """Updates in the first epoch when every shown series has the same number, else None (no
    single "end of epoch 1" line fits them all)."""
    counts = {int(np.sum(epochs[k] < 1)) for k in shown if k in epochs}
    return counts.pop() if len(counts) == 1 else None


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
        top.set_xlim(left=0)
        top.set_ylim(bottom=0)
        top.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        bottom.set_xscale("log")
        bottom.set_yscale("log")
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
    finish_with_legend(fig, [handles[s] for s in ordered], ordered)
    save(fig, path)


def plot_learning_rates_by_family(sequences, epochs, fw_labels, groups: list[tuple[str, list[str]]],
                                  styles: dict[str, Style], title: str, path: Path) -> None:
    """Small multiples, linear axes, each panel on its own scale (a family's peak rates differ):
    one panel per family in rows of three, each with its legend below it, when every framework
    ran the same rates; else one row per family and one column per framework."""
    keys = list(sequences)
    if len(keys) == 1:
        ncols = min(3, len(groups))
        nrows = math.ceil(len(groups) / ncols)
        longest = max(len(m) for _, m in groups)
        fig, axes = plt.subplots(nrows, ncols, figsize=(PANEL_WIDTH * ncols + 0.8, (2.5 + 0.19 * longest) * nrows + 0.7),
                                 squeeze=False)
        cells = [(axes[i // ncols][i % ncols], keys[0], fam, members) for i, (fam, members) in enumerate(groups)]
        for ax in list(axes.flat)[len(groups):]:
            ax.set_visible(False)
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
        ax.set_xlim(left=0)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True, nbins=6))
        ax.set_xlabel("epoch")
        if len(keys) == 1:
            ax.set_title(fam)
            ax.set_ylabel("learning rate")
            names = [m for m in members if m in handles]
            ax.legend([handles[m] for m in names], names, loc="upper center", bbox_to_anchor=(0.5, -0.34),
                      frameon=False, fontsize=9, ncol=1, handlelength=2.6)
        else:
            if ax is axes[0][keys.index(key)]:
                ax.set_title(fw_labels[key])
            if key == keys[0]:
                ax.set_ylabel(f"{fam}\nlearning rate")
            if key == keys[-1]:
                row_legend(ax, handles, members)
    fig.suptitle(title + (f" ({fw_labels[keys[0]]})" if len(keys) == 1 else ""), x=0.01, ha="left", fontsize=13)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))
    save(fig, path)
