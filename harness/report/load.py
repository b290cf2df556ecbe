"""Input: every run's epochs under one or more results directories, and the published d2l figures.

Parquet only (and each run's ``_config.yaml`` beside it, as text): no framework is imported.
Files written before a column existed read it as null; the columns that say what a run was
(``variant``, ``schedule_params``, ``optimizer_params``, ``model_hash``) are filled from the
run's ``_config.yaml`` where the parquet lacks them, so older runs group by their full settings
too.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads

from harness.datasets import REGISTRY as DATASETS_BY_NAME
from harness.frameworks import NAMES as FRAMEWORK_NAMES, label as framework_label
from harness.identity import variant_label
from harness.results import CONFIG_FILE, EPOCHS_FILE, EPOCHS_SCHEMA, OLDER_DEFAULTS, failure_of

REFERENCE_CSV = Path(__file__).resolve().parent.parent / "reference" / "d2l_published.csv"
DEFAULT_OUT = "_report"
TARGET_ACC = 0.88  # "epochs to reach 88% test accuracy"
CHANCE_ACC = 0.2  # ten classes (chance is 10%): a final test accuracy below this means the run did not learn

FRAMEWORK_ORDER = list(FRAMEWORK_NAMES)  # the framework registry's order (harness.frameworks)
PROTOCOL_ORDER = ["clean", "d2l"]
PROTOCOL_TITLES = {
    "clean": "Clean protocol: one identical experiment in every framework",
    "d2l": "d2l protocol: each framework runs its own tab of the chapter, as published",
}

# The budget the chapter's published figures come from: a run is compared with them (and with
# its 88% target) only when it ran this budget, on this dataset, with the d2l defaults of its schedule.
D2L_BUDGET = {"epochs": 30, "train_size": 60_000, "test_size": 10_000, "batch_size": 256}
D2L_DATASET = "fashion_mnist"

# Columns that say what a run was, added after schema version 1; filled here when a file lacks them.
DESCRIBING_COLUMNS = ("variant", "schedule_params", "optimizer_params", "model_hash")


class ReportError(Exception):
    """A problem with the input the user can fix; printed as one line, exit status 2."""


def fw_label(fw: str) -> str:
    return framework_label(fw)


def dataset_title(name: str) -> str:
    """``Fashion-MNIST`` for ``fashion_mnist`` (harness.datasets); an unknown name as it is."""
    return DATASETS_BY_NAME[name].title if name in DATASETS_BY_NAME else str(name)


def ordered(values, order: list[str]) -> list[str]:
    values = set(values)
    return [v for v in order if v in values] + sorted(values - set(order))


def _run_files(results_dir: Path) -> list[Path]:
    if not results_dir.exists():
        raise ReportError(f"results directory {str(results_dir)!r} does not exist; train first (make run) or pass another")
    if not results_dir.is_dir():
        raise ReportError(f"{str(results_dir)!r} is not a directory; pass the results directory (e.g. results)")
    files = sorted(
        p for p in results_dir.rglob(EPOCHS_FILE)
        if not any(part.startswith((".", "_")) for part in p.relative_to(results_dir).parts)
    )
    if not files:
        raise ReportError(f"no runs in {str(results_dir)!r} (no */{EPOCHS_FILE} found); train first (make run) or pass another directory")
    return files


def _read_schema() -> pa.Schema:
    """EPOCHS_SCHEMA plus the describing columns where the schema does not have them yet."""
    schema = EPOCHS_SCHEMA
    for name in DESCRIBING_COLUMNS:
        if name not in schema.names:
            schema = schema.append(pa.field(name, pa.string()))
    return schema


def load_results(results_dirs: Path | list[Path]) -> pd.DataFrame:
    """Every run's epochs under the results directories (nested folders too), one row per (run,
    epoch); a run found in several places is counted once."""
    dirs = [results_dirs] if isinstance(results_dirs, (str, Path)) else list(results_dirs)
    files = [f for d in dirs for f in _run_files(Path(d))]
    schema = _read_schema()
    where = " and ".join(repr(str(d)) for d in dirs)
    skipped: list[str] = []
    try:
        table = _read(files, schema)
    except (OSError, ValueError):  # pyarrow's errors derive from these: find the file, read the rest
        tables = []
        for f in files:
            try:
                tables.append(_read([f], schema))
            except (OSError, ValueError) as exc:
                skipped.append(unreadable_line(f, exc, dirs))
        if not tables:
            raise ReportError(f"cannot read the runs in {where}: " + "; ".join(skipped)) from None
        table = pa.concat_tables(tables)
    df = _one_copy_per_run(table.to_pandas())
    # Runs from before `protocol` existed were all clean; those from before `dataset`, Fashion-MNIST.
    df["protocol"] = df["protocol"].fillna("clean")
    df["dataset"] = df["dataset"].fillna(OLDER_DEFAULTS["dataset"])
    df["status"] = df["status"].fillna("running")
    if df.empty:
        raise ReportError(f"the runs in {where} have no finished epoch yet")
    df = _fill_describing_columns(df)
    df = df.drop(columns=["__filename"])
    df = df.sort_values(["protocol", "framework", "scheduler", "seed", "run_id", "epoch"]).reset_index(drop=True)
    df.attrs["skipped"] = skipped  # one line per file left out, for the command and the report to say
    return df


def _read(files: list[Path], schema: pa.Schema) -> pa.Table:
    dataset = pads.dataset([str(f) for f in files], schema=schema, format="parquet")
    return dataset.to_table(columns=[*schema.names, "__filename"])


def unreadable_line(path: Path, exc: Exception, dirs: list[Path]) -> str:
    """One line for a run file that cannot be read: the file, why, and the command that shows its run."""
    why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    where = next((d for d in dirs if Path(path).is_relative_to(d)), dirs[0])
    return (f"{path} is not a readable parquet file ({why}); it is left out: `python -m harness status {where}` "
            "shows its run")


def _one_copy_per_run(df: pd.DataFrame) -> pd.DataFrame:
    """The same run (run_id) can sit in two folders: a copied results directory, or a user's run
    under results/ beside the committed study in results/d2l_study/. Counting both would count one
    seed twice, so keep the copy that got furthest (most epochs; the first path on a tie)."""
    epochs = df.groupby("__filename")["epoch"].transform("size")
    df = df.assign(_epochs=epochs).sort_values(["_epochs", "__filename"], ascending=[False, True])
    keep = df.drop_duplicates("run_id")[["run_id", "__filename"]]
    df = df.merge(keep, on=["run_id", "__filename"])
    return df.drop(columns=["_epochs"])


def failed_without_rows(results_dirs: Path | list[Path]) -> list[dict]:
    """Run folders with no epochs file: a run that raised before its first epoch (``_failed.txt``,
    ``error`` its message) or one that started and finished no epoch (running, or interrupted;
    ``error`` None). They have no row to report, so they are named on their own (folder, and
    framework, scheduler, seed and protocol from their ``_config.yaml`` where it has them)."""
    import yaml

    dirs = [results_dirs] if isinstance(results_dirs, (str, Path)) else list(results_dirs)
    out = []
    for d in map(Path, dirs):
        markers = {m.parent for m in d.rglob("_failed.txt")} | {c.parent for c in d.rglob(CONFIG_FILE)}
        for run_dir in sorted(markers):
            rel = run_dir.relative_to(d)
            if any(part.startswith((".", "_")) for part in rel.parts) or (run_dir / EPOCHS_FILE).exists():
                continue
            try:
                cfg = yaml.safe_load((run_dir / CONFIG_FILE).read_text(encoding="utf-8")) or {}
            except (OSError, yaml.YAMLError):
                cfg = {}
            cfg = cfg if isinstance(cfg, dict) else {}
            sched = cfg.get("scheduler") if isinstance(cfg.get("scheduler"), dict) else {}
            fw = cfg.get("framework")
            fw = fw.get("name") if isinstance(fw, dict) else fw
            out.append({"folder": str(rel), "error": failure_of(run_dir), "framework": fw,
                        "scheduler": sched.get("name"), "seed": cfg.get("seed"),
                        "protocol": cfg.get("protocol", "clean")})
    return out


# ------------------------------------------------------------------ what a run was, from its config


def canonical_params(value) -> str | None:
    """A parameters JSON string (or dict) in one canonical form: keys sorted, nulls, ``name``
    and the keys that have their own column (``base_lr``, ``unit``) left out, so the same
    settings compare equal whether they came from a parquet column or a ``_config.yaml``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    params = json.loads(value) if isinstance(value, str) else dict(value)
    if not isinstance(params, dict):
        return json.dumps(params, sort_keys=True)
    defaults = _defaults()
    clean = {k: v for k, v in params.items()
             if v is not None and k not in ("name", "base_lr", "unit") and not (k in defaults and defaults[k] == v)}
    return json.dumps(clean, sort_keys=True, separators=(",", ":"))


