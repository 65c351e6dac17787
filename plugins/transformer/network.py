"""The torch side of the ``transformer`` plugin: a decoder-only Transformer LM.

token embedding (+ positions) -> ``layers`` blocks of causal self-attention and a
feed-forward layer, LayerNorm before (pre-LN, GPT-2) or after (post-LN, Vaswani et al.)
each residual sum -> final LayerNorm -> an output layer chosen through bench's door (the
full softmax by default). Attention is ``scaled_dot_product_attention`` with
``is_causal=True``, so a GPU runs its fused kernels and no position ever sees a later one.
Imported only when a model is built.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bench import OutputNetwork
from bench.training import AdaptiveInput
from bench_plugins.transformer.options import TransformerOptions


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention in which position t attends to positions <= t only."""

    def __init__(self, d_model: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [batch, time, d_model]
        batch, time, width = x.shape
        q, k, v = self.qkv(x).view(batch, time, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=True
        )
        return self.proj(attended.transpose(1, 2).reshape(batch, time, width))


class Block(nn.Module):
    """Attention and feed-forward, each a residual branch with dropout, normalised pre or post."""

    def __init__(self, options: TransformerOptions) -> None:
        super().__init__()
        o = options
        self.pre = o.norm == "pre"
        self.attention = CausalSelfAttention(o.d_model, o.heads, o.dropout)
        self.norm1 = nn.LayerNorm(o.d_model)
        self.norm2 = nn.LayerNorm(o.d_model)
        self.ffn = nn.Sequential(
            nn.Linear(o.d_model, o.ffn_size),
            nn.GELU() if o.activation == "gelu" else nn.ReLU(),
            nn.Dropout(o.dropout),
            nn.Linear(o.ffn_size, o.d_model),
        )
        self.drop = nn.Dropout(o.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pre:
            x = x + self.drop(self.attention(self.norm1(x)))
            return x + self.drop(self.ffn(self.norm2(x)))
        x = self.norm1(x + self.drop(self.attention(x)))
        return self.norm2(x + self.drop(self.ffn(x)))


def sinusoids(length: int, width: int) -> torch.Tensor:
    """The fixed position encodings of Vaswani et al. (2017), [length, width]."""
    position = torch.arange(length, dtype=torch.float32).unsqueeze(1)
    rate = torch.exp(torch.arange(0, width, 2, dtype=torch.float32) * (-math.log(10000.0) / width))
    table = torch.zeros(length, width)
    table[:, 0::2] = torch.sin(position * rate)
    table[:, 1::2] = torch.cos(position * rate)[:, : width // 2]
    return table


class TransformerNetwork(nn.Module):
    """The whole LM. Inputs and targets are [time, batch] like the recurrent networks', so
    bench's BPTT loop trains it unchanged; the ``state`` it is handed is ignored (a
    block never sees the one before it) and returned as None."""

    def __init__(
        self, vocab_size: int, options: TransformerOptions, counts: Sequence[float] | None = None
    ) -> None:
        super().__init__()
        o = options
        self.context = o.tokens_per_sample
        self.scale = math.sqrt(o.d_model) if o.scale_embedding else 1.0
        layer, layer_options = o.output_layer()
        self.output: OutputNetwork = layer.build(o.d_model, vocab_size, counts, layer_options)
        self.embedding = self._word_inputs(vocab_size, o, counts)
        if o.positions == "learned":
            self.positions: nn.Parameter | None = nn.Parameter(torch.zeros(self.context, o.d_model))
            nn.init.normal_(self.positions, std=0.02)
        else:
            self.positions = None
            self.register_buffer("sinusoids", sinusoids(self.context, o.d_model), persistent=False)
        drop = o.dropout if o.embedding_dropout is None else o.embedding_dropout
        self.embedding_drop = nn.Dropout(drop)
        self.blocks = nn.ModuleList(Block(o) for _ in range(o.layers))
        self.final_norm = nn.LayerNorm(o.d_model)
        self._init_weights(o, layer.tieable)

    def _word_inputs(
        self, vocab_size: int, o: TransformerOptions, counts: Sequence[float] | None
    ) -> nn.Module:
        """An embedding, or adaptive input with the adaptive softmax's bands (tied as
        Baevski & Auli tie them: each band's words, and with tie_projections each tail
        band's projection, are the softmax cluster's)."""
        if not o.adaptive_input:
            return nn.Embedding(vocab_size, o.d_model)
        softmax = self.output.softmax  # the options checked output=adaptive
        # N(0, 1/sqrt(d)) as fairseq initialises its adaptive input's matrices
        words = AdaptiveInput(
            vocab_size,
            o.d_model,
            softmax.cutoffs[:-1],
            softmax.div_value,
            counts,
            init_std=o.d_model**-0.5,
            projection_std=o.d_model**-0.5,
        )
        if o.tied:
            words.tie_to(self.output, projections=o.tie_projections)
        return words

    def _init_weights(self, o: TransformerOptions, tieable: bool) -> None:
        # attention and feed-forward matrices as nn.Transformer initialises them (Xavier),
        # the attention's biases at zero as nn.MultiheadAttention starts them (the
        # feed-forward biases keep nn.Linear's draw, as there); word matrices uniform in
        # +-init_range as word_language_model's
        for block in self.blocks:
            for param in block.parameters():
                if param.dim() > 1:
                    nn.init.xavier_uniform_(param)
            nn.init.zeros_(block.attention.qkv.bias)
            nn.init.zeros_(block.attention.proj.bias)
        if o.adaptive_input:
            return  # initialised (and tied) when built
        nn.init.uniform_(self.embedding.weight, -o.init_range, o.init_range)
        if o.tied:  # the options checked that the output layer has one word matrix
            self.output.weight = self.embedding.weight
        elif tieable:
            nn.init.uniform_(self.output.weight, -o.init_range, o.init_range)

    @property
    def training_loss_is_nll(self) -> bool:
        return self.output.exact

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """``inputs`` [time, batch] (time <= tokens_per_sample) -> features [time, batch, d_model]."""
        time = inputs.size(0)
        if time > self.context:
            raise ValueError(f"{time} positions exceed the model's context of {self.context}")
        x = self.embedding(inputs.t()) * self.scale  # [batch, time, d_model]
        x = x + (self.positions[:time] if self.positions is not None else self.sinusoids[:time])
        x = self.embedding_drop(x)
        for block in self.blocks:
            x = block(x)
        return self.final_norm(x).transpose(0, 1)

    # The three calls the harness makes, with the recurrent networks' signatures.
    def training_loss(
        self, inputs: torch.Tensor, targets: torch.Tensor, state: Any = None
    ) -> tuple[torch.Tensor, None]:
        """The output layer's objective, a mean over the block's tokens."""
        features = self(inputs)
        return self.output.training_loss(
            features.reshape(-1, features.size(-1)), targets.reshape(-1)
        ), None

    def target_logprobs(
        self, inputs: torch.Tensor, targets: torch.Tensor, state: Any = None
    ) -> tuple[torch.Tensor, None]:
        """Exact log-probabilities [time, batch] of ``targets``."""
        features = self(inputs)
        logprobs = self.output.target_logprobs(
            features.reshape(-1, features.size(-1)), targets.reshape(-1)
        )
        return logprobs.view_as(targets), None

    def next_logprobs(self, inputs: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, None]:
        """Log-probabilities [vocab] of the token after column 0's last input, seeing at
        most the last ``tokens_per_sample`` inputs."""
        features = self(inputs[-self.context :, :1])
        return self.output.log_probs(features[-1, :1])[0], None
