"""What one W&B run costs, piece by piece, in CPU seconds, with its tracker in a process of
its own as bench runs it: starting that process, opening the run, each ``run.log`` call of
a row like the one bench sends every training step, and closing the run.

Each piece is split three ways: this process (the training process: what it spends
handing the rows over), the tracker's process (W&B's Python code: ``run.log`` and W&B's
asyncio thread) and W&B's helper process, wandb-core, which the tracker's process starts
(from /proc, so Linux only). CPU time rather than wall time, so a busy machine blurs the
figures less; the helpers' work is counted once they have gone quiet. The batches go to
bench's own tracker process (offline, bench's settings) exactly as a destination's thread
sends them: a second of a fast model's rows, pickled once. What the training loop itself
spends per row, putting it on the destination's queue and having the destination's
thread gather it, is measured apart, with a tracker that does nothing.

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
import resource
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from process_table import descendants, process_table

from bench import RunInfo
from bench.configuration.run_config import log_destinations
from bench_plugins.loggers import common, to_wandb, wandb_files
from bench_plugins.loggers.tracker_process import TrackerProcess

BATCH = 300  # the rows a destination's thread sends at once: a second of a fast model's steps
QUIET_SECONDS = 0.6  # the helpers count as done once their CPU time stood still this long
PARTS = ("training", "tracker", "wandb-core")
EXTRA_SETTINGS = "BENCH_WANDB_EXTRA_SETTINGS"  # read in the tracker's process


class WandbRunWith(to_wandb.WandbRun):
    """bench's W&B tracker, with the settings of $BENCH_WANDB_EXTRA_SETTINGS on top."""

    def start(self, params: dict[str, Any]) -> None:
        extra = json.loads(os.environ.get(EXTRA_SETTINGS) or "{}")
        chosen = to_wandb._settings
        to_wandb._settings = lambda wandb: wandb.Settings(**(_fields(chosen(wandb)) | extra))
        try:
            super().start(params)
        finally:
            to_wandb._settings = chosen
        self.path = Path(self.wb.settings.sync_file)

    def finish(self, status: str, summary: dict[str, float]) -> None:
        super().finish(status, summary)
        kinds = [record.WhichOneof("record_type") for record in wandb_files.records(self.path)]
        file = {"kB": self.path.stat().st_size / 1000, "summary records": kinds.count("summary")}
        (self.path.parent / "bench-file.json").write_text(json.dumps(file))


def _fields(settings: Any) -> dict[str, Any]:
    return {name: getattr(settings, name) for name in settings.model_fields_set}


def helpers_cpu(tracker: int) -> tuple[float, float]:
    """CPU seconds of the tracker's process and of the processes it started (wandb-core)."""
    table = process_table()
    own = table[tracker][1] if tracker in table else 0.0
    return own, sum(table[pid][1] for pid in descendants(table, tracker))


def quiet_helpers(tracker: int) -> None:
    """Wait until the helpers have done what they were given (their CPU time stands still)."""
    last, since = helpers_cpu(tracker), time.monotonic()
    while time.monotonic() - since < QUIET_SECONDS:
        time.sleep(0.05)
        now = helpers_cpu(tracker)
        if now != last:
            last, since = now, time.monotonic()


@contextmanager
def measured(into: dict[str, float], tracker: int) -> Iterator[None]:
    """CPU seconds of the block, added to ``into``: this process's (all its threads), the
    tracker's process's and wandb-core's (after they went quiet)."""
    child, core = helpers_cpu(tracker)  # before the clock starts: reading /proc costs too
    training = time.process_time()
    yield
    training = time.process_time() - training
    quiet_helpers(tracker)
    child_after, core_after = helpers_cpu(tracker)
    for part, seconds in zip(
        PARTS, (training, child_after - child, core_after - core), strict=True
    ):
        into[part] = into.get(part, 0.0) + seconds


