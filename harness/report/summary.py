"""From rows to cells: one row per run, then one cell per framework × series of each protocol.

A *series* is one set of settings: the schedule variant (its name and every parameter), the
optimizer and its parameters, the budget (epochs, images, batch) and the network. Runs are pooled
only when every one of those is equal (seeds are the replicates), so different variants are never
averaged together. A series' label is the shortest text that tells it apart from the others of its
protocol: the schedule's name when that is enough (``cosine``), its variant when two variants of
one schedule ran (``cosine(T=20, final=0.01)``), plus the optimizer when several ran
(``cosine · adam``), plus any budget setting that differs (``cosine · 5 epochs``). In the d2l
protocol a setting that each framework's tab fixes on its own (TensorFlow's tab has its own
network) is not part of the label: the tabs are meant to differ.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from harness.report.load import (
    _SHORT, CHANCE_ACC, D2L_BUDGET, FRAMEWORK_ORDER, TARGET_ACC, _num, fw_label, ordered, param_items, params_of,
)
from harness.report.stats import (
    Comparison, Estimate, accuracy_ci, holm_comparisons, mean_ci, paired_comparison, paired_difference,
    prediction_half_width, rank_agreement, success_rate,
)
from harness.report.style import SCHEDULE_ORDER, family
from harness.verdicts import FAILED_VERDICTS

BASELINE = "constant"
# A prediction band wider than this (±5 pp) says nothing about reproduction: not judged.
MAX_JUDGED_BAND = 0.05
# "the last 5 epochs": a constant rate's last-epoch snapshot swings about a point; their mean does not
LAST_K = 5
# Two means closer than this (half the tables' 0.01 pp resolution) are a tie: they print the same.
TIE = 0.5e-4

# what the schedule was (its label, ``variant``, is derived from these and is not a setting: two
# label texts for equal parameters, say from an older writer, must not split a cell)
SCHEDULE_KEYS = ["scheduler", "schedule_params", "base_lr", "unit"]
OPTIMIZER_KEYS = ["optimizer", "optimizer_params"]
CONTEXT_KEYS = ["epochs_planned", "train_size", "test_size", "batch_size", "model", "model_hash"]
SETTINGS_KEYS = SCHEDULE_KEYS + OPTIMIZER_KEYS + CONTEXT_KEYS


def _value(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return v.item() if hasattr(v, "item") else v


def summarise_runs(df: pd.DataFrame) -> pd.DataFrame:
    """One row per run: identity, settings, status, epochs done, final/best test accuracy, gap,
    epochs to 88%."""
    from harness.verdicts import judge_runs

    verdicts = judge_runs(df).set_index("run_id")
    rows = []
    for run_id, g in df.groupby("run_id", sort=False):
        g = g.sort_values("epoch")
        last = g.iloc[-1]
        reached = g.index[g.test_acc >= TARGET_ACC]
        params = params_of(last.schedule_params)
        rows.append(
            {
                "run_id": run_id,
                "protocol": last.protocol,
                "framework": last.framework,
                "framework_version": last.framework_version,
                "device": last.device,
                "tf32": last.tf32,
                "scheduler": last.scheduler,
                "kind": params.get("kind", last.scheduler),
                "variant": last.variant,
                "schedule_params": last.schedule_params,
                "optimizer": last.optimizer,
                "optimizer_params": last.optimizer_params,
                "model_hash": _value(last.model_hash),
                "seed": int(last.seed),
                "status": last.status,
                "epochs_planned": int(last.epochs),
                "epochs_done": len(g),
                "steps_per_epoch": len(g.step_lrs.iloc[0]) if g.step_lrs.iloc[0] is not None else None,
                "train_size": int(last.train_size),
                "test_size": int(last.test_size),
                "batch_size": int(last.batch_size),
                "unit": last.unit,
                "base_lr": float(last.base_lr),
                "model": last.model,
                "git_sha": last.git_sha,
                "final_test_acc": float(last.test_acc),
                "final_train_acc": float(last.train_acc),
                "final_train_loss": float(last.train_loss),
                "best_test_acc": float(g.test_acc.max()),
                "last5_test_acc": float(g.test_acc.tail(LAST_K).mean()),
                "verdict": verdicts.loc[run_id, "verdict"],
                "verdict_reason": verdicts.loc[run_id, "reason"],
                "epochs_to_target": int(g.loc[reached[0], "epoch"]) + 1 if len(reached) else None,
            }
        )
    runs = _fill_unknown(pd.DataFrame(rows))
    runs["settings_key"] = [json.dumps([_value(v) for v in r], default=str)
                            for r in runs[SETTINGS_KEYS].itertuples(index=False)]
    return runs


def _fill_unknown(runs: pd.DataFrame) -> pd.DataFrame:
    """A run that does not record its schedule parameters, optimizer parameters or network hash
    (an old file without its _config.yaml) has the one value the other runs of the same schedule,
    optimizer or model record, when there is exactly one: unknown is not a different setting."""
    runs = runs.copy()
    for col, by in (("schedule_params", ["scheduler", "base_lr", "unit"]), ("optimizer_params", ["optimizer"]),
                    ("model_hash", ["model"])):
        values = [v if isinstance(v, str) else None for v in runs[col]]
        known: dict[tuple, set] = {}
        for key, v in zip(runs[by].itertuples(index=False), values):
            if v is not None:
                known.setdefault(tuple(key), set()).add(v)
        runs[col] = pd.Series([v if v is not None else (next(iter(known[tuple(k)])) if len(known.get(tuple(k), ())) == 1
                                                         else None)
                               for k, v in zip(runs[by].itertuples(index=False), values)], index=runs.index, dtype=object)
    return runs


# ------------------------------------------------------------------------------------ series


@dataclass(frozen=True)
class Series:
    """One row of the report: a label unique in its protocol and what it stands for."""

    label: str
    scheduler: str
    kind: str
    optimizer: str
    family: str


def _fmt_setting(col: str, v) -> str:
    if v is None:
        return f"{col} unknown"
    if col == "epochs_planned":
        return f"{v} epoch{'s' if v != 1 else ''}"
    if col == "train_size":
        return f"{v:,} train images"
    if col == "test_size":
        return f"{v:,} test images"
    if col == "batch_size":
        return f"batch {v}"
    if col == "model":
        return f"model {v}"
    if col == "model_hash":
        return f"network {str(v)[:8]}"
    return f"{col}={v}"


def _optimizer_text(name: str, params: str | None) -> str:
    shown = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in params_of(params).items())
    return f"{name}({shown})" if shown else name


def label_series(pruns: pd.DataFrame, protocol: str) -> pd.Series:
    """A label per run (indexed like ``pruns``): equal labels within a framework mean equal settings."""
    if pruns.empty:
        return pd.Series([], dtype=object)
    sched = [tuple(_value(v) for v in r) for r in pruns[SCHEDULE_KEYS].itertuples(index=False)]
    # one label text per schedule setting (the first, sorted, where writers spelled it differently)
    variant_of: dict[tuple, str] = {}
    for key, v in sorted(zip(sched, pruns.variant), key=lambda kv: (str(kv[0]), str(kv[1]))):
        variant_of.setdefault(key, v if isinstance(v, str) and v else key[0])
    opt = [tuple(_value(v) for v in r) for r in pruns[OPTIMIZER_KEYS].itertuples(index=False)]
    frameworks = list(pruns.framework)

    def framework_fixed(values: list, among: list[bool] | None = None) -> bool:
        """d2l protocol only: each framework's tab has one value of its own."""
        if protocol != "d2l":
            return False
        seen: dict[str, set] = {}
        for fw, v, keep in zip(frameworks, values, among or [True] * len(values)):
            if keep:
                seen.setdefault(fw, set()).add(v)
        return all(len(s) == 1 for s in seen.values())

    parts: list[list[str]] = [[] for _ in range(len(pruns))]
    # the schedule: its name, or its variant where one name ran several variants
    names = list(pruns.scheduler)
    for name in sorted(set(names)):
        mine = [n == name for n in names]
        distinct = {s for s, m in zip(sched, mine) if m}
        if len(distinct) == 1 or framework_fixed(sched, mine):
            for i, m in enumerate(mine):
                if m:
                    parts[i].append(name)
            continue
        variants = {variant_of[d] for d in distinct}
        for i, m in enumerate(mine):
            if not m:
                continue
            s = sched[i]
            text = variant_of[s]
            if len(variants) < len(distinct):  # same variant text, other settings: say which
                same_text = [d for d in distinct if variant_of[d] == text]
                if len({d[2] for d in same_text}) > 1:
                    text += f", lr={s[2]:g}"
                if len({d[3] for d in same_text}) > 1:
                    text += f", per {s[3]}"
            parts[i].append(text)
    # the optimizer, where several ran: on every series of a schedule that ran with several, and
    # on any series that did not use the most common one (the inventory names it for the rest)
    if len(set(opt)) > 1 and not framework_fixed(opt):
        by_name: dict[str, set] = {}
        for o in opt:
            by_name.setdefault(o[0], set()).add(o)
        counts: dict[tuple, int] = {}
        for o in opt:
            counts[o] = counts.get(o, 0) + 1
        main = sorted(counts, key=lambda o: (-counts[o], str(o)))[0]
        per_schedule: dict[str, set] = {}
        for n, o in zip(names, opt):
            per_schedule.setdefault(n, set()).add(o)
        for i, o in enumerate(opt):
            if o != main or len(per_schedule[names[i]]) > 1:
                parts[i].append(o[0] if len(by_name[o[0]]) == 1 else _optimizer_text(*o))
    # any budget or network setting that differs, as one part: "5 epochs, 2,560/1,000 images"
    budget: list[list[str]] = [[] for _ in range(len(pruns))]
    differing = [col for col in CONTEXT_KEYS
                 if len(set(v := [_value(x) for x in pruns[col]])) > 1 and not framework_fixed(v)]
    for i, r in enumerate(pruns[CONTEXT_KEYS].itertuples(index=False)):
        row = dict(zip(CONTEXT_KEYS, (_value(v) for v in r)))
        for col in differing:
            if col == "test_size" and "train_size" in differing:
                continue
            if col == "train_size" or (col == "test_size"):
                budget[i].append(f"{row['train_size']:,}/{row['test_size']:,} images")
            else:
                budget[i].append(_fmt_setting(col, row[col]))
    for i, b in enumerate(budget):
        if b:
            parts[i].append(", ".join(b))
    labels = [" · ".join(p) for p in parts]
    # a label must never stand for two settings within a framework: number what is left
    keys = list(pruns.settings_key)
    seen: dict[tuple[str, str], list[str]] = {}
    for fw, label, key in zip(frameworks, labels, keys):
        seen.setdefault((fw, label), [])
        if key not in seen[(fw, label)]:
            seen[(fw, label)].append(key)
    out = []
    for fw, label, key in zip(frameworks, labels, keys):
        clash = seen[(fw, label)]
        out.append(label if len(clash) == 1 else f"{label} #{clash.index(key) + 1}")
    return pd.Series(out, index=pruns.index, dtype=object)


