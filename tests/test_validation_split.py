"""The validation split (data.val_size) and scheduler=plateau through the real runner."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.data import load_fashion_mnist, stratified_split
from tests.conftest import INSTALLED_FRAMEWORKS, framework_installed

# Trains real frameworks or starts the CLI in subprocesses: `make test-fast` leaves it out.
pytestmark = pytest.mark.slow

TIMING = ["train_time_s", "eval_time_s", "git_sha"]


def test_stratified_split_is_exact_seeded_and_proportional():
    labels = np.repeat(np.arange(10), [600, 600, 600, 600, 600, 600, 600, 600, 600, 601])
    picked = stratified_split(labels, 1000, seed=3)
    assert len(picked) == 1000 and len(np.unique(picked)) == 1000 and (np.diff(picked) > 0).all()
    counts = np.bincount(labels[picked], minlength=10)
    assert counts.min() >= 99 and counts.max() <= 101 and counts.sum() == 1000
    assert (stratified_split(labels, 1000, seed=3) == picked).all()
    assert (stratified_split(labels, 1000, seed=4) != picked).any()


def test_val_split_is_carved_before_train_size_and_ignores_the_subset_seed(fashion_mnist):
    a = load_fashion_mnist(download=False, train_size=2048, val_size=6000, val_seed=0, subset_seed=5)
    b = load_fashion_mnist(download=False, val_size=6000, val_seed=0)
    assert np.array_equal(a.val_x, b.val_x) and np.array_equal(a.val_y, b.val_y)
    assert np.bincount(a.val_y).tolist() == [600] * 10  # Fashion-MNIST: 6,000 per class
    assert len(a.train_y) == 2048 and len(b.train_y) == 54_000
    # No validation image is a training image (exact pixel rows; Fashion-MNIST has a few
    # duplicate images, so compare against the images the split left, not by index).
    train_rows = {row.tobytes() for row in b.train_x.reshape(len(b.train_y), -1)}
    full_rows = {row.tobytes() for row in fashion_mnist.train_x.reshape(60_000, -1)}
    val_rows = [row.tobytes() for row in a.val_x.reshape(len(a.val_y), -1)]
    assert all(row in full_rows for row in val_rows)
    assert sum(row in train_rows for row in val_rows) <= 10  # duplicates only
    assert all(row.tobytes() in train_rows for row in a.train_x.reshape(len(a.train_y), -1))
    # Without a split, nothing moves (fashion_mnist was loaded without one).
    assert fashion_mnist.val_x is None and len(fashion_mnist.train_y) == 60_000


def _run(tmp_path, *overrides):
    from harness.cli import compose_run
    from harness.runner import run
    from harness.validate import validate

    cfg = compose_run(["framework=torch", "data.train_size=1024", "data.test_size=500", "epochs=4", "threads=1",
                       "progress=false", f"results_dir={tmp_path}", *overrides])
    return run(validate(cfg))


@pytest.mark.skipif(not framework_installed("torch"), reason="torch not installed")
def test_plateau_run_killed_mid_way_resumes_to_the_same_parquet(tmp_path, monkeypatch):
    import harness.runner as runner
    from harness import plateau

    # patience 0: any epoch that does not beat the best val_loss halves the next epoch's rate.
    args = ["scheduler=plateau", "data.val_size=500", "scheduler.patience=0"]
    straight = _run(tmp_path / "straight", *args)
    expected = pd.read_parquet(straight.run_dir)
    # The rates are the pure update replayed on the recorded val_loss.
    params = plateau.PlateauParams(base_lr=0.3, factor=0.5, patience=0, min_lr=0.001)
    state, replayed = plateau.initial_state(params), []
    for loss in expected["val_loss"]:
        replayed.append(state.lr)
        state = plateau.update(state, loss, params)
    assert expected["lr"].tolist() == replayed
    assert replayed[2] < 0.3  # reduced by the state the checkpoint after epoch 1 must carry
    assert expected["val_loss"].notna().all() and expected["val_acc"].between(0, 1).all()
    assert expected["verdict"].notna().all() and expected["verdict"].nunique() == 1

    real_set_up = runner._set_up

    def set_up_that_dies(cfg):
        setup = real_set_up(cfg)
        train, calls = setup.adapter.train_epoch, []

        def train_epoch(*a, **k):
            calls.append(1)
            if len(calls) == 3:
                raise KeyboardInterrupt  # killed during the third epoch
            return train(*a, **k)

        setup.adapter.train_epoch = train_epoch
        return setup

    monkeypatch.setattr(runner, "_set_up", set_up_that_dies)
    with pytest.raises(runner.Interrupted):  # Ctrl-C: the rows say interrupted, the checkpoint stays
        _run(tmp_path / "killed", *args)
    monkeypatch.setattr(runner, "_set_up", real_set_up)
    interrupted = pd.read_parquet(tmp_path / "killed")
    assert len(interrupted) == 2 and interrupted["verdict"].isna().all()
    assert (interrupted["status"] == "interrupted").all()
    resumed = _run(tmp_path / "killed", *args)
    assert resumed.resumed_from == 2
    got = pd.read_parquet(resumed.run_dir)
    pd.testing.assert_frame_equal(got.drop(columns=TIMING), expected.drop(columns=TIMING))


@pytest.mark.skipif(not framework_installed("torch"), reason="torch not installed")
def test_without_a_split_the_val_columns_are_null(tmp_path):
    summary = _run(tmp_path, "epochs=1", "data.train_size=512")
    rows = pd.read_parquet(summary.run_dir)
    assert rows["val_loss"].isna().all() and rows["val_acc"].isna().all()
    assert rows["verdict"].tolist() == ["converging"] or rows["verdict"].notna().all()


@pytest.mark.parametrize("framework", [f for f in INSTALLED_FRAMEWORKS if f != "torch"])  # torch: the test above
def test_every_adapter_evaluates_the_split(framework, tmp_path):
    # 500 validation images and 500 test images: two real, different evaluations per epoch.
    summary = _run(tmp_path, f"framework={framework}", "epochs=1", "data.train_size=512", "data.val_size=500")
    rows = pd.read_parquet(summary.run_dir)
    assert rows["val_loss"].notna().all() and np.isfinite(rows["val_loss"]).all()
    assert rows["val_acc"].between(0, 1).all()
    assert (rows["val_loss"] != rows["test_loss"]).all()
