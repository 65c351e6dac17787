"""A truncated-BPTT training loop for recurrent models, shared by the neural plugins.

Three separable parts: the data (``bench.tokenization.batching``), the model step (a module's forward
pass, the loss, one optimiser update) and this loop (epochs, schedule, validation,
best-on-valid checkpoint, progress and metrics). Read ``train_bptt`` top to bottom.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
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
    load_weights,
    restore_checkpoint,
    restore_epoch_start,
    save_atomically,
    save_checkpoint,
    save_epoch_start,
)
from bench.training.ddp_step import TrainingStep
from bench.training.optimization import build_optimizer, build_scaler, build_schedule, scale_lr
from bench.training.options import TrainingOptions
from bench.training.update import accumulated_update, detach_state, groups_of

__all__ = ["detach_state", "train_bptt"]  # detach_state lives in bench.training.update

# Adagrad's sparse update (sparse_grad=true) warns, once per process, that torch skips its
# sparse-tensor invariant checks; the tensors come from torch's own embedding backward.
warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly disabled")


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
    valid perplexity. A resumable checkpoint (:mod:`bench.training.checkpoint`) is written every
    ``checkpoint_minutes``, at every epoch's end and on Ctrl-C; with ``context.resume``
    training continues from it exactly where it stopped.

    Under torchrun (:mod:`bench.machine.distributed`) each rank trains its share of the columns
    through DistributedDataParallel and rank 0 alone writes the files.
    """
    world = distributed.current()
    columns = column_share(options.batch_size, world.rank, world.size)
    windows = TrainWindows(
        context.train.ids,
        options.batch_size,
        options.bptt,
        context.device,
        # max_steps_per_epoch counts updates, each of update_freq windows
        max_windows=None
        if options.max_steps_per_epoch is None
        else options.max_steps_per_epoch * options.update_freq,
        columns=columns,
    )
    params = [p for p in module.parameters() if p.requires_grad]
    optimizer = build_optimizer(params, options)
    run = _Training(
        module,
        TrainingStep(module, options),
        windows,
        params,
        optimizer,
        build_schedule(
            optimizer, options, math.ceil(len(windows) / options.update_freq) * options.epochs
        ),
        build_scaler(options, context.device),
        options,
        context,
    )
    loop, carried = LoopState(), None
    resuming = context.resume and distributed.from_rank0(run.resume_path.exists)
    if resuming:
        loop, carried = restore_checkpoint(
            run.resume_path,
            model=module,
            optimizer=optimizer,
            schedule=run.schedule,
            scaler=run.scaler,
            device=context.device,
        )
        carried = take_columns(carried, columns)
    if context.resume:
        context.resumed_at(loop.step if resuming else None)
    if loop.trained_tokens:
        context.record_train_throughput(loop.trained_tokens, loop.trained_seconds)
    with InterruptGuard(hold=world.distributed) as guard:
        while not loop.done and loop.epoch <= options.epochs:
            if loop.sums.window == 0 and world.is_main:  # every rank reads it back
                save_epoch_start(run.epoch_start_path, module, optimizer)
            stats = _train_epoch(run, loop, carried, guard)
            carried = None
            if stats is None:  # the loss became NaN or Inf: go back to the epoch's start
                _restart_epoch(run, loop)
                continue
            _end_epoch(run, loop, stats)
            run.save(loop)
    if world.is_main and run.best_path.exists():  # only rank 0 scores
        module.load_state_dict(load_weights(run.best_path, context.device)["model"])
        context.record_artifact("checkpoint", run.best_path)


@dataclass
class _Training:
    """What every epoch of one :func:`train_bptt` works with, and where it keeps its files."""

    module: torch.nn.Module
    step: TrainingStep  # the module's training_loss, or its DistributedDataParallel wrapper
    windows: TrainWindows
    params: list[torch.Tensor]  # those that train
    optimizer: torch.optim.Optimizer
    schedule: Any
    scaler: Any
    options: TrainingOptions
    context: TrainingContext

    @property
    def resume_path(self) -> Path:
        return self.context.artifacts_dir / RESUME_FILE

    @property
    def best_path(self) -> Path:
        return self.context.artifacts_dir / "best.pt"

    @property
    def epoch_start_path(self) -> Path:
        return self.context.artifacts_dir / EPOCH_START_FILE

    def save(self, loop: LoopState, carried_state: Any = None) -> None:
        """A resumable checkpoint of this very step (rank 0 writes every rank's columns)."""
        carried_state = gather_columns(carried_state)
        if not distributed.current().is_main:
            return
        save_checkpoint(
            self.resume_path,
            loop=loop,
            model=self.module,
            optimizer=self.optimizer,
            schedule=self.schedule,
            scaler=self.scaler,
            carried_state=carried_state,
        )


