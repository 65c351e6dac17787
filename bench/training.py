"""A truncated-BPTT training loop for recurrent models, shared by the neural plugins.

Three separable parts: the data (``bench.batching``), the model step (a module's forward
pass, the loss, one optimiser update) and this loop (epochs, schedule, validation,
best-on-valid checkpoint, progress and metrics). Read ``train_bptt`` top to bottom.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F

from bench.batching import batchify, bptt_windows, count_windows
from bench.environment import synchronize
from bench.model import TrainingContext
from bench.training_options import TrainingOptions


def build_optimizer(params: Any, options: TrainingOptions) -> torch.optim.Optimizer:
    if options.optimizer == "adam":
        return torch.optim.Adam(params, lr=options.lr, weight_decay=options.weight_decay)
    return torch.optim.SGD(params, lr=options.lr, weight_decay=options.weight_decay)


def build_schedule(optimizer: torch.optim.Optimizer, options: TrainingOptions) -> Any:
    """The epoch-level learning-rate schedule (stepped once per epoch)."""
    if options.lr_schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=options.plateau_factor, patience=0, threshold=0.0)
    if options.lr_schedule == "step":
        # after k scheduler steps (epochs), epoch k+1 runs at lr * decay^(k+1-decay_after)
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer,
            lambda k: options.lr_decay ** max(0, k + 1 - options.decay_after),
        )
    return None


def detach_state(state: Any) -> Any:
    """Cut the graph at a window boundary but keep the values (truncated BPTT)."""
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return state.detach()
    return tuple(detach_state(s) for s in state)


def train_bptt(module: torch.nn.Module, options: TrainingOptions, context: TrainingContext) -> None:
    """Train ``module`` (``forward(inputs, state) -> (logits, state)``) and keep the best epoch.

    After every epoch the valid split is scored through the core (``context.evaluate``);
    the weights with the lowest valid perplexity are saved to ``best.pt`` and restored
    at the end, so the test split is scored with the best-on-valid model.
    """
    device = context.device
    data = batchify(context.train.ids, options.batch_size).to(device)
    params = [p for p in module.parameters() if p.requires_grad]
    optimizer = build_optimizer(params, options)
    schedule = build_schedule(optimizer, options)
    best_ppl = math.inf
    best_path = context.artifacts_dir / "best.pt"
    step = 0
    for epoch in range(1, options.epochs + 1):
        windows = _epoch_windows(data, options)
        total = min(count_windows(data, options.bptt), options.max_steps_per_epoch or 1 << 62)
        module.train()
        state = None
        loss_sum = torch.zeros((), device=device, dtype=torch.float64)
        tokens = 0
        start = time.perf_counter()
        for inputs, targets in context.progress(windows, total=total, desc=f"epoch {epoch}",
                                                unit="batch"):
            state = detach_state(state)
            logits, state = module(inputs, state)
            loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if options.clip > 0:
                torch.nn.utils.clip_grad_norm_(params, options.clip)
            optimizer.step()
            loss_sum += loss.detach() * targets.numel()
            tokens += targets.numel()
            step += 1
            if step % options.log_every == 0:
                context.log_metrics({"train_loss": loss.item()}, step=step, epoch=epoch)
        synchronize(device)
        seconds = time.perf_counter() - start
        context.record_train_throughput(tokens, seconds)
        valid = context.evaluate(context.valid)
        train_loss = loss_sum.item() / max(tokens, 1)
        context.log_metrics(
            {
                "train_loss": train_loss,
                "train_ppl": math.exp(min(train_loss, 700.0)),
                "valid_ppl": valid.ppl,
                "lr": optimizer.param_groups[0]["lr"],
                "train_tokens_per_second": tokens / seconds,
                "epoch_seconds": seconds,
            },
            step=step,
            epoch=epoch,
        )
        if valid.ppl < best_ppl:
            best_ppl = valid.ppl
            torch.save({"model": module.state_dict(), "epoch": epoch,
                        "options": options.model_dump()}, best_path)
        if isinstance(schedule, torch.optim.lr_scheduler.ReduceLROnPlateau):
            schedule.step(valid.ppl)
        elif schedule is not None:
            schedule.step()
    if best_path.exists():
        module.load_state_dict(torch.load(best_path, map_location=device)["model"])
        context.record_artifact("checkpoint", best_path)


def _epoch_windows(data: torch.Tensor, options: TrainingOptions
                   ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    for index, window in enumerate(bptt_windows(data, options.bptt)):
        if options.max_steps_per_epoch is not None and index >= options.max_steps_per_epoch:
            return
        yield window
