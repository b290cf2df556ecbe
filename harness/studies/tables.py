"""A plain text table as a report block: the studies' reports build every table through it."""

from __future__ import annotations

from harness.report.blocks import Column, Table, TableCell, TableRow

NUMERIC = {"n", "rate", "mean (pt)", "n seeds", "power (at the observed difference)", "finished runs", "epochs",
           "compute", "median s per epoch"}  # right-aligned headers


def text_table(headers: list[str], rows: list[list[str]]) -> Table:
    numeric = [h in NUMERIC for h in headers]
    return Table(tuple(Column(h, n) for h, n in zip(headers, numeric)),
                 tuple(TableRow(tuple(TableCell(c, "num" if n else "txt") for c, n in zip(r, numeric))) for r in rows),
                 markup=False)
