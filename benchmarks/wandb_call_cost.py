"""What one W&B run costs, piece by piece, in CPU seconds: opening it, each ``run.log``
call of a row like the one bench sends every training step, and closing it.

Each piece is split three ways: the calling thread (bench's logger thread, which runs
W&B's ``run.log``), this process's other threads (W&B's asyncio thread, which hands each
record to the helper over a socket) and W&B's helper process, wandb-core (from /proc, so
Linux only). CPU time rather than wall time, so a busy machine blurs the figures less;
the helper's work is counted once it has gone quiet. Runs go through bench's own W&B
tracker (offline, bench's settings), so what bench adds is counted too.

``--setting KEY=VALUE`` (a ``wandb.Settings`` field, VALUE as JSON) adds runs with that
setting, alternated with runs with bench's settings alone, so both meet the same noise.

    python benchmarks/wandb_call_cost.py
    python benchmarks/wandb_call_cost.py --calls 3000 --repeats 5
    python benchmarks/wandb_call_cost.py --setting x_server_side_derived_summary=false
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from process_table import process_table

from bench import RunInfo
from bench.configuration.run_config import log_destinations

BATCH = 300  # the rows bench's logger thread sends at once: a second of a fast model's steps
QUIET_SECONDS = 0.6  # the helper counts as done once its CPU time stood still this long
PARTS = ("thread", "others", "helper")


def helper_cpu() -> float:
    """CPU seconds of every process this one started, however deep (wandb-core)."""
    table, me = process_table(), os.getpid()
    total = 0.0
    for pid, (parent, seconds) in table.items():
        ancestor: int | None = parent
        while ancestor not in (None, 0, 1, me):
            ancestor = table[ancestor][0] if ancestor in table else None
        total += seconds if ancestor == me and pid != me else 0.0
    return total


def quiet_helper() -> None:
    """Wait until the helper has done what it was given (its CPU time stands still)."""
    last, since = helper_cpu(), time.monotonic()
    while time.monotonic() - since < QUIET_SECONDS:
        time.sleep(0.05)
        now = helper_cpu()
        if now != last:
            last, since = now, time.monotonic()


@contextmanager
def measured(into: dict[str, float], *, wait: bool = True) -> Iterator[None]:
    """CPU seconds of the block, added to ``into``: the calling thread's, the other
    threads' of this process, and the helper's (after it went quiet, with ``wait``)."""
    thread, process, helper = time.thread_time(), time.process_time(), helper_cpu()
    yield
    thread = time.thread_time() - thread
    if wait:
        quiet_helper()
    into["thread"] = into.get("thread", 0.0) + thread
    into["others"] = into.get("others", 0.0) + time.process_time() - process - thread
    into["helper"] = into.get("helper", 0.0) + helper_cpu() - helper


def one_run(number: int, calls: int, extra: dict[str, Any]) -> dict[str, dict[str, float]]:
    """One offline run through bench's tracker: CPU seconds of start (``wandb.init``),
    of ``calls`` per-step rows (per call) and of finish (with the wait for the file)."""
    from bench_plugins.loggers import to_wandb, wandb_files

    (destination,) = log_destinations(["wandb"])
    config = {"seed": 1, "options": {"hidden_size": 32, "log_every": 1}}
    info = RunInfo(number, "lstm", "tinyshakespeare", "char", "cpu", config, (destination,))
    tracker = to_wandb.WandbRun(info, destination.target)
    chosen = to_wandb._settings
    if extra:  # bench's settings, with the ones asked for on top
        to_wandb._settings = lambda wandb: wandb.Settings(**(_fields(chosen(wandb)) | extra))
    costs: dict[str, dict[str, float]] = {"start": {}, "per call": {}, "finish": {}}
    try:
        quiet_helper()
        with measured(costs["start"]):
            tracker.start({"seed": 1})
    finally:
        to_wandb._settings = chosen
    # each step's row as bench's hooks make it: the update's mean loss, at its step
    rows = [({"train_loss": 4.0 / (1 + step / 500)}, step, 1) for step in range(1, calls + 1)]
    with measured(costs["per call"]):
        for first in range(0, calls, BATCH):
            tracker.log_many(rows[first : first + BATCH])
    costs["per call"] = {part: seconds / calls for part, seconds in costs["per call"].items()}
    with measured(costs["finish"]):
        tracker.finish("finished", {"final/test_ppl": 3.0})
    path = Path(tracker.wb.settings.sync_file)
    kinds = [record.WhichOneof("record_type") for record in wandb_files.records(path)]
    costs["file"] = {"kB": path.stat().st_size / 1000, "summary records": kinds.count("summary")}
    return costs


def _fields(settings: Any) -> dict[str, Any]:
    return {name: getattr(settings, name) for name in settings.model_fields_set}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=3000, help="run.log calls per run")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each kind")
    parser.add_argument("--setting", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    extra = {}
    for item in args.setting:
        key, _, value = item.partition("=")
        extra[key] = json.loads(value)
    os.environ.pop("WANDB_MODE", None)  # bench's default: offline
    os.environ["WANDB_DIR"] = tempfile.mkdtemp(prefix="bench-wandb-cost-")
    os.environ.setdefault("WANDB_SILENT", "true")
    kinds = {"bench's settings": {}} | ({f"with {args.setting}": extra} if extra else {})
    one_run(0, 100, {})  # untimed: imports, W&B's helper process, caches
    results: dict[str, list[dict[str, dict[str, float]]]] = {kind: [] for kind in kinds}
    numbers = itertools.count(1)  # a run id of its own each: no run resumes another
    for repeat in range(args.repeats):
        order = list(kinds.items())
        for kind, settings in order if repeat % 2 == 0 else order[::-1]:
            results[kind].append(one_run(next(numbers), args.calls, settings))
    print(f"W&B offline run through bench's tracker; {args.calls} run.log calls of one value")
    print(f"(bench's per-step row), in batches of {BATCH}; medians of {args.repeats} runs")
    for kind, runs in results.items():
        print(f"\n{kind}:")
        for piece, scale, unit in (
            ("start", 1e3, "ms"),
            ("per call", 1e6, "us"),
            ("finish", 1e3, "ms"),
        ):
            parts = {
                part: scale * statistics.median(run[piece][part] for run in runs) for part in PARTS
            }
            shown = "  ".join(f"{part} {value:7.1f}" for part, value in parts.items())
            print(f"  {piece:8} CPU {unit}: {shown}  total {sum(parts.values()):7.1f}")
        file = {key: statistics.median(run["file"][key] for run in runs) for key in runs[0]["file"]}
        print(
            f"  offline file: {file['kB']:,.0f} kB, {file['summary records']:,.0f} summary records"
        )


if __name__ == "__main__":
    main()
