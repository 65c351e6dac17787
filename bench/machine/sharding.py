"""Which training columns a rank trains when several processes train one model.

``batch_size`` is the global number of columns (see :mod:`bench.tokenization.batching`); with N ranks,
rank r trains the r-th contiguous block of ``batch_size / N`` of them::

    columns  0 1 2 3 | 4 5 6 7      batch_size 8, two ranks
             rank 0  | rank 1

Each column is one contiguous stretch of the train stream, so the recurrent state a rank
carries from window to window continues the same text, exactly as in one process. Equal
shares make DistributedDataParallel's averaged gradient the gradient of the global
per-token mean loss, which is why the batch must divide evenly.
"""

from __future__ import annotations

from collections.abc import Callable
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


def map_state(state: Any, each: Callable[[Any], Any]) -> Any:
    """``each`` applied to every tensor of a recurrent state, the nesting kept: a state is
    None, a tensor, or a tuple of states (an LSTM's (h, c), one per layer, ...)."""
    if state is None:
        return None
    if hasattr(state, "shape"):
        return each(state)
    return tuple(map_state(part, each) for part in state)


def gather_columns(state: Any) -> Any:
    """The recurrent state of all columns, each rank's share put side by side (dim 1,
    the batch dimension of recurrent states), so a checkpoint holds the whole batch."""
    import torch
    import torch.distributed as dist

    if state is None or not dist.is_initialized() or dist.get_world_size() == 1:
        return state

    def gathered(part: torch.Tensor) -> torch.Tensor:
        parts = [torch.empty_like(part) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, part.contiguous())
        return torch.cat(parts, dim=1)

    return map_state(state, gathered)


def take_columns(state: Any, columns: slice) -> Any:
    """This rank's columns of a whole-batch recurrent state (see :func:`gather_columns`)."""
    return map_state(state, lambda part: part[:, columns].contiguous())
