"""What a run file (``bench export``) may hold, checked before ``bench import`` writes a row.

A run file comes from someone else: every value is checked against the column it fills
(type, range, length, known statuses and scoring modes, finite perplexities, dates, base64
line scores) so that a file with ``"params": "lots"`` or ``"status": "pwned"`` is refused
with one line naming the field, and nothing of it is written. A row that got into a
database anyway (by hand, or before this check existed) is handled where it is read.

Unknown fields are ignored, so that a file written by a newer bench with more columns
still imports what this one knows.
"""

from __future__ import annotations

import base64
import binascii
import math
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
)

from bench.api.contract_types import ScoringMode
from bench.errors import BenchError
from bench.store.schema import RUN_STATUSES

FORMAT = "bench-run/1"

BIG = 2**63 - 1  # BigInteger
INT = 2**31 - 1  # Integer
TEXT = 1_000_000  # characters of a Text column (a command, an error's traceback)
LINE_SCORES_BYTES = 64 * 2**20  # decoded per-line scores of one evaluation


def _time(value: str) -> str:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("not an ISO 8601 date and time") from None
    if parsed.tzinfo is None:
        raise ValueError("a date and time without a UTC offset")
    parsed.astimezone(UTC)  # raises OverflowError on the edges of the calendar
    return value


def _base64(value: str) -> str:
    if len(value) > LINE_SCORES_BYTES * 4 // 3 + 4:
        raise ValueError(f"more than {LINE_SCORES_BYTES // 2**20} MB of line scores")
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not valid base64") from None
    return value


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("not a finite number")
    return value


Count = Annotated[StrictInt, Field(ge=0, le=BIG)]
SmallCount = Annotated[StrictInt, Field(ge=0, le=INT)]
Seed = Annotated[StrictInt, Field(ge=-(2**63), le=BIG)]
Number = Annotated[float, Field(strict=True), AfterValidator(_finite)]
NonNegative = Annotated[float, Field(strict=True, ge=0), AfterValidator(_finite)]
Perplexity = Annotated[float, Field(strict=True, ge=1), AfterValidator(_finite)]
Time = Annotated[StrictStr, Field(max_length=64), AfterValidator(_time)]
Text = Annotated[StrictStr, Field(max_length=TEXT)]


def Name(length: int) -> Any:
    return Annotated[StrictStr, Field(max_length=length)]


class _Model(BaseModel):
    # strict scalars (below), but a JSON list may fill a tuple
    model_config = ConfigDict(extra="ignore")


class RunFields(_Model):
    """The run row; every column of ``runs`` but its id."""

    status: Literal[RUN_STATUSES]  # type: ignore[valid-type]
    plugin: Name(255) | None = None
    plugin_version: Name(64) | None = None
    model_label: Name(255) | None = None
    key_options: Text | None = None
    corpus: Name(255) | None = None
    corpus_source: Text | None = None
    corpus_sha256: dict[Name(255), Name(64)] | None = None
    corpus_verified: StrictBool | None = None
    tokenizer: Name(255) | None = None
    vocab_size: Count | None = None
    vocab_sha256: Name(64) | None = None
    config: dict[str, Any] | None = None
    config_hash: Name(64) | None = None
    seed: Seed | None = None
    device: Name(64) | None = None
    device_name: Name(255) | None = None
    environment: dict[str, Any] | None = None
    command: Text | None = None
    bench_version: Name(64) | None = None
    git_commit: Name(64) | None = None
    params: Count | None = None
    started_at: Time
    finished_at: Time | None = None
    wall_seconds: NonNegative | None = None
    train_tokens: Count | None = None
    train_seconds: NonNegative | None = None
    train_tokens_per_second: NonNegative | None = None
    peak_rss_mb: NonNegative | None = None
    cuda_max_allocated_mb: NonNegative | None = None
    error: Text | None = None


class LineScores(_Model):
    format: Name(16)
    base64: Annotated[StrictStr, AfterValidator(_base64)]


class EvaluationFields(_Model):
    """One evaluation; every column of ``evaluations`` but its ids."""

    split: Name(64)
    mode: ScoringMode
    batch_size: Annotated[StrictInt, Field(ge=1, le=INT)]
    context: SmallCount | None = None
    stride: SmallCount | None = None
    tokens: Count
    words: Count
    bytes: Count
    lines: Count
    oov: Count
    nll: NonNegative
    ppl: Perplexity
    word_ppl: Perplexity
    bits_per_token: NonNegative
    bits_per_byte: NonNegative
    ppl_no_oov: Perplexity | None = None
    seconds: NonNegative
    tokens_per_second: NonNegative | None = None
    created_at: Time
    ppl_low: Perplexity | None = None
    ppl_high: Perplexity | None = None
    interval_resamples: SmallCount | None = None
    interval_seed: Seed | None = None
    line_scores: LineScores | None = None


MetricRow = tuple[
    Annotated[StrictInt, Field(ge=-BIG, le=BIG)] | None,  # step
    Annotated[StrictInt, Field(ge=-INT, le=INT)] | None,  # epoch
    Name(255),  # name
    Number | None,  # value (a diverged loss is stored as null)
    Time,  # created_at
]


class Metrics(_Model):
    columns: tuple[
        Literal["step"], Literal["epoch"], Literal["name"], Literal["value"], Literal["created_at"]
    ]
    rows: list[MetricRow]


class ParentIdentity(_Model):
    """What names a derived run's parent in any database (bench.store.derived_parents)."""

    started_at: Time | None = None
    plugin: Name(255) | None = None
    config_hash: Name(64) | None = None
    model_label: Name(255) | None = None
    corpus: Name(255) | None = None


class RunFile(_Model):
    format: Literal[FORMAT]  # type: ignore[valid-type]
    exported_from_run: Count | None = None
    shared_config_hash: Name(64) | None = None  # of run.config as exported (paths made shareable)
    parents: dict[Name(32), ParentIdentity] | None = None  # of a derived run, by its parent ids
    run: RunFields
    evaluations: list[EvaluationFields] = []
    metrics: Metrics | None = None


def check_run_file(record: Any, source: str) -> dict[str, Any]:
    """``record`` (parsed JSON) if it is a valid run file; else a BenchError naming the
    first field that is wrong, in one line."""
    try:
        RunFile.model_validate(record)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the file"
        value = repr(first.get("input"))
        shown = value if len(value) <= 40 else value[:37] + "..."
        raise BenchError(
            f"{source} refused, nothing imported from it: {where} = {shown}: {first['msg']}"
        ) from None
    return record
