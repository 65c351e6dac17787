"""What each logger's tracker costs per logged row, in CPU seconds, on a thread of the
training process and in a process of its own: the figures that decide which loggers run
their trackers in a process of their own (``LoggerPlugin(..., process=True)``).

Each kind's tracker gets rows like bench's per-step one (one value at its step), in the
batches a destination's thread hands over (a second of a fast model's steps), after its
run was opened. On a thread: the CPU time of this whole process (the tracker's threads
included; W&B's helper process not). In a process: this process's CPU per row (pickling
the batch, the pipe), and, once per run, the tracker process's CPU to start (interpreter,
imports) and open the run, and its peak memory (Linux's /proc). Runs alternate between
the kinds, so machine noise hits them alike; medians are printed.

    python benchmarks/tracker_call_cost.py
    python benchmarks/tracker_call_cost.py --log-to tensorboard --log-to csv --rows 6000
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import itertools
import os
import statistics
import tempfile
import time
from pathlib import Path

from process_table import process_table

from bench import RunInfo
from bench.configuration.run_config import log_destinations
from bench_plugins.loggers import common
from bench_plugins.loggers.tracker_process import TrackerProcess

BATCH = 300  # the rows a destination's thread sends at once: a second of a fast model's steps
KINDS = {"tensorboard": "tensorboard", "mlflow": "mlflow", "csv": None, "wandb": "wandb"}


def destination_of(kind: str, number: int, folder: Path) -> tuple[RunInfo, type, str | None]:
    """A run to send to ``kind``, writing under ``folder``, and the kind's tracker class."""
    target = {
        "tensorboard": f"tensorboard:{folder / 'tb'}",
        "mlflow": f"mlflow:sqlite:///{folder / 'mlflow.db'}",
        "csv": f"csv:{folder / 'csv'}",
        "wandb": "wandb",
    }[kind]
    (destination,) = log_destinations([target])
    info = RunInfo(number, "lstm", "tinyshakespeare", "char", "cpu", {"seed": 1}, (destination,))
    plugin = importlib.import_module(f"bench_plugins.loggers.to_{kind}").plugin
    return info, plugin.tracker, destination.target


def batches(rows: int) -> list[list[tuple[str, tuple]]]:
    """Rows like bench's per-step one, merged into batches as a destination's thread does."""
    calls = [("log", ({"train_loss": 4.0 / (1 + step / 500)}, step, 1)) for step in range(rows)]
    return [common._merged(calls[first : first + BATCH]) for first in range(0, rows, BATCH)]


def on_a_thread(kind: str, number: int, rows: int, folder: Path) -> float:
    """CPU seconds of this process per row sent to a ``kind`` tracker opened beforehand."""
    info, tracker_class, target = destination_of(kind, number, folder)
    tracker = tracker_class(info, target)
    tracker.start({"seed": 1})
    work = batches(rows)
    started = time.process_time()
    for batch in work:
        for method, args in batch:
            getattr(tracker, method)(*args)
        tracker.flush()
    seconds = (time.process_time() - started) / rows
    tracker.finish("finished", {})
    return seconds


def in_a_process(kind: str, number: int, rows: int, folder: Path) -> tuple[float, float, float]:
    """This process's CPU seconds per row sent to a ``kind`` tracker in a process of its
    own; that process's CPU seconds to start and open the run; its peak memory in MB."""
    info, tracker_class, target = destination_of(kind, number, folder)
    process = TrackerProcess(tracker_class, info, target)
    process.call([("start", ({"seed": 1},))])
    opening = process_table()[process.pid][1]
    work = batches(rows)
    started = time.process_time()
    for batch in work:
        process.call(batch)
    seconds = (time.process_time() - started) / rows
    status = Path(f"/proc/{process.pid}/status").read_text()
    (peak,) = (int(line.split()[1]) / 1024 for line in status.splitlines() if "VmHWM" in line)
    process.call([("finish", ("finished", {}))])
    process.end()
    process.stop(60.0)
    return seconds, opening, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--log-to", action="append", choices=sorted(KINDS), dest="kinds")
    parser.add_argument("--rows", type=int, default=3000, help="rows per run")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each kind")
    args = parser.parse_args()
    kinds = [
        kind
        for kind in args.kinds or [kind for kind in KINDS if kind != "wandb"]
        if KINDS[kind] is None or importlib.util.find_spec(KINDS[kind]) is not None
    ]
    folder = Path(tempfile.mkdtemp(prefix="bench-tracker-cost-"))
    os.environ.pop("WANDB_MODE", None)
    os.environ["WANDB_DIR"] = str(folder)
    os.environ.setdefault("WANDB_SILENT", "true")
    numbers = itertools.count(1)  # a run of its own each
    for kind in kinds:  # untimed: imports, first-run work
        on_a_thread(kind, next(numbers), 100, folder)
    threaded: dict[str, list[float]] = {kind: [] for kind in kinds}
    own: dict[str, list[tuple[float, float, float]]] = {kind: [] for kind in kinds}
    for repeat in range(args.repeats):
        for kind in kinds if repeat % 2 == 0 else kinds[::-1]:
            threaded[kind].append(on_a_thread(kind, next(numbers), args.rows, folder))
            own[kind].append(in_a_process(kind, next(numbers), args.rows, folder))
    print(f"{args.rows} rows of one value per run, in batches of {BATCH}; medians of")
    print(f"{args.repeats} runs. CPU of the training process per row: tracker on a thread /")
    print("in its own process; the tracker's process: CPU to start it and open the run, peak")
    for kind in kinds:
        thread = 1e6 * statistics.median(threaded[kind])
        row, opening, peak = (statistics.median(run[i] for run in own[kind]) for i in range(3))
        print(
            f"  {kind:12} {thread:7.1f} us / {1e6 * row:5.1f} us;  "
            f"start {opening:5.2f} s CPU, {peak:4.0f} MB"
        )


if __name__ == "__main__":
    main()
