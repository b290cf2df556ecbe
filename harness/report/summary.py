"""From runs to cells: one cell per framework × series of each protocol, and what is computed over
the cells (baselines, paired differences with Holm's correction, the reproduction check against the
published figures, rank agreement, mean ranks).

A *series* is one set of settings: the schedule variant (its name and every parameter), the
optimizer and its parameters, the budget (epochs, images, batch) and the network. Runs are pooled
only when every one of those is equal (seeds are the replicates), so different variants are never
averaged together (harness.report.run_table folds the settings into one key per run,
harness.report.series labels the series, harness.report.cells holds the results).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from harness.report.cells import Cell, ProtocolSummary
from harness.report.load import _SHORT, CHANCE_ACC, D2L_BUDGET, D2L_DATASET, dataset_title, FRAMEWORK_ORDER, _num, fw_label, ordered, param_items, params_of
from harness.report.run_table import CONTEXT_KEYS, OPTIMIZER_KEYS, plain_value
from harness.report.series import Series, _optimizer_text, label_series, series_order
from harness.report.estimates import accuracy_ci, mean_ci, paired_difference, prediction_half_width
from harness.report.stats import holm_comparisons, rank_agreement
from harness.report.rules import counts_in_mean
from harness.report.style import family
from harness.verdicts import FAILED_VERDICTS

BASELINE = "constant"
# A prediction band wider than this (±5 pp) says nothing about reproduction: not judged.
MAX_JUDGED_BAND = 0.05
# Two means closer than this (half the tables' 0.01 pp resolution) are a tie: they print the same.
TIE = 0.5e-4


def epoch_seconds(g: pd.DataFrame) -> float | None:
    """Median train + eval seconds per epoch, the first epoch (compilation, warm-up) excluded."""
    later = g[g.epoch >= 1]
    if later.empty:
        return None
    return float((later.train_time_s + later.eval_time_s).median())


def _params_text(r: pd.Series) -> str:
    """``lr 0.3, T=20, final=0.01`` (+ ``per update`` for unit=step)."""
    shown = [f"lr {r.base_lr:g}"]
    for k, v in param_items(params_of(r.schedule_params)):
        if k in ("kind",) or v is None:
            continue
        shown.append(f"{_SHORT.get(k, k)}={_num(v)}")
    if r.unit == "step":
        shown.append("per update")
    kind = params_of(r.schedule_params).get("kind")
    if kind and r.scheduler not in kind:  # a name the user chose for another schedule: say which
        shown.insert(0, kind)
    return ", ".join(shown)


HORIZON_KEYS = ("total_steps", "decay_steps", "T_0", "warmup_steps", "step_size", "cycle_steps")


def _horizon_note(r: pd.Series) -> str:
    """Says so when a schedule's horizon reaches past the end of the run (a shortened run)."""
    params = params_of(r.schedule_params)
    length = r.epochs_planned if r.unit != "step" else r.epochs_planned * (r.steps_per_epoch or 0)
    what = "epochs" if r.unit != "step" else "updates"
    for k in HORIZON_KEYS:
        v = params.get(k)
        if isinstance(v, (int, float)) and length and v > length:
            return f"{k}={v:g} is past the run's {length:g} {what}: it stops before the schedule ends"
    return ""


def budget_check(r: pd.Series, defaults: dict, protocol: str) -> list[str]:
    """[] when the run had the chapter's budget and the d2l defaults of its schedule, else what differs."""
    from harness.d2l_tabs import MODEL_BY_TAB

    differs = [] if r.dataset == D2L_DATASET else [f"dataset {dataset_title(r.dataset)}"]
    for col, want in D2L_BUDGET.items():
        have = r.epochs_planned if col == "epochs" else r[col]
        if have != want:
            differs.append(f"{col} {int(have):,}")
    if r.scheduler not in defaults:
        differs.append(f"schedule {r.scheduler} (not one the chapter trained)")
    else:
        if isinstance(r.schedule_params, str) and r.schedule_params != defaults[r.scheduler]:
            differs.append(f"{r.scheduler}'s parameters")
        elif r.base_lr != defaults.get(f"{r.scheduler}:base_lr") or r.unit != defaults.get(f"{r.scheduler}:unit"):
            differs.append(f"{r.scheduler}'s rate or unit")
    if r.optimizer != "sgd" or (isinstance(r.optimizer_params, str) and r.optimizer_params != defaults.get("optimizer:sgd")):
        differs.append(f"optimizer {_optimizer_text(r.optimizer, r.optimizer_params)}")
    want_model = MODEL_BY_TAB.get(r.framework, "lenet") if protocol == "d2l" else "lenet"
    if r.model != want_model:
        differs.append(f"model {r.model}")
    return differs