@functools.lru_cache(maxsize=None)
def _defaults() -> dict:
    """Schema defaults of the scheduler's and the optimizer's keys: a value at its default says
    nothing (an older version did not write the key at all), so it is left out of the comparison."""
    from harness.schema import schema_defaults

    defaults = schema_defaults()
    return {**defaults["scheduler"], **defaults["optimizer"]}


# Short names for the schedule parameters in a variant label: cosine(T=20, final=0.01).
_SHORT = {"total_steps": "T", "final_lr": "final", "warmup_steps": "warmup", "warmup_begin_lr": "from",
          "milestones": "at", "decay_steps": "every", "decay_rate": "rate"}


def _num(v) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, list):
        return "[" + ", ".join(_num(x) for x in v) + "]"
    return str(v)


PARAM_ORDER = ["warmup_steps", "warmup_begin_lr", "total_steps", "final_lr", "factor", "milestones"]


def param_items(params: dict) -> list[tuple[str, object]]:
    """The parameters in reading order: warmup, horizon, floor, then the rest alphabetically."""
    keys = [k for k in PARAM_ORDER if k in params] + sorted(k for k in params if k not in PARAM_ORDER)
    return [(k, params[k]) for k in keys]


def _from_config(path: Path) -> dict[str, str | None]:
    """variant, schedule_params and optimizer_params read from a run's ``_config.yaml``."""
    import yaml

    try:
        # the C loader where PyYAML has it: a study's configs are read in a fraction of the time
        cfg = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
    except (OSError, yaml.YAMLError):  # a missing or damaged config: the parquet is the source
        return {}
    if not isinstance(cfg, dict):
        return {}
    sched, opt = cfg.get("scheduler") or {}, cfg.get("optimizer") or {}
    out: dict[str, str | None] = {}
    if isinstance(sched, dict) and sched:
        out["variant"] = variant_label(str(sched.get("name", "")), sched)  # the runner's own labeller
        out["schedule_params"] = json.dumps({k: v for k, v in sched.items() if v is not None}, sort_keys=True)
    if isinstance(opt, dict) and opt:
        out["optimizer_params"] = json.dumps({k: v for k, v in opt.items() if v is not None}, sort_keys=True)
    return out


