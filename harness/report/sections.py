"""The report's sections: each a function from the results (``Results``: the runs and their
summaries, computed once) to blocks and figures, listed once.

``SECTIONS`` is the report from top to bottom; ``PROTOCOL_SECTIONS`` is what each protocol's part
shows, in order; ``OPTIONAL`` names the sections a report shows only when asked (``python -m
harness report DIR --section NAME``), after each protocol's Numbers. A figure section
(``FigureSection``) declares its file name and when it is shown, so the figures a report will
have (``figure_files``) are read from these lists, by the report and by its tests alike. A
per-run metric (harness.report.metrics) becomes a section with ``metric_section``: its table and
its bar plot are drawn from its one declaration.

The text helpers the sections write with (the inventory of runs, every run's verdict, the notes
on reading the numbers) are here too; harness.report.render runs the sections and writes the files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from harness.report.blocks import Block, BulletList, Details, Figure, Heading, Paragraph, Warnings
from harness.report.cells import ProtocolSummary
from harness.report.findings import findings, headline
from harness.report.load import (
    FRAMEWORK_ORDER, PROTOCOL_ORDER, PROTOCOL_TITLES, TARGET_ACC, dataset_title, fw_label, ordered,
)
from harness.report.metrics import EPOCHS_TO_85, RunMetric
from harness.report.panels import many_series
from harness.report.rules import CHANCE_RULE, FAILED_SEEDS_RULE, counts_in_mean
from harness.report.tables import columns, ranking_rows, results_table, table_rows
from harness.report.tuning_section import TUNING_PNG, tuning_blocks, tuning_choice, tuning_png


OPTIMIZER_ORDER = ["sgd", "adam", "adamw", "adagrad", "rmsprop", "schedule_free_adamw"]


def inventory(runs: pd.DataFrame) -> list[str]:
    """Lines describing what was run: frameworks, versions, devices, sizes, optimizers."""
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
        optimizers = ", ".join(ordered(g.optimizer, OPTIMIZER_ORDER))
        lines.append(f"{protocol} · {fw_label(fw)} {versions} on {devices}"
                     + (f" (TF32 {'/'.join({'True': 'on', 'False': 'off'}.get(t, t) for t in tf32)})" if tf32 else "")
                     + f": {len(g)} runs, seeds {seeds}, {epochs} epochs, train/test images {sizes}, "
                     f"optimizer {optimizers}")
    return lines


def run_settings(row) -> dict:
    """The settings of one run (a row of its epochs) that can tell it from another, flat, for
    harness.run_labels: the budget, the optimizer and the schedule's parameters."""
    from harness.report.load import params_of

    settings = {"optimizer": row.optimizer, "base_lr": row.base_lr, "unit": row.unit,
                "batch_size": row.batch_size, "epochs": row.epochs, "train_size": row.train_size,
                "test_size": row.test_size, "model": row.model}
    for source in (row.schedule_params, row.optimizer_params):
        settings.update({k: (tuple(v) if isinstance(v, list) else v)
                         for k, v in params_of(source).items() if k != "kind"})
    return settings


def run_names(finished: pd.DataFrame, judged: pd.DataFrame) -> dict[str, str]:
    """``clean · PyTorch cosine (optimizer=adam, lr=0.01) seed 0`` per run_id: among the runs of
    one protocol, framework and schedule, the settings that differ between them
    (harness.run_labels), so no two distinct runs read alike; seeds alone add nothing."""
    from harness.run_labels import differing_labels

    first = finished.sort_values("epoch").groupby("run_id").first()
    names = {}
    for (protocol, fw, sched), g in judged.groupby(["protocol", "framework", "scheduler"], sort=False):
        rows = [first.loc[rid] for rid in g.run_id]
        extras = differing_labels([run_settings(r) for r in rows])
        for rid, seed, extra in zip(g.run_id, g.seed, extras):
            names[rid] = f"{protocol} · {fw_label(fw)} {sched}" + (f" ({extra})" if extra else "") + f" seed {seed}"
    return names