def summarise_protocol(df: pd.DataFrame, runs: pd.DataFrame, protocol: str, published: pd.DataFrame,
                       pooled_sd: dict[str, tuple[float, int, str]], defaults: dict | None = None) -> ProtocolSummary:
    from harness.report.load import d2l_defaults

    defaults = d2l_defaults() if defaults is None else defaults
    pdf, pruns = df[df.protocol == protocol], runs[runs.protocol == protocol].copy()
    pruns["label"] = label_series(pruns, protocol)
    frameworks = ordered(pruns.framework, FRAMEWORK_ORDER)
    series = {}
    for label, g in pruns.groupby("label", sort=True):
        first = g.iloc[0]
        series[label] = Series(label, first.scheduler, first.kind, first.optimizer, family(first.scheduler, first.kind))
    labels = [s.label for s in series_order(list(series.values()))]
    warnings: list[str] = []
    pub = {(r.framework, r.scheduler): float(r.test_acc) for r in published.itertuples()}
    withheld: list[str] = []

    several_optimizers = len({tuple(plain_value(v) for v in r) for r in pruns[OPTIMIZER_KEYS].itertuples(index=False)}) > 1
    cells: dict[tuple[str, str], Cell] = {}
    for fw in frameworks:
        for label in labels:
            info = series[label]
            cell = Cell(protocol, fw, label, scheduler=info.scheduler)
            cells[(fw, label)] = cell
            r = pruns[(pruns.framework == fw) & (pruns.label == label)]
            if r.empty:
                continue
            first = r.iloc[0]
            cell.params = _params_text(first)
            if several_optimizers:
                cell.params += f"; {_optimizer_text(first.optimizer, first.optimizer_params)}"
            cell.horizon_note = _horizon_note(first)
            cell.budget_differs = budget_check(first, defaults, protocol)
            cell.budget_matches = not cell.budget_differs
            if (fw, info.scheduler) in pub:
                if cell.budget_matches:
                    cell.published = pub[(fw, info.scheduler)]
                else:
                    withheld.append((f"{fw_label(fw)} {label}", cell.budget_differs))
            # safety net: the settings are equal by construction; what a run ran on may still differ
            for col in ("device", "tf32"):
                values = sorted({str(v) for v in r[col]})
                if len(values) > 1:
                    warnings.append(f"{fw_label(fw)} {label}: runs on different {col} values ({', '.join(values)}) "
                                    "are pooled")
            complete = r[r.status == "complete"]
            if complete.seed.duplicated().any():
                warnings.append(f"{fw_label(fw)} {label}: several complete runs with the same settings share a seed; "
                                "the paired comparison uses the last of each")
            cell.n_complete = len(complete)
            cell.test_size = int(first.test_size)
            cell.n_running = int((~r.status.isin(["complete", "diverged", "failed"])).sum())  # running, interrupted
            cell.n_diverged = int((r.status == "diverged").sum())
            cell.n_failed = int((r.status == "failed").sum())
            # failures by the run's verdict (the one the Verdicts section prints), never a threshold
            # of the report's own: a diverged or failed run counts though it has no final accuracy
            finished = r[r.status.isin(["complete", "diverged", "failed"])].sort_values(["seed", "run_id"])
            for run in finished.itertuples():
                why = "failed" if run.status == "failed" else run.verdict
                if why in FAILED_VERDICTS or why == "failed":
                    cell.failures.setdefault(why, []).append(int(run.seed))
                elif why == "too_short":
                    cell.too_short.append(int(run.seed))
            # every number below is over the seeds that learned (harness.report.rules: failed seeds
            # are counted beside the mean, never in it)
            learned = complete[np.array([counts_in_mean(v) for v in complete.verdict], dtype=bool)]
            cell.n_learned = len(learned)
            resolution = 1.0 / max(1, int(first.test_size))
            cell.final = accuracy_ci(learned.final_test_acc, CHANCE_ACC, resolution)
            cell.best = accuracy_ci(learned.best_test_acc, CHANCE_ACC, resolution)
            cell.last5 = accuracy_ci(learned.last5_test_acc, CHANCE_ACC, resolution)
            cell.gap = mean_ci(learned.final_train_acc - learned.final_test_acc, bounds=(-1.0, 1.0))
            cell.final_by_seed = dict(zip(learned.seed.astype(int), learned.final_test_acc))
            cell.epochs_to_target = [None if pd.isna(v) else int(v) for v in learned.epochs_to_target]
            cell.seconds_per_epoch = epoch_seconds(pdf[pdf.run_id.isin(r.run_id)])

    # the baseline of each cell: the constant-rate series of the same framework with the same
    # optimizer, budget and network (the best-covered one, then the best, if several)
    context = {key: json.dumps([plain_value(v) for v in g.iloc[0][OPTIMIZER_KEYS + CONTEXT_KEYS]], default=str)
               for key, g in pruns.groupby(["framework", "label"])}
    for (fw, label), text in context.items():
        cells[(fw, label)].context = text
    for fw in frameworks:
        candidates = [cells[(fw, s)] for s in labels
                      if series[s].kind == BASELINE and cells[(fw, s)].final_by_seed]
        for label in labels:
            cell = cells[(fw, label)]
            same = [b for b in candidates if context.get((fw, b.series)) == context.get((fw, label))]
            if not same:
                continue
            base = max(same, key=lambda b: (len(b.final_by_seed), b.final.mean if b.final else 0.0, b.series))
            cell.baseline = base.series
            if base is cell:
                cell.is_baseline = True
            elif cell.final_by_seed:
                cell.vs_constant = paired_difference(cell.final_by_seed, base.final_by_seed)
        # the family: this framework's comparisons with its constant rate, Holm-corrected together
        members = [c for c in (cells[(fw, s)] for s in labels) if c.vs_constant is not None and c.vs_constant.n >= 2]
        if members:
            pairs = [_paired_seeds(c.final_by_seed, cells[(fw, c.baseline)].final_by_seed) for c in members]
            for c, comp in zip(members, holm_comparisons(pairs)):
                c.vs_constant_cmp = comp

    for (fw, _), cell in cells.items():
        if protocol == "d2l" and cell.final is not None and cell.published is not None:
            # the published figure is one run and our mean is of n: sd · sqrt(1 + 1/n), the t factor
            # of the degrees of freedom the SD has (n - 1 for the cell's own, more when pooled)
            n = cell.final.n
            if n >= 2 and not (fw in pooled_sd and pooled_sd[fw][1] > n - 1):
                cell.reproduce_band = prediction_half_width(cell.final.sd, n)
                cell.reproduce_band_source = f"95% prediction interval from our {n} seeds"
            elif fw in pooled_sd:
                sd, dof, where = pooled_sd[fw]
                cell.reproduce_band = prediction_half_width(sd, n, dof)
                cell.reproduce_band_source = (f"n={n}: 95% prediction interval using the seed SD pooled over {where} "
                                              f"({sd:.2%}, {dof} degrees of freedom)")
            if cell.at_chance:
                cell.reproduces = False  # whatever the spread: the published run learned
            elif cell.reproduce_band is not None and cell.reproduce_band <= MAX_JUDGED_BAND:
                cell.reproduces = abs(cell.delta_published) <= cell.reproduce_band

    correlations = {}
    for i, a in enumerate(frameworks):
        for b in frameworks[i + 1:]:
            common = [s for s in labels if cells[(a, s)].final is not None and cells[(b, s)].final is not None]
            # over the series that learned in both (a chance-level tie at the bottom says nothing about order)
            common = [s for s in common if not cells[(a, s)].at_chance and not cells[(b, s)].at_chance]
            correlations[(a, b)] = rank_agreement([cells[(a, s)].final.mean for s in common],
                                                  [cells[(b, s)].final.mean for s in common])
    return ProtocolSummary(protocol, frameworks, labels, series, cells, pruns, correlations, warnings, withheld)


