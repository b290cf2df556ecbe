"""logger=mlflow: one MLflow run per harness run, a copy of its parquet rows.

Run name: the run directory's name. Tags: framework, scheduler, optimizer, seed, protocol,
run_id, git_sha. Params: the resolved config, flattened. Metrics: each epoch's values at
``step=epoch``, and ``step_lr``, the rate of every update, at ``step=update``. Status:
complete -> FINISHED, diverged or failed -> FAILED, interrupted -> KILLED. A resumed run finds
its MLflow run by the ``run_id`` tag and goes on logging into it.

The default store is SQLite in ``<results_dir>/_mlflow/`` (the leading ``_`` keeps parquet
readers out of it; MLflow 3 keeps its file store for old data only). Parallel runs share that
database, so its creation and the experiment's are done under a lock; on a cluster, point
``logger.mlflow.tracking_uri`` at a tracking server instead of SQLite on a network filesystem.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
from pathlib import Path

from harness.sinks import EPOCH_METRICS, STEP_METRIC, SinkRun

STORE_DIR = "_mlflow"
STATUS = {"complete": "FINISHED", "diverged": "FAILED", "failed": "FAILED", "interrupted": "KILLED"}
BATCH = 1000  # MLflow's limit of metrics per log_batch call


def default_tracking_uri(results_dir: Path) -> str:
    return f"sqlite:///{(results_dir / STORE_DIR / 'mlflow.db').resolve()}"


def make(settings, results_dir: Path) -> "MlflowSink":
    return MlflowSink(settings.tracking_uri, settings.experiment, results_dir)


class MlflowSink:
    name = "mlflow"

    def __init__(self, tracking_uri: str | None, experiment: str, results_dir: Path):
        self.local = tracking_uri is None
        self.results_dir = results_dir
        self.tracking_uri = tracking_uri or default_tracking_uri(results_dir)
        self.experiment = experiment
        self.client = None
        self.mlflow_run_id: str | None = None

    def open(self, run: SinkRun, resumed_from: int | None) -> None:
        # MLflow retries an unreachable server for minutes by default (7 tries, doubling waits);
        # a tracker must not stall training that long. The user's own settings win.
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        for noisy in ("mlflow", "alembic"):  # schema-migration chatter when a local store is created
            logging.getLogger(noisy).setLevel(logging.WARNING)

        with self._store_lock():
            self.client = MlflowClient(tracking_uri=self.tracking_uri)
            found = self.client.get_experiment_by_name(self.experiment)
            if found is not None:
                experiment_id = found.experiment_id
            else:
                artifacts = (self.results_dir / STORE_DIR / "artifacts").resolve().as_uri() if self.local else None
                experiment_id = self.client.create_experiment(self.experiment, artifact_location=artifacts)
        existing = []
        if resumed_from is not None:
            existing = self.client.search_runs(
                [experiment_id], filter_string=f"tags.run_id = '{run.run_id}'",
                order_by=["attributes.start_time DESC"], max_results=1,
            )
        logged_epochs: set[int] = set()
        if existing:
            self.mlflow_run_id = existing[0].info.run_id
            self.client.update_run(self.mlflow_run_id, status="RUNNING")
            logged = existing[0].data.params
            logged_epochs = {m.step for m in self.client.get_metric_history(self.mlflow_run_id, "test_acc")}
        else:
            self.mlflow_run_id = self.client.create_run(experiment_id, run_name=run.name, tags=run.tags).info.run_id
            logged = {}
        # MLflow refuses to change a logged param; on a resume, settings that may differ without
        # changing the run (threads, progress) keep the value they were first logged with.
        params = [Param(key, value[:6000]) for key, value in run.params.items() if key not in logged]
        for start in range(0, len(params), 100):
            self.client.log_batch(self.mlflow_run_id, params=params[start:start + 100])
        # Epochs done before a resume that this MLflow run lacks: all of them if the run had no
        # logger before, or the last one if the kill came between its checkpoint and its copy.
        for row in run.previous_rows:
            if row["epoch"] not in logged_epochs:
                self.epoch(row)

    def epoch(self, row: dict) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(key, float(row[key]), now, row["epoch"]) for key in EPOCH_METRICS
                   if row.get(key) is not None]
        first_step = row["step"] - len(row["step_lrs"])
        metrics += [Metric(STEP_METRIC, float(lr), now, first_step + i) for i, lr in enumerate(row["step_lrs"])]
        for start in range(0, len(metrics), BATCH):
            self.client.log_batch(self.mlflow_run_id, metrics=metrics[start:start + BATCH])

    def close(self, status: str) -> None:
        self.client.set_terminated(self.mlflow_run_id, STATUS.get(status, "FAILED"))

    @contextlib.contextmanager
    def _store_lock(self):
        """Parallel runs opening one new local store would race to create its tables."""
        if not self.local:
            yield
            return
        store = self.results_dir / STORE_DIR
        store.mkdir(parents=True, exist_ok=True)
        with open(store / ".lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
