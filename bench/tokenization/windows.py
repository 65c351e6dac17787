"""Sliding-window scoring for models with a fixed context (the window protocol).

A model that attends over at most ``length`` tokens cannot carry state over a split, and
cutting the split into disjoint blocks would score a block's first token with no context
at all. Windows of ``length`` positions advance by ``stride`` instead; each window scores
only the positions no earlier window scored, its last ``stride`` ones (the first window
scores all of its positions)::

    positions  0 1 2 3 4 5 6 7 8 9,  length 4, stride 2
    window 0   [0 1 2 3]            scores 0 1 2 3
    window 1       [2 3 4 5]        scores 4 5      (each with >= 2 tokens of context)
    window 2           [4 5 6 7]    scores 6 7
    window 3               [6 7 8 9] scores 8 9

So every position is scored exactly once, and every scored position but those of the
first window sees at least ``length - stride`` tokens before it (fairseq's
``--context-window``; the stride of the Hugging Face perplexity guide). As in stream mode,
the inputs are the split shifted right by one with an end-of-sentence in front, so
position 0 is predicted from that implicit end-of-sentence.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ScoringWindow:
    """Inputs and targets of positions ``start..start+len-1``; scored from ``scored_from``.

    ``inputs[i]`` precedes ``targets[i]``, which is the token at position ``start + i``;
    only ``targets[scored_from:]`` count, the rest is context.
    """

    start: int
    inputs: np.ndarray
    targets: np.ndarray
    scored_from: int

    @property
    def positions(self) -> np.ndarray:
        """The split positions this window scores."""
        return np.arange(self.start + self.scored_from, self.start + len(self.targets))


def window_starts(tokens: int, length: int, stride: int) -> list[int]:
    """Where each window of a ``tokens``-long split starts (the module docstring's rule)."""
    if length < 1 or not 1 <= stride <= length:
        raise ValueError(f"need 1 <= stride <= length, got length {length}, stride {stride}")
    starts = [0]
    while starts[-1] + length < tokens:
        starts.append(starts[-1] + stride)
    return starts


def sliding_windows(
    ids: np.ndarray, eos_id: int, length: int, stride: int
) -> Iterator[ScoringWindow]:
    """The split's scoring windows, in order (see the module docstring)."""
    inputs = np.empty_like(ids)
    if len(ids):
        inputs[0] = eos_id
        inputs[1:] = ids[:-1]
    scored_until = 0
    for start in window_starts(len(ids), length, stride):
        end = min(start + length, len(ids))
        yield ScoringWindow(start, inputs[start:end], ids[start:end], scored_until - start)
        scored_until = end
