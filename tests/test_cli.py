"""The command line through click's CliRunner: happy paths and user mistakes."""

import json
import os
import re
import subprocess
import sys

import pandas as pd
import pytest
from click.testing import CliRunner

from bench.cli import cli
from bench.store import Store

TINY = [
    "--set",
    "layers=1",
    "--set",
    "hidden_size=16",
    "--set",
    "embedding_size=16",
    "--set",
    "epochs=1",
    "--set",
    "batch_size=4",
    "--set",
    "bptt=8",
    "--set",
    "max_steps_per_epoch=20",
]


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_help_explains_run():
    result = invoke("run", "--help")
    assert result.exit_code == 0
    assert "--plugin" in result.output and "KEY=VALUE" in result.output


def test_run_prints_summary_and_is_listed(tiny_corpus):
    result = invoke("run", "--plugin", "lstm", "--corpus", tiny_corpus, *TINY)
    assert result.exit_code == 0, result.output
    assert re.search(r"valid perplexity\s+[\d.]+\s+test perplexity\s+[\d.]+", result.output)
    assert "bench show 1" in result.output
    runs = invoke("runs")
    assert re.search(r"^\s+1\s+finished", runs.output, re.MULTILINE)
    show = invoke("show", "1")
    assert "eval test" in show.output and "command" in show.output
    assert "artifact checkpoint:" in show.output
    sample = invoke("generate", "--run", "1", "--prompt", "the cat", "--tokens", "12")
    assert sample.exit_code == 0 and sample.output.startswith("the cat")
    assert (
        sample.output
        == invoke("generate", "--run", "1", "--prompt", "the cat", "--tokens", "12").output
    )
    as_json = json.loads(invoke("show", "1", "--json").output)
    assert as_json["status"] == "finished"
    assert as_json["command"].startswith("bench run")


def test_config_file_and_flags(tiny_corpus, tmp_path):
    config = tmp_path / "run.toml"
    config.write_text(
        f'plugin = "unigram"\ncorpus = "{tiny_corpus}"\nseed = 7\n[options]\nsmoothing = 0.5\n'
    )
    result = invoke("run", "--config", config, "--seed", "8")
    assert result.exit_code == 0, result.output
    record = json.loads(invoke("show", "1", "--json").output)
    assert record["config"]["options"]["smoothing"] == 0.5
    assert record["seed"] == 8  # the flag overrides the file


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "--plugin", "lstn"], "unknown model plugin 'lstn'. Did you mean: lstm"),
        (["run", "--plugin", "lstm", "--set", "hiden_size=3"], "Did you mean: hidden_size"),
        (["run", "--plugin", "lstm", "--set", "epochs=zero"], "invalid option for lstm"),
        (["run", "--plugin", "lstm", "--set", "epochs"], "--set expects key=value"),
        (
            ["run", "--plugin", "lstm", "--corpus", "tinyshakespear"],
            "Did you mean: tinyshakespeare",
        ),
        (["run", "--plugin", "lstm", "--corpus", "./no/such/folder"], "no/such/folder"),
        (["run", "--plugin", "lstm", "--device", "tpu"], "unknown device 'tpu'"),
        (["run", "--config", "missing.toml"], "config file not found"),
        (["run"], "no model plugin given"),
        (["models", "gru2"], "unknown model plugin"),
        (
            ["run", "--plugin", "lstm", "--set", "output=sampled", "--set", "output.sampels=9"],
            "unknown option for output layer sampled 'sampels'. Did you mean: samples",
        ),
        (["run", "--plugin", "lstm", "--set", "output=adaptiv"], "Did you mean: adaptive"),
        (["output-layers", "nec"], "unknown output layer 'nec'"),
        (["show", "99"], "no run with id 99"),
        (["corpora", "fetch", "ptbb"], "Did you mean: ptb"),
    ],
)
def test_user_mistakes_get_one_line_errors(args, message):
    result = invoke(*args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_missing_split_is_a_clear_error(tiny_corpus):
    (tiny_corpus / "valid.txt").unlink()
    result = invoke("run", "--plugin", "unigram", "--corpus", tiny_corpus)
    assert result.exit_code != 0 and "valid" in result.output
    assert "Traceback" not in result.output


def test_listings():
    models = invoke("models")
    assert "lstm" in models.output and "hidden_size" in models.output and "unigram" in models.output
    plugins = invoke("plugins")
    assert re.search(r"^recurrent\s+\[loaded\]\s+bench", plugins.output, re.MULTILINE)
    corpora = invoke("corpora", "list")
    for name in (
        "ptb",
        "ptb-char",
        "wikitext-2",
        "wikitext-103",
        "one-billion-word",
        "tinyshakespeare",
    ):
        assert re.search(rf"^{name}\b", corpora.output, re.MULTILINE), name
    assert "embedded" in corpora.output
    assert "sentencepiece-bpe" in invoke("tokenizers").output
    layers = invoke("output-layers").output
    for name in ("full", "sampled", "nce", "blackout", "adaptive", "class"):
        assert re.search(rf"^{name}\b", layers, re.MULTILINE), name
    assert "remove_accidental_hits" in layers and "approximate, scored by full softmax" in layers
    verify = invoke("corpora", "verify", "tinyshakespeare")
    assert verify.exit_code == 0 and "ok" in verify.output


def test_leaderboard_formats_and_out(tiny_corpus, tmp_path):
    assert invoke("run", "--plugin", "unigram", "--corpus", tiny_corpus).exit_code == 0
    md = invoke("leaderboard", "--corpus", "ptb")
    assert md.exit_code == 0 and "Zaremba" in md.output and "Published" in md.output
    local = invoke("leaderboard", "--format", "json").output
    assert "Unigram" in local
    out = tmp_path / "boards"
    result = invoke("leaderboard", "--all", "--format", "csv", "--out", out)
    assert result.exit_code == 0
    assert (out / "ptb.csv").exists()
    board = pd.read_csv(out / "ptb.csv")
    assert board["test_ppl"].dtype == float and set(board["kind"]) == {"reference"}


def test_listings_do_not_import_torch():
    """`bench models` and `bench output-layers` must stay instant: no torch import."""
    code = (
        "import sys; from click.testing import CliRunner; from bench.cli import cli; "
        "[CliRunner().invoke(cli, [c], catch_exceptions=False) for c in "
        "('models', 'output-layers')]; print('torch' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_device_cuda_without_cuda_is_one_error_line_and_no_run(tiny_corpus, device):
    """A real `bench run` on a machine without CUDA (hidden here where there is one)."""
    done = subprocess.run(
        [sys.executable, "-m", "bench", "run", "--plugin", "lstm", "--corpus", str(tiny_corpus)]
        + ["--device", device],
        capture_output=True,
        text=True,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
        timeout=120,
    )
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.splitlines() == [
        f"Error: --device {device}: CUDA is not available on this machine "
        "(use --device cpu or auto)"
    ]
    assert Store().list_runs() == []  # refused before any row was written
