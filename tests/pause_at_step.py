"""`python pause_at_step.py N ARGS...` runs `bench ARGS...` and, when training reaches its
step N, prints "paused at step N" on stdout and waits there for ever: a test that kills the
process then knows exactly where it stopped, without watching the clock."""

import sys
import threading

from bench.cli import main
from bench_plugins.recurrent.network import RecurrentNetwork


def pause_before_step(step: int) -> None:
    training_loss = RecurrentNetwork.training_loss
    calls = {"n": 0}

    def paused(self, inputs, targets, state):
        calls["n"] += 1
        if calls["n"] == step:
            print(f"paused at step {step}", flush=True)
            threading.Event().wait()  # until the test kills the process
        return training_loss(self, inputs, targets, state)

    RecurrentNetwork.training_loss = paused


if __name__ == "__main__":
    pause_before_step(int(sys.argv[1]))
    sys.argv = ["bench", *sys.argv[2:]]
    main()
