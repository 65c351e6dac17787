"""``--log-to mlflow[:TRACKING_URI]``: each run as an MLflow run.

The tracking URI may be a database like bench's own (``sqlite:///mlflow.db``,
``postgresql://…``), a server (``http://host:5000``) or a folder; without one, MLflow's
own default (``$MLFLOW_TRACKING_URI``) applies. Runs go to the experiment
``$MLFLOW_EXPERIMENT_NAME``, else ``bench``, tagged with bench's run id and database, by
which a resumed run finds its MLflow run again. MLflow keeps every value it was sent, so a
resumed run sends only the steps the MLflow run does not have yet (a resumed run repeats
the steps after its checkpoint exactly). Needs the ``mlflow`` extra.
"""

from __future__ import annotations

import os
import time
from typing import Any

from bench_plugins.loggers.common import LoggerPlugin, Tracker

EXPERIMENT_ENV = "MLFLOW_EXPERIMENT_NAME"
DEFAULT_EXPERIMENT = "bench"
RUN_ID_TAG = "bench.run_id"
DATABASE_TAG = "bench.database"
STATUSES = {"finished": "FINISHED", "failed": "FAILED", "interrupted": "KILLED"}
MAX_PARAM_LENGTH = 6000  # MLflow's limit on a parameter's value
MAX_BATCH = 1000  # MLflow's limit on the metrics of one log_batch


# MLflow retries a request to a server for minutes by default; a server that is down
# should be reported within seconds (a user's own settings win)
HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_TIMEOUT": "20"}


class MlflowRun(Tracker):
    def start(self, params: dict[str, Any]) -> None:
        for name, value in HTTP_DEFAULTS.items():
            os.environ.setdefault(name, value)
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri=self.target)
        name = os.environ.get(EXPERIMENT_ENV) or DEFAULT_EXPERIMENT
        experiment = self.client.get_experiment_by_name(name)
        experiment_id = (
            experiment.experiment_id if experiment else self.client.create_experiment(name)
        )
        existing = self._find(experiment_id)
        # the last step the MLflow run holds of each metric (none for a new run)
        self.sent: dict[str, int] = {}
        if existing is not None:
            self.run_id = existing.info.run_id
            for key in existing.data.metrics:
                history = self.client.get_metric_history(self.run_id, key)
                self.sent[key] = max(metric.step for metric in history)
            self.client.update_run(self.run_id, status="RUNNING")
            return
        run = self.client.create_run(
            experiment_id,
            run_name=f"bench run {self.run.run_id}: {self.run.plugin} on {self.run.corpus}",
            tags={RUN_ID_TAG: str(self.run.run_id), DATABASE_TAG: self.run.database},
        )
        self.run_id = run.info.run_id
        self.client.log_batch(
            self.run_id,
            params=[Param(key, str(value)[:MAX_PARAM_LENGTH]) for key, value in params.items()],
        )

    def _find(self, experiment_id: str) -> Any:
        def quoted(text: str) -> str:
            return "'" + text.replace("'", "\\'") + "'"

        runs = self.client.search_runs(
            [experiment_id],
            filter_string=f"tags.`{RUN_ID_TAG}` = {quoted(str(self.run.run_id))} "
            f"and tags.`{DATABASE_TAG}` = {quoted(self.run.database)}",
            max_results=1,
        )
        return runs[0] if runs else None

    def log(self, metrics: dict[str, float], step: int, epoch: int | None) -> None:
        self.log_many([(metrics, step, epoch)])

    def log_many(self, rows: list[tuple[dict[str, float], int, int | None]]) -> None:
        """Every step gathered since the last send, in as few requests as MLflow allows."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = []
        for metrics, step, _ in rows:
            for name, value in metrics.items():
                if step > self.sent.get(name, -1):  # not held from an earlier attempt
                    batch.append(Metric(name, value, now, step))
                    self.sent[name] = step
        for start in range(0, len(batch), MAX_BATCH):
            self.client.log_batch(self.run_id, metrics=batch[start : start + MAX_BATCH])

    def finish(self, status: str, summary: dict[str, float]) -> None:
        step = max(self.sent.values(), default=0)
        self.log(summary, step, None)
        self.client.set_terminated(self.run_id, status=STATUSES.get(status, "FAILED"))


# In a process of its own: MLflow's client spends about 70 µs of CPU per logged row in
# the calling process (benchmarks/tracker_call_cost.py, docs/tracking.md: more than 2% of
# a fast model's step), against about 1 µs for handing the row to its process; that
# process costs about 2 s of CPU to start, once per run, on whichever core is free.
plugin = LoggerPlugin("mlflow", MlflowRun, library="mlflow", extra="mlflow", process=True)
run_started, log_metrics, run_finished = plugin.hooks()
