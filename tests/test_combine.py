"""`bench combine`: members checked, weights fitted on valid only, test scored once, the
result stored as a run that leaderboards and `bench compare` treat like any other."""

import copy
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from sqlalchemy import delete

from bench.api.plugin_host import load_plugins
from bench.cli import cli
from bench.configuration.run_config import build_config
from bench.errors import BenchError
from bench.run import combine as combine_module
from bench.run.combine import combine_runs
from bench.run.combine_members import check_same_streams
from bench.run.runner import Runner
from bench.scoring.compare import compare_runs
from bench.store import Store
from bench.store.exchange import import_run, run_record
from bench.store.schema import TokenScoreBlob
from bench.store.token_store import keep_token_logprobs, stored_token_logprobs

TINY_LSTM = ("layers=1", "hidden_size=8", "embedding_size=8", "epochs=1", "bptt=8", "batch_size=4")


@pytest.fixture
def runner(tmp_path):
    return Runner(load_plugins(), Store(), tmp_path / "data", progress=False, echo=lambda m: None)


def _run(runner, corpus, plugin, *settings, tokenizer=None):
    values = {"plugin": plugin, "corpus": str(corpus)}
    if tokenizer:
        values["tokenizer"] = tokenizer
    return runner.run(build_config({}, values, settings), f"bench run --plugin {plugin}").run_id


def _combine(runner, run_ids):
    return combine_runs(
        runner.store, runner.host, runner.data_dir, run_ids, command="bench combine", echo=print
    )


@pytest.fixture
def kn_and_unigram(runner, tiny_corpus):
    return _run(runner, tiny_corpus, "kn", "order=3", "discount_fallback=true"), _run(
        runner, tiny_corpus, "unigram"
    )


def test_the_combined_run_stores_members_weights_and_both_splits(runner, kn_and_unigram):
    kn, unigram = kn_and_unigram
    result = _combine(runner, [kn, unigram])
    record = runner.store.get_run(result.run_id)
    assert record["status"] == "finished"
    assert record["model_label"] == "KN3 + Unigram (interpolated)"
    derived = record["config"]["derived_from"]
    assert derived["kind"] == "combine" and derived["method"] == "linear"
    assert derived["parents"] == [kn, unigram]
    weights = derived["settings"]["weights"]
    assert list(weights) == [str(kn), str(unigram)]
    assert sum(weights.values()) == pytest.approx(1.0)
    assert derived["search"][0]["algorithm"] == "em" and derived["search"][0]["converged"]
    named = derived["settings"]["members"][str(kn)]
    assert named["config_hash"] == runner.store.get_run(kn)["config_hash"]
    evaluations = {e["split"]: e for e in record["evaluations"]}
    for split in ("valid", "test"):  # scoring the mixture takes scoring every member
        members_seconds = sum(_eval(runner, r, split)["seconds"] for r in (kn, unigram))
        assert evaluations[split]["seconds"] > members_seconds
    assert set(evaluations) == {"valid", "test"}
    assert (
        evaluations["test"]["ppl_low"]
        < evaluations["test"]["ppl"]
        < evaluations["test"]["ppl_high"]
    )
    # the mixture, token by token, with the stored weights
    members = [
        stored_token_logprobs(runner.store, _test_eval(runner, r)["id"]) for r in (kn, unigram)
    ]
    mixture = np.log(
        sum(w * np.exp(m.astype(float)) for w, m in zip(weights.values(), members, strict=True))
    )
    assert evaluations["test"]["nll"] == pytest.approx(-mixture.sum(), rel=1e-9)
    # the valid mixture is no worse than the better member (EM starts from uniform and climbs)
    best_valid = min(_eval(runner, r, "valid")["ppl"] for r in (kn, unigram))
    assert evaluations["valid"]["ppl"] <= best_valid * (1 + 1e-6)


def _eval(runner, run_id, split):
    return max(
        (e for e in runner.store.get_run(run_id)["evaluations"] if e["split"] == split),
        key=lambda e: e["id"],
    )


def _test_eval(runner, run_id):
    return _eval(runner, run_id, "test")


def test_weights_see_validation_only_and_each_split_is_scored_once(
    runner, kn_and_unigram, monkeypatch
):
    kn, unigram = kn_and_unigram
    scored = []
    real_evaluate = combine_module.evaluate

    def counting(split, protocol, score, **kwargs):
        scored.append(split.name)
        return real_evaluate(split, protocol, score, **kwargs)

    monkeypatch.setattr(combine_module, "evaluate", counting)
    first = _combine(runner, [kn, unigram])
    assert scored == ["valid", "test"]
    # another test stream for one member: other test figures, the very same weights
    test_eval = _test_eval(runner, unigram)
    keep_token_logprobs(runner.store, test_eval["id"], np.full(test_eval["tokens"], -0.5))
    second = _combine(runner, [kn, unigram])
    assert second.fit.weights == first.fit.weights
    assert second.evaluations["test"].ppl != first.evaluations["test"].ppl


