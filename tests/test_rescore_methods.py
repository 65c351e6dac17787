"""Exactness of the evaluation methods of `bench rescore`: each token is scored from what
came before it only.

The check: at a position t, with the text before t fixed, the probability a method gives
each possible token v (the split with v at t, scored again) must sum to one over the
vocabulary, and nothing before t may change. A cache that peeked at the token it scores,
or a dynamic evaluation that learnt from a segment before scoring it, gives every
candidate a bonus and sums above one: the broken variants below are caught.
"""

import dataclasses

import numpy as np
import pytest
import torch

from bench import EvalProtocol, RescoreBase, ScoredTokens, Vocabulary
from bench.scoring.exactly_once import collect_logprobs
from bench.tokenization.tokens import TokenizedSplit
from bench_plugins.eval_methods.caches import (
    NeuralCache,
    NeuralCacheOptions,
    UnigramCache,
    UnigramCacheOptions,
    window_counts,
)
from bench_plugins.eval_methods.dynamic import DynamicEvaluation
from bench_plugins.eval_methods.dynamic_loop import _step
from bench_plugins.eval_methods.dynamic_options import DynamicOptions
from bench_plugins.eval_methods.pointer import pointer_logprobs
from bench_plugins.recurrent import LSTMModel, RecurrentOptions

VOCAB = 7


def tiny_lstm():
    torch.manual_seed(0)
    vocab = Vocabulary(["<eos>", "<unk>", *(f"w{i}" for i in range(VOCAB - 2))])
    options = RecurrentOptions(layers=1, hidden_size=10, embedding_size=6, eval_batch_size=4)
    model = LSTMModel(options, vocab, "cpu")
    model.network.double()  # float64: sums to one within 1e-9, not within float32 noise
    return model


def repetitive_split(seed=0, lines=12):
    rng = np.random.default_rng(seed)
    ids = [rng.integers(2, 5, size=rng.integers(2, 6)).tolist() for _ in range(lines)]
    text = [" ".join(f"w{i - 2}" for i in line) for line in ids]
    return TokenizedSplit.from_lines("valid", ids, eos_id=0, text_lines=text)


def scores_of(method_class, options, model, split, train):
    base = RescoreBase(model, train)
    method = method_class(options, base)
    return collect_logprobs(split, method.score(split, EvalProtocol("stream", 4)))


def causality_errors(method_class, options, model, split, position, train=None):
    """(sum over v of p(v at position) - 1, largest change before position)."""
    train = train or repetitive_split(seed=9, lines=30)
    total, moved = 0.0, 0.0
    reference = scores_of(method_class, options, model, split, train)
    for v in range(VOCAB):
        ids = split.ids.copy()
        ids[position] = v
        candidate = dataclasses.replace(split, ids=ids)
        scores = scores_of(method_class, options, model, candidate, train)
        total += float(np.exp(scores[position]))
        moved = max(moved, float(np.max(np.abs(scores[:position] - reference[:position]))))
    return total - 1.0, moved


def assert_causal(method_class, options, position=23):
    model, split = tiny_lstm(), repetitive_split()
    excess, moved = causality_errors(method_class, options, model, split, position)
    assert abs(excess) < 1e-8, f"probabilities at {position} sum to 1 + {excess}"
    assert moved < 1e-12


# ------------------------------------------------------------------------- the cache
def test_window_counts_count_only_earlier_tokens():
    ids = np.array([3, 3, 4, 3, 4, 4, 3])
    hits, size = window_counts(ids, window=3)
    # position 6 (a 3) sees positions 3, 4, 5: one 3
    assert hits.tolist() == [0, 1, 0, 2, 1, 2, 1]
    assert size.tolist() == [0, 1, 2, 3, 3, 3, 3]


def test_unigram_cache_is_causal_and_normalised():
    assert_causal(UnigramCache, UnigramCacheOptions(window=10, weight=0.3))


class PeekingCache(UnigramCache):
    """Broken on purpose: its window holds the current token too."""

    def score(self, split, protocol):
        from bench_plugins.eval_methods.caches import mix

        hits, size = window_counts(np.asarray(split.ids), self.options.window)
        peeked = mix(self.base.logprobs(split), hits + 1, size + 1, self.options.weight)
        yield ScoredTokens.of(np.arange(len(split)), peeked)


def test_a_cache_that_peeks_at_the_current_token_is_caught():
    with pytest.raises(AssertionError, match="sum to 1"):
        assert_causal(PeekingCache, UnigramCacheOptions(window=10, weight=0.3))


# ------------------------------------------------------------------- the neural cache
def brute_force_pointer(hidden, ids, window, theta):
    out = np.full(len(ids), -np.inf)
    for t in range(1, len(ids)):
        js = range(max(t - window, 0), t)
        weights = np.array([np.exp(theta * hidden[t] @ hidden[j]) for j in js])
        hits = sum(w for w, j in zip(weights, js, strict=True) if ids[j] == ids[t])
        if hits > 0:
            out[t] = np.log(hits / weights.sum())
    return out


@pytest.mark.parametrize("block", [1, 3, 64])
def test_pointer_matches_its_definition_in_any_block_size(block):
    rng = np.random.default_rng(1)
    hidden = rng.normal(size=(40, 5)).astype(np.float32)
    ids = rng.integers(0, 4, size=40)
    expected = brute_force_pointer(hidden.astype(np.float64), ids, window=7, theta=0.4)
    found = pointer_logprobs(hidden, ids, window=7, theta=0.4, block=block)
    assert np.allclose(found, expected, atol=1e-5)
    assert np.isneginf(found[0])  # nothing before the first token


