"""What the loggers share: a thread per destination, and the values each one is sent.

A tracker may be slow (a remote server, a library that starts a helper process) or fail
(server down, disk full, a library error). Neither may touch the run: the hooks only put
events on the destination's queue and return, and the destination's own thread hands them
to its :class:`Tracker`, which runs on that thread or, for a logger made with
``process=True``, in a process of its own (:mod:`bench_plugins.loggers.tracker_process`).
The first error (or the end of the tracker's process) is reported once, on stderr, and the
destination is switched off; bench's database, written before the hooks are called, has
the whole run.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from bench import LogDestination, RunInfo, SplitEvaluation, hookimpl
from bench_plugins.loggers.tracker_process import TrackerFailed, TrackerProcess

# how long the end of a run waits for a destination to send what it still holds
FINISH_SECONDS_ENV = "BENCH_LOG_FINISH_SECONDS"
FINISH_SECONDS = 60.0
# events a destination may fall behind by before it is switched off (memory stays bounded)
MAX_PENDING = 100_000
# a destination sends what gathered, then rests this long: one database transaction or
# request per second rather than one per training step, and its thread seldom competes
# with the training loop for the interpreter
SEND_SECONDS = 1.0
FINAL = "final/"  # the prefix of a run's summary values
# At an epoch's end bench logs the epoch's means with its validation perplexity, at the
# step where the per-step training loss may also have been logged: the epoch's mean loss
# gets a name of its own, so that each series has one value per step.
EPOCH_NAMES = {"train_loss": "epoch_train_loss"}


class Tracker:
    """One run sent to one destination. Every method runs on the destination's thread, in
    order, or with ``LoggerPlugin(..., process=True)`` in the tracker's own process (the
    class is then imported there by name: define it at a module's top level); an
    exception in any of them switches the destination off."""

    def __init__(self, run: RunInfo, target: str | None) -> None:
        self.run = run
        self.target = target

    def start(self, params: dict[str, Any]) -> None:
        """Open (or, for a resumed run, reopen) the run and record its configuration."""

    def resumed(self, step: int) -> None:
        """The run continues from its checkpoint at ``step``: the steps after it come again."""

    def log(self, metrics: dict[str, float], step: int, epoch: int | None) -> None:
        """Training or validation metrics at ``step``."""

    def log_many(self, rows: list[tuple[dict[str, float], int, int | None]]) -> None:
        """Several ``log`` calls' arguments, in order (override to send them at once)."""
        for metrics, step, epoch in rows:
            self.log(metrics, step, epoch)

    def finish(self, status: str, summary: dict[str, float]) -> None:
        """The run ended with ``status``; ``summary`` holds its final perplexities and cost."""

    def flush(self) -> None:
        """Make what was sent so far durable (called whenever the queue runs empty)."""


def run_name(run: RunInfo) -> str:
    """A run's name in a tracker: its id, and a digest of its database, since run ids are
    per database (two databases logging to one folder must not share a series)."""
    digest = hashlib.sha256(run.database.encode("utf-8")).hexdigest()[:6]
    return f"run-{run.run_id}-{digest}"


def params_of(run: RunInfo) -> dict[str, Any]:
    """The run's configuration as flat parameters: ``options.hidden_size`` and so on."""
    flat: dict[str, Any] = {"run_id": run.run_id, "database": run.database}

    def walk(tree: dict[str, Any], prefix: str) -> None:
        for key, value in tree.items():
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}.")
            else:
                flat[f"{prefix}{key}"] = value

    walk(run.config, "")
    return flat


def summary_of(
    evaluations: dict[str, SplitEvaluation], summary: dict[str, Any]
) -> dict[str, float]:
    """Final perplexities (``final/test_ppl``, …) and the run's cost (``final/params``,
    ``final/train_tokens_per_second``, ``final/wall_seconds``, ``final/peak_rss_mb``, …).
    ``final/`` keeps them apart from the curves of the same name (``valid_ppl`` per epoch)."""
    values: dict[str, float] = {}
    for split, evaluation in evaluations.items():
        metrics = evaluation.metrics
        values[f"{FINAL}{split}_ppl"] = metrics.ppl
        values[f"{FINAL}{split}_word_ppl"] = metrics.word_ppl
        values[f"{FINAL}{split}_bits_per_byte"] = metrics.bits_per_byte
    for key, value in summary.items():
        if _is_number(value):
            values[f"{FINAL}{key}"] = float(value)
    return values


