"""A study declared in a YAML file (``studies/*.yaml``): its question, its phases (each arm's overrides, its
seeds, its rates) and its comparisons, read and checked before anything trains. A bad file is one line
naming the key; every phase expands to ordinary ``python -m harness -m ...`` sweeps, so finished runs are
skipped and killed ones resume exactly as for any sweep.

A leaf of ``harness.studies``: it reads YAML and imports no framework.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from harness.errors import HarnessError

KINDS = ("better", "not_worse", "band_wider")


@dataclass(frozen=True)
class StudyArm:
    label: str
    overrides: tuple[str, ...]
    seeds: tuple[int, ...]
    rates: tuple[float, ...] = ()  # a grid phase's base rates; a fixed phase writes its rate in overrides


@dataclass(frozen=True)
class Comparison:
    claim: str
    a: str
    b: str
    kind: str


@dataclass(frozen=True)
class Phase:
    name: str
    declared: str
    folder: str
    preset: str
    framework: str
    arms: tuple[StudyArm, ...]
    comparisons: tuple[Comparison, ...]
    claims: dict
    block: int = 5
    time_to_target: float | None = None
    band_points: float | None = None


@dataclass(frozen=True)
class Study:
    path: str
    name: str
    question: str
    results_dir: str
    smallest_effect: float
    phases: dict
    order: tuple[str, ...]


def _need(mapping: dict, key: str, where: str):
    if not isinstance(mapping, dict) or key not in mapping:
        raise HarnessError(f"{where}: missing key '{key}'")
    return mapping[key]


def _seeds(value, where: str) -> tuple[int, ...]:
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value) and value[0] <= value[1]:
        return tuple(range(value[0], value[1] + 1))
    raise HarnessError(f"{where}.seeds={value!r}: write [first, last], e.g. [10, 39]")


def _comparisons(phase: dict, arms: dict, where: str) -> tuple[Comparison, ...]:
    out = []
    for i, c in enumerate(phase.get("comparisons") or []):
        at = f"{where}.comparisons[{i}]"
        kind = _need(c, "kind", at)
        if kind not in KINDS:
            raise HarnessError(f"{at}.kind={kind!r}: use one of {', '.join(KINDS)}")
        for side in ("a", "b"):
            if _need(c, side, at) not in arms:
                raise HarnessError(f"{at}.{side}={c[side]!r} is not an arm of the phase ({', '.join(arms)})")
        out.append(Comparison(str(_need(c, "claim", at)), c["a"], c["b"], kind))
    return tuple(out)


def _phase(name: str, raw: dict) -> Phase:
    where = f"phases.{name}"
    raw_arms = _need(raw, "arms", where)
    arms = {}
    for label, spec in raw_arms.items():
        at = f"{where}.arms.{label}"
        overrides = _need(spec, "overrides", at)
        if not isinstance(overrides, list) or not all(isinstance(o, str) and "=" in o for o in overrides):
            raise HarnessError(f"{at}.overrides: a list of key=value overrides, e.g. [scheduler=cosine]")
        seeds = _seeds(spec["seeds"], at) if "seeds" in spec else _seeds(_need(raw, "seeds", where), where)
        rates = tuple(float(r) for r in spec.get("rates", ()))
        arms[label] = StudyArm(label, tuple(overrides), seeds, rates)
    return Phase(name, str(_need(raw, "declared", where)), _need(raw, "folder", where), _need(raw, "preset", where),
                 _need(raw, "framework", where), tuple(arms.values()), _comparisons(raw, arms, where),
                 dict(raw.get("claims") or {}), int(raw.get("block", 5)), raw.get("time_to_target"),
                 raw.get("band_points"))


def load(path: str | Path) -> Study:
    """The study in ``path``, checked; a ``HarnessError`` naming the first bad key otherwise."""
    path = Path(path)
    if not path.is_file():
        raise HarnessError(f"study file {str(path)!r} not found: give a YAML file such as studies/guideline.yaml")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as bad:
        raise HarnessError(f"{path}: not YAML ({str(bad).splitlines()[0]})") from None
    where = str(path)
    phases = {name: _phase(name, spec) for name, spec in (_need(raw, "phases", where) or {}).items()}
    order = tuple(raw.get("order") or phases)
    for item in order:
        if item.split(":")[0] not in phases:
            raise HarnessError(f"{where}: order names {item!r}, which is not a phase ({', '.join(phases)})")
    return Study(str(path), _need(raw, "name", where), _need(raw, "question", where), _need(raw, "results_dir", where),
                 float(_need(raw, "smallest_effect", where)), phases, order)


def _seed_range(item: str) -> tuple[int, int] | None:
    if ":" not in item:
        return None
    first, last = item.split(":", 1)[1].split("-")
    return int(first), int(last)


def phase_sweeps(study: Study, item: str, jobs: int = 2) -> list[list[str]]:
    """The sweeps of one entry of the study's order (``confirm:10-39`` limits the phase to those seeds).
    A phase with fixed rates runs in blocks of seeds, every arm per block; a grid phase is one sweep per arm
    over its rates and seeds."""
    phase = study.phases[item.split(":")[0]]
    limit = _seed_range(item)
    common = ["-m", f"experiments={phase.preset}", "threads=1", "hydra/launcher=joblib",
              f"hydra.launcher.n_jobs={jobs}", "progress=false", f"framework={phase.framework}",
              f"results_dir={study.results_dir}/{phase.folder}"]

    def seeds_of(arm: StudyArm) -> list[int]:
        return [s for s in arm.seeds if limit is None or limit[0] <= s <= limit[1]]

    def joined(values) -> str:
        return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)

    if any(arm.rates for arm in phase.arms):
        return [[*common, *arm.overrides, f"scheduler.base_lr={joined(arm.rates)}", f"seed={joined(seeds_of(arm))}"]
                for arm in phase.arms if seeds_of(arm)]
    all_seeds = sorted({s for arm in phase.arms for s in seeds_of(arm)})
    blocks = [all_seeds[i:i + phase.block] for i in range(0, len(all_seeds), phase.block)]
    sweeps = []
    for block in blocks:
        for arm in phase.arms:
            mine = [s for s in block if s in seeds_of(arm)]
            if mine:
                sweeps.append([*common, *arm.overrides, f"seed={joined(mine)}"])
    return sweeps


def study_sweeps(study: Study, jobs: int = 2) -> list[list[str]]:
    return [sweep for item in study.order for sweep in phase_sweeps(study, item, jobs)]
