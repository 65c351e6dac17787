"""A database that is damaged, newer, full or locked, a delete raced by another, a killed
run's folder under another data dir, a config file bench cannot use: each is one Error
line that says what happened, never a traceback or a silently stored run."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from bench.cli import cli
from bench.errors import BenchError
from bench.run.folders import LOCK_FILE, run_folder
from bench.run.runner import Runner
from bench.store import Store

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


def invoke(tmp_path: Path, db: str, *args: str, data_dir: Path | None = None) -> object:
    env = {
        "BENCH_DB": db,
        "BENCH_DATA_DIR": str(data_dir or tmp_path / "data"),
        "BENCH_PLUGINS": None,
    }
    return CliRunner().invoke(cli, list(args), env=env)


def assert_one_error_line(result: object, *phrases: str) -> str:
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    (line,) = [line for line in result.output.splitlines() if line.startswith("Error:")]
    for phrase in phrases:
        assert phrase in line, line
    assert "Traceback" not in result.output
    return line


def damage(path: Path, table: str) -> None:
    """Overwrite the cells of ``table``'s root page, as a failing disk or a bad copy would."""
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        (root,) = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,))
    conn.close()
    data = bytearray(path.read_bytes())
    start = (root[0] - 1) * page_size
    data[start + 8 : start + page_size] = b"\xff" * (page_size - 8)
    path.write_bytes(bytes(data))


def stored(path: Path, runs: int = 3) -> list[int]:
    with Store(f"sqlite:///{path}") as store:
        ids = [
            store.create_run(plugin="lstm", model_label=f"m{i}", corpus="c") for i in range(runs)
        ]
        for run_id in ids:
            store.add_metrics(run_id, {"train_loss": 1.0, "lr": 0.1}, step=1)
    return ids


def test_a_damaged_runs_table_is_refused_when_the_database_is_opened(tmp_path: Path) -> None:
    path = tmp_path / "bench.db"
    stored(path)
    damage(path, "runs")
    db = f"sqlite:///{path}"
    with pytest.raises(BenchError, match="is damaged") as caught:
        Store(db)
    assert "bench import" in str(caught.value) and "\n" not in str(caught.value)
    for args in (["runs"], ["show", "1"], ["leaderboard"], ["run", "--plugin", "unigram"]):
        assert_one_error_line(invoke(tmp_path, db, *args), "is damaged", "restore a backup")
    assert not (tmp_path / "data" / "runs").exists()  # bench run began no run


def test_a_damaged_page_met_on_reading_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bench.db"
    (run_id, *_) = stored(path)
    damage(path, "metrics")  # not checked on opening (it is most of a file): found when read
    result = invoke(tmp_path, f"sqlite:///{path}", "show", str(run_id))
    assert_one_error_line(result, "is damaged")


def test_a_database_from_a_newer_bench_is_refused_before_any_work(tmp_path: Path) -> None:
    path = tmp_path / "bench.db"
    stored(path, runs=1)
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO schema_migrations (name, applied_at) VALUES ('m999_future', '2030-01-01')"
        )
    conn.close()
    with pytest.raises(BenchError, match="newer bench: its schema has m999_future"):
        Store(f"sqlite:///{path}")
    result = invoke(tmp_path, f"sqlite:///{path}", "run", "--plugin", "unigram")
    assert_one_error_line(result, "newer bench", "m999_future")
    assert not (tmp_path / "data" / "runs").exists()  # bench run began no run


def test_a_full_disk_says_so(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'bench.db'}")
    run_id = store.create_run(plugin="lstm")
    pages = sqlite3.connect(tmp_path / "bench.db").execute("PRAGMA page_count").fetchone()[0]

    @event.listens_for(store.engine, "connect")
    def _no_room(dbapi_connection, _record) -> None:  # SQLite's own "disk is full"
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages + 2}")

    store.engine.dispose()
    with pytest.raises(BenchError, match="no space left for the database") as caught:
        for step in range(10_000):
            store.add_metrics(run_id, {f"m{i}": float(i) for i in range(50)}, step=step)
    assert "lost the connection" not in str(caught.value)
    assert "database or disk is full" in str(caught.value)
    store.close()


@pytest.mark.parametrize(
    ("reason", "said"),
    [
        ("database or disk is full", "no space left for the database"),
        ("database is locked", "stayed locked by another process"),
        ("no such column: runs.future", "does not hold the tables this bench expects"),
        ("disk I/O error", "disk I/O error"),
        ("database disk image is malformed", "is damaged"),
        ("attempt to write a readonly database", "is read-only"),
        ("server closed the connection unexpectedly", "lost the connection"),
        ("something else", "refused the operation"),
    ],
)
def test_each_operational_error_says_what_happened(reason: str, said: str) -> None:
    from bench.store.engine import database_error

    error = OperationalError("INSERT ...", {}, sqlite3.OperationalError(reason))
    message = str(database_error("sqlite:////tmp/x.db", error))
    assert said in message and reason in message
    if said != "lost the connection":
        assert "lost the connection" not in message


def test_two_deletes_of_one_run_at_once_leave_no_lock_folder(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'bench.db'}")
    run_id = store.create_run(plugin="lstm")
    store.finish_run(run_id, "finished")
    first = Runner(None, store, tmp_path / "data", progress=False)
    second = Runner(None, Store(store.url), tmp_path / "data", progress=False)
    folder = first.run_dir(run_id)
    folder.mkdir(parents=True)
    (folder / "best.pt").write_bytes(b"weights")
    real_get_run = second.store.get_run

    def get_run_then_lose_the_race(wanted: int) -> dict:
        record = real_get_run(wanted)  # the second delete has seen the run ...
        first.delete(wanted)  # ... when the first deletes it and its folder
        return record

    second.store.get_run = get_run_then_lose_the_race
    second.delete(run_id)
    assert not folder.exists(), list(folder.iterdir())
    assert not store.has_run(run_id)


def test_runs_takes_the_data_dir_a_killed_run_was_started_with(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'bench.db'}"
    with Store(db) as store:
        run_id = store.create_run(plugin="lstm", model_label="killed")
    elsewhere = tmp_path / "elsewhere"
    folder = run_folder(elsewhere, db, run_id)
    folder.mkdir(parents=True)
    (folder / LOCK_FILE).touch()  # the lock file of a process that is gone (nobody holds it)
    default = invoke(tmp_path, db, "runs")
    assert "process gone" not in default.output  # the default data dir never ran it
    given = invoke(tmp_path, db, "runs", "--data-dir", str(elsewhere))
    assert given.exit_code == 0, given.output
    assert "running (process gone)" in given.output


@pytest.mark.parametrize(
    ("content", "phrases"),
    [
        (b'plugin = "unigram"\n# caf\xe9\n', ("is not UTF-8 text", "0xe9")),
        (b'plugin = "unigram"\nseed = 99999999999999999999\n', ("seed", "9223372036854775807")),
        (b'plugin = "unigram"\nseed = -9223372036854775809\n', ("seed",)),
    ],
)
def test_a_config_file_bench_cannot_use_is_one_error_line(
    tmp_path: Path, content: bytes, phrases: tuple[str, ...]
) -> None:
    config = tmp_path / "run.toml"
    config.write_bytes(content)
    db = f"sqlite:///{tmp_path / 'bench.db'}"
    assert_one_error_line(invoke(tmp_path, db, "run", "--config", str(config)), *phrases)
    too_big = ("--seeds", "9223372036854775807,9223372036854775808")
    assert_one_error_line(invoke(tmp_path, db, "run", "--plugin", "unigram", *too_big), "seed")
