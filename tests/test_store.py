"""The Store: round trips, failures kept, concurrent writers, migrations, configuration."""

from __future__ import annotations

import math
import multiprocessing
from pathlib import Path

import pytest
from sqlalchemy import Column, MetaData, Table, Text, create_engine, inspect, text

from bench.api.model import EvalProtocol
from bench.errors import BenchError
from bench.scoring.exactly_once import Evaluation
from bench.scoring.metrics import SplitMetrics
from bench.store import Store, migrations
from bench.store.engine import make_engine, writer
from bench.store.migrations import add_column, migrate
from bench.store.schema import Base
from bench.tokenization.tokens import UnitCounts


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def make_evaluation(
    split: str,
    *,
    tokens: int = 1000,
    words: int = 1000,
    ppl: float = 120.0,
    context: int | None = None,
    seconds: float = 2.0,
) -> Evaluation:
    counts = UnitCounts(tokens=tokens, words=words, bytes=5 * words, lines=50, oov=10)
    metrics = SplitMetrics.compute(tokens * math.log(ppl), counts, oov_nll=10 * math.log(ppl))
    return Evaluation(
        split=split,
        counts=counts,
        protocol=EvalProtocol("stream", 10, context),
        metrics=metrics,
        seconds=seconds,
    )


@pytest.fixture
def store(db_url: str) -> Store:
    """A fresh store on each backend (SQLite, and PostgreSQL where a server can start)."""
    with Store(db_url) as s:
        yield s


def test_round_trip(store: Store) -> None:
    run_id = store.create_run(
        plugin="lstm",
        plugin_version="0.1",
        model_label="LSTM 2x200",
        key_options="layers=2 hidden=200",
        corpus="ptb",
        seed=1,
        command="bench run lstm ptb",
    )
    assert store.get_run(run_id)["status"] == "running"
    store.update_run(run_id, params=4_650_000, device="cpu")
    for step in range(3):
        store.add_metrics(run_id, {"train_loss": 5.0 - step, "lr": 20.0}, step=step, epoch=1)
    eval_id = store.add_evaluation(run_id, make_evaluation("test", context=35))
    store.add_artifact(run_id, "checkpoint", Path("/tmp/ckpt.pt"))
    store.finish_run(run_id, "finished", train_tokens=929_589)

    run = store.get_run(run_id)
    assert run["status"] == "finished"
    assert run["params"] == 4_650_000 and run["train_tokens"] == 929_589
    assert run["finished_at"] >= run["started_at"]
    assert run["started_at"].tzinfo is not None
    assert run["wall_seconds"] == pytest.approx(
        (run["finished_at"] - run["started_at"]).total_seconds()
    )
    assert [(m["step"], m["name"]) for m in run["metrics"]][:2] == [(0, "train_loss"), (0, "lr")]
    assert len(run["metrics"]) == 6
    (evaluation,) = run["evaluations"]
    assert evaluation["id"] == eval_id
    assert evaluation["ppl"] == pytest.approx(120.0)
    assert (evaluation["mode"], evaluation["batch_size"], evaluation["context"]) == (
        "stream",
        10,
        35,
    )
    assert evaluation["tokens_per_second"] == pytest.approx(500.0)
    assert evaluation["ppl_no_oov"] == pytest.approx(120.0)
    assert run["artifacts"][0]["kind"] == "checkpoint"
    assert run["artifacts"][0]["path"] == "/tmp/ckpt.pt"


def test_failed_run_keeps_its_error(store: Store) -> None:
    run_id = store.create_run(plugin="lstm", corpus="ptb")
    store.finish_run(run_id, "failed", error="RuntimeError: CUDA out of memory")
    run = store.get_run(run_id)
    assert run["status"] == "failed"
    assert run["error"] == "RuntimeError: CUDA out of memory"
    assert run["finished_at"] is not None


