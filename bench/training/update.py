"""One optimiser update, with gradient accumulation (``update_freq``).

An update takes a group of ``update_freq`` consecutive batches. Each batch's loss (a mean
over its tokens) is weighted by its share of the group's tokens before its backward pass,
so the summed gradients are those of the mean loss over the whole group: the gradient a
batch ``update_freq`` times larger would give, with the memory of one batch (fairseq's
``--update-freq``). Then the gradients are exchanged between ranks (once per update, not
per batch), clipped as one, and the optimiser steps. Read :func:`accumulated_update` top
to bottom.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from itertools import islice
from typing import Any, TypeVar

import torch

from bench.machine.sharding import map_state
from bench.training.optimization import autocast, clip_gradients
from bench.training.options import TrainingOptions

T = TypeVar("T")
Batch = tuple[torch.Tensor, torch.Tensor]


def detach_state(state: Any) -> Any:
    """Cut the graph at a window boundary but keep the values (truncated BPTT)."""
    return map_state(state, lambda part: part.detach())


def groups_of(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` in consecutive lists of ``size`` (the last may be shorter)."""
    iterator = iter(items)
    while group := list(islice(iterator, size)):
        yield group


def accumulated_update(
    step: Callable[[torch.Tensor, torch.Tensor, Any], tuple[torch.Tensor, Any]],
    group: Sequence[Batch],
    state: Any,
    params: list[torch.Tensor],
    optimizer: torch.optim.Optimizer,
    scaler: Any,
    options: TrainingOptions,
    device: str,
    no_sync: Callable[[], AbstractContextManager[Any]] = nullcontext,
    sync_gradients: Callable[[], None] = lambda: None,
) -> tuple[torch.Tensor, torch.Tensor, Any]:
    """One update from the batches of ``group`` (module docstring): the summed loss of
    their tokens (detached), the gradient norm before clipping, and the state after the
    last batch (carried from batch to batch, the graph cut between them).

    With a float16 loss scaler the gradients are unscaled before clipping, and an update
    whose gradients overflowed is skipped by the scaler (its norm is then reported as 0).
    """
    optimizer.zero_grad(set_to_none=True)
    tokens = sum(targets.numel() for _, targets in group)
    loss_sum = torch.zeros((), device=device, dtype=torch.float64)
    for index, (inputs, targets) in enumerate(group):
        state = detach_state(state)
        last = index == len(group) - 1
        with nullcontext() if last else no_sync():  # ranks exchange gradients once per update
            with autocast(options, device):
                loss, state = step(inputs, targets, state)
            weighted = loss * (targets.numel() / tokens)
            (weighted if scaler is None else scaler.scale(weighted)).backward()
        loss_sum += loss.detach().double() * targets.numel()
    sync_gradients()
    limit = options.clip or math.inf  # clip=0: measured, not clipped
    if scaler is None:
        norm = clip_gradients(params, limit)
        optimizer.step()
        return loss_sum, norm, state
    scaler.unscale_(optimizer)
    norm = clip_gradients(params, limit)
    scaler.step(optimizer)
    scaler.update()
    return loss_sum, torch.where(torch.isfinite(norm), norm, torch.zeros_like(norm)), state
