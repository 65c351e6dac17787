"""Ordered schema migrations, in the style of simonw/llm: a list of small functions.

Each migration takes a SQLAlchemy ``Connection`` and changes the schema with SQLAlchemy
Core, so it runs on any database URL. Migrations are frozen once released: they define
their own ``Table`` objects instead of reading the ORM models, because the models describe
the *latest* schema. Changing :mod:`bench.store.schema` therefore means appending a new
migration here (a test compares the two).

:func:`migrate` applies, in order and each in its own transaction, the migrations whose
names are not yet in ``schema_migrations``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    DateTime,
    Double,
    Engine,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    select,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.schema import DDL, CreateColumn

from bench.store.schema_guards import one_migrator_at_a_time, refuse_newer_schema

Migration = Callable[[Connection], None]

MIGRATIONS: list[Migration] = []


def migration(fn: Migration) -> Migration:
    """Register ``fn`` as the next migration; its function name is its permanent id."""
    if any(m.__name__ == fn.__name__ for m in MIGRATIONS):
        raise ValueError(f"duplicate migration name {fn.__name__!r}")
    MIGRATIONS.append(fn)
    return fn


def _schema_migrations_table(metadata: MetaData) -> Table:
    return Table(
        "schema_migrations",
        metadata,
        Column("name", String(255), primary_key=True),
        Column("applied_at", DateTime(timezone=True), nullable=False),
    )


_TRACKING = _schema_migrations_table(MetaData())


def _runs_v1_columns(*, indexed: bool) -> list[Column[Any]]:
    """The runs columns of m001 but id and parent_run_id (``indexed``: with their indexes)."""
    return [
        Column("status", String(16), nullable=False, index=indexed),
        Column("plugin", String(255), index=indexed),
        Column("plugin_version", String(64)),
        Column("model_label", String(255)),
        Column("key_options", Text),
        Column("corpus", String(255), index=indexed),
        Column("corpus_source", Text),
        Column("corpus_sha256", JSON(none_as_null=True)),
        Column("corpus_verified", Boolean),
        Column("tokenizer", String(255)),
        Column("vocab_size", BigInteger),
        Column("vocab_sha256", String(64)),
        Column("config", JSON(none_as_null=True)),
        Column("config_hash", String(64), index=indexed),
        Column("seed", BigInteger),
        Column("device", String(64)),
        Column("device_name", String(255)),
        Column("environment", JSON(none_as_null=True)),
        Column("command", Text),
        Column("bench_version", String(64)),
        Column("git_commit", String(64)),
        Column("params", BigInteger),
        Column("started_at", DateTime(timezone=True), nullable=False),
        Column("finished_at", DateTime(timezone=True)),
        Column("wall_seconds", Double),
        Column("train_tokens", BigInteger),
        Column("train_seconds", Double),
        Column("train_tokens_per_second", Double),
        Column("peak_rss_mb", Double),
        Column("cuda_max_allocated_mb", Double),
        Column("error", Text),
    ]


@migration
def m001_initial(conn: Connection) -> None:
    """runs, evaluations, metrics and artifacts, as first released."""
    md = MetaData()
    Table(
        "runs",
        md,
        Column("id", Integer, primary_key=True),
        *_runs_v1_columns(indexed=True),
        Column("parent_run_id", Integer, ForeignKey("runs.id", ondelete="SET NULL"), index=True),
    )
    Table(
        "evaluations",
        md,
        Column("id", Integer, primary_key=True),
        Column(
            "run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False, index=True
        ),
        Column("split", String(64), nullable=False),
        Column("mode", String(16), nullable=False),
        Column("batch_size", Integer, nullable=False),
        Column("context", Integer),
        Column("tokens", BigInteger, nullable=False),
        Column("words", BigInteger, nullable=False),
        Column("bytes", BigInteger, nullable=False),
        Column("lines", BigInteger, nullable=False),
        Column("oov", BigInteger, nullable=False),
        Column("nll", Double, nullable=False),
        Column("ppl", Double, nullable=False),
        Column("word_ppl", Double, nullable=False),
        Column("bits_per_token", Double, nullable=False),
        Column("bits_per_byte", Double, nullable=False),
        Column("ppl_no_oov", Double),
        Column("seconds", Double, nullable=False),
        Column("tokens_per_second", Double),
        Column("created_at", DateTime(timezone=True), nullable=False),
    )
    Table(
        "metrics",
        md,
        Column("id", Integer, primary_key=True),
        Column(
            "run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False, index=True
        ),
        Column("step", BigInteger),
        Column("epoch", Integer),
        Column("name", String(255), nullable=False),
        Column("value", Double),
        Column("created_at", DateTime(timezone=True), nullable=False),
    )
    Table(
        "artifacts",
        md,
        Column("id", Integer, primary_key=True),
        Column(
            "run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False, index=True
        ),
        Column("kind", String(64), nullable=False),
        Column("path", Text, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
    )
    md.create_all(conn)


@migration
def m002_probe_results(conn: Connection) -> None:
    """probe_results: numbers measured by ``bench probe`` (e.g. gradient norms per distance)."""
    md = MetaData()
    Table("runs", md, Column("id", Integer, primary_key=True))  # only for the foreign key
    Table(
        "probe_results",
        md,
        Column("id", Integer, primary_key=True),
        Column("probe", String(64), nullable=False, index=True),
        Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), index=True),
        Column("plugin", String(255), nullable=False),
        Column("config", JSON(none_as_null=True)),
        Column("seed", BigInteger),
        Column("corpus", String(255), nullable=False),
        Column("split", String(64), nullable=False),
        Column("label", String(255), nullable=False),
        Column("positions", Integer, nullable=False),
        Column("name", String(64), nullable=False),
        Column("distance", Integer, nullable=False),
        Column("value", Double),
        Column("created_at", DateTime(timezone=True), nullable=False),
    ).create(conn)


@migration
def m003_drop_parent_run_id(conn: Connection) -> None:
    """runs.parent_run_id goes: a resumed run keeps its own id, so nothing ever set it."""
    quoted = conn.dialect.identifier_preparer.quote
    if conn.dialect.name != "sqlite":
        # PostgreSQL drops the column's foreign key and index with it; MySQL wants the
        # foreign key dropped first
        if conn.dialect.name in ("mysql", "mariadb"):
            for fk in sa_inspect(conn).get_foreign_keys("runs"):
                if fk["constrained_columns"] == ["parent_run_id"] and fk.get("name"):
                    conn.execute(
                        DDL(f"ALTER TABLE {quoted('runs')} DROP FOREIGN KEY {quoted(fk['name'])}")
                    )
        conn.execute(DDL(f"ALTER TABLE {quoted('runs')} DROP COLUMN {quoted('parent_run_id')}"))
        return
    # SQLite cannot drop a column that a foreign key names: rebuild the table (SQLite's
    # documented procedure; migrate() runs this one with foreign keys off, so dropping the
    # old table deletes no evaluations, and checks them before committing).
    _rebuild_sqlite_runs(conn, "m003_drop_parent_run_id", autoincrement=False)


def _rebuild_sqlite_runs(conn: Connection, name: str, *, autoincrement: bool) -> None:
    """Rebuild SQLite's runs table with the columns of m003 on (run with foreign keys off)."""
    md = MetaData()
    new = Table(
        "runs_rebuilt",
        md,
        Column("id", Integer, primary_key=True),
        *_runs_v1_columns(indexed=False),
        sqlite_autoincrement=autoincrement,
    )
    new.create(conn)
    names = ", ".join(column.name for column in new.columns)
    conn.execute(DDL(f"INSERT INTO runs_rebuilt ({names}) SELECT {names} FROM runs"))
    conn.execute(DDL("DROP TABLE runs"))
    conn.execute(DDL("ALTER TABLE runs_rebuilt RENAME TO runs"))
    for column in ("status", "plugin", "corpus", "config_hash"):
        conn.execute(DDL(f"CREATE INDEX ix_runs_{column} ON runs ({column})"))
    if conn.exec_driver_sql("PRAGMA foreign_key_check").first() is not None:
        raise RuntimeError(f"{name} left a dangling foreign key")


