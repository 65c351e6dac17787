"""The database tables, as typed SQLAlchemy ORM models.

These classes are what the code reads and writes. The tables themselves are created by
the ordered migrations in :mod:`bench.store.migrations`, never by ``create_all``, so an
existing database can be upgraded in place; a test fails when the two disagree.

Types are chosen to work on any SQLAlchemy backend: ``Double`` (not ``Float``, single
precision on MySQL) because an NLL summed over a billion tokens needs float64, ``BigInteger``
for counts (20B parameters overflow 32 bits), bounded ``String`` for short names.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Double,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

RUN_STATUSES = ("running", "finished", "failed", "interrupted")
FINAL_STATUSES = ("finished", "failed", "interrupted")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python.

    SQLite stores datetimes without an offset; we write UTC and attach UTC again on the
    way back, so arithmetic such as ``finished_at - started_at`` never mixes naive and
    aware values, whatever the backend.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: bench stores timezone-aware UTC times")
        return value.astimezone(UTC)

    def result_processor(self, dialect: Dialect, coltype: Any) -> Any:
        """A stored value that is not a date and time (SQLite keeps text as it was written)
        reads as None instead of failing the whole query."""
        process = super().result_processor(dialect, coltype)
        if process is None:
            return None

        def tolerant(value: Any) -> datetime | None:
            try:
                return process(value)
            except (ValueError, TypeError, OverflowError):
                return None

        return tolerant

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# none_as_null: a Python None becomes SQL NULL, not the JSON text 'null'.
JSONType = JSON(none_as_null=True)


class Base(DeclarativeBase):
    pass


class Run(Base):
    """One invocation of a benchmark: written as "running" before any work starts.

    Nearly every column is nullable because the row exists before the corpus is fetched,
    the vocabulary built or the model sized; they are filled in as the run proceeds.
    """

    __tablename__ = "runs"
    # SQLite: a deleted run's id is never given to a new run (migration m005)
    __table_args__: ClassVar[dict[str, Any]] = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    plugin: Mapped[str | None] = mapped_column(String(255), index=True)
    plugin_version: Mapped[str | None] = mapped_column(String(64))
    model_label: Mapped[str | None] = mapped_column(String(255))
    key_options: Mapped[str | None] = mapped_column(Text)
    corpus: Mapped[str | None] = mapped_column(String(255), index=True)
    corpus_source: Mapped[str | None] = mapped_column(Text)
    corpus_sha256: Mapped[dict[str, str] | None] = mapped_column(JSONType)
    corpus_verified: Mapped[bool | None] = mapped_column(Boolean)
    tokenizer: Mapped[str | None] = mapped_column(String(255))
    vocab_size: Mapped[int | None] = mapped_column(BigInteger)
    vocab_sha256: Mapped[str | None] = mapped_column(String(64))
    config: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    config_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    seed: Mapped[int | None] = mapped_column(BigInteger)
    device: Mapped[str | None] = mapped_column(String(64))
    device_name: Mapped[str | None] = mapped_column(String(255))
    environment: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    command: Mapped[str | None] = mapped_column(Text)
    bench_version: Mapped[str | None] = mapped_column(String(64))
    git_commit: Mapped[str | None] = mapped_column(String(64))
    params: Mapped[int | None] = mapped_column(BigInteger)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    wall_seconds: Mapped[float | None] = mapped_column(Double)
    train_tokens: Mapped[int | None] = mapped_column(BigInteger)
    train_seconds: Mapped[float | None] = mapped_column(Double)
    train_tokens_per_second: Mapped[float | None] = mapped_column(Double)
    peak_rss_mb: Mapped[float | None] = mapped_column(Double)
    cuda_max_allocated_mb: Mapped[float | None] = mapped_column(Double)
    error: Mapped[str | None] = mapped_column(Text)

    evaluations: Mapped[list[Evaluation]] = relationship(
        back_populates="run", order_by="Evaluation.id", passive_deletes=True
    )
    metrics: Mapped[list[Metric]] = relationship(
        back_populates="run", order_by="Metric.id", passive_deletes=True
    )
    artifacts: Mapped[list[Artifact]] = relationship(
        back_populates="run", order_by="Artifact.id", passive_deletes=True
    )


class Evaluation(Base):
    """One scored split: its protocol, unit counts and the core's metrics (see bench.scoring.metrics)."""

    __tablename__ = "evaluations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("runs.id", ondelete="CASCADE"), index=True
    )
    split: Mapped[str] = mapped_column(String(64))
    mode: Mapped[str] = mapped_column(String(16))
    batch_size: Mapped[int] = mapped_column(Integer)
    context: Mapped[int | None] = mapped_column(Integer)  # None: state carried without limit
    stride: Mapped[int | None] = mapped_column(Integer)  # window mode's stride; None otherwise
    tokens: Mapped[int] = mapped_column(BigInteger)
    words: Mapped[int] = mapped_column(BigInteger)
    bytes: Mapped[int] = mapped_column(BigInteger)
    lines: Mapped[int] = mapped_column(BigInteger)
    oov: Mapped[int] = mapped_column(BigInteger)
    nll: Mapped[float] = mapped_column(Double)
    ppl: Mapped[float] = mapped_column(Double)
    word_ppl: Mapped[float] = mapped_column(Double)
    bits_per_token: Mapped[float] = mapped_column(Double)
    bits_per_byte: Mapped[float] = mapped_column(Double)
    ppl_no_oov: Mapped[float | None] = mapped_column(Double)
    seconds: Mapped[float] = mapped_column(Double)
    tokens_per_second: Mapped[float | None] = mapped_column(Double)  # None when unmeasurable
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # 95% bootstrap interval of ppl over the split's lines (bench.scoring.uncertainty); None for
    # evaluations stored before bench kept per-line scores
    ppl_low: Mapped[float | None] = mapped_column(Double)
    ppl_high: Mapped[float | None] = mapped_column(Double)
    interval_resamples: Mapped[int | None] = mapped_column(Integer)
    interval_seed: Mapped[int | None] = mapped_column(BigInteger)

    run: Mapped[Run] = relationship(back_populates="evaluations")