def series_order(series: list[Series]) -> list[Series]:
    def key(s: Series):
        pos = SCHEDULE_ORDER.index(s.scheduler) if s.scheduler in SCHEDULE_ORDER else len(SCHEDULE_ORDER)
        return (pos, s.scheduler, s.label)

    return sorted(series, key=key)


# ------------------------------------------------------------------------------------- cells


@dataclass
class Cell:
    """One framework × series of one protocol."""

    protocol: str
    framework: str
    series: str  # the label
    scheduler: str = ""
    n_complete: int = 0
    n_running: int = 0
    n_diverged: int = 0
    n_failed: int = 0  # status failed: the run raised
    failures: dict[str, list[int]] = field(default_factory=dict)  # verdict (or "failed") -> seeds
    too_short: list[int] = field(default_factory=list)  # complete runs too short for a trend
    final: Estimate | None = None
    last5: Estimate | None = None
    best: Estimate | None = None
    gap: Estimate | None = None
    final_by_seed: dict[int, float] = field(default_factory=dict)
    epochs_to_target: list[int | None] = field(default_factory=list)
    seconds_per_epoch: float | None = None
    published: float | None = None  # only where the cell ran the chapter's budget
    budget_matches: bool = False
    budget_differs: list[str] = field(default_factory=list)  # what differs from the chapter's budget
    params: str = ""  # the schedule's parameters, in words
    horizon_note: str = ""  # set when the schedule's horizon is longer than the run
    context: str = ""  # optimizer, budget and network: only cells of one context are compared
    baseline: str | None = None  # the constant-rate series this one is compared with
    is_baseline: bool = False
    vs_constant: Estimate | None = None
    vs_constant_cmp: Comparison | None = None  # Holm-corrected over the framework's family
    reproduces: bool | None = None
    reproduce_band: float | None = None  # half-width used to judge reproduction
    reproduce_band_source: str = ""

    @property
    def n_runs(self) -> int:
        return self.n_complete + self.n_running + self.n_diverged + self.n_failed

    @property
    def n_finished(self) -> int:
        return self.n_complete + self.n_diverged + self.n_failed

    @property
    def n_failures(self) -> int:
        return sum(len(v) for v in self.failures.values())

    def success(self) -> tuple[float, float, float] | None:
        """Share of finished runs that produced a network (not diverged, collapsed, never learned
        or failed), with its exact binomial 95% interval; None before any run finished."""
        n = self.n_finished
        return None if n == 0 else success_rate(n - self.n_failures, n)

    def failure_text(self) -> str:
        """``2 of 3 runs failed (diverged: seeds 0, 1)``; empty when none failed."""
        if not self.n_failures:
            return ""
        parts = [f"{v.replace('_', ' ')}: seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}"
                 for v, seeds in self.failures.items()]
        return f"{self.n_failures} of {self.n_finished} runs failed ({'; '.join(parts)})"

    @property
    def missing(self) -> bool:
        return self.n_runs == 0

    @property
    def at_chance(self) -> bool:
        return self.final is not None and self.final.mean < CHANCE_ACC

    @property
    def n_at_chance(self) -> int:
        """Complete runs whose verdict says they never learned or collapsed to chance."""
        return len(self.failures.get("never_learned", [])) + len(self.failures.get("collapsed", []))

    @property
    def delta_published(self) -> float | None:
        return None if self.final is None or self.published is None else self.final.mean - self.published

    def state(self) -> str:
        """What to show where a number would be when there is none."""
        if self.missing:
            return "missing"
        if self.final is not None:
            return "ok"
        if self.n_running:
            return "incomplete"
        if self.n_failed and not self.n_diverged:
            return "failed"
        return "diverged"


