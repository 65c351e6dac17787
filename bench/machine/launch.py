"""``--nproc-per-node``, ``--nnodes``, ``--node-rank``, ``--rdzv-endpoint``: a ``bench run`` or
``bench reproduce`` handed to PyTorch's elastic agent (``torch.distributed.run``, the agent
behind ``torchrun``), which starts the ranks; see :mod:`bench.machine.distributed` for what each
rank then does.
"""

from __future__ import annotations

import functools
import logging
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click

from bench.errors import BenchError
from bench.machine.distributed import launched_by_torchrun, worker


@dataclass(frozen=True)
class Launch:
    """What the user asked for: processes on this node, nodes, and how nodes meet."""

    nproc_per_node: int = 1
    nnodes: int = 1
    node_rank: int | None = None
    rdzv_endpoint: str | None = None

    @property
    def wanted(self) -> bool:
        return self.nproc_per_node > 1 or self.nnodes > 1

    def torchrun_args(self) -> list[str]:
        """Arguments of ``torch.distributed.run`` (named as torchrun names them)."""
        args = ["--nproc-per-node", str(self.nproc_per_node), "--nnodes", str(self.nnodes)]
        if self.nnodes == 1 and self.rdzv_endpoint is None:
            args.append("--standalone")  # a free local port: runs never collide
        if self.node_rank is not None:
            args += ["--node-rank", str(self.node_rank)]
        if self.rdzv_endpoint is not None:
            args += ["--rdzv-endpoint", self.rdzv_endpoint]
        return args

    def check(self) -> None:
        if self.nnodes > 1 and self.rdzv_endpoint is None:
            raise BenchError(
                f"--nnodes {self.nnodes} needs --rdzv-endpoint HOST:PORT, an "
                "address of the first node that every node can reach"
            )
        if self.nnodes > 1 and self.node_rank is None:
            raise BenchError(
                f"--nnodes {self.nnodes} needs --node-rank (0 on the node whose "
                "address is the --rdzv-endpoint, 1..N-1 on the others)"
            )
        if self.node_rank is not None and self.node_rank >= self.nnodes:
            raise BenchError(f"--node-rank {self.node_rank} must be below --nnodes {self.nnodes}")


def launch(request: Launch, argv: list[str]) -> None:
    """Start ``python -m bench <argv>`` on every rank of this node through the elastic
    agent, wait for them, and exit as rank 0 did (0, 1 failed, 130 or 143 interrupted)."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    request.check()
    # the agent logs every SIGTERM it sends; rank 0 says what happened to the run
    logging.getLogger("torch.distributed.elastic").setLevel(logging.ERROR)
    args = get_args_parser().parse_args([*request.torchrun_args(), "--module", "bench", *argv])
    try:
        run(args)
    except SignalException as signalled:  # Ctrl-C or kill: the ranks got it too; rank 0
        sys.exit(128 + int(signalled.sigval))  # recorded it; 130 after SIGINT, 143 SIGTERM
    except ChildFailedError as failed:
        codes = {failure.local_rank: failure.exitcode for failure in failed.failures.values()}
        first = codes.get(0)
        # rank 0 has printed and recorded what happened, unless something killed it
        # outright (-9: SIGKILL, out of memory; other signals: a crash)
        if first in (None, 1, 130, 143, -signal.SIGINT, -signal.SIGTERM) or request.node_rank:
            sys.exit(first if first in (130, 143) else 1)
        raise BenchError(
            f"rank 0 ended with exit code {first} before it could record the "
            "run; `bench runs` shows it as running; `bench run --resume RUN` "
            "continues it"
        ) from None


def launch_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The torchrun flags of ``bench run`` and ``bench reproduce``, and what they do.

    Asked for more than one process, the command is handed to the elastic agent; under
    the agent (``torchrun -m bench run ...`` or a rank started that way) it runs as one
    rank of the process group.
    """

    @click.option(
        "--nproc-per-node",
        type=click.IntRange(1),
        default=1,
        show_default=True,
        help="train on this many processes of this machine (one per GPU; on CPU "
        "one per core group), started through torch.distributed.run (torchrun)",
    )
    @click.option(
        "--nnodes",
        type=click.IntRange(1),
        default=1,
        show_default=True,
        help="machines taking part; run the same command on each",
    )
    @click.option(
        "--node-rank",
        type=click.IntRange(0),
        help="this machine's index among --nnodes (0: the one at --rdzv-endpoint)",
    )
    @click.option(
        "--rdzv-endpoint",
        metavar="HOST:PORT",
        help="where the machines meet: an address and free port of node 0",
    )
    @functools.wraps(command)
    def wrapper(
        *args: Any,
        nproc_per_node: int,
        nnodes: int,
        node_rank: int | None,
        rdzv_endpoint: str | None,
        **kwargs: Any,
    ) -> Any:
        request = Launch(nproc_per_node, nnodes, node_rank, rdzv_endpoint)
        if launched_by_torchrun():  # a rank: the agent already started us
            with worker():
                return command(*args, **kwargs)
        if not request.wanted:
            return command(*args, **kwargs)
        name = click.get_current_context().info_name
        if sys.argv[1:2] != [name]:
            raise BenchError(
                f"--nproc-per-node and --nnodes work from the command line "
                f"(bench {name} ...), or under torchrun -m bench {name} ..."
            )
        launch(request, sys.argv[1:])
        return None

    return wrapper
