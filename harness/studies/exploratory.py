"""The guideline study's exploratory final runs, as values paired by (framework, seed): what the
confirmatory section and the transfer study set beside their own runs."""

from __future__ import annotations

from pathlib import Path

EXPLORATORY_BUDGET = 30


def exploratory_values(study_dir: Path, arms: list[str]) -> tuple[dict, dict]:
    """PyTorch's exploratory 30-epoch final runs (seeds 0-9): arm -> {(framework, seed): points}, failed."""
    from harness.studies.grid import last_rows, read_runs

    last = last_rows(read_runs(study_dir / "final"))
    last = last[(last["framework"] == "torch") & (last["epochs"] == EXPLORATORY_BUDGET) & last["finished"]]
    values, failed = {}, {}
    for arm in arms:
        mine = last[last["arm"] == arm]
        values[arm] = {("torch", int(s)): 100 * float(v) for s, v in zip(mine["seed"], mine["test"])}
        failed[arm] = {("torch", int(s)) for s, bad in zip(mine["seed"], mine["failed"]) if bad}
    return values, failed
