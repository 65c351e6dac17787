"""Cutting token streams into tensors: training batches and scoring windows.

Training (truncated BPTT), as in pytorch/examples' word_language_model: the stream is cut
into ``batch_size`` contiguous columns, trailing tokens that do not fill a row dropped::

    stream a b c d e f g h i j k l m n o p q r s t u v w x,  batch_size 4
    ┌ a g m s ┐
    │ b h n t │   column j is the j-th quarter of the stream, so state carried from
    │ c i o u │   one window to the next continues the same text
    │ d j p v │
    │ e k q w │
    └ f l r x ┘
    windows of ``bptt`` rows: input rows i..i+bptt-1, targets rows i+1..i+bptt.

Scoring (stream mode): the split is ONE sequence. Position ``p`` is predicted from the
tokens before it, and position 0 from an implicit end-of-sentence, so the inputs are the
stream shifted right by one with eos in front. ``stream_chunks`` hands these out in
order, ``chunk`` tokens at a time; a recurrent model carries its state across chunks, so
the chunk size changes speed, never the result.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch


def batchify(ids: np.ndarray, batch_size: int) -> torch.Tensor:
    """A ``[rows, batch_size]`` int64 tensor of contiguous columns (see the module docstring)."""
    rows = len(ids) // batch_size
    if rows < 2:
        raise ValueError(f"{len(ids)} tokens are too few for batch size {batch_size}")
    trimmed = torch.as_tensor(np.ascontiguousarray(ids[: rows * batch_size]), dtype=torch.long)
    return trimmed.view(batch_size, rows).t().contiguous()


def bptt_windows(data: torch.Tensor, bptt: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(inputs, targets) windows of at most ``bptt`` rows; targets are inputs shifted by one."""
    for start in range(0, data.size(0) - 1, bptt):
        length = min(bptt, data.size(0) - 1 - start)
        yield data[start : start + length], data[start + 1 : start + 1 + length]


def count_windows(data: torch.Tensor, bptt: int) -> int:
    return (data.size(0) - 1 + bptt - 1) // bptt


@dataclass(frozen=True)
class StreamChunk:
    """Inputs and targets for positions ``start..start+len-1`` of a scored stream."""

    start: int
    inputs: np.ndarray
    targets: np.ndarray

    @property
    def positions(self) -> np.ndarray:
        return np.arange(self.start, self.start + len(self.targets), dtype=np.int64)


def stream_chunks(ids: np.ndarray, eos_id: int, chunk: int) -> Iterator[StreamChunk]:
    """The split as one stream, in order, ``chunk`` positions at a time (module docstring)."""
    if chunk < 1:
        raise ValueError("chunk must be positive")
    inputs = np.empty_like(ids)
    inputs[0] = eos_id
    inputs[1:] = ids[:-1]
    for start in range(0, len(ids), chunk):
        yield StreamChunk(start, inputs[start : start + chunk], ids[start : start + chunk])