def test_json_columns_round_trip(store: Store) -> None:
    config = {
        "model": {"layers": 2, "dropout": 0.5, "tied": True, "sizes": [200, 200]},
        "corpus": "ptb",
        "note": "naïve ✓",
        "lr": None,
    }
    environment = {"python": "3.11.7", "malloc": {"MALLOC_MMAP_THRESHOLD_": "1000000000"}}
    run_id = store.create_run(
        config=config,
        environment=environment,
        corpus_sha256={"train": "a" * 64, "test": "b" * 64},
        corpus_verified=True,
    )
    run = store.get_run(run_id)
    assert run["config"] == config
    assert run["environment"] == environment
    assert run["corpus_sha256"]["test"] == "b" * 64
    assert run["corpus_verified"] is True


def test_list_runs_and_results_frame(store: Store) -> None:
    good = store.create_run(plugin="lstm", corpus="ptb", params=10)
    store.add_evaluation(good, make_evaluation("valid", ppl=130.0))
    store.add_evaluation(good, make_evaluation("test", ppl=120.0))
    store.finish_run(good, "finished")
    failed = store.create_run(plugin="lstm", corpus="ptb")
    store.add_evaluation(failed, make_evaluation("test", ppl=99.0))
    store.finish_run(failed, "failed", error="boom")
    store.create_run(plugin="unigram", corpus="wikitext-2")

    runs = store.list_runs()
    assert [r["id"] for r in runs] == [3, failed, good]  # newest first
    assert runs[2]["valid_ppl"] == pytest.approx(130.0)
    assert runs[2]["test_ppl"] == pytest.approx(120.0)
    assert runs[0]["test_ppl"] is None
    assert [r["id"] for r in store.list_runs(status="failed")] == [failed]
    assert [r["id"] for r in store.list_runs(plugin="unigram")] == [3]
    assert [r["id"] for r in store.list_runs(corpus="ptb", limit=1)] == [failed]

    frame = store.results_frame()
    assert list(frame["run_id"]) == [good]
    row = frame.iloc[0]
    assert row["test_ppl"] == pytest.approx(120.0)
    assert row["valid_ppl"] == pytest.approx(130.0)
    assert row["test_mode"] == "stream" and row["test_batch_size"] == 10
    assert row["params"] == 10
    assert store.results_frame(corpus="wikitext-2").empty
    assert "test_ppl" in store.results_frame(corpus="wikitext-2").columns


def test_unknown_status_and_run(store: Store) -> None:
    with pytest.raises(ValueError, match="unknown run status"):
        store.create_run(status="done")
    run_id = store.create_run()
    with pytest.raises(ValueError, match="unknown run status"):
        store.finish_run(run_id, "running")
    with pytest.raises(ValueError, match="unknown run status"):
        store.update_run(run_id, status="paused")
    with pytest.raises(ValueError, match="unknown run status"):
        store.list_runs(status="bogus")
    with pytest.raises(TypeError, match="colour"):
        store.update_run(run_id, colour="red")
    with pytest.raises(BenchError, match="no run with id 999"):
        store.get_run(999)
    with pytest.raises(BenchError, match="no run with id 999"):
        store.add_metrics(999, {"loss": 1.0})


def test_sqlite_pragmas(store: Store) -> None:
    if store.engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 10_000


def test_bench_db_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "nested" / "folder" / "env.db"
    monkeypatch.setenv("BENCH_DB", sqlite_url(path))
    with Store() as store:
        assert store.url == sqlite_url(path)
        store.create_run(plugin="x")
    assert path.exists()


def test_bad_url_or_path_is_a_bench_error(tmp_path: Path) -> None:
    with pytest.raises(BenchError, match="nosuchdialect"):
        Store("nosuchdialect://somewhere/db")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(BenchError, match="a-file"):
        Store(sqlite_url(blocker / "sub" / "bench.db"))


def _write_runs(url: str, barrier: multiprocessing.synchronize.Barrier, tag: str) -> None:
    """Worker for the concurrency test: open the store and write as fast as possible."""
    barrier.wait()  # both processes open (and migrate) the fresh database at once
    store = Store(url)
    for _ in range(2):
        run_id = store.create_run(plugin=tag)
        for step in range(100):
            store.add_metrics(run_id, {"loss": float(step)}, step=step)
        store.finish_run(run_id, "finished")
    store.close()


