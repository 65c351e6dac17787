"""The database engine: SQLite tuned for several processes writing one file at once.

WAL lets readers proceed while one writer writes; write transactions take the lock up
front (``BEGIN IMMEDIATE``, through :func:`writer`); a 30 s busy timeout makes the others
wait their turn instead of failing with "database is locked". Other backends get a plain
SQLAlchemy engine. The queries live in :mod:`bench.store.database`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, ProgrammingError

from bench.errors import BenchError
from bench.secrets import mask_url
from bench.store import json_values

SQLITE_BUSY_TIMEOUT_S = 30.0
_IMMEDIATE = "bench_sqlite_begin_immediate"


def open_engine(url: str) -> Engine:
    """:func:`make_engine` for ``url``, first making the folder of a SQLite file if needed.

    Raises SQLAlchemy's ArgumentError or NoSuchModuleError for a URL it cannot use, and
    ImportError when the backend's driver is not installed.
    """
    path = _sqlite_file(make_url(url))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    return make_engine(url)


def make_engine(url: str) -> Engine:
    """An engine for ``url``; for SQLite, configured for several concurrent writers.

    The sqlite3 module's own transaction handling is switched off (it never BEGINs before
    DDL, so a migration would not be atomic) and SQLAlchemy emits BEGIN itself: plain
    BEGIN for reads, BEGIN IMMEDIATE for connections from :func:`writer`.
    """
    parsed = make_url(url)
    # pool_pre_ping: a pooled connection the server dropped (a restart, an idle timeout)
    # is noticed and replaced before use, instead of failing the next write
    common = {
        "json_serializer": json_values.dumps,
        "json_deserializer": json_values.loads,
        "pool_pre_ping": True,
    }
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, **common)
    engine = create_engine(parsed, **common)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
            _enable_wal(cursor)
            # In WAL mode NORMAL survives any process crash; only an OS crash or power
            # loss may drop the last commits. FULL would fsync every metric row.
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get(_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _enable_wal(cursor: Any) -> None:
    """Switch the file to WAL (a persistent setting), retrying while another process holds it.

    Changing the journal mode of a fresh file fails at once with "database is locked"
    when a second process opens it at the same moment: SQLite does not call the busy
    handler for it. So check first (cheap, and the usual case once the file is WAL) and
    retry the switch until the busy timeout.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    while True:
        try:
            mode = cursor.execute("PRAGMA journal_mode").fetchone()[0]
            if mode.lower() not in ("wal", "memory"):  # in-memory databases cannot use WAL
                cursor.execute("PRAGMA journal_mode = WAL").fetchone()
            return
        except Exception as exc:  # the driver's OperationalError (sqlite3 or a compatible one)
            if "locked" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def writer(engine: Engine) -> Engine:
    """The same engine, but its transactions take SQLite's write lock when they begin.

    A deferred transaction that reads and then writes can fail at once with "database is
    locked" when another process committed in between; taking the lock first lets the
    busy timeout do its job. Other backends ignore the option.
    """
    return engine.execution_options(**{_IMMEDIATE: True})


def safe_url(url: str) -> str:
    """``url`` as it may be shown: any password hidden, in the user info or the query."""
    try:
        return mask_url(make_url(url).render_as_string(hide_password=True))
    except ArgumentError:
        return mask_url(url)


def _sqlite_file(url: URL) -> Path | None:
    """The file behind a SQLite URL, or None for in-memory and URI-style databases."""
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database)


_DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306, "mssql": 1433, "oracle": 1521}


