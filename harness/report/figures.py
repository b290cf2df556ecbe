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

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd

from harness.report.cells import ProtocolSummary
from harness.report.findings import join_words
from harness.report.load import fw_label
from harness.report.panels import (
    curve_tables, families, final_cells, lr_sequences, many_series, primary_baselines, shown_series,
)
from harness.report.plotting import (
    PANEL_WIDTH, PUBLISHED_STYLE, accuracy_limits, epoch_axis, family_grid, finish_with_legend, draw_line,
    percent_axis, plt, row_legend, save,
)
from harness.report.rate_figures import plot_learning_rates, plot_learning_rates_by_family
from harness.report.style import Style
from harness.report.summary import mean_ranks

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
                    handles.setdefault(sched, draw_line(ax, x, g["mean"], st))
                    if metric != "train_loss" and (fw, sched) not in off_scale:
                        # the first tenth of training is far below the rest (a warmup most of
                        # all): zoom the accuracy axes on where schedules differ
                        skip = min(len(g) - 1, max(1, round(0.1 * len(g)))) if len(g) > 2 else 0
                        limit_values.append(g["mean"].to_numpy()[skip:])
                lg = loose[(loose.framework == fw) & (loose.label == sched) & (loose.metric == metric)]
                for _, run in lg.groupby("run_id"):
                    line = draw_line(ax, run.epoch.to_numpy() + 1 + dodge[sched], run.value, st, lw=0.9, alpha=0.75)
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
            lim = accuracy_limits(limit_values)
            if lim:
                percent_axis(axes[r][0], lim)
    for ax in axes.flat:
        epoch_axis(ax, last_epoch)
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
        extra_l.append("one failed run: never learned or collapsed (▼; out of the mean)")
    finish_with_legend(fig, [handles[s] for s in ordered] + extra_h, ordered + extra_l)
    save(fig, path)


def plot_test_accuracy_by_family(curves: pd.DataFrame, frameworks: list[str], fw_labels: dict[str, str],
                                 groups: list[tuple[str, list[str]]], baselines: list[str],
                                 styles: dict[str, Style], off_scale: set[tuple[str, str]], title: str,
                                 path: Path) -> None:
    """Small multiples of test accuracy: one row per schedule family, one column per framework;
    the constant-rate baseline drawn thin in every other family's panels for reference."""
    acc = curves[curves.metric == "test_acc"]
    fig, axes = family_grid(len(groups), len(frameworks))
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
                handles.setdefault(sched, draw_line(ax, x, g["mean"], st, lw=1.0 if thin else 1.7, alpha=0.55 if thin else 1.0))
                if (fw, sched) not in off_scale:
                    skip = min(len(g) - 1, max(1, round(0.1 * len(g)))) if len(g) > 2 else 0
                    limit_values.append(g["mean"].to_numpy()[skip:])
            if r == 0:
                ax.set_title(fw_labels[fw])
            if c == 0:
                ax.set_ylabel(f"{fam}\ntest accuracy")
            if r == len(groups) - 1:
                ax.set_xlabel("epoch")
        row_legend(axes[r][-1], handles, members, extra=reference)
    lim = accuracy_limits(limit_values)
    if lim:
        percent_axis(axes[0][0], lim)
    for ax in axes.flat:
        epoch_axis(ax, last_epoch)
    fig.suptitle(title, x=0.01, ha="left", fontsize=13)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.3 / fig.get_figheight()))
    save(fig, path)


