"""The report's figures (matplotlib, Agg backend, PNG), one colour and line style per series
everywhere (harness/report/style.py).

Up to MAX_OVERLAID series per protocol are overlaid in every panel. Past that, overlaid curves
become spaghetti, so the figures change shape: the training curves show the constant-rate
baseline and the TOP_K best series (the ranking table has the rest), the learning rates and the
test accuracy are drawn as small multiples, one panel per schedule family, and the final
accuracy plot lists every series, best first.

PNG bytes depend on the data only (no timestamp, no software version in the metadata), so a
report of unchanged results is the same files.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from harness.report.cells import ProtocolSummary  # noqa: E402
from harness.report.findings import join_words  # noqa: E402
from harness.report.load import fw_label  # noqa: E402
from harness.report.panels import (  # noqa: E402
    TOP_K, curve_tables, families, final_cells, lr_sequences, primary_baselines, shown_series,
)
from harness.report.style import MAX_OVERLAID, Style  # noqa: E402
from harness.report.summary import mean_ranks  # noqa: E402

PUBLISHED_STYLE = dict(marker="D", s=46, facecolor="white", edgecolor="#444444", linewidth=1.4, zorder=5)
DPI = 110
PANEL_WIDTH = 4.0  # inches per framework: three panels fit the page's 1160 px column at DPI
PNG_METADATA = {"Software": None}  # matplotlib's version would change the bytes of unchanged results

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


def _save(fig, path: Path) -> None:
    fig.savefig(path, format="png", facecolor="white", metadata=PNG_METADATA)
    plt.close(fig)


def _line(ax, x, y, style: Style, lw: float = 1.8, **kw):
    n = len(x)
    marker = {"marker": "o", "ms": 4.5} if n <= 3 else {}  # one or two epochs: a line alone would not show
    return ax.plot(x, y, color=style.colour, ls=style.dash, lw=lw, **marker, **kw)[0]


def _finish_with_legend(fig, handles, labels) -> None:
    """Lay the axes out above a legend that fits the figure's width (in as few rows as needed)."""
    width = fig.get_figwidth()
    item = [0.75 + 0.075 * len(label) for label in labels]  # inches: marker + text at legend.fontsize
    ncol = max(1, len(labels))
    while ncol > 1 and max(sum(item[i:i + ncol]) for i in range(0, len(item), ncol)) > width - 0.3:
        ncol -= 1
    rows = math.ceil(len(labels) / ncol) if labels else 0
    ncol = math.ceil(len(labels) / rows) if rows else 1  # balanced rows: 4 + 3, not 6 + 1
    fig.tight_layout(rect=(0, (0.2 + 0.25 * rows) / fig.get_figheight(), 1, 1))
    if labels:
        fig.legend(handles, labels, loc="lower center", ncol=ncol, frameon=False, bbox_to_anchor=(0.5, 0.0),
                   handlelength=2.6)


def _epoch_axis(ax, last_epoch: int) -> None:
    """Integer epochs; a short run gets half an epoch of room either side, not 1.002, 1.004 …"""
    if last_epoch <= 5:
        ax.set_xlim(0.5, last_epoch + 0.5)
        ax.set_xticks(range(1, last_epoch + 1))
    else:
        ax.set_xlim(1, last_epoch)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))


# --------------------------------------------------------------------------------------- plots


def plot_learning_rates(sequences: dict[str, dict[str, np.ndarray]], steps_per_epoch: dict[str, int],
                        fw_labels: dict[str, str], schedules: list[str], styles: dict[str, Style], title: str,
                        path: Path) -> None:
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
            st = styles[sched]
            updates = np.arange(lrs.size)
            (line,) = top.plot(updates / spe, lrs, color=st.colour, ls=st.dash, lw=1.8, alpha=0.9, drawstyle="steps-post")
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


def _family_grid(n_rows: int, n_cols: int, sharey: bool = True):
    """Small multiples: one row per schedule family, one column per framework, room on the right
    for each row's legend."""
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(PANEL_WIDTH * n_cols + 3.4, 2.35 * n_rows + 0.9),
                             sharex=True, sharey=sharey, squeeze=False)
    return fig, axes


