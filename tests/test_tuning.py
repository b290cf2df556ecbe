"""Selection on validation (harness/tuning.py): pure pandas on a small synthetic results table."""

from __future__ import annotations

import json

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


# --------------------------------------------- issue 32: a grid row is one distinct setting, never pooled


def _grid_folder(tmp_path):
    """A user's grid as the issue reports it: SGD and Adam x warmup on/off x 2 rates x 2 seeds, cosine,
    batch 1024, a validation split. Real composed configs (``_config.yaml`` as the runner writes it) and
    parquet rows with made-up accuracies: Adam with warmup is best at 0.01, and only seed 1 prefers 0.1."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from omegaconf import OmegaConf

    from harness.identity import folder_of, run_id
    from harness.preflight import preflight
    from harness.results import CONFIG_FILE, EPOCHS_SCHEMA
    from harness.schema import as_dict

    accuracy = {("sgd", 0, 0.01): 0.50, ("sgd", 0, 0.1): 0.70, ("sgd", 2, 0.01): 0.52, ("sgd", 2, 0.1): 0.72,
                ("adam", 0, 0.01): 0.60, ("adam", 0, 0.1): 0.40, ("adam", 2, 0.01): 0.66, ("adam", 2, 0.1): 0.30}
    configs = preflight(["-m", "framework=torch", "optimizer=sgd,adam", "scheduler=cosine", "scheduler.unit=step",
                         "scheduler.warmup_steps=0,2", "scheduler.final_lr=0", "scheduler.total_steps=null",
                         "batch_size=1024", "data.train_size=2048", "data.val_size=1024", "epochs=2",
                         "scheduler.base_lr=0.01,0.1", "seed=0,1", f"results_dir={tmp_path}"])
    assert len(configs) == 16
    for cfg in configs:
        folder = folder_of(cfg)
        folder.mkdir(parents=True)
        written = as_dict(cfg)
        written["scheduler"]["total_steps"] = 4  # as the runner writes it: derived from 2 epochs of 2 updates
        (folder / CONFIG_FILE).write_text(OmegaConf.to_yaml(written))
        s = cfg.scheduler
        acc = accuracy[(cfg.optimizer.name, s.warmup_steps, s.base_lr)] + (0.05 if (cfg.seed == 1 and s.base_lr == 0.1
                                                                                   and cfg.optimizer.name == "adam"
                                                                                   and s.warmup_steps == 2) else 0)
        params = {"base_lr": s.base_lr, "final_lr": 0.0, "kind": "cosine", "total_steps": 4, "unit": "step",
                  "warmup_steps": s.warmup_steps}
        rows = [{"run_id": run_id(cfg), "framework": "torch", "scheduler": "cosine", "optimizer": cfg.optimizer.name,
                 "base_lr": s.base_lr, "seed": cfg.seed, "epoch": e, "epochs": 2, "batch_size": 1024,
                 "train_size": 1024, "status": "complete", "schedule_params": json.dumps(params, sort_keys=True),
                 "optimizer_params": json.dumps({"weight_decay": 0.0}), "val_acc": acc - 0.1 * (1 - e),
                 "val_loss": 2 - acc, "test_acc": 0.99} for e in range(2)]
        pq.write_table(pa.Table.from_pylist(rows, schema=EPOCHS_SCHEMA), folder / "epochs.parquet")
    return configs


def test_grid_rows_are_distinct_settings_and_the_retrain_reproduces_the_chosen_one(tmp_path):
    from harness.preflight import preflight
    from harness.schema import as_dict

    configs = _grid_folder(tmp_path)
    frame = tuning.read_results(str(tmp_path))
    table = tuning.grid(frame)
    assert len(table) == 8 and set(table["seeds"]) == {2}  # 4 settings x 2 rates, 2 seeds each: nothing pooled
    chosen = tuning.select(table).set_index("setting_label")
    assert sorted(chosen.index) == ["torch cosine (optimizer=adam, warmup=0)", "torch cosine (optimizer=adam, warmup=2)",
                                    "torch cosine (optimizer=sgd, warmup=0)", "torch cosine (optimizer=sgd, warmup=2)"]
    adam = chosen.loc["torch cosine (optimizer=adam, warmup=2)"]
    assert adam["base_lr"] == 0.01 and abs(adam["val_acc"] - 0.66) < 1e-9  # not the 0.55 mean of four Adam runs
    assert adam["at_edge"] == "low" and chosen.loc["torch cosine (optimizer=sgd, warmup=0)", "at_edge"] == "high"
    assert adam["seed_best"] == {} and abs(adam["top_two_gap"] - (0.66 - 0.325)) < 1e-9
    notes = tuning.choice_notes(adam)
    assert notes == ["at the smallest rate tried: at the edge of the grid, widen it"]

    # the retrain command, run as printed, composes the chosen runs' config except for the keys it names
    config = tuning.config_of(tuning.with_settings(frame), adam)
    command = tuning.retrain_command(adam, epochs=30, results_dir=str(tmp_path / "final"), config=config)
    assert "optimizer=adam" in command and "batch_size=1024" in command and "scheduler.warmup_steps=2" in command
    args = command.split()[3:]
    retrained = tuning._flat(as_dict(preflight(args)[0]))
    original = tuning._flat(as_dict(next(c for c in configs if c.optimizer.name == "adam" and c.seed == 0
                                          and c.scheduler.warmup_steps == 2 and c.scheduler.base_lr == 0.01)))
    differ = {k for k in original if original[k] != retrained.get(k)}
    # the horizon followed the grid's 2 epochs (4 updates); it follows the retrain's 30 epochs of 59 updates
    assert original["scheduler.total_steps"] == 4 and retrained["scheduler.total_steps"] == 30 * 59
    assert differ - {"scheduler.total_steps"} <= {"epochs", "data.train_size", "data.val_size", "data.test_size",
                                                  "results_dir"}, differ
    assert retrained["epochs"] == 30 and retrained["data.val_size"] is None
    assert "scheduler.total_steps=null" in command  # the cosine still ends with the (longer) run


def test_seeds_that_disagree_are_said_with_the_top_two_gap(tmp_path):
    table = tuning.grid(pd.DataFrame([
        {"run_id": f"r{seed}{lr}", "framework": "torch", "scheduler": "constant", "base_lr": lr, "seed": seed,
         "epoch": 0, "val_acc": acc, "val_loss": 1.0}
        for seed, lr, acc in [(0, 0.01, 0.80), (0, 0.03, 0.78), (0, 0.1, 0.50), (1, 0.01, 0.79), (1, 0.03, 0.82),
                              (1, 0.1, 0.40)]]))
    row = tuning.select(table).iloc[0]
    assert row["base_lr"] == 0.03 and row["at_edge"] == "" and row["seed_best"] == {0: 0.01, 1: 0.03}
    assert tuning.choice_notes(row) == ["the seeds disagree on the best rate (seed 0: 0.01, seed 1: 0.03); the top two "
                                        "rates' means differ by 0.50 points"]
