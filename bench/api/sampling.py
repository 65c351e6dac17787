"""Drawing one token from a model's next-token distribution, as ``LanguageModel.generate``
promises: softmax at a temperature, among the ``top_k`` likeliest tokens and the nucleus
of ``top_p``, from a seeded generator.

Every model that generates draws its tokens here (``bench.training.TokenSampler``), so
the options mean the same thing whatever the model; each model only feeds its own
context (a recurrent state, a sliding window, a memory) and hands over the
log-probabilities of the next token. Imported only when a model samples.
"""

from __future__ import annotations

import torch

from bench.api.output_network import at_least_float32


class TokenSampler:
    """Draws token ids one at a time from next-token log-probabilities [vocab].

    ``temperature`` divides the log-probabilities (below 1 sharper); ``top_k`` keeps only
    the k likeliest ids; ``top_p`` keeps only the smallest set of likeliest ids whose
    probabilities reach ``top_p`` (the likeliest id always stays). One generator seeded
    with ``seed`` on ``device`` serves every draw, so the same seed repeats a sample.
    """

    def __init__(
        self,
        *,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int = 0,
        device: str | torch.device = "cpu",
    ) -> None:
        if temperature <= 0:
            raise ValueError(f"temperature must be above 0, got {temperature}")
        self.temperature, self.top_k, self.top_p = temperature, top_k, top_p
        self.generator = torch.Generator(device=device).manual_seed(seed)

    def draw(self, logprobs: torch.Tensor) -> int:
        """One id drawn from ``logprobs`` [vocab] (any normalisation: only ratios count)."""
        scores = at_least_float32(logprobs) / self.temperature
        if self.top_k is not None and self.top_k < scores.numel():
            cutoff = torch.topk(scores, self.top_k).values[-1]
            scores = scores.masked_fill(scores < cutoff, float("-inf"))
        if self.top_p is not None:
            scores = nucleus(scores, self.top_p)
        probabilities = torch.softmax(scores, -1)
        return int(torch.multinomial(probabilities, 1, generator=self.generator))


def nucleus(scores: torch.Tensor, top_p: float) -> torch.Tensor:
    """``scores`` with every id outside the nucleus set to -inf: the likeliest ids whose
    probabilities, summed in order, reach ``top_p`` (the likeliest id always stays)."""
    ordered, order = torch.sort(scores, descending=True)
    probabilities = torch.softmax(ordered, -1)
    before = torch.cumsum(probabilities, -1) - probabilities
    return scores.index_fill(-1, order[before >= top_p], float("-inf"))
