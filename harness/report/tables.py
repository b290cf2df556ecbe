"""The tables: the numbers per framework × series, and the ranking, as rows and as table blocks."""

from __future__ import annotations

from harness.report.blocks import Column, Table, TableCell, TableRow

from harness.report.findings import pct, pp
from harness.report.load import TARGET_ACC, fw_label
from harness.report.estimates import Estimate
from harness.report.metrics import median_range_text
from harness.report.panels import many_series
from harness.report.style import Style
from harness.report.cells import Cell, ProtocolSummary
from harness.report.summary import TIE, mean_ranks

TABLE_COLUMNS = [
    # key, header, numeric (right-aligned)
    ("framework", "framework", False),
    ("scheduler", "schedule", False),
    ("params", "parameters", False),
    ("runs", "runs", False),
    ("final", "final test acc [95% CI]", True),
    ("last5", "mean of last 5 epochs", True),
    ("best", "best test acc", True),
    ("gap", "train − test", True),
    ("epochs88", f"epochs to {TARGET_ACC:.0%}", True),
    ("time", "s / epoch", True),
    ("published", "d2l published", True),
    ("delta", "Δ published", True),
    ("vs_constant", "Δ constant (paired)", True),
]
BUDGET_COLUMNS = ("epochs88", "published", "delta")  # only where some cell ran the chapter's budget


def columns(s: ProtocolSummary) -> list[tuple[str, str, bool]]:
    keep = [c for c in TABLE_COLUMNS if c[0] not in BUDGET_COLUMNS or any(x.budget_matches for x in s.cells.values())]
    if not any(c.baseline for c in s.cells.values()):
        keep = [c for c in keep if c[0] != "vs_constant"]
    return keep


def _seeds(e: Estimate, digits: int = 1) -> str:
    return "seeds " + ", ".join(f"{100 * v:.{digits}f}" for v in sorted(e.values)) + "%"


def _est(e: Estimate | None, digits: int = 2) -> str:
    """An accuracy: mean and its interval (logit t, inside [0, 100%]), or the seeds where an
    interval would mislead (bimodal seeds)."""
    if e is None:
        return "—"
    if e.half is None:
        return f"{100 * e.mean:.{digits}f}% (n=1)"
    if e.show_seeds:
        return f"{100 * e.mean:.{digits}f}%: {_seeds(e)}"
    return f"{100 * e.mean:.{digits}f}% [{100 * e.low:.{digits - 1}f}–{100 * e.high:.{digits - 1}f}]"


def _diff(e: Estimate | None) -> str:
    if e is None:
        return "—"
    text = pp(e.mean, 2)
    if e.half is None:
        return text + " (n=1)"
    if e.show_seeds:
        return text + " (seeds: " + ", ".join(pp(v, 1).replace(" pp", "") for v in sorted(e.values)) + ")"
    return f"{text} [{100 * e.low:+.2f}, {100 * e.high:+.2f}]".replace("-", "−")


def _runs_text(c: Cell) -> str:
    if c.missing:
        return "missing"
    parts = [f"{c.n_complete}"]
    if c.n_running:
        parts.append(f"{c.n_running} incomplete")
    if c.n_diverged:
        parts.append(f"{c.n_diverged} diverged")
    if c.n_failed:
        parts.append(f"{c.n_failed} failed")
    return " + ".join(parts)


