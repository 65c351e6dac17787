"""Training on several devices or machines: torch.distributed under PyTorch's elastic agent.

(Launching is :mod:`bench.machine.launch`; the DDP step :mod:`bench.training.ddp_step`; rank 0's database
and hooks :mod:`bench.machine.rank_zero`.)

``bench run --nproc-per-node N`` hands the very same command to ``torch.distributed.run``
(the agent behind ``torchrun``), which starts N copies of it; a copy finds itself launched
by the agent (``torch.distributed.is_torchelastic_launched()``: RANK, WORLD_SIZE,
LOCAL_RANK are set) and joins the process group instead of launching again. So
``torchrun ... -m bench run ...`` and ``srun torchrun ...`` work the same way.

What each rank does (the rest of bench does not change):

* rank r trains its own contiguous share of the ``batch_size`` columns
  (:mod:`bench.machine.sharding`); DistributedDataParallel averages the gradients, so with equal
  shares and a per-token mean loss the update is that of one process at the same batch;
* after every step the ranks agree, in one small all-reduce, on the step's loss sum, on
  whether anyone was asked to stop (Ctrl-C, SIGTERM) and on whether rank 0's checkpoint
  clock has run out, so every rank stops, saves or goes on at the same step;
* rank 0 alone opens the database (:class:`bench.machine.rank_zero.SharedStore`), writes
  checkpoints, scores the splits (the core's exact protocol, so the perplexity does not
  depend on the world size) and calls observer hooks; what the others need is broadcast from it;
* rank 0 downloads and tokenizes first, the others then read its caches
  (:func:`rank0_first`);
* a rank that fails leaves its error in the rendezvous store before it exits, so rank 0,
  stopped by the lost connection or by the agent's SIGTERM, records that error.

Collectives time out after ``$BENCH_DIST_TIMEOUT_MINUTES`` (default 30) minutes, so a
rank that hangs ends the run as failed instead of holding the others forever.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from bench import interrupts
from bench.errors import BenchError

if TYPE_CHECKING:
    from bench.configuration.options import Options

TIMEOUT_ENV = "BENCH_DIST_TIMEOUT_MINUTES"
DEFAULT_TIMEOUT_MINUTES = 30.0
_STORE_PREFIX = "bench/"  # keys of the rendezvous store bench uses


@dataclass(frozen=True)
class World:
    """This process's place among the ranks (one process: rank 0 of 1)."""

    rank: int = 0
    local_rank: int = 0
    size: int = 1
    local_size: int = 1
    nodes: int = 1
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


_world = World()
_rendezvous: Any = None
_device_label: str | None = None


def current() -> World:
    """The world this process trains in (set by :func:`worker`)."""
    return _world


def launched_by_torchrun() -> bool:
    """Whether torchrun / torch.distributed.run started this process.

    The same test as ``torch.distributed.is_torchelastic_launched()`` (the agent's
    TORCHELASTIC_RUN_ID is set), without importing torch: every command asks it, and
    numpy-only models (kn, unigram) run without torch."""
    return os.getenv("TORCHELASTIC_RUN_ID") is not None


# ------------------------------------------------------------------ a rank's lifetime
def timeout_minutes() -> float:
    value = os.environ.get(TIMEOUT_ENV)
    try:
        return float(value) if value else DEFAULT_TIMEOUT_MINUTES
    except ValueError:
        raise BenchError(f"${TIMEOUT_ENV}={value!r} is not a number of minutes") from None


