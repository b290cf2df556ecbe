"""Did-you-mean for the command line: keys, group options and commands."""

from __future__ import annotations

import difflib

# Words users type for a key that has another name here.
ALIASES = {
    "lr": "scheduler.base_lr",
    "learning_rate": "scheduler.base_lr",
    "base_lr": "scheduler.base_lr",
    "experiment": "experiments",
    "preset": "experiments",
    "momentum": "optimizer.momentum",
    "results": "results_dir",
    "output_dir": "results_dir",
}


def schema_keys() -> list[str]:
    """Every key a user can set, dotted (``scheduler.base_lr``), plus the config groups."""
    from harness.schema import CONFIG_GROUPS, HarnessConfig, nested_fields

    keys = list(CONFIG_GROUPS)

    def walk(schema: type, prefix: str) -> None:
        for name, nested in nested_fields(schema).items():
            if nested is None or name == "layers":
                keys.append(f"{prefix}{name}")
            else:
                walk(nested, f"{prefix}{name}.")

    walk(HarnessConfig, "")
    # A schedule's keys are its factory's parameters (the registry): suggested from there, so a
    # parameter is offered by the name its factory gives it.
    from harness.schedules import SCHEDULES, parameters

    keys += [f"scheduler.{name}" for kind in SCHEDULES for name in parameters(kind)]
    return sorted(set(keys))


def closest_key(typed: str) -> str | None:
    """The key the user most likely meant by ``typed`` (a full dotted path, prefix kept)."""
    typed = typed.lstrip("+~")
    if typed in ALIASES:
        return ALIASES[typed]
    keys = schema_keys()
    leaf = typed.split(".")[-1]
    # The same leaf under another prefix: train_size -> data.train_size.
    same_leaf = [k for k in keys if k.split(".")[-1] == leaf and k != typed]
    if len(same_leaf) == 1:
        return same_leaf[0]
    close = difflib.get_close_matches(typed, keys, n=1, cutoff=0.75)
    if close:
        return close[0]
    prefix = typed.rpartition(".")[0]
    siblings = [k for k in keys if k.rpartition(".")[0] == prefix]
    close = difflib.get_close_matches(typed, siblings, n=1, cutoff=0.6)
    return close[0] if close else None


def closest(typed: str, options: list[str]) -> str | None:
    close = difflib.get_close_matches(typed, options, n=1, cutoff=0.6)
    return close[0] if close else None
