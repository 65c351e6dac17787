"""A destination's tracker in a process of its own, so that its work costs the training
process nothing but handing over the events.

W&B's ``run.log`` costs about 160 µs of CPU per logged row in the process that calls it
(W&B's Python code, on the caller's thread and on W&B's own asyncio thread): on a thread
of the training process that holds the training's interpreter lock, and on one core its
CPU, which is several percent of a fast model's step. In a child process the training
process only pickles a second's events once and writes them to a pipe; the child and
W&B's helper (started by the child) can run on another core.

The child is a fresh interpreter running this module (``python -m``), never a fork: a fork
of a process that runs torch's threads may inherit a lock some thread held, and hang. Nor
is it multiprocessing's ``spawn``, which imports the parent's main script again in the
child: a user's script that runs bench through its Python API, without an ``if __name__ ==
"__main__":`` guard, would run its whole work a second time there. The tracker's class is
imported by name in the child (``module.QualName``, with the parent's ``sys.path``): it
must be defined at a module's top level. A class defined in the run's own script is
imported from that script by its file's name, which runs the script's top level in the
child as any import would (its ``if __name__ == "__main__":`` block is not run). The child ignores Ctrl-C, which the terminal
sends to the whole process group: the run decides when its tracker ends (it sends what it
holds, then the child exits); the child also exits as soon as the run's process is gone.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection
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
        ours, theirs = socket.socketpair()
        # The child starts with Ctrl-C and `kill` held back, and ignores Ctrl-C before
        # letting signals in again: one that came while its interpreter was starting up
        # would otherwise print a KeyboardInterrupt traceback from the child.
        held = _hold_signals()
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", __name__, str(theirs.fileno()), str(os.getpid())],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,  # the terminal's input stays the run's
            )
        except BaseException:
            ours.close()
            raise
        finally:
            _release_signals(held)
            theirs.close()
        self._connection = Connection(ours.detach())
        # it ends with the run's process: it sees its end of the socket close, or, while
        # a tracker's call hangs, its parent change (_exit_with_parent)
        module = _importable_name(tracker.__module__)
        self._connection.send((module, tracker.__qualname__, run, target, sys.path))
        if CPUS is not None:
            try:
                os.sched_setaffinity(self._process.pid, CPUS)
            except OSError:  # no such CPU: no process left behind
                self.stop(0.0)
                raise

    @property
    def pid(self) -> int:
        return self._process.pid

    def call(self, calls: Calls) -> None:
        """Have the tracker run ``calls`` and flush, and wait until it has."""
        try:
            self._connection.send(calls)  # one pickle for the whole batch
            error = self._connection.recv()  # None (done), the error, or the socket's end
        except (OSError, EOFError):  # the child's end of the socket is closed: it ended
            raise TrackerFailed(self._ended()) from None
        if error is not None:
            raise TrackerFailed(error)

    def end(self) -> None:
        """Tell the child that nothing more comes: it ends once it has done what it holds."""
        with contextlib.suppress(OSError):  # it has ended already
            self._connection.send(None)

    def stop(self, seconds: float) -> None:
        """Give the child ``seconds`` to end, then end it (a tracker that hangs, say)."""
        try:
            self._process.wait(seconds)
        except subprocess.TimeoutExpired:
            self._process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(5.0)
        self._connection.close()

    def _ended(self) -> str:
        try:
            code: int | None = self._process.wait(1.0)
        except subprocess.TimeoutExpired:
            code = None
        if code is not None and code < 0:
            how = f"killed by {signal.Signals(-code).name}"
        else:
            how = "still running" if code is None else f"exit status {code}"
        return f"the tracker's process (pid {self._process.pid}) ended ({how})"


def child_main(socket_fd: int, parent: int) -> None:
    """The child's start: the parent's socket (``socket_fd``), then the tracker's class,
    run, target and the parent's ``sys.path``, then :func:`serve`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):  # held back by the parent while it started this
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    os.set_inheritable(socket_fd, False)  # a helper the tracker starts must not hold it open
    threading.Thread(
        target=_exit_with_parent, args=(parent,), name="bench-log-parent", daemon=True
    ).start()
    connection = Connection(socket_fd)
    try:
        module, name, run, target, path = connection.recv()
    except EOFError:  # the parent ended before it said what to run
        return
    sys.path[:] = path  # the tracker's module is found where the parent found it
    serve(connection, module, name, run, target)


def serve(connection: Connection, module: str, name: str, run: RunInfo, target: str | None) -> None:
    """Run each batch of calls on one tracker, answer None (done) or the error, and end on
    None, an error, or the parent's end."""
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


def _importable_name(module: str) -> str:
    """``module``, or for the run's own script (``__main__``) the name it is found by
    on ``sys.path``: its package path when run with ``-m``, else its file's name (the
    script's folder is the first entry of ``sys.path``, which the child is given)."""
    if module != "__main__":
        return module
    main = sys.modules["__main__"]
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name:
        return str(spec.name)
    path = getattr(main, "__file__", None)
    return os.path.splitext(os.path.basename(path))[0] if path else module


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


def _exit_with_parent(parent: int) -> None:
    """End this process when the run's process is gone (killed with -9, say), even while
    the tracker hangs in a call: this process then has another parent."""
    while os.getppid() == parent:
        time.sleep(0.5)
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


if __name__ == "__main__":
    child_main(int(sys.argv[1]), int(sys.argv[2]))