def report(destination: LogDestination, message: str) -> None:
    print(f"bench: --log-to {destination}: {message}", file=sys.stderr, flush=True)


class Destination:
    """One destination of one run: its queue, its thread, and whether it is still on.

    The thread gathers what the hooks put on the queue and hands it to the tracker about
    once a second: on the thread itself, or (``process``) to the tracker's own process."""

    def __init__(
        self,
        tracker: type[Tracker],
        run: RunInfo,
        destination: LogDestination,
        *,
        process: bool = False,
    ) -> None:
        self.destination = destination
        self.on = True
        self._reported = threading.Lock()  # one error line, whichever thread finds it first
        self._closing = threading.Event()  # the run has ended: send at once, no more rest
        self._queue: queue.Queue[tuple[str, tuple[Any, ...]] | None] = queue.Queue(MAX_PENDING)
        self._tracker: TrackerProcess | _InThread
        try:
            if process:
                self._tracker = TrackerProcess(tracker, run, destination.target)
            else:
                self._tracker = _InThread(tracker, run, destination.target)
        except Exception as error:  # no process to be had (memory, a limit): the run goes on
            self.switch_off(f"{type(error).__name__}: {error}")
            self._tracker = _InThread(tracker, run, destination.target)  # never called: off
        self._thread = threading.Thread(
            target=self._work, name=f"bench-log-{destination.kind}", daemon=True
        )
        self._thread.start()

    @property
    def pid(self) -> int:
        """The process the tracker runs in."""
        return self._tracker.pid

    def send(self, method: str, *args: Any) -> None:
        if not self.on:
            return
        try:
            self._queue.put_nowait((method, args))
        except queue.Full:
            self.switch_off(f"fell {MAX_PENDING:,} events behind the run")

    def switch_off(self, reason: str) -> None:
        with self._reported:
            if not self.on:
                return
            self.on = False
        report(
            self.destination,
            f"{reason}; not logging there any more (the run goes on, and bench's "
            "own record of it is complete)",
        )

    def close(self) -> None:
        """Wait (a bounded time) for the thread to send what it holds, then let it go; a
        tracker's process still there then is ended."""
        self._closing.set()
        try:
            self._queue.put_nowait(None)
        except queue.Full:  # switched off as fallen behind: nothing more will be sent
            self._tracker.stop(0.0)
            return
        seconds = float(os.environ.get(FINISH_SECONDS_ENV, FINISH_SECONDS))
        deadline = time.monotonic() + seconds
        self._thread.join(seconds)
        if self._thread.is_alive():
            self.switch_off(f"still sending after {seconds:g} s")
        self._tracker.stop(max(0.0, deadline - time.monotonic()))

    def _work(self) -> None:
        closing = False
        while not closing:
            items = [self._queue.get()]  # waits for the first, then takes all that came
            while True:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            closing = items[-1] is None
            calls = [item for item in items if item is not None]
            if self.on:  # else switched off: drain the queue, send nothing
                try:
                    self._tracker.call(_merged(calls))
                except Exception as error:  # whatever the library raises, the run goes on
                    message = str(error) if isinstance(error, TrackerFailed) else None
                    self.switch_off(message or f"{type(error).__name__}: {error}")
            if not closing:
                self._closing.wait(SEND_SECONDS)
        self._tracker.end()


class _InThread:
    """The tracker called on the destination's thread, in the training process."""

    def __init__(self, tracker: type[Tracker], run: RunInfo, target: str | None) -> None:
        self._make = lambda: tracker(run, target)
        self._tracker: Tracker | None = None

    @property
    def pid(self) -> int:
        return os.getpid()

    def call(self, calls: list[tuple[str, tuple[Any, ...]]]) -> None:
        self._tracker = self._tracker or self._make()
        for method, args in calls:
            getattr(self._tracker, method)(*args)
        self._tracker.flush()

    def end(self) -> None:
        """Nothing to end: the thread's end is the tracker's."""

    def stop(self, seconds: float) -> None:
        """Nothing to stop: a thread that hangs is left to itself (a daemon)."""


