"""Logging overhead in one run: blocks of steps logged and not logged, side by side in time.

`logging_overhead.py` compares whole runs with and without `--log-to`; on a shared
machine, whose speed drifts by far more than 2% from one minute to the next, separate runs
cannot show a 2% difference. This one trains a single run of a fast model (every step
logged: log_every=1) with its trackers open from start to end, and lets the rows through
to them in alternate blocks of ``--block`` steps only: one block logged, the next not, and
so on, the order swapped in every other pair so that neither side always comes first. Each
pair's two blocks lie seconds apart, so the machine's drift hits both alike, and the
figure is the median over the pairs of (tokens/s of the logged block) / (tokens/s of the
block beside it).

Only the second half of each block is timed. A destination's thread sends what gathered
once a second and the tracker then works on it, so the first half of a block not logged
may still carry the work of the block before it, and the first half of a logged block may
not yet carry its own; with the default block (1,000 steps of 3 to 5 ms) each half lasts
longer than the second those take. Pairs in which an epoch ended (a validation pass) are
left out.

Besides tokens/s, each timed half counts CPU time: the training process's thread that
trains, the whole training process (its loggers' threads too), and the processes it
started (a tracker's own process, W&B's wandb-core) from Linux's /proc, in 10 ms ticks.

    python benchmarks/logging_blocks.py --log-to wandb --threads 1 --helper-cpu 0
    python benchmarks/logging_blocks.py --log-to wandb --threads 1 --tracker-in thread
    python benchmarks/logging_blocks.py --log-to tensorboard --log-to mlflow --pairs 20
    python benchmarks/logging_blocks.py --log-to csv --threads 1 --helper-cpu 0 --burn 0.07
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from logging_overhead import FAST, LIBRARIES, destinations, helpers, quiet_runner, tracker_arguments
from process_table import descendants, process_table

from bench.api.plugin_host import load_plugins
from bench.configuration.run_config import build_config
from bench_plugins.loggers import tracker_process


class Reading(NamedTuple):
    wall: float  # seconds
    thread: float  # CPU seconds of the thread that trains
    process: float  # CPU seconds of the training process, all its threads
    helpers: float  # CPU seconds of the processes it started


def reading() -> Reading:
    table = process_table()
    started = sum(table[pid][1] for pid in descendants(table, os.getpid()))
    return Reading(time.perf_counter(), time.thread_time(), time.process_time(), started)


class Blocks:
    """Lets a logger's rows through in alternate blocks of steps and reads the clocks over
    the second half of every block. Pair k is blocks 2k and 2k+1 after the warm-up; the
    logged one is the first of the two in even pairs and the second in odd ones."""

    def __init__(self, warmup: int, block: int, pairs: int) -> None:
        self.warmup, self.block, self.pairs = warmup, block, pairs
        self.halves: dict[int, tuple[Reading, Reading]] = {}  # block -> start, end
        self.epochs: dict[int, set[int]] = {}  # block -> the epochs its steps lay in
        self._start: Reading | None = None
        self.first_block: Callable[[], None] | None = None  # called as the first block starts
        self.changed: Callable[[bool], None] | None = None  # each block's start: logged?

    def logged(self, block: int) -> bool:
        pair, second = divmod(block, 2)
        return second == pair % 2

    def step(self, step: int, epoch: int | None) -> bool:
        """Reads the clocks at a block's half and at its last step (before the epoch's end,
        when the block ends one); whether this step's row goes on."""
        index = step - 1  # the loop counts steps from 1
        if index < self.warmup:
            return True
        block, within = divmod(index - self.warmup, self.block)
        if index == self.warmup and self.first_block is not None:
            self.first_block()
        self.epochs.setdefault(block, set()).add(epoch or 0)
        if within == 0 and self.changed is not None:
            self.changed(block < 2 * self.pairs and self.logged(block))
        if within == self.block // 2:
            self._start = reading()
        elif within == self.block - 1 and self._start is not None:
            self.halves[block] = (self._start, reading())
            self._start = None
        return block < 2 * self.pairs and self.logged(block)

    def timed_steps(self) -> int:
        return self.block - 1 - self.block // 2


