"""The ``lstm`` model plugin: embedding -> nn.LSTM (cuDNN on GPU) -> linear softmax.

Trained with truncated BPTT (``bench.training.train_bptt``) and scored in stream mode
with the state carried over the whole split. The defaults suit the embedded Tiny
Shakespeare character corpus; published configurations set their own options.
This module stays free of torch imports (``bench models`` must be instant); the
network lives in ``bench_plugins.recurrent_network``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import Field, model_validator

from bench import hookimpl
from bench.model import EvalProtocol, LanguageModel, ScoredTokens, TrainingContext
from bench.tokens import TokenizedSplit, Vocabulary
from bench.training_options import TrainingOptions


class LSTMOptions(TrainingOptions):
    layers: int = Field(2, ge=1, description="stacked LSTM layers")
    embedding_size: int = Field(128, ge=1, description="input embedding size")
    hidden_size: int = Field(256, ge=1, description="LSTM hidden (and cell) size")
    dropout: float = Field(0.1, ge=0, lt=1, description="dropout on embeddings, between layers "
                           "and before the output layer")
    tied: bool = Field(False, description="share input embedding and output weights "
                       "(Press & Wolf 2016; needs embedding_size == hidden_size)")
    init_range: float = Field(0.1, gt=0, description="uniform init range of embedding and "
                              "output weights")

    @model_validator(mode="after")
    def _tied_sizes_match(self) -> LSTMOptions:
        if self.tied and self.embedding_size != self.hidden_size:
            raise ValueError("tied=true needs embedding_size == hidden_size "
                             f"(got {self.embedding_size} and {self.hidden_size})")
        return self


class LSTMModel(LanguageModel):
    """LSTM language model (embedding -> LSTM layers -> softmax), truncated-BPTT trained."""

    Options = LSTMOptions
    scoring_mode = "stream"

    def __init__(self, options: LSTMOptions, vocab: Vocabulary, device: str) -> None:
        from bench_plugins.recurrent_network import RecurrentNetwork

        super().__init__(options, vocab, device)
        self.options: LSTMOptions = options
        self.network: Any = RecurrentNetwork(len(vocab), options).to(device)

    def fit(self, context: TrainingContext) -> None:
        from bench.training import train_bptt

        train_bptt(self.network, self.options, context)

    def eval_protocol(self, split: TokenizedSplit) -> EvalProtocol:
        return EvalProtocol(mode="stream", batch_size=self.options.eval_batch_size, context=None)

    def score(self, split: TokenizedSplit, protocol: EvalProtocol) -> Iterator[ScoredTokens]:
        from bench_plugins.recurrent_network import score_stream

        return score_stream(self.network, split, self.vocab.eos_id, protocol, self.device)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.network.parameters())

    def label(self) -> str:
        o = self.options
        return f"LSTM {o.layers}x{o.hidden_size}" + (" tied" if o.tied else "")


@hookimpl
def register_models(register: Any) -> None:
    register("lstm", LSTMModel)
