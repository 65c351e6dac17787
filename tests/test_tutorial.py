"""The plugin tutorial, run for real: build its package from the docs, install, discover, run."""

import json
import re
import tomllib
from pathlib import Path

import pytest
from plugin_install import bench, install_plugin

TUTORIAL = Path(__file__).resolve().parent.parent / "docs" / "writing-a-model-plugin.md"
BLOCK = re.compile(r"```\w+ file=(?P<name>\S+)\n(?P<body>.*?)```", re.DOTALL)


def tutorial_files() -> dict[str, str]:
    return {m["name"]: m["body"] for m in BLOCK.finditer(TUTORIAL.read_text())}


def test_tutorial_declares_its_files():
    assert set(tutorial_files()) == {
        "pyproject.toml",
        "bench_bigram.py",
        "bench_jsonl.py",
        "bench_recency.py",
    }


def test_tutorial_depends_on_benchs_own_distribution():
    ours = tomllib.loads((TUTORIAL.parent.parent / "pyproject.toml").read_text())["project"]
    theirs = tomllib.loads(tutorial_files()["pyproject.toml"])["project"]
    assert theirs["dependencies"] == [ours["name"]]
    assert ours["name"] != "bench"  # on PyPI, "bench" is another project


@pytest.fixture(scope="module")
def installed_tutorial(tmp_path_factory):
    # step 1 of the tutorial: an empty folder, with its two files
    return install_plugin(tutorial_files(), tmp_path_factory.mktemp("tutorial"))


def test_installed_plugin_is_listed(installed_tutorial):
    result = bench(installed_tutorial, "plugins")
    assert result.returncode == 0, result.stderr
    assert re.search(
        r"^bigram\s+\[loaded\]\s+bench-bigram 0\.1\.0 \(third-party\)", result.stdout, re.MULTILINE
    )
    models = bench(installed_tutorial, "models", "bigram")
    assert "add-k pseudo-count" in models.stdout


def test_installed_plugin_runs_and_beats_unigram(installed_tutorial):
    bigram = bench(installed_tutorial, "run", "--plugin", "bigram")
    assert bigram.returncode == 0, bigram.stderr
    unigram = bench(installed_tutorial, "run", "--plugin", "unigram")
    assert unigram.returncode == 0, unigram.stderr

    def test_ppl(output):
        return float(re.search(r"test perplexity\s+([\d.]+)", output).group(1))

    assert test_ppl(bigram.stdout) < test_ppl(unigram.stdout)
    shown = bench(installed_tutorial, "leaderboard", "--corpus", "tinyshakespeare")
    assert "Bigram (add-0.1)" in shown.stdout


def test_plugin_can_be_disabled(installed_tutorial):
    env = {**installed_tutorial, "BENCH_PLUGINS": ""}
    result = bench(env, "plugins")
    assert re.search(r"^bigram\s+\[disabled\]", result.stdout, re.MULTILINE)
    run = bench(env, "run", "--plugin", "bigram")
    assert run.returncode != 0
    assert "unknown model plugin 'bigram'" in run.stderr
    assert "Traceback" not in run.stderr


def test_installed_logger_writes_each_run_and_exports_stored_ones(installed_tutorial, tmp_path):
    run = bench(installed_tutorial, "run", "--plugin", "bigram", "--log-to", f"jsonl:{tmp_path}")
    assert run.returncode == 0, run.stderr
    run_id = int(re.search(r"^run (\d+) finished", run.stdout, re.MULTILINE).group(1))
    events = [
        json.loads(line) for line in (tmp_path / f"run-{run_id}.jsonl").read_text().splitlines()
    ]
    assert [event["event"] for event in events] == ["started", "finished"]
    assert events[0]["config"]["plugin"] == "bigram"
    shown = float(re.search(r"test perplexity\s+([\d.]+)", run.stdout).group(1))
    assert events[-1]["test_ppl"] == pytest.approx(shown, abs=1e-3)
    exported = bench(installed_tutorial, "export", "--to", f"jsonl:{tmp_path / 'again'}")
    assert exported.returncode == 0, exported.stderr
    again = (tmp_path / "again" / f"run-{run_id}.jsonl").read_text().splitlines()
    assert json.loads(again[-1])["test_ppl"] == events[-1]["test_ppl"]


def test_installed_method_rescores_a_stored_run(installed_tutorial):
    run = bench(installed_tutorial, "run", "--plugin", "bigram")
    assert run.returncode == 0, run.stderr
    parent = int(re.search(r"^run (\d+) finished", run.stdout, re.MULTILINE).group(1))
    rescored = bench(installed_tutorial, "rescore", str(parent), "--method", "recency")
    assert rescored.returncode == 0, rescored.stderr
    assert f"Bigram (add-0.1) + recency (from run {parent})" in rescored.stdout
    assert "chosen on valid (3 tried)" in rescored.stdout
