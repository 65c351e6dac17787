"""Hard edges of the command line: killed runs, signals' messages, secrets."""

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.cli import cli
from bench.paths import data_dir
from bench.run.folders import run_folder, run_lock
from bench.store import Store


def bench(*args, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], env=env, catch_exceptions=False)


def test_a_running_row_whose_lock_is_free_shows_process_gone():
    store = Store()
    killed = store.create_run(plugin="lstm")  # a row left `running` by kill -9
    alive = store.create_run(plugin="lstm")
    elsewhere = store.create_run(plugin="lstm")  # never ran on this machine: no lock here
    folder = run_folder(data_dir(None), store.url, killed)
    folder.mkdir(parents=True)
    (folder / "run.lock").touch()
    with run_lock(run_folder(data_dir(None), store.url, alive), alive):
        listing = bench("runs").output
    assert re.search(rf"^\s+{killed}\s+running \(process gone\)", listing, re.MULTILINE)
    assert re.search(rf"^\s+{alive}\s+running\s+\d", listing, re.MULTILINE)
    assert re.search(rf"^\s+{elsewhere}\s+running\s+\d", listing, re.MULTILINE)


def test_run_folder_is_the_same_for_every_spelling_of_one_database(tmp_path: Path):
    a = run_folder(tmp_path, "postgresql://u:pw@db.example/results", 3)
    b = run_folder(tmp_path, "postgresql+psycopg://db.example:5432/results", 3)
    assert a == b and a.name == "3"
    assert run_folder(tmp_path, "postgresql://db.example/other", 3) != a
    assert run_folder(tmp_path, "sqlite:///x.db", 3) != run_folder(tmp_path, "sqlite:///y.db", 3)


def test_no_output_row_or_file_holds_a_password(postgres_server, tiny_corpus, tmp_path):
    """A password given in --db or BENCH_DB is never printed, stored or written."""
    from postgres_server import PASSWORD

    url = postgres_server.create_database()
    assert PASSWORD in url or "%40" in url  # the URL really carries it (quoted)
    secrets = {PASSWORD, url.split(":", 2)[2].split("@")[0]}  # as typed and as URL-quoted
    outputs = []
    run = bench("run", "--db", url, "--plugin", "unigram", "--corpus", tiny_corpus)
    assert run.exit_code == 0, run.output
    outputs += [
        run.output,
        bench("runs", "--db", url).output,
        bench("show", "1", "--db", url).output,
        bench("show", "1", "--json", "--db", url).output,
    ]
    env = {"BENCH_DB": url}
    outputs += [bench("run", "--plugin", "unigram", "--corpus", tiny_corpus, env=env).output]
    board = tmp_path / "boards"
    outputs += [
        bench("leaderboard", "--out", board, "--html", board / "html", env=env).output,
        bench("leaderboard", env=env).output,
    ]
    assert "bench run" in outputs[-1]  # the reproduce-with lines are there, masked
    outputs += [bench("run", "--db", url, "--plugin", "lstn", env=env).output]  # an error
    assert "***" in outputs[0]  # the summary names the database, password masked
    for text in outputs:
        for secret in secrets:
            assert secret not in text
    with Store(url) as store:
        for row in store.list_runs():
            for secret in secrets:
                assert secret not in repr(store.get_run(row["id"]))
    for path in [*board.rglob("*"), *Path(os.environ["BENCH_DATA_DIR"]).rglob("*")]:
        if path.is_file():
            data = path.read_bytes()
            for secret in secrets:
                assert secret.encode() not in data, path


def test_config_file_whose_options_is_not_a_table(tmp_path, tiny_corpus):
    for line in ('options = "lr=0.1"', "tokenizer_options = 3", "options = [1, 2]"):
        config = tmp_path / "run.toml"
        config.write_text(f'plugin = "unigram"\ncorpus = "{tiny_corpus}"\n{line}\n')
        result = CliRunner().invoke(cli, ["run", "--config", str(config)])
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert "must be a table" in result.output, result.output


