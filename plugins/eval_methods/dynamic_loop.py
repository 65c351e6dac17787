"""The torch loop of dynamic evaluation: score a segment, then learn from it.

The model's network must score a stream as the recurrent plugins' does:
``network.target_logprobs(inputs [T, B], targets [T, B], state) -> (logprobs [T, B], state)``
with gradients when asked (docs/evaluation-methods.md).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from bench import BenchError, RescoreBase, ScoredTokens, TokenizedSplit
from bench.training import detach_state, stream_chunks
from bench_plugins.eval_methods.dynamic_options import DynamicOptions


def dynamic_scores(
    base: RescoreBase, split: TokenizedSplit, options: DynamicOptions
) -> Iterator[ScoredTokens]:
    """Yield each segment's log-probabilities *before* the step that learns from it; the
    trained weights are put back when the split is done (or abandoned)."""
    network = base.model.network
    if not hasattr(network, "target_logprobs"):
        raise BenchError(
            f"{type(base.model).__name__}'s network has no target_logprobs(inputs, targets, "
            "state): dynamic evaluation cannot run it"
        )
    params = [p for p in network.parameters() if p.requires_grad]
    trained = [p.detach().clone() for p in params]
    scale = _rms_scale(base, network, params, options) if options.rule == "rms" else None
    device = trained[0].device
    network.eval()  # no dropout: the scores are those of the model, adapting
    state: Any = None
    try:
        segments = base.progress(
            stream_chunks(split.ids, base.vocab.eos_id, options.segment),
            total=math.ceil(len(split) / options.segment),
            desc=f"dynamic evaluation of {split.name}",
            unit="segment",
        )
        for chunk in segments:
            inputs = torch.as_tensor(chunk.inputs, device=device).unsqueeze(1)
            targets = torch.as_tensor(chunk.targets, device=device).unsqueeze(1)
            network.zero_grad(set_to_none=True)
            logprobs, state = network.target_logprobs(inputs, targets, state)
            yield ScoredTokens.of(chunk.positions, logprobs.detach().squeeze(1))
            (-logprobs.mean()).backward()  # only now: the segment has been scored
            _step(params, trained, options, scale)
            state = detach_state(state)
    finally:
        with torch.no_grad():
            for p, original in zip(params, trained, strict=True):
                p.copy_(original)
        network.zero_grad(set_to_none=True)


@torch.no_grad()
def _step(
    params: list[torch.Tensor],
    trained: list[torch.Tensor],
    options: DynamicOptions,
    scale: tuple[list[torch.Tensor], list[torch.Tensor]] | None,
) -> None:
    for index, (p, original) in enumerate(zip(params, trained, strict=True)):
        if p.grad is None:
            continue
        grad = p.grad.to_dense() if p.grad.is_sparse else p.grad
        if scale is None:  # SGD (Krause et al. 2018, eq. 5 with the decay of eq. 6)
            p.add_(grad, alpha=-options.lr)
            p.add_(original - p, alpha=options.decay)
        else:  # RMS-normalised (eq. 7-8): per-weight step and per-weight decay
            rms, decay_scale = scale[0][index], scale[1][index]
            p.add_(-options.lr * grad / (rms + options.eps))
            p.add_(options.decay * decay_scale * (original - p))


def _rms_scale(
    base: RescoreBase, network: Any, params: list[torch.Tensor], options: DynamicOptions
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The root mean square of each weight's gradient over the first ``rms_tokens`` of
    train (``rms_batch`` streams, segment by segment, with the trained weights), and the
    decay's per-weight scale: that RMS over its mean, capped at 1/decay so that no weight
    overshoots its trained value. The mean is that of each weight tensor's mean RMS, as in
    Krause et al.'s code, whose published settings the recipes use."""
    kept = base.shared
    key = ("dynamic-eval rms", options.segment, options.rms_tokens, options.rms_batch)
    if key not in kept:
        squares = [torch.zeros_like(p) for p in params]
        state: Any = None
        batches = 0
        network.eval()
        for inputs, targets in _train_segments(base, options, params[0].device):
            network.zero_grad(set_to_none=True)
            logprobs, state = network.target_logprobs(inputs, targets, state)
            (-logprobs.mean()).backward()
            state = detach_state(state)
            batches += 1
            for square, p in zip(squares, params, strict=True):
                if p.grad is not None:
                    grad = p.grad.to_dense() if p.grad.is_sparse else p.grad
                    square.add_(grad.detach() ** 2)
        network.zero_grad(set_to_none=True)
        rms = [(square / max(batches, 1)).sqrt() for square in squares]
        mean = torch.stack([r.mean() for r in rms]).mean()
        kept[key] = (rms, [r / mean for r in rms])
    rms, relative = kept[key]
    cap = 1.0 / options.decay if options.decay > 0 else float("inf")
    return rms, [r.clamp(max=cap) for r in relative]


def _train_segments(
    base: RescoreBase, options: DynamicOptions, device: torch.device
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The first ``rms_tokens`` train tokens as ``rms_batch`` parallel streams (columns),
    cut into (inputs, targets) segments of ``segment`` rows, targets one token ahead."""
    ids = np.asarray(base.train.ids[: options.rms_tokens], dtype=np.int64)
    rows = ids.size // options.rms_batch
    columns = torch.as_tensor(ids[: rows * options.rms_batch].reshape(options.rms_batch, rows).T)
    for start in range(0, rows - 1, options.segment):
        stop = min(start + options.segment, rows - 1)
        yield columns[start:stop].to(device), columns[start + 1 : stop + 1].to(device)
