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
            f"share; use a multiple of {world_size}")
