"""The SNM plugin: probabilities against a dict-based reference, normalisation over the
vocabulary, the held-out loss gradient and its training, full runs, and option errors."""

from __future__ import annotations

import json
import math
import random
from collections import Counter, defaultdict

import numpy as np
import pytest
from click.testing import CliRunner

from bench.cli import cli
from bench.tokenization.tokenizers import WordTokenizer
from bench_plugins.snm import SNMModel, SNMOptions
from bench_plugins.snm.adjustment import (
    Adjustment,
    gather_heldout,
    loss_and_gradient,
    train_adjustment,
)
from bench_plugins.snm.features import Sentences, count_all, feature_types

SKIP_GRAMS = {
    "skip_remote_max": 2,
    "skip_length_max": 2,
    "skip_adjacent_max": 1,
    "skip_context_max": 3,
}


def markov_lines(seed: int, n_lines: int, vocab_size: int = 60) -> list[str]:
    """Sentences from a sparse Markov chain with Zipfian jumps and words that depend on
    the word two back, so skip-grams carry information n-grams of order 2 do not."""
    rng = random.Random(seed)
    chain = random.Random(0)  # the same chain for every split
    words = [f"w{i}" for i in range(vocab_size)]
    successors = {w: chain.sample(words[:20], 3) for w in words}
    weights = [1 / (rank + 1) for rank in range(vocab_size)]
    lines = []
    for _ in range(n_lines):
        line = [rng.choice(words[:5])]
        for _ in range(rng.randint(0, 10)):
            if len(line) > 1 and rng.random() < 0.3:
                line.append(successors[line[-2]][0])
            elif rng.random() < 0.8:
                line.append(rng.choice(successors[line[-1]]))
            else:
                line.append(rng.choices(words, weights)[0])
        lines.append(" ".join(line))
    return lines


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    train, valid = markov_lines(1, 600), markov_lines(2, 80)
    tokenizer = WordTokenizer(WordTokenizer.Options())
    tokenizer.fit(train, tmp_path_factory.mktemp("tokenizer"))
    return tokenizer, tokenizer.encode("train", train), tokenizer.encode("valid", valid), train


def fitted(data, **options) -> SNMModel:
    tokenizer, train, valid, _ = data
    model = SNMModel(SNMOptions(**options), tokenizer.vocab, "cpu")
    model.fit_split(train, valid, seed=3)
    return model


def scored(model: SNMModel, split) -> np.ndarray:
    chunks = list(model.score(split, model.eval_protocol(split)))
    positions = np.concatenate([c.positions for c in chunks])
    assert np.array_equal(positions, np.arange(len(split)))  # each token once, in order
    return np.concatenate([c.logprobs for c in chunks])


class ReferenceSNM:
    """P(w | h) straight from the formula, with dicts of word tuples: slow but plain."""

    def __init__(self, model: SNMModel, train_lines: list[str]) -> None:
        self.model = model
        self.pair: Counter = Counter()
        self.total: Counter = Counter()
        self.targets: dict = defaultdict(Counter)
        for line in train_lines:
            sentence = ["<s>", *line.split(), "<eos>"]
            for i in range(1, len(sentence)):
                for feature in self.features(sentence[:i]):
                    self.pair[feature, sentence[i]] += 1
                    self.total[feature] += 1
                    self.targets[feature][sentence[i]] += 1

    def features(self, history: list[str]) -> list[tuple]:
        found = []
        for kind in self.model.types:
            if len(history) < kind.span:
                continue
            end = len(history) - kind.adjacent - kind.skip
            found.append(
                (
                    kind,
                    tuple(history[end - kind.remote : end]),
                    tuple(history[len(history) - kind.adjacent :]),
                )
            )
        return found

    def weight(self, type_index: int, feature_count: int, pair_count: int) -> float:
        adjustment = self.model.adjustment
        fb = min(math.floor(math.log2(feature_count)), adjustment.feature_buckets - 1)
        pb = min(math.floor(math.log2(pair_count)), adjustment.pair_buckets - 1)
        cell = (type_index * adjustment.feature_buckets + fb) * adjustment.pair_buckets + pb
        return float(adjustment.cell_weights()[cell])

    def prob(self, history: list[str], word: str) -> float:
        vocab_size = len(self.model.vocab)
        uniform = self.model.adjustment.uniform_weight
        numerator, denominator = uniform / vocab_size, uniform
        for feature in self.features(history):
            if feature not in self.total:
                continue
            type_index = self.model.types.index(feature[0])
            total = self.total[feature]
            for target, count in self.targets[feature].items():
                mass = self.weight(type_index, total, count) * count / total
                denominator += mass
                if target == word:
                    numerator += mass
        return numerator / denominator


