"""Selection on validation (harness/tuning.py): pure pandas on a small synthetic results table."""

from __future__ import annotations

import pandas as pd

from harness import tuning


def results():
    rows = []
    # (scheduler, base_lr, final val_acc, final val_loss, final test_acc)
    for i, (scheduler, lr, val_acc, val_loss, test_acc) in enumerate([
        ("constant", 0.1, 0.88, 0.33, 0.87),
        ("constant", 0.3, 0.89, 0.31, 0.86),
        ("constant", 1.0, 0.10, 2.30, 0.99),  # the best test accuracy: must not matter
        ("cosine", 0.1, 0.90, 0.29, 0.89),
        ("cosine", 0.3, 0.90, 0.28, 0.88),  # a tie on val_acc, lower val_loss: chosen
    ]):
        for epoch in range(2):
            rows.append({"run_id": f"r{i}", "framework": "torch", "scheduler": scheduler, "base_lr": lr, "epoch": epoch,
                         "val_acc": val_acc - 0.1 * (1 - epoch), "val_loss": val_loss + (1 - epoch),
                         "test_acc": test_acc, "test_loss": 0.1})
    rows.append({**rows[0], "run_id": "no-split", "val_acc": None, "val_loss": None, "base_lr": 3.0})
    return pd.DataFrame(rows)


def test_selects_on_final_val_acc_with_ties_by_val_loss_and_never_by_test():
    table = tuning.grid(results())
    assert len(table) == 5 and 3.0 not in table["base_lr"].tolist()  # the run without a split is out
    assert "test_acc" not in table.columns
    chosen = tuning.select(table).set_index("scheduler")["base_lr"].to_dict()
    assert chosen == {"constant": 0.3, "cosine": 0.3}


def test_retrain_command_uses_the_full_training_set_except_for_plateau():
    row = {"framework": "tf", "scheduler": "cosine", "base_lr": 0.1}
    assert tuning.retrain_command(row) == ("python -m harness framework=tf scheduler=cosine scheduler.base_lr=0.1 "
                                           "epochs=30 results_dir=results/tune_lr_final")
    assert "data.val_size=10000" in tuning.retrain_command({**row, "scheduler": "plateau"})


def test_grid_figure_draws_each_schedule_in_a_panel_per_framework():
    import io

    import matplotlib.image
    import numpy as np

    def decoded(table):
        return matplotlib.image.imread(io.BytesIO(tuning.grid_figure(table, tuning.select(table))), format="png")

    def has_colour(image, hex_colour):  # matplotlib's default line colours, C0 and C1
        rgb = np.array([int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)])
        return int((np.abs(image[..., :3] - rgb).max(axis=-1) < 0.02).sum())

    table = tuning.grid(results())
    one = decoded(table)
    assert has_colour(one, "#1f77b4") > 100 and has_colour(one, "#ff7f0e") > 100  # both schedules drawn
    two = decoded(pd.concat([table, table.assign(framework="tf")]))
    assert two.shape[0] == one.shape[0] and 1.6 < two.shape[1] / one.shape[1] < 2.2  # a panel each
