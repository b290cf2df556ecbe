"""The HTML and Markdown documents, and the command that writes them.

The output is a function of the results only: no clock, no absolute paths beyond what the user
typed, PNGs without metadata; a file whose bytes would not change is not rewritten, so
``make report`` on unchanged results leaves the tree as it was.
"""

from __future__ import annotations

import argparse
import base64
import html
import re
import sys
from pathlib import Path

import pandas as pd

from harness.report.findings import findings, headline, pct
from harness.report.load import (
    DEFAULT_OUT, FRAMEWORK_ORDER, PROTOCOL_ORDER, PROTOCOL_TITLES, TARGET_ACC, ReportError, failed_without_rows, fw_label,
    load_published, load_results, ordered,
)
from harness.report.style import assign_styles
from harness.report.summary import ProtocolSummary, pooled_seed_sd, summarise_protocol, summarise_runs
from harness.report.tables import columns, html_table, markdown_table, ranking_rows, table_rows

OPTIMIZER_ORDER = ["sgd", "adam", "adamw", "adagrad", "rmsprop", "schedule_free_adamw"]

CSS = """
:root { --ink:#1d1d1f; --muted:#6b6b70; --rule:#e2e2e6; --accent:#0072B2; }
* { box-sizing: border-box; }
body { margin:0; background:#f6f6f8; color:var(--ink);
  font: 16px/1.55 -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1320px; margin: 0 auto; padding: 32px 40px 64px; background:#fff; min-height:100vh; }
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
table { border-collapse: collapse; font-size: 13px; margin: 8px 0 12px; width: 100%; }
th, td { padding: 5px 6px; border-bottom: 1px solid var(--rule); vertical-align: top; }
th { background: #fafafc; font-weight: 600; border-bottom: 2px solid #cfcfd6; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.txt, th.txt { text-align: left; white-space: nowrap; }
tr.group td { border-top: 2px solid #cfcfd6; }
tr.muted td { color: var(--muted); }
tbody tr:hover td { background: #f7fbff; }
.notes { color: var(--muted); font-size: 14px; }
.scroll { overflow-x: auto; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.92em;
  background:#f2f2f5; padding: 1px 4px; border-radius: 3px; }
"""
CSS += """
.swatch { display:inline-block; width:22px; height:10px; margin-right:7px; vertical-align:0; border-radius:0; }
table.ranking { width:auto; min-width: 50%; }
td.wrap { white-space: normal; min-width: 130px; max-width: 180px; }
td.num.wrap { min-width: 120px; max-width: 170px; }
"""


def _inline_md(text: str) -> str:
    """The findings' tiny Markdown (**bold**, `code`) as HTML."""
    text = html.escape(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)


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

    def name(r) -> str:
        return f"{r.protocol} · {fw_label(r.framework)} {r.scheduler} seed {r.seed}"

    flagged = [f"{name(r)}: **{r.verdict.replace('_', ' ')}**: {r.reason}"
               for r in judged.itertuples() if r.verdict != "converging"]
    every = [f"{name(r)}: {r.verdict.replace('_', ' ')}" for r in judged.itertuples()]
    return summary, flagged + early, every + [line.replace("**", "") for line in early]


TUNING_PNG = "tuning_grid.png"


