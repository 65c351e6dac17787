"""The recurrent model plugins ``lstm``, ``gru`` and ``rnn``: one implementation, three cells.

embedding -> stacked nn.LSTM / nn.GRU / nn.RNN (cuDNN on GPU) -> an output layer (the
full softmax unless ``--set output=...`` chooses another, see ``bench output-layers``),
trained with truncated BPTT (``bench.training.train_bptt``) and scored in stream mode with the
state carried over the whole split. The defaults suit the embedded Tiny Shakespeare
character corpus; published configurations set their own options. This module stays
free of torch imports (``bench models`` must be instant); the network lives in
``bench_plugins.recurrent.network``, the options in ``bench_plugins.recurrent.options``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from bench import (
    EvalProtocol,
    HiddenScores,
    LanguageModel,
    ScoredTokens,
    TokenizedSplit,
    TrainingContext,
    Vocabulary,
    hookimpl,
    output_label,
    token_counts,
)
from bench_plugins.recurrent.options import LSTMOptions, RecurrentOptions, RNNOptions


class RecurrentModel(LanguageModel):
    """Shared by the three cells; a subclass names its ``cell``."""

    Options = RecurrentOptions
    scoring_mode = "stream"
    cell: ClassVar[str] = "lstm"

    def __init__(self, options: RecurrentOptions, vocab: Vocabulary, device: str) -> None:
        super().__init__(options, vocab, device)
        self.options: RecurrentOptions = options
        self._network: Any = None

    @property
    def network(self) -> Any:
        """The torch network; built on first use without train counts (to score, or to
        load a checkpoint, which restores what the output layer learnt from them)."""
        if self._network is None:
            self._network = self.build_network(counts=None)
        return self._network

    def build_network(self, counts: np.ndarray | None) -> Any:
        """The torch module for this vocabulary and these train counts (the output layer's
        proposals, cutoffs and classes come from them); a subclass with another network
        (``rnn-maxent``) overrides it."""
        from bench_plugins.recurrent.network import RecurrentNetwork

        return RecurrentNetwork(len(self.vocab), self.options, self.cell, counts).to(self.device)

    def fit(self, context: TrainingContext) -> None:
        from bench.training import train_bptt

        # built here, where the train split is known: sampling and frequency-based output
        # layers take their proposal, frequency order or classes from its token counts
        counts = token_counts(context.train.ids, len(self.vocab))
        self._network = self.build_network(counts)
        train_bptt(self._network, self.options, context)

    def eval_protocol(self, split: TokenizedSplit) -> EvalProtocol:
        return EvalProtocol(mode="stream", batch_size=self.options.eval_batch_size, context=None)

    def score(self, split: TokenizedSplit, protocol: EvalProtocol) -> Iterator[ScoredTokens]:
        from bench_plugins.recurrent.network import score_stream

        return score_stream(self.network, split, self.vocab.eos_id, protocol, self.device)

    def score_with_hidden(
        self, split: TokenizedSplit, protocol: EvalProtocol
    ) -> Iterator[HiddenScores]:
        """As :meth:`score`, with the last layer's output behind each prediction."""
        from bench_plugins.recurrent.network import score_stream_with_hidden

        return score_stream_with_hidden(
            self.network, split, self.vocab.eos_id, protocol, self.device
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
        """Sample ``tokens`` ids after ``prompt`` (which follows an implicit end-of-sentence)."""
        from bench.training import TokenSampler
        from bench_plugins.recurrent.network import sample

        sampler = TokenSampler(
            temperature=temperature, top_k=top_k, top_p=top_p, seed=seed, device=self.device
        )
        return sample(self.network, [self.vocab.eos_id, *prompt], tokens, sampler, self.device)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.network.parameters())

    def flops_per_token(self) -> int:
        """Counted as for a full softmax over the vocabulary (bench.training.flops): with an
        approximate output layer the run's fraction of peak is an upper estimate."""
        from bench.training import recurrent_forward_flops

        o = self.options
        return recurrent_forward_flops(
            self.cell,
            o.layers,
            o.embedding_size,
            o.hidden_size,
            len(self.vocab),
            getattr(o, "projection_size", None),
        )

    def label(self) -> str:
        o = self.options
        name = self.cell.upper()
        if isinstance(o, RNNOptions):
            name += f"-{o.nonlinearity}"
        size = f"{o.hidden_size}" + (f"-{o.output_size}" if o.output_size != o.hidden_size else "")
        return (
            f"{name} {o.layers}x{size}"
            + (" tied" if o.tied else "")
            + (" var-dropout" if o.variational and o.dropout else "")
            + output_label(o, len(self.vocab))
        )


class LSTMModel(RecurrentModel):
    """LSTM language model (embedding -> LSTM layers -> softmax), truncated-BPTT trained."""

    Options = LSTMOptions

    cell = "lstm"


class GRUModel(RecurrentModel):
    """GRU language model (embedding -> GRU layers -> softmax), truncated-BPTT trained."""

    cell = "gru"


class RNNModel(RecurrentModel):
    """Elman RNN language model (tanh or relu cells), truncated-BPTT trained."""

    Options = RNNOptions
    cell = "rnn"


@hookimpl
def register_models(register: Any) -> None:
    register("lstm", LSTMModel)
    register("gru", GRUModel)
    register("rnn", RNNModel, aliases=("elman",))