def test_learning_rate_beyond_float32_is_refused_before_a_run(tiny_corpus):
    result = CliRunner().invoke(
        cli, ["run", "--plugin", "lstm", "--corpus", str(tiny_corpus), "--set", "lr=1e308"]
    )
    assert result.exit_code == 1 and "lr" in result.output and "Traceback" not in result.output
    assert Store().list_runs() == []


def test_batch_size_larger_than_the_split_names_the_largest_that_fits(tiny_corpus):
    result = CliRunner().invoke(
        cli,
        [
            "run",
            "--plugin",
            "lstm",
            "--corpus",
            str(tiny_corpus),
            "--set",
            "batch_size=100000000",
            "--set",
            "epochs=1",
        ],
    )
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert re.search(
        r"too few for batch size 100000000.*the largest batch size that fits "
        r"is \d+",
        result.output,
    ), result.output
    assert "run 1" in result.output


def test_split_file_that_is_a_folder_or_a_symlink_loop_says_so(tiny_corpus):
    valid = tiny_corpus / "valid.txt"
    valid.unlink()
    valid.mkdir()
    result = CliRunner().invoke(cli, ["run", "--plugin", "unigram", "--corpus", str(tiny_corpus)])
    assert result.exit_code == 1
    assert "valid.txt: the valid split is a folder, not a text file" in result.output
    valid.rmdir()
    valid.symlink_to(tiny_corpus / "loop.txt")
    (tiny_corpus / "loop.txt").symlink_to(valid)
    result = CliRunner().invoke(cli, ["run", "--plugin", "unigram", "--corpus", str(tiny_corpus)])
    assert result.exit_code == 1
    assert "valid.txt: the valid split is a symbolic link that loops" in result.output


def test_a_model_whose_plugin_failed_to_load_says_so(tiny_corpus, tmp_path):
    from importlib import metadata

    from bench.api.plugin_host import ENTRY_POINT_GROUP, load_plugins
    from bench.configuration.run_config import build_config
    from bench.errors import BenchError
    from bench.run.runner import Runner

    broken = metadata.EntryPoint(
        name="fancy", value="fancy_plugin_that_does_not_import", group=ENTRY_POINT_GROUP
    )
    host = load_plugins([*metadata.entry_points(group=ENTRY_POINT_GROUP), broken])
    runner = Runner(host, Store(), tmp_path / "data", progress=False, echo=lambda m: None)
    import pytest

    with pytest.raises(
        BenchError,
        match=r"model plugin 'fancy' failed to load: "
        r"ModuleNotFoundError.*bench plugins",
    ) as caught:
        runner.run(build_config({}, {"plugin": "fancy", "corpus": str(tiny_corpus)}, ()), "x")
    assert "Did you mean" not in str(caught.value)
    with pytest.raises(BenchError, match=r"unknown model plugin 'lstn'.*failed to load.*'fancy'"):
        runner.run(build_config({}, {"plugin": "lstn", "corpus": str(tiny_corpus)}, ()), "x")


def bench_process(*args):
    """`bench` as a user runs it: the stored command comes from this process's real argv."""
    return subprocess.run(
        [sys.executable, "-m", "bench", *[str(a) for a in args]],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ.copy(),
    )


