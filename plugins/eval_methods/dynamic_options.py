"""The options of dynamic evaluation (light: no torch), shared by the method and its loop."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bench import Options


class DynamicOptions(Options):
    rule: Literal["sgd", "rms"] = Field(
        "rms",
        description="sgd: theta -= lr g + decay (theta - theta_trained); rms: the gradient "
        "divided by its root mean square on train data, and the decay scaled per weight by "
        "that RMS over its mean (Krause et al. 2018, eq. 7-8)",
    )
    lr: float = Field(0.0001, gt=0.0, description="eta: the step size")
    decay: float = Field(
        0.001, ge=0.0, description="lambda: the pull back towards the trained weights per step"
    )
    segment: int = Field(
        20, ge=1, description="tokens per segment: each is scored, then learnt from"
    )
    rms_tokens: int = Field(
        20_000,
        ge=1,
        description="rule rms: train tokens over which the gradients' mean square is taken "
        "(the first ones; a number above the split's size takes it all)",
    )
    rms_batch: int = Field(
        1,
        ge=1,
        description="rule rms: parallel streams of those train tokens per gradient (Krause "
        "et al.'s code: 100), each gradient that of the mean loss over batch x segment tokens",
    )
    eps: float = Field(2e-5, gt=0.0, description="rule rms: added to the RMS in the division")
