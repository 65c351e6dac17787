"""What weight drop costs in awd-lstm's network: training steps with DropConnect on the
hidden-to-hidden matrices (a dropped copy handed to torch's LSTM kernel through
torch.func.functional_call) against the same network without it (nn.LSTM called as is).

    python benchmarks/awd_weight_drop_speed.py                       # PTB size, this CPU
    python benchmarks/awd_weight_drop_speed.py --embedding 100 --hidden 200 --batch 20 --bptt 35

Each step is the training step of the plugin: forward with every dropout, the loss with AR
and TAR, backward and an SGD update; after one untimed step, the median of ``--steps``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from bench_plugins.awd_lstm import AWDLSTMOptions
from bench_plugins.awd_lstm.network import AWDLSTMNetwork


def step_seconds(options: AWDLSTMOptions, vocab: int, steps: int) -> float:
    torch.manual_seed(0)
    network = AWDLSTMNetwork(vocab, options)
    optimizer = torch.optim.SGD(network.parameters(), lr=1.0)
    ids = torch.randint(0, vocab, (options.bptt + 1, options.batch_size))
    state, times = None, []
    for step in range(steps + 1):
        start = time.perf_counter()
        loss, _, state = network.training_loss(ids[:-1], ids[1:], state)
        state = tuple((h.detach(), c.detach()) for h, c in state)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--embedding", type=int, default=400)
    parser.add_argument("--hidden", type=int, default=1150)
    parser.add_argument("--batch", type=int, default=40)
    parser.add_argument("--bptt", type=int, default=70)
    parser.add_argument("--vocab", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    sizes = dict(
        embedding_size=args.embedding,
        hidden_size=args.hidden,
        batch_size=args.batch,
        bptt=args.bptt,
    )
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; 3 layers "
        f"{args.hidden}/{args.embedding}, vocab {args.vocab:,}, window {args.batch} x {args.bptt}"
    )
    for name, weight_drop in (("without weight drop", 0.0), ("with weight drop 0.5", 0.5)):
        seconds = step_seconds(
            AWDLSTMOptions(weight_drop=weight_drop, **sizes), args.vocab, args.steps
        )
        tokens = args.batch * args.bptt / seconds
        print(f"{name:22} {1000 * seconds:9.1f} ms per step, {tokens:9,.0f} tokens/s")


if __name__ == "__main__":
    main()