def table_rows(s: ProtocolSummary) -> list[dict[str, str]]:
    rows = []
    for fw in s.frameworks:
        for label in s.schedules:
            c = s.cell(fw, label)
            if c.missing and many_series(s):
                continue  # many series, some run in one framework only: the findings list the gaps
            row = {"framework": fw_label(fw), "scheduler": label, "runs": _runs_text(c), "_state": c.state(),
                   "_chance": c.at_chance}
            row["params"] = c.params + (" ⚠ horizon past the run's end" if c.horizon_note else "")
            row["final"] = (_est(c.final) + c.learned_text()) if c.final else ("—" if c.missing else c.no_mean_text())
            # the best epoch's accuracy: the mean alone (its spread tells little the final column does not)
            row["last5"] = "—" if c.last5 is None else f"{100 * c.last5.mean:.2f}%"
            row["best"] = "—" if c.best is None else (f"{100 * c.best.mean:.2f}%" + (" (n=1)" if c.best.n == 1 else ""))
            row["gap"] = pp(c.gap.mean, 2) if c.gap is not None else "—"
            row["epochs88"] = median_range_text(c.epochs_to_target) if c.budget_matches else "—"
            row["time"] = "—" if c.seconds_per_epoch is None else f"{c.seconds_per_epoch:.2f}"
            row["published"] = pct(c.published, 1) if c.published is not None else "—"
            if c.delta_published is None:
                row["delta"] = "—"
            else:
                row["delta"] = pp(c.delta_published)
                if c.reproduces is not None:
                    row["delta"] += " ✓" if c.reproduces else " ✗"
            row["vs_constant"] = "baseline" if c.is_baseline else _diff(c.vs_constant)
            rows.append(row)
    return rows


def results_table(rows: list[dict[str, str]], styles: dict[str, Style],
                  cols: list[tuple[str, str, bool]] = TABLE_COLUMNS, group_key: str = "framework",
                  css_class: str = "results") -> Table:
    """The rows as a table block: a schedule's swatch beside its name, a rule where ``group_key``
    changes, muted rows for cells without a number or at chance."""
    body = []
    previous = None
    for r in rows:
        classes = []
        if group_key and r.get(group_key) != previous and previous is not None:
            classes.append("group")
        previous = r.get(group_key)
        if r.get("_state", "ok") != "ok" or r.get("_chance"):
            classes.append("muted")
        cells = []
        for key, _, num in cols:
            cls = ("num wrap" if "seeds" in r[key] else "num") if num else ("txt wrap" if key == "params" else "txt")
            swatch = styles.get(r[key]) if key == "scheduler" else None
            cells.append(TableCell(r[key], cls, swatch))
        body.append(TableRow(tuple(cells), " ".join(classes)))
    return Table(tuple(Column(h, num) for _, h, num in cols), tuple(body), css_class)


def ranking_rows(s: ProtocolSummary) -> tuple[list[tuple[str, str, bool]], list[dict[str, str]]]:
    """Every series, best mean rank first: its rank and mean final test accuracy per framework.
    Ranks are competition ranks (a tie shares the better rank: "=1")."""
    cols = [("rank", "#", True), ("scheduler", "schedule", False)]
    cols += [(f"fw:{fw}", fw_label(fw), True) for fw in s.frameworks]
    if len(s.frameworks) > 1:
        cols.append(("mean_rank", "mean rank", True))
    rows = []
    ranked = mean_ranks(s)
    mean_values = [m for _, _, m in ranked if m is not None]
    for label, ranks, mean_rank in ranked:
        row = {"scheduler": label, "_state": "ok", "_chance": False}
        shared = mean_rank is not None and mean_values.count(mean_rank) > 1
        position = 1 + sum(m < mean_rank - 1e-12 for m in mean_values) if mean_rank is not None else None
        row["rank"] = "—" if position is None else (f"={position}" if shared else str(position))
        for fw in s.frameworks:
            c = s.cell(fw, label)
            if c.final is None:
                row[f"fw:{fw}"] = "—" if c.missing else c.state()
                continue
            same = sum(1 for other in s.ranked(fw) if abs(other.final.mean - c.final.mean) < TIE) > 1
            rank = f"={ranks[fw]}" if same else f"{ranks[fw]}"
            row[f"fw:{fw}"] = (f"{rank} · {pct(c.final.mean, 2)}" + (" (chance)" if c.at_chance else "")
                               + c.learned_text())
            if c.at_chance:
                row["_chance"] = True
        row["mean_rank"] = "—" if mean_rank is None else f"{mean_rank:.1f}"
        rows.append(row)
    return cols, rows
