"""Scoring a split with the window protocol (``bench.training.sliding_windows``), several
windows of equal length per forward pass."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from bench import EvalProtocol, ScoredTokens
from bench.training import ScoringWindow, sliding_windows


@torch.inference_mode()
def score_windows(
    network: torch.nn.Module, ids: np.ndarray, eos_id: int, protocol: EvalProtocol, device: str
) -> Iterator[ScoredTokens]:
    """Yield the scored positions of every window; ``protocol.batch_size`` windows at a time."""
    assert protocol.context is not None and protocol.stride is not None
    network.eval()
    batch: list[ScoringWindow] = []
    for window in sliding_windows(ids, eos_id, protocol.context, protocol.stride):
        if batch and (
            len(batch) == protocol.batch_size or len(window.targets) != len(batch[0].targets)
        ):
            yield from _score_batch(network, batch, device)
            batch = []
        batch.append(window)
    if batch:
        yield from _score_batch(network, batch, device)


def _score_batch(
    network: torch.nn.Module, windows: list[ScoringWindow], device: str
) -> Iterator[ScoredTokens]:
    """Windows of one length side by side as the columns of a [time, windows] batch."""
    inputs = torch.as_tensor(np.stack([w.inputs for w in windows], axis=1), device=device)
    targets = torch.as_tensor(np.stack([w.targets for w in windows], axis=1), device=device)
    logprobs, _ = network.target_logprobs(inputs, targets, None)
    for column, window in enumerate(windows):
        yield ScoredTokens.of(window.positions, logprobs[window.scored_from :, column])