@dataclass
class ProtocolSummary:
    protocol: str
    frameworks: list[str]
    schedules: list[str]  # the series' labels, in report order
    series: dict[str, Series]
    cells: dict[tuple[str, str], Cell]
    runs: pd.DataFrame
    rank_correlations: dict[tuple[str, str], tuple[float, float, int]]  # (fw_a, fw_b) -> (rho, exact p, n series)
    warnings: list[str]
    # cells with a published figure that ran another budget: (name, what differs)
    published_withheld: list[tuple[str, list[str]]] = field(default_factory=list)

    def cell(self, framework: str, label: str) -> Cell:
        return self.cells[(framework, label)]

    def ranked(self, framework: str) -> list[Cell]:
        """This framework's cells with a mean, best first."""
        cells = [self.cells[(framework, s)] for s in self.schedules if self.cells[(framework, s)].final is not None]
        return sorted(cells, key=lambda c: -c.final.mean)

    @property
    def has_published(self) -> bool:
        return any(c.published is not None for c in self.cells.values())


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

    differs = []
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

    several_optimizers = len({tuple(_value(v) for v in r) for r in pruns[OPTIMIZER_KEYS].itertuples(index=False)}) > 1
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
            resolution = 1.0 / max(1, int(first.test_size))
            cell.final = accuracy_ci(complete.final_test_acc, CHANCE_ACC, resolution)
            cell.best = accuracy_ci(complete.best_test_acc, CHANCE_ACC, resolution)
            cell.last5 = accuracy_ci(complete.last5_test_acc, CHANCE_ACC, resolution)
            cell.gap = mean_ci(complete.final_train_acc - complete.final_test_acc, bounds=(-1.0, 1.0))
            cell.final_by_seed = dict(zip(complete.seed.astype(int), complete.final_test_acc))
            cell.epochs_to_target = [None if pd.isna(v) else int(v) for v in complete.epochs_to_target]
            cell.seconds_per_epoch = epoch_seconds(pdf[pdf.run_id.isin(r.run_id)])

    # the baseline of each cell: the constant-rate series of the same framework with the same
    # optimizer, budget and network (the best-covered one, then the best, if several)
    context = {key: json.dumps([_value(v) for v in g.iloc[0][OPTIMIZER_KEYS + CONTEXT_KEYS]], default=str)
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