def verdict_lines(df: pd.DataFrame, failed: list[dict] = ()) -> tuple[str, list[str], list[str]]:
    """Every finished run's verdict (harness.verdicts, from its curves; the runner also writes
    it, but older results have none): a count line, the runs that are not converging with the
    numbers that decided, and every run's verdict."""
    from harness.verdicts import judge_runs

    finished = df[df.status.isin(["complete", "diverged", "failed"])]
    # a run that raised before its first epoch has no row: named from its folder
    early = [f"{r['protocol']} · {fw_label(r['framework'] or '?')} {r['scheduler'] or '?'} seed {r['seed']}"
             f" ({r['folder']}): " + (f"**failed** before its first epoch: {r['error']}" if r["error"] is not None
                                     else "**no epoch finished** (running, or interrupted before its first epoch)")
             for r in failed]
    n_failed = sum(r["error"] is not None for r in failed)
    if finished.empty:
        return (f"No finished runs to judge; {len(early)} failed before their first epoch" if early
                else "No finished runs to judge."), early, [line.replace("**", "") for line in early]
    judged = judge_runs(finished)
    first = finished.sort_values("epoch").groupby("run_id").first()
    judged = judged.join(first[["protocol", "framework", "scheduler", "seed"]], on="run_id")
    judged = judged.assign(_p=judged.protocol.map({p: i for i, p in enumerate(PROTOCOL_ORDER)}).fillna(99),
                           _f=judged.framework.map({f: i for i, f in enumerate(FRAMEWORK_ORDER)}).fillna(99))
    judged = judged.sort_values(["_p", "_f", "scheduler", "seed", "run_id"])
    counts = judged.verdict.value_counts()
    # a run that raised after some epochs is "failed" whatever its curves say (the error is on its rows)
    errors = finished.groupby("run_id").status.last()
    judged.loc[judged.run_id.map(errors).eq("failed"), "verdict"] = "failed"
    if "error" in finished:
        messages = finished.dropna(subset=["error"]).groupby("run_id").error.last() if finished.error.notna().any() \
            else pd.Series(dtype=object)
        mask = judged.verdict.eq("failed")
        judged.loc[mask, "reason"] = [f"the run raised: {messages.get(rid, 'an error')}" for rid in judged.run_id[mask]]
    counts = judged.verdict.value_counts()
    parts = [f"{n} {v.replace('_', ' ')}" for v, n in counts.items()]
    if n_failed:
        parts.append(f"{n_failed} failed before their first epoch")
    if len(early) > n_failed:
        parts.append(f"{len(early) - n_failed} started with no epoch finished")
    summary = f"{len(judged) + n_failed} finished runs: " + ", ".join(parts)

    names = run_names(finished, judged)
    flagged = [f"{names[r.run_id]}: **{r.verdict.replace('_', ' ')}**: {r.reason}"
               for r in judged.itertuples() if r.verdict != "converging"]
    every = [f"{names[r.run_id]}: {r.verdict.replace('_', ' ')}" for r in judged.itertuples()]
    return summary, flagged + early, every + [line.replace("**", "") for line in early]


