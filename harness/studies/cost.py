"""What a study phase's unfinished runs will cost in compute: each run's epochs at the seconds per trained
and per evaluated image measured on the phase's own finished runs (this machine, this model, this batch
size), else on an earlier phase's of the same framework, network and batch size, else at the guideline
study's median, plus each run's start-up (for a small study the start-ups are
most of it: a 2-epoch run on 4,096 images trains for under a second).
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import median

DEFAULT_EPOCH_SECONDS = 9.5  # PyTorch LeNet, one 60,000-image epoch, one thread (the guideline study's median)
# An evaluated image costs a forward pass only: 0.42 of a trained one in a 6-run sweep (batch 1024, 4,096
# images, AMD EPYC), 0.41 in the guideline study's confirmatory runs (batch 256, 60,000 + 10,000 images).
EVAL_SHARE = 0.4
# Per run, beyond its epochs: the process, the imports, the data. A 6-run sweep with two jobs took 10.5 s
# of wall time for 4.7 s of training and evaluation (AMD EPYC): about 3 s a run.
START_SECONDS = 3.0
MEASURE_AT_MOST = 40  # finished runs read for the measurement: enough for a median, quick to read


def setting(cfg) -> tuple:
    """What the seconds per image depend on besides the machine: the framework, the network and the
    batch size (another phase's measurement is borrowed only for the same)."""
    from harness.identity import model_hash

    return cfg.framework.name, model_hash(cfg.model), cfg.batch_size


@dataclass(frozen=True)
class Rates:
    train: float  # seconds per trained image
    evaluate: float  # seconds per evaluated image (validation split and test set)
    basis: str  # where the rates come from, for the plan's line
    settings: frozenset = frozenset()  # the settings (``setting``) the rates were measured on

    def run_seconds(self, cfg) -> float:
        from harness.schema import max_train_images, split_images

        train = min(cfg.data.train_size or max_train_images(cfg.data), max_train_images(cfg.data))
        evaluated = (cfg.data.val_size or 0) + min(cfg.data.test_size or split_images(cfg.data, "test"),
                                                   split_images(cfg.data, "test"))
        return START_SECONDS + cfg.epochs * (train * self.train + evaluated * self.evaluate)


def measured(finished: list, fallback: Rates | None = None, unfinished: list = ()) -> Rates:
    """The median seconds per image over up to MEASURE_AT_MOST finished runs' epochs after the first (the
    first pays for warm-up); where none has finished, ``fallback`` (an earlier phase's) when it was
    measured on the settings of every ``unfinished`` config, else the guideline study's median.
    ``finished``: (config, folder) pairs (the rows give the training and test sizes; the config, the
    validation split's)."""
    from harness.results import read_epochs

    train, evaluate = [], []
    for cfg, folder in finished[:MEASURE_AT_MOST]:
        rows = [r for r in (read_epochs(folder) or []) if r["epoch"] > 0 and r.get("train_time_s")]
        for r in rows:
            train.append(r["train_time_s"] / r["train_size"])
            evaluated = (r.get("test_size") or 0) + (cfg.data.val_size or 0)
            if evaluated and r.get("eval_time_s"):
                evaluate.append(r["eval_time_s"] / evaluated)
    if not train:
        if fallback is not None and {setting(cfg) for cfg in unfinished} <= fallback.settings:
            return fallback  # an earlier phase's runs on this machine say more than a default from another one
        per = DEFAULT_EPOCH_SECONDS / 60_000
        why = ("no run of the study has finished" if fallback is None else
               "no finished run of the study trains this framework, network and batch size")
        return Rates(per, EVAL_SHARE * per, f"{DEFAULT_EPOCH_SECONDS:g} s per 60,000-image epoch (the guideline "
                                             f"study's median: {why})")
    per = median(train)
    runs = min(len(finished), MEASURE_AT_MOST)
    return Rates(per, median(evaluate) if evaluate else EVAL_SHARE * per,
                 f"{60_000 * per:.1f} s per 60,000-image epoch, measured on {runs} finished "
                 f"{'run' if runs == 1 else 'runs'} of the study",
                 frozenset(setting(cfg) for cfg, _ in finished[:MEASURE_AT_MOST]))


def cost(sweeps: list[list[str]], fallback: Rates | None = None) -> tuple[int, int, float, Rates]:
    """(runs, runs not finished, estimated compute seconds of those, the rates used: measured on the
    sweeps' finished runs, else ``fallback`` where it was measured on the same settings, else the default)."""
    from harness.identity import folder_of
    from harness.preflight import preflight
    from harness.results import finished_status

    done, todo, runs = [], [], 0
    for sweep in sweeps:
        for cfg in preflight(sweep, cached=True):
            runs += 1
            folder = folder_of(cfg)
            (done if finished_status(folder) else todo).append((cfg, folder))
    rates = measured(done, fallback, [cfg for cfg, _ in todo])
    return runs, len(todo), sum(rates.run_seconds(cfg) for cfg, _ in todo), rates


def about(seconds: float) -> str:
    if seconds >= 3600:
        return f"about {seconds / 3600:.1f} h"
    return f"about {seconds / 60:.0f} min" if seconds >= 90 else "less than 2 min"