def test_neural_cache_is_causal_and_normalised():
    assert_causal(NeuralCache, NeuralCacheOptions(window=8, theta=0.5, weight=0.3, block=5))


def test_neural_cache_hidden_states_are_those_that_scored_each_token():
    model, split = tiny_lstm(), repetitive_split()
    base = RescoreBase(model, split)
    logprobs, hidden = base.hidden_states(split)
    assert np.allclose(logprobs, base.logprobs(split), atol=1e-12)
    assert hidden.shape == (len(split), 10) and np.all(np.any(hidden != 0, axis=1))


def test_awd_lstm_hidden_states_are_those_that_scored_each_token():
    from bench_plugins.awd_lstm import AWDLSTMModel, AWDLSTMOptions

    torch.manual_seed(0)
    vocab = Vocabulary(["<eos>", "<unk>", *(f"w{i}" for i in range(VOCAB - 2))])
    options = AWDLSTMOptions(layers=2, embedding_size=4, hidden_size=6, eval_chunk=5)
    model = AWDLSTMModel(options, vocab, "cpu")
    split = repetitive_split()
    base = RescoreBase(model, split)
    logprobs, hidden = base.hidden_states(split)
    assert np.allclose(logprobs, base.logprobs(split), atol=1e-5)
    assert hidden.shape == (len(split), 4)


# --------------------------------------------------------------- dynamic evaluation
@pytest.mark.parametrize("rule", ["sgd", "rms"])
def test_dynamic_evaluation_is_causal_and_normalised(rule):
    options = DynamicOptions(rule=rule, lr=0.3 if rule == "sgd" else 0.05, segment=5)
    options = options.model_copy(update={"rms_tokens": 200, "decay": 0.02})
    assert_causal(DynamicEvaluation, options)


def test_dynamic_evaluation_adapts_and_restores_the_trained_weights():
    model, split = tiny_lstm(), repetitive_split(lines=40)
    before = [p.detach().clone() for p in model.network.parameters()]
    plain = RescoreBase(model, split).logprobs(split)
    options = DynamicOptions(rule="sgd", lr=0.5, decay=0.0, segment=5)
    adapted = scores_of(DynamicEvaluation, options, model, split, split)
    assert adapted.sum() > plain.sum()  # it learnt the repetitive text as it went
    assert np.allclose(adapted[:5], plain[:5])  # the first segment: no step taken yet
    after = list(model.network.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))


class TrainFirstDynamic(DynamicEvaluation):
    """Broken on purpose: it takes its step on a segment before scoring it."""

    def score(self, split, protocol):
        from bench.training import detach_state, stream_chunks

        network, options = self.base.model.network, self.options
        params = list(network.parameters())
        trained = [p.detach().clone() for p in params]
        state = None
        network.eval()
        for chunk in stream_chunks(split.ids, 0, options.segment):
            inputs = torch.as_tensor(chunk.inputs).unsqueeze(1)
            targets = torch.as_tensor(chunk.targets).unsqueeze(1)
            network.zero_grad()
            logprobs, _ = network.target_logprobs(inputs, targets, state)
            (-logprobs.mean()).backward()
            _step(params, trained, options, None)
            logprobs, state = network.target_logprobs(inputs, targets, state)
            state = detach_state(state)
            yield ScoredTokens.of(chunk.positions, logprobs.detach().squeeze(1))
        with torch.no_grad():
            for p, original in zip(params, trained, strict=True):
                p.copy_(original)


def test_a_dynamic_evaluation_that_learns_before_scoring_is_caught():
    options = DynamicOptions(rule="sgd", lr=0.3, decay=0.02, segment=5)
    with pytest.raises(AssertionError, match="sum to 1"):
        assert_causal(TrainFirstDynamic, options)


def test_rms_statistics_come_from_parallel_train_streams_as_in_krause_code():
    """rms_batch=4 over 24 train tokens: 4 streams of 6 tokens (stream b holds tokens
    6b..6b+5), one segment of 5 inputs, so the RMS is |gradient| of that batch's mean loss;
    the decay's scale is that RMS over the mean of each tensor's mean RMS."""
    from bench_plugins.eval_methods.dynamic_loop import _rms_scale

    model, train = tiny_lstm(), repetitive_split(seed=3, lines=30)
    network = model.network
    params = [p for p in network.parameters() if p.requires_grad]
    options = DynamicOptions(rms_tokens=24, rms_batch=4, segment=5, decay=0.0)
    rms, relative = _rms_scale(RescoreBase(model, train), network, params, options)

    columns = torch.as_tensor(np.asarray(train.ids[:24])).reshape(4, 6).T
    network.zero_grad()
    logprobs, _ = network.target_logprobs(columns[:5], columns[1:6], None)
    (-logprobs.mean()).backward()
    for got, p in zip(rms, params, strict=True):
        assert torch.allclose(got, p.grad.abs(), atol=1e-12)
    per_tensor = torch.stack([r.mean() for r in relative]).mean()
    assert abs(float(per_tensor) - 1.0) < 1e-12
