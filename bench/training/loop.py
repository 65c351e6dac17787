"""A truncated-BPTT training loop for recurrent models, shared by the neural plugins.

Three separable parts: the data (``bench.batching``), the model step (a module's forward
pass, the loss, one optimiser update) and this loop (epochs, schedule, validation,
best-on-valid checkpoint, progress and metrics). Read ``train_bptt`` top to bottom.
"""

from __future__ import annotations

import math
import time
import warnings
from typing import Any

import torch

from bench import interrupts
from bench.api.model import TrainingContext
from bench.errors import BenchError
from bench.interrupts import InterruptGuard
from bench.machine import distributed
from bench.machine.environment import synchronize
from bench.machine.sharding import column_share, gather_columns, take_columns
from bench.tokenization.batching import TrainWindows
from bench.training.checkpoint import (
    EPOCH_START_FILE,
    RESUME_FILE,
    EpochSums,
    LoopState,
    load_checkpoint,
    load_weights,
    restore_epoch_start,
    restore_rng,
    save_atomically,
    save_checkpoint,
    save_epoch_start,
)
from bench.training.ddp_step import TrainingStep
from bench.training.optimization import (
    autocast,
    build_optimizer,
    build_scaler,
    build_schedule,
    clip_gradients,
    scale_lr,
)
from bench.training.options import TrainingOptions

# Adagrad's sparse update (sparse_grad=true) warns, once per process, that torch skips its
# sparse-tensor invariant checks; the tensors come from torch's own embedding backward.
warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly disabled")


def detach_state(state: Any) -> Any:
    """Cut the graph at a window boundary but keep the values (truncated BPTT)."""
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return state.detach()
    return tuple(detach_state(s) for s in state)


