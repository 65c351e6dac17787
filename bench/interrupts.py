"""Ctrl-C and ``kill`` as a KeyboardInterrupt that is never lost.

Python runs a signal handler between any two bytecodes, so the KeyboardInterrupt it
raises can surface inside a garbage-collector callback or a ``__del__`` (SQLAlchemy
registers weakref callbacks), where CPython prints "Exception ignored" and drops it: the
run would go on as if nothing had happened (seen in 3 of about 40 `kill`s of a training
run). So the handlers here also remember the request, and long loops call
:func:`raise_if_requested` where stopping is safe: each training step and each scoring
chunk. Whoever closes the run as interrupted calls :func:`clear`. :class:`InterruptGuard`
holds a request back while an optimiser step runs.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_requested = False
_received = 0  # requests ever noted in this process (never cleared)
_holding = 0  # inside held(): requests are noted, not raised
_signal = signal.SIGINT  # the last one received: the exit code says which (128 + its number)

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def request(signum: int = signal.SIGINT, frame: Any = None) -> None:
    """A signal handler: remember the request, then raise KeyboardInterrupt at once
    (unless inside :func:`held`)."""
    note(signum)
    if not _holding:
        raise KeyboardInterrupt


def note(signum: int = signal.SIGINT) -> None:
    """Remember a request without raising (for code that must finish a step first)."""
    global _requested, _received, _signal
    _requested = True
    _received += 1
    _signal = signum


def requested() -> bool:
    """Whether a request came and has not been acted on yet."""
    return _requested


def received() -> int:
    """How many requests this process has noted, acted on or not."""
    return _received


def exit_code() -> int:
    """The conventional exit status after the last signal: 130 for Ctrl-C (SIGINT), 143
    for ``kill`` (SIGTERM)."""
    return 128 + int(_signal)


def raise_if_requested() -> None:
    """Raise KeyboardInterrupt if a request came and has not been acted on."""
    if _requested:
        raise KeyboardInterrupt


@contextmanager
def held() -> Iterator[None]:
    """Signals inside are remembered but not raised: closing a run must not be cut short
    (from a terminal, Ctrl-C reaches the ranks of a distributed run twice: once from the
    terminal, once from the agent that launched them)."""
    global _holding
    _holding += 1
    try:
        yield
    finally:
        _holding -= 1


def clear() -> None:
    """The request has been acted on (the run is recorded as interrupted)."""
    global _requested
    _requested = False


def install() -> None:
    """Make Ctrl-C (SIGINT) and ``kill`` (SIGTERM) call :func:`request` (main thread only),
    and keep CPython from printing a traceback for a request it drops: it is remembered
    and raised where it is safe."""
    for signum in SIGNALS:
        signal.signal(signum, request)
    if not getattr(sys.unraisablehook, "bench_interrupts", False):
        sys.unraisablehook = _quiet_about_interrupts(sys.unraisablehook)


def _quiet_about_interrupts(previous: Any) -> Any:
    def hook(unraisable: Any) -> None:
        if not (_requested and isinstance(unraisable.exc_value, KeyboardInterrupt)):
            previous(unraisable)

    hook.bench_interrupts = True  # type: ignore[attr-defined]
    return hook


class InterruptGuard:
    """Holds Ctrl-C and ``kill`` (SIGINT, SIGTERM) back while an optimiser step runs.

    Outside a step the signal raises KeyboardInterrupt at once, as usual; inside one it
    is raised when the step ends, so a checkpoint written on interruption never holds a
    half-updated model. Every request is also remembered (see this module's docstring) and
    raised again before the next step, in case the first KeyboardInterrupt surfaced in a
    garbage-collector callback, which drops it. Signal handlers can only be set from the
    main thread; elsewhere the guard does nothing.

    ``hold=True`` (several ranks): signals are only remembered, never raised by the
    guard; the loop raises after the step at which the ranks agreed to stop.
    """

    def __init__(self, hold: bool = False) -> None:
        self.hold = hold
        self.in_step = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> InterruptGuard:
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        if exc_type is KeyboardInterrupt:  # delivered: a later training must not see it
            clear()

    def _handle(self, signum: int, frame: Any) -> None:
        if self.in_step or self.hold:
            note(signum)
        else:
            request(signum)

    @contextmanager
    def step(self) -> Iterator[None]:
        if self.hold:
            yield
            return
        raise_if_requested()
        self.in_step = True
        try:
            yield
        finally:
            self.in_step = False
        raise_if_requested()
