"""A weight row and a bias per word, scored with the exact softmax: the full softmax, and
the base of the sampling layers (``bench_plugins.output_layers.sampling``), which train on
part of the vocabulary but are scored over all of it."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bench import OutputNetwork
from bench.training import at_least_float32, chunked_target_logprobs


class LinearOutput(OutputNetwork):
    """``weight`` [vocab, hidden] and ``bias`` [vocab]; exact scoring in vocabulary chunks.

    ``weight`` is the one matrix a model may tie to its input embedding.
    """

    def __init__(self, hidden_size: int, vocab_size: int, eval_chunk: int) -> None:
        super().__init__()
        # made as nn.Linear makes them, so a full-softmax model draws the same random
        # numbers (and trains to the same result) as when its head was an nn.Linear
        linear = nn.Linear(hidden_size, vocab_size)
        self.weight = linear.weight
        self.bias = linear.bias
        nn.init.zeros_(self.bias)
        self.eval_chunk = eval_chunk

    def target_logprobs(self, features: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return chunked_target_logprobs(features, targets, self.weight, self.bias, self.eval_chunk)

    def log_probs(self, features: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(at_least_float32(F.linear(features, self.weight, self.bias)), dim=-1)


class FullSoftmaxModule(LinearOutput):
    """Trains on the exact cross-entropy over the whole vocabulary."""

    exact = True

    def training_loss(self, features: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(F.linear(features, self.weight, self.bias), targets)