def train_bptt(module: torch.nn.Module, options: TrainingOptions, context: TrainingContext) -> None:
    """Train ``module`` and keep the best epoch; resumable at any step.

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
    valid perplexity. A resumable checkpoint (``bench.checkpoint``) is written every
    ``checkpoint_minutes``, at every epoch's end and on Ctrl-C; with ``context.resume``
    training continues from it exactly where it stopped.

    Under torchrun (:mod:`bench.distributed`) each rank trains its share of the columns
    through DistributedDataParallel and rank 0 alone writes the files.
    """
    device = context.device
    world = distributed.current()
    columns = column_share(options.batch_size, world.rank, world.size)
    windows = TrainWindows(
        context.train.ids,
        options.batch_size,
        options.bptt,
        device,
        max_windows=options.max_steps_per_epoch,
        columns=columns,
    )
    step = TrainingStep(module, options)
    params = [p for p in module.parameters() if p.requires_grad]
    optimizer = build_optimizer(params, options)
    schedule = build_schedule(optimizer, options)
    scaler = build_scaler(options, device)
    resume_path = context.artifacts_dir / RESUME_FILE
    best_path = context.artifacts_dir / "best.pt"
    epoch_start_path = context.artifacts_dir / EPOCH_START_FILE
    loop, carried = LoopState(), None
    resuming_from_checkpoint = context.resume and distributed.from_rank0(resume_path.exists)
    if resuming_from_checkpoint:
        saved = load_checkpoint(resume_path, device)
        loop = saved["loop"]
        if saved.get("epoch_start") is not None and world.is_main:
            # a checkpoint from before the epoch start had a file of its own
            save_atomically(saved["epoch_start"], epoch_start_path)
        carried = take_columns(saved["carried_state"], columns)
        module.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        if schedule is not None:
            schedule.load_state_dict(saved["schedule"])
        if scaler is not None:
            scaler.load_state_dict(saved["scaler"])
        restore_rng(saved["rng"])
        distributed.restore_device_rng(saved["rng"], device)
        del saved  # its tensors are copied in; keeping them would hold the model twice
    if context.resume:
        context.resumed_at(loop.step if resuming_from_checkpoint else None)
    if loop.trained_tokens:
        context.record_train_throughput(loop.trained_tokens, loop.trained_seconds)

    def save(carried_state: Any = None) -> None:
        carried_state = gather_columns(carried_state)  # every rank's columns
        if not world.is_main:
            return
        save_checkpoint(
            resume_path,
            loop=loop,
            model=module,
            optimizer=optimizer,
            schedule=schedule,
            scaler=scaler,
            carried_state=carried_state,
        )

    with InterruptGuard(hold=world.distributed) as guard:
        while not loop.done and loop.epoch <= options.epochs:
            if loop.sums.window == 0 and world.is_main:  # every rank reads it back
                save_epoch_start(epoch_start_path, module, optimizer)
            stats = _train_epoch(
                module,
                step,
                windows,
                params,
                optimizer,
                scaler,
                options,
                context,
                loop,
                carried,
                guard,
                save,
            )
            carried = None
            if stats is None:  # the loss became NaN or Inf: go back to the epoch's start
                loop.recoveries += 1
                if loop.recoveries > options.max_nan_recoveries:
                    raise BenchError(
                        f"training diverged: the loss became NaN or Inf {loop.recoveries} "
                        f"times (epoch {loop.epoch}), even after lowering the learning rate; "
                        "try a lower lr or a gradient clip"
                    )
                restore_epoch_start(epoch_start_path, module, optimizer, device)
                loop.step -= loop.sums.steps
                loop.sums = EpochSums()
                lr = scale_lr(optimizer, schedule, options.nan_lr_factor)
                context.log_metrics(
                    {"nan_recovery": loop.recoveries, "lr": lr}, step=loop.step, epoch=loop.epoch
                )
                continue
            valid = context.evaluate(context.valid)
            context.log_metrics(
                {**stats, "valid_ppl": valid.ppl, "lr": optimizer.param_groups[0]["lr"]},
                step=loop.step,
                epoch=loop.epoch,
            )
            if valid.ppl < loop.best_ppl:
                loop.best_ppl, loop.best_epoch = valid.ppl, loop.epoch
                if world.is_main:  # atomically: a kill mid-write keeps the previous best
                    save_atomically(
                        {
                            "model": module.state_dict(),
                            "epoch": loop.epoch,
                            "options": options.model_dump(mode="json"),
                        },
                        best_path,
                    )
            if isinstance(schedule, torch.optim.lr_scheduler.ReduceLROnPlateau):
                schedule.step(valid.ppl)
            elif schedule is not None:
                schedule.step()
            if options.patience is not None and loop.epoch - loop.best_epoch >= options.patience:
                context.log_metrics({"early_stop": 1.0}, step=loop.step, epoch=loop.epoch)
                loop.done = True
            loop.epoch += 1
            loop.sums = EpochSums()
            loop.done = loop.done or loop.epoch > options.epochs
            save()
    if world.is_main and best_path.exists():  # only rank 0 scores
        module.load_state_dict(load_weights(best_path, device)["model"])
        context.record_artifact("checkpoint", best_path)


