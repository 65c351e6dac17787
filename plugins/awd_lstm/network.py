"""The AWD-LSTM network (torch): its dropouts, its regularisers and its tied output.

Each regulariser is a function of its own, so that a test can hold it against its
definition in the paper (section 4) and the authors' code:

- ``embedding_dropout``: whole rows of the embedding matrix (words) dropped for a forward
  pass, the kept rows scaled by 1 / (1 - p);
- ``locked_dropout``: one mask per sequence of the batch, shared by all its time steps;
- ``WeightDroppedLSTM``: DropConnect on the hidden-to-hidden matrix, one mask drawn per
  forward pass (so per BPTT window), none in evaluation. The dropped matrix is handed to
  torch's own LSTM kernel through ``torch.func.functional_call``, so the fused kernel
  runs and the gradient reaches the raw matrix, with no patching of ``nn.LSTM``;
- ``activation_regularisation`` (AR) and ``temporal_activation_regularisation`` (TAR).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from bench import EvalProtocol, HiddenScores, TokenizedSplit
from bench.training import stream_chunks
from bench_plugins.awd_lstm.options import AWDLSTMOptions

State = tuple[tuple[torch.Tensor, torch.Tensor], ...]


def embedding_dropout(
    weight: torch.Tensor, words: torch.Tensor, p: float, training: bool
) -> torch.Tensor:
    """Embed ``words`` with whole rows of ``weight`` zeroed with probability ``p``, the rest
    scaled by 1 / (1 - p): a dropped word is dropped everywhere it occurs in the window."""
    if training and p:
        keep = weight.new_empty(weight.size(0), 1).bernoulli_(1 - p) / (1 - p)
        weight = weight * keep
    # no padding row: every word, the last included, is trained through the lookup. The
    # authors' padding_idx=-1 meant "none" in the torch they ran; today's reads it as the
    # last row and drops that row's gradient (docs/awd-lstm.md)
    return F.embedding(words, weight)


def locked_dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Variational dropout on ``x`` [time, batch, features]: one mask per column, the same
    at every time step (Gal & Ghahramani 2016)."""
    if not training or not p:
        return x
    keep = x.new_empty(1, x.size(1), x.size(2)).bernoulli_(1 - p) / (1 - p)
    return x * keep


def activation_regularisation(dropped_output: torch.Tensor, alpha: float) -> torch.Tensor:
    """AR: alpha times the mean square of the last layer's output after its dropout."""
    return alpha * dropped_output.pow(2).mean()


def temporal_activation_regularisation(output: torch.Tensor, beta: float) -> torch.Tensor:
    """TAR: beta times the mean square of the step-to-step change of the last layer's
    output (before its dropout)."""
    return beta * (output[1:] - output[:-1]).pow(2).mean()


class WeightDroppedLSTM(nn.Module):
    """One LSTM layer whose hidden-to-hidden matrix is DropConnect-ed (Wan et al. 2013)."""

    def __init__(self, input_size: int, hidden_size: int, weight_drop: float) -> None:
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size)
        self.weight_drop = weight_drop

    def recurrent_weight(self) -> torch.Tensor:
        """The hidden-to-hidden matrix of this forward pass: one fresh elementwise mask
        (kept weights scaled by 1 / (1 - p)) in training, the raw matrix in evaluation."""
        raw = self.lstm.weight_hh_l0
        if not self.training or not self.weight_drop:
            return raw
        return F.dropout(raw, self.weight_drop, training=True)

    def forward(self, x: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        weight = self.recurrent_weight()
        if weight is self.lstm.weight_hh_l0:
            return self.lstm(x, state)
        return functional_call(self.lstm, {"weight_hh_l0": weight}, (x, state))


class AWDLSTMNetwork(nn.Module):
    """Embedding -> weight-dropped LSTM layers -> output tied to the embedding.

    The last layer is as wide as the embedding, so that the output matrix is the embedding
    matrix itself (Inan et al. 2016; Press & Wolf 2016); the output has its own bias.
    """

    def __init__(self, vocab_size: int, options: AWDLSTMOptions) -> None:
        super().__init__()
        o = options
        self.options = o
        self.embedding = nn.Embedding(vocab_size, o.embedding_size)
        widths = [o.hidden_size] * (o.layers - 1) + [o.embedding_size]
        inputs = [o.embedding_size, *widths[:-1]]
        self.layers = nn.ModuleList(
            WeightDroppedLSTM(i, w, o.weight_drop) for i, w in zip(inputs, widths, strict=True)
        )
        self.bias = nn.Parameter(torch.zeros(vocab_size))
        nn.init.uniform_(self.embedding.weight, -o.init_range, o.init_range)

    def forward(
        self, inputs: torch.Tensor, state: State | None
    ) -> tuple[torch.Tensor, State, torch.Tensor]:
        """``inputs`` [time, batch] -> the output after its dropout [time, batch, embedding],
        the new state (one (h, c) per layer) and the last layer's output before dropout."""
        o, training = self.options, self.training
        x = embedding_dropout(self.embedding.weight, inputs, o.dropout_embedding, training)
        x = locked_dropout(x, o.dropout_input, training)
        finals = []
        for index, layer in enumerate(self.layers):
            if index:
                x = locked_dropout(x, o.dropout_hidden, training)
            x, final = layer(x, None if state is None else state[index])
            finals.append(final)
        return locked_dropout(x, o.dropout_output, training), tuple(finals), x

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        return F.linear(features, self.embedding.weight, self.bias)

    def training_loss(
        self, inputs: torch.Tensor, targets: torch.Tensor, state: State | None
    ) -> tuple[torch.Tensor, torch.Tensor, State]:
        """(the loss with AR and TAR, the cross-entropy alone, the new state)."""
        output, state, raw = self(inputs, state)
        cross_entropy = F.cross_entropy(
            self.logits(output.reshape(-1, output.size(-1))), targets.reshape(-1)
        )
        loss = (
            cross_entropy
            + activation_regularisation(output, self.options.alpha)
            + temporal_activation_regularisation(raw, self.options.beta)
        )
        return loss, cross_entropy, state

    def target_logprobs(
        self, inputs: torch.Tensor, targets: torch.Tensor, state: State | None
    ) -> tuple[torch.Tensor, State]:
        """Log-probabilities [time, batch] of ``targets``, and the new state (for scoring)."""
        output, state, _ = self(inputs, state)
        logprobs = F.log_softmax(self.logits(output), dim=-1)
        return logprobs.gather(-1, targets.unsqueeze(-1)).squeeze(-1), state


@torch.inference_mode()
def score_stream_with_hidden(
    network: AWDLSTMNetwork, split: TokenizedSplit, eos_id: int, protocol: EvalProtocol, device: str
) -> Iterator[HiddenScores]:
    """The split as one stream, as ``score_stream`` scores it, each chunk with the last
    layer's outputs (the inputs of the softmax) that predicted its tokens."""
    network.eval()
    state = None
    for chunk in stream_chunks(split.ids, eos_id, protocol.batch_size):
        inputs = torch.as_tensor(chunk.inputs, device=device).unsqueeze(1)
        targets = torch.as_tensor(chunk.targets, device=device)
        output, state, _ = network(inputs, state)
        features = output.squeeze(1)
        logprobs = F.log_softmax(network.logits(features), dim=-1)
        yield HiddenScores.of(chunk.positions, logprobs.gather(-1, targets.unsqueeze(-1)), features)
