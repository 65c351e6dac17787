"""Where a run's checkpoints and lock live on this machine, and whether a process holds it.

A run's folder is ``<data dir>/runs/<database key>/<run id>``: run ids are per database, so
the folder is keyed by the database's identity too (see
:func:`bench.store.engine.database_identity`). The folder is local to the machine that ran
the run, even when the database is shared by several machines.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.errors import BenchError
from bench.machine import distributed
from bench.store.engine import database_identity

LOCK_FILE = "run.lock"


def run_folder(data_dir: Path, db_url: str, run_id: int) -> Path:
    """The folder of run ``run_id`` of the database at ``db_url``."""
    key = hashlib.sha256(database_identity(db_url).encode()).hexdigest()[:12]
    return data_dir / "runs" / key / str(run_id)


def process_gone(folder: Path) -> bool:
    """True when the run's lock file exists here and no process holds it: a run whose row
    still says ``running`` was killed (``kill -9``, a crash, a power cut). False when the
    lock is held, or when this machine never ran the run (no lock file here: it may be
    running on another machine that shares the database)."""
    lock = folder / LOCK_FILE
    if not lock.is_file():
        return False
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no locks, so nothing to tell
        return False
    with lock.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(handle, fcntl.LOCK_UN)
        return True


@contextmanager
def run_lock(folder: Path, run_id: int, then: str = "resume it") -> Iterator[None]:
    """Hold a run's lock file while it runs, so a second process cannot resume it meanwhile.

    An OS file lock (flock) is released when its process dies, even by ``kill -9``, so a
    killed run never stays locked. Where flock does not exist (Windows) there is no lock.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    if not distributed.current().is_main:  # rank 0 holds it for the whole run
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / LOCK_FILE).open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BenchError(
                f"run {run_id} is still running in another process; stop it "
                f"first (Ctrl-C), then {then}"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
