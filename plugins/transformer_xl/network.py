"""The torch side of the ``transformer-xl`` plugin: relative attention, memory, the network.

Transformer-XL (Dai et al. 2019, "Transformer-XL: Attentive Language Models Beyond a
Fixed-Length Context") reads a stream a segment at a time. Each layer attends over its
own segment and a *memory*: the last ``mem_len`` hidden states that entered that layer
in earlier segments, kept without gradient. The memory is carried from segment to
segment like a recurrent state, in training (by ``bench.training.train_bptt``, as an
LSTM's state) and in scoring. Positions are encoded by the distance between query and
key (sinusoids of the distance, projected per layer), with two learnt biases shared by
all layers: ``r_w_bias`` (u in the paper) for content and ``r_r_bias`` (v) for position,
so that a hidden state means the same whatever segment it was computed in.

Shapes are [time, batch, features] as in the rest of bench; a memory is a tuple with
one [mem, batch, d_model] tensor per layer (batch in dim 1, as bench's recurrent states).
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
from bench_plugins.transformer_xl.options import TransformerXLOptions

Memory = tuple[torch.Tensor, ...] | None


def sinusoids(distances: torch.Tensor, width: int) -> torch.Tensor:
    """[len(distances), width]: sines then cosines of the distances at geometric frequencies
    (Vaswani et al. 2017), the encoding Transformer-XL projects per layer."""
    inverse = 1.0 / (10000 ** (torch.arange(0, width, 2, device=distances.device) / width))
    angles = distances[:, None].float() * inverse[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


def causal_mask(queries: int, memory: int, device: Any) -> torch.Tensor:
    """[queries, memory + queries] True where a key is hidden: the segment's future."""
    keys = memory + queries
    rows = torch.arange(queries, device=device)[:, None] + memory
    return torch.arange(keys, device=device)[None, :] > rows


class RelativeAttention(nn.Module):
    """Multi-head attention over memory + segment with relative positions (Dai et al. §3.3).

    The score of query i and key j is ``(q_i + u)·k_j + (q_i + v)·W_r R_{i-j}``: content
    plus a learnt content bias, and position of the key relative to the query plus a learnt
    position bias. The position term is added to the content term through the attention
    mask of ``scaled_dot_product_attention``, so a GPU uses its fused kernel.
    """

    def __init__(self, o: TransformerXLOptions) -> None:
        super().__init__()
        self.heads, self.d_head, self.pre_lnorm = o.heads, o.d_head, o.pre_lnorm
        self.qkv = nn.Linear(o.d_model, 3 * o.heads * o.d_head, bias=False)
        self.position = nn.Linear(o.d_model, o.heads * o.d_head, bias=False)
        self.out = nn.Linear(o.heads * o.d_head, o.d_model, bias=False)
        self.norm = nn.LayerNorm(o.d_model)
        self.drop, self.dropatt = nn.Dropout(o.dropout), o.dropatt

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        """[time, batch, heads * d_head] -> [batch, heads, time, d_head]."""
        return x.view(x.size(0), x.size(1), self.heads, self.d_head).permute(1, 2, 0, 3)

    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor | None,
        encodings: torch.Tensor,
        biases: tuple[torch.Tensor, torch.Tensor],
        hidden: torch.Tensor,
    ) -> torch.Tensor:
        """``x`` [q, b, d]; ``encodings`` [k, d] of the distances ``k-1 .. 0``; ``hidden``
        [q, k] True where a key is masked."""
        queries = x.size(0)
        both = x if memory is None or memory.size(0) == 0 else torch.cat([memory, x], 0)
        keys = both.size(0)
        q, k, v = self.qkv(self.norm(both) if self.pre_lnorm else both).chunk(3, dim=-1)
        q, k, v = self.split_heads(q[-queries:]), self.split_heads(k), self.split_heads(v)
        r = self.position(encodings).view(keys, self.heads, self.d_head)
        content_bias, position_bias = biases  # u, v of the paper: [heads, d_head]
        by_distance = torch.einsum("bhid,khd->bhik", q + position_bias[:, None], r)
        # key j of query i is at distance (memory + i - j): row k-1-distance of the
        # encodings; future keys (masked anyway) are clamped into range
        rows = torch.arange(queries, device=x.device)[:, None] + (keys - queries)
        index = (keys - 1 - rows + torch.arange(keys, device=x.device)[None, :]).clamp(0, keys - 1)
        position = by_distance.gather(-1, index.expand(*by_distance.shape[:2], -1, -1))
        position = position / math.sqrt(self.d_head)
        bias = position.masked_fill(hidden, float("-inf"))
        attended = F.scaled_dot_product_attention(
            q + content_bias[:, None],
            k,
            v,
            attn_mask=bias,
            dropout_p=self.dropatt if self.training else 0.0,
        )
        attended = attended.permute(2, 0, 1, 3).reshape(queries, x.size(1), -1)
        out = self.drop(self.out(attended))
        return x + out if self.pre_lnorm else self.norm(x + out)