def _row_legend(ax, handles: dict, members: list[str], extra: list[str] = ()) -> None:
    names = [m for m in [*extra, *members] if m in handles]
    if names:
        ax.legend([handles[m] for m in names], names, loc="center left", bbox_to_anchor=(1.03, 0.5), frameon=False,
                  fontsize=9, handlelength=2.6)


def plot_learning_rates_by_family(sequences, steps_per_epoch, fw_labels, groups: list[tuple[str, list[str]]],
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
        fig, axes = _family_grid(len(groups), len(keys), sharey=False)
        cells = [(axes[r][c], key, fam, members) for r, (fam, members) in enumerate(groups) for c, key in enumerate(keys)]
    for ax, key, fam, members in cells:
        spe = steps_per_epoch[key]
        handles = {}
        for sched in members:
            lrs = sequences[key].get(sched)
            if lrs is None:
                continue
            st = styles[sched]
            handles[sched] = ax.plot(np.arange(lrs.size) / spe, lrs, color=st.colour, ls=st.dash, lw=1.6,
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
                _row_legend(ax, handles, members)
    fig.suptitle(title + (f" ({fw_labels[keys[0]]})" if len(keys) == 1 else ""), x=0.01, ha="left", fontsize=13)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))
    _save(fig, path)


def _accuracy_limits(values: list[np.ndarray]) -> tuple[float, float] | None:
    vals = np.concatenate([v[np.isfinite(v)] for v in values]) if values else np.array([])
    if vals.size == 0:
        return None
    lo, hi = float(np.min(vals)), float(np.max(vals))
    pad = max(0.01, 0.06 * (hi - lo))
    return max(0.0, lo - pad), min(1.0, hi + pad)


def _percent_axis(ax, lim) -> None:
    ax.set_ylim(*lim)
    ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(nbins=6, steps=[1, 2, 5, 10]))
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0 if lim[1] - lim[0] > 0.03 else 1))


LOOSE_MARKERS = {"diverged": "x", "never learned": "v"}  # anything else: incomplete, ">"