def _paired_seeds(a: dict[int, float], b: dict[int, float]) -> tuple[list[float], list[float]]:
    seeds = sorted(set(a) & set(b))
    return [a[s] for s in seeds], [b[s] for s in seeds]


def pooled_seed_sd(runs: pd.DataFrame) -> dict[str, tuple[float, int, str]]:
    """Per framework, the SD of final test accuracy across seeds pooled over every cell (any
    protocol; a cell is one set of settings) with at least two complete runs that learned (by
    their verdict): framework -> (sd, its degrees of freedom, where)."""
    out = {}
    complete = runs[(runs.status == "complete") & ~runs.verdict.isin(FAILED_VERDICTS)]
    for fw, g in complete.groupby("framework"):
        ss, dof, ns, where = 0.0, 0, [], set()
        for (protocol, _), c in g.groupby(["protocol", "settings_key"]):
            if len(c) >= 2:
                ss += float(((c.final_test_acc - c.final_test_acc.mean()) ** 2).sum())
                dof += len(c) - 1
                ns.append(len(c))
                where.add(protocol)
        if dof:
            out[fw] = (math.sqrt(ss / dof), dof,
                       f"{fw_label(fw)}'s {'/'.join(sorted(where))}-protocol cells")
    return out


def mean_ranks(s: ProtocolSummary) -> list[tuple[str, dict[str, int], float | None]]:
    """The ranking table's rows: (series, {framework: rank}, mean rank), best mean rank first.
    Ranks are per framework over the series with a mean (1 = best); means within TIE share a rank."""
    from harness.report.stats import competition_ranks

    per_fw: dict[str, dict[str, int]] = {}
    for fw in s.frameworks:
        cells = s.ranked(fw)
        ranks = competition_ranks([c.final.mean for c in cells], tolerance=TIE)
        per_fw[fw] = {c.series: r for c, r in zip(cells, ranks)}
    rows = []
    for label in s.schedules:
        got = {fw: per_fw[fw][label] for fw in s.frameworks if label in per_fw[fw]}
        rows.append((label, got, float(np.mean(list(got.values()))) if got else None))
    order = {label: i for i, label in enumerate(s.schedules)}
    return sorted(rows, key=lambda r: (r[2] is None, r[2] if r[2] is not None else 0, order[r[0]]))