def _fill_describing_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Fill variant / schedule_params / optimizer_params from each run's _config.yaml where the
    parquet has none (files written before those columns existed); model_hash stays null."""
    df = df.copy()
    for col in DESCRIBING_COLUMNS:
        df[col] = df[col].astype(object).where(df[col].notna(), None)
    missing = df[df[["variant", "schedule_params", "optimizer_params"]].isna().any(axis=1)]
    for filename in sorted(set(missing["__filename"])):
        found = _from_config(Path(filename).parent / CONFIG_FILE)
        rows = df["__filename"] == filename
        for col, value in found.items():
            df.loc[rows & df[col].isna(), col] = value
    df["variant"] = pd.Series([v if isinstance(v, str) and v else s for v, s in zip(df["variant"], df["scheduler"])],
                              index=df.index, dtype=object)
    # object columns holding None (pandas' string dtype would turn a missing value into NaN)
    for col in ("schedule_params", "optimizer_params"):
        df[col] = pd.Series([canonical_params(v) for v in df[col]], index=df.index, dtype=object)
    df["model_hash"] = pd.Series([v if isinstance(v, str) else None for v in df["model_hash"]], index=df.index,
                                 dtype=object)
    return df


def params_of(value: str | None) -> dict:
    return json.loads(value) if isinstance(value, str) and value else {}


def load_published(path: Path = REFERENCE_CSV) -> pd.DataFrame:
    return pd.read_csv(path, comment="#")


def d2l_defaults() -> dict[str, str | None]:
    """The canonical schedule parameters of each d2l scheduler option (conf/scheduler/*.yaml) and
    of the sgd optimizer: what a run must have used for the published figures to apply to it."""
    import yaml

    from harness.paths import CONF_DIR

    out: dict[str, str | None] = {}
    for name in ("constant", "sqrt", "factor", "multifactor", "cosine", "warmup"):
        path = CONF_DIR / "scheduler" / f"{name}.yaml"
        if path.exists():
            cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
            out[name] = canonical_params(cfg)
            out[f"{name}:base_lr"] = cfg.get("base_lr")
            out[f"{name}:unit"] = cfg.get("unit", "epoch")
    sgd = CONF_DIR / "optimizer" / "sgd.yaml"
    out["optimizer:sgd"] = canonical_params(yaml.safe_load(sgd.read_text(encoding="utf-8"))) if sgd.exists() else None
    return out
