"""bench export / bench import: a run survives the trip through JSON files unchanged."""

import json

from click.testing import CliRunner

from bench.cli import cli
from bench.store import Store


def _invoke(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


def test_export_then_import_gives_the_same_leaderboard(tiny_corpus, tmp_path):
    _invoke(
        "run",
        "--plugin",
        "lstm",
        "--corpus",
        tiny_corpus,
        "--no-progress",
        "--set",
        "epochs=1",
        "--set",
        "hidden_size=8",
        "--set",
        "layers=1",
    )
    _invoke("run", "--plugin", "unigram", "--corpus", tiny_corpus, "--no-progress")
    before = _invoke("leaderboard", "--format", "csv")

    out = tmp_path / "runs"
    _invoke("export", "--out", out)
    files = sorted(out.glob("*.json"))
    assert len(files) == 2
    record = json.loads(files[0].read_text())
    assert record["format"] == "bench-run/1"
    assert {e["split"] for e in record["evaluations"]} >= {"valid", "test"}
    assert record["metrics"]["rows"], "the training curve travels with the run"

    other = f"sqlite:///{tmp_path / 'other.db'}"
    assert "imported" in _invoke("import", out, "--db", other)
    assert _invoke("leaderboard", "--format", "csv", "--db", other) == before
    again = _invoke("import", out, "--db", other)
    assert again.count("already there") == 2
    assert len(Store(other).list_runs(limit=None)) == 2

    metrics_home = Store().results_frame()["test_ppl"].tolist()
    metrics_away = Store(other).results_frame()["test_ppl"].tolist()
    assert metrics_home == metrics_away

    # the per-line scores travel too: imported runs compare exactly as the originals
    assert "line_scores" in record["evaluations"][-1]
    home = _invoke("compare", "1", "2")
    away = _invoke("compare", "1", "2", "--db", other)
    assert "verdict:" in away and away == home


def test_import_rejects_a_file_that_is_not_a_run(tmp_path):
    bogus = tmp_path / "x.json"
    bogus.write_text('{"hello": 1}')
    result = CliRunner().invoke(cli, ["import", str(bogus)])
    assert result.exit_code != 0
    assert "not a bench run file" in result.output