def test_a_mixture_that_scores_a_token_twice_fails_the_core_check(
    runner, kn_and_unigram, monkeypatch
):
    from bench.api.contract_types import ScoredTokens
    from bench.errors import ScoringError

    real_of = ScoredTokens.of

    def twice(positions, logprobs):
        positions = np.asarray(positions).copy()
        positions[-1] = positions[0]
        return real_of(positions, logprobs)

    monkeypatch.setattr(combine_module.ScoredTokens, "of", staticmethod(twice))
    with pytest.raises(ScoringError, match="exactly once"):
        _combine(runner, list(kn_and_unigram))
    newest = runner.store.list_runs(limit=1)[0]
    assert newest["status"] == "failed"  # recorded, never left running


def _record(runner, run_id):
    return copy.deepcopy(runner.store.get_run(run_id))


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda r: r.update(tokenizer="char"), "tokenizer"),
        (lambda r: r["config"].update(tokenizer_options={"min_count": 2}), "tokenizer"),
        (lambda r: r.update(vocab_sha256="0" * 64), "vocabulary"),
        (lambda r: r["corpus_sha256"].update(valid="0" * 64), "valid split checksum"),
        (lambda r: r["corpus_sha256"].update(test="0" * 64), "test split checksum"),
        (lambda r: r["evaluations"][-1].update(tokens=1), "test token count"),
    ],
)
def test_runs_of_different_token_streams_are_refused_naming_the_cause(
    runner, kn_and_unigram, change, named
):
    kn, unigram = kn_and_unigram
    first, second = _record(runner, kn), _record(runner, unigram)
    check_same_streams([first, second])  # the unchanged pair is accepted
    change(second)
    with pytest.raises(BenchError, match=f"runs {kn} and {unigram} differ in {named}"):
        check_same_streams([first, second])


def test_combine_refuses_another_corpus_in_one_line(runner, tiny_corpus, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(tiny_corpus, other)
    with (other / "test.txt").open("a") as file:
        file.write("the cat sat\n")
    a, b = _run(runner, tiny_corpus, "unigram"), _run(runner, other, "unigram")
    result = CliRunner().invoke(cli, ["combine", str(a), str(b)])
    assert result.exit_code == 1
    assert result.output.startswith(
        "Error: cannot combine runs that scored different token streams"
    )
    assert "test split checksum" in result.output and "valid split checksum" not in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize("args", [["1"], ["1", "1"], ["1", "2", "--log-linear"]])
def test_bad_requests_are_one_line(runner, kn_and_unigram, args):
    result = CliRunner().invoke(cli, ["combine", *args])
    assert result.exit_code != 0
    assert result.output.startswith("Error:") and "Traceback" not in result.output


def test_a_run_stored_without_token_scores_is_scored_again_and_kept(runner, tiny_corpus):
    lstm = _run(runner, tiny_corpus, "lstm", *TINY_LSTM)
    unigram = _run(runner, tiny_corpus, "unigram")
    kept = stored_token_logprobs(runner.store, _test_eval(runner, lstm)["id"])
    with runner.store.writing() as session:
        session.execute(delete(TokenScoreBlob).where(TokenScoreBlob.run_id == lstm))
    _combine(runner, [lstm, unigram])
    again = stored_token_logprobs(runner.store, _test_eval(runner, lstm)["id"])
    np.testing.assert_allclose(again, kept, atol=1e-5)


def test_a_run_without_token_scores_or_checkpoint_is_refused_clearly(runner, kn_and_unigram):
    kn, unigram = kn_and_unigram
    with runner.store.writing() as session:
        session.execute(delete(TokenScoreBlob).where(TokenScoreBlob.run_id == kn))
    with pytest.raises(BenchError, match=f"run {kn} has no per-token log-probabilities stored"):
        _combine(runner, [kn, unigram])


def test_leaderboard_and_compare_treat_it_as_a_run(runner, kn_and_unigram):
    kn, unigram = kn_and_unigram
    combined = _combine(runner, [kn, unigram]).run_id
    result = CliRunner().invoke(cli, ["leaderboard", "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert "KN3 + Unigram (interpolated)" in result.output
    markdown = CliRunner().invoke(cli, ["leaderboard"]).output
    kn_hash = runner.store.get_run(kn)["config_hash"][:12]
    assert f"members: KN3 (config {kn_hash}) " in " ".join(markdown.split())
    lines = compare_runs(runner.store, unigram, combined, "test")
    assert any("better" in line or "worse" in line or "difference" in line for line in lines)


def test_a_combined_run_travels_in_a_run_file(runner, kn_and_unigram, tmp_path):
    combined = _combine(runner, list(kn_and_unigram)).run_id
    record = run_record(runner.store, combined)
    other = Store(f"sqlite:///{tmp_path / 'other.db'}")
    imported, _ = import_run(other, record)
    stored = other.get_run(imported)
    derived = runner.store.get_run(combined)["config"]["derived_from"]
    away = stored["config"]["derived_from"]
    # the members were not imported: their ids become references that name them
    references = away["parents"]
    assert [r.split(":")[0] for r in references] == [
        f"run {run_id} of the database that made it" for run_id in derived["parents"]
    ]
    assert list(away["settings"]["weights"]) == references
    assert list(away["settings"]["weights"].values()) == list(
        derived["settings"]["weights"].values()
    )
    same = ("kind", "method", "search")
    assert {k: away[k] for k in same} == {k: derived[k] for k in same}
    assert stored["model_label"] == "KN3 + Unigram (interpolated)"
