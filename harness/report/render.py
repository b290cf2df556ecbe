"""The study report (``python -m harness report``): what it says, laid out once as blocks, and the
command that writes it.

``build_report`` loads the results, summarises them once (``Results``), runs the report's sections
in the one order they are listed (harness.report.sections: each gives blocks and figures) and
writes the blocks as HTML and as Markdown (harness.report.blocks). The output is a function of the results
only: no clock, no absolute paths beyond what the user typed, PNGs without metadata; a file whose
bytes would not change is not rewritten, so ``make report`` on unchanged results leaves the tree as
it was.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from harness.report.blocks import CSS, html_page, to_markdown
from harness.report.cells import ProtocolSummary
from harness.report.files import staging, write_report
from harness.report.load import (
    DEFAULT_OUT, PROTOCOL_ORDER, ReportError, failed_without_rows, load_published, load_results, ordered,
)
from harness.report.run_table import summarise_runs
from harness.report.sections import (  # noqa: F401  (method_notes, verdict_lines: read from here by the tests)
    OPTIMIZER_ORDER, OPTIONAL, SECTIONS, Results, method_notes, report_title, verdict_lines,
)
from harness.report.style import assign_styles
from harness.report.summary import pooled_seed_sd, summarise_protocol


def report_styles(summaries: list[ProtocolSummary]) -> dict:
    optimizers = ordered({s.series[label].optimizer for s in summaries for label in s.schedules}, OPTIMIZER_ORDER)
    return assign_styles([(label, s.series[label].scheduler, s.series[label].kind,
                           optimizers.index(s.series[label].optimizer), int((s.runs.label == label).sum()))
                          for s in summaries for label in s.schedules])


def build_report(results_dirs: Path | list[Path], out: Path | None = None, sections: tuple[str, ...] = ()) -> Path:
    """Write the report for one or more results directories (into ``out``, default the first
    directory's ``_report/``), with the OPTIONAL ``sections`` named; return the path of index.html."""
    dirs = [Path(results_dirs)] if isinstance(results_dirs, (str, Path)) else [Path(d) for d in results_dirs]
    unknown = [name for name in sections if name not in OPTIONAL]
    if unknown:
        raise ReportError(f"--section {unknown[0]!r} is not a report section; choose one of "
                          f"{', '.join(OPTIONAL) or '(none)'}")
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
    blocks, images = [], {}
    try:
        with staging(out) as stage:
            results = Results(df, runs, summaries, styles, dirs, failed_without_rows(dirs), stage, tuple(skipped),
                              tuple(OPTIONAL[name] for name in sections))
            for section in SECTIONS:
                part = section(results)
                blocks += part.blocks
                images.update(part.figures)
    except PermissionError as exc:
        raise ReportError(_unwritable(out, exc)) from None
    try:
        return write_report(out, html_page(report_title(runs), CSS, blocks, images), to_markdown(blocks), images)
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
    parser.add_argument("--section", action="append", default=[], metavar="NAME",
                        help="add a section the report leaves out by default, after each protocol's Numbers "
                             f"(repeatable): {', '.join(OPTIONAL) or 'none yet'}")
    args = parser.parse_args(argv)
    try:
        index = build_report(args.results_dirs, args.out, tuple(args.section))
    except ReportError as exc:
        print(f"harness report: error: {exc}", file=sys.stderr)
        return 2
    print(f"harness report: wrote {index} (and report.md, PNGs beside it)")
    return 0