@contextmanager
def worker() -> Iterator[World]:
    """Join the process group the agent's environment describes, for one command.

    gloo for CPU tensors and nccl for CUDA ones (``cpu:gloo,cuda:nccl`` where CUDA is
    present), each rank on the GPU of its LOCAL_RANK. A rank other than 0 that fails
    leaves its error for rank 0 to record and exits quietly: rank 0 speaks for the run.
    """
    global _world, _rendezvous
    import torch
    import torch.distributed as dist

    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        yield _world
        return
    rank, local_rank = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"])
    local_size = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    cuda = torch.cuda.is_available()
    if cuda and local_rank < torch.cuda.device_count():  # (more ranks: CPU runs only)
        torch.cuda.set_device(local_rank)
    backend = "cpu:gloo,cuda:nccl" if cuda and dist.is_nccl_available() else "gloo"
    dist.init_process_group(backend, timeout=timedelta(minutes=timeout_minutes()))
    _rendezvous = dist.PrefixStore(
        _STORE_PREFIX,
        dist.TCPStore(
            os.environ["MASTER_ADDR"],
            int(os.environ["MASTER_PORT"]),
            is_master=False,
            timeout=timedelta(seconds=60),
        ),
    )
    nodes = int(os.environ.get("GROUP_WORLD_SIZE") or max(1, size // local_size))
    _world = World(rank, local_rank, size, local_size, nodes, backend)
    try:
        yield _world
    except BaseException as error:
        if _world.is_main:
            peer = peer_failure() if not isinstance(error, BenchError) else None
            if peer is not None:  # (a failure before the run's row existed)
                raise BenchError(peer.summary) from None
            raise
        if not isinstance(error, KeyboardInterrupt | PeerError) and not is_lost_peer(error):
            report_failure(error)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130 if isinstance(error, KeyboardInterrupt) else 1)
    dist.destroy_process_group()
    _world = World()


def rank_device(device: str) -> str:
    """The device of this rank: a CUDA run uses the GPU of LOCAL_RANK."""
    if _world.distributed and device.startswith("cuda"):
        return f"cuda:{_world.local_rank}"
    return device


def backend_for(device: str) -> str | None:
    """The backend that reduces this device's tensors (None in one process)."""
    if not _world.distributed:
        return None
    return "nccl" if device.startswith("cuda") and "nccl" in (_world.backend or "") else "gloo"


def check_plan(options: Options, device: str, plugin: str) -> None:
    """User mistakes a distributed run would meet late, refused before any row is written."""
    if not _world.distributed:
        return
    try:
        options.check_world(_world.size, backend_for(device))
    except BenchError as error:
        raise BenchError(f"model {plugin!r}: {error}") from None
    if device.startswith("cuda"):
        import torch

        if _world.local_size > torch.cuda.device_count():
            raise BenchError(
                f"{_world.local_size} ranks on this machine, but it has "
                f"{torch.cuda.device_count()} GPU(s): one rank per GPU "
                "(--nproc-per-node at most the GPU count, or --device cpu)"
            )


def describe(environment: dict[str, Any], device: str) -> dict[str, Any]:
    """The environment of a run with its ranks: world size, backend, nodes, device names.

    Called on every rank (it gathers each rank's device name); ``device_name`` becomes
    e.g. "2 × NVIDIA H200", which leaderboards show.
    """
    if not _world.distributed:
        return environment
    import torch.distributed as dist

    from bench.machine.environment import device_name

    global _device_label
    names: list[Any] = [None] * _world.size
    dist.all_gather_object(names, device_name(device))
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    # GPUs count as devices ("2 × NVIDIA H200"); CPU ranks are processes sharing cores
    unit = "× " if device.startswith("cuda") else "processes on "
    shown = " + ".join(f"{count} {unit}{name}" for name, count in counts.items())
    _device_label = shown
    return environment | {
        "device_name": shown,
        "distributed": {
            "world_size": _world.size,
            "nodes": _world.nodes,
            "ranks_per_node": _world.local_size,
            "backend": backend_for(device),
            "devices": names,
        },
    }


def device_label(device: str) -> str:
    """The device name a run shows: this one's, or the ranks' (set by :func:`describe`)."""
    from bench.machine.environment import device_name

    return _device_label if _world.distributed and _device_label else device_name(device)


# ------------------------------------------------------------------ working together
class PeerError(Exception):
    """Raised on the other ranks when rank 0 fails in work they waited for."""


def from_rank0(compute: Callable[[], Any]) -> Any:
    """``compute()`` on rank 0, its result (or its exception) broadcast to every rank."""
    if not _world.distributed:
        return compute()
    import torch.distributed as dist

    box: list[Any] = [None]
    if _world.is_main:
        try:
            box = [("value", compute())]
        except BaseException as error:
            dist.broadcast_object_list([("error", _picklable(error))], src=0)
            raise
    dist.broadcast_object_list(box, src=0)
    kind, payload = box[0]
    if kind == "error":
        if isinstance(payload, KeyboardInterrupt):
            raise KeyboardInterrupt
        raise PeerError(f"rank 0: {payload}")
    return payload


def _picklable(error: BaseException) -> BaseException:
    import pickle

    try:
        pickle.dumps(error)
        return error
    except (pickle.PicklingError, TypeError, AttributeError):
        return RuntimeError(f"{type(error).__name__}: {error}")


def agree_after_step(step_loss: Any, stop_here: bool, save_due: bool) -> tuple[Any, bool, bool]:
    """One all-reduce after each step: the global loss sum of the step, whether any rank
    was asked to stop, and whether rank 0's checkpoint clock says save.

    Every rank then stops, saves or goes on at the same step: a rank that acted on its
    own would leave the others waiting in a collective.
    """
    import torch
    import torch.distributed as dist

    flags = torch.stack(
        [
            step_loss.detach().double().reshape(()),
            torch.tensor(float(stop_here), dtype=torch.float64, device=step_loss.device),
            torch.tensor(
                float(save_due and _world.is_main), dtype=torch.float64, device=step_loss.device
            ),
        ]
    )
    dist.all_reduce(flags)
    stop, save = flags[1:].tolist()
    return flags[0], stop > 0, save > 0


def restore_device_rng(states: dict[str, Any], device: str) -> None:
    """Give this rank's GPU the generator state of rank 0's GPU from a checkpoint.

    Every rank draws the same amount from its own GPU's generator (equal shares), so
    rank 0's device 0 state is every rank's; the state saved for device r in rank 0's
    process is one rank r never used.
    """
    if _world.distributed and device.startswith("cuda") and states.get("cuda"):
        import torch

        torch.cuda.set_rng_state(states["cuda"][0].cpu(), device)


@contextmanager
def rank0_first(step: str) -> Iterator[None]:
    """Rank 0 does the work inside first (downloads, fitting the tokenizer, encoding into
    the data folder's caches); the others wait, then find it done, or do it themselves
    where the data folder is not shared. The wait has no time limit (encoding a billion
    words takes longer than any collective timeout); if rank 0 dies, the agent stops them.
    """
    if not _world.distributed:
        yield
        return
    key = f"ready/{step}"
    if _world.is_main:
        yield
        _rendezvous.set(key, "1")
        return
    while not _rendezvous.check([key]):
        time.sleep(0.2)
    yield


# ----------------------------------------------------------------- failures and signals
def report_failure(error: BaseException) -> None:
    """Leave this rank's error where rank 0 finds it (the rendezvous store)."""
    if _rendezvous is None:
        return
    from bench.run.failures import PluginFailure

    if isinstance(error, PluginFailure) and error.__cause__ is not None:
        error = error.__cause__  # rank 0 names the rank; the plugin's own exception says why
    summary = "".join(traceback.format_exception_only(type(error), error)).strip()
    text = f"rank {_world.rank} failed: {summary}\n\n{traceback.format_exc()}"
    with suppress(RuntimeError, OSError):  # the store is gone too: the agent still
        _rendezvous.set(f"failed/{_world.rank}", text)  # reports the exit code


@dataclass(frozen=True)
class PeerFailure:
    summary: str
    traceback: str


def peer_failure() -> PeerFailure | None:
    """The error another rank reported before it died, if any (rank 0 asks)."""
    if _rendezvous is None:
        return None
    for rank in range(1, _world.size):
        try:
            if _rendezvous.check([f"failed/{rank}"]):
                summary, _, details = _rendezvous.get(f"failed/{rank}").decode().partition("\n\n")
                return PeerFailure(summary, details)
        except (RuntimeError, OSError):  # the store went away with the agent
            return None
    return None


def is_lost_peer(error: BaseException) -> bool:
    """Whether ``error`` says another rank went away (its own error is reported by it)."""
    import torch.distributed as dist

    if isinstance(error, PeerError | dist.DistError):
        return True
    text = str(error).lower()
    return "gloo" in text or "nccl" in text or "connection closed" in text


def install_signal_handlers() -> None:
    """Ctrl-C and kill as in one process; a rank acts on the first signal only.

    From a terminal, Ctrl-C reaches every rank and the agent, which then sends each rank
    the signal again: the second one must not break into the closing of the run.
    """
    interrupts.install()
    if not _world.distributed:
        return

    def first_only(signum: int, frame: Any) -> None:
        if interrupts.received():  # (the training loop notes the signals it holds back)
            interrupts.note()
        else:
            interrupts.request(signum, frame)

    for signum in interrupts.SIGNALS:
        signal.signal(signum, first_only)
