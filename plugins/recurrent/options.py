"""The options of the recurrent model plugins (``lstm``, ``gru``, ``rnn``, ``rnn-maxent``).

A module of their own, free of torch, so that the plugins (which ``bench models`` lists
without torch) and their networks (which build from them) both import them without
importing each other.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from bench import BenchError, Options, OutputLayer, OutputLayerChoice
from bench.training import TrainingOptions


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

    def check_world(self, world_size: int, backend: str | None) -> None:
        super().check_world(world_size, backend)
        if self.sparse_grad and backend == "nccl":
            # refused rather than densified: a dense copy of an 800k-word matrix per step
            # would silently cost what sparse_grad is there to save
            raise BenchError(
                "sparse_grad=true cannot train on several GPUs: NCCL all-reduces "
                "only dense tensors; set sparse_grad=false (the same updates with "
                "sgd or adagrad, at the cost of all-reducing each word matrix whole)"
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


# The hash works modulo this prime (see maxent_network), so no table can be larger.
MAX_TABLE_SIZE = 2**31 - 1


class MaxEntOptions(RNNOptions):
    maxent_order: int = Field(
        3,
        ge=1,
        description="order N of the direct n-gram connections: "
        "orders 1..N, 1 is a per-word bias, 2 adds the previous token, ...",
    )
    maxent_size: int = Field(
        2**22,
        ge=1,
        le=MAX_TABLE_SIZE,
        description="hash table entries shared by all orders (rnnlm's "
        "-direct, given there in millions); vocab-size more are "
        "allocated so a word slice never wraps",
    )

    def check_output_layer(self, layer: type[OutputLayer], layer_options: Options) -> None:
        super().check_output_layer(layer, layer_options)
        # the direct weights are added to logits before an exact softmax: the full one,
        # or both levels of the class softmax (as Mikolov's RNNME); sampled and other
        # approximate layers never form those logits
        if self.output not in ("full", "class"):
            raise BenchError(
                f"rnn-maxent adds its n-gram weights to the logits of an exact "
                f"softmax (output=full or class); output={self.output!r} is not "
                f"supported"
            )
