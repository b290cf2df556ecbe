"""The study report (``python -m harness report``): what it says, laid out once as blocks, and the
command that writes it.

``build_report`` loads the results, summarises them, draws the figures, computes every finding and
table (``content``), lays them out once as blocks (``document``, no analysis in it) and writes the
blocks as HTML and as Markdown (harness.report.blocks). The output is a function of the results
only: no clock, no absolute paths beyond what the user typed, PNGs without metadata; a file whose
bytes would not change is not rewritten, so ``make report`` on unchanged results leaves the tree as
it was.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from harness.report.blocks import (
    CSS, Block, BulletList, Details, Figure, Heading, Paragraph, Warnings, html_page, to_markdown,
)
from harness.report.cells import ProtocolSummary
from harness.report.files import staging, write_report
from harness.report.findings import findings, headline
from harness.report.load import (
    DEFAULT_OUT, FRAMEWORK_ORDER, PROTOCOL_ORDER, PROTOCOL_TITLES, TARGET_ACC, ReportError, failed_without_rows, fw_label,
    load_published, load_results, ordered,
)
from harness.report.rules import CHANCE_RULE, FAILED_SEEDS_RULE
from harness.report.run_table import summarise_runs
from harness.report.style import assign_styles
from harness.report.summary import pooled_seed_sd, summarise_protocol
from harness.report.tables import columns, ranking_rows, results_table, table_rows
from harness.report.tuning_section import TUNING_PNG, TuningChoice, tuning_blocks, tuning_choice, tuning_png

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
        "difference the design would detect with 80% power. Each framework's comparisons with its constant rate are "
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


@dataclass(frozen=True)
class ProtocolPart:
    """What one protocol's section shows, computed before it is laid out."""

    summary: ProtocolSummary
    findings: list[str]
    ranking: tuple[list, list] | None  # (columns, rows) where more than one series ran
    numbers: tuple[list, list]  # (rows, columns)
    figures: list[tuple[str, str, str]]  # (file name, alt text, caption)


@dataclass(frozen=True)
class ReportContent:
    """Everything the report says, computed from the results; ``document`` only lays it out."""

    title: str
    headline: str
    meta: str
    parts: list[ProtocolPart]
    tuning: TuningChoice | None
    verdicts: tuple[str, list[str], list[str]]  # verdict_lines' (summary, flagged, every)
    notes: list[str]
    inventory: list[str]
    styles: dict
    skipped: tuple[str, ...] = ()  # run files that could not be read, one line each


def content(summaries: list[ProtocolSummary], figures: dict[str, list], runs: pd.DataFrame, results_dirs: list[Path],
            styles: dict, df: pd.DataFrame, failed: list[dict], skipped: list[str] = ()) -> ReportContent:
    """The report's text and rows: the findings, tables, verdicts and notes of these results."""
    frameworks = ordered(runs.framework, FRAMEWORK_ORDER)
    title = "Learning-rate schedules on Fashion-MNIST: " + ", ".join(fw_label(f) for f in frameworks)
    commits = sorted(set(runs.git_sha))
    shas = ", ".join(commits[:2]) + (f" and {len(commits) - 2} more" if len(commits) > 2 else "")
    models = sorted(set(runs.model))
    model = "modern LeNet" if all(m.startswith("lenet") for m in models) else "model " + ", ".join(models)
    optimizers = ", ".join(o.upper() if o == "sgd" else o for o in ordered(runs.optimizer, OPTIMIZER_ORDER))
    meta = (f"{len(runs)} runs from {_where(results_dirs)} · {model}, batch "
            f"{', '.join(map(str, sorted(set(runs.batch_size))))}, {optimizers} · code {shas}")
    parts = [ProtocolPart(s, findings(s), ranking_rows(s) if len(s.schedules) > 1 else None,
                          (table_rows(s), columns(s)), figures[s.protocol]) for s in summaries]
    return ReportContent(title, headline(summaries), meta, parts, tuning_choice(df), verdict_lines(df, failed),
                         method_notes(len(results_dirs) > 1), inventory(runs), styles, tuple(skipped))


RANKING_INTRO = "Every schedule, best mean rank over the frameworks first: rank in each framework · mean final test accuracy."
VERDICTS_INTRO = ("How each run's curves behave (harness/verdicts.py, thresholds in one place there): "
                  "converging, plateaued, oscillating, overfitting, too short, diverged, collapsed or never learned. ")


