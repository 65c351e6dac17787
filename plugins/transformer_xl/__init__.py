"""The ``transformer-xl`` model plugin: Transformer-XL (Dai et al. 2019) with segment-level
recurrence and relative positional encoding, optionally with adaptive input (Baevski &
Auli 2019) tied to the adaptive softmax.

Trained with ``bench.training.train_bptt`` on segments of ``bptt`` tokens, the memory of
each layer carried from segment to segment as a recurrent state (so a checkpoint taken
mid-epoch holds it and a resumed run continues with it); scored in stream mode, segments
of ``eval_bptt`` tokens with ``eval_mem_len`` states of memory, from the split's first
token to its last. This module stays free of torch; the network is in
``bench_plugins.transformer_xl.network``. See docs/transformer-xl.md.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench import (
    EvalProtocol,
    LanguageModel,
    ScoredTokens,
    TokenizedSplit,
    TrainingContext,
    Vocabulary,
    hookimpl,
    output_label,
    token_counts,
)
from bench_plugins.transformer_xl.options import TransformerXLOptions


class TransformerXLModel(LanguageModel):
    """Transformer-XL: relative attention over the segment and a memory of earlier ones."""

    Options = TransformerXLOptions
    scoring_mode = "stream"

    def __init__(self, options: TransformerXLOptions, vocab: Vocabulary, device: str) -> None:
        super().__init__(options, vocab, device)
        self.options: TransformerXLOptions = options
        self._network: Any = None

    @property
    def network(self) -> Any:
        """The torch network, built on first use without train counts (to score, or to load
        a checkpoint, which restores the frequency order the counts gave)."""
        if self._network is None:
            self._network = self.build_network(counts=None)
        return self._network

    def build_network(self, counts: np.ndarray | None) -> Any:
        from bench_plugins.transformer_xl.network import TransformerXLNetwork

        return TransformerXLNetwork(len(self.vocab), self.options, counts).to(self.device)

    def fit(self, context: TrainingContext) -> None:
        from bench.training import train_bptt

        # built here: the adaptive softmax and adaptive input take their frequency order
        # from the train split's token counts
        self._network = self.build_network(token_counts(context.train.ids, len(self.vocab)))
        train_bptt(self._network, self.options, context)

    def eval_protocol(self, split: TokenizedSplit) -> EvalProtocol:
        # context: the attention span of a token's first layer (segment + memory)
        o = self.options
        return EvalProtocol(mode="stream", batch_size=o.eval_bptt, context=o.scoring_mem_len)

    def score(self, split: TokenizedSplit, protocol: EvalProtocol) -> Iterator[ScoredTokens]:
        from bench_plugins.transformer_xl.scoring import score_stream

        return score_stream(
            self.network,
            split,
            self.vocab.eos_id,
            protocol.batch_size,
            self.options.scoring_mem_len,
            self.device,
        )

    def load_checkpoint(self, path: Path) -> None:
        """Load the weights saved by training (``best.pt``)."""
        import torch

        state = torch.load(path, map_location=self.device, weights_only=True)
        self.network.load_state_dict(state["model"])

    def generate(
        self,
        prompt: Sequence[int],
        tokens: int,
        *,
        temperature: float = 1.0,
        top_k: int | None = None,
        seed: int = 0,
        top_p: float | None = None,
    ) -> list[int]:
        """Sample ``tokens`` ids after ``prompt`` (which follows an implicit end-of-sentence),
        read with the segments and memory of scoring (``eval_bptt``, ``eval_mem_len``)."""
        from bench.training import TokenSampler
        from bench_plugins.transformer_xl.generation import SegmentReader, sample

        sampler = TokenSampler(
            temperature=temperature, top_k=top_k, top_p=top_p, seed=seed, device=self.device
        )
        o = self.options
        reader = SegmentReader(self.network, o.eval_bptt, o.scoring_mem_len, self.device)
        return sample(reader, [self.vocab.eos_id, *prompt], tokens, sampler)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.network.parameters())

    def label(self) -> str:
        o = self.options
        return (
            f"Transformer-XL {o.layers}x{o.d_model} mem {o.mem_len}"
            + (" adaptive input" if o.adaptive_input else "")
            + (" tied" if o.tied else "")
            + output_label(o, len(self.vocab))
        )


@hookimpl
def register_models(register: Any) -> None:
    register("transformer-xl", TransformerXLModel, aliases=("txl",))
