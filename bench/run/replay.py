"""Stored runs sent to a tracker after the fact (`bench export --to KIND[:TARGET]`).

A run in bench's database is replayed through the observer hooks of one logger plugin
only (other observers never hear of it): ``run_started`` with its configuration, one
``log_metrics`` per stored step in the order it was logged, and ``run_finished`` with its
newest evaluations and its cost. The loggers name a run by its id and database, so sending
a run again continues the same series instead of adding a second one.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import groupby
from typing import Any

from bench.api.contract_types import EvalProtocol, LogDestination, RunInfo, SplitEvaluation
from bench.api.plugin_host import PluginHost, check_loggers
from bench.errors import BenchError
from bench.scoring.metrics import SplitMetrics
from bench.store import Store
from bench.store.engine import safe_url
from bench.tokenization.tokens import UnitCounts

SUMMARY_COLUMNS = (
    "params",
    "train_tokens",
    "train_seconds",
    "train_tokens_per_second",
    "wall_seconds",
    "peak_rss_mb",
    "cuda_max_allocated_mb",
)


def replay_runs(
    host: PluginHost, store: Store, destination: LogDestination, run_ids: list[int] | None
) -> Iterator[int]:
    """Send each run (every finished one when ``run_ids`` is None) to ``destination``;
    yield each run id once sent."""
    check_loggers(host, (destination,))
    others = [
        plugin for name, plugin in host.manager.list_name_plugin() if name != destination.kind
    ]
    hooks = {
        name: host.manager.subset_hook_caller(name, remove_plugins=others)
        for name in ("run_started", "log_metrics", "run_finished")
    }
    if run_ids is None:
        run_ids = sorted(r["id"] for r in store.list_runs(limit=None, status="finished"))
        if not run_ids:
            raise BenchError(f"no finished run in {safe_url(store.url)} to send")
    for run_id in run_ids:
        record = store.get_run(run_id)
        info = RunInfo(
            run_id,
            record["plugin"],
            record["corpus"],
            record["tokenizer"],
            record["device"],
            record["config"] or {},
            log_to=(destination,),
            database=safe_url(store.url),
        )
        hooks["run_started"](run=info)
        # one group per logging call: its rows share their time
        calls = groupby(record["metrics"], key=lambda m: (m["step"], m["epoch"], m["created_at"]))
        for (step, epoch, _), rows in calls:
            metrics = {m["name"]: m["value"] for m in rows if m["name"] != "resumed"}
            if metrics:
                hooks["log_metrics"](run=info, metrics=metrics, step=step, epoch=epoch)
        summary = {key: record[key] for key in SUMMARY_COLUMNS if record.get(key) is not None}
        hooks["run_finished"](
            run=info,
            status=record["status"],
            evaluations=stored_evaluations(record["evaluations"]),
            error=record["error"],
            summary=summary,
        )
        yield run_id


def stored_evaluations(rows: list[dict[str, Any]]) -> dict[str, SplitEvaluation]:
    """The newest stored evaluation of each split, as the records ``run_finished`` gets."""
    newest: dict[str, SplitEvaluation] = {}
    for row in sorted(rows, key=lambda r: r["id"]):
        newest[row["split"]] = SplitEvaluation(
            split=row["split"],
            counts=UnitCounts(row["tokens"], row["words"], row["bytes"], row["lines"], row["oov"]),
            protocol=EvalProtocol(
                row["mode"], row["batch_size"], row["context"], row.get("stride")
            ),
            metrics=SplitMetrics(
                nll=row["nll"],
                ppl=row["ppl"],
                word_ppl=row["word_ppl"],
                bits_per_token=row["bits_per_token"],
                bits_per_byte=row["bits_per_byte"],
                ppl_no_oov=row["ppl_no_oov"],
            ),
            seconds=row["seconds"],
        )
    return newest