def plot_curves(curves: pd.DataFrame, loose: pd.DataFrame, frameworks: list[str], fw_labels: dict[str, str],
                schedules: list[str], styles: dict[str, Style], off_scale: set[tuple[str, str]], title: str,
                path: Path) -> None:
    """Rows: train loss, train accuracy, test accuracy; one column per framework; series overlaid.

    ``curves`` has columns framework, label, metric, epoch, mean, lo, hi (complete runs);
    ``loose`` has framework, label, run_id, status, metric, epoch, value (running, diverged and
    "never learned" runs, drawn thin, one line each, with a marker where each stops). ``off_scale``
    cells (at chance) are left out of the accuracy axes' limits so they do not flatten the
    differences between the others.
    """
    metrics = [("train_loss", "train loss (log)"), ("train_acc", "train accuracy"), ("test_acc", "test accuracy")]
    curves = curves[curves.label.isin(schedules)]
    loose = loose[loose.label.isin(schedules)]
    fig, axes = plt.subplots(3, len(frameworks), figsize=(PANEL_WIDTH * len(frameworks) + 0.8, 9.6), sharex=True,
                             sharey="row", squeeze=False)
    handles = {}
    ends = []  # where each loose run stops: marked once the axes' limits are known
    last_epoch = int(max([curves.epoch.max() if not curves.empty else 0, loose.epoch.max() if not loose.empty else 0])) + 1
    # one to three epochs are points, not lines: nudge each series sideways so equal values
    # (a tie) do not hide each other
    dodge = {sched: (i - (len(schedules) - 1) / 2) * min(0.08, 0.5 / max(1, len(schedules)))
             if last_epoch <= 3 else 0.0 for i, sched in enumerate(schedules)}
    for r, (metric, label) in enumerate(metrics):
        limit_values = []
        for c, fw in enumerate(frameworks):
            ax = axes[r][c]
            for sched in schedules:
                st = styles[sched]
                g = curves[(curves.framework == fw) & (curves.label == sched) & (curves.metric == metric)]
                if not g.empty:
                    x = g.epoch.to_numpy() + 1 + dodge[sched]
                    ax.fill_between(x, g.lo, g.hi, color=st.colour, alpha=0.16, lw=0)
                    handles.setdefault(sched, _line(ax, x, g["mean"], st))
                    if metric != "train_loss" and (fw, sched) not in off_scale:
                        # the first tenth of training is far below the rest (a warmup most of
                        # all): zoom the accuracy axes on where schedules differ
                        skip = min(len(g) - 1, max(1, round(0.1 * len(g)))) if len(g) > 2 else 0
                        limit_values.append(g["mean"].to_numpy()[skip:])
                lg = loose[(loose.framework == fw) & (loose.label == sched) & (loose.metric == metric)]
                for _, run in lg.groupby("run_id"):
                    line = _line(ax, run.epoch.to_numpy() + 1 + dodge[sched], run.value, st, lw=0.9, alpha=0.75)
                    handles.setdefault(sched, line)
                    last = run.iloc[-1]
                    ends.append((ax, last.epoch + 1 + dodge[sched], last.value, last.status, st.colour, metric))
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
                _percent_axis(axes[r][0], lim)
    for ax in axes.flat:
        _epoch_axis(ax, last_epoch)
    for ax, x, y, status, colr, metric in ends:
        # a diverged run's last loss is not finite and its accuracy is usually below the zoomed
        # axis: pin the marker to the edge so the reader still sees where it stopped
        lo, hi = ax.get_ylim()
        if not np.isfinite(y):
            y = hi if metric == "train_loss" else lo
        ax.plot(x, min(max(y, lo), hi), marker=LOOSE_MARKERS.get(status, ">"), color=colr, ms=8, mew=2,
                ls="none", clip_on=False, zorder=6)
    fig.suptitle(title, x=0.01, ha="left", fontsize=13)
    ordered = [s for s in schedules if s in handles]
    extra_h, extra_l = [], []
    statuses = set(loose.status)
    if statuses - {"diverged", "never learned"}:
        extra_h.append(plt.Line2D([], [], color="#555555", lw=0.9, marker=">", ms=7, mew=2))
        extra_l.append("one incomplete run (thin; ▶ its latest epoch)")
    if "diverged" in statuses:
        extra_h.append(plt.Line2D([], [], color="#555555", lw=0.9, marker="x", ms=7, mew=2))
        extra_l.append("one diverged run (✕ where it stopped)")
    if "never learned" in statuses:
        extra_h.append(plt.Line2D([], [], color="#555555", lw=0.9, marker="v", ms=7, mew=2))
        extra_l.append("one run at chance: never learned or collapsed (▼; others of its schedule learned)")
    _finish_with_legend(fig, [handles[s] for s in ordered] + extra_h, ordered + extra_l)
    _save(fig, path)


def plot_test_accuracy_by_family(curves: pd.DataFrame, frameworks: list[str], fw_labels: dict[str, str],
                                 groups: list[tuple[str, list[str]]], baselines: list[str],
                                 styles: dict[str, Style], off_scale: set[tuple[str, str]], title: str,
                                 path: Path) -> None:
    """Small multiples of test accuracy: one row per schedule family, one column per framework;
    the constant-rate baseline drawn thin in every other family's panels for reference."""
    acc = curves[curves.metric == "test_acc"]
    fig, axes = _family_grid(len(groups), len(frameworks))
    limit_values = []
    last_epoch = int(acc.epoch.max()) + 1 if not acc.empty else 1
    for r, (fam, members) in enumerate(groups):
        handles = {}
        reference = [b for b in baselines if b not in members]
        for c, fw in enumerate(frameworks):
            ax = axes[r][c]
            for sched in reference + members:
                g = acc[(acc.framework == fw) & (acc.label == sched)]
                if g.empty:
                    continue
                st = styles[sched]
                x = g.epoch.to_numpy() + 1
                thin = sched in reference
                if not thin:
                    ax.fill_between(x, g.lo, g.hi, color=st.colour, alpha=0.14, lw=0)
                handles.setdefault(sched, _line(ax, x, g["mean"], st, lw=1.0 if thin else 1.7, alpha=0.55 if thin else 1.0))
                if (fw, sched) not in off_scale:
                    skip = min(len(g) - 1, max(1, round(0.1 * len(g)))) if len(g) > 2 else 0
                    limit_values.append(g["mean"].to_numpy()[skip:])
            if r == 0:
                ax.set_title(fw_labels[fw])
            if c == 0:
                ax.set_ylabel(f"{fam}\ntest accuracy")
            if r == len(groups) - 1:
                ax.set_xlabel("epoch")
        _row_legend(axes[r][-1], handles, members, extra=reference)
    lim = _accuracy_limits(limit_values)
    if lim:
        _percent_axis(axes[0][0], lim)
    for ax in axes.flat:
        _epoch_axis(ax, last_epoch)
    fig.suptitle(title, x=0.01, ha="left", fontsize=13)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.3 / fig.get_figheight()))
    _save(fig, path)


