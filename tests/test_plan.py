"""The plan owns every rate (issue 23, item 2): one contract (rates, momenta, observe, state and
restore) for a fixed schedule, a d2l tab and reduce-on-plateau, so the runner's epoch loop has no
branch for any of them; and the row builders that name EPOCHS_SCHEMA's columns."""

from __future__ import annotations

import numpy as np
import pytest

from harness import d2l_tabs
from harness.cli import preflight
from harness.plan import D2LTabPlan, Plan, PlateauPlan, build_plan
from harness.results import EPOCHS_SCHEMA, MEASURED_COLUMNS, RUN_COLUMNS, epoch_row, run_columns

SMALL = ["data.train_size=1024", "data.test_size=500", "epochs=6"]


def test_a_fixed_schedule_ignores_what_it_observes_and_has_no_state():
    plan = build_plan(preflight(["scheduler=cosine", *SMALL])[0])
    assert type(plan) is Plan and plan.trained_unit == "epoch" and plan.updates_per_epoch == 4
    before = [plan.rates(e).tolist() for e in range(6)]
    plan.observe(0, {"val_loss": 9.9, "train_loss": 9.9})
    assert [plan.rates(e).tolist() for e in range(6)] == before
    assert before[0] == [0.3] * 4 and before[5][0] < before[1][0]  # the cosine decays epoch by epoch
    assert plan.state() is None and plan.momenta(0) is None


def test_onecycle_varies_momentum_per_update():
    plan = build_plan(preflight(["scheduler=onecycle", "scheduler.cycle_momentum=true", "optimizer.momentum=0.9", *SMALL])[0])
    momenta = np.concatenate([plan.momenta(e) for e in range(6)])
    assert len(momenta) == 24 and momenta.min() < momenta.max()
    rates = np.concatenate([plan.rates(e) for e in range(6)])
    assert np.argmin(momenta[:12]) == np.argmax(rates[:12])  # momentum low where the rate peaks


@pytest.mark.parametrize("framework, unit", [("torch", "epoch"), ("mxnet", "step")])
def test_a_d2l_tab_trains_its_own_rates(framework, unit):
    cfg = preflight(["protocol=d2l", f"framework={framework}", "scheduler=cosine", *SMALL])[0]
    plan = build_plan(cfg)
    assert isinstance(plan, D2LTabPlan) and plan.trained_unit == unit
    tab = d2l_tabs.tab_learning_rates(framework, "cosine", plan.params, 6, 4).reshape(6, 4)
    for epoch in range(6):
        np.testing.assert_array_equal(plan.rates(epoch), tab[epoch])
        assert plan.momenta(epoch) is None
    # MXNet's tab steps per update, so its rates move inside an epoch; torch's hold for one
    assert (len(set(tab[1])) > 1) == (unit == "step")


def test_plateau_lowers_its_rates_after_patience_and_resumes_from_its_state():
    cfg = preflight(["scheduler=plateau", "scheduler.patience=1", "scheduler.factor=0.5", "data.val_size=500", *SMALL])[0]
    plan = build_plan(cfg)
    assert isinstance(plan, PlateauPlan) and plan.monitor == "val_loss"
    base = float(plan.rates(0)[0])
    for epoch, loss in enumerate([1.0, 1.0, 1.0]):  # no improvement after epoch 0: patience 1 runs out at epoch 2
        plan.observe(epoch, {"val_loss": loss})
    assert plan.rates(3).tolist() == [base * 0.5] * 4
    saved = plan.state()
    fresh = build_plan(cfg)
    assert fresh.rates(3).tolist() == [base] * 4
    fresh.restore(saved)
    assert fresh.rates(3).tolist() == [base * 0.5] * 4 and fresh.state() == saved
    fresh.restore({})  # a checkpoint written before the plan had state: nothing to restore
    assert fresh.state() == saved


def test_the_row_builders_name_every_column_once():
    assert sorted(RUN_COLUMNS + MEASURED_COLUMNS + ("status", "verdict", "error")) == sorted(EPOCHS_SCHEMA.names)
    values = {name: None for name in RUN_COLUMNS if name != "schema_version"}
    run = run_columns(**values)
    assert run["schema_version"] >= 3
    row = epoch_row(run, **{name: 0 for name in MEASURED_COLUMNS})
    assert row["verdict"] is None and "status" not in row
    with pytest.raises(ValueError, match=r"missing \['lr'\]"):
        epoch_row(run, **{name: 0 for name in MEASURED_COLUMNS if name != "lr"})
    with pytest.raises(ValueError, match=r"unknown \['accuracy'\]"):
        run_columns(**values, accuracy=0.9)
