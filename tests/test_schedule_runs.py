"""A schedule with cyclic momentum trains through the real runner in every framework (one tiny
epoch each): the parquet records the rate and the momentum of every update, the derived horizon
lands in _config.yaml. Until an adapter's ``train_epoch`` takes ``momenta`` (the optimizers
issue), its run keeps the momentum constant and the test checks that path instead."""

from __future__ import annotations

import inspect

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from adapters import REGISTRY, load_adapter
from harness.cli import preflight
from harness.plan import build_plan
from harness.runner import _set_up, batch_order, run
from harness.validate import validate
from tests.conftest import framework_installed

# Trains real frameworks or starts the CLI in subprocesses: `make test-fast` leaves it out.
pytestmark = pytest.mark.slow


def takes_momenta(framework: str) -> bool:
    return "momenta" in inspect.signature(load_adapter(framework).train_epoch).parameters


@pytest.mark.parametrize("framework", [pytest.param(f, marks=pytest.mark.skipif(not framework_installed(f), reason=f"{f} not installed"))
                                       for f in REGISTRY])
def test_cyclic_momentum_schedule_trains_and_is_recorded(framework, tmp_path):
    cycles = takes_momenta(framework)
    cfg = preflight([
        f"framework={framework}", "scheduler=onecycle", f"scheduler.cycle_momentum={str(cycles).lower()}",
        "optimizer.momentum=0.9", "scheduler.base_lr=0.05", "epochs=1", "data.train_size=512", "data.test_size=500",
        "batch_size=64", "threads=1", "progress=false", f"results_dir={tmp_path}",
    ])[0]
    summary = run(validate(cfg))
    assert summary.status == "complete"
    row = pq.read_table(summary.run_dir / "epochs.parquet").to_pylist()[0]
    plan = build_plan(cfg)
    assert row["step_lrs"] == plan.learning_rates(0).tolist() and len(row["step_lrs"]) == 8
    assert np.argmax(row["step_lrs"]) == 2  # the peak of an 8-update cycle is at t = pct_start * 8 - 1 = 1.4
    written = yaml.safe_load((summary.run_dir / "_config.yaml").read_text())
    # left unset on the command line: the preflight's canonical run derives it (8 updates), the run records it
    assert cfg.scheduler.total_steps == 8 and written["scheduler"]["total_steps"] == 8
    if cycles:
        assert row["step_momenta"] == plan.momenta(0).tolist() and row["momentum"] == 0.95
        assert min(row["step_momenta"]) < 0.9  # it moved, opposite to the rate
        # What the optimizer actually used at every update, read back from it.
        setup = _set_up(cfg)
        stats = setup.adapter.train_epoch(batch_order(cfg.seed, 0, 512), cfg.batch_size, setup.plan.learning_rates(0),
                                          trace_lrs=True, momenta=setup.plan.momenta(0))
        for applied, planned in ((stats.applied_momenta, plan.momenta(0)), (stats.applied_lrs, plan.learning_rates(0))):
            assert np.max(np.abs(np.array(applied) - planned) / planned) <= 1e-7
    else:
        assert row["step_momenta"] is None and row["momentum"] == 0.9
