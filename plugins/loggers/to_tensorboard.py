"""``--log-to tensorboard:DIR``: each run's curves as TensorBoard event files.

A run writes to ``DIR/run-ID-DB`` (see :func:`~bench_plugins.loggers.common.run_name`):
its configuration as text and as hyperparameters, every metric as a scalar at its step,
and the final perplexities and cost at the last step. A resumed run writes to the same
folder with TensorBoard's purge step: the events an earlier attempt wrote after the
checkpoint are hidden, so the curve has no gap and no step twice.
Needs the ``tensorboard`` extra (the writer is torch's ``SummaryWriter``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench_plugins.loggers.common import LoggerPlugin, Tracker, run_name, to_json

DEFAULT_FOLDER = "runs"


class TensorBoardRun(Tracker):
    def start(self, params: dict[str, Any]) -> None:
        from torch.utils.tensorboard import SummaryWriter  # needs the tensorboard library

        self._writer_class = SummaryWriter
        self.folder = Path(self.target or DEFAULT_FOLDER) / run_name(self.run)
        # a folder with events is a run resumed (or restarted): its old events stay readable
        self.earlier = self.folder.is_dir() and any(self.folder.glob("events.out.tfevents.*"))
        self.params = params
        self.writer: Any = None
        self.last_step = 0

    def _open(self, purge_step: int) -> Any:
        if self.writer is None:
            self.writer = self._writer_class(
                str(self.folder), purge_step=purge_step if self.earlier else None, flush_secs=5
            )
            if not self.earlier:
                self.writer.add_text("config", f"```\n{to_json(self.params)}\n```", 0)
        return self.writer

    def resumed(self, step: int) -> None:
        self._open(purge_step=step + 1)

    def log(self, metrics: dict[str, float], step: int, epoch: int | None) -> None:
        writer = self._open(purge_step=step)
        for name, value in metrics.items():
            writer.add_scalar(name, value, step)
        self.last_step = max(self.last_step, step)

    def finish(self, status: str, summary: dict[str, float]) -> None:
        from torch.utils.tensorboard.summary import hparams

        writer = self._open(purge_step=self.last_step + 1)
        hparam_values = {
            key: value if isinstance(value, int | float | str | bool) else str(value)
            for key, value in self.params.items()
        }
        for part in hparams(hparam_values, summary | {"status_finished": 0.0}):
            writer.file_writer.add_summary(part)
        for name, value in summary.items():
            writer.add_scalar(name, value, self.last_step)
        writer.add_scalar("status_finished", float(status == "finished"), self.last_step)
        writer.close()
        self.writer = None

    def flush(self) -> None:
        if self.writer is not None:
            self.writer.flush()


# On a thread of the training process: about 40 µs of CPU per logged row there
# (benchmarks/tracker_call_cost.py, docs/tracking.md), under 2% of a fast model's step,
# while a process of its own would import torch again (the writer is torch's): about
# 1.4 s of CPU and 230 MB more per run.
plugin = LoggerPlugin("tensorboard", TensorBoardRun, library="tensorboard", extra="tensorboard")
run_started, log_metrics, run_finished = plugin.hooks()
