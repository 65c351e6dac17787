"""ORM rows to and from bench's own values: a row as a dict, the rows of a scored split
and of a probe's measurements, the checks on run fields, the newest evaluations of runs."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from bench.store import frames
from bench.store.schema import RUN_STATUSES, Evaluation

if TYPE_CHECKING:
    from bench.api.contract_types import SplitEvaluation as ScoredSplit
    from bench.scoring.uncertainty import Interval


def row_dict(obj: Any) -> dict[str, Any]:
    """Every column of an ORM row, by name."""
    return {attr.key: getattr(obj, attr.key) for attr in inspect(obj).mapper.column_attrs}


def check_status(status: str, allowed: tuple[str, ...] = RUN_STATUSES) -> None:
    if status not in allowed:
        raise ValueError(f"unknown run status {status!r}; expected one of {', '.join(allowed)}")


def check_run_fields(fields: dict[str, Any]) -> None:
    # id is a column but never settable: it is assigned by the database.
    unknown = sorted(key for key in fields if key == "id" or key not in frames.RUN_FIELDS)
    if unknown:
        raise TypeError(f"not settable run field(s): {', '.join(unknown)}")
    if "status" in fields:
        check_status(fields["status"])


def evaluation_row(run_id: int, evaluation: ScoredSplit, interval: Interval | None) -> Evaluation:
    """The row of a scored split: its protocol, unit counts, metrics and interval."""
    counts, protocol, m = evaluation.counts, evaluation.protocol, evaluation.metrics
    rate = evaluation.tokens_per_second
    row = Evaluation(
        run_id=run_id,
        split=evaluation.split,
        mode=protocol.mode,
        batch_size=protocol.batch_size,
        context=protocol.context,
        tokens=counts.tokens,
        words=counts.words,
        bytes=counts.bytes,
        lines=counts.lines,
        oov=counts.oov,
        nll=m.nll,
        ppl=m.ppl,
        word_ppl=m.word_ppl,
        bits_per_token=m.bits_per_token,
        bits_per_byte=m.bits_per_byte,
        ppl_no_oov=m.ppl_no_oov,
        seconds=evaluation.seconds,
        tokens_per_second=rate if math.isfinite(rate) else None,
    )
    if interval is not None:
        row.ppl_low, row.ppl_high = interval.low, interval.high
        row.interval_resamples, row.interval_seed = interval.resamples, interval.seed
    return row


def latest_evaluations(
    session: Session, run_ids: list[int]
) -> dict[tuple[int, str], dict[str, Any]]:
    """The newest valid and test evaluation of each run, keyed by (run id, split)."""
    latest: dict[tuple[int, str], dict[str, Any]] = {}
    if not run_ids:
        return latest
    query = (
        select(Evaluation)
        .where(Evaluation.run_id.in_(run_ids), Evaluation.split.in_(("valid", "test")))
        .order_by(Evaluation.id)
    )
    for evaluation in session.scalars(query):
        latest[(evaluation.run_id, evaluation.split)] = row_dict(evaluation)  # later ids win
    return latest


def probe_rows(
    header: dict[str, Any], values: Iterable[tuple[str, int, float | None]]
) -> list[dict[str, Any]]:
    """One probe-result row per ``(name, distance, value)``, each with ``header`` (what was
    probed, how) and one creation time; a NaN value is stored as NULL."""
    header = header | {"created_at": datetime.now(UTC)}
    return [
        {
            **header,
            "name": name,
            "distance": int(distance),
            "value": None if value is None or math.isnan(value) else float(value),
        }
        for name, distance, value in values
    ]
