"""The torch side of the recurrent plugins: the network and stream scoring.

Imported only when a model is built, so that listing plugins never imports torch.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from bench.batching import stream_chunks
from bench.model import EvalProtocol, ScoredTokens
from bench.tokens import TokenizedSplit
from bench_plugins.lstm import LSTMOptions


class RecurrentNetwork(nn.Module):
    """Embedding, a stack of LSTM layers (cuDNN on GPU) and a linear output layer."""

    def __init__(self, vocab_size: int, options: LSTMOptions) -> None:
        super().__init__()
        self.drop = nn.Dropout(options.dropout)
        self.embedding = nn.Embedding(vocab_size, options.embedding_size)
        self.rnn = nn.LSTM(options.embedding_size, options.hidden_size, options.layers,
                           dropout=options.dropout if options.layers > 1 else 0.0)
        self.output = nn.Linear(options.hidden_size, vocab_size)
        if options.tied:
            self.output.weight = self.embedding.weight
        nn.init.uniform_(self.embedding.weight, -options.init_range, options.init_range)
        if not options.tied:
            nn.init.uniform_(self.output.weight, -options.init_range, options.init_range)
        nn.init.zeros_(self.output.bias)

    def forward(self, inputs: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """``inputs`` [time, batch] -> logits [time, batch, vocab] and the new state."""
        hidden, state = self.rnn(self.drop(self.embedding(inputs)), state)
        return self.output(self.drop(hidden)), state


@torch.inference_mode()
def score_stream(network: nn.Module, split: TokenizedSplit, eos_id: int, protocol: EvalProtocol,
                 device: str) -> Iterator[ScoredTokens]:
    """Score the split as one stream, carrying the state from its first token to its last."""
    network.eval()
    state = None
    for chunk in stream_chunks(split.ids, eos_id, protocol.batch_size):
        inputs = torch.as_tensor(chunk.inputs, device=device).unsqueeze(1)
        targets = torch.as_tensor(chunk.targets, device=device).unsqueeze(1)
        logits, state = network(inputs, state)
        logits = logits.squeeze(1)
        if logits.dtype in (torch.float16, torch.bfloat16):  # normalise in at least float32
            logits = logits.float()
        logprobs = F.log_softmax(logits, dim=-1)
        yield ScoredTokens.of(chunk.positions, logprobs.gather(1, targets).squeeze(1))
