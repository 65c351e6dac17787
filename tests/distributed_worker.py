"""One rank of a test run under torch.distributed.run: bench's own command line, with one
training step of one rank made to misbehave.

    python -m torch.distributed.run --standalone --nproc-per-node 2 \\
        tests/distributed_worker.py ctrl-c|raise RANK CALL run --plugin lstm ...

``ctrl-c``: at its CALL-th training step, rank RANK sends SIGINT to its whole process
group (the agent and every rank), as Ctrl-C in a terminal does. ``raise``: rank RANK
raises ValueError at its CALL-th training step.
"""

import os
import signal
import sys

from bench.cli import main
from bench_plugins.recurrent.network import RecurrentNetwork

how, rank, call = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sys.argv[0:4] = ["bench"]
training_loss = RecurrentNetwork.training_loss
calls = {"n": 0}


def misbehaving(self, inputs, targets, state):
    calls["n"] += 1
    if calls["n"] == call and int(os.environ["RANK"]) == rank:
        if how == "ctrl-c":
            os.killpg(os.getpgid(0), signal.SIGINT)
        else:
            raise ValueError(f"rank {rank} broke at step {call}")
    return training_loss(self, inputs, targets, state)


RecurrentNetwork.training_loss = misbehaving
main()
