"""Runs named by what differs between them: wherever a set of runs is listed (sweep lines, a run's
summary line, ``status``, ``plan``, a report's verdict list and tables), each run's label is its
framework and schedule plus the settings that *differ within that set* (optimizer, warmup, unit,
batch size, rate, data size, ...), so no two distinct runs print the same line, and a set of runs that
differ only by seed prints no clutter.

Pure and framework-free: callers turn a run (a ``RunConfig``, a ``_config.yaml`` or a parquet row)
into a flat ``{key: value}`` dict of the settings below; this module picks the keys whose values are
not all equal and writes them in one order.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

# The keys that can tell runs apart, in the order a reader wants them; the short name printed for each.
# Keys not listed here are shown after these, under their own name, when they differ.
ORDER = (
    ("optimizer", "optimizer"),
    ("protocol", "protocol"),
    ("model", "model"),
    ("dataset", "data"),
    ("base_lr", "lr"),
    ("max_lr", "max_lr"),
    ("final_lr", "final_lr"),
    ("warmup_steps", "warmup"),
    ("unit", "unit"),
    ("total_steps", "T"),
    ("batch_size", "batch"),
    ("epochs", "epochs"),
    ("train_size", "train"),
    ("val_size", "val"),
    ("test_size", "test"),
    ("momentum", "momentum"),
    ("weight_decay", "wd"),
    ("variant", "variant"),
)
SHORT = dict(ORDER)
NEVER = ("seed", "run_id", "framework", "scheduler", "folder", "status")  # shown by the caller, or never a setting


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if value is None:
        return "none"
    return str(value)


def differing_keys(settings: Iterable[Mapping[str, Any]]) -> list[str]:
    """The keys whose values are not equal across ``settings`` (a key missing from a run counts as
    None), in ``ORDER``, then the others alphabetically."""
    rows = list(settings)
    keys = {k for row in rows for k in row if k not in NEVER}
    differ = {k for k in keys if len({_text(row.get(k)) for row in rows}) > 1}
    listed = [k for k, _ in ORDER if k in differ]
    return listed + sorted(differ - set(listed))


def describe(setting: Mapping[str, Any], keys: Iterable[str]) -> str:
    """``optimizer=adam, lr=0.01, warmup=470`` for the given keys of one run."""
    return ", ".join(f"{SHORT.get(k, k)}={_text(setting.get(k))}" for k in keys)


def differing_labels(settings: list[Mapping[str, Any]], base: list[str] | None = None) -> list[str]:
    """One label per run: ``base[i]`` (e.g. ``torch cosine``) followed by the settings that differ
    within the set, in brackets; the base alone when nothing differs."""
    keys = differing_keys(settings)
    base = base or ["" for _ in settings]
    out = []
    for head, setting in zip(base, settings):
        extra = describe(setting, keys) if keys else ""
        out.append(f"{head} ({extra})".strip() if extra and head else (extra or head))
    return out
