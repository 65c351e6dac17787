"""A truncated-BPTT training loop for recurrent models, shared by the neural plugins.

Three separable parts: the data (``bench.batching``), the model step (a module's forward
pass, the loss, one optimiser update) and this loop (epochs, schedule, validation,
best-on-valid checkpoint, progress and metrics). Read ``train_bptt`` top to bottom.
"""

from __future__ import annotations

import copy
import math
import time
from typing import Any

import torch

from bench.batching import TrainWindows
from bench.environment import synchronize
from bench.errors import BenchError
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
    """Train ``module`` and keep the best epoch.

    ``module.training_loss(inputs, targets, state) -> (loss, state)`` is the model step's
    objective (a mean over the window's tokens); ``state`` is carried between windows.
    A module whose objective is not the exact log-likelihood says so with
    ``training_loss_is_nll = False``; its epochs then log no train perplexity.

    After every epoch the valid split is scored through the core (``context.evaluate``);
    the weights with the lowest valid perplexity are saved to ``best.pt`` and restored
    at the end, so the test split is scored with the best-on-valid model. A NaN or Inf
    loss does not end the run: the epoch restarts from its first step with the learning
    rate lowered (recorded as a ``nan_recovery`` metric), up to ``max_nan_recoveries``
    times. With ``patience`` set, training stops after that many epochs without a better
    valid perplexity.
    """
    device = context.device
    windows = TrainWindows(context.train.ids, options.batch_size, options.bptt, device,
                           max_windows=options.max_steps_per_epoch)
    params = [p for p in module.parameters() if p.requires_grad]
    optimizer = build_optimizer(params, options)
    schedule = build_schedule(optimizer, options)
    best_ppl = math.inf
    best_epoch = 0
    best_path = context.artifacts_dir / "best.pt"
    step = 0
    recoveries = 0
    epoch = 1
    while epoch <= options.epochs:
        snapshot = _snapshot(module, optimizer)
        result = _train_epoch(module, windows, params, optimizer, options, context, epoch, step)
        if result is None:  # the loss became NaN or Inf: go back to the epoch's start
            recoveries += 1
            if recoveries > options.max_nan_recoveries:
                raise BenchError(
                    f"training diverged: the loss became NaN or Inf {recoveries} times "
                    f"(epoch {epoch}), even after lowering the learning rate; try a lower lr "
                    "or a gradient clip")
            _restore(module, optimizer, snapshot)
            lr = _scale_lr(optimizer, schedule, options.nan_lr_factor)
            context.log_metrics({"nan_recovery": recoveries, "lr": lr}, step=step, epoch=epoch)
            continue
        step, stats = result
        valid = context.evaluate(context.valid)
        context.log_metrics({**stats, "valid_ppl": valid.ppl,
                             "lr": optimizer.param_groups[0]["lr"]}, step=step, epoch=epoch)
        if valid.ppl < best_ppl:
            best_ppl, best_epoch = valid.ppl, epoch
            torch.save({"model": module.state_dict(), "epoch": epoch,
                        "options": options.model_dump()}, best_path)
        if isinstance(schedule, torch.optim.lr_scheduler.ReduceLROnPlateau):
            schedule.step(valid.ppl)
        elif schedule is not None:
            schedule.step()
        if options.patience is not None and epoch - best_epoch >= options.patience:
            context.log_metrics({"early_stop": 1.0}, step=step, epoch=epoch)
            break
        epoch += 1
    if best_path.exists():
        module.load_state_dict(torch.load(best_path, map_location=device)["model"])
        context.record_artifact("checkpoint", best_path)


def _train_epoch(module: torch.nn.Module, windows: TrainWindows, params: list[torch.Tensor],
                 optimizer: torch.optim.Optimizer, options: TrainingOptions,
                 context: TrainingContext, epoch: int, step: int
                 ) -> tuple[int, dict[str, float]] | None:
    """One pass over the windows; the step count and epoch statistics, or None on NaN/Inf.

    The loss is only looked at every ``log_every`` steps and at the end (a host sync
    per step would slow GPUs); a NaN spreads to the sums, so it is still caught.
    """
    device = context.device
    module.train()
    state = None
    loss_sum = torch.zeros((), device=device, dtype=torch.float64)
    norm_sum = torch.zeros((), device=device, dtype=torch.float64)
    norm_max = torch.zeros((), device=device, dtype=torch.float64)
    tokens = steps = 0
    start = time.perf_counter()
    for inputs, targets in context.progress(windows.from_window(0), total=len(windows),
                                            desc=f"epoch {epoch}", unit="batch"):
        state = detach_state(state)
        loss, state = module.training_loss(inputs, targets, state)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        # the norm before clipping, logged per epoch (clip=0: measured, not clipped)
        norm = torch.nn.utils.clip_grad_norm_(params, options.clip or math.inf)
        optimizer.step()
        loss_sum += loss.detach() * targets.numel()
        norm_sum += norm.detach()
        norm_max = torch.maximum(norm_max, norm.detach())
        tokens += targets.numel()
        steps += 1
        if (step + steps) % options.log_every == 0:
            if not math.isfinite(loss_sum.item()):
                return None
            context.log_metrics({"train_loss": loss.item()}, step=step + steps, epoch=epoch)
    synchronize(device)
    seconds = time.perf_counter() - start
    train_loss = loss_sum.item() / max(tokens, 1)
    if not math.isfinite(train_loss):
        return None
    context.record_train_throughput(tokens, seconds)
    stats = {
        "train_loss": train_loss,
        "grad_norm_mean": norm_sum.item() / max(steps, 1),
        "grad_norm_max": norm_max.item(),
        "train_tokens_per_second": tokens / seconds,
        "epoch_seconds": seconds,
    }
    # an approximate objective (sampled softmax, NCE, ...) is no log-likelihood: no perplexity
    if getattr(module, "training_loss_is_nll", True):
        stats["train_ppl"] = math.exp(min(train_loss, 700.0))
    return step + steps, stats


def _snapshot(module: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    return {"model": {k: v.detach().clone() for k, v in module.state_dict().items()},
            "optimizer": copy.deepcopy(optimizer.state_dict())}


def _restore(module: torch.nn.Module, optimizer: torch.optim.Optimizer,
             snapshot: dict[str, Any]) -> None:
    module.load_state_dict(snapshot["model"])
    optimizer.load_state_dict(snapshot["optimizer"])


def _scale_lr(optimizer: torch.optim.Optimizer, schedule: Any, factor: float) -> float:
    """Lower the learning rate for good: LambdaLR recomputes lr from its base_lrs."""
    for group in optimizer.param_groups:
        group["lr"] *= factor
    if hasattr(schedule, "base_lrs"):
        schedule.base_lrs = [lr * factor for lr in schedule.base_lrs]
    return float(optimizer.param_groups[0]["lr"])

