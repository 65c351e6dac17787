"""Options shared by every truncated-BPTT-trained model (kept free of torch imports,
so listing models and options stays instant)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bench.configuration.options import Options
from bench.errors import BenchError
from bench.machine.sharding import check_divisible


class TrainingOptions(Options):
    """Options every BPTT-trained model shares (sizes of the model live in the plugin)."""

    epochs: int = Field(3, ge=1, description="passes over the train split")
    batch_size: int = Field(32, ge=1, description="parallel streams (columns) in training")
    bptt: int = Field(64, ge=1, description="truncated-BPTT window length in tokens")
    optimizer: Literal["sgd", "adam", "adamw", "adagrad"] = Field(
        "adam", description="sgd, adam, adamw (decoupled weight decay) or adagrad"
    )
    # at most float32's largest value: the optimisers hold lr as float32 and overflow above
    lr: float = Field(0.002, gt=0, le=3.4e38, description="initial learning rate")
    # torch starts Adagrad's sum of squared gradients at 0, so its first step moves every
    # weight by lr (g / sqrt(g^2)); TensorFlow starts it at 0.1, Torch7's adaptive-softmax
    # code at 1e-5, where a clipped first gradient moves weights by far less than lr
    adagrad_initial_accumulator: float = Field(
        0.0,
        ge=0,
        description="adagrad: starting value of each weight's sum of squared gradients "
        "(0 as in torch; TensorFlow's default is 0.1)",
    )
    lr_schedule: Literal["plateau", "step", "none", "inverse_sqrt", "cosine"] = Field(
        "plateau",
        description="plateau: multiply lr by plateau_factor when valid ppl does not improve; "
        "step: keep lr for decay_after epochs, then multiply by lr_decay every epoch; "
        "inverse_sqrt: after warmup_steps updates of linear warm-up, lr * "
        "sqrt(warmup_steps / update); cosine: after the warm-up, down to 0 along a half "
        "cosine by the last update of the last epoch",
    )
    warmup_steps: int = Field(
        0, ge=0, description="updates of linear learning-rate warm-up (inverse_sqrt, cosine)"
    )
    plateau_factor: float = Field(0.25, gt=0, le=1, description="lr factor on a valid plateau")
    decay_after: int = Field(4, ge=0, description="epochs at full lr before step decay")
    lr_decay: float = Field(0.5, gt=0, le=1, description="per-epoch lr factor of the step schedule")
    update_freq: int = Field(
        1,
        ge=1,
        description="gradient accumulation: one optimiser update per this many batches, "
        "with the gradient of their joint loss (the update of a batch this many times "
        "larger, in the memory of one)",
    )
    clip: float = Field(0.25, ge=0, description="gradient-norm clipping threshold (0: off)")
    weight_decay: float = Field(0.0, ge=0, description="L2 penalty")
    eval_batch_size: int = Field(
        2048, ge=1, description="tokens scored per forward call in evaluation (speed only)"
    )
    max_steps_per_epoch: int | None = Field(
        None, ge=1, description="stop each epoch after this many updates (quick trials)"
    )
    log_every: int = Field(100, ge=1, description="log the training loss every N updates")
    patience: int | None = Field(
        None, ge=1, description="early stopping: stop after N epochs without a better valid ppl"
    )
    max_nan_recoveries: int = Field(
        3, ge=0, description="NaN/Inf losses survived (restart the epoch, lower the lr)"
    )
    nan_lr_factor: float = Field(0.5, gt=0, lt=1, description="lr factor after a NaN/Inf loss")
    precision: Literal["fp32", "bf16", "fp16"] = Field(
        "fp32",
        description="training arithmetic: fp32, or mixed precision with bf16 or fp16 "
        "autocast (fp16: CUDA only, with dynamic loss scaling); scoring runs in float32",
    )
    checkpoint_minutes: float = Field(
        10.0,
        ge=0,
        description="write a resumable checkpoint at least this often (also at "
        "every epoch's end and on Ctrl-C); 0: after every step",
    )

    @property
    def schedule_per_update(self) -> bool:
        """Whether the learning-rate schedule moves after every update (not every epoch)."""
        return self.lr_schedule in ("inverse_sqrt", "cosine")

    @property
    def training_precision(self) -> str:
        return self.precision

    def check_world(self, world_size: int, backend: str | None) -> None:
        """Each rank trains an equal share of the batch's columns."""
        check_divisible(self.batch_size, world_size)

    def check_device(self, device: str) -> None:
        if self.precision == "fp16" and not device.startswith("cuda"):
            raise BenchError(
                f"precision=fp16 needs a CUDA GPU (device {device} has no float16 "
                "recurrent kernels); use precision=bf16 here"
            )