def method_notes(several_dirs: bool) -> list[str]:
    notes = [
        "A row is one set of settings: the schedule and every one of its parameters, the optimizer and its "
        "parameters, epochs, images, batch size and network; seeds are its replicates, and runs whose settings differ "
        "in anything are never averaged together. A row's name is the shortest that tells it apart from the others "
        "(the schedule's name, its variant where several ran, the optimizer where several ran, and any other setting "
        "that differs); the parameters column gives the schedule's settings in full.",
        FAILED_SEEDS_RULE,
        "Final = after the last epoch of the complete runs that learned; best = highest test accuracy at any epoch. "
        "Accuracy intervals: a 95% t interval over seeds computed on the logit scale, log(a / (1 − a)), and mapped "
        "back, so it stays inside 0–100% (asymmetric near the ends; the point is the plain mean). Where a plain t "
        "interval would leave 0–100%, an interval would describe no run: the seeds are listed instead.",
        "Δ constant: paired difference to the constant-rate row with the same optimizer, budget and network, over "
        "the seeds both ran (same seed = same initial weights and batch order), with its 95% t interval in brackets "
        "(the differences themselves where an interval would leave ±100 pp). Ranks: 1 = best mean final test "
        "accuracy in that framework; means less than 0.005 pp apart are a tie and share a rank (=1); a winner must "
        "have learned. " + CHANCE_RULE,
        "train − test: final train accuracy (averaged over the last epoch's updates) minus final test accuracy. "
        f"Epochs to {TARGET_ACC:.0%}: first epoch whose test accuracy reaches it; median over seeds (range), or never. "
        "s / epoch: median train + evaluation seconds over all epochs but the first (which includes one-time compilation), "
        "as the run ran: runs that shared the CPU (in parallel with one thread each, or beside other work) took longer, "
        "so this column says what the study cost, not which framework is faster (`make bench` measures that).",
        "d2l published, Δ published and epochs to 88% appear only for rows that ran the chapter's budget: 30 epochs "
        "on all 60,000 training and 10,000 test images, batch 256, the d2l parameters of that schedule and plain SGD. "
        "Δ published: our mean minus the d2l chapter's figure (release 1.0.3, one GPU run per tab). In the d2l "
        "protocol ✓ marks a published figure inside the 95% prediction interval for one run against our mean of n "
        "(t at the SD's degrees of freedom · SD · √(1 + 1/n); the SD pooled over a framework's cells where that has "
        "more degrees of freedom), ✗ one outside.",
        "Mean of last 5 epochs: each complete run's test accuracy averaged over its last 5 epochs, then over seeds "
        "(a constant rate's last-epoch snapshot swings about a point from one epoch to the next).",
        "Comparisons are paired by seed: the mean difference with its t interval (scipy.stats.ttest_rel), an exact "
        "paired permutation test as the distribution-free check, and a smallest effect that matters of ±0.3 pp (about "
        "one test-set standard error at 90% on 10,000 images). A difference reads \"better\" or \"worse\" only when "
        "its interval clears ±0.3 pp in that direction, \"equivalent\" when the interval lies inside ±0.3 pp (two "
        "one-sided tests), \"identical\" when every seed gives the same difference, else \"inconclusive\" with the "
        "true difference the design would need to reach a verdict (clear ±0.3 pp) with 80% power. Each framework's comparisons with its constant rate are "
        "one family, Holm-corrected on scipy's p-values: each interval is at its Holm step's level. The headline pools "
        "the frameworks with framework as a block and tests whether they disagree (one-way ANOVA of the differences).",
        "Failures come from each run's verdict (the Verdicts section): diverged, collapsed, never learned, or failed "
        "(the run raised); they are named per cell with a success rate and its exact binomial 95% interval, and a "
        "winner with failed seeds says so. Rank agreement: Spearman's ρ over the schedules that "
        "learned in both frameworks, with an exact permutation p-value; \"agree\" means p < 0.05.",
        "Incomplete runs (running or interrupted) are drawn and counted but kept out of every mean.",
    ]
    if several_dirs:
        notes.append("Several results folders are reported together; a run found in more than one is counted once "
                     "(the copy with the most epochs).")
    return notes


def _where(dirs: list[Path]) -> str:
    names = [str(d) for d in dirs]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


RANKING_INTRO = "Every schedule, best mean rank over the frameworks first: rank in each framework · mean final test accuracy."
VERDICTS_INTRO = ("How each run's curves behave (harness/verdicts.py, thresholds in one place there): "
                  "converging, plateaued, oscillating, overfitting, too short, diverged, collapsed or never learned. ")



# ------------------------------------------------------------------------------ what sections read and give


@dataclass(frozen=True)
class Results:
    """What every section reads, computed once by harness.report.render.build_report."""

    df: pd.DataFrame  # every epoch of every run (harness.report.load)
    runs: pd.DataFrame  # one row per run (harness.report.run_table)
    summaries: list[ProtocolSummary]  # one per protocol, in report order (harness.report.summary)
    styles: dict  # series label -> its colour and line (harness.report.style)
    dirs: list[Path]  # the results folders, as the user named them
    failed: list[dict]  # runs with no epoch row (harness.report.load.failed_without_rows)
    stage: Path  # where figures are drawn before they are written beside the report
    skipped: tuple[str, ...] = ()  # run files that could not be read, one line each
    extra: tuple = ()  # OPTIONAL protocol sections asked for, shown after each protocol's Numbers


