"""``python -m harness report RESULTS_DIR [--out DIR]``: which schedule wins, by how much, and is
that true in every framework?

Reads every ``epochs.parquet`` under RESULTS_DIR (parquet only; no framework is imported) and
writes to ``--out`` (default ``RESULTS_DIR/_report``; the leading ``_`` keeps parquet readers of
RESULTS_DIR off it, as for ``_config.yaml``):

- ``index.html``: self-contained (the PNGs embedded as base64), opens from disk with no network;
- ``report.md``: the same text and tables, referencing the PNGs beside it;
- ``lr_<protocol>.png``, ``curves_<protocol>.png``, ``final_<protocol>.png``.

Each protocol (clean, d2l) gets its own section. Statistics are over seeds of complete runs:
means with 95% t intervals; paired differences to the constant schedule over the seeds both
have; diverged and still-running runs are counted and drawn but kept out of the means.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import html
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.dataset as pads

from harness.report_stats import Estimate, mean_ci, paired_difference, prediction_half_width, spearman
from harness.results import EPOCHS_FILE, EPOCHS_SCHEMA

REFERENCE_CSV = Path(__file__).resolve().parent / "reference" / "d2l_published.csv"
DEFAULT_OUT = "_report"
TARGET_ACC = 0.88  # "epochs to reach 88% test accuracy"
CHANCE_ACC = 0.2  # ten classes: a final test accuracy below this means the run did not learn
BASELINE = "constant"
# A prediction band wider than this (±5 pp) says nothing about reproduction: not judged.
MAX_JUDGED_BAND = 0.05

FRAMEWORK_ORDER = ["torch", "tf", "mxnet"]
FRAMEWORK_LABELS = {"torch": "PyTorch", "tf": "TensorFlow", "mxnet": "MXNet"}
SCHEDULE_ORDER = ["constant", "sqrt", "factor", "multifactor", "cosine", "warmup"]
PROTOCOL_ORDER = ["clean", "d2l"]
PROTOCOL_TITLES = {
    "clean": "Clean protocol: one identical experiment in every framework",
    "d2l": "d2l protocol: each framework runs its own tab of the chapter, as published",
}


class ReportError(Exception):
    """A problem with the input the user can fix; printed as one line, exit status 2."""


# ----------------------------------------------------------------------------------------- input


def load_results(results_dir: Path) -> pd.DataFrame:
    """Every run's epochs under ``results_dir`` (nested folders too), one row per (run, epoch)."""
    if not results_dir.exists():
        raise ReportError(f"results directory {str(results_dir)!r} does not exist; train first (make run) or pass another")
    if not results_dir.is_dir():
        raise ReportError(f"{str(results_dir)!r} is not a directory; pass the results directory (e.g. results)")
    files = sorted(
        p for p in results_dir.rglob(EPOCHS_FILE)
        if not any(part.startswith((".", "_")) for part in p.relative_to(results_dir).parts)
    )
    if not files:
        raise ReportError(f"no runs in {str(results_dir)!r} (no */{EPOCHS_FILE} found); train first (make run) or pass another directory")
    try:
        dataset = pads.dataset([str(f) for f in files], schema=EPOCHS_SCHEMA, format="parquet")
        table = dataset.to_table(columns=[*EPOCHS_SCHEMA.names, "__filename"])
    except (OSError, ValueError) as exc:  # pyarrow's errors derive from these
        raise ReportError(f"cannot read the runs in {str(results_dir)!r}: {str(exc).splitlines()[0]}") from None
    df = _one_copy_per_run(table.to_pandas())
    # Files written before a column existed read it as null: runs before `protocol` were all clean.
    df["protocol"] = df["protocol"].fillna("clean")
    df["status"] = df["status"].fillna("running")
    if df.empty:
        raise ReportError(f"the runs in {str(results_dir)!r} have no finished epoch yet")
    return df.sort_values(["protocol", "framework", "scheduler", "seed", "run_id", "epoch"]).reset_index(drop=True)


def _one_copy_per_run(df: pd.DataFrame) -> pd.DataFrame:
    """The same run (run_id) can sit in two folders: a copied results directory, or a user's run
    under results/ beside the committed study in results/d2l_study/. Counting both would count one
    seed twice, so keep the copy that got furthest (most epochs; the first path on a tie)."""
    epochs = df.groupby("__filename")["epoch"].transform("size")
    df = df.assign(_epochs=epochs).sort_values(["_epochs", "__filename"], ascending=[False, True])
    keep = df.drop_duplicates("run_id")[["run_id", "__filename"]]
    df = df.merge(keep, on=["run_id", "__filename"])
    return df.drop(columns=["_epochs", "__filename"])


def load_published(path: Path = REFERENCE_CSV) -> pd.DataFrame:
    return pd.read_csv(path, comment="#")


def _ordered(values, order: list[str]) -> list[str]:
    values = set(values)
    return [v for v in order if v in values] + sorted(values - set(order))


# ------------------------------------------------------------------------------------ statistics


