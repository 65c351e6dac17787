"""The machine a run happens on: device choice, seeding, versions, memory peaks."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import random
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

import bench
from bench.errors import BenchError
from bench.machine.allocator import allocator_record


def resolve_device(requested: str, *, torch_too: bool = True) -> str:
    """``auto`` picks CUDA when available, else CPU; an unavailable device is a user error.

    For a model that never uses torch (``torch_too=False``) ``auto`` is the CPU, found
    without importing torch.
    """
    requested = requested.strip().lower()
    if not torch_too and requested in ("auto", "cpu"):
        return "cpu"
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda"):
        if not torch.cuda.is_available():
            raise BenchError(
                f"--device {requested}: CUDA is not available on this machine "
                "(use --device cpu or auto)"
            )
        index = requested.partition(":")[2]
        if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
            raise BenchError(
                f"--device {requested}: this machine has {torch.cuda.device_count()} CUDA device(s)"
            )
        return requested
    if requested == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise BenchError("--device mps: Apple MPS is not available on this machine")
        return requested
    if requested == "cpu":
        return requested
    raise BenchError(f"unknown device {requested!r}: use auto, cpu, cuda, cuda:N or mps")


def seed_everything(seed: int, *, torch_too: bool = True) -> None:
    """Seed Python, numpy and torch (all devices) so a run can be repeated.

    ``torch_too=False`` (a model that never uses torch) leaves torch unimported: it costs
    about a second and 180 MB to load.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    if torch_too:
        import torch

        torch.manual_seed(seed)


def synchronize(device: str) -> None:
    """Wait for queued GPU work, so timings measure the work and not its launch."""
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize(device)


def reset_peak_memory(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.reset_peak_memory_stats(device)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 / 1024 if sys.platform == "darwin" else peak / 1024


def cuda_max_allocated_mb(device: str) -> float | None:
    if not device.startswith("cuda"):
        return None
    import torch

    return torch.cuda.max_memory_allocated(device) / 2**20


def device_name(device: str) -> str:
    """A human name for the device: the GPU model, or the CPU model and the number of
    cores this process may run on (fewer than the machine's under taskset or a container's
    CPU set, and that is what its speed reflects)."""
    if device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_name(device)
    cores = usable_cores()
    return f"{cpu_model()} ({cores} core{'s' if cores != 1 else ''})"


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity), else the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "CPU"


def git_commit(path: Path | None = None) -> str | None:
    """The commit of bench's own source tree when it is a git checkout."""
    path = path or Path(bench.__file__).resolve().parent.parent
    try:
        result = subprocess.run(
            ["git", "-C", str(path), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if result.returncode != 0:
        return None
    dirty = subprocess.run(
        ["git", "-C", str(path), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        timeout=5,
        check=False,
    ).stdout.strip()
    return result.stdout.strip() + ("-dirty" if dirty else "")


def describe_environment(device: str, *, torch_too: bool = True) -> dict[str, Any]:
    """Versions, device and settings that can change a run's speed or numbers.

    ``torch_too=False`` (a model that never uses torch) records torch's installed version
    from the package metadata without importing it; its CUDA and thread fields are None.
    """
    if torch_too:
        import torch

        torch_fields = {
            "torch": torch.__version__,
            "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version()
            if torch.backends.cudnn.is_available()
            else None,
            "torch_threads": torch.get_num_threads(),
        }
    else:
        torch_fields = {
            "torch": _installed_version("torch"),
            "cuda": None,
            "cudnn": None,
            "torch_threads": None,
        }
    return {
        "bench_version": bench.__version__,
        "python": platform.python_version(),
        **torch_fields,
        "device": device,
        "device_name": device_name(device),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "git_commit": git_commit(),
        # allocator settings change CPU speed measurably: what bench set, and what the
        # environment set
        "allocator": allocator_record(),
        "malloc_env": {k: v for k, v in os.environ.items() if k.startswith("MALLOC_")},
    }


def _installed_version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