@dataclass(frozen=True)
class Output:
    """A section's blocks and the PNGs its Figure blocks name (file name -> bytes)."""

    blocks: list[Block] = field(default_factory=list)
    figures: dict[str, bytes] = field(default_factory=dict)


Section = Callable[[Results], Output]
ProtocolSection = Callable[[Results, ProtocolSummary], Output]


@dataclass(frozen=True)
class FigureSection:
    """One figure of each protocol: ``STEM_<protocol>.png``, drawn by ``draw(df, summary, styles,
    path)`` (which returns its alt text and caption) wherever ``shown(summary)``."""

    stem: str
    draw: Callable[..., tuple[str, str]]
    shown: Callable[[ProtocolSummary], bool] = lambda s: True

    def file(self, s: ProtocolSummary) -> str:
        return f"{self.stem}_{s.protocol}.png"

    def __call__(self, r: Results, s: ProtocolSummary) -> Output:
        if not self.shown(s):
            return Output()
        name = self.file(s)
        alt, caption = self.draw(r.df, s, r.styles, r.stage / name)
        return Output([Figure(name, alt, caption)], {name: (r.stage / name).read_bytes()})


def _figures(which):
    """The figure functions, imported when a report draws (matplotlib is slow to import)."""
    from harness.report import figures

    return getattr(figures, which)


def _lazy(which: str) -> Callable[..., tuple[str, str]]:
    return lambda *args: _figures(which)(*args)


# ------------------------------------------------------------------------------ the report's header


def report_title(runs: pd.DataFrame) -> str:
    frameworks = ordered(runs.framework, FRAMEWORK_ORDER)
    datasets = " and ".join(dataset_title(d) for d in sorted(set(runs.dataset)))
    return f"Learning-rate schedules on {datasets}: " + ", ".join(fw_label(f) for f in frameworks)


def header(r: Results) -> Output:
    runs = r.runs
    commits = sorted(set(runs.git_sha))
    shas = ", ".join(commits[:2]) + (f" and {len(commits) - 2} more" if len(commits) > 2 else "")
    models = sorted(set(runs.model))
    model = "modern LeNet" if all(m.startswith("lenet") for m in models) else "model " + ", ".join(models)
    optimizers = ", ".join(o.upper() if o == "sgd" else o for o in ordered(runs.optimizer, OPTIMIZER_ORDER))
    meta = (f"{len(runs)} runs from {_where(r.dirs)} · {model}, batch "
            f"{', '.join(map(str, sorted(set(runs.batch_size))))}, {optimizers} · code {shas}")
    blocks: list[Block] = [Heading(1, report_title(runs)), Paragraph(headline(r.summaries), "headline", emphasis="strong"),
                           Paragraph(meta, "meta", markup=False, emphasis="em")]
    if r.skipped:
        blocks.append(Warnings(r.skipped))
    return Output(blocks)


# ------------------------------------------------------------------------------ each protocol's part


def protocol_heading(r: Results, s: ProtocolSummary) -> Output:
    blocks: list[Block] = [Heading(2, PROTOCOL_TITLES.get(s.protocol, f"{s.protocol} protocol"))]
    if s.warnings:
        blocks.append(Warnings(tuple(s.warnings)))
    return Output(blocks)


def protocol_findings(r: Results, s: ProtocolSummary) -> Output:
    return Output([Heading(3, "Findings"), BulletList(tuple(findings(s)))])


def ranking(r: Results, s: ProtocolSummary) -> Output:
    if len(s.schedules) <= 1:
        return Output()
    rcols, rrows = ranking_rows(s)
    return Output([Heading(3, "Ranking"), Paragraph(RANKING_INTRO, "notes", markup=False),
                   results_table(rrows, r.styles, rcols, group_key="", css_class="results ranking")])


def numbers(r: Results, s: ProtocolSummary) -> Output:
    return Output([Heading(3, "Numbers"), results_table(table_rows(s), r.styles, columns(s))])