class LineScoreBlob(Base):
    """An evaluation's per-line NLL sums and unit counts (bench.scoring.uncertainty.LineScores).

    Kept in the database, not in the run's folder: the folder lives on the machine that ran,
    while several machines may share one database, and `bench compare` must work from any of
    them. One compressed blob per evaluation (~35 KB for PTB test), never a row per token; in
    its own table so that reading evaluations never loads it.
    """

    __tablename__ = "line_scores"

    evaluation_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("evaluations.id", ondelete="CASCADE"), primary_key=True
    )
    run_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("runs.id", ondelete="CASCADE"), index=True
    )
    format: Mapped[str] = mapped_column(String(16))
    data: Mapped[bytes] = mapped_column(LargeBinary)


class TokenScoreBlob(Base):
    """An evaluation's per-token log-probabilities (bench.store.token_scores), for
    `bench combine`: float32, compressed, with the sha256 of the values."""

    __tablename__ = "token_scores"

    evaluation_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("evaluations.id", ondelete="CASCADE"), primary_key=True
    )
    run_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("runs.id", ondelete="CASCADE"), index=True
    )
    format: Mapped[str] = mapped_column(String(32))
    tokens: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Metric(Base):
    """One named number of a training curve (long format: one row per name)."""

    __tablename__ = "metrics"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("runs.id", ondelete="CASCADE"), index=True
    )
    step: Mapped[int | None] = mapped_column(BigInteger)
    epoch: Mapped[int | None] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(255))
    # Nullable: SQLite stores NaN as NULL, and a diverged loss is worth recording.
    value: Mapped[float | None] = mapped_column(Double)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    run: Mapped[Run] = relationship(back_populates="metrics")


class Artifact(Base):
    """A file a run produced (checkpoint, vocabulary, ...), by path."""

    __tablename__ = "artifacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("runs.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    run: Mapped[Run] = relationship(back_populates="artifacts")


class ProbeResult(Base):
    """One number a probe measured (``bench probe``), in long format: one row per value.

    A probe looks at a stored run (``run_id``) or at a freshly initialised model (``plugin``
    and its ``config``, with ``run_id`` empty). ``name`` says which series the value belongs
    to (the gradient probe: ``grad_norm_h`` and, for an LSTM, ``grad_norm_c``) and
    ``distance`` where along it (the gradient probe: k steps back). Rows written by one
    invocation for one model share ``created_at`` and ``label``.
    """

    __tablename__ = "probe_results"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    probe: Mapped[str] = mapped_column(String(64), index=True)
    run_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("runs.id", ondelete="CASCADE"), index=True
    )
    plugin: Mapped[str] = mapped_column(String(255))
    config: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    seed: Mapped[int | None] = mapped_column(BigInteger)
    corpus: Mapped[str] = mapped_column(String(255))
    split: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(255))
    positions: Mapped[int] = mapped_column(Integer)  # how many positions a value averages
    name: Mapped[str] = mapped_column(String(64))
    distance: Mapped[int] = mapped_column(Integer)
    # Nullable: a diverged model's NaN gradient is stored as NULL, not dropped.
    value: Mapped[float | None] = mapped_column(Double)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SchemaMigration(Base):
    """The name of each migration applied to this database, and when."""

    __tablename__ = "schema_migrations"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