def _restart_epoch(run: _Training, loop: LoopState) -> None:
    """Back to the epoch's first step with a lower learning rate, after a NaN or Inf loss."""
    loop.recoveries += 1
    if loop.recoveries > run.options.max_nan_recoveries:
        raise BenchError(
            f"training diverged: the loss became NaN or Inf {loop.recoveries} "
            f"times (epoch {loop.epoch}), even after lowering the learning rate; "
            "try a lower lr or a gradient clip"
        )
    device = run.context.device
    restore_epoch_start(run.epoch_start_path, run.module, run.optimizer, device)
    loop.step -= loop.sums.steps
    if run.options.schedule_per_update:  # the schedule goes back to the epoch's start too
        run.schedule.last_epoch -= loop.sums.steps
    loop.sums = EpochSums()
    lr = scale_lr(run.optimizer, run.schedule, run.options.nan_lr_factor)
    run.context.log_metrics(
        {"nan_recovery": loop.recoveries, "lr": lr}, step=loop.step, epoch=loop.epoch
    )


def _end_epoch(run: _Training, loop: LoopState, stats: dict[str, float]) -> None:
    """Score the valid split, keep the best weights, step the schedule, stop early."""
    context, options, schedule = run.context, run.options, run.schedule
    valid = context.evaluate(context.valid)
    context.log_metrics(
        {**stats, "valid_ppl": valid.ppl, "lr": run.optimizer.param_groups[0]["lr"]},
        step=loop.step,
        epoch=loop.epoch,
    )
    if valid.ppl < loop.best_ppl:
        loop.best_ppl, loop.best_epoch = valid.ppl, loop.epoch
        if distributed.current().is_main:  # atomically: a kill mid-write keeps the previous best
            best = {"model": run.module.state_dict(), "epoch": loop.epoch}
            save_atomically({**best, "options": options.model_dump(mode="json")}, run.best_path)
    if isinstance(schedule, torch.optim.lr_scheduler.ReduceLROnPlateau):
        schedule.step(valid.ppl)
    elif schedule is not None and not options.schedule_per_update:
        schedule.step()
    if options.patience is not None and loop.epoch - loop.best_epoch >= options.patience:
        context.log_metrics({"early_stop": 1.0}, step=loop.step, epoch=loop.epoch)
        loop.done = True
    loop.epoch += 1
    loop.sums = EpochSums()
    loop.done = loop.done or loop.epoch > options.epochs