def plot_final_accuracy(cells: list[dict], frameworks: list[str], fw_labels: dict[str, str],
                        schedules: list[str], styles: dict[str, Style], title: str, path: Path) -> None:
    """Final test accuracy per series (rows, top to bottom in ``schedules`` order) and framework
    (panels): seeds as small dots, the mean with its 95% interval (logit t: inside [0, 100%]),
    and the published d2l figure as an open diamond.

    Each cell dict: framework, scheduler (the series label), seeds (final accuracies of complete
    runs), mean, low, high (None without an interval, or where the seeds are shown instead),
    published (float or None), label (text shown when there is no mean: 'missing', 'diverged',
    'incomplete', 'no seed learned'), off_scale (at chance), n_failed and n_seeds (failed seeds are
    out of the mean and counted beside it), show_seeds."""
    rows = list(reversed(schedules))
    fig, axes = plt.subplots(1, len(frameworks), figsize=(max(8.0, PANEL_WIDTH * len(frameworks) + 0.8), 0.5 * len(rows) + 2.1),
                             sharey=True, sharex=True, squeeze=False)
    on_scale = []
    for cell in cells:
        if cell["scheduler"] not in schedules:
            continue
        if cell["mean"] is not None and not cell["off_scale"]:
            on_scale += [cell["low"] if cell["low"] is not None else cell["mean"],
                         cell["high"] if cell["high"] is not None else cell["mean"], *cell["seeds"]]
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
            seeds = np.asarray(cell["seeds"], dtype=float)
            if cell.get("n_failed"):
                # failed seeds are out of the mean (harness.report.rules): counted beside it, on the
                # side away from the seeds that learned so the note never covers them
                left = seeds.size == 0 or float(np.min(seeds)) > lo + 0.45 * (hi - lo)
                ax.annotate(f"{cell['n_failed']} of {cell['n_seeds']} seeds failed",
                            xy=(0.01 if left else 0.99, y - 0.05), xycoords=("axes fraction", "data"), va="center",
                            ha="left" if left else "right", color=colr, fontsize=9)
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
    finish_with_legend(fig, legend, names)
    save(fig, path)


# ------------------------------------------------------------------------------ a protocol's figures
# Each draws one figure of one protocol into ``path`` and returns its (alt text, caption);
# harness.report.sections lists them, with their file names and when each is shown.


def draw_learning_rates(df: pd.DataFrame, s: ProtocolSummary, styles: dict[str, Style], path: Path) -> tuple[str, str]:
    many = many_series(s)
    seqs, spe, lr_labels = lr_sequences(df, s)
    if many:
        plot_learning_rates_by_family(seqs, spe, lr_labels, families(s), styles,
                                      "Learning rate of every update, by schedule family", path)
    else:
        plot_learning_rates(seqs, spe, lr_labels, s.schedules, styles, "Learning rate of every update", path)
    return (f"learning rate per update, {s.protocol} protocol",
            "The learning rate of every optimizer update, read from the runs' per-update trace (step_lrs), "
            "placed on the epoch axis by each run's own updates per epoch."
            + (" One panel per schedule family." if many else ""))


def _off_scale(s: ProtocolSummary) -> set[tuple[str, str]]:
    return {(c.framework, c.series) for c in s.cells.values() if c.at_chance}


def draw_curves(df: pd.DataFrame, s: ProtocolSummary, styles: dict[str, Style], path: Path) -> tuple[str, str]:
    labels = {fw: fw_label(fw) for fw in s.frameworks}
    many = many_series(s)
    curves, loose = curve_tables(df, s)
    off_scale = _off_scale(s)
    shown = shown_series(s)
    bases = [b for b in primary_baselines(s) if b in shown]
    n_best = len([x for x in shown if x not in bases])
    # a title names only a baseline that ran: no constant-rate series, no "against the constant rate"
    against = f" against the constant rate ({bases[0]})" if bases else ""
    heading = ("Training curves: mean over seeds, band from lowest to highest seed" if not many else
               f"Training curves of the {n_best} best schedules (by mean rank){against}")
    plot_curves(curves, loose, s.frameworks, labels, shown, styles, off_scale, heading, path)
    caption = ("Train loss (log scale), train accuracy (running average over the epoch) and test accuracy after each "
               "epoch. Lines: mean over the complete runs that learned; bands: lowest to highest of those seeds.")
    if many:
        caption += (f" {len(s.schedules)} schedules would be unreadable in one panel: this figure shows "
                    + (f"the constant-rate baseline and " if bases else "")
                    + f"the {n_best} best by mean rank; the ranking table has every schedule and the figure below "
                    "shows them all, one panel per family.")
    dead = sorted({f"{fw_label(f)} {sc}" for f, sc in off_scale if sc in shown}
                  | {f"{fw_label(c.framework)} {c.series}" for c in s.cells.values() if c.none_learned and c.series in shown})
    if dead:
        caption += (" Accuracy axes are scaled to the schedules that learned; " + join_words(dead)
                    + " did not learn (chance is 10%) and stayed below these axes.")
    shown_loose = loose[loose.label.isin(shown)]
    if (~shown_loose.status.isin(["never learned"])).any():
        caption += " Thin lines: incomplete (▶) or diverged (✕) runs, one line each."
    if (shown_loose.status == "never learned").any():
        caption += (" ▼: runs that failed by their verdict (never learned or collapsed), one thin line each, kept out "
                    "of the mean and band as they are out of every mean in the tables.")
    return f"training curves, {s.protocol} protocol", caption