def test_two_processes_write_at_once_and_lose_nothing(db_url: str) -> None:
    url = db_url
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    workers = [ctx.Process(target=_write_runs, args=(url, barrier, tag)) for tag in ("a", "b")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert [w.exitcode for w in workers] == [0, 0]
    with Store(url) as store:
        runs = store.list_runs()
        assert sorted(r["plugin"] for r in runs) == ["a", "a", "b", "b"]
        assert all(r["status"] == "finished" for r in runs)
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM metrics")).scalar() == 400
            names = conn.execute(text("SELECT name FROM schema_migrations")).scalars().all()
            assert names == [m.__name__ for m in migrations.MIGRATIONS]  # each exactly once


def _schema(engine) -> dict:
    """Tables, columns, keys and indexes as reflected, for comparing two databases."""
    insp = inspect(engine)
    schema = {}
    for table in insp.get_table_names():
        schema[table] = {
            "columns": {
                c["name"]: (str(c["type"]), c["nullable"]) for c in insp.get_columns(table)
            },
            "pk": insp.get_pk_constraint(table)["constrained_columns"],
            "fks": sorted(
                (
                    tuple(fk["constrained_columns"]),
                    fk["referred_table"],
                    tuple(fk["referred_columns"]),
                    fk["options"].get("ondelete"),
                )
                for fk in insp.get_foreign_keys(table)
            ),
            "indexes": sorted(
                (ix["name"], tuple(ix["column_names"]), bool(ix["unique"]))
                for ix in insp.get_indexes(table)
            ),
        }
    return schema


def test_orm_models_match_migrated_schema(store: Store) -> None:
    """Fails when schema.py changed without a migration (or a migration without the ORM)."""
    if store.engine.dialect.name != "sqlite":
        pytest.skip("compared against the ORM's schema on SQLite")
    from_orm = create_engine("sqlite://")
    Base.metadata.create_all(from_orm)
    migrated, expected = _schema(store.engine), _schema(from_orm)
    assert sorted(migrated) == sorted(expected)
    for table in expected:
        assert migrated[table] == expected[table], f"table {table!r} differs"


def test_older_database_is_upgraded_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = sqlite_url(tmp_path / "old.db")
    engine = writer(make_engine(url))
    assert migrate(engine, migrations.MIGRATIONS[:1]) == ["m001_initial"]
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO runs (status, plugin, started_at) "
                "VALUES ('finished', 'old-plugin', '2020-01-02 03:04:05')"
            )
        )
    engine.dispose()

    def m002_test_add_run_notes(conn) -> None:
        add_column(conn, "runs", Column("notes", Text))
        Table("tags", MetaData(), Column("name", Text, primary_key=True)).create(conn)

    # every real migration is pending too: the ORM reads the latest schema
    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, m002_test_add_run_notes])
    with Store(url) as store:  # opening applies the pending migration
        old = store.get_run(1)
        assert (old["status"], old["plugin"]) == ("finished", "old-plugin")
        assert old["started_at"].year == 2020 and old["started_at"].tzinfo is not None
        assert "notes" in {c["name"] for c in inspect(store.engine).get_columns("runs")}
        assert "tags" in inspect(store.engine).get_table_names()
        assert store.create_run(plugin="new") == 2
        with store.engine.connect() as conn:
            names = conn.execute(text("SELECT name FROM schema_migrations ORDER BY name"))
            assert names.scalars().all() == sorted(m.__name__ for m in migrations.MIGRATIONS)
        assert migrate(store.engine) == []  # nothing left to do


def test_probe_results_are_stored_and_read_back(store: Store) -> None:
    run_id = store.create_run(plugin="lstm")
    written = store.add_probe_results(
        "gradients",
        [("grad_norm_h", 1, 0.5), ("grad_norm_h", 2, float("nan"))],
        label="LSTM 1x8 (run 1)",
        plugin="lstm",
        corpus="tiny",
        split="valid",
        positions=3,
        run_id=run_id,
    )
    store.add_probe_results(
        "gradients",
        [("grad_norm_h", 1, 0.25)],
        label="RNN fresh",
        plugin="rnn",
        corpus="tiny",
        split="valid",
        positions=3,
        config={"options": {"hidden_size": 8}},
        seed=7,
    )
    assert written == 2
    frame = store.probe_results("gradients")
    assert list(frame["distance"]) == [1, 2, 1]
    assert frame["value"].iloc[0] == 0.5 and frame["value"].isna().iloc[1]  # NaN kept as NULL
    assert frame["run_id"].iloc[0] == run_id and frame["run_id"].isna().iloc[2]
    assert frame["config"].iloc[2] == {"options": {"hidden_size": 8}}
    assert len(store.probe_results(run_id=run_id)) == 2
    with pytest.raises(BenchError, match="no run with id 99"):
        store.add_probe_results(
            "gradients",
            [],
            label="x",
            plugin="lstm",
            corpus="tiny",
            split="valid",
            positions=1,
            run_id=99,
        )


