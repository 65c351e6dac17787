"""Logging overhead: a fast model's training throughput with and without `--log-to`.

The same run (every step logged: log_every=1) trains alternately with the trackers on and
off, repeated, so machine noise hits both alike; the figure reported is the ratio of median
training throughputs (bench's own train tokens/s, which counts the time the hooks take
inside the loop). One untimed run per kind first, so that a library's import and W&B's
helper process are not charged to the first trial.

Each trial trains two epochs of ``--steps`` steps. A tracker opens its run on its own
thread while the first steps train (``wandb.init`` takes about a second), so the first
epoch also pays for opening; the second epoch is what every further step of a long run
costs, and is the figure the goal is about: logging every step costs at most 2%. Closing
the run (and W&B's wait for its offline file) comes after the training and is not in
tokens/s at all.

On a core shared with other work the throughput ratio understates what logging costs (the
scheduler also takes time from the others), so each trial's CPU seconds are counted too,
in two places: this process (the training process, all its threads), and the processes
it started (a tracker's own process, and W&B's wandb-core), from /proc and from the
ended children's usage on Linux; both include opening and closing the run. The training
process's CPU per logged step is the firmer figure on a shared machine.

``--helper-cpu N`` runs those processes on CPU N: the case where the trackers' processes
have a core of their own (a tracker in the training process, on a thread, stays on the
training's core). ``--tracker-in thread|process`` runs the chosen loggers' trackers on a
thread of the training process or in a process of their own, whatever each logger's
default (W&B: its own process; the others: a thread). ``--send-seconds S`` has the
destinations' threads send what gathered every S seconds instead of every second.

    python benchmarks/logging_overhead.py                        # every installed tracker
    python benchmarks/logging_overhead.py --log-to tensorboard --log-to csv
    python benchmarks/logging_overhead.py --threads 1 --steps 1000 --repeats 5 --log-to wandb
    python benchmarks/logging_overhead.py --log-to wandb --helper-cpu 0 --tracker-in thread
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from process_table import descendants, process_table

from bench.api.plugin_host import load_plugins
from bench.configuration.run_config import build_config
from bench_plugins.loggers import tracker_process

if TYPE_CHECKING:
    from bench.api.plugin_host import PluginHost
    from bench.run.runner import Runner

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


def cpu_seconds() -> tuple[float, float]:
    """CPU seconds used so far by this process, and by the processes it started: those
    that still run (Linux's /proc) and those that ended (and were waited for)."""
    table, me = process_table(), os.getpid()
    running = sum(table[pid][1] for pid in descendants(table, me))
    ended = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time(), running + ended.ru_utime + ended.ru_stime


def helpers() -> list[int]:
    """The processes this one started that still run (W&B's wandb-core, when W&B runs on
    a thread of this process)."""
    table = process_table()
    return descendants(table, os.getpid())


def cpu_number(text: str) -> int:
    """A CPU of this machine, as ``--helper-cpu`` takes it."""
    cpus = os.cpu_count() or 1
    if not text.isdigit() or int(text) >= cpus:
        raise argparse.ArgumentTypeError(f"{text!r}: this machine's CPUs are 0 to {cpus - 1}")
    return int(text)


def tracker_arguments(doc: str) -> argparse.ArgumentParser:
    """The options both logging benchmarks take: which trackers, on what, and where."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--log-to", action="append", choices=sorted(LIBRARIES), dest="kinds")
    parser.add_argument("--corpus", default="tinyshakespeare")
    parser.add_argument("--threads", type=int, help="torch intra-op threads [default: torch's]")
    parser.add_argument(
        "--helper-cpu", type=cpu_number, help="run the trackers' processes on this CPU"
    )
    parser.add_argument(
        "--tracker-in",
        choices=["thread", "process"],
        help="where the trackers run [default: each logger's choice]",
    )
    return parser


def quiet_runner(host: PluginHost, workdir: Path) -> Runner:
    """bench's runner with a scratch database in ``workdir``, printing nothing."""
    from bench.run.runner import Runner
    from bench.store import Store

    return Runner(
        host,
        Store(f"sqlite:///{workdir / 'bench.db'}"),
        workdir,
        progress=False,
        echo=lambda message: None,
    )


class Trial(NamedTuple):
    steady: float  # train tokens/s of the second epoch: every further step of a long run
    whole: float  # train tokens/s of both epochs: with opening the trackers' runs
    cpu: float  # CPU seconds of the whole trial in this process: the training process
    helpers: float  # CPU seconds of the processes it started: trackers', wandb-core


def trial(runner: Runner, corpus: str, steps: int, log_to: list[str]) -> Trial:
    """One two-epoch run through `bench run`'s code path, and its CPU seconds."""
    config = build_config(
        {},
        {"plugin": "lstm", "corpus": corpus, "log_to": log_to},
        (*FAST, "epochs=2", f"max_steps_per_epoch={steps}", "log_every=1", "dropout=0"),
    )
    before = cpu_seconds()
    result = runner.run(config, command="benchmarks/logging_overhead.py")
    cpu, helpers_cpu = (
        after - earlier for after, earlier in zip(cpu_seconds(), before, strict=True)
    )
    metrics = runner.store.get_run(result.run_id)["metrics"]
    (steady,) = (
        m["value"] for m in metrics if m["name"] == "train_tokens_per_second" and m["epoch"] == 2
    )
    return Trial(steady, result.summary["train_tokens_per_second"], cpu, helpers_cpu)


def main() -> None:
    # imported here, not above: --help and a mistaken argument answer without torch
    import torch

    parser = tracker_arguments(__doc__)
    parser.add_argument("--steps", type=int, default=1000, help="training steps per epoch")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--send-seconds", type=float, help="how often the loggers' threads send [default: 1]"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.send_seconds is not None:
        from bench_plugins.loggers import common

        common.SEND_SECONDS = args.send_seconds
    if args.helper_cpu is not None:  # trackers' processes are started there, and their own
        tracker_process.CPUS = {args.helper_cpu}
    for kind in args.kinds or sorted(LIBRARIES):
        plugin = importlib.import_module(f"bench_plugins.loggers.to_{kind}").plugin
        if args.tracker_in is not None:
            plugin.process = args.tracker_in == "process"
        print(f"{kind}: tracker in {'its own process' if plugin.process else 'a thread'}")
    workdir = Path(tempfile.mkdtemp(prefix="bench-logging-"))
    os.environ.setdefault("WANDB_DIR", str(workdir))
    os.environ.setdefault("WANDB_SILENT", "true")
    log_to = destinations(args.kinds or sorted(LIBRARIES), workdir)
    runner = quiet_runner(load_plugins(), workdir)
    trial(runner, args.corpus, 20, log_to)  # untimed: imports, start-up, corpus, caches
    if args.helper_cpu is not None:  # W&B's helper, started by W&B on a thread of this one
        for pid in helpers():  # each of its threads: affinity is a thread's on Linux
            for task in Path(f"/proc/{pid}/task").iterdir():
                os.sched_setaffinity(int(task.name), {args.helper_cpu})
    logged: list[Trial] = []
    quiet: list[Trial] = []
    for repeat in range(args.repeats):
        # alternate which goes first, so warm-up and drift do not favour either
        order = [(logged, log_to), (quiet, [])]
        for results, destinations_now in order if repeat % 2 == 0 else order[::-1]:
            results.append(trial(runner, args.corpus, args.steps, destinations_now))
    print(
        f"lstm {' '.join(FAST)} on {args.corpus}, every step logged, 2 epochs of "
        f"{args.steps} steps x {args.repeats} repeats, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, CPUs {sorted(os.sched_getaffinity(0))}"
        + (f", helpers on CPU {args.helper_cpu}" if args.helper_cpu is not None else "")
        + (f", sent every {args.send_seconds:g} s" if args.send_seconds is not None else "")
    )
    print(f"logging to: {', '.join(log_to)}")
    _compare("second epoch: train tokens/s", "steady", logged, quiet, "{:,.0f}", ratio=True)
    _compare("both epochs: train tokens/s", "whole", logged, quiet, "{:,.0f}", ratio=True)
    _compare("training process: CPU s per trial", "cpu", logged, quiet, "{:.2f}", ratio=False)
    _compare("its helper processes: CPU s per trial", "helpers", logged, quiet, "{:.2f}", False)
    for name, field in (("training process", "cpu"), ("helper processes", "helpers")):
        extra = statistics.median(getattr(t, field) for t in logged) - statistics.median(
            getattr(t, field) for t in quiet
        )
        print(
            f"logging's CPU in the {name}: {extra:+.2f} s per trial, "
            f"{1e6 * extra / (2 * args.steps):+.0f} us per step (opening and closing included)"
        )


def _compare(
    title: str, field: str, logged: list[Trial], quiet: list[Trial], style: str, ratio: bool
) -> None:
    with_, without = (
        statistics.median(getattr(t, field) for t in runs) for runs in (logged, quiet)
    )
    print(f"{title}")
    for name, median, runs in (("with", with_, logged), ("without", without, quiet)):
        every = ", ".join(style.format(getattr(t, field)) for t in runs)
        print(f"  {name:7} median {style.format(median)}  (all: {every})")
    if ratio:
        print(
            f"  with / without: {with_ / without:.3f}  "
            f"(cost {100 * (1 - with_ / without):+.1f}%; goal <= 2%)"
        )


if __name__ == "__main__":
    main()
