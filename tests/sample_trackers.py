"""Trackers for the tests of trackers that run in a process of their own
(``LoggerPlugin(..., process=True)``): importable by name, as such a tracker must be, and
light to import (each test's tracker process imports this module).

Each writes what it was called with as JSON lines to ``TARGET/calls.jsonl``, the first
line naming the process it runs in.
"""

import json
import os
import signal
import time
from pathlib import Path

from bench_plugins.loggers.common import Tracker


class Recording(Tracker):
    def start(self, params):
        self.folder = Path(self.target)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.write({"call": "start", "pid": os.getpid(), "parent": os.getppid()})

    def log(self, metrics, step, epoch):
        self.write({"call": "log", "step": step, **metrics})

    def finish(self, status, summary):
        self.write({"call": "finish", "status": status})

    def write(self, row):
        with (self.folder / "calls.jsonl").open("a") as handle:
            handle.write(json.dumps(row) + "\n")


class KilledAtStep5(Recording):
    """Its process is killed with -9 (by itself) when step 5 comes."""

    def log(self, metrics, step, epoch):
        if step >= 5:
            os.kill(os.getpid(), signal.SIGKILL)
        super().log(metrics, step, epoch)


class Hanging(Recording):
    """Never returns from its first ``log``."""

    def log(self, metrics, step, epoch):
        self.write({"call": "hanging", "step": step})
        time.sleep(3600)


def calls(folder):
    """What a Recording tracker wrote to ``folder``, in order."""
    path = Path(folder, "calls.jsonl")
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]
