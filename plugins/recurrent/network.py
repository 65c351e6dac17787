"""The torch side of the recurrent plugins: the network and stream scoring.

Imported only when a model is built, so that listing plugins never imports torch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import nn

from bench import EvalProtocol, HiddenScores, OutputNetwork, ScoredTokens, TokenizedSplit
from bench.training import TokenSampler, stream_chunks
from bench_plugins.recurrent.options import RecurrentOptions


def recurrent_layers(
    cell: str,
    input_size: int,
    hidden_size: int,
    layers: int,
    dropout: float,
    nonlinearity: str = "tanh",
    projection_size: int = 0,
) -> nn.RNNBase:
    """A stack of ``layers`` LSTM, GRU or Elman layers, standard dropout between them
    (an LSTM's hidden state projected to ``projection_size`` when it is set)."""
    sizes = (input_size, hidden_size, layers)
    between = dropout if layers > 1 else 0.0
    if cell == "lstm":
        return nn.LSTM(*sizes, dropout=between, proj_size=projection_size)
    if cell == "gru":
        return nn.GRU(*sizes, dropout=between)
    if cell == "rnn":
        return nn.RNN(*sizes, nonlinearity=nonlinearity, dropout=between)
    raise ValueError(f"unknown recurrent cell {cell!r}")


class LockedDropout(nn.Module):
    """Variational ("locked") dropout: one mask per sequence, shared by all its time steps
    (Gal & Ghahramani 2016), here drawn afresh for every BPTT window as in AWD-LSTM."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [time, batch, features]
        if not self.training or self.p == 0:
            return x
        keep = x.new_empty(1, x.size(1), x.size(2)).bernoulli_(1 - self.p)
        return x * keep / (1 - self.p)


class LockedStack(nn.Module):
    """Single-layer cells with locked dropout between them; the state has the shape of a
    stacked nn.LSTM's / nn.GRU's ([layers, batch, hidden]), so nothing else changes.

    Gal & Ghahramani also drop the recurrent connections with a locked mask; that needs a
    hand-written cell instead of cuDNN's and is not done here (dropout applies to the
    embeddings, between layers and before the output layer)."""

    def __init__(
        self,
        cell: str,
        input_size: int,
        hidden_size: int,
        layers: int,
        dropout: float,
        nonlinearity: str,
        projection_size: int = 0,
    ) -> None:
        super().__init__()
        self.lstm = cell == "lstm"
        output_size = projection_size or hidden_size
        self.layers = nn.ModuleList(
            recurrent_layers(
                cell,
                input_size if i == 0 else output_size,
                hidden_size,
                1,
                0.0,
                nonlinearity,
                projection_size,
            )
            for i in range(layers)
        )
        self.drop = LockedDropout(dropout)

    def forward(self, x: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        finals = []
        for index, layer in enumerate(self.layers):
            if index:
                x = self.drop(x)
            layer_state = (
                None
                if state is None
                else (
                    (state[0][index : index + 1], state[1][index : index + 1])
                    if self.lstm
                    else state[index : index + 1]
                )
            )
            x, final = layer(x, layer_state)
            finals.append(final)
        if self.lstm:
            return x, (torch.cat([h for h, _ in finals]), torch.cat([c for _, c in finals]))
        return x, torch.cat(finals)


class RecurrentNetwork(nn.Module):
    """Embedding, a stack of LSTM, GRU or Elman layers (cuDNN on GPU) and an output layer.

    The output layer is the one the options choose (``output``, ``output_options``):
    the full softmax by default, or any registered layer (``bench output-layers``).
    ``counts`` are the train split's token counts, which sampling and frequency-based
    layers learn from; None when the network is rebuilt to load a checkpoint.
    """

    def __init__(
        self,
        vocab_size: int,
        options: RecurrentOptions,
        cell: str,
        counts: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        self.drop = (
            LockedDropout(options.dropout) if options.variational else nn.Dropout(options.dropout)
        )
        self.embedding = nn.Embedding(
            vocab_size, options.embedding_size, sparse=options.sparse_grad
        )
        nonlinearity = getattr(options, "nonlinearity", "tanh")
        projection = getattr(options, "projection_size", None) or 0
        if options.variational and options.layers > 1:
            self.rnn: nn.Module = LockedStack(
                cell,
                options.embedding_size,
                options.hidden_size,
                options.layers,
                options.dropout,
                nonlinearity,
                projection,
            )
        else:
            self.rnn = recurrent_layers(
                cell,
                options.embedding_size,
                options.hidden_size,
                options.layers,
                options.dropout,
                nonlinearity,
                projection,
            )
        layer, layer_options = options.output_layer()
        self.output: OutputNetwork = layer.build(
            options.output_size, vocab_size, counts, layer_options
        )
        self.output.sparse_grad = options.sparse_grad
        if options.tied:  # the options checked that the layer has one word matrix
            self.output.weight = self.embedding.weight
        nn.init.uniform_(self.embedding.weight, -options.init_range, options.init_range)
        if not options.tied and layer.tieable:
            nn.init.uniform_(self.output.weight, -options.init_range, options.init_range)

    @property
    def training_loss_is_nll(self) -> bool:
        """Whether ``training_loss`` is the exact NLL (the loop reports train perplexity then)."""
        return self.output.exact

    def forward(self, inputs: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        """``inputs`` [time, batch] -> output-layer inputs [time, batch, hidden] and the new state.

        The state is (h, c) for an LSTM and h for GRU and Elman cells.
        """
        hidden, state = self.rnn(self.drop(self.embedding(inputs)), state)
        return self.drop(hidden), state

    # The three ways the harness uses a network; train_bptt, score_stream and sample
    # call only these, and each hands the output layer features flattened to [N, hidden].
    def training_loss(
        self, inputs: torch.Tensor, targets: torch.Tensor, state: Any
    ) -> tuple[torch.Tensor, Any]:
        """The output layer's training objective, a mean over the window's tokens, and the
        new state (the exact NLL for exact layers, an approximation's objective otherwise)."""
        features, state = self(inputs, state)
        return self.output.training_loss(
            features.reshape(-1, features.size(-1)), targets.reshape(-1)
        ), state

    def target_logprobs(
        self, inputs: torch.Tensor, targets: torch.Tensor, state: Any
    ) -> tuple[torch.Tensor, Any]:
        """Exact, normalised log-probabilities [time, batch] of ``targets``, and the new state."""
        features, state = self(inputs, state)
        logprobs = self.output.target_logprobs(
            features.reshape(-1, features.size(-1)), targets.reshape(-1)
        )
        return logprobs.view_as(targets), state

    def next_logprobs(self, inputs: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        """Log-probabilities [vocab] of the token after the last input of column 0."""
        features, state = self(inputs, state)
        return self.output.log_probs(features[-1, :1])[0], state


@torch.inference_mode()
def score_stream(
    network: nn.Module, split: TokenizedSplit, eos_id: int, protocol: EvalProtocol, device: str
) -> Iterator[ScoredTokens]:
    """Score the split as one stream, carrying the state from its first token to its last."""
    network.eval()
    state = None
    for chunk in stream_chunks(split.ids, eos_id, protocol.batch_size):
        inputs = torch.as_tensor(chunk.inputs, device=device).unsqueeze(1)
        targets = torch.as_tensor(chunk.targets, device=device).unsqueeze(1)
        logprobs, state = network.target_logprobs(inputs, targets, state)
        yield ScoredTokens.of(chunk.positions, logprobs.squeeze(1))


@torch.inference_mode()
def score_stream_with_hidden(
    network: nn.Module, split: TokenizedSplit, eos_id: int, protocol: EvalProtocol, device: str
) -> Iterator[HiddenScores]:
    """:func:`score_stream`, each chunk with the output layer's inputs (the hidden states
    that predicted its tokens), for the continuous cache pointer."""
    network.eval()
    state = None
    for chunk in stream_chunks(split.ids, eos_id, protocol.batch_size):
        inputs = torch.as_tensor(chunk.inputs, device=device).unsqueeze(1)
        targets = torch.as_tensor(chunk.targets, device=device)
        features, state = network(inputs, state)
        features = features.squeeze(1)
        logprobs = network.output.target_logprobs(features, targets)
        yield HiddenScores.of(chunk.positions, logprobs, features)


@torch.inference_mode()
def sample(
    network: nn.Module, context: list[int], tokens: int, sampler: TokenSampler, device: str
) -> list[int]:
    """Feed ``context``, then draw ``tokens`` ids one at a time with ``sampler``, the state
    carried from each token to the next."""
    network.eval()
    logprobs, state = network.next_logprobs(
        torch.as_tensor(context, device=device).unsqueeze(1), None
    )
    drawn: list[int] = []
    for _ in range(tokens):
        drawn.append(sampler.draw(logprobs))
        logprobs, state = network.next_logprobs(torch.tensor([[drawn[-1]]], device=device), state)
    return drawn
