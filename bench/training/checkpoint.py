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

Files are written to a temporary name, flushed to the disk and renamed over the old one,
so a kill (even ``kill -9``) or a crash mid-write leaves the previous checkpoint intact; a
full disk removes the temporary file and says so (:class:`CheckpointError`).

A checkpoint is data, never code: every file is read with ``weights_only=True``, which
rebuilds tensors and plain Python values and refuses anything else, so a ``resume.pt`` or
``best.pt`` that someone replaced cannot run a program when it is loaded. The random
generators are therefore kept as tensors and plain lists; checkpoints written before that
kept numpy's state as an array, and exactly the numpy types that array needs are allowed.
"""

from __future__ import annotations

import errno
import os
import pickle
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.errors import CheckpointError
from bench.machine import distributed
from bench.machine.sharding import map_state
from bench.paths import EPOCH_START_FILE, RESUME_FILE

__all__ = [
    "EPOCH_START_FILE",
    "RESUME_FILE",
    "CheckpointError",
    "EpochSums",
    "LoopState",
    "load_checkpoint",
    "load_weights",
    "restore_checkpoint",
    "restore_epoch_start",
    "restore_rng",
    "save_atomically",
    "save_checkpoint",
    "save_epoch_start",
]


# numpy's generator state as checkpoints before bench kept it as a tensor pickled it: an
# array of uint32 (and nothing that can name other code)
_LEGACY_NUMPY_GLOBALS = [
    np._core.multiarray._reconstruct,
    np.ndarray,
    np.dtype,
    np.dtypes.UInt32DType,
]


@dataclass
class EpochSums:
    """What the epoch in progress has accumulated so far."""

    window: int = 0  # windows of this epoch already trained
    tokens: int = 0
    # training seconds of those windows, in this process and the ones a resume continues:
    # the epoch's throughput counts them with its tokens (a checkpoint without it: 0)
    seconds: float = 0.0
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
        "carried_state": map_state(carried_state, lambda part: part.detach().cpu()),
        "rng": capture_rng(),
    }
    save_atomically(payload, path)


def restore_checkpoint(
    path: Path,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    schedule: Any,
    scaler: Any,
    device: str,
) -> tuple[LoopState, Any]:
    """Put back what :func:`save_checkpoint` wrote: the model, optimiser, schedule and
    scaler states are loaded in place, every random generator is restored (this rank's
    GPU included); returns the loop's position and the whole batch's carried state."""
    saved = load_checkpoint(path, device)
    if saved.get("epoch_start") is not None and distributed.current().is_main:
        # a checkpoint from before the epoch start had a file of its own
        save_atomically(saved["epoch_start"], path.with_name(EPOCH_START_FILE))
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    if schedule is not None:
        schedule.load_state_dict(saved["schedule"])
    if scaler is not None:
        scaler.load_state_dict(saved["scaler"])
    restore_rng(saved["rng"])
    distributed.restore_device_rng(saved["rng"], device)
    return saved["loop"], saved["carried_state"]


def save_epoch_start(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
    """Keep the weights and optimiser state of an epoch's start (atomically, as a checkpoint)."""
    save_atomically({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, path)


def restore_epoch_start(
    path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, device: str
) -> None:
    """Put back what :func:`save_epoch_start` kept."""
    saved = load_weights(path, device)
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])


def load_checkpoint(path: Path, device: str) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`; ``loop`` comes back as LoopState."""
    payload = load_weights(path, device)
    loop = dict(payload["loop"])
    loop["sums"] = EpochSums(**loop["sums"])
    payload["loop"] = LoopState(**loop)
    payload["carried_state"] = map_state(payload["carried_state"], lambda part: part.to(device))
    return payload


def load_weights(path: Path, device: str) -> Any:
    """Read a file written by bench's checkpoints (or any ``torch.save`` of tensors and plain
    values) without running code: ``weights_only=True``, memory-mapped.

    A file that holds anything else, or that is cut short, raises :class:`CheckpointError`
    naming the file and what to do.
    """
    try:
        with torch.serialization.safe_globals(_LEGACY_NUMPY_GLOBALS):
            return torch.load(path, map_location=device, mmap=True, weights_only=True)
    except pickle.UnpicklingError as error:
        # torch's message is pages long and suggests weights_only=False: the opposite
        detail = str(error).strip().splitlines()[-1][:200]
        raise CheckpointError(
            f"{path} was not loaded: it holds more than tensors and numbers, which a file "
            f"bench wrote never does, and loading it could run code ({detail}); if you did "
            "not put it there, delete it (a resumed run then trains from the start)"
        ) from None
    except (RuntimeError, EOFError, ValueError, KeyError) as error:
        # torch's own text runs on for lines: its first sentence is the useful part
        first = (str(error).strip().splitlines() or [type(error).__name__])[0].split(". ")[0]
        raise CheckpointError(
            f"{path} is damaged or is not a checkpoint (cut short? {first[:100]}); delete "
            "it: `bench run --resume RUN` then trains the run again from the start"
        ) from None


def save_atomically(payload: dict[str, Any], path: Path) -> None:
    """torch.save to a temporary name, flush it to the disk, then rename: a kill or a crash
    mid-write keeps the old file, and a full disk leaves no temporary file behind."""
    temporary = path.with_name(path.name + ".tmp")
    try:
        with open(temporary, "wb") as file:
            torch.save(payload, file)
            file.flush()
            os.fsync(file.fileno())  # the rename must not reach the disk before the data
        os.replace(temporary, path)
    except BaseException as error:
        temporary.unlink(missing_ok=True)
        if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise CheckpointError(
                f"no space left on {_mount_of(path)} while writing {path}; free some space "
                "there (or choose another data folder with --data-dir) and continue the run "
                "with `bench run --resume RUN`"
            ) from None
        raise
    _fsync_folder(path.parent)


def _mount_of(path: Path) -> Path:
    """The mount point holding ``path``: the disk that is full."""
    path = path.resolve()
    while not path.is_mount() and path.parent != path:
        path = path.parent
    return path


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def capture_rng() -> dict[str, Any]:
    """The state of every random generator a training step may draw from."""
    version, python_words, gauss = random.getstate()
    kind, keys, position, has_gauss, cached = np.random.get_state()
    return {
        # plain values and tensors only, so that the file loads with weights_only=True
        "python": [version, list(python_words), gauss],
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, cached],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def restore_rng(states: dict[str, Any]) -> None:
    version, python_words, gauss = states["python"]
    random.setstate((version, tuple(python_words), gauss))
    kind, keys, position, has_gauss, cached = states["numpy"]
    if isinstance(keys, torch.Tensor):  # an ndarray in checkpoints written before
        keys = keys.numpy()
    np.random.set_state((kind, keys.astype(np.uint32), position, has_gauss, cached))
    torch.set_rng_state(states["torch"].cpu())
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in states["cuda"]])
