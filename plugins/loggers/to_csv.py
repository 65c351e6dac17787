"""``--log-to csv:DIR``: each run as plain files, readable by anything.

``DIR/run-ID-DB/`` holds ``params.json`` (the configuration), ``metrics.csv`` (one row
per metric and step: ``step,epoch,name,value``) and, when the run ends, ``summary.json``
(status, final perplexities and cost). A resumed run drops the rows an earlier attempt
wrote after the checkpoint before it goes on, so each step appears once. No extra needed.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from bench_plugins.loggers.common import LoggerPlugin, Tracker, run_name, to_json

DEFAULT_FOLDER = "runs"
COLUMNS = ["step", "epoch", "name", "value"]


class CsvRun(Tracker):
    def start(self, params: dict[str, Any]) -> None:
        self.folder = Path(self.target or DEFAULT_FOLDER) / run_name(self.run)
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "params.json").write_text(to_json(params) + "\n", encoding="utf-8")
        self.path = self.folder / "metrics.csv"
        # rows of an earlier attempt (a run restarted, or exported again): the first step
        # this attempt writes replaces them from there on
        self.earlier = self.path.exists()
        if not self.earlier:
            self.path.write_text(",".join(COLUMNS) + "\n", encoding="utf-8")
        self.handle = self.path.open("a", newline="", encoding="utf-8")
        self.writer = csv.writer(self.handle)

    def resumed(self, step: int) -> None:
        self.earlier = False
        self.handle.close()
        with self.path.open(newline="", encoding="utf-8") as handle:
            rows = [row for row in csv.DictReader(handle) if int(row["step"]) <= step]
        with self.path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
        self.handle = self.path.open("a", newline="", encoding="utf-8")
        self.writer = csv.writer(self.handle)

    def log(self, metrics: dict[str, float], step: int, epoch: int | None) -> None:
        if self.earlier:
            self.resumed(step - 1)
        epoch_text = "" if epoch is None else epoch
        self.writer.writerows(
            [step, epoch_text, name, repr(value)] for name, value in metrics.items()
        )

    def finish(self, status: str, summary: dict[str, float]) -> None:
        self.handle.close()
        text = to_json({"status": status, **summary}) + "\n"
        (self.folder / "summary.json").write_text(text, encoding="utf-8")

    def flush(self) -> None:
        if not self.handle.closed:
            self.handle.flush()


# On a thread of the training process: writing a row costs about 2 µs of CPU there
# (benchmarks/tracker_call_cost.py); a process of its own would save about 1 µs of that
# and cost 0.2 s of CPU and 45 MB per run.
plugin = LoggerPlugin("csv", CsvRun, library=None, extra=None)
run_started, log_metrics, run_finished = plugin.hooks()
