"""The ``transformer`` model plugin: a decoder-only Transformer language model.

Causal self-attention (torch's ``scaled_dot_product_attention``), pre-LN (GPT-2) or
post-LN (pytorch/examples' TransformerModel), learned or sinusoidal positions, tied
embeddings or adaptive input (Baevski & Auli 2019) tied to the adaptive softmax, trained by bench's loop (``bench.training.train_bptt``) on contiguous blocks
of ``tokens_per_sample`` tokens (AdamW with warm-up and cosine or inverse-square-root
decay by default, SGD as word_language_model) and scored with the window protocol:
windows of ``tokens_per_sample`` tokens advanced by ``eval_stride``. The defaults suit
the embedded Tiny Shakespeare character corpus. This module stays free of torch
imports; the network lives in ``bench_plugins.transformer.network``.
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
from bench_plugins.transformer.options import TransformerOptions


class TransformerModel(LanguageModel):
    """Decoder-only Transformer LM (causal self-attention), scored with sliding windows."""

    Options = TransformerOptions
    scoring_mode = "window"

    def __init__(self, options: TransformerOptions, vocab: Vocabulary, device: str) -> None:
        super().__init__(options, vocab, device)
        self.options: TransformerOptions = options
        self._network: Any = None

    @property
    def network(self) -> Any:
        """The torch network; built without train counts when scoring or loading a checkpoint."""
        if self._network is None:
            self._network = self.build_network(counts=None)
        return self._network

    def build_network(self, counts: np.ndarray | None) -> Any:
        from bench_plugins.transformer.network import TransformerNetwork

        return TransformerNetwork(len(self.vocab), self.options, counts).to(self.device)

    def fit(self, context: TrainingContext) -> None:
        from bench.training import train_bptt

        # the output layer's proposals, cutoffs and classes come from the train counts
        counts = token_counts(context.train.ids, len(self.vocab))
        self._network = self.build_network(counts)
        train_bptt(self._network, self.options, context)

    def eval_protocol(self, split: TokenizedSplit) -> EvalProtocol:
        o = self.options
        return EvalProtocol(
            mode="window",
            batch_size=self.windows_per_batch,
            context=o.tokens_per_sample,
            stride=o.stride,
        )

    @property
    def windows_per_batch(self) -> int:
        """Windows per forward pass: about ``eval_batch_size`` positions (speed only)."""
        return max(1, self.options.eval_batch_size // self.options.tokens_per_sample)

    def score(self, split: TokenizedSplit, protocol: EvalProtocol) -> Iterator[ScoredTokens]:
        from bench_plugins.transformer.scoring import score_windows

        assert protocol.context is not None and protocol.stride is not None
        return score_windows(self.network, split.ids, self.vocab.eos_id, protocol, self.device)

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
        each token seeing the last ``tokens_per_sample`` ids before it."""
        from bench.training import TokenSampler
        from bench_plugins.transformer.generation import sample

        sampler = TokenSampler(
            temperature=temperature, top_k=top_k, top_p=top_p, seed=seed, device=self.device
        )
        return sample(self.network, [self.vocab.eos_id, *prompt], tokens, sampler, self.device)

    def num_parameters(self) -> int:
        # a tied word matrix counts once (parameters() yields each tensor once)
        return sum(p.numel() for p in self.network.parameters())

    def flops_per_token(self) -> int:
        """Matrix products of one token's forward pass: per block 4 d^2 (attention
        projections) + 2 d f (feed-forward) + the attention itself (2 d T / 2 on average
        over a causal block of T), plus the d x vocab softmax, 2 FLOPs per multiply-add."""
        o = self.options
        d, f, t = o.d_model, o.ffn_size, o.tokens_per_sample
        per_block = 4 * d * d + 2 * d * f + d * t
        return 2 * (o.layers * per_block + d * len(self.vocab))

    def label(self) -> str:
        o = self.options
        return (
            f"Transformer {o.layers}x{o.d_model} {o.norm}-LN {o.positions}"
            + (" adaptive input" if o.adaptive_input else "")
            + (" tied" if o.tied else "")
            + output_label(o, len(self.vocab))
        )


@hookimpl
def register_models(register: Any) -> None:
    register("transformer", TransformerModel, aliases=("gpt",))