def summarise_runs(df: pd.DataFrame) -> pd.DataFrame:
    """One row per run: identity, status, epochs done, final/best test accuracy, gap, epochs to 88%."""
    rows = []
    for run_id, g in df.groupby("run_id", sort=False):
        g = g.sort_values("epoch")
        last = g.iloc[-1]
        reached = g.index[g.test_acc >= TARGET_ACC]
        rows.append(
            {
                "run_id": run_id,
                "protocol": last.protocol,
                "framework": last.framework,
                "framework_version": last.framework_version,
                "device": last.device,
                "tf32": last.tf32,
                "scheduler": last.scheduler,
                "seed": int(last.seed),
                "status": last.status,
                "epochs_planned": int(last.epochs),
                "epochs_done": len(g),
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
                "epochs_to_target": int(g.loc[reached[0], "epoch"]) + 1 if len(reached) else None,
            }
        )
    return pd.DataFrame(rows)


@dataclass
class Cell:
    """One framework × schedule of one protocol."""

    protocol: str
    framework: str
    scheduler: str
    n_complete: int = 0
    n_running: int = 0
    n_diverged: int = 0
    final: Estimate | None = None
    best: Estimate | None = None
    gap: Estimate | None = None
    final_by_seed: dict[int, float] = field(default_factory=dict)
    epochs_to_target: list[int | None] = field(default_factory=list)
    seconds_per_epoch: float | None = None
    published: float | None = None
    vs_constant: Estimate | None = None
    reproduces: bool | None = None
    reproduce_band: float | None = None  # half-width used to judge reproduction
    reproduce_band_source: str = ""

    @property
    def n_runs(self) -> int:
        return self.n_complete + self.n_running + self.n_diverged

    @property
    def missing(self) -> bool:
        return self.n_runs == 0

    @property
    def at_chance(self) -> bool:
        return self.final is not None and self.final.mean < CHANCE_ACC

    @property
    def n_at_chance(self) -> int:
        """Complete runs that never learned (a network that died early, e.g. at a high rate)."""
        return sum(acc < CHANCE_ACC for acc in self.final_by_seed.values())

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
        return "diverged"


@dataclass
class ProtocolSummary:
    protocol: str
    frameworks: list[str]
    schedules: list[str]
    cells: dict[tuple[str, str], Cell]
    runs: pd.DataFrame
    rank_correlations: dict[tuple[str, str], tuple[float | None, int]]  # (fw_a, fw_b) -> (rho, n schedules)
    warnings: list[str]

    def cell(self, framework: str, scheduler: str) -> Cell:
        return self.cells[(framework, scheduler)]

    def ranked(self, framework: str) -> list[Cell]:
        """This framework's cells with a mean, best first."""
        cells = [self.cells[(framework, s)] for s in self.schedules if self.cells[(framework, s)].final is not None]
        return sorted(cells, key=lambda c: -c.final.mean)


def epoch_seconds(g: pd.DataFrame) -> float | None:
    """Median train + eval seconds per epoch, the first epoch (compilation, warm-up) excluded."""
    later = g[g.epoch >= 1]
    if later.empty:
        return None
    return float((later.train_time_s + later.eval_time_s).median())


def summarise_protocol(df: pd.DataFrame, runs: pd.DataFrame, protocol: str, published: pd.DataFrame,
                       pooled_sd: dict[str, tuple[float, int, str]]) -> ProtocolSummary:
    pdf, pruns = df[df.protocol == protocol], runs[runs.protocol == protocol]
    frameworks = _ordered(pruns.framework, FRAMEWORK_ORDER)
    schedules = _ordered(pruns.scheduler, SCHEDULE_ORDER)
    warnings: list[str] = []
    pub = {(r.framework, r.scheduler): float(r.test_acc) for r in published.itertuples()}

    cells: dict[tuple[str, str], Cell] = {}
    for fw in frameworks:
        for sched in schedules:
            cell = Cell(protocol, fw, sched, published=pub.get((fw, sched)))
            cells[(fw, sched)] = cell
            r = pruns[(pruns.framework == fw) & (pruns.scheduler == sched)]
            if r.empty:
                continue
            settings = r[["epochs_planned", "train_size", "test_size", "batch_size", "unit", "base_lr", "model"]]
            if len(settings.drop_duplicates()) > 1:
                warnings.append(
                    f"{FRAMEWORK_LABELS.get(fw, fw)} {sched}: runs with different settings are pooled "
                    f"(epochs {sorted(set(r.epochs_planned))}, train_size {sorted(set(r.train_size))}, "
                    f"base_lr {sorted(set(r.base_lr))}, unit {sorted(set(r.unit))}); give them separate results directories"
                )
            complete = r[r.status == "complete"]
            if complete.seed.duplicated().any():
                warnings.append(f"{FRAMEWORK_LABELS.get(fw, fw)} {sched}: several complete runs share a seed; "
                                "the paired comparison uses the last of each")
            cell.n_complete = len(complete)
            cell.n_running = int((~r.status.isin(["complete", "diverged"])).sum())  # running, or killed
            cell.n_diverged = int((r.status == "diverged").sum())
            cell.final = mean_ci(complete.final_test_acc)
            cell.best = mean_ci(complete.best_test_acc)
            cell.gap = mean_ci(complete.final_train_acc - complete.final_test_acc)
            cell.final_by_seed = dict(zip(complete.seed.astype(int), complete.final_test_acc))
            cell.epochs_to_target = [None if pd.isna(v) else int(v) for v in complete.epochs_to_target]
            cell.seconds_per_epoch = epoch_seconds(pdf[pdf.run_id.isin(r.run_id)])

    for fw in frameworks:
        base = cells[(fw, BASELINE)] if (fw, BASELINE) in cells else None
        for sched in schedules:
            cell = cells[(fw, sched)]
            if base is not None and sched != BASELINE and cell.final_by_seed and base.final_by_seed:
                cell.vs_constant = paired_difference(cell.final_by_seed, base.final_by_seed)
            if protocol == "d2l" and cell.final is not None and cell.published is not None:
                if cell.final.n >= 2:
                    cell.reproduce_band = prediction_half_width(cell.final.sd, cell.final.n)
                    cell.reproduce_band_source = f"95% prediction interval from our {cell.final.n} seeds"
                elif fw in pooled_sd:
                    sd, n, where = pooled_sd[fw]
                    cell.reproduce_band = prediction_half_width(sd, n)
                    cell.reproduce_band_source = (f"n=1: 95% prediction interval using the seed SD pooled over {where} "
                                                  f"({sd:.2%})")
                if cell.at_chance:
                    cell.reproduces = False  # whatever the spread: the published run learned
                elif cell.reproduce_band is not None and cell.reproduce_band <= MAX_JUDGED_BAND:
                    cell.reproduces = abs(cell.delta_published) <= cell.reproduce_band

    correlations = {}
    for i, a in enumerate(frameworks):
        for b in frameworks[i + 1:]:
            common = [s for s in schedules if cells[(a, s)].final is not None and cells[(b, s)].final is not None]
            rho = spearman([cells[(a, s)].final.mean for s in common], [cells[(b, s)].final.mean for s in common])
            correlations[(a, b)] = (rho, len(common))
    return ProtocolSummary(protocol, frameworks, schedules, cells, pruns, correlations, warnings)