def tuning_section(df: pd.DataFrame, out: Path) -> tuple[list[str], list[str]] | None:
    """experiments/tune_lr: the grid on validation (val_acc against base rate, the choice
    starred), then, apart, the test accuracy of each chosen setting retrained with a longer
    budget, when its runs are in the folders reported. None when no grid is there."""
    from harness import tuning

    with_split = df[df["val_acc"].notna()]
    if with_split.empty:
        return None
    budget = int(with_split["epochs"].min())  # the grid's short budget; a retrain runs longer
    table = tuning.grid(with_split[with_split["epochs"] == budget])
    if table.empty or table.groupby(["framework", "scheduler"]).base_lr.nunique().max() < 2:
        return None
    chosen = tuning.select(table)
    (out / TUNING_PNG).write_bytes(tuning.grid_figure(table, chosen))
    last = df[df.status == "complete"].sort_values("epoch").groupby("run_id").tail(1)
    md = [f"Each schedule's base rate is chosen on the final validation accuracy of a {budget}-epoch grid "
          f"(ties: the lower validation loss); no test metric chose anything.", "",
          "![tuning grid](tuning_grid.png)", "", "| framework | schedule | chosen base_lr | val_acc (grid runs) | "
          "retrained: epochs | retrained: test_acc (runs) |", "|---|---|---|---|---|---|"]
    grid_runs = with_split[with_split["epochs"] == budget]
    for row in chosen.itertuples():
        # a retrain is the grid point's settings (schedule, rate, unit, optimizer) at a longer budget
        # with no split, one cell of one budget: not whatever else ran that schedule at that rate
        point = grid_runs[(grid_runs.framework == row.framework) & (grid_runs.scheduler == row.scheduler)
                          & (grid_runs.base_lr == row.base_lr)]
        same = last[(last.framework == row.framework) & (last.scheduler == row.scheduler)
                    & (last.base_lr == row.base_lr) & (last.epochs > budget) & last.val_acc.isna()]
        for col in ("unit", "optimizer", "optimizer_params", "model", "batch_size"):
            if col in same and col in point:
                same = same[same[col].isin(set(point[col]))]
        if len(same):
            longest = same[same.epochs == same.epochs.max()]
            if "train_size" in longest:
                longest = longest[longest.train_size == longest.train_size.max()]
            n = longest.run_id.nunique()
            tested = (f"{int(longest.epochs.iloc[0])} | {pct(longest.test_acc.mean(), 2)} "
                      f"({'mean of ' + str(n) + ' seeds' if n > 1 else 'one seed'})")
        else:
            tested = "— | not in these folders (run the printed retrain, report both folders)"
        md.append(f"| {fw_label(row.framework)} | {row.scheduler} | {row.base_lr:g} | {pct(row.val_acc, 2)} "
                  f"({int(row.runs)} seed{'s' if int(row.runs) != 1 else ''}, mean) | {tested} |")
    html_rows = []
    for line in md[5:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        html_rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    head = "".join(f"<th>{html.escape(c.strip())}</th>" for c in md[3].strip("|").split("|"))
    data = base64.b64encode((out / TUNING_PNG).read_bytes()).decode("ascii")
    body = [f'<p class="notes">{html.escape(md[0])}</p>',
            f'<figure><img alt="tuning grid" src="data:image/png;base64,{data}"></figure>',
            f'<table class="results"><tr>{head}</tr>{"".join(html_rows)}</table>']
    return md, body


def method_notes(several_dirs: bool) -> list[str]:
    notes = [
        "A row is one set of settings: the schedule and every one of its parameters, the optimizer and its "
        "parameters, epochs, images, batch size and network; seeds are its replicates, and runs whose settings differ "
        "in anything are never averaged together. A row's name is the shortest that tells it apart from the others "
        "(the schedule's name, its variant where several ran, the optimizer where several ran, and any other setting "
        "that differs); the parameters column gives the schedule's settings in full.",
        "Final = after the last epoch of complete runs; best = highest test accuracy at any epoch. "
        "Accuracy intervals: a 95% t interval over seeds computed on the logit scale, log(a / (1 − a)), and mapped "
        "back, so it stays inside 0–100% (asymmetric near the ends; the point is the plain mean). Where the seeds are "
        "bimodal (some stuck at chance, some learned) or a plain t interval would leave 0–100%, an interval would "
        "describe no run: the seeds are listed instead.",
        "Δ constant: paired difference to the constant-rate row with the same optimizer, budget and network, over "
        "the seeds both ran (same seed = same initial weights and batch order), with its 95% t interval in brackets "
        "(the differences themselves where an interval would leave ±100 pp). Ranks: 1 = best mean final test "
        "accuracy in that framework; means less than 0.005 pp apart are a tie and share a rank (=1); a winner must "
        "have learned (final test accuracy at least 20%; chance is 10%).",
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
        "(the run raised); they are named per cell with a success rate and its exact binomial 95% interval, kept out "
        "of every mean, and a winner with failed seeds says so. Rank agreement: Spearman's ρ over the schedules that "
        "learned in both frameworks, with an exact permutation p-value; \"agree\" means p < 0.05.",
        "Diverged, failed and incomplete runs are drawn and counted but kept out of every mean.",
    ]
    if several_dirs:
        notes.append("Several results folders are reported together; a run found in more than one is counted once "
                     "(the copy with the most epochs).")
    return notes


def _where(dirs: list[Path]) -> str:
    names = [str(d) for d in dirs]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def render(summaries: list[ProtocolSummary], figures: dict[str, list], runs: pd.DataFrame, results_dirs: list[Path],
           out: Path, styles: dict, df: pd.DataFrame) -> tuple[str, str]:
    frameworks = ordered(runs.framework, FRAMEWORK_ORDER)
    title = "Learning-rate schedules on Fashion-MNIST: " + ", ".join(fw_label(f) for f in frameworks)
    commits = sorted(set(runs.git_sha))
    shas = ", ".join(commits[:2]) + (f" and {len(commits) - 2} more" if len(commits) > 2 else "")
    models = sorted(set(runs.model))
    model = "modern LeNet" if all(m.startswith("lenet") for m in models) else "model " + ", ".join(models)
    optimizers = ", ".join(o.upper() if o == "sgd" else o for o in ordered(runs.optimizer, OPTIMIZER_ORDER))
    meta = (f"{len(runs)} runs from {_where(results_dirs)} · {model}, batch "
            f"{', '.join(map(str, sorted(set(runs.batch_size))))}, {optimizers} · code {shas}")
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
        found = findings(s)
        md += ["### Findings", ""] + [f"- {f}" for f in found] + [""]
        body.append('<h3>Findings</h3><ul class="findings">' + "".join(f"<li>{_inline_md(f)}</li>" for f in found) + "</ul>")
        if len(s.schedules) > 1:
            rcols, rrows = ranking_rows(s)
            intro = "Every schedule, best mean rank over the frameworks first: rank in each framework · mean final test accuracy."
            md += ["### Ranking", "", intro, "", markdown_table(rrows, rcols), ""]
            body += ["<h3>Ranking</h3>", f'<p class="notes">{html.escape(intro)}</p>',
                     html_table(rrows, styles, rcols, group_key="").replace('class="results"', 'class="results ranking"')]
        for name, alt, caption in figures[s.protocol]:
            md += [f"![{alt}]({name})", "", f"_{caption}_", ""]
            data = base64.b64encode((out / name).read_bytes()).decode("ascii")
            body.append(f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'
                        f"<figcaption>{html.escape(caption)}</figcaption></figure>")
        rows, cols = table_rows(s), columns(s)
        md += ["### Numbers", "", markdown_table(rows, cols), ""]
        body += ["<h3>Numbers</h3>", html_table(rows, styles, cols)]
    tuned = tuning_section(df, out)
    if tuned:
        md += ["## Tuning on validation, tested once", ""] + tuned[0] + [""]
        body += ["<h2>Tuning on validation, tested once</h2>", *tuned[1]]
    summary, flagged, every = verdict_lines(df, failed_without_rows(results_dirs))
    intro = ("How each run's curves behave (harness/verdicts.py, thresholds in one place there): "
             "converging, plateaued, oscillating, overfitting, too short, diverged, collapsed or never learned. " + summary + ".")
    md += ["## Verdicts", "", intro, ""] + [f"- {line}" for line in flagged] + [""]
    md += ["<details><summary>Every run's verdict</summary>", ""] + [f"- {line}" for line in every] + ["", "</details>", ""]
    body.append(f"<h2>Verdicts</h2><p class=\"notes\">{html.escape(intro)}</p><ul class=\"findings\">"
                + "".join(f"<li>{_inline_md(line)}</li>" for line in flagged) + "</ul>"
                + "<details><summary>Every run's verdict</summary><ul class=\"notes\">"
                + "".join(f"<li>{html.escape(line)}</li>" for line in every) + "</ul></details>")
    notes = method_notes(len(results_dirs) > 1)
    md += ["## How to read the numbers", ""] + [f"- {n}" for n in notes] + [""]
    md += ["## Runs", ""] + [f"- {line}" for line in inventory(runs)] + [""]
    body.append("<h2>How to read the numbers</h2><ul class=\"notes\">"
                + "".join(f"<li>{_inline_md(n)}</li>" for n in notes) + "</ul>")
    body.append("<h2>Runs</h2><ul class=\"notes\">" + "".join(f"<li>{html.escape(x)}</li>" for x in inventory(runs)) + "</ul>")
    page = (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head>"
            f"<body><main>{''.join(body)}</main></body></html>\n")
    return page, "\n".join(md)


def report_styles(summaries: list[ProtocolSummary]) -> dict:
    optimizers = ordered({s.series[label].optimizer for s in summaries for label in s.schedules}, OPTIMIZER_ORDER)
    return assign_styles([(label, s.series[label].scheduler, s.series[label].kind,
                           optimizers.index(s.series[label].optimizer), int((s.runs.label == label).sum()))
                          for s in summaries for label in s.schedules])


def _write_if_changed(path: Path, data: bytes) -> None:
    """Leave a file alone when its bytes would not change (no mtime churn for make)."""
    if path.exists() and path.read_bytes() == data:
        return
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def build_report(results_dirs: Path | list[Path], out: Path | None = None) -> Path:
    """Write the report for one or more results directories (into ``out``, default the first
    directory's ``_report/``); return the path of index.html."""
    dirs = [Path(results_dirs)] if isinstance(results_dirs, (str, Path)) else [Path(d) for d in results_dirs]
    df = load_results(dirs)
    out = out or dirs[0] / DEFAULT_OUT
    out.mkdir(parents=True, exist_ok=True)
    runs = summarise_runs(df)
    published = load_published()
    pooled = pooled_seed_sd(runs)
    protocols = ordered(runs.protocol, PROTOCOL_ORDER)
    summaries = [summarise_protocol(df, runs, p, published, pooled) for p in protocols]
    styles = report_styles(summaries)
    from harness.report.figures import write_figures

    figures = {}
    with _staging(out) as stage:
        for s in summaries:
            figures[s.protocol] = write_figures(df, s, styles, stage)
        page, md = render(summaries, figures, runs, dirs, stage, styles, df)
        for name in [n for f in figures.values() for n, _, _ in f] + [TUNING_PNG]:
            if (stage / name).exists():
                _write_if_changed(out / name, (stage / name).read_bytes())
    _write_if_changed(out / "index.html", page.encode("utf-8"))
    _write_if_changed(out / "report.md", md.encode("utf-8"))
    return out / "index.html"


class _staging:
    """A hidden scratch folder inside ``out`` for the PNGs (one per process), removed afterwards."""

    def __init__(self, out: Path):
        self.out = out

    def __enter__(self) -> Path:
        import tempfile

        self.path = Path(tempfile.mkdtemp(dir=self.out, prefix=".staging-"))
        return self.path

    def __exit__(self, *exc) -> None:
        import shutil

        shutil.rmtree(self.path, ignore_errors=True)


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
