"""Resumable training checkpoints: everything needed to continue a run at the exact step.

A checkpoint holds the model, the optimiser, the learning-rate schedule, the loss scaler,
every random generator (Python, numpy, torch CPU and CUDA), the data position (epoch and
window), the recurrent state carried into the next window, the epoch's running sums, the
best-on-valid bookkeeping. Resuming from it replays the rest of the run exactly as it would have
gone, so an interrupted and resumed run ends with the numbers of an uninterrupted one.

The weights and optimiser state at the epoch's start, where NaN recovery goes back, are a
file of their own beside it (:func:`save_epoch_start`), written once per epoch: held in
memory, that copy doubled what a large model needs (the One Billion Word RNN-MaxEnt's
8.7 GB of weights needed more than 21 GB), and inside every checkpoint it doubled each
write. Files are read back memory-mapped, so loading one does not hold a second copy of
the weights either.

Files are written to a temporary name and renamed over the old one, so a kill (even
``kill -9``) mid-write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import os
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.paths import EPOCH_START_FILE, RESUME_FILE

__all__ = [
    "EPOCH_START_FILE",
    "RESUME_FILE",
    "EpochSums",
    "LoopState",
    "load_checkpoint",
    "restore_epoch_start",
    "restore_rng",
    "save_atomically",
    "save_checkpoint",
    "save_epoch_start",
]


@dataclass
class EpochSums:
    """What the epoch in progress has accumulated so far."""

    window: int = 0  # windows of this epoch already trained
    tokens: int = 0
    steps: int = 0
    loss_sum: float = 0.0  # token-weighted
    norm_sum: float = 0.0
    norm_max: float = 0.0


@dataclass
class LoopState:
    """The training loop's position and bookkeeping."""

    epoch: int = 1  # the epoch in progress (1-based)
    step: int = 0  # optimiser steps taken over the whole run
    best_ppl: float = float("inf")
    best_epoch: int = 0
    recoveries: int = 0  # NaN/Inf restarts so far
    done: bool = False  # training has ended (last epoch or early stop)
    trained_tokens: int = 0  # throughput totals of the work kept so far
    trained_seconds: float = 0.0
    sums: EpochSums = field(default_factory=EpochSums)


def save_checkpoint(
    path: Path,
    *,
    loop: LoopState,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    schedule: Any,
    scaler: Any,
    carried_state: Any,
) -> None:
    """Write a resumable checkpoint atomically (temporary file, then rename)."""
    payload = {
        "loop": asdict(loop),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "schedule": schedule.state_dict() if schedule is not None else None,
        "scaler": scaler.state_dict() if scaler is not None else None,
        "carried_state": _to_cpu(carried_state),
        "rng": capture_rng(),
    }
    save_atomically(payload, path)


def save_epoch_start(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
    """Keep the weights and optimiser state of an epoch's start (atomically, as a checkpoint)."""
    save_atomically({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, path)


def restore_epoch_start(
    path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, device: str
) -> None:
    """Put back what :func:`save_epoch_start` kept."""
    saved = torch.load(path, map_location=device, mmap=True, weights_only=True)
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])


def load_checkpoint(path: Path, device: str) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`; ``loop`` comes back as LoopState."""
    payload = torch.load(path, map_location=device, mmap=True, weights_only=False)
    loop = dict(payload["loop"])
    loop["sums"] = EpochSums(**loop["sums"])
    payload["loop"] = LoopState(**loop)
    payload["carried_state"] = _to_device(payload["carried_state"], device)
    return payload


def save_atomically(payload: dict[str, Any], path: Path) -> None:
    """torch.save to a temporary name, then rename: a kill mid-write keeps the old file."""
    temporary = path.with_name(path.name + ".tmp")
    torch.save(payload, temporary)
    os.replace(temporary, path)


def capture_rng() -> dict[str, Any]:
    """The state of every random generator a training step may draw from."""
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def restore_rng(states: dict[str, Any]) -> None:
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"].cpu())
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in states["cuda"]])


def _to_cpu(state: Any) -> Any:
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return state.detach().cpu()
    return tuple(_to_cpu(s) for s in state)


def _to_device(state: Any, device: str) -> Any:
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return state.to(device)
    return tuple(_to_device(s, device) for s in state)