def plot_final_accuracy(cells: list[dict], frameworks: list[str], fw_labels: dict[str, str],
                        schedules: list[str], styles: dict[str, Style], title: str, path: Path) -> None:
    """Final test accuracy per series (rows, top to bottom in ``schedules`` order) and framework
    (panels): seeds as small dots, the mean with its 95% interval (logit t: inside [0, 100%]),
    and the published d2l figure as an open diamond.

    Each cell dict: framework, scheduler (the series label), seeds (final accuracies of complete
    runs), mean, low, high (None without an interval, or where the seeds are shown instead),
    published (float or None), label (text shown when there is no mean: 'missing', 'diverged',
    'incomplete'), off_scale (at chance), n_at_chance, learned_seeds, show_seeds."""
    rows = list(reversed(schedules))
    fig, axes = plt.subplots(1, len(frameworks), figsize=(max(8.0, PANEL_WIDTH * len(frameworks) + 0.8), 0.5 * len(rows) + 2.1),
                             sharey=True, sharex=True, squeeze=False)
    on_scale = []
    for cell in cells:
        if cell["scheduler"] not in schedules:
            continue
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
    lo, hi = max(0.0, lo - pad), min(1.0, hi + pad)
    by_key = {(c["framework"], c["scheduler"]): c for c in cells}
    for ax, fw in zip(axes[0], frameworks):
        for y, sched in enumerate(rows):
            cell = by_key.get((fw, sched))
            colr = styles[sched].colour
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
                # the note goes on the side away from the seeds that learned, so it never covers them
                left = learned.size == 0 or float(np.min(learned)) > lo + 0.45 * (hi - lo)
                ax.annotate(f"◀ {cell['n_at_chance']} of {len(cell['seeds'])} seeds at chance\n    (mean {cell['mean']:.1%})",
                            xy=(0.01 if left else 0.99, y - 0.05), xycoords=("axes fraction", "data"), va="center",
                            ha="left" if left else "right", color=colr, fontsize=9)
                continue
            seeds = np.asarray(cell["seeds"], dtype=float)
            if seeds.size > 1:
                ax.scatter(seeds, np.full(seeds.size, y + 0.16), s=18 if cell.get("show_seeds") else 14, color=colr,
                           alpha=0.8 if cell.get("show_seeds") else 0.55, lw=0, zorder=3)
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
        tick.set_color(styles[sched].colour)
        tick.set_fontweight("bold")
    fig.suptitle(title, x=0.01, ha="left", fontsize=13)
    legend = [
        plt.Line2D([], [], color="#555555", marker="o", lw=2, ms=7),
        plt.Line2D([], [], color="#555555", marker="o", lw=0, ms=4, alpha=0.55),
        plt.Line2D([], [], color="#555555", marker="o", lw=0, ms=7, mfc="white", mew=2),
    ]
    names = ["mean, 95% interval over seeds", "one seed", "mean without an interval (one seed, or seeds shown)"]
    if any(c["published"] is not None and c["scheduler"] in schedules for c in cells):
        legend.append(plt.Line2D([], [], color="#444444", marker="D", lw=0, ms=7, mfc="white", mew=1.4))
        names.append("published d2l figure")
    _finish_with_legend(fig, legend, names)
    _save(fig, path)