def _merged(calls: list[tuple[str, tuple[Any, ...]]]) -> list[tuple[str, tuple[Any, ...]]]:
    """Consecutive ``log`` calls as one ``log_many``."""
    merged: list[tuple[str, tuple[Any, ...]]] = []
    for method, args in calls:
        if method == "log" and merged and merged[-1][0] == "log_many":
            merged[-1][1][0].append(args)
        elif method == "log":
            merged.append(("log_many", ([args],)))
        else:
            merged.append((method, args))
    return merged


class LoggerPlugin:
    """The observer hooks of one kind of logger, for every run of the process.

    ``kind`` is the plugin's name (``--log-to KIND``), ``library`` the module it needs
    and ``extra`` the pip extra that installs it. ``process``: each destination's tracker
    runs in a child process of its own rather than on a thread of the training process;
    worth it for a library whose every call costs CPU in the calling process (W&B, see
    to_wandb.py), not for one that costs little per row, since each child is a Python
    interpreter to start (0.1 to 0.2 s of CPU before its library's imports) and to keep
    (36 MB or more: docs/tracking.md).
    """

    def __init__(
        self,
        kind: str,
        tracker: type[Tracker],
        *,
        library: str | None,
        extra: str | None,
        process: bool = False,
    ) -> None:
        self.kind = kind
        self.tracker = tracker
        self.process = process
        self.library = library
        self.extra = extra
        self._runs: dict[tuple[str, int], list[Destination]] = {}
        self._last_step: dict[tuple[str, int], int] = {}

    def _key(self, run: RunInfo) -> tuple[str, int]:
        return (run.database, run.run_id)

    def run_started(self, run: RunInfo) -> None:
        destinations = run.destinations(self.kind)
        if destinations and self.library and importlib.util.find_spec(self.library) is None:
            report(
                destinations[0],
                f"the {self.library} library is not installed: "
                f"pip install 'bench-lm[{self.extra}]' (not logging there)",
            )
            return
        opened = []
        for destination in destinations:
            opened.append(Destination(self.tracker, run, destination, process=self.process))
            opened[-1].send("start", params_of(run))
        self._runs[self._key(run)] = opened

    def log_metrics(
        self, run: RunInfo, metrics: dict[str, float], step: int | None, epoch: int | None
    ) -> None:
        key = self._key(run)
        if not self._runs.get(key):
            return
        if "resumed" in metrics:  # the steps after the checkpoint's come again
            self._last_step[key] = step or 0
            for destination in self._runs[key]:
                destination.send("resumed", step or 0)
            return
        # a value of the whole training (FLOP/s) has no step: it goes at the last one
        step = self._last_step.get(key, 0) if step is None else step
        self._last_step[key] = step
        epoch_end = "valid_ppl" in metrics
        values = {
            EPOCH_NAMES.get(name, name) if epoch_end else name: float(value)
            for name, value in metrics.items()
            if _is_number(value)
        }
        for destination in self._runs[key]:
            destination.send("log", values, step, epoch)

    def run_finished(
        self,
        run: RunInfo,
        status: str,
        evaluations: dict[str, SplitEvaluation],
        summary: dict[str, Any],
    ) -> None:
        key = self._key(run)
        final = summary_of(evaluations, summary)
        for destination in self._runs.pop(key, []):
            destination.send("finish", status, final)
            destination.close()
        self._last_step.pop(key, None)

    def hooks(self) -> tuple[Callable[..., None], ...]:
        """The three hook functions, for the plugin module to expose under their names."""

        @hookimpl
        def run_started(run: RunInfo) -> None:
            self.run_started(run)

        @hookimpl
        def log_metrics(
            run: RunInfo, metrics: dict[str, float], step: int | None, epoch: int | None
        ) -> None:
            self.log_metrics(run, metrics, step, epoch)

        @hookimpl
        def run_finished(
            run: RunInfo,
            status: str,
            evaluations: dict[str, SplitEvaluation],
            summary: dict[str, Any],
        ) -> None:
            self.run_finished(run, status, evaluations, summary)

        return run_started, log_metrics, run_finished


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def to_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)
