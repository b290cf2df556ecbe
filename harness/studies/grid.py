"""The guideline study's tuning grid, read back: which arm and rate each run is, the grid table,
the chosen rate per arm, the width of each arm's good-rate band, the seeds the final runs need,
and the grid figure. Parquet only: no framework is imported.

A run's *arm* is its scheduler option, plus ``+adam`` when its optimizer is Adam (the labels of
``harness.studies.guideline.ARMS``); its *rate* is ``base_lr``, or for an arm whose tuned rate is
its peak (cyclic) the peak ``max_lr`` from ``schedule_params``. A run is *finished* when the runner
will not train it again (``complete`` or ``diverged``); a diverged run counts at chance (10 %)
in every mean: its last epoch ended in an overflow, and its weights are no network.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from harness.results import EPOCHS_FILE, EPOCHS_SCHEMA, FINISHED
from harness.studies.arms import ARMS, Arm
from harness.verdicts import FAILED_VERDICTS, verdict_by_run

CHANCE = 0.1  # ten classes
BAND_POINTS = 0.01  # claim 6: rates within 1 point of the arm's best validation accuracy
EFFECT = 0.01  # the seeds-needed computation: detect 1 point
TIE = 1e-9  # two means of 10,000-image accuracies closer than this are equal (float rounding)

ARM_BY_KEY = {(arm.option, "adam" if "optimizer=adam" in arm.optimizer else "sgd"): arm for arm in ARMS}
ARM_ORDER = [arm.label for arm in ARMS]
ARM_OF = {arm.label: arm for arm in ARMS}


def arm_label(scheduler: str, optimizer: str) -> str | None:
    """The arm a run belongs to; None for a run that is not one of the study's arms."""
    arm = ARM_BY_KEY.get((scheduler, optimizer))
    return arm.label if arm else None


def _rate(arm: Arm | None, base_lr: float, schedule_params) -> float:
    if arm is not None and arm.peak_key:
        key = arm.peak_key.split(".", 1)[1]
        params = json.loads(schedule_params) if isinstance(schedule_params, str) and schedule_params else {}
        if key in params:
            return float(params[key])
    return float(base_lr)


