"""Logging overhead: a fast model's training throughput with and without `--log-to`.

The same short run (every step logged: log_every=1) trains alternately with the trackers
on and off, repeated, so machine noise hits both alike; the figure reported is the ratio
of median training throughputs (bench's own train tokens/s, which counts the time the
hooks take inside the loop). One untimed run per kind first, so that a library's import
and start-up (W&B starts a helper process) are not charged to the first trial. Goal:
logging every step costs at most 2%.

On a core shared with other work the throughput ratio understates what logging costs (the
scheduler also takes time from the others), so each trial's CPU seconds are counted too:
this process's, all threads, and those of the helper processes it started (W&B's
wandb-core), read from /proc on Linux. Their difference, per training step, is what
logging costs wherever the training has a core to itself.

    python benchmarks/logging_overhead.py                        # every installed tracker
    python benchmarks/logging_overhead.py --log-to tensorboard --log-to csv
    python benchmarks/logging_overhead.py --threads 1 --steps 400 --repeats 5
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from bench.api.plugin_host import load_plugins
from bench.configuration.run_config import build_config
from bench.run.runner import Runner
from bench.store import Store

# a model fast enough that per-step costs show: ~5k parameters on characters
FAST = ("layers=1", "hidden_size=32", "embedding_size=16", "batch_size=16", "bptt=16")
LIBRARIES = {"tensorboard": "tensorboard", "mlflow": "mlflow", "wandb": "wandb", "csv": None}


def destinations(kinds: list[str], folder: Path) -> list[str]:
    """Each installed tracker of ``kinds``, writing under ``folder``."""
    targets = {
        "tensorboard": f"tensorboard:{folder / 'tb'}",
        "csv": f"csv:{folder / 'csv'}",
        "mlflow": f"mlflow:sqlite:///{folder / 'mlflow.db'}",
        "wandb": "wandb",
    }
    chosen = []
    for kind in kinds:
        library = LIBRARIES[kind]
        if library is None or importlib.util.find_spec(library) is not None:
            chosen.append(targets[kind])
        else:
            print(f"{kind}: not installed (pip install 'bench-lm[{kind}]'), left out")
    return chosen


def cpu_seconds() -> float:
    """CPU seconds used so far by this process and by the processes it started that still
    run (Linux; elsewhere this process's only)."""
    total = time.process_time()
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # ended meanwhile
            continue
        fields = text[text.rindex(")") + 2 :].split()  # after "pid (name) "
        if int(fields[1]) == os.getpid():  # parent pid; then user and system time at 11, 12
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def trial(runner: Runner, corpus: str, steps: int, log_to: list[str]) -> tuple[float, float]:
    """One run through `bench run`'s code path: its recorded train tokens/s, and the CPU
    seconds it took (set-up, training, evaluation, the trackers' helpers)."""
    config = build_config(
        {},
        {"plugin": "lstm", "corpus": corpus, "log_to": log_to},
        (*FAST, "epochs=1", f"max_steps_per_epoch={steps}", "log_every=1", "dropout=0"),
    )
    before = cpu_seconds()
    result = runner.run(config, command="benchmarks/logging_overhead.py")
    return result.summary["train_tokens_per_second"], cpu_seconds() - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--log-to", action="append", choices=sorted(LIBRARIES), dest="kinds")
    parser.add_argument("--corpus", default="tinyshakespeare")
    parser.add_argument("--steps", type=int, default=300, help="training steps per trial")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, help="torch intra-op threads [default: torch's]")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    workdir = Path(tempfile.mkdtemp(prefix="bench-logging-"))
    os.environ.setdefault("WANDB_DIR", str(workdir))
    os.environ.setdefault("WANDB_SILENT", "true")
    log_to = destinations(args.kinds or sorted(LIBRARIES), workdir)
    runner = Runner(
        load_plugins(),
        Store(f"sqlite:///{workdir / 'bench.db'}"),
        workdir,
        progress=False,
        echo=lambda message: None,
    )
    trial(runner, args.corpus, 20, log_to)  # untimed: imports, start-up, corpus, caches
    logged, quiet = [], []
    for repeat in range(args.repeats):
        # alternate which goes first, so warm-up and drift do not favour either
        order = [(logged, log_to), (quiet, [])]
        for results, destinations_now in order if repeat % 2 == 0 else order[::-1]:
            results.append(trial(runner, args.corpus, args.steps, destinations_now))
    with_, without = (statistics.median(tps for tps, _ in runs) for runs in (logged, quiet))
    cpu_with, cpu_without = (statistics.median(cpu for _, cpu in runs) for runs in (logged, quiet))
    print(
        f"lstm {' '.join(FAST)} on {args.corpus}, every step logged, {args.steps} steps x "
        f"{args.repeats} repeats, torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    print(f"logging to: {', '.join(log_to)}")
    print(f"with    train tokens/s: median {with_:,.0f}  (all: {_all(logged, 0, '{:,.0f}')})")
    print(f"without train tokens/s: median {without:,.0f}  (all: {_all(quiet, 0, '{:,.0f}')})")
    print(
        f"throughput with / without: {with_ / without:.3f}  "
        f"(cost {100 * (1 - with_ / without):+.1f}%; goal <= 2%)"
    )
    print(f"with    CPU s per trial: median {cpu_with:.2f}  (all: {_all(logged, 1, '{:.2f}')})")
    print(f"without CPU s per trial: median {cpu_without:.2f}  (all: {_all(quiet, 1, '{:.2f}')})")
    extra = cpu_with - cpu_without
    print(
        f"logging's CPU: {extra:+.2f} s per trial, {1000 * extra / args.steps:+.3f} ms per "
        f"step; {100 * extra / cpu_without:+.1f}% of a trial without it"
    )


def _all(runs: list[tuple[float, float]], field: int, style: str) -> str:
    return ", ".join(style.format(run[field]) for run in runs)


if __name__ == "__main__":
    main()
