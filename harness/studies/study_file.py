"""A study declared in a YAML file (``studies/*.yaml``): its question, its phases (each arm's overrides, its
seeds, its rates) and its comparisons, read and checked before anything trains. A bad file is one line
naming the key; every phase expands to ordinary ``python -m harness -m ...`` sweeps, so finished runs are
skipped and killed ones resume exactly as for any sweep.

A leaf of ``harness.studies``: it reads YAML and imports no framework.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import yaml

from harness.errors import HarnessError

KINDS = ("better", "not_worse", "band_wider")
# rates in the overrides | a rate grid on validation | the grid's choices | a preset's own sweep, as it is
PHASE_KINDS = ("fixed", "grid", "final", "preset")
STUDY_KEYS = ("name", "question", "results_dir", "smallest_effect", "base", "arms", "phases", "order", "report")
REPORTS = ("study", "runs", "guideline")  # study_report | the generic `python -m harness report` | the guideline's
PHASE_KEYS = ("kind", "declared", "folder", "preset", "framework", "frameworks", "overrides", "arms", "seeds",
              "rates", "rates_from", "metric", "block", "comparisons", "claims", "time_to_target", "band_points", "choose")
ARM_KEYS = ("overrides", "seeds", "rates", "frameworks", "peak")
# How a grid phase chooses: a seed that failed counts at chance in the mean (at_chance) or the rate is
# never chosen (never); ties go to the lower validation loss or to the lower rate.
CHOOSE = {"failed": ("never", "at_chance"), "tie": ("lower_val_loss", "lower_rate")}


@dataclass(frozen=True)
class StudyArm:
    label: str
    overrides: tuple[str, ...]
    seeds: tuple[int, ...]
    rates: tuple[float, ...] = ()  # a grid phase's base rates; a fixed phase writes its rate in overrides
    frameworks: tuple[str, ...] = ()  # the phase's frameworks this arm runs in (empty: all of them)
    peak: str | None = None  # the tuned rate is this key's (a cyclic schedule's max_lr); base_lr is a tenth of it

    def rate_overrides(self, rate: float) -> list[str]:
        if self.peak:
            return [f"{self.peak}={rate:g}", f"scheduler.base_lr={rate / 10:g}"]
        return [f"scheduler.base_lr={rate:g}"]


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
    preset: str | None
    frameworks: tuple[str, ...]
    arms: tuple[StudyArm, ...]
    comparisons: tuple[Comparison, ...]
    claims: dict
    kind: str = "fixed"
    overrides: tuple[str, ...] = ()  # the phase's own settings (data sizes, epochs), after the study's base
    rates_from: str | None = None  # a final phase: the grid phase whose choices it trains
    block: int = 5
    time_to_target: float | None = None
    band_points: float | None = None
    seeds_by_framework: dict = None  # framework -> seeds, where a phase gives them per framework
    choose: dict = None  # a grid phase's rule: {"failed": ..., "tie": ...} (CHOOSE)

    def seeds_for(self, arm: StudyArm, framework: str | None) -> tuple[int, ...]:
        return (self.seeds_by_framework or {}).get(framework, arm.seeds)

    @property
    def framework(self) -> str:
        return self.frameworks[0] if self.frameworks else "torch"


@dataclass(frozen=True)
class Study:
    path: str
    name: str
    question: str
    results_dir: str
    smallest_effect: float
    phases: dict
    order: tuple[str, ...]
    base: tuple[str, ...] = ()
    report: str = "study"


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


def _overrides(value, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(o, str) and "=" in o for o in value):
        raise HarnessError(f"{where}: a list of key=value overrides, e.g. [scheduler=cosine]")
    return tuple(value)


def _rates(value, where: str) -> tuple[float, ...]:
    """A list of rates, or {low, high, per_decade}: a log grid from low to high (both included)."""
    if isinstance(value, dict):
        low, high, per = (float(_need(value, k, where)) for k in ("low", "high", "per_decade"))
        if not 0 < low < high or per < 1:
            raise HarnessError(f"{where}={value!r}: need 0 < low < high and per_decade >= 1")
        steps = round(math.log10(high / low) * per)
        return tuple(float(f"{low * 10 ** (i / per):.3g}") for i in range(steps + 1))
    if not isinstance(value, list) or not value or not all(isinstance(r, (int, float)) and r > 0 for r in value):
        raise HarnessError(f"{where}={value!r}: a list of positive rates, or {{low, high, per_decade}}")
    return tuple(float(r) for r in value)


def _phase(name: str, raw: dict, study_arms: dict) -> Phase:
    where = f"phases.{name}"
    if not isinstance(raw, dict):
        raise HarnessError(f"{where}: a mapping of the phase's settings")
    unknown = sorted(set(raw) - set(PHASE_KEYS))
    if unknown:
        raise HarnessError(f"{where}: unknown key {unknown[0]!r}; a phase takes {', '.join(PHASE_KEYS)}")
    kind = raw.get("kind", "fixed")
    if kind not in PHASE_KINDS:
        raise HarnessError(f"{where}.kind={kind!r}: use one of {', '.join(PHASE_KINDS)}")
    raw_arms = raw.get("arms", study_arms)
    if kind == "preset":
        if not raw.get("preset"):
            raise HarnessError(f"{where}: a preset phase needs 'preset': the experiments= preset whose sweep it runs")
        raw_arms = {}
    elif not raw_arms:
        raise HarnessError(f"{where}: missing key 'arms' (in the phase or the study)")
    if isinstance(raw_arms, list):  # a list of the study's arm names
        missing = [a for a in raw_arms if a not in study_arms]
        if missing:
            raise HarnessError(f"{where}.arms: {missing[0]!r} is not an arm of the study ({', '.join(study_arms)})")
        raw_arms = {a: study_arms[a] for a in raw_arms}
    by_framework = {}
    if isinstance(raw.get("seeds"), dict):  # {torch: [0, 9], tf: [0, 2]}
        by_framework = {f: _seeds(v, f"{where}.seeds.{f}") for f, v in raw["seeds"].items()}
    arms = {}
    for label, spec in raw_arms.items():
        at = f"{where}.arms.{label}"
        spec = {"overrides": spec} if isinstance(spec, list) else spec
        unknown = sorted(set(spec) - set(ARM_KEYS))
        if unknown:
            raise HarnessError(f"{at}: unknown key {unknown[0]!r}; an arm takes {', '.join(ARM_KEYS)}")
        overrides = _overrides(_need(spec, "overrides", at), f"{at}.overrides")
        if "seeds" in spec:
            seeds = _seeds(spec["seeds"], at)
        elif by_framework:
            seeds = tuple(sorted({s for v in by_framework.values() for s in v}))
        else:
            seeds = _seeds(_need(raw, "seeds", where), where)
        rates = ()
        if kind == "grid":
            per_arm = raw.get("rates", {})
            source = spec.get("rates", per_arm.get(label) if isinstance(per_arm, dict) and "low" not in per_arm
                              else per_arm)
            if not source:
                raise HarnessError(f"{at}: a grid phase needs rates (the arm's 'rates' or the phase's)")
            rates = _rates(source, f"{at}.rates")
        arm_frameworks = spec.get("frameworks", [])
        arms[label] = StudyArm(label, overrides, seeds, rates,
                               tuple(arm_frameworks if isinstance(arm_frameworks, list) else [arm_frameworks]),
                               spec.get("peak"))
    frameworks = raw.get("frameworks", [raw["framework"]] if "framework" in raw else [])
    frameworks = tuple(frameworks if isinstance(frameworks, list) else [frameworks])
    given = [o for arm in arms.values() for o in arm.overrides] + list(raw.get("overrides", []))
    if frameworks and any(o.startswith("framework=") for o in given):
        raise HarnessError(f"{where}: framework is set both by the phase's framework(s) and by an override: give it once")
    rates_from = raw.get("rates_from")
    if kind == "final" and not rates_from:
        raise HarnessError(f"{where}: a final phase needs rates_from: the grid phase whose choices it trains")
    choose = {"failed": "never", "tie": "lower_val_loss", **(raw.get("choose") or {})}
    for key, value in choose.items():
        if key not in CHOOSE or value not in CHOOSE[key]:
            raise HarnessError(f"{where}.choose.{key}={value!r}: use "
                               + "; ".join(f"{k}: {' or '.join(v)}" for k, v in CHOOSE.items()))
    return Phase(name, str(raw.get("declared", "")), _need(raw, "folder", where), raw.get("preset"), frameworks,
                 tuple(arms.values()), _comparisons(raw, arms, where), dict(raw.get("claims") or {}), kind,
                 _overrides(raw.get("overrides", []), f"{where}.overrides"), rates_from, int(raw.get("block", 5)),
                 raw.get("time_to_target"), raw.get("band_points"), by_framework, choose)


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
    if not isinstance(raw, dict):
        raise HarnessError(f"{path}: a study file is a mapping (name, question, results_dir, arms, phases, ...)")
    unknown = sorted(set(raw) - set(STUDY_KEYS))
    if unknown:
        raise HarnessError(f"{path}: unknown key {unknown[0]!r}; a study takes {', '.join(STUDY_KEYS)}")
    study_arms = raw.get("arms") or {}
    phases = {name: _phase(name, spec, study_arms) for name, spec in (_need(raw, "phases", where) or {}).items()}
    for name, phase in phases.items():
        if phase.rates_from and (phase.rates_from not in phases or phases[phase.rates_from].kind != "grid"):
            raise HarnessError(f"phases.{name}.rates_from={phase.rates_from!r} is not a grid phase of the study")
    order = tuple(raw.get("order") or phases)
    for item in order:
        if item.split(":")[0] not in phases:
            raise HarnessError(f"{where}: order names {item!r}, which is not a phase ({', '.join(phases)})")
    report = raw.get("report", "study")
    if report not in REPORTS:
        raise HarnessError(f"{path}: report={report!r}: use one of {', '.join(REPORTS)}")
    return Study(str(path), _need(raw, "name", where), _need(raw, "question", where), _need(raw, "results_dir", where),
                 float(raw.get("smallest_effect", 0.3)), phases, order, _overrides(raw.get("base", []), "base"), report)


def _seed_range(item: str) -> tuple[int, int] | None:
    if ":" not in item:
        return None
    first, last = item.split(":", 1)[1].split("-")
    return int(first), int(last)


def phase_sweeps(study: Study, item: str, jobs: int = 2, chosen: dict | None = None) -> list[list[str]]:
    """The sweeps of one entry of the study's order (``confirm:10-39`` limits the phase to those seeds).
    A fixed phase runs in blocks of seeds, every arm per block; a grid phase is one sweep per arm over
    its rates and seeds; a final phase trains each arm at ``chosen[arm]`` (its grid phase's choice;
    an arm without a choice yet is left out)."""
    phase = study.phases[item.split(":")[0]]
    limit = _seed_range(item)

    def common(framework: str | None) -> list[str]:
        preset = [f"experiments={phase.preset}"] if phase.preset else []
        chosen_framework = [f"framework={framework}"] if framework else []  # else the overrides (or torch) decide
        return ["-m", *preset, "threads=1", "hydra/launcher=joblib", f"hydra.launcher.n_jobs={jobs}", "progress=false",
                *chosen_framework, *study.base, *phase.overrides, f"results_dir={study.results_dir}/{phase.folder}"]

    def seeds_of(arm: StudyArm, framework: str | None) -> list[int]:
        return [s for s in phase.seeds_for(arm, framework) if limit is None or limit[0] <= s <= limit[1]]

    def joined(values) -> str:
        return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)

    def runs_in(arm: StudyArm, framework: str | None) -> bool:
        return not arm.frameworks or framework is None or framework in arm.frameworks

    if phase.kind == "preset":  # the preset's own sweep (its frameworks, schedules, seeds), as it is
        folder = study.results_dir if phase.folder in (".", "") else f"{study.results_dir}/{phase.folder}"
        return [["-m", f"experiments={phase.preset}", "threads=1", "hydra/launcher=joblib",
                 f"hydra.launcher.n_jobs={jobs}", "progress=false", *study.base, *phase.overrides,
                 f"results_dir={folder}"]]
    sweeps = []
    for framework in phase.frameworks or (None,):
        if phase.kind == "grid":
            for arm in phase.arms:
                seeds = seeds_of(arm, framework)
                if not seeds or not runs_in(arm, framework):
                    continue
                if arm.peak:  # the peak and the base move together: a sweep per rate
                    sweeps += [[*common(framework), *arm.overrides, *arm.rate_overrides(rate), f"seed={joined(seeds)}"]
                               for rate in arm.rates]
                else:
                    sweeps.append([*common(framework), *arm.overrides, f"scheduler.base_lr={joined(arm.rates)}",
                                   f"seed={joined(seeds)}"])
            continue
        arms = [arm for arm in phase.arms if runs_in(arm, framework)
                and (phase.kind == "fixed" or arm.label in (chosen or {}))]
        rate = {arm.label: arm.rate_overrides(chosen[arm.label]) if phase.kind == "final" else [] for arm in arms}
        all_seeds = sorted({s for arm in arms for s in seeds_of(arm, framework)})
        blocks = [all_seeds[i:i + phase.block] for i in range(0, len(all_seeds), phase.block)]
        for block in blocks:
            for arm in arms:
                mine = [s for s in block if s in seeds_of(arm, framework)]
                if mine:
                    sweeps.append([*common(framework), *arm.overrides, *rate[arm.label], f"seed={joined(mine)}"])
    return sweeps


def study_sweeps(study: Study, jobs: int = 2, chosen: dict | None = None) -> list[list[str]]:
    """Every sweep of the study in its order; final phases at ``chosen[phase][arm]``."""
    return [sweep for item in study.order
            for sweep in phase_sweeps(study, item, jobs, (chosen or {}).get(item.split(":")[0]))]
