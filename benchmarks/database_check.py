"""What the check of a SQLite file costs when bench opens it, against a whole-file check.

Builds a database of about ``--megabytes`` MB (one run, metric rows as training logs them,
through bench's Store and then plain inserts for speed), then times, as medians,
:func:`bench.store.engine.check_sqlite_file` (``PRAGMA quick_check`` of the small tables
that hold runs) and ``PRAGMA quick_check`` of the whole file. See docs/storage.md.

    python benchmarks/database_check.py --megabytes 50
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import create_engine

from bench.store import Store
from bench.store.engine import check_sqlite_file


def build(path: Path, megabytes: float) -> int:
    """A database of at least ``megabytes`` MB; returns its metric rows."""
    with Store(f"sqlite:///{path}") as store:
        run_id = store.create_run(plugin="lstm", corpus="ptb")
    rows = 0
    with sqlite3.connect(path) as conn:
        while path.stat().st_size < megabytes * 2**20:
            batch = [
                (run_id, step, step // 1000, "train_loss", random.random(), "2026-01-01 00:00:00")
                for step in range(rows, rows + 100_000)
            ]
            conn.executemany(
                "INSERT INTO metrics (run_id, step, epoch, name, value, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                batch,
            )
            conn.commit()
            rows += len(batch)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return rows


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=50.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.db"
        rows = build(path, args.megabytes)
        url = f"sqlite:///{path}"
        engine = create_engine(url)
        on_open = median_seconds(lambda: check_sqlite_file(engine, url), 7)
        conn = sqlite3.connect(path)
        whole = median_seconds(lambda: conn.execute("PRAGMA quick_check").fetchall(), 3)
        conn.close()
        engine.dispose()
        print(
            f"{path.stat().st_size / 2**20:.1f} MiB, {rows:,} metric rows: check on opening "
            f"{on_open * 1000:.2f} ms, whole-file quick_check {whole:.3f} s"
        )


if __name__ == "__main__":
    main()