m003_drop_parent_run_id.foreign_keys_off = True  # type: ignore[attr-defined]


@migration
def m004_evaluation_intervals(conn: Connection) -> None:
    """Bootstrap intervals on evaluations; line_scores: per-line NLL and units as a blob."""
    for column in (
        Column("ppl_low", Double),
        Column("ppl_high", Double),
        Column("interval_resamples", Integer),
        Column("interval_seed", BigInteger),
    ):
        add_column(conn, "evaluations", column)
    md = MetaData()
    Table("runs", md, Column("id", Integer, primary_key=True))  # only for the foreign keys
    Table("evaluations", md, Column("id", Integer, primary_key=True))
    Table(
        "line_scores",
        md,
        Column(
            "evaluation_id",
            Integer,
            ForeignKey("evaluations.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        Column(
            "run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False, index=True
        ),
        Column("format", String(16), nullable=False),
        Column("data", LargeBinary, nullable=False),
    ).create(conn)


@migration
def m005_run_ids_never_reused(conn: Connection) -> None:
    """runs.id AUTOINCREMENT on SQLite, which gave a deleted newest run's id to the next run
    (PostgreSQL's and MySQL's sequences never reuse an id); ids deleted before are lost."""
    if conn.dialect.name == "sqlite":
        _rebuild_sqlite_runs(conn, "m005_run_ids_never_reused", autoincrement=True)


m005_run_ids_never_reused.foreign_keys_off = True  # type: ignore[attr-defined]


@migration
def m006_token_scores(conn: Connection) -> None:
    """token_scores: each evaluation's per-token log-probabilities, for `bench combine`."""
    md = MetaData()
    Table("runs", md, Column("id", Integer, primary_key=True))  # only for the foreign keys
    Table("evaluations", md, Column("id", Integer, primary_key=True))
    Table(
        "token_scores",
        md,
        Column(
            "evaluation_id",
            Integer,
            ForeignKey("evaluations.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        Column(
            "run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False, index=True
        ),
        Column("format", String(32), nullable=False),
        Column("tokens", BigInteger, nullable=False),
        Column("sha256", String(64), nullable=False),
        Column("data", LargeBinary, nullable=False),
    ).create(conn)


@migration
def m007_evaluation_stride(conn: Connection) -> None:
    """evaluations.stride: how far the windows of the window protocol advance."""
    add_column(conn, "evaluations", Column("stride", Integer))


def add_column(conn: Connection, table: str, column: Column[Any]) -> None:
    """``ALTER TABLE <table> ADD COLUMN <column>``, rendered for the connection's database.

    Core has no construct for adding a column (Alembic's ``op.add_column`` does this), but
    ``CreateColumn`` renders a column's definition in the right dialect, and ADD COLUMN
    itself is understood by SQLite, PostgreSQL and MySQL alike. On SQLite a new column
    cannot be NOT NULL without a server default.
    """
    spec = CreateColumn(column).compile(dialect=conn.dialect)
    quoted = conn.dialect.identifier_preparer.quote(table)
    statement = f"ALTER TABLE {quoted} ADD COLUMN {spec}"
    conn.execute(DDL(statement.replace("%", "%%")))  # DDL %-formats its text


@contextmanager
def _foreign_keys_off(conn: Connection, fn: Migration) -> Iterator[None]:
    """SQLite foreign keys off around a migration marked ``foreign_keys_off`` (one that
    rebuilds a table others refer to). The pragma is a no-op inside a transaction, so it
    is set on the driver's connection before SQLAlchemy begins one, and set back after."""
    if conn.dialect.name != "sqlite" or not getattr(fn, "foreign_keys_off", False):
        yield
        return
    driver = conn.connection.driver_connection
    driver.execute("PRAGMA foreign_keys = OFF")
    try:
        yield
    finally:
        driver.execute("PRAGMA foreign_keys = ON")


def applied_migrations(conn: Connection) -> set[str]:
    """Names recorded in ``schema_migrations`` (empty when the table does not exist yet)."""
    if not conn.dialect.has_table(conn, _TRACKING.name):
        return set()
    return set(conn.execute(select(_TRACKING.c.name)).scalars())


def migrate(engine: Engine, migrations: Sequence[Migration] | None = None) -> list[str]:
    """Apply pending migrations in order, each in its own transaction; return their names.

    ``migrations`` defaults to the registered :data:`MIGRATIONS` (looked up at call time).
    Safe when several processes open the same database at once: on SQLite the Store's
    engine begins write transactions with ``BEGIN IMMEDIATE`` so the check-and-apply is
    serialised; elsewhere a migration that fails because another process just applied it
    is recognised by re-reading ``schema_migrations``.
    """
    pending = list(MIGRATIONS if migrations is None else migrations)
    with engine.connect() as conn:
        done = applied_migrations(conn)
    refuse_newer_schema(engine, done, {m.__name__ for m in [*MIGRATIONS, *pending]})
    if all(m.__name__ in done for m in pending):
        return []
    with one_migrator_at_a_time(engine):
        return _apply(engine, pending)


def _apply(engine: Engine, pending: list[Migration]) -> list[str]:
    with engine.connect() as conn:
        done = applied_migrations(conn)  # again: another process may have migrated meanwhile
    with engine.begin() as conn:
        _TRACKING.create(conn, checkfirst=True)
    applied: list[str] = []
    for fn in pending:
        if fn.__name__ in done:
            continue
        try:
            with engine.connect() as conn, _foreign_keys_off(conn, fn), conn.begin():
                if fn.__name__ in applied_migrations(conn):
                    continue
                fn(conn)
                conn.execute(
                    _TRACKING.insert().values(name=fn.__name__, applied_at=datetime.now(UTC))
                )
        except Exception:
            with engine.connect() as conn:
                if fn.__name__ in applied_migrations(conn):
                    continue  # another process won the race; its transaction did the work
            raise
        applied.append(fn.__name__)
    return applied
