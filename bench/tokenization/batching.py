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

from bench.errors import BenchError


def batchify(ids: np.ndarray, batch_size: int) -> torch.Tensor:
    """A ``[rows, batch_size]`` int64 tensor of contiguous columns (see the module docstring)."""
    rows = _rows(len(ids), batch_size)
    trimmed = torch.as_tensor(np.ascontiguousarray(ids[: rows * batch_size]), dtype=torch.long)
    return trimmed.view(batch_size, rows).t().contiguous()


def _rows(tokens: int, batch_size: int) -> int:
    rows = tokens // batch_size
    if rows < 2:
        largest = tokens // 2
        raise BenchError(
            f"{tokens} tokens are too few for batch size {batch_size}: each of "
            "the batch's columns needs at least 2 tokens"
            + (f"; the largest batch size that fits is {largest}" if largest else "")
        )
    return rows


class TrainWindows:
    """One epoch's truncated-BPTT windows over the train stream, startable at any window.

    Window ``i`` holds input rows ``i*bptt .. i*bptt+bptt-1`` and the targets one row
    later; the last window may be shorter. Starting at a window index (``from_window``)
    is what lets an interrupted run resume at the exact step it stopped.

    Ids in memory are batchified once and moved to the device whole (``data``). Ids that
    are a memory map (a streamed corpus's train split, :mod:`bench.tokenization.token_cache`) stay on
    disk: each window's rows are gathered from the map when it is asked for (row ``r`` of
    column ``j`` is token ``j * rows + r``) and only that window goes to the device. Both
    give exactly the same windows.

    ``columns`` keeps only some of the ``batch_size`` columns (a rank's share when several
    processes train, :mod:`bench.machine.sharding`); a memory map is then read only for those.
    """

    def __init__(
        self,
        ids: np.ndarray,
        batch_size: int,
        bptt: int,
        device: str,
        max_windows: int | None = None,
        columns: slice = slice(None),
    ) -> None:
        self.bptt = bptt
        self.device = device
        self.rows = _rows(len(ids), batch_size)
        self._mapped: np.ndarray | None = None
        self.data: torch.Tensor | None = None
        if isinstance(ids, np.memmap):
            self._mapped = ids
            self._column_starts = (np.arange(batch_size, dtype=np.int64) * self.rows)[columns]
        else:
            self.data = batchify(ids, batch_size)[:, columns].contiguous().to(device)
        count = (self.rows - 1 + bptt - 1) // bptt
        self.count = count if max_windows is None else min(count, max_windows)

    def __len__(self) -> int:
        return self.count

    def from_window(self, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(inputs, targets) ``[rows, batch_size]`` pairs from window ``start`` to the epoch's end."""
        for index in range(start, self.count):
            row = index * self.bptt
            length = min(self.bptt, self.rows - 1 - row)
            if self.data is not None:
                yield self.data[row : row + length], self.data[row + 1 : row + 1 + length]
            else:
                window = self._gather(row, length + 1)
                yield window[:-1], window[1:]

    def _gather(self, row: int, length: int) -> torch.Tensor:
        """Rows ``row .. row+length-1`` of the batchified map, as a tensor on the device."""
        assert self._mapped is not None
        positions = np.arange(row, row + length, dtype=np.int64)[:, None] + self._column_starts
        window = torch.from_numpy(np.asarray(self._mapped[positions], dtype=np.int64))
        return window.to(self.device)


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