def test_a_password_in_the_query_string_is_masked_everywhere(tiny_corpus, tmp_path):
    """`--db 'sqlite:///...?password=...'` (SQLite ignores the parameter, so no server is
    needed): the summary, the stored command, `bench show`, exports, markdown and HTML
    never hold it."""
    secret = "Hunter2-in-query"
    url = f"sqlite:///{tmp_path / 'results.db'}?sslmode=x&password={secret}"
    run = bench_process("run", "--db", url, "--plugin", "unigram", "--corpus", tiny_corpus)
    assert run.returncode == 0, run.stderr
    out, boards = tmp_path / "exported", tmp_path / "boards"
    results = [
        run,
        bench_process("runs", "--db", url),
        bench_process("show", "1", "--db", url),
        bench_process("show", "1", "--json", "--db", url),
        bench_process("export", "--out", out, "--db", url),
        bench_process("leaderboard", "--db", url, "--out", boards, "--html", boards / "html"),
    ]
    assert "password=***" in run.stdout  # the summary names the database, masked
    with Store(f"sqlite:///{tmp_path / 'results.db'}") as store:
        command = store.get_run(1)["command"]
        assert "--db" in command and "password=***" in command  # the real command line
        assert secret not in repr(store.get_run(1))
    for result in results:
        assert result.returncode == 0, result.stderr
        assert secret not in result.stdout + result.stderr
    files = [*out.rglob("*"), *boards.rglob("*"), *tmp_path.glob("results.db*")]
    assert any(path.suffix == ".md" for path in files)
    for path in files:
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_a_password_with_a_space_is_masked_in_the_stored_command(monkeypatch):
    """SQLAlchemy takes `user:hun ter2@host`; the command as typed is stored masked."""
    from bench.cli.command_line import command_line
    from bench.configuration.run_config import build_config

    url = "postgresql+psycopg://bench:hun ter2@db.example/results?pwd=x%20y"
    monkeypatch.setattr(sys, "argv", ["bench", "run", "--db", url, "--plugin", "unigram"])
    command = command_line(None, build_config({}, {"plugin": "unigram", "corpus": "ptb"}, ()))
    assert command == (
        "bench run --db 'postgresql+psycopg://bench:***@db.example/results?pwd=***' "
        "--plugin unigram"
    )
    store = Store()
    run_id = store.create_run(plugin="unigram", command=f"bench run --db={url}")
    assert "ter2" not in store.get_run(run_id)["command"]


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:p@ss w:rd/x@host:5432/db",
        "postgresql://u:hun ter2@host/db?password=two",
        "mysql+pymysql://u@host/db?ssl=1&Password=two;pwd=two",
        "mssql+pyodbc://u:a?b#c@dsn",
    ],
)
def test_mask_url_hides_every_part_of_a_password(url):
    from bench.secrets import mask_text, mask_url

    for masked in (mask_url(url), mask_text(shlex.join(["bench", "run", "--db", url]))):
        for part in ("ss w", "rd/x", "hun ter2", "two", "a?b#c"):
            assert part not in masked, masked
        assert "***" in masked and ("host" in masked or "dsn" in masked)


def test_exports_and_leaderboards_carry_no_absolute_local_path(tiny_corpus, tmp_path, monkeypatch):
    """The corpus folder and --data-dir are named as ~/... and <data-dir> in what is shared
    (run files, markdown, CSV, the HTML site), and kept whole in the local database."""
    monkeypatch.setenv("HOME", str(tmp_path))  # the corpus lies in the user's home
    data = tmp_path / "elsewhere"
    run = bench_process("run", "--plugin", "unigram", "--corpus", tiny_corpus, "--data-dir", data)
    assert run.returncode == 0, run.stderr
    assert str(tiny_corpus) in Store().get_run(1)["command"]  # kept here
    assert str(tiny_corpus) in bench("show", "1").output
    out, boards = tmp_path / "exported", tmp_path / "boards"
    bench("export", "--out", out)
    bench("leaderboard", "--out", boards, "--html", boards / "html")
    bench("leaderboard", "--format", "csv", "--out", boards)
    (exported,) = out.glob("*.json")
    record = json.loads(exported.read_text())
    assert record["run"]["command"] == (
        "bench run --plugin unigram --corpus '~/tiny' --data-dir '<data-dir>'"
    )
    assert record["run"]["config"]["corpus"] == "~/tiny"
    shared = [exported, *boards.rglob("*.md"), *boards.rglob("*.csv"), *boards.rglob("*.html")]
    assert len(shared) >= 4
    for path in shared:
        assert str(tmp_path) not in path.read_text(), path
    assert "already there" in bench("import", exported).output  # still the same run
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    assert "imported" in bench("import", exported, "--db", fresh).output