def children_cpu() -> float:
    """CPU seconds of the ended processes this one waited for, and of those they waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def one_run(number: int, calls: int, extra: dict[str, Any]) -> dict[str, dict[str, float]]:
    """One offline run in a tracker process: CPU seconds of starting that process, of start
    (``wandb.init``), of ``calls`` per-step rows (per call), of finish (with the wait for
    the file) and of the process's end (its interpreter's and wandb-core's exit)."""
    (destination,) = log_destinations(["wandb"])
    config = {"seed": 1, "options": {"hidden_size": 32, "log_every": 1}}
    info = RunInfo(number, "lstm", "tinyshakespeare", "char", "cpu", config, (destination,))
    os.environ[EXTRA_SETTINGS] = json.dumps(extra)
    costs: dict[str, dict[str, float]] = {}
    ended_before = children_cpu()
    process = TrackerProcess(WandbRunWith, info, destination.target)
    assert process.pid is not None
    # each step's row as bench's hooks make it (the update's mean loss, at its step), in
    # the batches a destination's thread hands over
    rows = [("log", ({"train_loss": 4.0 / (1 + step / 500)}, step, 1)) for step in range(calls)]
    batches = [common._merged(rows[first : first + BATCH]) for first in range(0, calls, BATCH)]
    for piece, work in (
        ("process", [[]]),  # the interpreter's start and bench's imports, no call
        ("start", [[("start", ({"seed": 1},))]]),
        ("per call", batches),
        ("finish", [[("finish", ("finished", {"final/test_ppl": 3.0}))]]),
    ):
        costs[piece] = {}
        with measured(costs[piece], process.pid):
            for batch in work:
                process.call(batch)
    seen = sum(sum(piece[part] for part in PARTS[1:]) for piece in costs.values())
    process.end()
    process.stop(60.0)
    costs["exit"] = {"training": 0.0, "tracker": children_cpu() - ended_before - seen}
    costs["exit"]["wandb-core"] = 0.0  # in the line above: its exit is counted with its parent's
    costs["per call"] = {part: seconds / calls for part, seconds in costs["per call"].items()}
    (file,) = Path(os.environ["WANDB_DIR"]).glob(f"wandb/offline-run-*-bench-run-{number}-*/b*")
    costs["file"] = json.loads(file.read_text())
    return costs


def handing_over(rows: int) -> float:
    """CPU seconds per row the training process spends putting it on a destination's queue
    and having the destination's thread gather it, with a tracker that does nothing."""
    (destination,) = log_destinations(["x"])
    started = time.process_time()
    sender = common.Destination(common.Tracker, None, destination)  # type: ignore[arg-type]
    for step in range(rows):
        sender.send("log", {"train_loss": 1.0}, step, 1)
    sender.close()
    return (time.process_time() - started) / rows


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
    one_run(0, 100, {})  # untimed: the page cache, and the first run's one-off work
    results: dict[str, list[dict[str, dict[str, float]]]] = {kind: [] for kind in kinds}
    queue_costs = []
    numbers = itertools.count(1)  # a run id of its own each: no run resumes another
    for repeat in range(args.repeats):
        order = list(kinds.items())
        for kind, settings in order if repeat % 2 == 0 else order[::-1]:
            results[kind].append(one_run(next(numbers), args.calls, settings))
        queue_costs.append(handing_over(args.calls))
    print(f"W&B offline run in bench's tracker process; {args.calls} run.log calls of one")
    print(f"value (bench's per-step row), in batches of {BATCH}; medians of {args.repeats} runs")
    print(
        f"each row onto a destination's queue and gathered by its thread, in the training "
        f"process: {1e6 * statistics.median(queue_costs):.1f} us"
    )
    for kind, runs in results.items():
        print(f"\n{kind}:")
        for piece, scale, unit in (
            ("process", 1e3, "ms"),
            ("start", 1e3, "ms"),
            ("per call", 1e6, "us"),
            ("finish", 1e3, "ms"),
            ("exit", 1e3, "ms"),
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
