"""Errors that the CLI shows as a one-line message instead of a traceback."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class BenchError(Exception):
    """A problem the user can fix: bad input, a missing file, an unknown name."""


class ScoringError(BenchError):
    """A model broke the evaluation contract (a token scored twice, never, or with a bad value)."""


class CheckpointError(BenchError):
    """A checkpoint file could not be written or read: a full disk, a damaged file, a file
    that is not a checkpoint. The file is to blame, not the model plugin that trains."""


def unknown_name_error(kind: str, name: str, known: Iterable[str]) -> BenchError:
    """An error for an unknown plugin/corpus/option name that suggests the nearest known ones."""
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    message = f"unknown {kind} {name!r}."
    if close:
        message += f" Did you mean: {', '.join(close)}?"
    if known:
        message += f" Known: {', '.join(known)}."
    else:
        message += f" No {kind} is installed."
    return BenchError(message)