def pooled_seed_sd(runs: pd.DataFrame) -> dict[str, tuple[float, int, str]]:
    """Per framework, the SD of final test accuracy across seeds pooled over every cell (any
    protocol) with at least two complete, learning runs: framework -> (sd, typical n, where)."""
    out = {}
    complete = runs[(runs.status == "complete") & (runs.final_test_acc >= CHANCE_ACC)]
    for fw, g in complete.groupby("framework"):
        ss, dof, ns, where = 0.0, 0, [], set()
        for (protocol, _), c in g.groupby(["protocol", "scheduler"]):
            if len(c) >= 2:
                ss += float(((c.final_test_acc - c.final_test_acc.mean()) ** 2).sum())
                dof += len(c) - 1
                ns.append(len(c))
                where.add(protocol)
        if dof:
            out[fw] = (math.sqrt(ss / dof), int(np.median(ns)),
                       f"{FRAMEWORK_LABELS.get(fw, fw)}'s {'/'.join(sorted(where))}-protocol cells")
    return out


# -------------------------------------------------------------------------------------- wording


def pct(x: float | None, digits: int = 1) -> str:
    return "—" if x is None else f"{100 * x:.{digits}f}%"


def pp(x: float, digits: int = 1) -> str:
    """Percentage points with an explicit sign; a true minus sign for readability."""
    s = f"{100 * x:+.{digits}f}"
    if float(s) == 0:
        s = s[1:]  # no sign on a difference that rounds to zero
    return s.replace("-", "−") + " pp"


def ci_text(e: Estimate, digits: int = 1) -> str:
    if e.half is None:
        return "n=1, no interval"
    return f"95% CI {pp(e.low, digits)} to {pp(e.high, digits)}"


def fw_label(fw: str) -> str:
    return FRAMEWORK_LABELS.get(fw, fw)