def test_delete_run_removes_it_and_all_it_recorded_and_nothing_else(store: Store) -> None:
    kept, gone = store.create_run(plugin="lstm"), store.create_run(plugin="lstm")
    for run_id in (kept, gone):
        store.add_metrics(run_id, {"train_loss": 1.0}, step=1)
        store.add_evaluation(run_id, make_evaluation("test"))
        store.add_artifact(run_id, "checkpoint", Path(f"/tmp/{run_id}.pt"))
        store.add_probe_results(
            "gradients",
            [("grad_norm_h", 1, 0.5)],
            label="x",
            plugin="lstm",
            corpus="tiny",
            split="valid",
            positions=1,
            run_id=run_id,
        )
    store.delete_run(gone)

    with pytest.raises(BenchError, match=f"no run with id {gone}"):
        store.get_run(gone)
    with store.engine.connect() as conn:
        for table in ("metrics", "evaluations", "artifacts", "probe_results"):
            run_ids = conn.execute(text(f"SELECT run_id FROM {table}")).scalars().all()
            assert run_ids == [kept], table
    record = store.get_run(kept)
    assert len(record["metrics"]) == 1 and len(record["evaluations"]) == 1
    with pytest.raises(BenchError, match=f"no run with id {gone}"):
        store.delete_run(gone)


def test_database_before_probe_results_is_upgraded(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "old.db")
    engine = writer(make_engine(url))
    migrate(engine, migrations.MIGRATIONS[:1])  # the schema as first released
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO runs (status, plugin, started_at) "
                "VALUES ('finished', 'lstm', '2020-01-02 03:04:05')"
            )
        )
    engine.dispose()
    with Store(url) as store:
        assert "probe_results" in inspect(store.engine).get_table_names()
        assert store.get_run(1)["plugin"] == "lstm"
        store.add_probe_results(
            "gradients",
            [("grad_norm_h", 1, 0.1)],
            label="old run",
            plugin="lstm",
            corpus="tiny",
            split="valid",
            positions=1,
            run_id=1,
        )
        assert store.probe_results()["run_id"].tolist() == [1]


def test_database_with_parent_run_id_is_upgraded_keeping_every_row(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "old.db")
    engine = writer(make_engine(url))
    migrate(engine, migrations.MIGRATIONS[:2])  # before runs.parent_run_id was dropped
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO runs (status, plugin, config_hash, started_at) VALUES "
                "('finished', 'lstm', 'abc', '2020-01-02 03:04:05'), "
                "('finished', 'gru', 'def', '2020-01-02 03:04:06')"
            )
        )
        conn.execute(text("UPDATE runs SET parent_run_id = 1 WHERE id = 2"))
        conn.execute(
            text(
                "INSERT INTO metrics (run_id, step, name, value, created_at) "
                "VALUES (1, 1, 'train_loss', 2.5, '2020-01-02 03:04:05')"
            )
        )
    engine.dispose()
    with Store(url) as store:
        columns = {c["name"] for c in inspect(store.engine).get_columns("runs")}
        assert "parent_run_id" not in columns and "config_hash" in columns
        assert [r["plugin"] for r in store.list_runs()] == ["gru", "lstm"]
        assert store.get_run(1)["metrics"][0]["value"] == 2.5  # not cascaded away
        assert _schema(store.engine)["runs"] == _schema_of_orm()["runs"]
        with store.engine.connect() as conn:
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1  # back on
        store.delete_run(1)  # foreign keys still cascade after the rebuild
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM metrics")).scalar() == 0


