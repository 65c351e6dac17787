"""`bench import` takes files from someone else: a file whose values do not fit their
columns is refused whole with one line naming the field, and an odd row that is already in
a database does not break `bench show`, `bench runs` or `bench leaderboard`."""

import copy
import json

import pytest
from click.testing import CliRunner
from conftest import write_tiny_corpus

from bench.cli import cli
from bench.configuration.run_config import config_hash
from bench.store import Store
from bench.store.exchange import _EVAL_COLUMNS, _RUN_COLUMNS, import_runs
from bench.store.run_file import EvaluationFields, RunFields


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """One unigram run, exported: (the JSON record, the environment that made it)."""
    folder = tmp_path_factory.mktemp("exported")
    env = {"BENCH_DB": f"sqlite:///{folder / 'home.db'}", "BENCH_DATA_DIR": str(folder / "d")}
    corpus = write_tiny_corpus(folder)
    runner = CliRunner()
    run = runner.invoke(cli, ["run", "--plugin", "unigram", "--corpus", str(corpus)], env=env)
    assert run.exit_code == 0, run.output
    out = folder / "runs"
    assert runner.invoke(cli, ["export", "--out", str(out)], env=env).exit_code == 0
    (path,) = out.glob("*.json")
    return json.loads(path.read_text())


def import_file(tmp_path, record, name="run.json"):
    path = tmp_path / name
    path.write_text(record if isinstance(record, str) else json.dumps(record))
    return CliRunner().invoke(cli, ["import", str(path)])


def test_the_schema_knows_every_column():
    """A column added to the tables must be checked on import too."""
    assert set(RunFields.model_fields) == set(_RUN_COLUMNS)
    assert set(EvaluationFields.model_fields) == {*_EVAL_COLUMNS, "line_scores"}


def test_a_valid_file_imports(exported, tmp_path):
    result = import_file(tmp_path, exported)
    assert result.exit_code == 0 and "imported" in result.output, result.output


def put(record, where, value):
    record = copy.deepcopy(record)
    *path, last = where
    target = record
    for key in path:
        target = target[key]
    target[last] = value
    return record


BAD = [
    (("run", "params"), "lots", "run.params"),
    (("run", "seed"), 1.5, "run.seed"),
    (("run", "status"), "pwned", "run.status"),
    (("run", "params"), 10**30, "run.params"),
    (("run", "params"), -3, "run.params"),
    (("run", "started_at"), "yesterday", "run.started_at"),
    (("run", "started_at"), "2026-12-07T05:00:00", "run.started_at"),  # no offset
    (("run", "config"), [1, 2], "run.config"),
    (("run",), [], "run"),
    (("run", "plugin"), "x" * 300, "run.plugin"),
    (("evaluations", 0, "ppl"), float("nan"), "evaluations.0.ppl"),
    (("evaluations", 0, "ppl"), -5.0, "evaluations.0.ppl"),
    (("evaluations", 0, "ppl"), float("inf"), "evaluations.0.ppl"),
    (("evaluations", 0, "mode"), "<script>", "evaluations.0.mode"),
    (("evaluations", 0, "tokens"), "12", "evaluations.0.tokens"),
    (("evaluations", 0, "line_scores", "base64"), "%%% not base64", "evaluations.0.line_scores"),
    (("evaluations",), {"a": 1}, "evaluations"),
    (("metrics", "rows"), [[1, 1, "loss", "x", "2026-12-07T05:00:00+00:00"]], "metrics.rows.0.3"),
    (("metrics", "rows"), [[1, 1, "loss"]], "metrics.rows.0"),
]


@pytest.mark.parametrize(
    ("where", "value", "field"), BAD, ids=[b[2] + "=" + repr(b[1])[:20] for b in BAD]
)
def test_a_bad_value_refuses_the_file_in_one_line_naming_the_field(
    exported, tmp_path, where, value, field
):
    result = import_file(tmp_path, put(exported, where, value))
    assert result.exit_code == 1
    assert "Traceback" not in result.output and result.exception.__class__ is SystemExit
    (line,) = result.output.splitlines()
    assert line.startswith("Error: ") and "refused, nothing imported" in line
    assert f": {field}" in line, line
    assert Store().list_runs(limit=None) == []


def test_a_huge_number_literal_is_one_line(exported, tmp_path):
    text = json.dumps(put(exported, ("run", "seed"), 7)).replace(
        '"seed": 7', '"seed": ' + "9" * 5000
    )
    result = import_file(tmp_path, text)
    assert result.exit_code == 1 and len(result.output.splitlines()) == 1, result.output
    assert Store().list_runs(limit=None) == []


def test_an_odd_row_already_stored_breaks_no_command(exported, tmp_path):
    """Rows written by hand or by an import that did not check: text in number columns,
    an unknown status, a date that is not one. Every command still reads the database."""
    import sqlite3

    assert import_file(tmp_path, exported).exit_code == 0
    second = put(exported, ("run", "started_at"), "2026-01-02T03:04:05+00:00")
    assert import_file(tmp_path, second, "b.json").exit_code == 0
    database = Store().url.removeprefix("sqlite:///")
    with sqlite3.connect(database) as connection:
        connection.executescript(
            "update runs set params = 'lots', seed = 1.5, started_at = 'garbage', "
            "config = '[1, 2]' where id = 1;"
            "update evaluations set ppl = 'NaN?', tokens = 'many', word_ppl = -3 "
            "where run_id = 1;"
        )
    out = tmp_path / "boards"
    for args in (
        ["runs"],
        ["show", "1"],
        ["show", "1", "--json"],
        ["leaderboard"],
        ["leaderboard", "--out", out, "--html", out / "html"],
        ["export", "--out", tmp_path / "again"],
        ["compare", "1", "2"],
    ):
        result = CliRunner().invoke(cli, [str(a) for a in args])
        assert result.exit_code == 0, (args, result.output, result.exception)


