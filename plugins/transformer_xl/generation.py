"""Sampling from the ``transformer-xl`` plugin with the memory its scoring carries.

Scoring reads a stream in segments of ``eval_bptt`` tokens with ``eval_mem_len`` states of
memory per layer: a token at offset i of a segment sees the memory and the segment's
tokens up to itself. Sampling reads the text the same way, one token at a time: the
memory holds the earlier segments' last states plus every token of the current segment
so far, and is cut back to ``eval_mem_len`` states where a segment ends. So each token is
drawn from exactly the distribution that scoring the text gives it.
"""

from __future__ import annotations

import torch
from torch import nn

from bench.training import TokenSampler


class SegmentReader:
    """Reads ids into a Transformer-XL network as stream scoring does, any number at a
    time, and gives the log-probabilities of the id after the last one read."""

    def __init__(self, network: nn.Module, segment: int, mem_len: int, device: str) -> None:
        self.network, self.segment, self.mem_len, self.device = network, segment, mem_len, device
        self.memory: tuple[torch.Tensor, ...] | None = None
        self.filled = 0  # ids read of the current segment

    def read(self, ids: list[int]) -> torch.Tensor:
        """Log-probabilities [vocab] of the id after ``ids`` (at least one id)."""
        start = 0
        while start < len(ids):  # in pieces that end where segments end
            piece = ids[start : start + self.segment - self.filled]
            self.filled = (self.filled + len(piece)) % self.segment
            inputs = torch.as_tensor(piece, device=self.device).unsqueeze(1)
            # keep the earlier segments' last mem_len states and this segment's so far
            features, self.memory = self.network(inputs, self.memory, self.mem_len + self.filled)
            start += len(piece)
        return self.network.output.log_probs(features[-1, :1])[0]


@torch.inference_mode()
def sample(
    reader: SegmentReader, context: list[int], tokens: int, sampler: TokenSampler
) -> list[int]:
    """``tokens`` ids drawn after ``context`` (read in segments first), one at a time."""
    reader.network.eval()
    logprobs = reader.read(context)
    drawn: list[int] = []
    for _ in range(tokens):
        drawn.append(sampler.draw(logprobs))
        logprobs = reader.read(drawn[-1:])
    return drawn
