"""ORM rows to and from bench's own values: a row as a dict, the rows of a scored split
and of a probe's measurements, the checks on run fields, the newest evaluations of runs."""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, inspect, select
from sqlalchemy.orm import Session

from bench.store import frames, token_scores
from bench.store.schema import RUN_STATUSES, Evaluation, LineScoreBlob, TokenScoreBlob

if TYPE_CHECKING:
    import numpy as np

    from bench.api.contract_types import SplitEvaluation as ScoredSplit
    from bench.scoring.uncertainty import Interval


def row_dict(obj: Any) -> dict[str, Any]:
    """Every column of an ORM row, by name; a value that does not fit its column (text in
    a number column of SQLite, written by hand or by an old import) reads as None, so that
    one odd row cannot break a listing, a leaderboard or ``bench show``."""
    return {key: _fitting(getattr(obj, key), kind) for key, kind in _column_types(type(obj))}


@functools.cache
def _column_types(mapped: type) -> tuple[tuple[str, type | None], ...]:
    columns = []
    for attr in inspect(mapped).column_attrs:
        column_type = attr.columns[0].type
        try:
            kind: type | None = column_type.python_type
        except NotImplementedError:
            kind = None
        if isinstance(column_type, JSON):  # every JSON column of bench holds an object
            kind = dict
        columns.append((attr.key, kind))
    return tuple(columns)


def _fitting(value: Any, kind: type | None) -> Any:
    if value is None or kind is None:
        return value
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is int and isinstance(value, bool):
        return None
    return value if isinstance(value, kind) else None


def stored_number(value: Any, spec: str) -> str:
    """A stored number as text; "?" where the row holds none (a value that did not fit
    its column reads as None, see :func:`row_dict`)."""
    return "?" if value is None else format(value, spec)


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
        stride=protocol.stride,
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


def score_blobs(
    evaluation_id: int, run_id: int, evaluation: ScoredSplit
) -> list[LineScoreBlob | TokenScoreBlob]:
    """The rows kept beside an evaluation's row: its per-line scores (intervals, `bench
    compare`) and its per-token log-probabilities (`bench combine`), where it has them."""
    from bench.scoring.uncertainty import BLOB_FORMAT

    blobs: list[LineScoreBlob | TokenScoreBlob] = []
    if evaluation.lines is not None:
        data = evaluation.lines.to_bytes()
        blobs.append(
            LineScoreBlob(evaluation_id=evaluation_id, run_id=run_id, format=BLOB_FORMAT, data=data)
        )
    if evaluation.token_logprobs is not None:
        blobs.append(token_score_blob(evaluation_id, run_id, evaluation.token_logprobs))
    return blobs


def token_score_blob(evaluation_id: int, run_id: int, logprobs: np.ndarray) -> TokenScoreBlob:
    """The row of an evaluation's per-token log-probabilities (:mod:`token_scores`)."""
    encoded = token_scores.encode(logprobs)
    return TokenScoreBlob(
        evaluation_id=evaluation_id,
        run_id=run_id,
        format=encoded.format,
        tokens=encoded.tokens,
        sha256=encoded.sha256,
        data=encoded.data,
    )


def encoded_token_scores(blob: TokenScoreBlob) -> token_scores.EncodedTokenScores:
    """A stored row of per-token log-probabilities, as :func:`token_scores.decode` reads it."""
    return token_scores.EncodedTokenScores(blob.format, blob.tokens, blob.sha256, blob.data)


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
