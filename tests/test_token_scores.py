"""Per-token log-probabilities kept with each evaluation: compact, checked, and not carried
by run files."""

import numpy as np
import pytest

from bench.api.plugin_host import load_plugins
from bench.configuration.run_config import build_config
from bench.errors import BenchError
from bench.run.runner import Runner
from bench.store import Store, token_scores
from bench.store.exchange import import_run, run_record
from bench.store.token_store import keep_token_logprobs, stored_token_logprobs


@pytest.fixture
def runner(tmp_path):
    return Runner(load_plugins(), Store(), tmp_path / "data", progress=False, echo=lambda m: None)


def _unigram_run(runner, corpus):
    config = build_config({}, {"plugin": "unigram", "corpus": str(corpus)}, ())
    return runner.run(config, "bench run --plugin unigram")


def test_float32_round_trip_is_exact_and_smaller_than_float64():
    rng = np.random.default_rng(0)
    logprobs = -rng.gamma(2.0, 3.0, size=10_000)
    encoded = token_scores.encode(logprobs)
    assert encoded.tokens == 10_000
    assert len(encoded.data) < 4 * 10_000  # below raw float32: the planes compress
    decoded = token_scores.decode(encoded)
    assert decoded.dtype == np.float32
    np.testing.assert_array_equal(decoded, logprobs.astype(np.float32))


@pytest.mark.parametrize(
    "damage",
    [
        lambda e: e.__class__(e.format, e.tokens, "0" * 64, e.data),
        lambda e: e.__class__(e.format, e.tokens + 1, e.sha256, e.data),
        lambda e: e.__class__("f16-v9", e.tokens, e.sha256, e.data),
        lambda e: e.__class__(e.format, e.tokens, e.sha256, e.data[:-3]),
    ],
    ids=["checksum", "length", "format", "truncated"],
)
def test_a_damaged_blob_is_refused(damage):
    encoded = token_scores.encode(np.log(np.linspace(0.01, 1.0, 500)))
    with pytest.raises(token_scores.TokenScoresError):
        token_scores.decode(damage(encoded))


def test_a_run_keeps_the_logprob_of_every_token_it_scored(runner, tiny_corpus):
    result = _unigram_run(runner, tiny_corpus)
    record = runner.store.get_run(result.run_id)
    for evaluation in record["evaluations"]:
        logprobs = stored_token_logprobs(runner.store, evaluation["id"])
        assert logprobs is not None and logprobs.size == evaluation["tokens"]
        # float32 per token, summed in float64: the stored NLL to ~1e-6 relative
        assert -logprobs.astype(np.float64).sum() == pytest.approx(evaluation["nll"], rel=1e-6)


def test_kept_logprobs_replace_and_go_with_their_run(runner, tiny_corpus):
    result = _unigram_run(runner, tiny_corpus)
    evaluation = runner.store.get_run(result.run_id)["evaluations"][0]
    keep_token_logprobs(runner.store, evaluation["id"], np.full(evaluation["tokens"], -1.0))
    assert set(stored_token_logprobs(runner.store, evaluation["id"])) == {-1.0}
    runner.store.delete_run(result.run_id)
    assert stored_token_logprobs(runner.store, evaluation["id"]) is None
    with pytest.raises(BenchError, match="no evaluation"):
        keep_token_logprobs(runner.store, evaluation["id"], np.zeros(3))


def test_run_files_do_not_carry_them(runner, tiny_corpus, tmp_path):
    result = _unigram_run(runner, tiny_corpus)
    record = run_record(runner.store, result.run_id)
    assert all("token_scores" not in e for e in record["evaluations"])
    other = Store(f"sqlite:///{tmp_path / 'other.db'}")
    imported, _ = import_run(other, record)
    for evaluation in other.get_run(imported)["evaluations"]:
        assert other.line_scores(evaluation["id"]) is not None  # line scores are carried
        assert stored_token_logprobs(other, evaluation["id"]) is None
