"""Per-run metrics, each declared once: its name, how one run's epochs give its value, and how a
cell's seeds are shown.

A ``RunMetric`` is all the report needs to give a number its own section (a table of series ×
frameworks and a bar plot, harness.report.sections.metric_section); the value is computed from
each run's rows where the section needs it, so no metric passes through the run table, the cells
and the summary on its way to the page. The Numbers table's "epochs to 88%" column reads the same
declaration (``EPOCHS_TO_TARGET``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from harness.report.load import TARGET_ACC


@dataclass(frozen=True)
class RunMetric:
    key: str  # its name: --section KEY, and the figure KEY_<protocol>.png
    title: str  # the section's heading, and the bar plot's axis
    compute: Callable[[pd.DataFrame], float | None]  # one run's rows in epoch order -> its value (None: never)
    text: Callable[[list], str]  # the values of one cell's seeds that learned -> the table's text
    note: str  # what it is, said under its heading
    lower_is_better: bool = True  # the bar plot's order: best first


def first_epoch_reaching(accuracy: float) -> Callable[[pd.DataFrame], int | None]:
    """The first epoch (counted from 1) whose test accuracy reaches ``accuracy``, or None."""

    def compute(g: pd.DataFrame) -> int | None:
        reached = g.index[g.test_acc >= accuracy]
        return int(g.loc[reached[0], "epoch"]) + 1 if len(reached) else None

    return compute


def median_range_text(values: list) -> str:
    """``12 (10–15), 1 of 3 never``: the median of the seeds that got there, their range, and how
    many never did; ``never`` when none did, ``—`` without a seed."""
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


def epochs_to(accuracy: float, key: str) -> RunMetric:
    return RunMetric(key, f"Epochs to {accuracy:.0%}", first_epoch_reaching(accuracy), median_range_text,
                     f"The first epoch whose test accuracy reaches {accuracy:.0%}, for each complete run that "
                     "learned: the median over seeds, with the range where seeds differ, and how many never did.")


EPOCHS_TO_TARGET = epochs_to(TARGET_ACC, "epochs_to_target")  # the Numbers table's column (the chapter's budget only)
EPOCHS_TO_85 = epochs_to(0.85, "epochs_to_85")  # issue 35's example: python -m harness report DIR --section epochs_to_85
