"""The ``awd-lstm`` model plugin: Merity, Keskar & Socher's regularised LSTM (AWD-LSTM).

"Regularizing and Optimizing LSTM Language Models" (ICLR 2018, arXiv:1708.02182), as the
paper and the authors' code (salesforce/awd-lstm-lm) define it: a stack of LSTM layers whose
hidden-to-hidden matrices are weight-dropped (DropConnect, one mask per window), embedding
dropout, locked dropout on the input, between layers and on the output, AR and TAR on the
loss, the output tied to the embedding; trained with variable-length BPTT and NT-ASGD, then
optionally fine-tuned (a second stage of the same run). The network is in
``bench_plugins.awd_lstm.network``, the training in ``bench_plugins.awd_lstm.training``;
its options in ``bench_plugins.awd_lstm.options``; this module stays free of torch imports so that ``bench models`` is instant.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench import (
    EvalProtocol,
    HiddenScores,
    LanguageModel,
    ScoredTokens,
    TokenizedSplit,
    TrainingContext,
    Vocabulary,
    hookimpl,
)
from bench_plugins.awd_lstm.options import AWDLSTMOptions


class AWDLSTMModel(LanguageModel):
    """AWD-LSTM (Merity et al. 2018): weight-dropped LSTM, NT-ASGD, optional fine-tuning."""

    Options = AWDLSTMOptions
    scoring_mode = "stream"

    def __init__(self, options: AWDLSTMOptions, vocab: Vocabulary, device: str) -> None:
        super().__init__(options, vocab, device)
        self.options: AWDLSTMOptions = options
        self._network: Any = None

    @property
    def network(self) -> Any:
        if self._network is None:
            self._network = self.build_network()
        return self._network

    def build_network(self, counts: Any = None) -> Any:
        """The torch network for this vocabulary (``counts`` unused: the output is the full
        softmax tied to the embedding; the argument is the recurrent plugins' signature,
        which benchmarks/recipe_cost.py calls)."""
        from bench_plugins.awd_lstm.network import AWDLSTMNetwork

        return AWDLSTMNetwork(len(self.vocab), self.options).to(self.device)

    def fit(self, context: TrainingContext) -> None:
        from bench_plugins.awd_lstm.training import train_awd_lstm

        train_awd_lstm(self.network, self.options, context)

    def eval_protocol(self, split: TokenizedSplit) -> EvalProtocol:
        """One stream at batch 1 with the state carried, as the paper scores test."""
        return EvalProtocol(mode="stream", batch_size=self.options.eval_chunk, context=None)

    def score(self, split: TokenizedSplit, protocol: EvalProtocol) -> Iterator[ScoredTokens]:
        from bench_plugins.recurrent.network import score_stream  # calls target_logprobs

        return score_stream(self.network, split, self.vocab.eos_id, protocol, self.device)

    def score_with_hidden(
        self, split: TokenizedSplit, protocol: EvalProtocol
    ) -> Iterator[HiddenScores]:
        """As :meth:`score`, with the last layer's output behind each prediction (the
        states Merity et al.'s and Grave et al.'s pointer caches read)."""
        from bench_plugins.awd_lstm.network import score_stream_with_hidden

        return score_stream_with_hidden(
            self.network, split, self.vocab.eos_id, protocol, self.device
        )

    def load_checkpoint(self, path: Path) -> None:
        import torch

        state = torch.load(path, map_location=self.device, weights_only=True)
        self.network.load_state_dict(state["model"])

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.network.parameters())

    def label(self) -> str:
        o = self.options
        sizes = "-".join([str(o.hidden_size)] * (o.layers - 1) + [str(o.embedding_size)])
        training = "NT-ASGD" if o.optimizer == "sgd" else "Adam"
        return f"AWD-LSTM {sizes} tied, {training}" + (" + finetune" if o.finetune_epochs else "")


@hookimpl
def register_models(register: Any) -> None:
    register("awd-lstm", AWDLSTMModel)
