"""``--log-to wandb[:PROJECT]``: each run as a Weights & Biases run.

Offline unless the user has chosen a mode (``$WANDB_MODE``): the run is kept under
``$WANDB_DIR`` (else the current folder) in ``wandb/offline-run-…``, and ``wandb sync``
uploads it later. The project is PROJECT, else ``$WANDB_PROJECT``, else ``bench``; the W&B
run id is fixed by bench's run id and database, so a resumed run continues the same W&B
run. W&B keeps what each attempt logged, so a resumed run logs only the steps that earlier
offline attempts did not reach (online, W&B itself drops steps it already has). Needs the
``wandb`` extra.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from bench_plugins.loggers.common import LoggerPlugin, Tracker, run_name
from bench_plugins.loggers.wandb_files import complete, history, offline_files

DEFAULT_PROJECT = "bench"
# W&B writes an offline run's file every 15 s by default: a run killed with -9 loses what
# it logged since. Every 2 s, a resumed run re-sends what was lost (its checkpoint is older).
FLUSH_SECONDS = 2.0
# ``run.finish()`` returns before W&B's helper process has written all of an offline run's
# file (it closes the file after being told to, without answering): bench waits up to this
# long for the file to end with the run's exit record, so that a finished run is whole on
# disk for whoever reads it next (``wandb sync``, a resumed run), and reports it otherwise
CLOSE_SECONDS = 30.0


class WandbRun(Tracker):
    def start(self, params: dict[str, Any]) -> None:
        import wandb

        mode = os.environ.get("WANDB_MODE") or "offline"
        self.offline = mode == "offline"
        if not os.environ.get("WANDB_MODE"):
            # W&B applies a run's mode to that run only: for the process it stays online
            # and keeps its own usage telemetry on (OpenTelemetry, sent to W&B's servers,
            # and a histogram recorded in every run.log call). Offline means offline.
            wandb.setup(settings=wandb.Settings(mode="offline"))
        self.wandb_id = f"bench-{run_name(self.run)}"
        # the last step earlier offline attempts logged of each metric
        self.sent: dict[str, int] = {}
        # each series' last value, the run's summary of it (see _settings)
        self.last: dict[str, float] = {}
        # Given to init, not left to W&B: W&B reads $WANDB_DIR once per process, so a later
        # run in the same process would write where the first one did, not where bench
        # looks for earlier attempts.
        root = Path(os.environ.get("WANDB_DIR") or ".")
        root.mkdir(parents=True, exist_ok=True)
        if self.offline:
            for path in offline_files(root / "wandb", self.wandb_id):
                for row in history(path):
                    for key, value in row.items():
                        self.sent[key] = max(self.sent.get(key, -1), row["_step"])
                        if not key.startswith("_"):  # W&B's own: _step, _runtime, …
                            self.last[key] = value
        self.wb = wandb.init(
            project=self.target or os.environ.get("WANDB_PROJECT") or DEFAULT_PROJECT,
            id=self.wandb_id,
            name=f"bench run {self.run.run_id}: {self.run.plugin} on {self.run.corpus}",
            resume="allow",
            mode=mode,
            dir=root,
            config=params,
            reinit="create_new",  # several runs in one process each get their own
            settings=_settings(wandb),
        )

    def log(self, metrics: dict[str, float], step: int, epoch: int | None) -> None:
        values = {key: value for key, value in metrics.items() if step > self.sent.get(key, -1)}
        self.last.update(values)
        if values:
            self.wb.log(values, step=step)

    def finish(self, status: str, summary: dict[str, float]) -> None:
        self.wb.summary.update(self.last | summary | {"status": status})
        self.wb.finish(exit_code=0 if status == "finished" else 1)
        if self.offline:
            _wait_until_complete(Path(self.wb.settings.sync_file))


def _wait_until_complete(path: Path) -> None:
    deadline = time.monotonic() + CLOSE_SECONDS
    while not (path.exists() and complete(path)):
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"W&B had not finished {path} {CLOSE_SECONDS:g} s after the run ended"
            )
        time.sleep(0.02)


def _settings(wandb: Any) -> Any:
    try:
        return wandb.Settings(
            console="off",
            quiet=True,
            x_transaction_log_flush_interval=FLUSH_SECONDS,
            x_disable_stats=True,  # its sampling of the machine competes with the training
            # Otherwise W&B's helper recomputes the run's summary after every logged row and
            # writes it to the offline file twice: more than half of the file, and part of
            # the helper's work per row. bench sets each series' last value (W&B's default
            # summary) itself, once, when the run ends.
            x_server_side_derived_summary=True,
        )
    except Exception:  # a wandb without that (private) setting
        return wandb.Settings(console="off", quiet=True)


# In a process of its own: each run.log costs W&B's Python code about 160 µs of CPU in
# the calling process (benchmarks/tracker_call_cost.py, docs/tracking.md), 5% of a fast
# model's step; handing the row to the tracker's process costs the training process
# about 1 µs.
plugin = LoggerPlugin("wandb", WandbRun, library="wandb", extra="wandb", process=True)
run_started, log_metrics, run_finished = plugin.hooks()
