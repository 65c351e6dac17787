"""Adaptive input representations (Baevski & Auli 2019, "Adaptive Input Representations
for Neural Language Modeling", ICLR).

The vocabulary, sorted by train frequency, is cut into bands at ``cutoffs``: band 0
holds the ``cutoffs[0]`` most frequent words, band i the words ranked ``cutoffs[i-1]``
to ``cutoffs[i]``, the last band the rest. Band i embeds its words in ``d // factor**i``
dimensions and projects them to ``d`` (the model's width), so rare words, which are seen
too seldom to fill a wide vector, cost fewer parameters::

    band   ranks            embedding          projection
    0      0 .. c0          [c0, d]            [d, d]
    1      c0 .. c1         [c1-c0, d/k]       [d/k, d]
    2      c1 .. vocab      [V-c1, d/k^2]      [d/k^2, d]

With the same cutoffs and ``factor`` equal to the adaptive softmax's ``div_value``, each
band mirrors one cluster of bench's ``adaptive`` output layer (torch's
``AdaptiveLogSoftmaxWithLoss``), and :meth:`AdaptiveInput.tie_to` shares their weights as
the paper does: band 0's embedding is the head's rows of the shortlist words (the head's
rows that score the tail clusters stay its own), band i's embedding is tail cluster i's
word matrix, and band i's projection is that cluster's projection (the same [d/k^i, d]
matrix, read in the other direction). Band 0's projection has no counterpart in the
softmax (its head reads the model's features directly) and stays untied.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bench.api.output_network import counts_tensor, frequency_ranks
from bench.errors import BenchError


def band_widths(d_model: int, bands: int, factor: float) -> list[int]:
    """The embedding width of each band: ``d_model // factor**i`` (at least 1, or an error)."""
    widths = [int(d_model // factor**i) for i in range(bands)]
    if widths[-1] < 1:
        raise BenchError(
            f"adaptive input: band {bands - 1} would be {d_model} // {factor:g}^{bands - 1} = 0 "
            "dimensions wide; use fewer cutoffs or a smaller factor"
        )
    return widths


class AdaptiveInput(nn.Module):
    """Token ids [...] -> vectors [..., d_model] through frequency bands (module docstring).

    ``counts`` are the train split's token counts (the frequency order of the bands), None
    when the module is rebuilt to load a checkpoint, which restores the order. ``scale``
    multiplies the output (Transformer-XL scales embeddings by sqrt(d_model)); weights
    start as N(0, ``init_std``) and projections as N(0, ``projection_std``).
    """

    def __init__(
        self,
        vocab_size: int,
        d_model: int,
        cutoffs: Sequence[int],
        factor: float,
        counts: Any = None,
        *,
        scale: float = 1.0,
        init_std: float = 0.02,
        projection_std: float = 0.01,
    ) -> None:
        super().__init__()
        if list(cutoffs) != sorted(set(cutoffs)) or (cutoffs and cutoffs[-1] >= vocab_size):
            raise BenchError(
                f"adaptive input: cutoffs {list(cutoffs)} must increase strictly and stay "
                f"below the vocabulary size ({vocab_size})"
            )
        self.d_model, self.scale = d_model, scale
        self.edges = [0, *cutoffs, vocab_size]
        self.widths = band_widths(d_model, len(self.edges) - 1, factor)
        self.register_buffer(
            "rank_of", frequency_ranks(counts_tensor(counts, vocab_size), vocab_size)
        )
        self.tied_head: nn.Linear | None = None  # set by tie_to: band 0 is the head's rows
        for i, width in enumerate(self.widths):
            size = self.edges[i + 1] - self.edges[i]
            self.register_parameter(f"band{i}", nn.Parameter(torch.randn(size, width) * init_std))
            self.register_parameter(
                f"projection{i}", nn.Parameter(torch.randn(width, d_model) * projection_std)
            )

    @property
    def bands(self) -> int:
        return len(self.widths)

    def embedding(self, band: int) -> torch.Tensor:
        """Band ``band``'s word matrix [words, width] (a view of the softmax head when tied)."""
        if band == 0 and self.tied_head is not None:
            return self.tied_head.weight[: self.edges[1]]
        return getattr(self, f"band{band}")

    def projection(self, band: int) -> torch.Tensor:
        """Band ``band``'s projection [width, d_model]."""
        return getattr(self, f"projection{band}")

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        ranks = self.rank_of[ids.reshape(-1)]
        out = None
        for i in range(self.bands):
            inside = (ranks >= self.edges[i]) & (ranks < self.edges[i + 1])
            where = inside.nonzero(as_tuple=True)[0]
            if where.numel() == 0:
                continue
            vectors = F.embedding(ranks[where] - self.edges[i], self.embedding(i))
            projected = vectors @ self.projection(i)
            if out is None:
                out = projected.new_zeros(ranks.numel(), self.d_model)
            out = out.index_copy(0, where, projected)
        if out is None:  # no ids at all
            out = self.projection(0).new_zeros(0, self.d_model)
        return (out * self.scale).view(*ids.shape, self.d_model)

    def tie_to(self, output: Any, projections: bool = True) -> None:
        """Share this module's bands with an adaptive softmax's clusters (module docstring).

        ``output`` is the network of bench's ``adaptive`` output layer (or any module with
        an ``nn.AdaptiveLogSoftmaxWithLoss`` as ``softmax`` and the frequency order as
        ``rank_of``); its cutoffs and ``div_value`` must be this module's cutoffs and
        factor. ``projections=False`` ties the word matrices only.
        """
        softmax = getattr(output, "softmax", None)
        if not isinstance(softmax, nn.AdaptiveLogSoftmaxWithLoss):
            raise BenchError(
                "adaptive input: tying needs the adaptive output layer (output=adaptive)"
            )
        if softmax.cutoffs != self.edges[1:] or softmax.in_features != self.d_model:
            raise BenchError(
                f"adaptive input: cutoffs {self.edges[1:-1]} and width {self.d_model} differ "
                f"from the adaptive softmax's {softmax.cutoffs[:-1]} and {softmax.in_features}"
            )
        for i, cluster in enumerate(softmax.tail, start=1):
            projection, words = cluster[0].weight, cluster[1].weight  # [width, d], [words, width]
            if words.shape != self.embedding(i).shape:
                raise BenchError(
                    f"adaptive input: band {i} is {tuple(self.embedding(i).shape)} but the "
                    f"softmax's cluster {i} is {tuple(words.shape)}: use factor = div_value"
                )
            setattr(self, f"band{i}", words)
            if projections:
                setattr(self, f"projection{i}", projection)
        del self.band0  # read from the head from now on: no parameter left unused
        self.tied_head = softmax.head
        self.rank_of = output.rank_of  # one frequency order for both ends

    def __setattr__(self, name: str, value: Any) -> None:
        # the head belongs to the softmax: kept out of this module's children, so that its
        # weight is listed (and saved) once, under the softmax
        if name == "tied_head":
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)