def _train_epoch(
    run: _Training, loop: LoopState, state: Any, guard: InterruptGuard
) -> dict[str, float] | None:
    """Train the rest of the epoch from ``loop.sums.window``; its statistics, or None on NaN/Inf.

    ``loop`` is updated after every step, so a checkpoint written on Ctrl-C or on the
    clock holds exactly the steps taken. The loss is only looked at every ``log_every``
    steps and at the end (a host sync per step would slow GPUs); a NaN spreads to the
    sums, so it is still caught. With several ranks the loss sums and token counts are
    global ones, and the ranks stop or save only together (``agree_after_step``).
    """
    options, context, device = run.options, run.context, run.context.device
    world = distributed.current()
    sums = _DeviceSums(loop.sums, device)
    run.module.train()
    last_save = time.perf_counter()
    # one update per group of update_freq batches (gradient accumulation, bench.training.update)
    groups = context.progress(
        groups_of(run.windows.from_window(loop.sums.window), options.update_freq),
        total=math.ceil((len(run.windows) - loop.sums.window) / options.update_freq),
        desc=f"epoch {loop.epoch}",
        unit="update",
    )
    try:
        for group in groups:
            with guard.step():
                step_loss, norm, state = accumulated_update(
                    run.step,
                    group,
                    state,
                    run.params,
                    run.optimizer,
                    run.scaler,
                    options,
                    device,
                    no_sync=run.step.no_sync,
                    sync_gradients=run.step.sync_gradients,
                )
                if options.schedule_per_update:
                    run.schedule.step()
                tokens = sum(targets.numel() for _, targets in group) * world.size
                # The epoch's last step is followed by its end (valid ppl, best model) and a
                # checkpoint: one taken in between would resume before the end's metrics
                # were logged and log them twice, so a save due there waits for that one.
                last_step = loop.sums.window + len(group) >= len(run.windows)
                save_due = (
                    time.perf_counter() - last_save >= options.checkpoint_minutes * 60
                    and not last_step
                )
                stop = False
                if world.distributed:
                    step_loss, stop, save_due = distributed.agree_after_step(
                        step_loss, interrupts.requested(), save_due
                    )
                sums.add(step_loss, norm, tokens, windows=len(group))
                loop.step += 1
                if loop.step % options.log_every == 0:
                    if not math.isfinite(sums.loss_sum.item()):
                        return None
                    shown = step_loss.item() / tokens  # the update's mean loss
                    context.log_metrics({"train_loss": shown}, step=loop.step, epoch=loop.epoch)
            if stop:  # every rank, after the same step
                raise KeyboardInterrupt
            if save_due:
                sums.sync()
                run.save(loop, state)
                last_save = time.perf_counter()
    except KeyboardInterrupt:
        # between steps (a step in progress finishes first: InterruptGuard), so the
        # model, optimiser and sums agree and the run can resume from this very step
        sums.sync()
        if math.isfinite(loop.sums.loss_sum):
            run.save(loop, state)
        raise
    synchronize(device)
    sums.sync()
    # the whole epoch's tokens and seconds, those before a resume included: a run stopped
    # and resumed mid-epoch records what an uninterrupted one does
    return _epoch_stats(run, loop, loop.sums.tokens, loop.sums.seconds)


class _DeviceSums:
    """An epoch's loss and gradient-norm sums kept on the device (no host sync per step),
    written back into the loop's :class:`EpochSums` by :meth:`sync`."""

    def __init__(self, sums: EpochSums, device: str) -> None:
        self.sums = sums
        self.seconds_before = sums.seconds  # trained before this process took the epoch over
        self.start = time.perf_counter()  # the epoch's training in this process starts now
        self.loss_sum = torch.tensor(sums.loss_sum, device=device, dtype=torch.float64)
        self.norm_sum = torch.tensor(sums.norm_sum, device=device, dtype=torch.float64)
        self.norm_max = torch.tensor(sums.norm_max, device=device, dtype=torch.float64)

    def add(self, step_loss: torch.Tensor, norm: torch.Tensor, tokens: int, windows: int) -> None:
        self.loss_sum += step_loss
        self.norm_sum += norm.detach()
        self.norm_max = torch.maximum(self.norm_max, norm.detach())
        self.sums.tokens += tokens
        self.sums.steps += 1
        self.sums.window += windows

    def sync(self) -> None:
        self.sums.seconds = self.seconds_before + time.perf_counter() - self.start
        self.sums.loss_sum = self.loss_sum.item()
        self.sums.norm_sum = self.norm_sum.item()
        self.sums.norm_max = self.norm_max.item()


def _epoch_stats(
    run: _Training, loop: LoopState, tokens: int, seconds: float
) -> dict[str, float] | None:
    """The epoch's training statistics (None when its loss is NaN or Inf), its throughput
    recorded."""
    sums = loop.sums
    train_loss = sums.loss_sum / max(sums.tokens, 1)
    if not math.isfinite(train_loss):
        return None
    if tokens:
        run.context.record_train_throughput(tokens, seconds)
        loop.trained_tokens += tokens
        loop.trained_seconds += seconds
    stats = {
        "train_loss": train_loss,
        "grad_norm_mean": sums.norm_sum / max(sums.steps, 1),
        "grad_norm_max": sums.norm_max,
    }
    if getattr(run.module, "training_loss_is_nll", True):  # approximations are not likelihoods
        stats["train_ppl"] = math.exp(min(train_loss, 700.0))
    if tokens:
        stats.update(train_tokens_per_second=tokens / seconds, epoch_seconds=seconds)
        world = distributed.current()
        if world.distributed:
            stats["train_tokens_per_second_per_device"] = tokens / seconds / world.size
    return stats