def test_probabilities_match_a_dict_based_reference(data):
    model = fitted(data, order=3, **SKIP_GRAMS, epochs=2)
    reference = ReferenceSNM(model, data[3])
    valid_lines = markov_lines(2, 80)
    logprobs = scored(model, data[2])
    at = 0
    for line in valid_lines[:25]:
        sentence = ["<s>", *line.split(), "<eos>"]
        for i in range(1, len(sentence)):
            word = sentence[i] if sentence[i] in model.vocab else "<unk>"
            expected = math.log(reference.prob(sentence[:i], word))
            assert logprobs[at] == pytest.approx(expected, abs=1e-9)
            at += 1


@pytest.mark.parametrize(
    "options", [{"order": 5}, {"order": 4, **SKIP_GRAMS}, {"order": 2, "epochs": 0}]
)
def test_probabilities_sum_to_one_over_the_vocabulary(data, options):
    model = fitted(data, **options)
    _, _, valid, _ = data
    logprobs = scored(model, valid)
    rng = np.random.default_rng(0)
    for line_index in rng.choice(len(valid.line_offsets) - 1, size=40, replace=False):
        start, stop = valid.line_offsets[line_index], valid.line_offsets[line_index + 1]
        line = valid.ids[start:stop]
        cut = int(rng.integers(0, len(line)))
        distribution = model.next_token_logprobs(line[:cut].tolist(), sentence_start=True)
        assert abs(np.exp(distribution).sum() - 1.0) < 1e-9
        assert distribution[line[cut]] == pytest.approx(logprobs[start + cut], abs=1e-9)
        # a context cut from mid-sentence: fewer features, still a distribution
        inner = model.next_token_logprobs(line[:cut].tolist(), sentence_start=False)
        assert abs(np.exp(inner).sum() - 1.0) < 1e-9


def test_every_vocabulary_entry_keeps_a_probability(data):
    """A word never counted (here: only in the held-out lines, without recount) still gets
    p > 0 through the uniform feature."""
    tokenizer, train, valid, _ = data
    model = SNMModel(
        SNMOptions(order=3, recount=False, heldout_fraction=0.5), tokenizer.vocab, "cpu"
    )
    model.fit_split(train, valid, seed=0)
    counted = np.zeros(len(tokenizer.vocab), dtype=bool)
    for table in model.features.tables[:1]:  # the empty feature has every counted word
        counted[table.pairs.indices] = True
    assert not counted.all(), "the test needs a word seen only in the held-out lines"
    distribution = model.next_token_logprobs([], sentence_start=True)
    assert np.isfinite(distribution).all()
    assert np.isfinite(scored(model, train)).all()


def test_heldout_gradient_matches_finite_differences(data):
    tokenizer, train, valid, _ = data
    types = feature_types(3, 1, 2, 1, 2)
    features = count_all(
        Sentences.of(train.ids, train.line_offsets, len(tokenizer.vocab)),
        types,
        len(tokenizer.vocab),
    )
    adjustment = Adjustment(len(types), 6, 4)
    rng = np.random.default_rng(0)
    adjustment.theta = rng.normal(0, 0.3, size=len(adjustment.theta))
    adjustment.uniform_theta = -1.0
    heldout = gather_heldout(
        features, Sentences.of(valid.ids, valid.line_offsets, len(tokenizer.vocab)), adjustment
    )
    _, _, grad, grad_u = loss_and_gradient(adjustment, heldout)
    step = 1e-6
    for k in rng.choice(len(adjustment.theta), size=12, replace=False):
        theta = adjustment.theta.copy()
        adjustment.theta = theta + step * np.eye(len(theta))[k]
        up = loss_and_gradient(adjustment, heldout)[0]
        adjustment.theta = theta - step * np.eye(len(theta))[k]
        down = loss_and_gradient(adjustment, heldout)[0]
        adjustment.theta = theta
        assert grad[k] == pytest.approx((up - down) / (2 * step), rel=1e-4, abs=1e-6)
    adjustment.uniform_theta += step
    up = loss_and_gradient(adjustment, heldout)[0]
    adjustment.uniform_theta -= 2 * step
    down = loss_and_gradient(adjustment, heldout)[0]
    assert grad_u == pytest.approx((up - down) / (2 * step), rel=1e-4)


