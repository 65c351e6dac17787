"""Ctrl-C and ``kill`` as a KeyboardInterrupt that is never lost.

Python runs a signal handler between any two bytecodes, so the KeyboardInterrupt it
raises can surface inside a garbage-collector callback or a ``__del__`` (SQLAlchemy
registers weakref callbacks), where CPython prints "Exception ignored" and drops it: the
run would go on as if nothing had happened (seen in 3 of about 40 `kill`s of a training
run). So the handlers here also remember the request, and long loops call
:func:`raise_if_requested` where stopping is safe: each training step and each scoring
chunk. Whoever closes the run as interrupted calls :func:`clear`.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_requested = False
_received = 0  # requests ever noted in this process (never cleared)
_holding = 0    # inside held(): requests are noted, not raised

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def request(signum: int = signal.SIGINT, frame: Any = None) -> None:
    """A signal handler: remember the request, then raise KeyboardInterrupt at once
    (unless inside :func:`held`)."""
    note()
    if not _holding:
        raise KeyboardInterrupt


def note() -> None:
    """Remember a request without raising (for code that must finish a step first)."""
    global _requested, _received
    _requested = True
    _received += 1


def requested() -> bool:
    """Whether a request came and has not been acted on yet."""
    return _requested


def received() -> int:
    """How many requests this process has noted, acted on or not."""
    return _received


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
