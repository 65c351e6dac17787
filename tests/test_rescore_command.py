"""`bench rescore` end to end: a stored run, restored, rescored through a method chosen on
valid only, stored as a new run that names its parent, its method and its search."""

import json
from typing import ClassVar

import numpy as np
import pytest
from click.testing import CliRunner

from bench import EvalMethod, Options, ScoredTokens
from bench.api.plugin_host import get_host
from bench.cli import cli
from bench.run.rescoring import rescore, search_points
from bench.store import Store

KN3 = ["--plugin", "kn", "--set", "order=3", "--set", "discount_fallback=true"]


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def kn_run(tiny_corpus):
    result = invoke("run", "--corpus", tiny_corpus, *KN3, "--no-progress")
    assert result.exit_code == 0, result.output
    return 1


def test_rescore_stores_a_new_run_with_its_parent_method_and_search(kn_run):
    result = invoke(
        "rescore", kn_run, "--method", "cache", "--set", "window=30", "--grid", "weight=0.1,0.3"
    )
    assert result.exit_code == 0, result.output
    assert "run 2 finished: KN3 + unigram cache (from run 1)" in result.output
    record = json.loads(invoke("show", "2", "--json").output)
    derived = record["config"]["derived_from"]
    assert derived["kind"] == "rescore" and derived["parents"] == [1]
    assert derived["method"] == "cache" and derived["fixed"] == {"window": "30"}
    tried = {point["settings"]["weight"]: point["valid_ppl"] for point in derived["search"]}
    assert set(tried) == {0.1, 0.3}
    assert derived["settings"]["weight"] == min(tried, key=tried.get)  # chosen on valid
    valid = next(e for e in record["evaluations"] if e["split"] == "valid")
    assert valid["ppl"] == pytest.approx(min(tried.values()))
    assert {e["split"] for e in record["evaluations"]} == {"valid", "test"}
    assert record["model_label"] == "KN3 + unigram cache"


def refused(*args):
    result = invoke("rescore", *args)
    assert result.exit_code == 1 and "Traceback" not in result.output
    return result.output


def test_rescore_refuses_what_it_cannot_do_in_one_line(kn_run):
    assert "needs a model with score_with_hidden" in refused(kn_run, "--method", "neural-cache")
    assert "'cahce'" in refused(kn_run, "--method", "cahce")
    assert "weight" in refused(kn_run, "--method", "cache", "--set", "weight=2")
    assert "not both" in refused(
        kn_run, "--method", "cache", "--set", "weight=0.1", "--grid", "weight=0.2"
    )
    assert len(Store().list_runs()) == 1  # nothing half-made was stored


class Recording(EvalMethod):
    """Scores with the model, shifted by ``shift`` nats, and notes what it scored."""

    class Options(Options):
        shift: float = 0.0

    search: ClassVar[dict] = {"shift": [0.0, 0.5, 1.0]}
    seen: ClassVar[list] = []

    def score(self, split, protocol):
        Recording.seen.append((split.name, self.options.shift))
        base = self.base.logprobs(split)
        yield ScoredTokens.of(np.arange(len(split)), base - self.options.shift)


def test_the_grid_is_searched_on_valid_and_test_is_scored_once(kn_run, tmp_path):
    host = get_host()
    host.eval_methods.add("recording", Recording, plugin="test")
    Recording.seen = []
    from bench.paths import data_dir

    result = rescore(
        kn_run,
        "recording",
        {},
        store=Store(),
        host=host,
        data_dir=data_dir(None),
        command="test",
        echo=lambda line: None,
    )
    assert Recording.seen == [("valid", 0.0), ("valid", 0.5), ("valid", 1.0), ("test", 0.0)]
    assert result.chosen == {"shift": 0.0}


def test_a_restored_model_that_does_not_reproduce_its_run_is_refused(kn_run):
    store = Store()
    record = store.get_run(kn_run)
    evaluation = next(e for e in record["evaluations"] if e["split"] == "valid")
    with store.writing() as session:
        from bench.store.schema import Evaluation

        session.get(Evaluation, evaluation["id"]).ppl = evaluation["ppl"] * 1.01
    assert "restored model gives valid perplexity" in refused(kn_run, "--method", "cache")


def test_search_points_fix_set_options_and_take_grids():
    points = search_points(Recording, {"shift": "0.2"})
    assert points == [{"shift": "0.2"}]
    assert search_points(Recording, {}, {"shift": ["1", "2"]}) == [{"shift": "1"}, {"shift": "2"}]


def test_a_rescored_run_counts_for_the_rescoring_recipe_not_for_its_parents():
    from bench.configuration.recipes import find_recipe
    from bench.report.reproduction_table import whole_runs

    kn5, cached = find_recipe("mikolov-kn5"), find_recipe("mikolov-kn5-cache")
    assert cached.config == {k: v for k, v in kn5.config.items()}  # the parent's run
    plain = {"id": 1, "status": "finished", "test_ppl": 141.2, "plugin": "kn", "corpus": "ptb"}
    plain["config"] = {"options": {"order": 5}}
    derived = {**plain, "id": 2, "config": {"options": {"order": 5}, "derived_from": {}}}
    derived["config"]["derived_from"] = {"kind": "rescore", "parents": [1], "method": "cache"}
    other = {
        **derived,
        "id": 3,
        "config": {
            **derived["config"],
            "derived_from": {"kind": "rescore", "method": "dynamic-eval"},
        },
    }
    runs = [plain, derived, other]
    assert [run["id"] for run in whole_runs(kn5, "ptb", runs)] == [1]
    assert [run["id"] for run in whole_runs(cached, "ptb", runs)] == [2]


LSTM_TINY = ["--plugin", "lstm", "--set", "layers=1", "--set", "hidden_size=16"]
LSTM_TINY += ["--set", "embedding_size=16", "--set", "epochs=1", "--set", "batch_size=4"]
LSTM_TINY += ["--set", "bptt=8", "--set", "max_steps_per_epoch=20"]


@pytest.mark.parametrize(
    ("method", "options", "label"),
    [
        ("neural-cache", ["--set", "window=20", "--set", "theta=0.3"], "neural cache"),
        ("dynamic-eval", ["--set", "rms_tokens=300", "--set", "decay=0"], "dynamic evaluation"),
    ],
)
def test_a_trained_lstm_is_restored_from_its_checkpoint_and_rescored(
    tiny_corpus, method, options, label
):
    trained = invoke("run", "--corpus", tiny_corpus, *LSTM_TINY, "--no-progress")
    assert trained.exit_code == 0, trained.output
    first = "weight=0.1,0.2" if method == "neural-cache" else "lr=0.001,0.003"
    result = invoke("rescore", "1", "--method", method, *options, "--grid", first)
    assert result.exit_code == 0, result.output
    assert f"run 2 finished: LSTM 1x16 + {label}" in result.output
    parent, rescored = Store().get_run(1), Store().get_run(2)
    ppl = {e["split"]: e["ppl"] for e in rescored["evaluations"]}
    assert ppl["valid"] < next(e["ppl"] for e in parent["evaluations"] if e["split"] == "valid")