def with_arms(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the columns ``arm`` (None outside the study's arms) and ``rate``."""
    frame = frame.copy()
    arms = [ARM_BY_KEY.get((s, o)) for s, o in zip(frame["scheduler"], frame["optimizer"])]
    frame["arm"] = pd.Series([a.label if a else None for a in arms], index=frame.index, dtype=object)
    frame["rate"] = [_rate(a, lr, p) for a, lr, p in zip(arms, frame["base_lr"], frame["schedule_params"])]
    return frame


def read_runs(results_dir: Path | str) -> pd.DataFrame:
    """Every row under ``results_dir`` in the current schema (empty, with its columns, when the
    folder has no run yet), with ``arm`` and ``rate``."""
    results_dir = Path(results_dir)
    # pyarrow skips names starting with _ or . (set-aside runs, temporary files): so do we
    if results_dir.is_dir() and any(p for p in results_dir.glob(f"*/{EPOCHS_FILE}") if not p.parent.name[0] in "_."):
        frame = pd.read_parquet(results_dir, schema=EPOCHS_SCHEMA)
    else:
        frame = EPOCHS_SCHEMA.empty_table().to_pandas()
    return with_arms(frame)


def load_grid(tuning_dir: Path | str) -> pd.DataFrame:
    """The tuning grid's rows (see ``read_runs``)."""
    return read_runs(tuning_dir)


def last_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per run: its latest epoch, with ``finished``, ``failed`` (a verdict of
    FAILED_VERDICTS) and ``val``/``test`` (the last epoch's accuracy; chance for a diverged run)."""
    if frame.empty:
        empty = frame.iloc[0:0].copy()
        for col in ("finished", "failed"):
            empty[col] = pd.Series([], dtype=bool)
        for col in ("val", "test", "test_last5"):
            empty[col] = pd.Series([], dtype=float)
        return empty
    frame = frame.sort_values(["run_id", "epoch"])
    last = frame.groupby("run_id", sort=True).tail(1).copy()
    last["verdict"] = last["run_id"].map(verdict_by_run(frame))  # today's rules, not the day it trained
    # mean test accuracy of the last five epochs: a less noisy figure than the last epoch alone
    last5 = frame.groupby("run_id", sort=True).test_acc.apply(lambda s: float(s.tail(5).mean()))
    last["finished"] = last["status"].isin(FINISHED)
    last["failed"] = last["finished"] & (last["verdict"].isin(FAILED_VERDICTS) | (last["status"] == "diverged"))
    diverged = last["status"] == "diverged"
    last["val"] = np.where(diverged, CHANCE, last["val_acc"].astype(float))
    last["test"] = np.where(diverged, CHANCE, last["test_acc"].astype(float))
    last["test_last5"] = np.where(diverged, CHANCE, last5.reindex(last["run_id"]).to_numpy())
    return last.reset_index(drop=True)


def grid_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (arm, rate), arms in ARMS order, rates ascending: ``val_acc`` (mean final
    validation accuracy over the finished seeds), ``seeds`` (seed -> value), ``n`` (finished
    seeds), ``n_running`` (started, not finished), and ``diverged``, ``never_learned``,
    ``collapsed`` (how many of the finished seeds)."""
    columns = ["arm", "rate", "val_acc", "seeds", "n", "n_running", "diverged", "never_learned", "collapsed"]
    last = last_rows(frame[frame["arm"].notna()]) if not frame.empty else last_rows(frame)
    rows = []
    for (arm, rate), g in last.groupby(["arm", "rate"], sort=False):
        done = g[g["finished"]].sort_values("seed")
        rows.append({
            "arm": arm, "rate": float(rate),
            "val_acc": float(done["val"].mean()) if len(done) else math.nan,
            "seeds": {int(s): float(v) for s, v in zip(done["seed"], done["val"])},
            "n": len(done), "n_running": int((~g["finished"]).sum()),
            "diverged": int((done["status"] == "diverged").sum()),
            "never_learned": int((done["verdict"] == "never_learned").sum()),
            "collapsed": int((done["verdict"] == "collapsed").sum()),
        })
    table = pd.DataFrame(rows, columns=columns)
    if table.empty:
        return table
    table["_order"] = table["arm"].map({a: i for i, a in enumerate(ARM_ORDER)})
    return table.sort_values(["_order", "rate"]).drop(columns="_order").reset_index(drop=True)


def complete_arms(table: pd.DataFrame, rates_per_arm: dict[str, int], seeds_per_point: int) -> list[str]:
    """The arms whose grid is finished: every one of their rates has every seed finished."""
    out = []
    for arm, want in rates_per_arm.items():
        g = table[table["arm"] == arm]
        if len(g) >= want and (g["n"] >= seeds_per_point).all():
            out.append(arm)
    return out


def _best_index(g: pd.DataFrame) -> int:
    """Position (in ``g``, rates ascending) of the best mean; ties go to the lower rate."""
    values = g["val_acc"].to_numpy()
    best = np.nanmax(values)
    return int(np.flatnonzero(values >= best - TIE)[0])


def choose(table: pd.DataFrame, rates_per_arm: dict[str, int], seeds_per_point: int) -> pd.DataFrame:
    """Per arm whose grid is complete, the rate with the best mean final validation accuracy
    (ties: the lower rate): columns arm, rate, val_acc, n. The test set is not read."""
    rows = []
    for arm in complete_arms(table, rates_per_arm, seeds_per_point):
        g = table[table["arm"] == arm].sort_values("rate").reset_index(drop=True)
        pick = g.iloc[_best_index(g)]
        rows.append({"arm": arm, "rate": float(pick["rate"]), "val_acc": float(pick["val_acc"]), "n": int(pick["n"])})
    return pd.DataFrame(rows, columns=["arm", "rate", "val_acc", "n"])


def study_choice(table: pd.DataFrame) -> pd.DataFrame:
    """``choose`` with the study's own grid sizes (guideline.ARMS, GRID_SEEDS)."""
    from harness.studies.arms import GRID_SEEDS

    return choose(table, {arm.label: len(arm.rates) for arm in ARMS}, len(GRID_SEEDS))


# ------------------------------------------------------------------------------------- band


def _band(rates: np.ndarray, values: np.ndarray, within: float) -> dict:
    """The contiguous run of grid rates within ``within`` of the best value (including the best),
    its width in decades on the grid and by log-linear interpolation to where the curve crosses
    the threshold; an edge at the end of the grid is *censored* (the band may reach further)."""
    best = _best_index(pd.DataFrame({"val_acc": values}))
    threshold = values[best] - within
    lo = hi = best
    while lo > 0 and values[lo - 1] >= threshold:
        lo -= 1
    while hi < len(values) - 1 and values[hi + 1] >= threshold:
        hi += 1
    x = np.log10(rates)

    def crossing(inside: int, outside: int) -> float:
        return float(x[outside] + (threshold - values[outside]) / (values[inside] - values[outside])
                     * (x[inside] - x[outside]))

    left = crossing(lo, lo - 1) if lo > 0 else float(x[0])
    right = crossing(hi, hi + 1) if hi < len(values) - 1 else float(x[-1])
    return {"best_rate": float(rates[best]), "best": float(values[best]), "low": float(rates[lo]),
            "high": float(rates[hi]), "decades": float(x[hi] - x[lo]), "interp_low": 10 ** left,
            "interp_high": 10 ** right, "interp_decades": right - left,
            "censored_low": lo == 0, "censored_high": hi == len(values) - 1}


def bands(table: pd.DataFrame, arms: list[str], within: float = BAND_POINTS) -> pd.DataFrame:
    """Claim 6: per arm (of ``arms``, the complete ones), its good-rate band from the mean over
    seeds, and the same band from each seed alone (``seed_decades``: seed -> decades) to show
    whether two seeds agree on it, on the grid and interpolated (``seed_interp``)."""
    rows = []
    for arm in arms:
        g = table[table["arm"] == arm].sort_values("rate")
        if g.empty or g["val_acc"].isna().any():
            continue
        row = {"arm": arm, **_band(g["rate"].to_numpy(), g["val_acc"].to_numpy(), within)}
        seeds = sorted(set.intersection(*(set(s) for s in g["seeds"])))
        per_seed = {s: _band(g["rate"].to_numpy(), np.array([v[s] for v in g["seeds"]]), within) for s in seeds}
        row["seed_decades"] = {s: b["decades"] for s, b in per_seed.items()}
        # interpolated per seed (the audit's measure): the grid's own widths move in whole grid steps
        row["seed_interp"] = {s: b["interp_decades"] for s, b in per_seed.items()}
        rows.append(row)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------- seeds needed


def paired_sd(table: pd.DataFrame, arms: list[str]) -> dict:
    """The seed-to-seed SD of a paired difference between two arms, from the grid: at each arm's
    best point with seeds 0 and 1 finished and none failed, the difference d_s = a_s - b_s
    between every two arms; with two seeds, (d_0 - d_1)^2 / 2 estimates var(d), and the pairs'
    mean of it is the pooled estimate. The unpaired SD (each point's own seed variance, summed)
    is beside it, to show what pairing by seed buys."""
    points = {}
    for arm in arms:
        g = table[(table["arm"] == arm) & (table["n"] >= 2)].sort_values("rate")
        g = g[(g["diverged"] + g["never_learned"] + g["collapsed"]) == 0]
        g = g[[0 in s and 1 in s for s in g["seeds"]]]
        if len(g):
            pick = g.iloc[_best_index(g.reset_index(drop=True))]
            points[arm] = (pick["seeds"][0], pick["seeds"][1])
    names = [a for a in arms if a in points]
    paired = [((points[a][0] - points[b][0]) - (points[a][1] - points[b][1])) ** 2 / 2
              for i, a in enumerate(names) for b in names[i + 1:]]
    single = [(x0 - x1) ** 2 / 2 for x0, x1 in points.values()]
    return {"arms": len(names), "pairs": len(paired),
            "sd_diff": math.sqrt(float(np.mean(paired))) if paired else None,
            "sd_unpaired": math.sqrt(2 * float(np.mean(single))) if single else None}


def seeds_table(sd_diff: float | None, family_sizes: dict[str, int],
                effect: float = EFFECT) -> list[tuple[str, int, int | None]]:
    """(family, comparisons, seeds needed to detect ``effect`` with Holm over the family at 80 %
    power), by harness.report.stats.seeds_needed; None without an SD."""
    from harness.report.stats import seeds_needed

    return [(name, m, seeds_needed(sd_diff, effect, m) if sd_diff is not None else None)
            for name, m in family_sizes.items()]


# ------------------------------------------------------------------------------------ figure


ADAM_FAMILY = "Adam"


def arm_family(label: str) -> str:
    from harness.report.style import family

    arm = ARM_OF.get(label)
    if arm is not None and "optimizer=adam" in arm.optimizer:
        return ADAM_FAMILY
    return family(arm.option if arm else label)


def arm_styles(labels: list[str]) -> dict:
    """One colour and line style per arm (harness/report/style.py); an Adam arm gets the second
    optimizer's line style. The palette's free colours next to each other are two cyans, so the
    Adam arms take free colours far apart instead (red, navy, ...)."""
    from dataclasses import replace

    from harness.report.style import PALETTE, assign_styles

    styles = assign_styles([(label, ARM_OF[label].option if label in ARM_OF else label, None,
                             1 if arm_family(label) == ADAM_FAMILY else 0) for label in labels])
    adam = [label for label in labels if arm_family(label) == ADAM_FAMILY]
    taken = {styles[label].colour for label in labels if label not in adam}
    apart = [PALETTE[i] for i in (9, 13, 18, 10, 2, 8, 17) if PALETTE[i] not in taken]
    for label, colour in zip(adam, apart):
        styles[label] = replace(styles[label], colour=colour)
    return styles


def grouped(labels: list[str]) -> list[tuple[str, list[str]]]:
    from harness.report.style import FAMILY_ORDER

    groups: dict[str, list[str]] = {}
    for label in labels:
        groups.setdefault(arm_family(label), []).append(label)
    order = FAMILY_ORDER + [ADAM_FAMILY]
    return [(f, groups[f]) for f in order if f in groups] + sorted((f, v) for f, v in groups.items() if f not in order)


def grid_figure(table: pd.DataFrame, chosen: pd.DataFrame, path: Path, styles: dict | None = None) -> None:
    """Final validation accuracy against the rate (log scale), one panel per schedule family in
    rows of four, every arm a line of its mean over seeds, each seed a small dot, the chosen rate a
    star, a red ✕ where a seed diverged, never learned or collapsed; the constant rate drawn thin in
    every other panel for reference. Points below the axis (a grid point at chance) sit on its
    lower edge as ▼ with their value."""
    from harness.report.plotting import PNG_METADATA, percent_axis  # first: the report's rcParams and backend
    import matplotlib.pyplot as plt

    labels = [a for a in ARM_ORDER if a in set(table["arm"])]
    styles = styles or arm_styles(labels)
    groups = grouped(labels)
    ncols = min(4, max(1, len(groups)))
    nrows = math.ceil(len(groups) / ncols) if groups else 1
    longest = max((len(m) for _, m in groups), default=1) + 1  # legend entries below a panel, the reference too
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols + 0.4, (3.0 + 0.2 * longest) * nrows + 0.8),
                             sharex=True, sharey=True, squeeze=False)
    good = table["val_acc"].dropna()
    good = good[good >= 0.5]
    lo = max(0.0, float(good.min()) - 0.02) if len(good) else 0.0
    hi = min(1.0, float(good.max()) + 0.01) if len(good) else 1.0
    for i, (fam, members) in enumerate(groups):
        ax = axes[i // ncols][i % ncols]
        reference = ["constant"] if "constant" in labels and "constant" not in members else []
        handles = []
        markers = dict(zip(members, "os^Dv"))  # a second cue besides colour within a panel
        for arm in reference + members:
            g = table[(table["arm"] == arm) & table["val_acc"].notna()].sort_values("rate")
            if g.empty:
                continue
            st = styles[arm]
            thin = arm in reference
            y = g["val_acc"].clip(lower=lo)
            (line,) = ax.plot(g["rate"], y, color="#999999" if thin else st.colour, ls=st.dash,
                              lw=1.0 if thin else 1.8, marker=None if thin else markers.get(arm, "o"), ms=4.5,
                              zorder=2,
                              label=f"{arm} (SGD, reference)" if thin else arm)
            handles.append(line)
            if thin:
                continue
            for rate, seeds in zip(g["rate"], g["seeds"]):
                vals = np.clip(list(seeds.values()), lo, None)
                ax.scatter(np.full(len(vals), rate), vals, s=10, color=st.colour, alpha=0.5, lw=0, zorder=3)
            below = g[g["val_acc"] < lo]
            for rate, v in zip(below["rate"], below["val_acc"]):
                ax.plot([rate], [lo], marker="v", color=st.colour, ms=7, ls="none", clip_on=False, zorder=4)
                ax.annotate(f"{v:.0%}", (rate, lo), xytext=(0, 6), textcoords="offset points", ha="center",
                            fontsize=8, color=st.colour)
            failed = g[(g["diverged"] + g["never_learned"] + g["collapsed"]) > 0]
            for rate, v in zip(failed["rate"], failed["val_acc"]):
                ax.plot([rate], [max(v, lo)], marker="x", color="#D00000", ms=9, mew=2.2, ls="none", clip_on=False,
                        zorder=5)
            pick = chosen[chosen["arm"] == arm]
            if len(pick):
                ax.plot(pick["rate"], pick["val_acc"], marker="*", ms=15, color=st.colour, mec="black", ls="none",
                        zorder=6)
        ax.set_xscale("log")
        percent_axis(ax, (lo, hi))
        ax.set_title(fam)
        if i % ncols == 0:
            ax.set_ylabel("final val accuracy")
        ax.set_xlabel("base rate (peak for cyclic), log", fontsize=9)
        ax.tick_params(labelbottom=True)
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.2), fontsize=8, frameon=False,
                  handlelength=2.4)
    for ax in list(axes.flat)[len(groups):]:
        ax.set_visible(False)
    fig.suptitle("The tuning grid on validation (30 epochs, 10,000 images): mean over seeds (line), each seed "
                 "(dot), chosen rate ★, a failed seed ✕", x=0.01, ha="left", fontsize=12)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))
    fig.savefig(path, format="png", facecolor="white", metadata=PNG_METADATA)
    plt.close(fig)