def database_identity(url: str) -> str:
    """What names the database behind ``url``, whatever its spelling: for a server, the
    backend, host, port and database name (``postgresql://`` and ``postgresql+psycopg://``
    to one database are the same; user and password are not part of it). A SQLite URL is
    its own identity (kept as it always was, so existing run folders stay where they are).
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return url
    host = (parsed.host or "localhost").lower()
    port = parsed.port or _DEFAULT_PORTS.get(backend, "")
    return f"{backend}://{host}:{port}/{parsed.database or ''}"


# What SQLite (and the drivers) say when a file's pages do not hold a valid database
_DAMAGED = ("malformed", "not a database", "corrupt", "disk image")
# What a dropped or unreachable server looks like, where SQLAlchemy did not flag it itself
_DISCONNECTED = ("connection", "connect to", "server closed", "terminating", "network", "timeout")
# Small tables checked whenever a SQLite file is opened; the per-step metrics and per-line
# scores are most of a file and are checked when read
CHECKED_TABLES = ("schema_migrations", "runs", "evaluations", "artifacts", "probe_results")


def database_error(url: str, exc: DBAPIError) -> BenchError:
    """One line that says what went wrong with the database, and what to do."""
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    said = reason.lower()
    shown = safe_url(url)
    if any(marker in said for marker in _DAMAGED):
        return damaged_database(url, reason)
    if "readonly" in said.replace("-", "").replace(" ", ""):
        return BenchError(
            f"the database {shown} is read-only ({reason}); use a writable file or --db"
        )
    if "disk is full" in said or "disk full" in said or "no space left" in said:
        return BenchError(
            f"no space left for the database {shown} ({reason}): free space on its disk, "
            "then run the command again (a run stopped by it continues with --resume)"
        )
    if "locked" in said or "busy" in said:
        return BenchError(
            f"the database {shown} stayed locked by another process for more than "
            f"{SQLITE_BUSY_TIMEOUT_S:.0f} s ({reason}); try again when it is done"
        )
    if "no such table" in said or "no such column" in said or "has no column" in said:
        return BenchError(
            f"the database {shown} does not hold the tables this bench expects ({reason}); "
            "it may come from another version of bench: use the bench that wrote it, or another --db"
        )
    if "unable to open" in said:
        return BenchError(
            f"cannot open the database file {shown} ({reason}); check that its folder "
            "exists and that you may write there"
        )
    if "i/o error" in said:
        return BenchError(
            f"reading or writing the database {shown} failed with a disk I/O error ({reason}); "
            "check the disk and the file, then run the command again"
        )
    if exc.connection_invalidated or any(marker in said for marker in _DISCONNECTED):
        return BenchError(f"lost the connection to the database {shown} ({reason})")
    return BenchError(f"the database {shown} refused the operation ({reason})")


def damaged_database(url: str, reason: str) -> BenchError:
    """The line for a SQLite file whose pages are damaged: what bench cannot do, and how
    to save what can still be read."""
    path = _sqlite_file(make_url(url))
    if path is None:
        return BenchError(f"the database {safe_url(url)} is damaged ({reason})")
    return BenchError(
        f"the database file {path} is damaged ({reason}); bench will not read or write it. "
        "Keep a copy of it, then restore a backup, or start a new database (--db "
        f"sqlite:///{path.with_suffix('.new.db')}) and `bench import` the runs you exported; "
        f"`sqlite3 {path} .recover` (where your sqlite3 has it) saves what can still be read"
    )


def check_sqlite_file(engine: Engine, url: str) -> None:
    """Refuse a SQLite file whose tables of runs are damaged, before any work is done with
    it: ``PRAGMA quick_check`` of the small tables (:data:`CHECKED_TABLES`), 0.3 ms on a
    50 MB file of metrics where the whole file's check takes 0.9 s
    (``benchmarks/database_check.py``). A damaged page elsewhere is reported, the same
    way, when it is read."""
    if _sqlite_file(make_url(url)) is None:
        return
    with engine.connect() as conn:
        present = set(conn.dialect.get_table_names(conn))
        for table in CHECKED_TABLES:
            if table not in present:
                continue
            problems = [row[0] for row in conn.exec_driver_sql(f"PRAGMA quick_check({table})")]
            if problems != ["ok"]:
                # the first row may open with "*** in database main ***" and hold several lines
                lines = [line for row in problems for line in str(row).splitlines()]
                first = next((line for line in lines if not line.startswith("***")), lines[0])
                raise damaged_database(url, f"table {table}: {first}")


@contextmanager
def database_errors(url: str) -> Iterator[None]:
    """A database that went away, filled its disk, stayed locked, is damaged or has other
    tables, as one line (BenchError) that says which, not the SQL. Errors that mean a bug
    in bench (a broken constraint, bad SQL) keep their traceback."""
    try:
        yield
    except (IntegrityError, ProgrammingError):
        raise
    except DBAPIError as exc:
        raise database_error(url, exc) from exc
