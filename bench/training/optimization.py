"""The optimiser side of a training step, as :class:`TrainingOptions` names it: the
optimizer, the epoch-level learning-rate schedule, mixed precision and gradient clipping
(used by the BPTT loop, :mod:`bench.training`, and by the cost benchmarks)."""

from __future__ import annotations

import math
from typing import Any

import torch

from bench.training.options import TrainingOptions


def build_optimizer(params: Any, options: TrainingOptions) -> torch.optim.Optimizer:
    if options.optimizer == "adam":
        return torch.optim.Adam(params, lr=options.lr, weight_decay=options.weight_decay)
    if options.optimizer == "adamw":  # Loshchilov & Hutter: decay apart from the gradient
        return torch.optim.AdamW(params, lr=options.lr, weight_decay=options.weight_decay)
    if options.optimizer == "adagrad":  # Jozefowicz et al. 2016, Grave et al. 2017 on 1B words
        return torch.optim.Adagrad(
            params,
            lr=options.lr,
            weight_decay=options.weight_decay,
            initial_accumulator_value=options.adagrad_initial_accumulator,
        )
    return torch.optim.SGD(params, lr=options.lr, weight_decay=options.weight_decay)


def build_schedule(
    optimizer: torch.optim.Optimizer, options: TrainingOptions, total_updates: int = 1
) -> Any:
    """The learning-rate schedule: stepped once per epoch, or once per update when
    ``options.schedule_per_update`` (``total_updates``: the updates of the whole run)."""
    if options.schedule_per_update:
        factor = update_lr_factor(options, total_updates)
        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    if options.lr_schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=options.plateau_factor, patience=0, threshold=0.0
        )
    if options.lr_schedule == "step":
        # after k scheduler steps (epochs), epoch k+1 runs at lr * decay^(k+1-decay_after)
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer,
            lambda k: options.lr_decay ** max(0, k + 1 - options.decay_after),
        )
    return None


def update_lr_factor(options: TrainingOptions, total_updates: int) -> Any:
    """lr factor of update k (from 0) under the inverse_sqrt or cosine schedule: a linear
    warm-up to the full lr over ``warmup_steps`` updates (fairseq's), then the decay."""
    warmup = options.warmup_steps

    def factor(k: int) -> float:
        done = k + 1  # the lr of update k+1, which follows k scheduler steps
        if done <= warmup:
            return done / warmup
        if options.lr_schedule == "inverse_sqrt":
            return math.sqrt(max(warmup, 1) / done)
        progress = min(1.0, (done - warmup) / max(1, total_updates - warmup))
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def build_scaler(options: TrainingOptions, device: str) -> Any:
    """A loss scaler for float16 training (bfloat16 has float32's range and needs none)."""
    if options.precision != "fp16":
        return None
    options.check_device(device)  # for callers that skipped the runner's check
    return torch.amp.GradScaler("cuda")


def autocast(options: TrainingOptions, device: str) -> Any:
    """Mixed precision for the forward pass when ``precision`` asks for it."""
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(options.precision)
    return torch.autocast(device.split(":")[0], dtype=dtype, enabled=dtype is not None)


def clip_gradients(params: list[torch.Tensor], max_norm: float) -> torch.Tensor:
    """Scale the gradients so that their joint 2-norm is at most ``max_norm``; return the
    norm before. torch's clip_grad_norm_ where every gradient is dense; sparse ones
    (``sparse_grad``), which it cannot take, are coalesced and count through their values.
    """
    grads = [p.grad for p in params if p.grad is not None]
    if not any(g.is_sparse for g in grads):
        return torch.nn.utils.clip_grad_norm_(params, max_norm)
    norms = []
    for p in params:
        if p.grad is not None and p.grad.is_sparse:
            p.grad = p.grad.coalesce()  # a row read twice is one row of the gradient
            norms.append(torch.linalg.vector_norm(p.grad._values()))
        elif p.grad is not None:
            norms.append(torch.linalg.vector_norm(p.grad))
    total = torch.linalg.vector_norm(torch.stack(norms))
    scale = torch.clamp(max_norm / (total + 1e-6), max=1.0)  # clip_grad_norm_'s formula
    for p in params:
        if p.grad is not None:
            p.grad.mul_(scale)
    return total


def scale_lr(optimizer: torch.optim.Optimizer, schedule: Any, factor: float) -> float:
    """Lower the learning rate for good: LambdaLR recomputes lr from its base_lrs."""
    for group in optimizer.param_groups:
        group["lr"] *= factor
    if hasattr(schedule, "base_lrs"):
        schedule.base_lrs = [lr * factor for lr in schedule.base_lrs]
    return float(optimizer.param_groups[0]["lr"])
