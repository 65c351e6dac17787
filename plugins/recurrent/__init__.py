"""The recurrent model plugins ``lstm``, ``gru`` and ``rnn``: one implementation, three cells.

embedding -> stacked nn.LSTM / nn.GRU / nn.RNN (cuDNN on GPU) -> an output layer (the
full softmax unless ``--set output=...`` chooses another, see ``bench output-layers``),
trained with truncated BPTT (``bench.training.train_bptt``) and scored in stream mode with the
state carried over the whole split. The defaults suit the embedded Tiny Shakespeare
character corpus; published configurations set their own options. This module stays
free of torch imports (``bench models`` must be instant); the network lives in
``bench_plugins.recurrent_network``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from bench import hookimpl
from bench.api.model import EvalProtocol, LanguageModel, ScoredTokens, TrainingContext
from bench.api.output_layers import OutputLayer, OutputLayerChoice, output_label
from bench.configuration.options import Options
from bench.errors import BenchError
from bench.tokenization.tokens import TokenizedSplit, Vocabulary, token_counts
from bench.training.options import TrainingOptions


class RecurrentOptions(OutputLayerChoice, TrainingOptions):
    layers: int = Field(2, ge=1, description="stacked recurrent layers")
    embedding_size: int = Field(128, ge=1, description="input embedding size")
    hidden_size: int = Field(256, ge=1, description="hidden state size")
    dropout: float = Field(
        0.1,
        ge=0,
        lt=1,
        description="dropout on embeddings, between layers and before the output layer",
    )
    variational: bool = Field(
        False,
        description="locked (variational) dropout: one mask per "
        "sequence for embeddings, between layers and before the output "
        "(Gal & Ghahramani 2016) instead of a fresh mask per token",
    )
    tied: bool = Field(
        False,
        description="share input embedding and output weights "
        "(Press & Wolf 2016; needs embedding_size == hidden_size)",
    )
    init_range: float = Field(
        0.1, gt=0, description="uniform init range of embedding and output weights"
    )
    sparse_grad: bool = Field(
        False,
        description="word matrices get sparse gradients: a step "
        "updates only the rows it read (the input embedding; the word "
        "weights of sampled, nce, blackout and class output layers). The "
        "same training, much faster at large vocabularies; needs "
        "optimizer sgd or adagrad and weight_decay 0",
    )

    @property
    def output_size(self) -> int:
        """Size of what the recurrent layers hand the output layer."""
        return self.hidden_size

    @model_validator(mode="after")
    def _tied_sizes_match(self) -> RecurrentOptions:
        if self.tied and self.embedding_size != self.output_size:
            raise ValueError(
                "tied=true needs embedding_size equal to the recurrent output "
                f"size (got {self.embedding_size} and {self.output_size})"
            )
        return self

    @model_validator(mode="after")
    def _sparse_updates_supported(self) -> RecurrentOptions:
        if self.sparse_grad and self.optimizer == "adam":
            raise ValueError(
                "sparse_grad=true needs optimizer sgd or adagrad: Adam's moments "
                "decay every row at every step, so its update is dense"
            )
        if self.sparse_grad and self.weight_decay:
            raise ValueError(
                "sparse_grad=true needs weight_decay=0: the decay touches every row at every step"
            )
        return self

    def check_output_layer(self, layer: type[OutputLayer], layer_options: Options) -> None:
        if self.tied and not layer.tieable:
            raise BenchError(
                f"tied=true needs an output layer with one word matrix to share "
                f"with the embedding; output layer {self.output!r} has none "
                "(full, sampled, nce, blackout and class have one)"
            )


class LSTMOptions(RecurrentOptions):
    projection_size: int | None = Field(
        None,
        ge=1,
        description="LSTM with a projection layer (LSTMP, Sak et al. 2014): the "
        "hidden state is projected to this size, as in Jozefowicz et al.'s LSTM-2048-512",
    )

    @property
    def output_size(self) -> int:
        return self.projection_size or self.hidden_size


class RNNOptions(RecurrentOptions):
    nonlinearity: Literal["tanh", "relu"] = Field("tanh", description="Elman cell activation")


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
        from bench.training.loop import train_bptt

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
        from bench_plugins.recurrent.network import sample

        return sample(
            self.network,
            [self.vocab.eos_id, *prompt],
            tokens,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            seed=seed,
            device=self.device,
        )

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.network.parameters())

    def flops_per_token(self) -> int:
        """Counted as for a full softmax over the vocabulary (bench.flops): with an
        approximate output layer the run's fraction of peak is an upper estimate."""
        from bench.training.flops import recurrent_forward_flops

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