def test_adjustment_training_lowers_the_heldout_loss(data):
    tokenizer, train, valid, _ = data
    types = feature_types(4, 2, 2, 1, 3)
    features = count_all(
        Sentences.of(train.ids, train.line_offsets, len(tokenizer.vocab)),
        types,
        len(tokenizer.vocab),
    )
    adjustment = Adjustment(len(types), 12, 8)
    heldout = gather_heldout(
        features, Sentences.of(valid.ids, valid.line_offsets, len(tokenizer.vocab)), adjustment
    )
    losses = train_adjustment(
        adjustment, heldout, epochs=4, lr=0.1, batch_words=100, rng=np.random.default_rng(0)
    )
    assert losses[-1] < losses[0] - 0.05
    assert losses[-1] == pytest.approx(loss_and_gradient(adjustment, heldout)[0] / heldout.words)


def test_trained_model_beats_plain_relative_frequencies_and_skip_grams_help(data):
    """What the papers report, in miniature: the adjustment matters, skip-grams add."""
    _, _, valid, _ = data
    plain = -scored(fitted(data, order=3, epochs=0), valid).mean()
    ngrams = -scored(fitted(data, order=3), valid).mean()
    skips = -scored(fitted(data, order=3, **SKIP_GRAMS), valid).mean()
    assert ngrams < plain and skips < ngrams


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.mark.parametrize("extra", [(), ("--set", "skip_remote_max=1", "--set", "heldout=valid")])
def test_full_run_scores_every_token(tiny_corpus, extra):
    result = invoke("run", "--plugin", "snm", "--corpus", tiny_corpus, "--set", "order=3", *extra)
    assert result.exit_code == 0, result.output
    record = json.loads(invoke("show", "1", "--json").output)
    assert record["status"] == "finished"
    assert {e["split"] for e in record["evaluations"]} >= {"valid", "test"}
    names = {m["name"] for m in record["metrics"]}
    assert {"heldout_loss", "pairs", "model_bytes"} <= names


def test_snm_is_listed_with_its_options():
    result = invoke("models", "snm")
    assert result.exit_code == 0, result.output
    assert "Sparse Non-negative Matrix" in result.output and "skip_remote_max" in result.output
    assert "snm" in invoke("models").output


@pytest.mark.parametrize(
    "setting, message",
    [
        (("skip_remote_max=4", "skip_context_max=3"), "skip_remote_max (4) cannot exceed"),
        (("heldout=test",), "invalid option for snm: heldout"),
        (("heldout_fraction=1.5",), "invalid option for snm: heldout_fraction"),
        (("order=0",), "invalid option for snm: order"),
    ],
)
def test_bad_options_get_one_line_errors(tiny_corpus, setting, message):
    args = [arg for pair in (("--set", s) for s in setting) for arg in pair]
    result = invoke("run", "--plugin", "snm", "--corpus", tiny_corpus, *args)
    assert result.exit_code != 0
    assert message in result.output and "Traceback" not in result.output
    assert result.output.count("Error:") == 1


def test_scoring_in_small_chunks_gives_the_same_numbers(data, monkeypatch):
    from bench_plugins import snm

    model = fitted(data, order=3, **SKIP_GRAMS)
    whole = scored(model, data[2])
    monkeypatch.setattr(snm, "SCORE_CHUNK_TOKENS", 7)
    assert len(list(model.score(data[2], model.eval_protocol(data[2])))) > 10
    assert np.array_equal(scored(model, data[2]), whole)


def test_the_one_billion_word_recipe_runs_when_shrunk(tiny_corpus):
    """Never run at full size here: its feature set and held-out training, on a tiny corpus."""
    result = invoke(
        "reproduce",
        "shazeer-snm",
        "--corpus",
        tiny_corpus,
        "--set",
        "order=3",
        "--set",
        "skip_length_max=2",
    )
    assert result.exit_code == 0, result.output
    record = json.loads(invoke("show", "1", "--json").output)
    assert record["status"] == "finished"
    assert record["config"]["options"]["skip_remote_max"] == 3  # from the recipe
