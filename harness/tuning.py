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
import sys

import pandas as pd

GRID_KEYS = ["framework", "scheduler", "base_lr"]
FINAL_RESULTS_DIR = "results/tune_lr_final"


def grid(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (framework, scheduler, base_lr): the last epoch's val_acc and val_loss, the
    mean over the seeds that finished with a finite value, the number of runs, and how many of
    them diverged (or ended non-finite). Runs without a validation split are left out: the
    ``has_split`` column says which runs had one when the reader could tell (a diverged run's
    val_acc is NaN, not null), else a non-null val_acc does."""
    if "val_acc" not in frame:
        return pd.DataFrame(columns=[*GRID_KEYS, "val_acc", "val_loss", "runs", "diverged", "epochs"])
    split = frame["has_split"] if "has_split" in frame else frame["val_acc"].notna()
    runs = frame[frame["run_id"].isin(frame.loc[split, "run_id"])]
    last = runs.sort_values("epoch").groupby("run_id").tail(1).copy()
    status = last["status"] if "status" in last else pd.Series("complete", index=last.index)
    last["bad"] = (status == "diverged") | ~last["val_loss"].map(lambda v: pd.notna(v) and abs(v) < float("inf"))
    table = (last.groupby(GRID_KEYS, as_index=False)
             .agg(val_acc=("val_acc", "mean"), val_loss=("val_loss", "mean"), runs=("run_id", "nunique"),
                  diverged=("bad", "sum"), epochs=("epoch", lambda e: int(e.max()) + 1)))
    table["diverged"] = table["diverged"].astype(int)
    return table.sort_values(GRID_KEYS).reset_index(drop=True)


def select(table: pd.DataFrame) -> pd.DataFrame:
    """Per (framework, scheduler): the base rate with the best val_acc, ties by the lower val_loss;
    a rate at which any seed diverged is never chosen."""
    usable = table[(table["diverged"] == 0) & table["val_acc"].notna()] if "diverged" in table else table
    ranked = usable.sort_values(["framework", "scheduler", "val_acc", "val_loss"], ascending=[True, True, False, True])
    return ranked.groupby(["framework", "scheduler"], as_index=False).head(1).reset_index(drop=True)


def read_results(results_dir: str) -> pd.DataFrame:
    """Every run's rows, in the current schema, with ``has_split`` (its val_loss is not null)."""
    import pyarrow.dataset as ds

    from harness.results import EPOCHS_SCHEMA

    table = ds.dataset(results_dir, schema=EPOCHS_SCHEMA, format="parquet", exclude_invalid_files=True).to_table()
    frame = table.to_pandas()
    frame["has_split"] = table.column("val_loss").is_valid().to_numpy(zero_copy_only=False)
    return frame


def failed_runs(results_dir: str) -> list[tuple[str, str]]:
    """(folder name, one-line error) of every run whose last attempt raised."""
    from pathlib import Path

    from harness.results import failure_of

    root = Path(results_dir)
    return [(p.name, failure_of(p)) for p in sorted(root.iterdir()) if p.is_dir() and failure_of(p)]


def retrain_command(row, epochs: int = 30, results_dir: str = FINAL_RESULTS_DIR) -> str:
    """Full training set (no split), the full budget, tested once. A plateau schedule needs its
    validation split to decide, so it keeps it (and trains on the other 50,000 images)."""
    keep_split = " data.val_size=10000" if row["scheduler"] == "plateau" else ""
    return (f"python -m harness framework={row['framework']} scheduler={row['scheduler']} "
            f"scheduler.base_lr={row['base_lr']:g} epochs={epochs}{keep_split} results_dir={results_dir}")


def grid_figure(table: pd.DataFrame, chosen: pd.DataFrame) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frameworks = sorted(table["framework"].unique())
    fig, axes = plt.subplots(1, len(frameworks), figsize=(4.5 * len(frameworks), 3.6), dpi=120, squeeze=False)
    for ax, framework in zip(axes[0], frameworks):
        for scheduler, line in table[table["framework"] == framework].groupby("scheduler"):
            (handle,) = ax.plot(line["base_lr"], line["val_acc"], marker="o", label=scheduler)
            pick = chosen[(chosen["framework"] == framework) & (chosen["scheduler"] == scheduler)]
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
    print("The grid (final validation accuracy, mean over the seeds that did not diverge; the test set was not "
          "looked at):")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    for row in table[table["diverged"] > 0].itertuples():
        print(f"  diverged: {row.framework} {row.scheduler} base_lr {row.base_lr:g}: {row.diverged} of {row.runs} "
              f"runs (never chosen)")
    for name, error in failed:
        print(f"  failed: {name}: {error} (not in the grid; run the grid's command again to retry it)")
    print("\nChosen per schedule (best val_acc, ties by val_loss), and the command that retrains it and tests once:")
    for _, row in chosen.iterrows():
        print(f"  {row['framework']} {row['scheduler']}: base_lr {row['base_lr']:g} (val_acc {row['val_acc']:.4f})")
        print(f"    {retrain_command(row, args.epochs)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