def join_words(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def agreement_word(rho: float) -> str:
    if rho >= 0.7:
        return "agree"
    if rho >= 0.3:
        return "partly agree"
    return "do not agree"


def findings(s: ProtocolSummary) -> list[str]:
    """Short sentences generated from the numbers, in the order a reader asks."""
    out = []
    # 1. winner per framework, and whether its lead over the runner-up is beyond the noise
    for fw in s.frameworks:
        ranked = s.ranked(fw)
        if not ranked:
            out.append(f"{fw_label(fw)}: no complete run yet.")
            continue
        win = ranked[0]
        text = f"{fw_label(fw)}: **{win.scheduler}** wins with {pct(win.final.mean, 2)} final test accuracy (n={win.final.n})"
        if len(ranked) > 1:
            second = ranked[1]
            lead = paired_difference(win.final_by_seed, second.final_by_seed)
            if lead is None or lead.half is None:
                gap = 100 * (win.final.mean - second.final.mean)
                text += f", {gap:.2f} pp ahead of {second.scheduler} (too few shared seeds to judge the noise)"
            else:
                noise = "inside the noise" if not lead.excludes_zero() else "beyond the noise"
                text += (f", {100 * lead.mean:.2f} pp ahead of {second.scheduler} over the same seeds "
                         f"({ci_text(lead, 2)}: {noise})")
        out.append(text + ".")
    # 2. does the ranking agree across frameworks?
    rhos = [(a, b, rho, n) for (a, b), (rho, n) in s.rank_correlations.items()]
    if rhos:
        parts = [f"{fw_label(a)} vs {fw_label(b)} ρ = {rho:.2f} ({agreement_word(rho)}, {n} schedules)".replace("-", "−")
                 if rho is not None else f"{fw_label(a)} vs {fw_label(b)} not computable ({n} common schedule{'s' if n != 1 else ''}, 3 needed)"
                 for a, b, rho, n in rhos]
        out.append("Schedule rankings across frameworks (Spearman rank correlation of mean final test accuracy): "
                   + "; ".join(parts) + ".")
    # 3. which differences to the constant schedule are inside the noise?
    for fw in s.frameworks:
        clear, noisy, single = [], [], []
        for sched in s.schedules:
            d = s.cell(fw, sched).vs_constant
            if d is None:
                continue
            if d.half is None:
                single.append(f"{sched} {pp(d.mean)}")
            elif d.excludes_zero():
                clear.append(f"{sched} {pp(d.mean)}")
            else:
                noisy.append(f"{sched} {pp(d.mean)}")
        if not (clear or noisy or single):
            continue
        bits = []
        if clear:
            bits.append(f"beyond the noise: {join_words(clear)}")
        if noisy:
            bits.append(f"inside the noise (95% CI includes zero): {join_words(noisy)}")
        if single:
            bits.append(f"one shared seed, no interval: {join_words(single)}")
        out.append(f"{fw_label(fw)}, paired difference to constant over the same seeds — " + "; ".join(bits) + ".")
    # 4. the published figures (d2l protocol only: the clean protocol is a different experiment)
    if s.protocol == "d2l":
        yes, no, unjudged = [], [], []
        for fw in s.frameworks:
            for sched in s.schedules:
                c = s.cell(fw, sched)
                if c.published is None or c.final is None:
                    continue
                name = f"{fw_label(fw)} {sched}"
                if c.reproduces is None:
                    why = ("one seed, no spread to borrow" if c.reproduce_band is None
                           else f"seed spread ±{100 * c.reproduce_band:.1f} pp too wide")
                    unjudged.append(f"{name} ({pp(c.delta_published)}; {why})")
                elif c.reproduces:
                    yes.append(name)
                else:
                    beyond = ("did not learn" if c.at_chance
                              else f"beyond ±{100 * c.reproduce_band:.1f} pp")
                    no.append(f"{name} ({pct(c.final.mean)} vs {pct(c.published)}, {pp(c.delta_published)}, {beyond})")
        if yes or no or unjudged:
            total = len(yes) + len(no) + len(unjudged)
            text = f"Published d2l figures reproduced within our seed spread: {len(yes)} of {total}"
            if yes and len(yes) == total:
                text = f"Published d2l figures reproduced within our seed spread: all {total}"
            elif yes:
                text += f" ({join_words(yes)})"
            text += f"; not reproduced: {join_words(no)}" if no else ""
            text += f"; not judged: {join_words(unjudged)}" if unjudged else ""
            out.append(text + ".")
    # 5. what is not in the means
    problems = [f"no {fw_label(fw)} runs" for fw in FRAMEWORK_ORDER if fw not in s.frameworks]
    for fw in s.frameworks:
        for sched in s.schedules:
            c = s.cell(fw, sched)
            name = f"{fw_label(fw)} {sched}"
            if c.missing:
                problems.append(f"{name} has no runs")
            if c.n_diverged:
                problems.append(f"{name}: {c.n_diverged} of {c.n_runs} runs diverged")
            if c.n_running:
                problems.append(f"{name}: {c.n_running} of {c.n_runs} runs incomplete")
            if c.at_chance:
                problems.append(f"{name} never learned (final test accuracy {pct(c.final.mean)}, chance is 10%)")
            elif c.n_at_chance:
                problems.append(f"{name}: {c.n_at_chance} of {c.n_complete} runs never learned (stuck at chance, "
                                f"10%), which the mean and its interval include")
    if problems:
        out.append("Gaps and failures: " + "; ".join(problems) + ".")
    return out


def headline(summaries: list[ProtocolSummary]) -> str:
    """One sentence answering "which schedule wins, by how much, and is it true everywhere?"."""
    primary = next((s for s in summaries if any(s.ranked(fw) for fw in s.frameworks)), None)
    if primary is None:
        return "No run has completed yet: the curves below show the runs in progress."
    winners = {fw: s[0] for fw in primary.frameworks if (s := primary.ranked(fw))}
    scope = f"{primary.protocol} protocol"

    def noise(gains: list[Estimate]) -> str:
        judged = [g for g in gains if g.half is not None]
        clear = sum(bool(g.excludes_zero()) for g in judged)
        if not judged:
            return "one seed, no interval"
        if clear == len(judged):
            return "beyond the seed noise"
        if clear == 0:
            return "inside the seed noise"
        return f"beyond the seed noise in {clear} of {len(judged)} frameworks"

    names = {c.scheduler for c in winners.values()}
    if len(names) == 1:
        sched = names.pop()
        where = ", ".join(f"{fw_label(fw)} {pct(c.final.mean)}" for fw, c in winners.items())
        frameworks = "every framework" if len(winners) > 1 else fw_label(next(iter(winners)))
        text = f"{sched.capitalize()} gives the best final test accuracy in {frameworks} ({scope}: {where})"
        gains = [c.vs_constant for c in winners.values() if c.vs_constant is not None]
        if gains:
            lo, hi = min(g.mean for g in gains), max(g.mean for g in gains)
            span = pp(lo) if abs(hi - lo) < 0.0005 else f"{pp(lo)} to {pp(hi)}"
            text += f", {span} over the constant rate ({noise(gains)})"
    else:
        parts = []
        for fw, c in winners.items():
            part = f"{c.scheduler} in {fw_label(fw)} ({pct(c.final.mean)}"
            if c.vs_constant is not None:
                part += f", {pp(c.vs_constant.mean)} over constant, {noise([c.vs_constant])}"
            # another framework's winner that this one has no complete run of: the ranking is partial
            absent = sorted({w.scheduler for w in winners.values()
                             if primary.cells[(fw, w.scheduler)].final is None},
                            key=primary.schedules.index)
            if absent:
                part += f"; no complete {join_words(absent)} run"
            parts.append(part + ")")
        text = f"The best schedule depends on the framework ({scope}): " + join_words(parts)
    return text + "."


# -------------------------------------------------------------------------------------- tables

TABLE_COLUMNS = [
    # key, header, numeric (right-aligned)
    ("framework", "framework", False),
    ("scheduler", "schedule", False),
    ("runs", "runs", False),
    ("final", "final test acc", True),
    ("best", "best test acc", True),
    ("gap", "train − test", True),
    ("epochs88", f"epochs to {TARGET_ACC:.0%}", True),
    ("time", "s / epoch", True),
    ("published", "d2l published", True),
    ("delta", "Δ published", True),
    ("vs_constant", "Δ constant (paired)", True),
]


def _est(e: Estimate | None, digits: int = 2) -> str:
    if e is None:
        return "—"
    if e.half is None:
        return f"{100 * e.mean:.{digits}f}% (n=1)"
    return f"{100 * e.mean:.{digits}f} ± {100 * e.half:.{digits}f}%"


def _diff(e: Estimate | None) -> str:
    if e is None:
        return "—"
    text = pp(e.mean, 2)
    if e.half is None:
        return text + " (n=1)"
    return f"{text} [{100 * e.low:+.2f}, {100 * e.high:+.2f}]".replace("-", "−")


def _epochs_to_target(values: list[int | None]) -> str:
    if not values:
        return "—"
    reached = [v for v in values if v is not None]
    if not reached:
        return "never"
    med = float(np.median(reached))
    text = f"{med:.0f}" if med == int(med) else f"{med:.1f}"
    if min(reached) != max(reached):
        text += f" ({min(reached)}–{max(reached)})"
    if len(reached) < len(values):
        text += f", {len(values) - len(reached)} of {len(values)} never"
    return text


def _runs_text(c: Cell) -> str:
    if c.missing:
        return "missing"
    parts = [f"{c.n_complete}"]
    if c.n_running:
        parts.append(f"{c.n_running} incomplete")
    if c.n_diverged:
        parts.append(f"{c.n_diverged} diverged")
    return " + ".join(parts)


def table_rows(s: ProtocolSummary) -> list[dict[str, str]]:
    rows = []
    for fw in s.frameworks:
        for sched in s.schedules:
            c = s.cell(fw, sched)
            row = {"framework": fw_label(fw), "scheduler": sched, "runs": _runs_text(c), "_state": c.state(),
                   "_chance": c.at_chance}
            row["final"] = _est(c.final) if c.final else ("—" if c.missing else c.state())
            row["best"] = _est(c.best)
            row["gap"] = _diff(c.gap).replace(" pp", "") if c.gap else "—"
            if c.gap is not None:
                row["gap"] = pp(c.gap.mean, 2).replace(" pp", " pp")
            row["epochs88"] = _epochs_to_target(c.epochs_to_target)
            row["time"] = "—" if c.seconds_per_epoch is None else f"{c.seconds_per_epoch:.2f}"
            row["published"] = pct(c.published, 1) if c.published is not None else "—"
            if c.delta_published is None:
                row["delta"] = "—"
            else:
                row["delta"] = pp(c.delta_published)
                if c.reproduces is not None:
                    row["delta"] += " ✓" if c.reproduces else " ✗"
            row["vs_constant"] = "baseline" if sched == BASELINE and not c.missing else _diff(c.vs_constant)
            rows.append(row)
    return rows


def markdown_table(rows: list[dict[str, str]]) -> str:
    head = "| " + " | ".join(h for _, h, _ in TABLE_COLUMNS) + " |"
    align = "|" + "|".join("---:" if num else ":---" for _, _, num in TABLE_COLUMNS) + "|"
    body = ["| " + " | ".join(r[k].replace("|", "\\|") for k, _, _ in TABLE_COLUMNS) + " |" for r in rows]
    return "\n".join([head, align, *body])


def html_table(rows: list[dict[str, str]]) -> str:
    head = "".join(f'<th class="{"num" if num else "txt"}">{html.escape(h)}</th>' for _, h, num in TABLE_COLUMNS)
    body = []
    previous_fw = None
    for r in rows:
        classes = []
        if r["framework"] != previous_fw and previous_fw is not None:
            classes.append("group")
        previous_fw = r["framework"]
        if r["_state"] != "ok" or r["_chance"]:
            classes.append("muted")
        cells = []
        for key, _, num in TABLE_COLUMNS:
            value = html.escape(r[key])
            if key == "scheduler":
                value = f'<span class="swatch" style="background:{_colour(r[key])}"></span>{value}'
            cells.append(f'<td class="{"num" if num else "txt"}">{value}</td>')
        body.append(f'<tr class="{" ".join(classes)}">' + "".join(cells) + "</tr>")
    return f'<div class="scroll"><table class="results"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def _colour(scheduler: str) -> str:
    from harness.report_plots import SCHEDULE_COLOURS

    return SCHEDULE_COLOURS.get(scheduler, "#999999")


# ------------------------------------------------------------------------------------- figures


def lr_sequences(df: pd.DataFrame, s: ProtocolSummary) -> tuple[dict, dict, dict]:
    """The per-update learning rates of one run per framework × schedule (the one with the most
    epochs), merged into one panel when every framework has the same sequences."""
    seqs: dict[str, dict[str, np.ndarray]] = {}
    spe: dict[str, int] = {}
    for fw in s.frameworks:
        seqs[fw] = {}
        for sched in s.schedules:
            runs = s.runs[(s.runs.framework == fw) & (s.runs.scheduler == sched)]
            if runs.empty:
                continue
            run_id = runs.sort_values(["epochs_done", "seed"], ascending=[False, True]).run_id.iloc[0]
            g = df[df.run_id == run_id].sort_values("epoch")
            seqs[fw][sched] = np.concatenate([np.asarray(x, dtype=float) for x in g.step_lrs])
            spe.setdefault(fw, len(g.step_lrs.iloc[0]))
    labels = {fw: fw_label(fw) for fw in s.frameworks}
    # Merge when every schedule that several frameworks ran has the same rates in each (a run
    # still in progress has a prefix of the sequence) and the epochs have the same length.
    def agree(a: np.ndarray, b: np.ndarray) -> bool:
        n = min(a.size, b.size)
        return np.array_equal(a[:n], b[:n])

    same = len(s.frameworks) > 1 and len(set(spe.values())) == 1 and all(
        agree(seqs[fa][k], seqs[fb][k])
        for i, fa in enumerate(s.frameworks) for fb in s.frameworks[i + 1:]
        for k in set(seqs[fa]) & set(seqs[fb])
    )
    if same:
        merged: dict[str, np.ndarray] = {}
        for fw in s.frameworks:
            for k, v in seqs[fw].items():
                if k not in merged or v.size > merged[k].size:
                    merged[k] = v
        key = "+".join(s.frameworks)
        label = "the same in " + join_words([fw_label(f) for f in s.frameworks])
        return {key: merged}, {key: next(iter(spe.values()))}, {key: label}
    return seqs, spe, labels


def curve_tables(df: pd.DataFrame, s: ProtocolSummary) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Mean and min–max band over complete runs per epoch; the other runs' points as they are."""
    pdf = df[df.protocol == s.protocol]
    metrics = ["train_loss", "train_acc", "test_acc"]
    long = pdf.melt(id_vars=["framework", "scheduler", "run_id", "status", "epoch"], value_vars=metrics,
                    var_name="metric", value_name="value")
    # A run stuck at chance among seeds that learned would drag the mean and stretch the band
    # over the whole panel: it is drawn on its own (the tables keep it in every statistic).
    final = pdf.sort_values("epoch").groupby("run_id").test_acc.last()
    dead_cells = {(c.framework, c.scheduler) for c in s.cells.values() if c.at_chance}
    in_dead_cell = [(fw, sc) in dead_cells for fw, sc in zip(long.framework, long.scheduler)]
    died = long.run_id.isin(final[final < CHANCE_ACC].index) & ~pd.Series(in_dead_cell, index=long.index)
    long.loc[died & (long.status == "complete"), "status"] = "never learned"
    done = long[long.status == "complete"]
    curves = (done.groupby(["framework", "scheduler", "metric", "epoch"]).value
              .agg(mean="mean", lo="min", hi="max").reset_index())
    loose = long[long.status != "complete"]
    return curves, loose


def final_cells(s: ProtocolSummary) -> list[dict]:
    out = []
    for (fw, sched), c in s.cells.items():
        e = c.final
        out.append({
            "framework": fw, "scheduler": sched, "seeds": list(c.final_by_seed.values()),
            "mean": e.mean if e else None, "low": e.low if e else None, "high": e.high if e else None,
            "published": c.published, "label": c.state(), "off_scale": c.at_chance,
            "n_at_chance": c.n_at_chance,
            "learned_seeds": [a for a in c.final_by_seed.values() if a >= CHANCE_ACC],
        })
    return out


def write_figures(df: pd.DataFrame, s: ProtocolSummary, out: Path) -> list[tuple[str, str, str]]:
    """Write this protocol's PNGs; return (file name, alt text, caption) for each."""
    from harness import report_plots as rp

    figures = []
    seqs, spe, labels = lr_sequences(df, s)
    name = f"lr_{s.protocol}.png"
    rp.plot_learning_rates(seqs, spe, labels, s.schedules, "Learning rate of every update", out / name)
    figures.append((name, f"learning rate per update, {s.protocol} protocol",
                    "The learning rate of every optimizer update, read from the runs' per-update trace (step_lrs)."))

    curves, loose = curve_tables(df, s)
    off_scale = {(c.framework, c.scheduler) for c in s.cells.values() if c.at_chance}
    name = f"curves_{s.protocol}.png"
    rp.plot_curves(curves, loose, s.frameworks, {fw: fw_label(fw) for fw in s.frameworks}, s.schedules, off_scale,
                   "Training curves: mean over seeds, band from lowest to highest seed", out / name)
    caption = ("Train loss (log scale), train accuracy (running average over the epoch) and test accuracy after each "
               "epoch. Lines: mean over complete runs; bands: lowest to highest seed.")
    if off_scale:
        caption += (" Accuracy axes are scaled to the schedules that learned; "
                    + join_words(sorted({f"{fw_label(f)} {sc}" for f, sc in off_scale}))
                    + " stayed at chance (10%), below these axes.")
    if (loose.status != "never learned").any():
        caption += " Dashed: incomplete or diverged runs, one line each."
    if (loose.status == "never learned").any():
        caption += (" Dotted: single runs that never learned (stuck at chance) where the schedule's other seeds "
                    "did; drawn apart from the mean and band, but counted in the tables.")
    figures.append((name, f"training curves, {s.protocol} protocol", caption))

    name = f"final_{s.protocol}.png"
    rp.plot_final_accuracy(final_cells(s), s.frameworks, {fw: fw_label(fw) for fw in s.frameworks}, s.schedules,
                           "Final test accuracy", out / name)
    figures.append((name, f"final test accuracy per schedule and framework, {s.protocol} protocol",
                    "Final test accuracy: each seed (small dots), the mean with its 95% t interval, and the figure "
                    "the d2l chapter published for that tab (open diamond; one run each)."))
    return figures


# ---------------------------------------------------------------------------------- documents

CSS = """
:root { --ink:#1d1d1f; --muted:#6b6b70; --rule:#e2e2e6; --accent:#0072B2; }
* { box-sizing: border-box; }
body { margin:0; background:#f6f6f8; color:var(--ink);
  font: 16px/1.55 -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1240px; margin: 0 auto; padding: 32px 40px 64px; background:#fff; min-height:100vh; }
h1 { font-size: 30px; line-height:1.2; margin: 0 0 6px; letter-spacing:-0.01em; }
h2 { font-size: 23px; margin: 48px 0 8px; padding-top: 16px; border-top: 2px solid var(--rule); }
h3 { font-size: 18px; margin: 28px 0 6px; }
.meta { color: var(--muted); font-size: 14px; margin: 0 0 20px; }
.headline { font-size: 20px; line-height: 1.45; background: #eef5fb; border-left: 5px solid var(--accent);
  padding: 14px 18px; margin: 18px 0 8px; border-radius: 0 6px 6px 0; }
.findings li { margin: 4px 0; }
.warn { background:#fff6e5; border-left: 5px solid #E69F00; padding: 8px 14px; border-radius: 0 6px 6px 0; }
figure { margin: 18px 0 26px; }
figure img { display:block; max-width:100%; height:auto; border:1px solid var(--rule); border-radius:4px; }
figcaption { color: var(--muted); font-size: 14px; margin-top: 6px; }
table { border-collapse: collapse; font-size: 13.5px; margin: 8px 0 12px; width: 100%; }
th, td { padding: 5px 7px; border-bottom: 1px solid var(--rule); vertical-align: top; }
th { background: #fafafc; font-weight: 600; border-bottom: 2px solid #cfcfd6; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.txt, th.txt { text-align: left; white-space: nowrap; }
tr.group td { border-top: 2px solid #cfcfd6; }
tr.muted td { color: var(--muted); }
tbody tr:hover td { background: #f7fbff; }
.swatch { display:inline-block; width:10px; height:10px; border-radius:2px; margin-right:7px; vertical-align:0; }
.notes { color: var(--muted); font-size: 14px; }
.scroll { overflow-x: auto; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.92em;
  background:#f2f2f5; padding: 1px 4px; border-radius: 3px; }
"""


def _inline_md(text: str) -> str:
    """The findings' tiny Markdown (**bold**, `code`) as HTML."""
    import re

    text = html.escape(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)


def inventory(runs: pd.DataFrame) -> list[str]:
    """Lines describing what was run: frameworks, versions, devices, sizes, commits."""
    lines = []
    runs = runs.assign(_p=runs.protocol.map({p: i for i, p in enumerate(PROTOCOL_ORDER)}).fillna(99),
                       _f=runs.framework.map({f: i for i, f in enumerate(FRAMEWORK_ORDER)}).fillna(99))
    for (_, _, protocol, fw), g in runs.groupby(["_p", "_f", "protocol", "framework"]):
        versions = ", ".join(sorted(set(g.framework_version)))
        devices = ", ".join(sorted(set(g.device)))
        tf32 = sorted({str(v) for v in g.tf32 if v is not None and v == v})
        sizes = ", ".join(sorted({f"{a:,}/{b:,}" for a, b in zip(g.train_size, g.test_size)}))
        epochs = ", ".join(str(e) for e in sorted(set(g.epochs_planned)))
        seeds = ", ".join(str(x) for x in sorted(set(g.seed)))
        lines.append(f"{protocol} · {fw_label(fw)} {versions} on {devices}"
                     + (f" (TF32 {'/'.join({'True': 'on', 'False': 'off'}.get(t, t) for t in tf32)})" if tf32 else "")
                     + f": {len(g)} runs, seeds {seeds}, {epochs} epochs, train/test images {sizes}")
    return lines


METHOD_NOTES = [
    "Final = after the last epoch of complete runs; best = highest test accuracy at any epoch. "
    "Intervals: mean ± t(0.975, n−1)·s/√n over seeds. Δ constant: paired difference over the seeds both schedules "
    "ran (same seed = same initial weights and batch order), with its 95% t interval in brackets.",
    "train − test: final train accuracy (averaged over the last epoch's updates) minus final test accuracy. "
    f"Epochs to {TARGET_ACC:.0%}: first epoch whose test accuracy reaches it; median over seeds (range), or never. "
    "s / epoch: median train + evaluation seconds over all epochs but the first (which includes one-time compilation), "
    "as the run ran: runs that shared the CPU (in parallel with one thread each, or beside other work) took longer, "
    "so this column says what the study cost, not which framework is faster (`make bench` measures that).",
    "Δ published: our mean minus the d2l chapter's figure (release 1.0.3, one GPU run per tab). In the d2l protocol "
    "✓ marks a published figure inside the 95% prediction interval for one new run from our seeds, ✗ one outside.",
    "Diverged runs (non-finite loss) and incomplete runs are drawn and counted but kept out of every mean.",
]


def render(summaries: list[ProtocolSummary], figures: dict[str, list], runs: pd.DataFrame, results_dir: Path,
           out: Path) -> tuple[str, str]:
    frameworks = _ordered(runs.framework, FRAMEWORK_ORDER)
    title = "Learning-rate schedules on Fashion-MNIST: " + ", ".join(fw_label(f) for f in frameworks)
    when = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    commits = sorted(set(runs.git_sha))
    shas = ", ".join(commits[:2]) + (f" and {len(commits) - 2} more" if len(commits) > 2 else "")
    meta = (f"{len(runs)} runs from {results_dir} · modern LeNet, batch {', '.join(map(str, sorted(set(runs.batch_size))))}, "
            f"SGD · generated {when} · code {shas}")
    head = headline(summaries)

    md = [f"# {title}", "", f"**{head}**", "", f"_{meta}_", ""]
    body = [f"<h1>{html.escape(title)}</h1>", f'<p class="headline">{_inline_md(head)}</p>',
            f'<p class="meta">{html.escape(meta)}</p>']
    for s in summaries:
        sec_title = PROTOCOL_TITLES.get(s.protocol, f"{s.protocol} protocol")
        md += [f"## {sec_title}", ""]
        body.append(f"<h2>{html.escape(sec_title)}</h2>")
        if s.warnings:
            md += [f"> ⚠ {w}" for w in s.warnings] + [""]
            body += [f'<p class="warn">⚠ {html.escape(w)}</p>' for w in s.warnings]
        md += ["### Findings", ""] + [f"- {f}" for f in findings(s)] + [""]
        body.append('<h3>Findings</h3><ul class="findings">' + "".join(f"<li>{_inline_md(f)}</li>" for f in findings(s)) + "</ul>")
        for name, alt, caption in figures[s.protocol]:
            md += [f"![{alt}]({name})", "", f"_{caption}_", ""]
            data = base64.b64encode((out / name).read_bytes()).decode("ascii")
            body.append(f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'
                        f"<figcaption>{html.escape(caption)}</figcaption></figure>")
        rows = table_rows(s)
        md += ["### Numbers", "", markdown_table(rows), ""]
        body += ["<h3>Numbers</h3>", html_table(rows)]
    md += ["## How to read the numbers", ""] + [f"- {n}" for n in METHOD_NOTES] + [""]
    md += ["## Runs", ""] + [f"- {line}" for line in inventory(runs)] + [""]
    body.append("<h2>How to read the numbers</h2><ul class=\"notes\">"
                + "".join(f"<li>{html.escape(n)}</li>" for n in METHOD_NOTES) + "</ul>")
    body.append("<h2>Runs</h2><ul class=\"notes\">" + "".join(f"<li>{html.escape(x)}</li>" for x in inventory(runs)) + "</ul>")
    page = (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head>"
            f"<body><main>{''.join(body)}</main></body></html>\n")
    return page, "\n".join(md)


# ------------------------------------------------------------------------------------------ main


def build_report(results_dir: Path, out: Path | None = None) -> Path:
    """Write the report for ``results_dir``; return the path of index.html."""
    df = load_results(results_dir)
    out = out or results_dir / DEFAULT_OUT
    out.mkdir(parents=True, exist_ok=True)
    runs = summarise_runs(df)
    published = load_published()
    pooled = pooled_seed_sd(runs)
    protocols = _ordered(runs.protocol, PROTOCOL_ORDER)
    summaries = [summarise_protocol(df, runs, p, published, pooled) for p in protocols]
    figures = {s.protocol: write_figures(df, s, out) for s in summaries}
    page, md = render(summaries, figures, runs, results_dir, out)
    (out / "index.html").write_text(page, encoding="utf-8")
    (out / "report.md").write_text(md, encoding="utf-8")
    return out / "index.html"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness report",
        description="Write an HTML + Markdown report (with PNG figures) comparing the schedules in a results directory.",
    )
    parser.add_argument("results_dir", type=Path, help="the results directory (one folder per run), e.g. results")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"where to write index.html, report.md and the PNGs (default: RESULTS_DIR/{DEFAULT_OUT})")
    args = parser.parse_args(argv)
    try:
        index = build_report(args.results_dir, args.out)
    except ReportError as exc:
        print(f"harness report: error: {exc}", file=sys.stderr)
        return 2
    print(f"harness report: wrote {index} (and report.md, PNGs beside it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