def _train_epoch(
    module: torch.nn.Module,
    step: TrainingStep,
    windows: TrainWindows,
    params: list[torch.Tensor],
    optimizer: torch.optim.Optimizer,
    scaler: Any,
    options: TrainingOptions,
    context: TrainingContext,
    loop: LoopState,
    state: Any,
    guard: InterruptGuard,
    save: Any,
) -> dict[str, float] | None:
    """Train the rest of the epoch from ``loop.sums.window``; its statistics, or None on NaN/Inf.

    ``loop`` is updated after every step, so a checkpoint written on Ctrl-C or on the
    clock holds exactly the steps taken. The loss is only looked at every ``log_every``
    steps and at the end (a host sync per step would slow GPUs); a NaN spreads to the
    sums, so it is still caught. ``step`` is the module's ``training_loss``, or its
    DistributedDataParallel wrapper; with several ranks the loss sums and token counts
    are global ones, and the ranks stop or save only together (``agree_after_step``).
    """
    device = context.device
    world = distributed.current()
    sums = loop.sums
    module.train()
    loss_sum = torch.tensor(sums.loss_sum, device=device, dtype=torch.float64)
    norm_sum = torch.tensor(sums.norm_sum, device=device, dtype=torch.float64)
    norm_max = torch.tensor(sums.norm_max, device=device, dtype=torch.float64)
    tokens_here = 0
    start = last_save = time.perf_counter()

    def sync_sums() -> None:
        sums.loss_sum, sums.norm_sum, sums.norm_max = (
            loss_sum.item(),
            norm_sum.item(),
            norm_max.item(),
        )

    batches = context.progress(
        windows.from_window(sums.window),
        total=len(windows) - sums.window,
        desc=f"epoch {loop.epoch}",
        unit="batch",
    )
    try:
        for inputs, targets in batches:
            with guard.step():
                state = detach_state(state)
                with autocast(options, device):
                    loss, state = step(inputs, targets, state)
                optimizer.zero_grad(set_to_none=True)
                norm = _backward_and_update(
                    loss, params, optimizer, scaler, options, step.sync_gradients
                )
                step_loss, tokens = loss.detach() * targets.numel(), targets.numel() * world.size
                save_due = time.perf_counter() - last_save >= options.checkpoint_minutes * 60
                stop = False
                if world.distributed:
                    step_loss, stop, save_due = distributed.agree_after_step(
                        step_loss, interrupts.requested(), save_due
                    )
                loss_sum += step_loss
                norm_sum += norm.detach()
                norm_max = torch.maximum(norm_max, norm.detach())
                tokens_here += tokens
                sums.tokens += tokens
                sums.steps += 1
                sums.window += 1
                loop.step += 1
                if loop.step % options.log_every == 0:
                    if not math.isfinite(loss_sum.item()):
                        return None
                    shown = step_loss.item() / tokens if world.distributed else loss.item()
                    context.log_metrics({"train_loss": shown}, step=loop.step, epoch=loop.epoch)
            if stop:  # every rank, after the same step
                raise KeyboardInterrupt
            if save_due:
                sync_sums()
                save(state)
                last_save = time.perf_counter()
    except KeyboardInterrupt:
        # between steps (a step in progress finishes first: InterruptGuard), so the
        # model, optimiser and sums agree and the run can resume from this very step
        sync_sums()
        if math.isfinite(sums.loss_sum):
            save(state)
        raise
    synchronize(device)
    seconds = time.perf_counter() - start
    sync_sums()
    train_loss = sums.loss_sum / max(sums.tokens, 1)
    if not math.isfinite(train_loss):
        return None
    if tokens_here:
        context.record_train_throughput(tokens_here, seconds)
        loop.trained_tokens += tokens_here
        loop.trained_seconds += seconds
    stats = {
        "train_loss": train_loss,
        "grad_norm_mean": sums.norm_sum / max(sums.steps, 1),
        "grad_norm_max": sums.norm_max,
    }
    if getattr(module, "training_loss_is_nll", True):  # approximate objectives are not likelihoods
        stats["train_ppl"] = math.exp(min(train_loss, 700.0))
    if tokens_here:
        stats.update(train_tokens_per_second=tokens_here / seconds, epoch_seconds=seconds)
        if world.distributed:
            stats["train_tokens_per_second_per_device"] = tokens_here / seconds / world.size
    return stats


def _backward_and_update(
    loss: torch.Tensor,
    params: list[torch.Tensor],
    optimizer: torch.optim.Optimizer,
    scaler: Any,
    options: TrainingOptions,
    sync_gradients: Any = lambda: None,
) -> torch.Tensor:
    """Backward pass, gradient-norm clipping and the optimiser step; the norm before clipping.

    With a float16 loss scaler the gradients are unscaled before clipping, and a step
    whose gradients overflowed is skipped by the scaler (its norm is then Inf). With
    several ranks the gradients are averaged (``sync_gradients``) before the clipping.
    """
    limit = options.clip or math.inf  # clip=0: measured, not clipped
    if scaler is None:
        loss.backward()
        sync_gradients()
        norm = clip_gradients(params, limit)
        optimizer.step()
        return norm
    scaler.scale(loss).backward()
    sync_gradients()
    scaler.unscale_(optimizer)
    norm = clip_gradients(params, limit)
    scaler.step(optimizer)
    scaler.update()
    return torch.where(torch.isfinite(norm), norm, torch.zeros_like(norm))
