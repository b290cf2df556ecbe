"""Tuning on validation, testing once: the selection behind experiments/tune_lr.yaml.

``python -m harness.tuning RESULTS_DIR`` reads the grid's runs (parquet only, no framework),
prints, per schedule, the final validation accuracy at each base rate, the chosen rate (best
final ``val_acc``, ties broken by the lower final ``val_loss``) and the command that retrains
the chosen setting on the full training set and tests it once. Nothing here reads a test
column to choose: ``grid`` drops them before selecting.

For the report (owned elsewhere): ``grid(frame)`` and ``select(table)`` give the tables,
``grid_figure(table, chosen)`` the PNG (validation accuracy against base rate, one line per
schedule, the chosen points marked).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import pandas as pd

FINAL_RESULTS_DIR = "results/tune_lr_final"
# A grid row is one distinct setting at one rate: everything but the seed and the tuned rate. These are
# the parquet columns that say what a run trained (optimizer and its parameters, the schedule's variant
# with its warmup and unit, batch size, data sizes, model, protocol); ``shape`` is the schedule's
# parameters without its base rate. Two runs that differ in any of them are never averaged together.
SETTING_COLUMNS = ("framework", "protocol", "model", "model_hash", "dataset", "scheduler", "unit", "shape",
                   "optimizer", "optimizer_params", "batch_size", "epochs", "train_size", "subset_seed",
                   "weight_decay", "lr_mult")
RATE = "base_lr"
# The run settings a retrain changes, and nothing else: the full training set, no validation split
# (a plateau keeps its split: it decides on it), the full test set, the longer budget, its own folder.
RETRAIN_CHANGES = ("epochs", "data.train_size", "data.val_size", "data.test_size", "results_dir")


def _shape(schedule_params) -> str:
    """The schedule's parameters without the tuned rate, as canonical JSON ('' when unknown)."""
    if not isinstance(schedule_params, str) or not schedule_params:
        return ""
    params = json.loads(schedule_params)
    params.pop(RATE, None)
    return json.dumps(params, sort_keys=True)


