"""``python -m harness report RESULTS_DIR [RESULTS_DIR ...] [--out DIR]``: which schedule wins, by
how much, and is that true in every framework?

Reads every ``epochs.parquet`` under the results directories (parquet and ``_config.yaml`` only;
no framework is imported) and writes to ``--out`` (default: the first directory's ``_report/``;
the leading ``_`` keeps parquet readers of the results directory off it):

- ``index.html``: self-contained (the PNGs embedded as base64), opens from disk with no network;
- ``report.md``: the same text and tables, referencing the PNGs beside it;
- ``lr_<protocol>.png``, ``curves_<protocol>.png``, ``final_<protocol>.png`` (and
  ``families_<protocol>.png`` when a protocol has more series than fit in one panel; the figures
  of the sections asked for with ``--section``).

The package follows the report's seams: ``load`` (results and published figures in),
``run_table`` (one row per run), ``series`` (a label per set of settings), ``cells`` and
``summary`` (one cell per framework × series: runs are pooled only when every setting is equal),
``stats`` (intervals, paired differences, ranks), ``findings`` (the sentences), ``tables``,
``tuning_section`` (the validation grid), ``style`` (one colour and line style per series),
``panels`` (what each figure shows, as data), ``figures`` (matplotlib), ``metrics`` (per-run
numbers, each declared once), ``sections`` (the report's sections, each a function from the
results to blocks and figures, listed once), ``blocks`` (the document as blocks, written as
Markdown and HTML), ``files`` (writing only what changed) and ``render`` (the command: it runs the
sections in order and writes what they give).
"""

from harness.report.load import DEFAULT_OUT, ReportError, load_published, load_results
from harness.report.render import build_report, main

__all__ = ["DEFAULT_OUT", "ReportError", "build_report", "load_published", "load_results", "main"]
