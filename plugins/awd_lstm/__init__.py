"""The ``awd-lstm`` model plugin: Merity, Keskar & Socher's regularised LSTM (AWD-LSTM).

"Regularizing and Optimizing LSTM Language Models" (ICLR 2018, arXiv:1708.02182), as the
paper and the authors' code (salesforce/awd-lstm-lm) define it: a stack of LSTM layers whose
hidden-to-hidden matrices are weight-dropped (DropConnect, one mask per window), embedding
dropout, locked dropout on the input, between layers and on the output, AR and TAR on the
loss, the output tied to the embedding; trained with variable-length BPTT and NT-ASGD, then
optionally fine-tuned (a second stage of the same run). The network is in
``bench_plugins.awd_lstm.network``, the training in ``bench_plugins.awd_lstm.training``;
this module stays free of torch imports so that ``bench models`` is instant.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from bench import (
    EvalProtocol,
    LanguageModel,
    Options,
    ScoredTokens,
    TokenizedSplit,
    TrainingContext,
    Vocabulary,
    hookimpl,
)


class AWDLSTMOptions(Options):
    """Defaults are the authors' main.py defaults (the paper's PTB model, batch 80), except
    ``epochs``; the recipes set what each published row used."""

    layers: int = Field(3, ge=1, description="stacked LSTM layers (--nlayers)")
    embedding_size: int = Field(
        400, ge=1, description="embedding size, also the width of the last LSTM layer (--emsize)"
    )
    hidden_size: int = Field(1150, ge=1, description="width of the other LSTM layers (--nhid)")
    dropout_embedding: float = Field(
        0.1, ge=0, lt=1, description="embedding dropout: whole word rows dropped (--dropoute)"
    )
    dropout_input: float = Field(
        0.65, ge=0, lt=1, description="locked dropout on the LSTM input (--dropouti)"
    )
    dropout_hidden: float = Field(
        0.3, ge=0, lt=1, description="locked dropout between LSTM layers (--dropouth)"
    )
    dropout_output: float = Field(
        0.4, ge=0, lt=1, description="locked dropout on the last layer's output (--dropout)"
    )
    weight_drop: float = Field(
        0.5, ge=0, lt=1, description="DropConnect on hidden-to-hidden matrices (--wdrop)"
    )
    alpha: float = Field(
        2.0, ge=0, description="AR: alpha * mean square of the dropped output (--alpha)"
    )
    beta: float = Field(
        1.0, ge=0, description="TAR: beta * mean square of the last layer's step change (--beta)"
    )
    weight_decay: float = Field(1.2e-6, ge=0, description="L2 penalty on every weight (--wdecay)")
    optimizer: Literal["sgd", "adam"] = Field(
        "sgd", description="sgd (with NT-ASGD) or adam (no averaging, as the code) (--optimizer)"
    )
    lr: float = Field(30.0, gt=0, description="learning rate for a window of bptt tokens (--lr)")
    clip: float = Field(0.25, ge=0, description="gradient-norm clipping, 0: off (--clip)")
    batch_size: int = Field(80, ge=1, description="parallel training streams (--batch_size)")
    bptt: int = Field(70, ge=1, description="base BPTT length (--bptt)")
    bptt_base_probability: float = Field(
        0.95, ge=0, le=1, description="probability of the base length, else half of it"
    )
    bptt_std: float = Field(5.0, ge=0, description="std of the normal the length is drawn from")
    bptt_min: int = Field(5, ge=1, description="shortest window drawn")
    nonmono: int = Field(
        5, ge=1, description="NT-ASGD: average once valid loss has not improved in N epochs"
    )
    when: list[int] = Field(
        default_factory=list,
        description="epochs after which lr is divided by 10, before any switch (--when)",
    )
    epochs: int = Field(3, ge=1, description="epochs of the main stage (--epochs of main.py)")
    finetune_epochs: int = Field(
        0,
        ge=0,
        description="most epochs of the fine-tuning stage (finetune.py's --epochs; 0: none); "
        "it restarts averaged SGD from the best model and stops by the nonmono rule",
    )
    init_range: float = Field(0.1, gt=0, description="uniform init range of the embedding")
    eval_chunk: int = Field(
        256, ge=1, description="tokens per forward call in scoring (speed only)"
    )
    max_steps_per_epoch: int | None = Field(
        None, ge=1, description="stop each epoch after this many steps (quick trials)"
    )
    checkpoint_minutes: float = Field(
        10.0, ge=0, description="write a resumable checkpoint at least this often (0: every step)"
    )


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