def with_settings(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with ``setting`` (a key: equal exactly when every setting column is equal) and
    ``setting_label`` (the settings that differ between the frame's settings, harness.run_labels)."""
    from harness.run_labels import differing_labels

    frame = frame.copy()
    frame["shape"] = frame["schedule_params"].map(_shape) if "schedule_params" in frame else ""
    columns = [c for c in SETTING_COLUMNS if c in frame]
    frame["setting"] = ["|".join(map(str, values)) for values in frame[columns].itertuples(index=False)]
    firsts = frame.drop_duplicates("setting")
    described = [_described(row, columns) for _, row in firsts.iterrows()]
    # a parameter that only some optimizers or schedules have (beta2 for Adam) is implied by the name shown
    shared = set.intersection(*(set(d) for d in described)) if described else set()
    described = [{k: v for k, v in d.items() if k in shared} for d in described]
    labels = differing_labels(described, [f"{fw} {sch}" for fw, sch in zip(firsts["framework"], firsts["scheduler"])])
    frame["setting_label"] = frame["setting"].map(dict(zip(firsts["setting"], labels)))
    return frame


def _described(row, columns) -> dict:
    """One setting as the flat dict harness.run_labels reads: the schedule's shape and the
    optimizer's parameters unpacked into their own keys."""
    out = {}
    for column in columns:
        value = row[column]
        if column in ("framework", "scheduler", "model_hash"):
            continue
        if isinstance(value, str) and value.startswith("{"):
            out.update({k: v for k, v in json.loads(value).items() if k != "kind"})
        elif column != "shape":
            out[column] = value
    return out


def grid(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (setting, base_lr): the last epoch's val_acc and val_loss, the mean over the seeds
    that finished with a finite value, the number of seeds, how many of them diverged (or ended
    non-finite), and each seed's value (``seed_val_acc``). Runs without a validation split are left
    out: the ``has_split`` column says which runs had one when the reader could tell (a diverged
    run's val_acc is NaN, not null), else a non-null val_acc does."""
    columns = ["framework", "scheduler", "setting", "setting_label", RATE, "val_acc", "val_loss", "seeds", "diverged",
               "epochs", "seed_val_acc"]
    if "val_acc" not in frame:
        return pd.DataFrame(columns=columns)
    split = frame["has_split"] if "has_split" in frame else frame["val_acc"].notna()
    runs = frame[frame["run_id"].isin(frame.loc[split, "run_id"])]
    if runs.empty:
        return pd.DataFrame(columns=columns)
    last = with_settings(runs.sort_values("epoch").groupby("run_id").tail(1))
    if "epochs" not in last:
        last["epochs"] = last["epoch"] + 1
    status = last["status"] if "status" in last else pd.Series("complete", index=last.index)
    last["bad"] = (status == "diverged") | ~last["val_loss"].map(lambda v: pd.notna(v) and abs(v) < float("inf"))
    seed = last["seed"] if "seed" in last else last["run_id"]
    last["seed_key"] = seed
    keys = ["framework", "scheduler", "setting", "setting_label", RATE]
    table = (last.groupby(keys, as_index=False)
             .agg(val_acc=("val_acc", "mean"), val_loss=("val_loss", "mean"), seeds=("seed_key", "nunique"),
                  diverged=("bad", "sum"), epochs=("epochs", "max")))
    per_seed = last.groupby(keys)[["seed_key", "val_acc"]].apply(
        lambda g: dict(zip(g["seed_key"].tolist(), g["val_acc"].tolist())))
    table["seed_val_acc"] = [per_seed[tuple(row[k] for k in keys)] for _, row in table.iterrows()]
    table["diverged"] = table["diverged"].astype(int)
    table = table.sort_values(["framework", "scheduler", "setting_label", RATE]).reset_index(drop=True)
    table.attrs["seeds"] = "seed" in last  # without a seed column each run counts once, and no seed can disagree
    return table


def select(table: pd.DataFrame) -> pd.DataFrame:
    """Per setting: the base rate with the best val_acc, ties by the lower val_loss; a rate at which
    any seed diverged is never chosen. With the choice: ``at_edge`` ("low"/"high" when it is the
    smallest or largest rate tried: widen the grid), ``rates`` (how many were tried), and where
    the seeds disagree on the best rate, ``seed_best`` (each seed's best rate) and ``top_two_gap``
    (the chosen rate's mean val_acc minus the runner-up's)."""
    usable = table[(table["diverged"] == 0) & table["val_acc"].notna()] if "diverged" in table else table
    ranked = usable.sort_values(["setting", "val_acc", "val_loss"], ascending=[True, False, True])
    chosen = ranked.groupby("setting", as_index=False).head(1).copy()
    edges, tried, seed_best, gaps = [], [], [], []
    for _, row in chosen.iterrows():
        mine = table[table["setting"] == row["setting"]]
        rates = sorted(mine[RATE])
        tried.append(len(rates))
        edges.append("" if len(rates) < 2 else "low" if row[RATE] == rates[0] else "high" if row[RATE] == rates[-1]
                     else "")
        ok = ranked[ranked["setting"] == row["setting"]]
        gaps.append(float(ok["val_acc"].iloc[0] - ok["val_acc"].iloc[1]) if len(ok) > 1 else float("nan"))
        best = {}
        for seed in set().union(*[set(d) for d in ok["seed_val_acc"]]) if len(ok) and table.attrs.get("seeds") else ():
            values = [(d[seed], -r) for d, r in zip(ok["seed_val_acc"], ok[RATE]) if seed in d and pd.notna(d[seed])]
            if values:
                best[seed] = -max(values)[1]
        seed_best.append(best if len(set(best.values())) > 1 else {})
    chosen["rates"], chosen["at_edge"], chosen["seed_best"], chosen["top_two_gap"] = tried, edges, seed_best, gaps
    return chosen.sort_values(["framework", "scheduler", "setting_label"]).reset_index(drop=True)


def choice_notes(row) -> list[str]:
    """What a reader must know about one choice: at the edge of the grid, seeds that disagree."""
    notes = []
    if row["at_edge"]:
        notes.append(f"at the {'smallest' if row['at_edge'] == 'low' else 'largest'} rate tried: at the edge of the "
                     f"grid, widen it")
    if row["seed_best"]:
        seeds = ", ".join(f"seed {s}: {r:g}" for s, r in sorted(row["seed_best"].items()))
        notes.append(f"the seeds disagree on the best rate ({seeds}); the top two rates' means differ by "
                     f"{100 * row['top_two_gap']:.2f} points")
    return notes


def read_results(results_dir: str) -> pd.DataFrame:
    """Every run's rows, in the current schema, with ``has_split`` (its val_loss is not null) and
    ``folder`` (the run's folder, where its ``_config.yaml`` is)."""
    import pyarrow.dataset as ds

    from harness.results import EPOCHS_SCHEMA

    dataset = ds.dataset(results_dir, schema=EPOCHS_SCHEMA, format="parquet", exclude_invalid_files=True)
    table = dataset.to_table(columns=None)
    frame = table.to_pandas()
    frame["has_split"] = table.column("val_loss").is_valid().to_numpy(zero_copy_only=False)
    folders = {}
    for fragment in dataset.get_fragments():
        run = pq_run_id(fragment)
        if run is not None:
            folders[run] = str(Path(fragment.path).parent)
    frame["folder"] = frame["run_id"].map(folders)
    return frame


def pq_run_id(fragment) -> str | None:
    column = fragment.to_table(columns=["run_id"]).column("run_id")
    return str(column[0]) if len(column) else None


def failed_runs(results_dir: str) -> list[tuple[str, str]]:
    """(folder name, one-line error) of every run whose last attempt raised."""
    from harness.results import failure_of

    root = Path(results_dir)
    return [(p.name, failure_of(p)) for p in sorted(root.iterdir()) if p.is_dir() and failure_of(p)]


def _flat(node, prefix: str = "") -> dict:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            out.update(_flat(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: node}


def _override_value(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return "[" + ",".join(_override_value(v) for v in value) + "]"
    return str(value)


def setting_overrides(config: dict) -> list[str]:
    """The command-line overrides that compose ``config`` (a run's ``_config.yaml``, as a dict):
    its config groups, then every value that differs from what those groups compose to. The seed,
    where the run is written and how it is shown are left out."""
    from harness.identity import NOT_IDENTITY, NOT_IDENTITY_DATA
    from harness.preflight import preflight
    from harness.schema import as_dict

    groups = [f"framework={config['framework']['name']}", f"model={config['model']['name']}",
              f"optimizer={config['optimizer']['name']}", f"scheduler={config['scheduler']['name']}"]
    default = _flat(as_dict(preflight(groups)[0]))
    wanted = _flat(config)
    if wanted.get("scheduler.total_steps") is not None and wanted["scheduler.total_steps"] == _derived_horizon(config):
        wanted["scheduler.total_steps"] = None  # the runner wrote out a horizon that follows the run: keep following
    skip = {*NOT_IDENTITY, "seed", *(f"data.{k}" for k in NOT_IDENTITY_DATA)}
    changed = [k for k, v in wanted.items()
               if k.split(".")[0] not in skip and k not in skip and not k.startswith("model.")
               and _override_value(default.get(k)) != _override_value(v)]
    return groups + [f"{k}={_override_value(wanted[k])}" for k in changed]


def _derived_horizon(config: dict) -> int | None:
    """The ``total_steps`` the runner derives for this run when it is left unset (None when the
    schedule has no horizon): a ``_config.yaml`` records the derived value, not that it was unset."""
    from harness.plan import updates_per_epoch
    from harness.schedules.build import has_horizon
    from harness.schema import Plain

    scheduler = config["scheduler"]
    if not has_horizon(scheduler["kind"]):
        return None
    plain = Plain.of(config)
    return plain.epochs if scheduler["unit"] == "epoch" else plain.epochs * updates_per_epoch(plain)


def retrain_command(row, epochs: int = 30, results_dir: str = FINAL_RESULTS_DIR, config: dict | None = None) -> str:
    """The command that trains the chosen setting again on the full training set with the longer
    budget and tests it once. From the chosen runs' ``_config.yaml`` (``config``) when there is one,
    so that, run as printed, its config equals theirs except for ``RETRAIN_CHANGES`` (a horizon
    that followed the grid's run follows the retrain's: ``total_steps=null``); else from the
    row's framework, schedule and rate alone. A plateau schedule needs its validation split to
    decide, so it keeps it (and trains on the other images)."""
    plateau = row["scheduler"] == "plateau"
    if config is not None:
        args = [a for a in setting_overrides(config) if a.split("=", 1)[0] not in RETRAIN_CHANGES]
        val = config["data"].get("val_size") if plateau else None
        sizes = ["data.train_size=null", f"data.val_size={_override_value(val)}", "data.test_size=null"]
        return "python -m harness " + " ".join([*args, *sizes, f"epochs={epochs}", f"results_dir={results_dir}"])
    keep_split = " data.val_size=10000" if plateau else ""
    return (f"python -m harness framework={row['framework']} scheduler={row['scheduler']} "
            f"scheduler.base_lr={row[RATE]:g} epochs={epochs}{keep_split} results_dir={results_dir}")


def config_of(frame: pd.DataFrame, row) -> dict | None:
    """The ``_config.yaml`` of one run of the chosen grid point, as a dict (None without one)."""
    import yaml

    from harness.results import CONFIG_FILE

    if "folder" not in frame:
        return None
    point = frame[(frame.get("setting") == row["setting"]) & (frame[RATE] == row[RATE])] if "setting" in frame \
        else frame.iloc[0:0]
    for folder in point["folder"].dropna().unique():
        path = Path(folder) / CONFIG_FILE
        if path.is_file():
            return yaml.safe_load(path.read_text())
    return None


def grid_figure(table: pd.DataFrame, chosen: pd.DataFrame) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frameworks = sorted(table["framework"].unique())
    fig, axes = plt.subplots(1, len(frameworks), figsize=(4.5 * len(frameworks), 3.6), dpi=120, squeeze=False)
    for ax, framework in zip(axes[0], frameworks):
        for label, line in table[table["framework"] == framework].groupby("setting_label"):
            (handle,) = ax.plot(line["base_lr"], line["val_acc"], marker="o", label=label)
            pick = chosen[chosen["setting_label"] == label]
            ax.plot(pick["base_lr"], pick["val_acc"], marker="*", markersize=14, color=handle.get_color(),
                    markeredgecolor="black", linestyle="none")
        ax.set_xscale("log")
        ax.set_xlabel("base rate (log scale)")
        ax.set_ylabel("final validation accuracy")
        ax.set_title(f"{framework}: the grid, on validation (chosen: star)", fontsize=9)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight", facecolor="white")
    plt.close(fig)
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.tuning", description=__doc__.splitlines()[0])
    parser.add_argument("results_dir", nargs="?", default="results/tune_lr")
    parser.add_argument("--epochs", type=int, default=30, help="epochs of the retrain (default 30)")
    args = parser.parse_args(argv)
    try:
        frame = read_results(args.results_dir)
        failed = failed_runs(args.results_dir)
    except (OSError, ValueError) as exc:
        print(f"harness: error: cannot read results in {args.results_dir!r} ({exc}); run the grid first: "
              f"python -m harness -m experiments=tune_lr", file=sys.stderr)
        return 2
    table = grid(frame)
    if table.empty:
        print(f"harness: error: no run in {args.results_dir!r} has a validation split; run the grid: "
              f"python -m harness -m experiments=tune_lr", file=sys.stderr)
        return 2
    chosen = select(table)
    print("The grid (final validation accuracy, mean over the seeds that did not diverge; one row per distinct "
          "setting and rate, never pooled; the test set was not looked at):")
    shown = table.assign(setting=table["setting_label"]).drop(columns=["setting_label", "seed_val_acc", "framework",
                                                                       "scheduler"])
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    for row in table[table["diverged"] > 0].itertuples():
        print(f"  diverged: {row.setting_label} base_lr {row.base_lr:g}: {row.diverged} of {row.seeds} "
              f"seeds (never chosen)")
    for name, error in failed:
        print(f"  failed: {name}: {error} (not in the grid; run the grid's command again to retry it)")
    print("\nChosen per setting (best val_acc, ties by val_loss), and the command that retrains it and tests once "
          f"(it changes only {', '.join(RETRAIN_CHANGES)}):")
    labelled = with_settings(frame)  # once: every choice's _config.yaml is found through it
    for _, row in chosen.iterrows():
        print(f"  {row['setting_label']}: base_lr {row['base_lr']:g} (val_acc {row['val_acc']:.4f}, "
              f"{int(row['seeds'])} seed{'s' if int(row['seeds']) != 1 else ''}, {int(row['rates'])} rates tried)")
        for note in choice_notes(row):
            print(f"    ⚠ {note}")
        print(f"    {retrain_command(row, args.epochs, config=config_of(labelled, row))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