# ------------------------------------------------------------------------------ all of a protocol


def write_figures(df: pd.DataFrame, s: ProtocolSummary, styles: dict[str, Style], out: Path) -> list[tuple[str, str, str]]:
    """Write this protocol's PNGs; return (file name, alt text, caption) for each."""
    figures = []
    labels = {fw: fw_label(fw) for fw in s.frameworks}
    many = len(s.schedules) > MAX_OVERLAID
    groups = families(s)
    seqs, spe, lr_labels = lr_sequences(df, s)
    name = f"lr_{s.protocol}.png"
    if many:
        plot_learning_rates_by_family(seqs, spe, lr_labels, groups, styles,
                                      "Learning rate of every update, by schedule family", out / name)
    else:
        plot_learning_rates(seqs, spe, lr_labels, s.schedules, styles, "Learning rate of every update", out / name)
    figures.append((name, f"learning rate per update, {s.protocol} protocol",
                    "The learning rate of every optimizer update, read from the runs' per-update trace (step_lrs)."
                    + (" One panel per schedule family." if many else "")))

    curves, loose = curve_tables(df, s)
    off_scale = {(c.framework, c.series) for c in s.cells.values() if c.at_chance}
    shown = shown_series(s)
    name = f"curves_{s.protocol}.png"
    heading = ("Training curves: mean over seeds, band from lowest to highest seed" if not many else
               f"Training curves of the {len([x for x in shown if not any(s.cell(f, x).is_baseline for f in s.frameworks)])} "
               "best schedules (by mean rank) against the constant rate")
    plot_curves(curves, loose, s.frameworks, labels, shown, styles, off_scale, heading, out / name)
    caption = ("Train loss (log scale), train accuracy (running average over the epoch) and test accuracy after each "
               "epoch. Lines: mean over complete runs; bands: lowest to highest seed.")
    if many:
        caption += (f" {len(s.schedules)} schedules would be unreadable in one panel: this figure shows the "
                    f"constant-rate baseline and the {TOP_K} best by mean rank; the ranking table has every schedule "
                    "and the figure below shows them all, by family.")
    dead = sorted({f"{fw_label(f)} {sc}" for f, sc in off_scale if sc in shown})
    if dead:
        caption += (" Accuracy axes are scaled to the schedules that learned; " + join_words(dead)
                    + " stayed at chance (10%), below these axes.")
    shown_loose = loose[loose.label.isin(shown)]
    if (~shown_loose.status.isin(["never learned"])).any():
        caption += " Thin lines: incomplete (▶) or diverged (✕) runs, one line each."
    if (shown_loose.status == "never learned").any():
        caption += (" ▼: single runs at chance by their verdict (never learned, or collapsed) where the schedule's "
                    "other seeds learned; drawn apart from the mean and band, and counted as failures in the tables.")
    figures.append((name, f"training curves, {s.protocol} protocol", caption))

    if many:
        name = f"families_{s.protocol}.png"
        bases = primary_baselines(s)
        plot_test_accuracy_by_family(curves, s.frameworks, labels, groups, bases, styles, off_scale,
                                     "Test accuracy of every schedule, by family", out / name)
        figures.append((name, f"test accuracy by schedule family, {s.protocol} protocol",
                        "Test accuracy after each epoch, one panel per schedule family and framework: mean over "
                        "complete runs, band from lowest to highest seed; the constant rate drawn thin in every "
                        "panel for reference."))

    name = f"final_{s.protocol}.png"
    order = s.schedules if not many else [label for label, _, _ in mean_ranks(s)]
    plot_final_accuracy(final_cells(s), s.frameworks, labels, order, styles, "Final test accuracy"
                        + (", best mean rank first" if many else ""), out / name)
    caption = ("Final test accuracy: each seed (small dots), the mean with its 95% interval (a t interval on the "
               "logit scale, so it stays inside 0–100%; where seeds are bimodal, the seeds alone)")
    caption += (", and the figure the d2l chapter published for that tab (open diamond; one run each)."
                if s.has_published else ".")
    figures.append((name, f"final test accuracy per schedule and framework, {s.protocol} protocol", caption))
    return figures