def test_an_existing_database_stops_reusing_run_ids(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "old.db")
    engine = writer(make_engine(url))
    migrate(engine, migrations.MIGRATIONS[:4])  # before m005_run_ids_never_reused
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO runs (status, plugin, config_hash, started_at) VALUES "
                "('finished', 'lstm', 'abc', '2020-01-02 03:04:05'), "
                "('finished', 'gru', 'def', '2020-01-02 03:04:06')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO metrics (run_id, step, name, value, created_at) "
                "VALUES (2, 1, 'train_loss', 2.5, '2020-01-02 03:04:05')"
            )
        )
    engine.dispose()
    with Store(url) as store:
        assert store.get_run(2)["metrics"][0]["value"] == 2.5  # kept through the rebuild
        store.delete_run(2)
        assert store.create_run(plugin="kn") == 3
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM metrics")).scalar() == 0
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


def _schema_of_orm() -> dict:
    from_orm = create_engine("sqlite://")
    Base.metadata.create_all(from_orm)
    return _schema(from_orm)


def _open_fresh(url: str, barrier: multiprocessing.synchronize.Barrier) -> None:
    barrier.wait()
    Store(url).close()


def test_fresh_database_opened_by_several_processes_at_once(db_url: str) -> None:
    """Creating the schema races when several processes open a new database together
    (on PostgreSQL: duplicate pg_type rows, "relation already exists"); each must open it."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(6)
    workers = [ctx.Process(target=_open_fresh, args=(db_url, barrier)) for _ in range(6)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [w.exitcode for w in workers] == [0] * 6
    with Store(db_url) as store, store.engine.connect() as conn:
        names = conn.execute(text("SELECT name FROM schema_migrations")).scalars().all()
        assert sorted(names) == sorted(m.__name__ for m in migrations.MIGRATIONS)


def test_inf_and_nan_options_round_trip_on_every_backend(store: Store) -> None:
    """PostgreSQL's json rejects bare Infinity/NaN: such values are stored portably."""
    config = {
        "options": {"checkpoint_minutes": float("inf"), "floor": float("-inf"), "sizes": [1, 2.5]}
    }
    run_id = store.create_run(plugin="x", config=config)
    stored = store.get_run(run_id)["config"]
    assert stored == config
    assert math.isinf(stored["options"]["checkpoint_minutes"])
    nan_run = store.create_run(plugin="x", config={"value": float("nan")})
    assert math.isnan(store.get_run(nan_run)["config"]["value"])


def test_database_identity_ignores_driver_and_password() -> None:
    from bench.store.engine import database_identity

    same = {
        database_identity(url)
        for url in (
            "postgresql://u:pw@DB.example:5432/results",
            "postgresql+psycopg://other@db.example/results",
            "postgresql+psycopg2://u@db.example:5432/results",
        )
    }
    assert same == {"postgresql://db.example:5432/results"}
    assert database_identity("postgresql://db.example/other") not in same


def test_read_only_database_file_is_one_clear_line(tmp_path: Path) -> None:
    path = tmp_path / "ro.db"
    Store(sqlite_url(path)).close()
    # opened read-only (as a file without write permission is, even for root's tests)
    read_only = Store(f"sqlite:///file:{path}?mode=ro&uri=true")
    with pytest.raises(BenchError, match="read-only") as caught:
        read_only.create_run(plugin="x")
    assert "INSERT" not in str(caught.value)
    read_only.close()


def test_lost_server_is_one_clear_line(postgres_server) -> None:
    """The server going away mid-run: the next write says so in one line."""
    import psycopg

    url = postgres_server.create_database()
    store = Store(url)
    run_id = store.create_run(plugin="x")
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(
        postgres_server.url("postgres").replace("+psycopg", ""), autocommit=True
    ) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
    store.update_run(run_id, params=1)  # pool_pre_ping replaced the dropped connection
    store.engine.dispose()
    with psycopg.connect(
        postgres_server.url("postgres").replace("+psycopg", ""), autocommit=True
    ) as admin:
        admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
    with pytest.raises(BenchError, match="lost the connection to the database") as caught:
        store.update_run(run_id, params=2)
    assert "s3cret" not in str(caught.value)
    store.close()
