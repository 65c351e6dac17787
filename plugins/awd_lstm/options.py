"""The options of the ``awd-lstm`` model plugin: a module of their own, free of torch, so
that the plugin and its network and training both import them without importing each other."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bench import Options


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
