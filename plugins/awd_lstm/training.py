"""AWD-LSTM's training: variable-length BPTT, NT-ASGD and the fine-tuning stage, resumable.

What the authors' main.py and finetune.py do, step by step:

- **Variable-length BPTT**: each window's length is drawn: the base length ``bptt`` with
  probability ``bptt_base_probability``, else half of it, then a normal around that with
  ``bptt_std``, at least ``bptt_min``; the step's learning rate is ``lr * length / bptt``.
- **NT-ASGD** (optimizer sgd): SGD until, at an epoch's end, the valid loss is worse than
  the best of the epochs before the last ``nonmono`` ones; from then on averaged SGD
  (torch's ASGD with t0=0 and lambda=0, at the initial lr, as the code). Validation, the
  kept best model and so the test score use the averaged weights.
- **Fine-tuning** (``finetune_epochs`` > 0): a second stage of the same run. It restarts
  averaged SGD from the best model of the first stage and stops when the nonmono rule fires
  (or after ``finetune_epochs``); the best model of either stage is the run's model.
  The first stage's best valid perplexity is logged as ``main_stage_valid_ppl``.

A checkpoint (every ``checkpoint_minutes``, at every epoch's end and on Ctrl-C) holds the
weights, the optimiser (with ASGD's averages), the stage and the switch, the data position,
the carried state and every random generator: a resumed run gives the numbers of one never
stopped.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench import TrainingContext
from bench.interrupts import InterruptGuard
from bench.training.checkpoint import capture_rng, restore_rng, save_atomically
from bench_plugins.awd_lstm import AWDLSTMOptions
from bench_plugins.awd_lstm.network import AWDLSTMNetwork

RESUME_FILE = "resume.pt"
BEST_FILE = "best.pt"


@dataclass
class Progress:
    """Where training stands; everything here goes into each checkpoint."""

    lr: float  # the base learning rate (a window of bptt tokens), after any --when division
    stage: str = "main"  # "main", then "finetune"
    epoch: int = 1  # epoch in progress within the stage
    run_epoch: int = 1  # epoch in progress over both stages (for the logged curve)
    position: int = 0  # row of the batched train data where the next window starts
    epoch_steps: int = 0
    step: int = 0  # optimiser steps over the whole run
    averaging: bool = False  # NT-ASGD has switched to averaged SGD
    history: list[float] = field(default_factory=list)  # valid losses the nonmono rule reads
    best_loss: float = math.inf  # valid loss (nats per token) of the kept model
    loss_sum: float = 0.0  # this epoch's cross-entropy, token-weighted
    tokens: int = 0
    done: bool = False
    trained_tokens: int = 0
    trained_seconds: float = 0.0


def batchify(ids: np.ndarray, batch_size: int, device: str) -> torch.Tensor:
    """The stream cut into ``batch_size`` columns [rows, batch], the remainder dropped."""
    rows = len(ids) // batch_size
    data = torch.as_tensor(np.asarray(ids[: rows * batch_size], dtype=np.int64))
    return data.view(batch_size, rows).t().contiguous().to(device)


def draw_window_length(options: AWDLSTMOptions) -> int:
    """A window length of variable-length BPTT (numpy's global generator, so that the
    checkpoint's saved generators replay it)."""
    base = options.bptt
    if np.random.random() >= options.bptt_base_probability:
        base = base / 2
    return max(options.bptt_min, int(np.random.normal(base, options.bptt_std)))


def nonmonotone_trigger(history: list[float], loss: float, nonmono: int) -> bool:
    """The NT-ASGD condition: ``loss`` is worse than the best of the epochs before the
    last ``nonmono`` (the paper's Algorithm 1 with L one epoch, as the code)."""
    return len(history) > nonmono and loss > min(history[:-nonmono])


def build_optimizer(
    params: list[torch.Tensor], options: AWDLSTMOptions, progress: Progress
) -> torch.optim.Optimizer:
    if progress.averaging:
        return torch.optim.ASGD(
            params, lr=progress.lr, t0=0, lambd=0.0, weight_decay=options.weight_decay
        )
    if options.optimizer == "adam":
        return torch.optim.Adam(params, lr=progress.lr, weight_decay=options.weight_decay)
    return torch.optim.SGD(params, lr=progress.lr, weight_decay=options.weight_decay)


class AveragedWeights:
    """Within ``with``, the network holds ASGD's averages (when averaging), as the code
    scores and keeps the model; its own weights come back on exit."""

    def __init__(self, network: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
        self.params = list(network.parameters())
        self.optimizer = optimizer
        self.kept: list[torch.Tensor] = []

    def __enter__(self) -> None:
        if isinstance(self.optimizer, torch.optim.ASGD):
            with torch.no_grad():
                for p in self.params:
                    self.kept.append(p.detach().clone())
                    # before the first averaged step there is no average: the weights stand
                    p.copy_(self.optimizer.state.get(p, {}).get("ax", p))

    def __exit__(self, *exc: object) -> None:
        with torch.no_grad():
            for p, kept in zip(self.params, self.kept, strict=False):
                p.copy_(kept)
        self.kept = []


def train_awd_lstm(
    network: AWDLSTMNetwork, options: AWDLSTMOptions, context: TrainingContext
) -> None:
    """Train ``network`` in place and leave it holding the best model (see the module doc)."""
    folder = Path(context.artifacts_dir)
    data = batchify(context.train.ids, options.batch_size, context.device)
    params = list(network.parameters())
    progress, carried = Progress(lr=options.lr), None
    optimizer = build_optimizer(params, options, progress)
    resume_path = folder / RESUME_FILE
    if context.resume and resume_path.exists():
        saved = torch.load(resume_path, map_location=context.device, weights_only=False)
        progress = Progress(**saved["progress"])
        network.load_state_dict(saved["model"])
        optimizer = build_optimizer(params, options, progress)
        optimizer.load_state_dict(saved["optimizer"])
        carried = _map_state(saved["carried"], lambda t: t.to(context.device))
        restore_rng(saved["rng"])
        context.resumed_at(progress.step)
    elif context.resume:
        context.resumed_at(None)
    if progress.trained_tokens:
        context.record_train_throughput(progress.trained_tokens, progress.trained_seconds)

    def save(state: Any, rng: dict[str, Any] | None = None) -> None:
        payload = {
            "progress": asdict(progress),
            "model": network.state_dict(),
            "optimizer": optimizer.state_dict(),
            "carried": _map_state(state, lambda t: t.detach().cpu()),
            "rng": rng or capture_rng(),
        }
        save_atomically(payload, resume_path)

    with InterruptGuard() as guard:
        while not progress.done:
            _train_epoch(network, optimizer, data, progress, options, context, carried, guard, save)
            carried = None
            optimizer = _end_epoch(network, optimizer, progress, options, context, folder)
            save(None)
    network.load_state_dict(torch.load(folder / BEST_FILE, map_location=context.device)["model"])
    context.record_artifact("checkpoint", folder / BEST_FILE)


def _train_epoch(
    network: AWDLSTMNetwork,
    optimizer: torch.optim.Optimizer,
    data: torch.Tensor,
    progress: Progress,
    options: AWDLSTMOptions,
    context: TrainingContext,
    state: Any,
    guard: InterruptGuard,
    save: Any,
) -> None:
    """Train from ``progress.position`` to the end of the epoch (main.py's ``train``)."""
    network.train()
    params = list(network.parameters())
    start = last_save = time.perf_counter()
    tokens_here = 0
    unfinished = None  # the generators as a step began, until it ends
    try:
        while progress.position < data.size(0) - 2 and (
            options.max_steps_per_epoch is None
            or progress.epoch_steps < options.max_steps_per_epoch
        ):
            unfinished = capture_rng()
            with guard.step():
                length = draw_window_length(options)
                start_row = progress.position
                inputs = data[start_row : start_row + length]
                targets = data[start_row + 1 : start_row + 1 + length]
                inputs = inputs[: len(targets)]  # the last window is cut at the data's end
                state = _map_state(state, torch.Tensor.detach)
                for group in optimizer.param_groups:  # lr scaled by the drawn length
                    group["lr"] = progress.lr * length / options.bptt
                loss, cross_entropy, state = network.training_loss(inputs, targets, state)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if options.clip:
                    torch.nn.utils.clip_grad_norm_(params, options.clip)
                optimizer.step()
                for group in optimizer.param_groups:
                    group["lr"] = progress.lr
                progress.loss_sum += cross_entropy.item() * targets.numel()
                progress.tokens += targets.numel()
                tokens_here += targets.numel()
                progress.position += length
                progress.epoch_steps += 1
                progress.step += 1
                unfinished = None
            if time.perf_counter() - last_save >= options.checkpoint_minutes * 60:
                save(state)
                last_save = time.perf_counter()
    except KeyboardInterrupt:
        # a step stopped part-way (its window length already drawn) is taken again, from
        # the generators it began with: the run resumes at exactly this step
        save(state, unfinished)
        raise
    seconds = time.perf_counter() - start
    if tokens_here:
        context.record_train_throughput(tokens_here, seconds)
        progress.trained_tokens += tokens_here
        progress.trained_seconds += seconds


def _end_epoch(
    network: AWDLSTMNetwork,
    optimizer: torch.optim.Optimizer,
    progress: Progress,
    options: AWDLSTMOptions,
    context: TrainingContext,
    folder: Path,
) -> torch.optim.Optimizer:
    """Validate, keep the best model, apply NT-ASGD's switch, --when, the stage's end;
    the optimiser for the next epoch."""
    with AveragedWeights(network, optimizer):
        valid = context.evaluate(context.valid)
        loss = math.log(valid.ppl)
        if loss < progress.best_loss:
            progress.best_loss = loss
            torch.save({"model": network.state_dict()}, folder / BEST_FILE)
    train_loss = progress.loss_sum / max(progress.tokens, 1)
    metrics = {
        "train_loss": train_loss,
        "train_ppl": math.exp(min(train_loss, 700.0)),
        "valid_ppl": valid.ppl,
        "lr": progress.lr,
        "averaging": float(progress.averaging),
        "finetuning": float(progress.stage == "finetune"),
    }
    context.log_metrics(metrics, step=progress.step, epoch=progress.run_epoch)
    params = list(network.parameters())
    stop = False
    if progress.stage == "finetune":
        stop = nonmonotone_trigger(progress.history, loss, options.nonmono)
        progress.history.append(loss)
    elif not progress.averaging:  # main.py checks the switch and --when only before it
        if options.optimizer == "sgd" and nonmonotone_trigger(
            progress.history, loss, options.nonmono
        ):
            progress.averaging, progress.lr = True, options.lr
            optimizer = build_optimizer(params, options, progress)
            context.log_metrics({"asgd_switch": 1.0}, step=progress.step, epoch=progress.run_epoch)
        if progress.epoch in options.when:
            progress.lr /= 10
        progress.history.append(loss)
    progress.epoch += 1
    progress.run_epoch += 1
    progress.position = progress.epoch_steps = progress.tokens = 0
    progress.loss_sum = 0.0
    limit = options.epochs if progress.stage == "main" else options.finetune_epochs
    if stop or progress.epoch > limit:
        if progress.stage == "main" and options.finetune_epochs:
            return _start_finetuning(network, progress, options, context, folder)
        progress.done = True
    return optimizer


def _start_finetuning(
    network: AWDLSTMNetwork,
    progress: Progress,
    options: AWDLSTMOptions,
    context: TrainingContext,
    folder: Path,
) -> torch.optim.Optimizer:
    """finetune.py: from the best model, averaged SGD afresh at the initial lr."""
    network.load_state_dict(torch.load(folder / BEST_FILE, map_location=context.device)["model"])
    context.log_metrics(
        {"main_stage_valid_ppl": math.exp(progress.best_loss)},
        step=progress.step,
        epoch=progress.run_epoch - 1,
    )
    progress.stage, progress.epoch, progress.history = "finetune", 1, []
    progress.averaging, progress.lr = True, options.lr
    return build_optimizer(list(network.parameters()), options, progress)


def _map_state(state: Any, fn: Any) -> Any:
    """Apply ``fn`` to every tensor of a recurrent state (nested tuples), None kept."""
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return fn(state)
    return tuple(_map_state(s, fn) for s in state)