def draw_families(df: pd.DataFrame, s: ProtocolSummary, styles: dict[str, Style], path: Path) -> tuple[str, str]:
    labels = {fw: fw_label(fw) for fw in s.frameworks}
    curves, _ = curve_tables(df, s)
    bases = primary_baselines(s)
    plot_test_accuracy_by_family(curves, s.frameworks, labels, families(s), bases, styles, _off_scale(s),
                                 "Test accuracy of every schedule, by family", path)
    return (f"test accuracy by schedule family, {s.protocol} protocol",
            "Test accuracy after each epoch, one panel per schedule family and framework (a family of "
            "more series than fit one panel split over several): mean over the complete runs that "
            "learned, band from lowest to highest of those seeds"
            + (f"; the constant rate ({bases[0]}) drawn thin in every other panel for reference."
               if bases else "."))


def draw_final_accuracy(df: pd.DataFrame, s: ProtocolSummary, styles: dict[str, Style], path: Path) -> tuple[str, str]:
    many = many_series(s)
    order = s.schedules if not many else [label for label, _, _ in mean_ranks(s)]
    plot_final_accuracy(final_cells(s), s.frameworks, {fw: fw_label(fw) for fw in s.frameworks}, order, styles,
                        "Final test accuracy" + (", best mean rank first" if many else ""), path)
    caption = ("Final test accuracy: each seed (small dots), the mean with its 95% interval (a t interval on the "
               "logit scale, so it stays inside 0–100%; where seeds are bimodal, the seeds alone)")
    caption += (", and the figure the d2l chapter published for that tab (open diamond; one run each)."
                if s.has_published else ".")
    return f"final test accuracy per schedule and framework, {s.protocol} protocol", caption


def plot_run_metric(values: dict[tuple[str, str], list], absent: dict[tuple[str, str], str], frameworks: list[str],
                    schedules: list[str], styles: dict[str, Style], axis: str, title: str, path: Path) -> None:
    """A per-run metric (harness.report.metrics) as bars: one panel per framework, one bar per
    series (top to bottom in ``schedules`` order) at the median of the seeds that got a value,
    a line from their lowest to their highest, each seed a dot, ``never`` where none did, and
    ``absent``'s text for a cell with no seed that learned (its state)."""
    rows = list(reversed(schedules))
    fig, axes = plt.subplots(1, len(frameworks), figsize=(max(8.0, PANEL_WIDTH * len(frameworks) + 0.8),
                                                          0.5 * len(rows) + 1.6), sharey=True, sharex=True, squeeze=False)
    for ax, fw in zip(axes[0], frameworks):
        for y, sched in enumerate(rows):
            seeds = values.get((fw, sched), [])
            got = np.array([v for v in seeds if v is not None], dtype=float)
            colour = styles[sched].colour
            if got.size == 0:
                ax.text(0.02, y, "never" if seeds else absent.get((fw, sched), "—"), transform=ax.get_yaxis_transform(), va="center",
                        color="#777777", fontsize=10, style="italic")
                continue
            ax.barh([y], [float(np.median(got))], height=0.6, color=colour, alpha=0.35, lw=0)
            ax.plot([got.min(), got.max()], [y, y], color=colour, lw=2)
            ax.scatter(got, np.full(got.size, y), s=16, color=colour, zorder=3)
            if got.size < len(seeds):
                ax.annotate(f"{len(seeds) - got.size} of {len(seeds)} never", xy=(0.99, y), xycoords=("axes fraction", "data"),
                            va="center", ha="right", color=colour, fontsize=9)
        ax.set_title(fw_label(fw))
        ax.set_xlabel(axis)
        ax.grid(axis="y", visible=False)
    # one scale for every panel (they share it), from 0 to past the largest seed's value
    largest = max([v for seeds in values.values() for v in seeds if v is not None], default=1)
    axes[0][0].set_xlim(0, 1.08 * largest)
    axes[0][0].set_yticks(range(len(rows)), rows)
    axes[0][0].set_ylim(-0.6, len(rows) - 0.4)
    fig.suptitle(title, x=0.01, ha="left", fontsize=13)
    fig.tight_layout()
    save(fig, path)
