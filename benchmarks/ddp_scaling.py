"""Training throughput on 1, 2, ... ranks and the scaling efficiency of data parallelism.

    python benchmarks/ddp_scaling.py                      # this CPU: 1 and 2 ranks, one thread each
    python benchmarks/ddp_scaling.py --device cuda        # 1 .. every GPU of this machine
    python benchmarks/ddp_scaling.py --scaling strong     # the global batch fixed instead

What it runs. ``bench run`` itself, end to end, for each rank count: plain ``bench run`` for
one rank, ``bench run --nproc-per-node N`` (torch.distributed.run, DistributedDataParallel,
gloo on CPU, nccl on GPUs) for N ranks, with every torch process on one thread
(OMP_NUM_THREADS=1). The figure is the run's own training throughput, as stored in its
database row: the tokens of every rank trained per second of training steps (validation,
scoring and start-up excluded), the median over ``--repeats`` runs.

``--scaling weak`` (default): every rank trains ``--batch`` columns, so N ranks train a
global batch of N x ``--batch`` (how data parallelism is used: more devices, a bigger
batch). ``--scaling strong``: the global batch stays ``--batch`` and each rank trains
``--batch / N`` columns (the same training as one process, done faster if it scales).

Efficiency is tok/s(N) / (N x tok/s(1)): 1.0 is perfect scaling. On a CPU the ranks share
the machine's cores, memory bandwidth and caches (and the all-reduce runs on those cores
too), so efficiency says how well N processes use N cores, not what N GPUs would do. With
one GPU only the 1-rank figure exists.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from bench.machine.environment import cpu_model
from bench.store import Store


def one_run(ranks: int, batch: int, args: argparse.Namespace, folder: Path) -> float:
    """A fresh ``bench run`` on ``ranks`` ranks; its training tokens per second."""
    db = f"sqlite:///{folder / f'runs-{ranks}-{batch}.db'}"
    command = [
        sys.executable,
        "-m",
        "bench",
        "run",
        "--plugin",
        "lstm",
        "--no-progress",
        "--device",
        args.device,
        "--db",
        db,
        "--data-dir",
        str(folder / "data"),
        "--set",
        "epochs=1",
        "--set",
        f"max_steps_per_epoch={args.steps}",
        "--set",
        f"batch_size={batch}",
        "--set",
        f"bptt={args.bptt}",
        "--set",
        f"hidden_size={args.hidden}",
        "--set",
        f"embedding_size={args.hidden}",
        "--set",
        f"layers={args.layers}",
        "--set",
        "checkpoint_minutes=1000",
    ]
    if args.corpus:
        command += ["--corpus", args.corpus]
    if ranks > 1:
        command += ["--nproc-per-node", str(ranks)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        sys.exit(f"bench run on {ranks} rank(s) failed:\n{result.stderr[-3000:]}")
    store = Store(db)
    latest = store.list_runs(limit=1)[0]
    value = store.get_run(latest["id"])["train_tokens_per_second"]
    store.close()
    return float(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument(
        "--ranks", type=int, nargs="*", help="rank counts [default: 1 2 on a CPU, 1 .. every GPU]"
    )
    parser.add_argument("--scaling", choices=["weak", "strong"], default="weak")
    parser.add_argument(
        "--batch", type=int, default=32, help="columns per rank (weak) or in all (strong)"
    )
    parser.add_argument("--bptt", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=60, help="training steps per run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--corpus",
        help="a corpus name or folder [default: the embedded Tiny Shakespeare, characters]",
    )
    args = parser.parse_args()
    gpus = torch.cuda.device_count() if args.device.startswith("cuda") else 0
    if args.device.startswith("cuda") and not gpus:
        sys.exit("--device cuda: no CUDA device here")
    ranks = args.ranks or (list(range(1, gpus + 1)) if gpus else [1, 2])
    device = torch.cuda.get_device_name(0) if gpus else f"{cpu_model()} ({os.cpu_count()} cores)"
    print(f"device: {device}" + (f", {gpus} GPU(s)" if gpus else ", one thread per rank"))
    print(
        f"torch {torch.__version__}; LSTM {args.layers}x{args.hidden}, bptt {args.bptt}, "
        f"{args.scaling} scaling, batch {args.batch} "
        f"{'per rank' if args.scaling == 'weak' else 'in all'}; "
        f"{args.steps} steps per run, median of {args.repeats}"
    )
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    if gpus == 1:
        print("one GPU: only the 1-rank figure exists (no scaling to measure)")
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for count in ranks:
            batch = args.batch * count if args.scaling == "weak" else args.batch
            if batch % count:
                sys.exit(f"global batch {batch} does not split over {count} ranks")
            rates = [one_run(count, batch, args, Path(scratch)) for _ in range(args.repeats)]
            rows.append((count, batch, statistics.median(rates), rates))
    base = rows[0][2] if rows[0][0] == 1 else None
    print(
        f"{'ranks':>5} {'global batch':>12} {'tok/s total':>12} {'tok/s per rank':>15} "
        f"{'efficiency':>10}   runs"
    )
    for count, batch, rate, rates in rows:
        efficiency = f"{rate / (count * base):10.2f}" if base else f"{'n/a':>10}"
        print(
            f"{count:>5} {batch:>12} {rate:>12,.0f} {rate / count:>15,.0f} {efficiency}   "
            + ", ".join(f"{r:,.0f}" for r in rates)
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
