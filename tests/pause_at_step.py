"""`python pause_at_step.py N ARGS...` runs `bench ARGS...` and, when training reaches its
step N, prints "paused at step N" on stdout and waits there for ever: a test that kills the
process then knows exactly where it stopped, without watching the clock.

`python pause_at_step.py --in-write M N ARGS...` lets step N run, then pauses half-way
through the M-th file torch.save writes from there on (half the bytes written, flushed),
printing "paused in a write after step N": a kill there is a kill during that write,
whatever file it was and however bench writes it.
"""

import io
import sys
import threading

import torch

from bench.cli import main
from bench_plugins.recurrent.network import RecurrentNetwork


def wait_for_ever(message: str) -> None:
    print(message, flush=True)
    threading.Event().wait()  # until the test kills the process


def pause_before_step(step: int, writes: int = 0) -> None:
    """Pause before training step ``step``, or (``writes`` > 0) in that many-th torch.save
    from step ``step`` on."""
    training_loss = RecurrentNetwork.training_loss
    calls = {"n": 0}

    def paused(self, inputs, targets, state):
        calls["n"] += 1
        if calls["n"] == step:
            if writes:
                pause_in_write(writes, f"paused in a write after step {step}")
            else:
                wait_for_ever(f"paused at step {step}")
        return training_loss(self, inputs, targets, state)

    RecurrentNetwork.training_loss = paused


def pause_in_write(nth: int, message: str) -> None:
    """From now on, the ``nth`` torch.save writes half its bytes and never returns."""
    save = torch.save
    count = {"n": 0}

    def half_then_pause(obj, f, *args, **kwargs):
        count["n"] += 1
        if count["n"] < nth:
            return save(obj, f, *args, **kwargs)
        whole = io.BytesIO()
        save(obj, whole, *args, **kwargs)
        data = whole.getvalue()[: len(whole.getvalue()) // 2]
        if hasattr(f, "write"):
            f.write(data)
            f.flush()
        else:
            with open(f, "wb") as out:
                out.write(data)
        wait_for_ever(message)

    torch.save = half_then_pause


if __name__ == "__main__":
    writes = 0
    if sys.argv[1] == "--in-write":
        writes = int(sys.argv[2])
        del sys.argv[1:3]
    pause_before_step(int(sys.argv[1]), writes)
    sys.argv = ["bench", *sys.argv[2:]]
    main()
