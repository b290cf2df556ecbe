"""What every figure of the report shares (matplotlib, Agg backend, PNG): the page's type sizes
and grid (rcParams, set once, here), the resolution and panel width, saving without a timestamp
or software version (so a report of unchanged results is the same bytes), and the small helpers
for lines, legends and axes that the figure modules (figures.py, rate_figures.py, and the
guideline study's grid figure) draw with.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from harness.report.style import Style  # noqa: E402

PUBLISHED_STYLE = dict(marker="D", s=46, facecolor="white", edgecolor="#444444", linewidth=1.4, zorder=5)
DPI = 110
PANEL_WIDTH = 4.0  # inches per framework: three panels fit the page's 1160 px column at DPI
PNG_METADATA = {"Software": None}  # matplotlib's version would change the bytes of unchanged results

plt.rcParams.update(
    {
        "font.size": 11,
        "axes.titlesize": 12,
        "axes.labelsize": 11,
        "legend.fontsize": 10,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "grid.color": "#e3e3e3",
        "grid.linewidth": 0.8,
        "figure.dpi": DPI,
        "savefig.dpi": DPI,
        "savefig.bbox": "tight",
    }
)


def save(fig, path: Path) -> None:
    fig.savefig(path, format="png", facecolor="white", metadata=PNG_METADATA)
    plt.close(fig)


def draw_line(ax, x, y, style: Style, lw: float = 1.8, **kw):
    n = len(x)
    marker = {"marker": "o", "ms": 4.5} if n <= 3 else {}  # one or two epochs: a line alone would not show
    return ax.plot(x, y, color=style.colour, ls=style.dash, lw=lw, **marker, **kw)[0]


def finish_with_legend(fig, handles, labels) -> None:
    """Lay the axes out above a legend that fits the figure's width (in as few rows as needed).
    The figure grows by the legend's height: the panels keep the height they were given however
    many series the legend lists (a squeezed panel under a long legend reads as a strip)."""
    width = fig.get_figwidth()
    item = [0.75 + 0.075 * len(label) for label in labels]  # inches: marker + text at legend.fontsize
    ncol = max(1, len(labels))
    while ncol > 1 and max(sum(item[i:i + ncol]) for i in range(0, len(item), ncol)) > width - 0.3:
        ncol -= 1
    rows = math.ceil(len(labels) / ncol) if labels else 0
    ncol = math.ceil(len(labels) / rows) if rows else 1  # balanced rows: 4 + 3, not 6 + 1
    legend_height = 0.2 + 0.25 * rows  # inches
    fig.set_figheight(fig.get_figheight() + legend_height)
    fig.tight_layout(rect=(0, legend_height / fig.get_figheight(), 1, 1))
    if labels:
        fig.legend(handles, labels, loc="lower center", ncol=ncol, frameon=False, bbox_to_anchor=(0.5, 0.0),
                   handlelength=2.6)


def epoch_axis(ax, last_epoch: int) -> None:
    """Integer epochs; a short run gets half an epoch of room either side, not 1.002, 1.004 …"""
    if last_epoch <= 5:
        ax.set_xlim(0.5, last_epoch + 0.5)
        ax.set_xticks(range(1, last_epoch + 1))
    else:
        ax.set_xlim(1, last_epoch)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))


def family_grid(n_rows: int, n_cols: int, sharey: bool = True):
    """Small multiples: one row per schedule family, one column per framework, room on the right
    for each row's legend."""
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(PANEL_WIDTH * n_cols + 3.4, 2.35 * n_rows + 0.9),
                             sharex=True, sharey=sharey, squeeze=False)
    return fig, axes


def row_legend(ax, handles: dict, members: list[str], extra: list[str] = (), labels: dict | None = None) -> None:
    names = [m for m in [*extra, *members] if m in handles]
    if names:
        ax.legend([handles[m] for m in names], [(labels or {}).get(m, m) for m in names], loc="center left", bbox_to_anchor=(1.03, 0.5), frameon=False,
                  fontsize=9, handlelength=2.6)


def accuracy_limits(values: list[np.ndarray]) -> tuple[float, float] | None:
    vals = np.concatenate([v[np.isfinite(v)] for v in values]) if values else np.array([])
    if vals.size == 0:
        return None
    lo, hi = float(np.min(vals)), float(np.max(vals))
    pad = max(0.01, 0.06 * (hi - lo))
    return max(0.0, lo - pad), min(1.0, hi + pad)


def percent_axis(ax, lim) -> None:
    ax.set_ylim(*lim)
    ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(nbins=6, steps=[1, 2, 5, 10]))
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0 if lim[1] - lim[0] > 0.03 else 1))