def gate(plugin: Any, blocks: Blocks, *, rows: bool = True) -> None:
    """Puts ``blocks`` between the training loop and ``plugin``'s trackers: rows of steps
    go on in logged blocks only (none after the warm-up, without ``rows``); the rest
    (epoch ends, the run's summary) always."""
    forward = plugin.log_metrics

    def log_metrics(run: Any, metrics: dict, step: int | None, epoch: int | None) -> None:
        a_step = step is not None and "train_loss" in metrics
        if not a_step or (blocks.step(step, epoch) and (rows or step <= blocks.warmup)):
            forward(run, metrics, step, epoch)

    plugin.log_metrics = log_metrics


class Pair(NamedTuple):
    ratio: float  # tokens/s logged / tokens/s not logged
    thread: float  # CPU seconds per step, logged minus not: the training thread
    process: float  # the same for the whole training process
    helpers: float  # the same for its helper processes


def pairs(blocks: Blocks) -> list[Pair]:
    found = []
    for pair in range(blocks.pairs):
        first, second = 2 * pair, 2 * pair + 1
        if first not in blocks.halves or second not in blocks.halves:
            continue
        if len(blocks.epochs[first] | blocks.epochs[second]) > 1:  # a validation pass
            continue
        on, off = (first, second) if blocks.logged(first) else (second, first)
        spent = {
            block: Reading(*(end - start for start, end in zip(*blocks.halves[block], strict=True)))
            for block in (on, off)
        }
        steps = blocks.timed_steps()
        found.append(
            Pair(
                spent[off].wall / spent[on].wall,
                *(
                    (getattr(spent[on], f) - getattr(spent[off], f)) / steps
                    for f in Reading._fields[1:]
                ),
            )
        )
    return found


def main() -> None:
    args = _arguments()
    # imported after the arguments are read: --help and a mistaken argument answer at once
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.helper_cpu is not None:
        tracker_process.CPUS = {args.helper_cpu}
    # an epoch of two blocks: the first epoch warms up (the trackers open their runs), then
    # each epoch is one pair, and the epochs' ends (validation) fall between pairs
    epoch = 2 * args.block
    blocks = Blocks(warmup=epoch, block=args.block, pairs=args.pairs)
    kinds = args.kinds or sorted(LIBRARIES)
    workdir = Path(tempfile.mkdtemp(prefix="bench-logging-"))
    os.environ.setdefault("WANDB_DIR", str(workdir))
    os.environ.setdefault("WANDB_SILENT", "true")
    log_to = destinations(kinds, workdir)
    host = load_plugins()
    for kind in kinds:
        plugin = importlib.import_module(f"bench_plugins.loggers.to_{kind}").plugin
        if args.tracker_in is not None:
            plugin.process = args.tracker_in == "process"
        print(f"{kind}: tracker in {'its own process' if plugin.process else 'a thread'}")
        gate(plugin, blocks, rows=args.burn is None)
    if args.burn is not None:
        blocks.changed = _burner(args.helper_cpu, args.burn)
    if args.helper_cpu is not None:  # W&B's wandb-core, when W&B runs on a thread of this one
        blocks.first_block = lambda: _move_helpers(args.helper_cpu)
    runner = quiet_runner(host, workdir)
    config = build_config(
        {},
        {"plugin": "lstm", "corpus": args.corpus, "log_to": log_to},
        (
            *FAST,
            f"epochs={args.pairs + 1}",
            f"max_steps_per_epoch={epoch}",
            "log_every=1",
            "dropout=0",
            "checkpoint_minutes=100000",  # no checkpoint inside a timed half
        ),
    )
    runner.run(config, command="benchmarks/logging_blocks.py")
    found = pairs(blocks)
    if not found:  # an epoch ended before its two blocks did
        raise SystemExit(
            f"no pair of blocks was timed: an epoch of {args.corpus} has fewer than "
            f"{epoch:,} steps; try a smaller --block"
        )
    _report(found, args, log_to, torch.__version__, torch.get_num_threads())


