"""A study's runs read back by arm: which run of a phase is which arm (from the arm's own sweeps, so an
arm is exactly the runs its overrides compose to), each grid phase's choice per arm on validation, and
each phase's final values paired by (framework, seed). Parquet and ``_config.yaml`` only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from harness.studies.study_file import Phase, Study, phase_sweeps

PERCENT = 100.0  # values are compared in points


@dataclass
class ArmRuns:
    label: str
    expected: int  # runs the phase declares for the arm
    run_ids: dict = field(default_factory=dict)  # run_id -> (framework, seed)


def arm_runs(study: Study, phase: Phase, chosen: dict | None = None) -> dict[str, ArmRuns]:
    """Per arm, the runs its sweeps compose to (a final phase: at the arms' chosen rates)."""
    from harness.identity import run_id
    from harness.preflight import preflight

    out = {arm.label: ArmRuns(arm.label, 0) for arm in phase.arms}
    one_arm = Study(study.path, study.name, study.question, study.results_dir, study.smallest_effect,
                    study.phases, study.order, study.base)
    for arm in phase.arms:
        if phase.kind == "final" and arm.label not in (chosen or {}):
            continue
        alone = Phase(**{**phase.__dict__, "arms": (arm,)})
        single = Study(**{**one_arm.__dict__, "phases": {**study.phases, phase.name: alone}})
        for sweep in phase_sweeps(single, phase.name, 1, chosen):
            for cfg in preflight(sweep, cached=True):  # a study rereads the same sweeps: compose once
                out[arm.label].run_ids[run_id(cfg)] = (cfg.framework.name, int(cfg.seed))
        out[arm.label].expected = len(out[arm.label].run_ids)
    return out


def read_phase(study: Study, phase: Phase) -> pd.DataFrame:
    """Every row of the phase's folder (an empty frame when nothing ran yet)."""
    from harness import tuning

    folder = Path(study.results_dir) / phase.folder
    if not folder.is_dir() or not any(folder.glob("*/epochs.parquet")):
        return pd.DataFrame(columns=["run_id", "epoch", "status"])
    return tuning.read_results(str(folder))


def last_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Each run's last row, its verdict by today's rules (``verdicts.verdict_by_run``)."""
    from harness.verdicts import verdict_by_run

    if not len(frame):
        return frame
    last = frame.sort_values("epoch").groupby("run_id").tail(1).copy()
    last["verdict"] = last["run_id"].map(verdict_by_run(frame))
    return last


@dataclass
class Choice:
    arm: str
    rate: float | None
    val_acc: float | None
    seeds: int
    rates: int
    notes: list
    finished: int
    expected: int


def grid_choices(study: Study, phase: Phase) -> dict[str, Choice]:
    """Per arm of a grid phase: the rate with the best mean final validation accuracy (harness.tuning:
    ties by the lower validation loss, a rate where a seed diverged never chosen), once every run the
    arm declares has finished; else its rate is None."""
    from harness import tuning
    from harness.results import FINISHED

    frame = read_phase(study, phase)
    out = {}
    for label, runs in arm_runs(study, phase).items():
        mine = frame[frame["run_id"].isin(runs.run_ids)] if len(frame) else frame
        last = last_rows(mine)
        finished = int(last["status"].isin(FINISHED).sum()) if len(last) else 0
        if finished < runs.expected or not len(mine):
            out[label] = Choice(label, None, None, 0, 0, [], finished, runs.expected)
            continue
        if phase.choose and phase.choose != {"failed": "never", "tie": "lower_val_loss"}:
            out[label] = _choose_by_rule(label, last, next(a for a in phase.arms if a.label == label), phase.choose,
                                         finished, runs.expected)
            continue
        table = tuning.grid(mine)
        chosen = tuning.select(table)
        if len(chosen) != 1:  # every rate of the arm diverged, or the arm is not one setting
            notes = ["no rate finished without a diverged seed"] if chosen.empty else \
                [f"the arm's runs are {len(chosen)} settings: give it overrides that fix one"]
            out[label] = Choice(label, None, None, 0, 0, notes, finished, runs.expected)
            continue
        row = chosen.iloc[0]
        out[label] = Choice(label, float(row["base_lr"]), float(row["val_acc"]), int(row["seeds"]), int(row["rates"]),
                            tuning.choice_notes(row), finished, runs.expected)
    return out


CHANCE = 0.1  # ten classes: a diverged run's accuracy, where the rule counts it at chance
TIE = 1e-9  # two means of validation accuracies closer than this are equal (float rounding)


def _choose_by_rule(label: str, last: pd.DataFrame, arm, rule: dict, finished: int, expected: int) -> Choice:
    """The rule a grid phase names (study_file.CHOOSE): a failed seed at chance in the mean or its rate
    never chosen; ties to the lower rate or the lower validation loss. The rate is the arm's peak
    (``scheduler.max_lr``) where it tunes one."""
    import json

    from harness.verdicts import FAILED_VERDICTS

    key = arm.peak.split(".", 1)[1] if arm.peak else None
    rates = [float(json.loads(p)[key]) if key else float(lr) for p, lr in zip(last["schedule_params"], last["base_lr"])]
    frame = last.assign(rate=rates, failed=last["status"].eq("diverged") | last["verdict"].isin(FAILED_VERDICTS))
    frame["value"] = [CHANCE if s == "diverged" or not pd.notna(v) else float(v)
                      for s, v in zip(frame["status"], frame["val_acc"])]
    points = frame.groupby("rate").agg(value=("value", "mean"), loss=("val_loss", "mean"), bad=("failed", "sum"),
                                       seeds=("seed", "nunique")).reset_index().sort_values("rate")
    if rule["failed"] == "never":
        points = points[points["bad"] == 0]
    if points.empty:
        return Choice(label, None, None, 0, 0, ["no rate finished without a failed seed"], finished, expected)
    best = points["value"].max()
    tied = points[points["value"] >= best - TIE]
    pick = tied.iloc[0] if rule["tie"] == "lower_rate" else tied.sort_values("loss").iloc[0]
    notes = []
    all_rates = sorted(set(frame["rate"]))
    if len(all_rates) > 1 and pick["rate"] in (all_rates[0], all_rates[-1]):
        notes.append(f"at the {'smallest' if pick['rate'] == all_rates[0] else 'largest'} rate tried: at the edge of "
                     "the grid, widen it")
    return Choice(label, float(pick["rate"]), float(pick["value"]), int(pick["seeds"]), len(all_rates), notes,
                  finished, expected)


@dataclass
class PhaseValues:
    values: dict  # arm -> {(framework, seed): test accuracy in points}
    failed: dict  # arm -> {(framework, seed)} whose run failed (never learned, collapsed, diverged)
    finished: dict  # arm -> finished runs
    expected: dict  # arm -> declared runs
    curves: dict  # arm -> {(framework, seed): [test accuracy per epoch]}


def phase_values(study: Study, phase: Phase, chosen: dict | None = None, metric: str = "test_acc") -> PhaseValues:
    """The last epoch's ``metric`` (points) of each finished run of each arm, paired by (framework, seed)."""
    from harness.results import FINISHED
    from harness.verdicts import FAILED_VERDICTS

    frame = read_phase(study, phase)
    last = last_rows(frame)
    out = PhaseValues({}, {}, {}, {}, {})
    for label, runs in arm_runs(study, phase, chosen).items():
        mine = last[last["run_id"].isin(runs.run_ids)] if len(last) else last
        done = mine[mine["status"].isin(FINISHED)] if len(mine) else mine
        out.expected[label], out.finished[label] = runs.expected, len(done)
        out.values[label] = {runs.run_ids[r]: PERCENT * float(v) if pd.notna(v) else PERCENT * 0.1
                             for r, v in zip(done["run_id"], done[metric])}
        bad = done["status"].eq("diverged") | done["verdict"].isin(FAILED_VERDICTS) if len(done) else []
        out.failed[label] = {runs.run_ids[r] for r in done.loc[bad, "run_id"]} if len(done) else set()
        rows = frame[frame["run_id"].isin(set(done["run_id"]))] if len(done) else frame.iloc[0:0]
        out.curves[label] = {runs.run_ids[r]: g.sort_values("epoch")[metric].tolist() for r, g in rows.groupby("run_id")}
    return out
