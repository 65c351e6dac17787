"""Scoring a split as one stream with Transformer-XL's memory carried from its first token
to its last (the reference's evaluation: segments of ``eval_tgt_len`` tokens, a memory of
``mem_len`` states per layer)."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

from bench import ScoredTokens, TokenizedSplit
from bench.training import stream_chunks


@torch.inference_mode()
def score_stream(
    network: nn.Module,
    split: TokenizedSplit,
    eos_id: int,
    segment: int,
    mem_len: int,
    device: str,
) -> Iterator[ScoredTokens]:
    """Every token of the split once, in order, ``segment`` at a time: a segment's tokens
    see the segment before them and ``mem_len`` earlier states of each layer."""
    network.eval()
    memory = None
    for chunk in stream_chunks(split.ids, eos_id, segment):
        inputs = torch.as_tensor(chunk.inputs, device=device).unsqueeze(1)
        targets = torch.as_tensor(chunk.targets, device=device).unsqueeze(1)
        logprobs, memory = network.target_logprobs(inputs, targets, memory, mem_len)
        yield ScoredTokens.of(chunk.positions, logprobs.squeeze(1))