def _arguments() -> argparse.Namespace:
    parser = tracker_arguments(__doc__)
    parser.add_argument(
        "--block", type=int, default=1000, help="steps per block, at least 4 [1000]"
    )
    parser.add_argument("--pairs", type=int, default=30, help="pairs of blocks, at least 1 [30]")
    parser.add_argument(
        "--burn",
        type=float,
        metavar="FRACTION",
        help="a control: log no rows after the warm-up; instead a process on --helper-cpu "
        "keeps that CPU busy this fraction of the time during the blocks that would be "
        "logged (what the same load beside the training costs on this machine)",
    )
    args = parser.parse_args()
    if args.burn is not None and args.helper_cpu is None:
        parser.error("--burn needs --helper-cpu: the CPU to keep busy")
    if args.burn is not None and not 0 < args.burn <= 1:
        parser.error(f"--burn {args.burn:g}: a fraction of the time, above 0 and at most 1")
    if args.block < 4 or args.pairs < 1:  # a block's timed second half needs steps
        parser.error("--block needs at least 4 steps and --pairs at least 1")
    return args


def _report(
    found: list[Pair], args: argparse.Namespace, log_to: list[str], torch_version: str, threads: int
) -> None:
    print(
        f"lstm {' '.join(FAST)} on {args.corpus}, every step logged, {len(found)} of "
        f"{args.pairs} pairs of {args.block}-step blocks (second halves timed), torch "
        f"{torch_version}, {threads} threads, CPUs "
        f"{sorted(os.sched_getaffinity(0))}"
        + (f", helpers on CPU {args.helper_cpu}" if args.helper_cpu is not None else "")
    )
    print(f"logging to: {', '.join(log_to)}")
    if args.burn is not None:
        print(
            f"control: no rows logged; CPU {args.helper_cpu} busy {args.burn:.0%} in 'logged' blocks"
        )
    ratios = [p.ratio for p in found]
    low, high = _median_interval(ratios)
    print(
        f"tokens/s logged / not logged: median {statistics.median(ratios):.3f} "
        f"(95% interval of the median {low:.3f} to {high:.3f}; pairs from {min(ratios):.3f} "
        f"to {max(ratios):.3f}); cost {100 * (1 - statistics.median(ratios)):+.1f}%, goal <= 2%"
    )
    for field, name in (
        ("thread", "the training thread"),
        ("process", "the training process"),
        ("helpers", "its helper processes"),
    ):
        extra = [1e6 * getattr(p, field) for p in found]
        low, high = _median_interval(extra)
        print(
            f"CPU per logged step, {name}: {statistics.median(extra):+.1f} us "
            f"(median over the pairs; 95% interval {low:+.1f} to {high:+.1f})"
        )


def _median_interval(values: list[float], draws: int = 2000) -> tuple[float, float]:
    """A bootstrap 95% interval of the median of ``values``: how far the noise between
    pairs leaves the median uncertain."""
    rng = random.Random(0)
    medians = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(draws))
    return medians[int(0.025 * draws)], medians[int(0.975 * draws) - 1]


def _burn(cpu: int, fraction: float, on: Any) -> None:
    """Busy for ``fraction`` of every 4 ms while ``on`` is set, asleep otherwise."""
    os.sched_setaffinity(0, {cpu})
    period = 0.004
    while True:
        on.wait()
        started = time.perf_counter()
        while time.perf_counter() - started < fraction * period:
            pass
        time.sleep((1 - fraction) * period)


def _burner(cpu: int, fraction: float) -> Callable[[bool], None]:
    """Starts the control's busy process; returns the switch for it."""
    import multiprocessing

    on = multiprocessing.Event()
    multiprocessing.Process(target=_burn, args=(cpu, fraction, on), daemon=True).start()
    return lambda logged: on.set() if logged else on.clear()


def _move_helpers(cpu: int) -> None:
    """Puts every thread of the processes this one started on ``cpu`` (affinity is a
    thread's on Linux): wandb-core, which W&B starts from the process its run opens in."""
    for pid in helpers():
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):  # ended meanwhile
                os.sched_setaffinity(int(task.name), {cpu})


if __name__ == "__main__":
    main()