def metric_section(metric: RunMetric) -> ProtocolSection:
    """A per-run metric's section in each protocol: a table of its value per series (rows) and
    framework (columns), and a bar plot ``KEY_<protocol>.png``; over the complete runs that learned
    (harness.report.rules), as every mean of the report."""

    def section(r: Results, s: ProtocolSummary) -> Output:
        done = s.runs[(s.runs.status == "complete") & s.runs.verdict.map(counts_in_mean).astype(bool)]
        epochs = {rid: g.sort_values("epoch") for rid, g in r.df[r.df.run_id.isin(done.run_id)].groupby("run_id")}
        values = {(fw, label): [metric.compute(epochs[rid]) for rid in g.sort_values("seed").run_id]
                  for (fw, label), g in done.groupby(["framework", "label"])}
        cols = [("scheduler", "schedule", False)] + [(f"fw:{fw}", fw_label(fw), True) for fw in s.frameworks]
        # a cell with no seed that learned says why (its state), as the other tables do
        absent = {(fw, label): "—" if s.cell(fw, label).missing else s.cell(fw, label).state()
                  for fw in s.frameworks for label in s.schedules if (fw, label) not in values}
        rows = [{"scheduler": label, **{f"fw:{fw}": metric.text(values[fw, label]) if (fw, label) in values
                                        else absent[fw, label] for fw in s.frameworks}}
                for label in s.schedules]
        name = f"{metric.key}_{s.protocol}.png"
        _figures("plot_run_metric")(values, absent, s.frameworks, s.schedules, r.styles, metric.title.lower(),
                                    f"{metric.title}, {s.protocol} protocol", r.stage / name)
        return Output([Heading(3, metric.title), Paragraph(metric.note, "notes", markup=False),
                       results_table(rows, r.styles, cols, group_key="", css_class="results ranking"),
                       Figure(name, f"{metric.title.lower()} per schedule and framework, {s.protocol} protocol")],
                      {name: (r.stage / name).read_bytes()})

    section.key = metric.key
    section.files = lambda s: [f"{metric.key}_{s.protocol}.png"]
    return section


PROTOCOL_SECTIONS: list[ProtocolSection] = [
    protocol_heading,
    protocol_findings,
    ranking,
    FigureSection("lr", _lazy("draw_learning_rates")),
    FigureSection("curves", _lazy("draw_curves")),
    FigureSection("families", _lazy("draw_families"), shown=many_series),
    FigureSection("final", _lazy("draw_final_accuracy")),
    numbers,
]

# the sections shown only when asked (python -m harness report DIR --section KEY), by their key
OPTIONAL: dict[str, ProtocolSection] = {section.key: section for section in [
    metric_section(EPOCHS_TO_85),
]}


def protocols(r: Results) -> Output:
    out = Output()
    for s in r.summaries:
        for section in PROTOCOL_SECTIONS + list(r.extra):
            part = section(r, s)
            out.blocks.extend(part.blocks)
            out.figures.update(part.figures)
    return out


# ------------------------------------------------------------------------------ after the protocols


def tuning(r: Results) -> Output:
    choice = tuning_choice(r.df)
    if choice is None:
        return Output()
    return Output(tuning_blocks(choice), {TUNING_PNG: tuning_png(choice)})


def verdicts(r: Results) -> Output:
    summary, flagged, every = verdict_lines(r.df, r.failed)
    return Output([Heading(2, "Verdicts"), Paragraph(VERDICTS_INTRO + summary + ".", "notes", markup=False),
                   BulletList(tuple(flagged)),
                   Details("Every run's verdict", (BulletList(tuple(every), "notes", markup=False),))])


def reading_notes(r: Results) -> Output:
    return Output([Heading(2, "How to read the numbers"), BulletList(tuple(method_notes(len(r.dirs) > 1)), "notes")])


def runs_inventory(r: Results) -> Output:
    return Output([Heading(2, "Runs"), BulletList(tuple(inventory(r.runs)), "notes", markup=False)])


SECTIONS: list[Section] = [header, protocols, tuning, verdicts, reading_notes, runs_inventory]


def figure_files(summaries: list[ProtocolSummary], extra: tuple = ()) -> list[str]:
    """The protocols' PNGs a report of these summaries has, in page order, read from the section
    lists (the tuning grid's, when the results have one, is the tuning section's)."""
    names = []
    for s in summaries:
        for section in PROTOCOL_SECTIONS + list(extra):
            if isinstance(section, FigureSection):
                names += [section.file(s)] if section.shown(s) else []
            elif hasattr(section, "files"):
                names += section.files(s)
    return names