def test_a_forged_file_with_a_real_runs_identity_does_not_shadow_it(exported, tmp_path):
    """Same start time, plugin and configuration hash, other figures: imported first, the
    forgery must not make the real file "already there"."""
    forged = copy.deepcopy(exported)
    for evaluation in forged["evaluations"]:
        evaluation["ppl"] = 1.5
    forged_run = import_file(tmp_path, forged, "forged.json")
    assert "imported" in forged_run.output, forged_run.output
    real = import_file(tmp_path, exported, "real.json")
    assert real.exit_code == 0 and "imported: real.json as run 2" in real.output, real.output
    again = import_file(tmp_path, exported, "real.json")
    assert "already there: real.json as run 2" in again.output


def test_a_configuration_hash_that_does_not_match_is_refused(exported, tmp_path):
    assert "<path>/" in exported["run"]["config"]["corpus"]  # checked as exported
    edited = put(exported, ("run", "config", "seed"), 4321)
    result = import_file(tmp_path, edited)
    assert result.exit_code == 1 and "config_hash does not match" in result.output
    assert len(result.output.splitlines()) == 1
    assert Store().list_runs(limit=None) == []


def test_a_symbolic_link_to_dev_zero_is_one_error_line(exported, tmp_path):
    folder = tmp_path / "runs"
    folder.mkdir()
    (folder / "a.json").write_text(json.dumps(exported))
    (folder / "zero.json").symlink_to("/dev/zero")
    for target in (folder, folder / "zero.json"):
        result = CliRunner().invoke(cli, ["import", str(target)])
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
        (line,) = result.output.splitlines()
        assert line.startswith("Error: ") and "symbolic link" in line
    assert Store().list_runs(limit=None) == []


def test_a_file_that_is_not_regular_or_too_large_is_refused(exported, tmp_path, monkeypatch):
    import os

    import bench.store.exchange

    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    result = CliRunner().invoke(cli, ["import", str(fifo)])  # would block if it were read
    assert result.exit_code == 1 and "not a regular file" in result.output
    monkeypatch.setattr(bench.store.exchange, "MAX_FILE_BYTES", 1000)
    result = import_file(tmp_path, exported)
    assert result.exit_code == 1 and "more than a run file may be" in result.output
    assert len(result.output.splitlines()) == 1


def test_two_runs_started_in_the_same_second_get_two_files(exported, tmp_path):
    first = put(exported, ("run", "config", "seed"), 1)
    second = put(exported, ("run", "config", "seed"), 2)
    for number, record in enumerate((first, second)):
        record["shared_config_hash"] = config_hash(record["run"]["config"])
        assert import_file(tmp_path, record, f"{number}.json").exit_code == 0
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["export", "--out", str(out)])
    names = sorted(p.name for p in out.glob("*.json"))
    assert len(names) == 2 and result.output.count("wrote") == 2, (names, result.output)
    assert names[0] == names[1].replace(".json", "-2.json")  # '-' sorts before '.'
    again = CliRunner().invoke(cli, ["export", "--out", str(out)])  # the same runs again
    assert sorted(p.name for p in out.glob("*.json")) == names, again.output
    seeds = {json.loads((out / n).read_text())["run"]["config"]["seed"] for n in names}
    assert seeds == {1, 2}


def test_import_waits_for_a_run_writing_the_same_database(exported, tmp_path):
    """Another process holds SQLite's write lock (a run storing its metrics): the import
    waits for it instead of failing with "database is locked"."""
    import sqlite3
    import threading
    import time

    assert (
        import_file(
            tmp_path, put(exported, ("run", "started_at"), "2020-01-01T00:00:00+00:00")
        ).exit_code
        == 0
    )
    database = Store().url.removeprefix("sqlite:///")
    locked = threading.Event()

    def a_run_writing():
        connection = sqlite3.connect(database, isolation_level=None)
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("UPDATE runs SET error = 'busy' WHERE id = 1")
        locked.set()
        time.sleep(1.5)
        connection.execute("COMMIT")
        connection.close()

    path = tmp_path / "second.json"
    path.write_text(json.dumps(exported))
    store = Store()  # opened (and migrated) before the other writer takes the lock
    writer = threading.Thread(target=a_run_writing)
    writer.start()
    locked.wait()
    try:
        ((_, run_id, new),) = list(import_runs(store, [path]))
    finally:
        writer.join()
    assert new and run_id == 2


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_deleted_runs_id_is_never_given_again(backend, request):
    url = None
    if backend == "postgresql":
        url = request.getfixturevalue("postgres_server").create_database()
    store = Store(url)
    first, second = store.create_run(plugin="a"), store.create_run(plugin="b")
    store.delete_run(second)
    assert store.create_run(plugin="c") == second + 1
    assert first == second - 1
