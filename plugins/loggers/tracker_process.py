"""A destination's tracker in a process of its own, so that its work costs the training
process nothing but handing over the events.

W&B's ``run.log`` costs about 160 µs of CPU per logged row in the process that calls it
(W&B's Python code, on the caller's thread and on W&B's own asyncio thread): on a thread
of the training process that holds the training's interpreter lock, and on one core its
CPU, which is several percent of a fast model's step. In a child process the training
process only pickles a second's events once and writes them to a pipe; the child and
W&B's helper (started by the child) can run on another core.

The child is started with ``spawn`` (a fresh interpreter), never forked: a fork of a
process that runs torch's threads may inherit a lock some thread held, and hang. The
tracker's class is therefore imported by name in the child (``module.QualName``): it must
be defined at a module's top level. The child ignores Ctrl-C, which the terminal sends to
the whole process group: the run decides when its tracker ends (it sends what it holds,
then the child exits); the child also exits as soon as the run's process is gone.
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing
import os
import signal
import threading
from multiprocessing.connection import Connection, wait
from typing import Any

from bench import RunInfo

Calls = list[tuple[str, tuple[Any, ...]]]

# The CPUs the trackers' processes run on (and the helpers they start: W&B's wandb-core
# inherits them); None keeps the run's. benchmarks/logging_overhead.py's --helper-cpu
# sets it, to measure the case where they have a core of their own.
CPUS: set[int] | None = None


class TrackerFailed(Exception):
    """The tracker raised, or its process ended: the destination's one error line."""


class TrackerProcess:
    """The parent's side: starts the child and hands it a batch of calls at a time."""

    def __init__(self, tracker: type, run: RunInfo, target: str | None) -> None:
        context = multiprocessing.get_context("spawn")
        self._connection, theirs = context.Pipe()
        self._process = context.Process(
            target=serve,
            args=(theirs, tracker.__module__, tracker.__qualname__, run, target),
            name=f"bench-log-{tracker.__qualname__}",
            daemon=True,  # ended with the run's process, even when it ends by an exception
        )
        # The child starts with Ctrl-C and `kill` held back, and ignores Ctrl-C before
        # letting signals in again: one that came while its interpreter was starting up
        # would otherwise print a KeyboardInterrupt traceback from the child.
        held = _hold_signals()
        try:
            self._process.start()
        finally:
            _release_signals(held)
        theirs.close()
        if CPUS is not None:
            try:
                os.sched_setaffinity(self._process.pid, CPUS)
            except OSError:  # no such CPU: no process left behind
                self.stop(0.0)
                raise

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def call(self, calls: Calls) -> None:
        """Have the tracker run ``calls`` and flush, and wait until it has."""
        try:
            self._connection.send(calls)  # one pickle for the whole batch
            wait([self._connection, self._process.sentinel])
            if self._connection.poll():
                error = self._connection.recv()
                if error is not None:
                    raise TrackerFailed(error)
                return
        except (OSError, EOFError):  # the child's end of the pipe is closed: it ended
            pass
        raise TrackerFailed(self._ended())

    def end(self) -> None:
        """Tell the child that nothing more comes: it ends once it has done what it holds."""
        with contextlib.suppress(OSError):  # it has ended already
            self._connection.send(None)

    def stop(self, seconds: float) -> None:
        """Give the child ``seconds`` to end, then end it (a tracker that hangs, say)."""
        self._process.join(seconds)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5.0)
        self._connection.close()

    def _ended(self) -> str:
        self._process.join(1.0)
        code = self._process.exitcode
        if code is not None and code < 0:
            how = f"killed by {signal.Signals(-code).name}"
        else:
            how = "still running" if code is None else f"exit status {code}"
        return f"the tracker's process (pid {self._process.pid}) ended ({how})"


def serve(connection: Connection, module: str, name: str, run: RunInfo, target: str | None) -> None:
    """The child's side: run each batch of calls on one tracker, answer None (done) or the
    error, and end on None, an error, or the parent's end."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):  # held back by the parent while it started this
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    threading.Thread(target=_exit_with_parent, name="bench-log-parent", daemon=True).start()
    tracker = None
    while True:
        try:
            calls = connection.recv()
        except EOFError:  # the parent closed its end
            return
        if calls is None:
            return
        try:
            tracker = tracker or _tracker_class(module, name)(run, target)
            for method, args in calls:
                getattr(tracker, method)(*args)
            tracker.flush()
        except Exception as error:  # whatever the library raises: reported by the parent
            connection.send(f"{type(error).__name__}: {error}")
            return
        connection.send(None)


def _tracker_class(module: str, name: str) -> type:
    try:
        found: Any = importlib.import_module(module)
        for part in name.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as error:
        raise ImportError(
            f"cannot import the tracker class {module}.{name} in its process ({error}); "
            "a tracker's class must be defined at the top level of an importable module"
        ) from error
    return found


def _exit_with_parent() -> None:
    """End this process when the run's process is gone (killed with -9, say), even while
    the tracker hangs in a call."""
    parent = multiprocessing.parent_process()
    if parent is not None:
        parent.join()
        os._exit(1)


def _hold_signals() -> set[signal.Signals] | None:
    """Hold Ctrl-C and `kill` back on this thread (the child inherits the mask); returns
    the mask to restore. None on Windows, which has no signal masks."""
    if not hasattr(signal, "pthread_sigmask"):
        return None
    return signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})


def _release_signals(held: set[signal.Signals] | None) -> None:
    if held is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
