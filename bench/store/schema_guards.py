"""Guards around applying the schema migrations: a database that a newer bench migrated is
refused before any work, and on PostgreSQL processes opening a new database take turns."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine

from bench.errors import BenchError


def refuse_newer_schema(engine: Engine, done: set[str], known: set[str]) -> None:
    """A database that a newer bench migrated (a migration name this bench does not know)
    may hold tables this bench would misread or fail to write at the end of a run: refuse
    it when it is opened, before any work."""
    unknown = sorted(done - known)
    if unknown:
        import bench

        raise BenchError(
            f"the database {engine.url.render_as_string(hide_password=True)} was written by a "
            f"newer bench: its schema has {', '.join(unknown)}, which bench {bench.__version__} "
            "does not know. Upgrade bench (pip install -U), or use another database (--db)"
        )


# any fixed 64-bit number; names bench's lock among the server's advisory locks
_ADVISORY_LOCK_KEY = 0x62656E6368  # "bench"


@contextmanager
def one_migrator_at_a_time(engine: Engine) -> Iterator[None]:
    """On PostgreSQL, hold an advisory lock while migrating: creating a table is not safe
    to race (two CREATE TABLE IF NOT EXISTS both pass the check, and one fails on the
    catalogue's unique index), so processes opening a new database take turns. SQLite
    serialises through BEGIN IMMEDIATE instead; other backends rely on re-checking."""
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as lock:
        lock.exec_driver_sql(f"SELECT pg_advisory_lock({_ADVISORY_LOCK_KEY})")
        lock.commit()  # the lock is held by the session, not the transaction
        try:
            yield
        finally:
            lock.exec_driver_sql(f"SELECT pg_advisory_unlock({_ADVISORY_LOCK_KEY})")
            lock.commit()
