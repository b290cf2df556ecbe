"""The cells of a protocol (one framework × series each) and the protocol's summary: what the
tables, findings and figures read. harness.report.summary fills them."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from harness.report import rules
from harness.report.series import Series
from harness.report.estimates import Estimate
from harness.report.stats import Comparison, success_rate


@dataclass
class Cell:
    """One framework × series of one protocol."""

    protocol: str
    framework: str
    series: str  # the label
    scheduler: str = ""
    n_complete: int = 0
    n_running: int = 0
    n_diverged: int = 0
    n_failed: int = 0  # status failed: the run raised
    n_learned: int = 0  # complete runs not failed by their verdict: the seeds every mean is over
    test_size: int = 0  # test images per run: the chance label's binomial test is on this many
    failures: dict[str, list[int]] = field(default_factory=dict)  # verdict (or "failed") -> seeds
    too_short: list[int] = field(default_factory=list)  # complete runs too short for a trend
    final: Estimate | None = None
    last5: Estimate | None = None
    best: Estimate | None = None
    gap: Estimate | None = None
    final_by_seed: dict[int, float] = field(default_factory=dict)
    epochs_to_target: list[int | None] = field(default_factory=list)
    seconds_per_epoch: float | None = None
    published: float | None = None  # only where the cell ran the chapter's budget
    budget_matches: bool = False
    budget_differs: list[str] = field(default_factory=list)  # what differs from the chapter's budget
    params: str = ""  # the schedule's parameters, in words
    horizon_note: str = ""  # set when the schedule's horizon is longer than the run
    context: str = ""  # optimizer, budget and network: only cells of one context are compared
    baseline: str | None = None  # the constant-rate series this one is compared with
    is_baseline: bool = False
    vs_constant: Estimate | None = None
    vs_constant_cmp: Comparison | None = None  # Holm-corrected over the framework's family
    reproduces: bool | None = None
    reproduce_band: float | None = None  # half-width used to judge reproduction
    reproduce_band_source: str = ""

    @property
    def n_runs(self) -> int:
        return self.n_complete + self.n_running + self.n_diverged + self.n_failed

    @property
    def n_finished(self) -> int:
        return self.n_complete + self.n_diverged + self.n_failed

    @property
    def n_failures(self) -> int:
        return sum(len(v) for v in self.failures.values())

    def success(self) -> tuple[float, float, float] | None:
        """Share of finished runs that produced a network (not diverged, collapsed, never learned
        or failed), with its exact binomial 95% interval; None before any run finished."""
        n = self.n_finished
        return None if n == 0 else success_rate(n - self.n_failures, n)

    def failure_text(self) -> str:
        """``2 of 3 runs failed (diverged: seeds 0, 1)``; empty when none failed."""
        if not self.n_failures:
            return ""
        return f"{self.n_failures} of {self.n_finished} runs failed ({self.failed_seeds_text()})"

    def learned_text(self) -> str:
        """`` (1 of 3 seeds learned; 2 failed)`` where some finished seed failed, else empty: what
        stands beside every mean of this cell (harness.report.rules)."""
        if not self.n_failures:
            return ""
        return f" ({rules.seeds_learned_text(self.n_finished - self.n_failures, self.n_finished)})"

    def failed_seeds_text(self) -> str:
        """``never learned: seeds 0, 2; diverged: seed 1``: which seeds failed, by verdict."""
        return "; ".join(f"{v.replace('_', ' ')}: seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}"
                         for v, seeds in self.failures.items())

    def no_mean_text(self) -> str:
        """What a table shows where a cell has no mean: its state, and which seeds failed how."""
        if self.none_learned:
            return f"no seed learned ({self.failed_seeds_text()})"
        return self.state()

    @property
    def missing(self) -> bool:
        return self.n_runs == 0

    @property
    def at_chance(self) -> bool:
        """The mean (over the seeds that learned) cannot be told from guessing: a binomial test on
        the test-set size (harness.report.rules.at_chance)."""
        return self.final is not None and rules.at_chance(self.final.mean, self.test_size)

    @property
    def none_learned(self) -> bool:
        """Finished seeds, every one failed: no mean to show."""
        return self.final is None and self.n_finished > 0 and self.n_failures == self.n_finished

    @property
    def n_at_chance(self) -> int:
        """Complete runs whose verdict says they never learned or collapsed to chance."""
        return len(self.failures.get("never_learned", [])) + len(self.failures.get("collapsed", []))

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
        if self.none_learned:
            return "no seed learned"
        if self.n_failed and not self.n_diverged:
            return "failed"
        return "diverged"


@dataclass
class ProtocolSummary:
    protocol: str
    frameworks: list[str]
    schedules: list[str]  # the series' labels, in report order
    series: dict[str, Series]
    cells: dict[tuple[str, str], Cell]
    runs: pd.DataFrame
    rank_correlations: dict[tuple[str, str], tuple[float, float, int]]  # (fw_a, fw_b) -> (rho, exact p, n series)
    warnings: list[str]
    # cells with a published figure that ran another budget: (name, what differs)
    published_withheld: list[tuple[str, list[str]]] = field(default_factory=list)

    def cell(self, framework: str, label: str) -> Cell:
        return self.cells[(framework, label)]

    def ranked(self, framework: str) -> list[Cell]:
        """This framework's cells with a mean, best first."""
        cells = [self.cells[(framework, s)] for s in self.schedules if self.cells[(framework, s)].final is not None]
        return sorted(cells, key=lambda c: -c.final.mean)

    @property
    def has_published(self) -> bool:
        return any(c.published is not None for c in self.cells.values())