class DecoderLayer(nn.Module):
    """Relative attention, then a position-wise feed-forward, each with a residual."""

    def __init__(self, o: TransformerXLOptions) -> None:
        super().__init__()
        self.attention = RelativeAttention(o)
        self.feed_forward = nn.Sequential(
            nn.Linear(o.d_model, o.d_inner),
            nn.ReLU(),
            nn.Dropout(o.dropout),
            nn.Linear(o.d_inner, o.d_model),
            nn.Dropout(o.dropout),
        )
        self.norm = nn.LayerNorm(o.d_model)
        self.pre_lnorm = o.pre_lnorm

    def forward(self, x: torch.Tensor, *attention_inputs: Any) -> torch.Tensor:
        x = self.attention(x, *attention_inputs)
        if self.pre_lnorm:
            return x + self.feed_forward(self.norm(x))
        return self.norm(x + self.feed_forward(x))


class TransformerXLNetwork(nn.Module):
    """Word inputs (an embedding, or adaptive input), decoder layers with memory, and the
    output layer the options choose; ``counts`` are the train split's token counts (None
    when rebuilt to load a checkpoint)."""

    def __init__(
        self, vocab_size: int, o: TransformerXLOptions, counts: Sequence[float] | None = None
    ) -> None:
        super().__init__()
        self.options = o
        layer, layer_options = o.output_layer()
        self.output: OutputNetwork = layer.build(o.d_model, vocab_size, counts, layer_options)
        self.scale = math.sqrt(o.d_model)  # as the reference scales its embeddings
        if o.adaptive_input:
            softmax = self.output.softmax  # the options checked output=adaptive
            self.words: nn.Module = AdaptiveInput(
                vocab_size,
                o.d_model,
                softmax.cutoffs[:-1],
                softmax.div_value,
                counts,
                scale=self.scale,
                init_std=o.init_std,
                projection_std=o.init_std / 2,
            )
            if o.tied:
                self.words.tie_to(self.output, projections=o.tie_projections)
        else:
            self.words = nn.Embedding(vocab_size, o.d_model)
            if o.tied:
                self.output.weight = self.words.weight
        self.layers = nn.ModuleList(DecoderLayer(o) for _ in range(o.layers))
        self.content_bias = nn.Parameter(torch.zeros(o.heads, o.d_head))
        self.position_bias = nn.Parameter(torch.zeros(o.heads, o.d_head))
        self.drop = nn.Dropout(o.dropout)
        self._initialise(o.init_std)

    def _initialise(self, std: float) -> None:
        """N(0, std) for every matrix, zeros for biases, as the reference's ``init 'normal'``
        (layer norms keep weight 1, bias 0)."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0.0, std)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, 0.0, std)
        nn.init.normal_(self.content_bias, 0.0, std)
        nn.init.normal_(self.position_bias, 0.0, std)

    @property
    def training_loss_is_nll(self) -> bool:
        return self.output.exact

    def embed(self, inputs: torch.Tensor) -> torch.Tensor:
        if isinstance(self.words, AdaptiveInput):
            return self.words(inputs)  # scaled inside
        return self.words(inputs) * self.scale

    def forward(
        self, inputs: torch.Tensor, memory: Memory, mem_len: int, hidden: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, Memory]:
        """``inputs`` [q, b] -> features [q, b, d_model] and the memory for the next segment.

        ``hidden`` [q, m + q] (True: masked) replaces the causal mask; the tests use it to
        give a whole sequence the attention span segments with memory have."""
        x = self.drop(self.embed(inputs))
        queries, held = inputs.size(0), 0 if memory is None else memory[0].size(0)
        keys = held + queries
        if hidden is None:
            hidden = causal_mask(queries, held, inputs.device)
        distances = torch.arange(keys - 1, -1, -1, device=inputs.device)
        if self.options.clamp_len is not None:
            distances = distances.clamp(max=self.options.clamp_len)
        encodings = self.drop(sinusoids(distances, self.options.d_model).to(x.dtype))
        biases = (self.content_bias, self.position_bias)
        entering = []
        for i, layer in enumerate(self.layers):
            entering.append(x)
            x = layer(x, None if memory is None else memory[i], encodings, biases, hidden)
        return self.drop(x), next_memory(memory, entering, mem_len)

    def training_loss(
        self, inputs: torch.Tensor, targets: torch.Tensor, memory: Memory
    ) -> tuple[torch.Tensor, Memory]:
        features, memory = self(inputs, memory, self.options.mem_len)
        flat = features.reshape(-1, features.size(-1))
        return self.output.training_loss(flat, targets.reshape(-1)), memory

    def target_logprobs(
        self, inputs: torch.Tensor, targets: torch.Tensor, memory: Memory, mem_len: int
    ) -> tuple[torch.Tensor, Memory]:
        features, memory = self(inputs, memory, mem_len)
        flat = features.reshape(-1, features.size(-1))
        return self.output.target_logprobs(flat, targets.reshape(-1)).view_as(targets), memory


def next_memory(memory: Memory, entering: list[torch.Tensor], mem_len: int) -> Memory:
    """The last ``mem_len`` states that entered each layer, old memory first, without
    gradient (the paper's stop-gradient: a segment never trains through earlier ones)."""
    if mem_len == 0:
        return None
    with torch.no_grad():
        return tuple(
            (state if memory is None else torch.cat([memory[i], state], 0))[-mem_len:].detach()
            for i, state in enumerate(entering)
        )
