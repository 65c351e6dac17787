"""Which training columns a rank trains when several processes train one model.

``batch_size`` is the global number of columns (see :mod:`bench.batching`); with N ranks,
rank r trains the r-th contiguous block of ``batch_size / N`` of them::

    columns  0 1 2 3 | 4 5 6 7      batch_size 8, two ranks
             rank 0  | rank 1

Each column is one contiguous stretch of the train stream, so the recurrent state a rank
carries from window to window continues the same text, exactly as in one process. Equal
shares make DistributedDataParallel's averaged gradient the gradient of the global
per-token mean loss, which is why the batch must divide evenly.
"""

from __future__ import annotations

from typing import Any

from bench.errors import BenchError


def column_share(batch_size: int, rank: int, world_size: int) -> slice:
    """The columns rank ``rank`` of ``world_size`` trains (all of them for one process)."""
    check_divisible(batch_size, world_size)
    share = batch_size // world_size
    return slice(rank * share, (rank + 1) * share)


def check_divisible(batch_size: int, world_size: int) -> None:
    """A user error unless every rank gets the same number of columns."""
    if batch_size % world_size:
        raise BenchError(
            f"batch_size={batch_size} does not split evenly over {world_size} ranks: "
            "batch_size is the global number of columns and each rank trains an equal "
            f"share; use a multiple of {world_size}"
        )


def gather_columns(state: Any) -> Any:
    """The recurrent state of all columns, each rank's share put side by side (dim 1,
    the batch dimension of recurrent states), so a checkpoint holds the whole batch."""
    if state is None:
        return state
    import torch
    import torch.distributed as dist

    if not dist.is_initialized() or dist.get_world_size() == 1:
        return state
    if isinstance(state, torch.Tensor):
        parts = [torch.empty_like(state) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, state.contiguous())
        return torch.cat(parts, dim=1)
    return tuple(gather_columns(part) for part in state)


def take_columns(state: Any, columns: slice) -> Any:
    """This rank's columns of a whole-batch recurrent state (see :func:`gather_columns`)."""
    if state is None:
        return None
    if hasattr(state, "shape"):
        return state[:, columns].contiguous()
    return tuple(take_columns(part, columns) for part in state)