def protocol_blocks(part: ProtocolPart, styles: dict) -> list[Block]:
    s = part.summary
    blocks: list[Block] = [Heading(2, PROTOCOL_TITLES.get(s.protocol, f"{s.protocol} protocol"))]
    if s.warnings:
        blocks.append(Warnings(tuple(s.warnings)))
    blocks += [Heading(3, "Findings"), BulletList(tuple(part.findings))]
    if part.ranking is not None:
        rcols, rrows = part.ranking
        blocks += [Heading(3, "Ranking"), Paragraph(RANKING_INTRO, "notes", markup=False),
                   results_table(rrows, styles, rcols, group_key="", css_class="results ranking")]
    blocks += [Figure(name, alt, caption) for name, alt, caption in part.figures]
    rows, cols = part.numbers
    return blocks + [Heading(3, "Numbers"), results_table(rows, styles, cols)]


def document(c: ReportContent) -> list[Block]:
    """The report, once, as blocks: to_markdown and to_html write it."""
    blocks: list[Block] = [Heading(1, c.title), Paragraph(c.headline, "headline", emphasis="strong"),
                           Paragraph(c.meta, "meta", markup=False, emphasis="em")]
    if c.skipped:
        blocks.append(Warnings(c.skipped))
    for part in c.parts:
        blocks += protocol_blocks(part, c.styles)
    if c.tuning is not None:
        blocks += tuning_blocks(c.tuning)
    summary, flagged, every = c.verdicts
    blocks += [Heading(2, "Verdicts"), Paragraph(VERDICTS_INTRO + summary + ".", "notes", markup=False),
               BulletList(tuple(flagged)),
               Details("Every run's verdict", (BulletList(tuple(every), "notes", markup=False),)),
               Heading(2, "How to read the numbers"), BulletList(tuple(c.notes), "notes"),
               Heading(2, "Runs"), BulletList(tuple(c.inventory), "notes", markup=False)]
    return blocks


def report_styles(summaries: list[ProtocolSummary]) -> dict:
    optimizers = ordered({s.series[label].optimizer for s in summaries for label in s.schedules}, OPTIMIZER_ORDER)
    return assign_styles([(label, s.series[label].scheduler, s.series[label].kind,
                           optimizers.index(s.series[label].optimizer), int((s.runs.label == label).sum()))
                          for s in summaries for label in s.schedules])


def build_report(results_dirs: Path | list[Path], out: Path | None = None) -> Path:
    """Write the report for one or more results directories (into ``out``, default the first
    directory's ``_report/``); return the path of index.html."""
    dirs = [Path(results_dirs)] if isinstance(results_dirs, (str, Path)) else [Path(d) for d in results_dirs]
    df = load_results(dirs)
    skipped = df.attrs.get("skipped", [])
    for line in skipped:
        print(f"harness report: warning: {line}", file=sys.stderr)
    out = out or dirs[0] / DEFAULT_OUT
    _check_writable(out)
    runs = summarise_runs(df)
    published = load_published()
    pooled = pooled_seed_sd(runs)
    protocols = ordered(runs.protocol, PROTOCOL_ORDER)
    summaries = [summarise_protocol(df, runs, p, published, pooled) for p in protocols]
    styles = report_styles(summaries)
    from harness.report.figures import write_figures

    figures, images = {}, {}
    try:
        with staging(out) as stage:
            for s in summaries:
                figures[s.protocol] = write_figures(df, s, styles, stage)
                images.update({name: (stage / name).read_bytes() for name, _, _ in figures[s.protocol]})
    except PermissionError as exc:
        raise ReportError(_unwritable(out, exc)) from None
    c = content(summaries, figures, runs, dirs, styles, df, failed_without_rows(dirs), skipped)
    if c.tuning is not None:
        images[TUNING_PNG] = tuning_png(c.tuning)
    blocks = document(c)
    try:
        return write_report(out, html_page(c.title, CSS, blocks, images), to_markdown(blocks), images)
    except OSError as exc:
        raise ReportError(_unwritable(out, exc)) from None


def _unwritable(out: Path, exc: OSError) -> str:
    return (f"cannot write the report to {str(out)!r} ({exc.strerror or exc}); pass --out DIR to write it "
            "somewhere you can write")


def _check_writable(out: Path) -> None:
    """Fail before any work if ``out`` cannot be created or written (a read-only results folder)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ReportError(_unwritable(out, exc)) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness report",
        description="Write an HTML + Markdown report (with PNG figures) comparing the schedules in one or more "
                    "results directories. Several directories are reported together, as one table (a run found in "
                    "two is counted once).",
    )
    parser.add_argument("results_dirs", type=Path, nargs="+", metavar="RESULTS_DIR",
                        help="a results directory (one folder per run), e.g. results/d2l_study; give several to "
                             "report them together")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"where to write index.html, report.md and the PNGs (default: the first "
                             f"RESULTS_DIR's {DEFAULT_OUT}/)")
    args = parser.parse_args(argv)
    try:
        index = build_report(args.results_dirs, args.out)
    except ReportError as exc:
        print(f"harness report: error: {exc}", file=sys.stderr)
        return 2
    print(f"harness report: wrote {index} (and report.md, PNGs beside it)")
    return 0
