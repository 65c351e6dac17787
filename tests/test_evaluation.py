"""The evaluation contract: every token scored exactly once, metrics from the core only."""

import math

import numpy as np
import pytest

from bench.api.model import EvalProtocol, ScoredTokens
from bench.errors import ScoringError
from bench.scoring.exactly_once import accumulate, evaluate
from bench.tokenization.tokens import TokenizedSplit

PROTOCOL = EvalProtocol(mode="stream", batch_size=3)


def make_split(n_lines=5, words_per_line=3):
    lines = [" ".join(["w"] * (words_per_line + i % 2)) for i in range(n_lines)]
    ids = [[1] * len(line.split()) for line in lines]
    return TokenizedSplit.from_lines("test", ids, eos_id=0, text_lines=lines)


def uniform_scorer(vocab_size, chunk):
    def score(split, protocol):
        for start in range(0, len(split), chunk):
            positions = np.arange(start, min(start + chunk, len(split)))
            yield ScoredTokens.of(positions, np.full(len(positions), -math.log(vocab_size)))

    return score


@pytest.mark.parametrize("chunk", [1, 2, 7, 1000])
def test_uniform_model_has_vocabulary_size_perplexity(chunk):
    split = make_split()
    result = evaluate(split, PROTOCOL, uniform_scorer(42, chunk))
    assert result.ppl == pytest.approx(42.0, rel=1e-12)
    assert result.counts.tokens == len(split)
    assert result.protocol == PROTOCOL


def test_missing_token_fails_loudly():
    split = make_split()

    def score(split, protocol):
        yield ScoredTokens.of(np.arange(len(split) - 1), np.full(len(split) - 1, -1.0))

    with pytest.raises(ScoringError, match="1 never scored"):
        evaluate(split, PROTOCOL, score)


def test_token_scored_twice_fails_loudly():
    split = make_split()

    def score(split, protocol):
        yield ScoredTokens.of(np.arange(len(split)), np.full(len(split), -1.0))
        yield ScoredTokens.of([0], [-1.0])

    with pytest.raises(ScoringError, match="more than once"):
        evaluate(split, PROTOCOL, score)


def test_token_scored_twice_within_one_chunk_fails_loudly():
    """A duplicate inside a single chunk: fancy-index assignment (``seen[positions] += 1``)
    would count it once and pass the split as scored exactly once."""
    split = make_split()

    def score(split, protocol):
        positions = np.concatenate([np.arange(len(split)), [3]])
        yield ScoredTokens.of(positions, np.full(positions.size, -1.0))

    with pytest.raises(ScoringError, match=r"1 scored more than once \(first at position 3\)"):
        evaluate(split, PROTOCOL, score)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 0.5])
def test_invalid_logprob_fails(bad):
    split = make_split()

    def score(split, protocol):
        values = np.full(len(split), -1.0)
        values[3] = bad
        yield ScoredTokens.of(np.arange(len(split)), values)

    with pytest.raises(ScoringError, match="position 3"):
        evaluate(split, PROTOCOL, score)


def test_out_of_range_position_fails():
    split = make_split()
    with pytest.raises(ScoringError, match="out of range"):
        accumulate(split, [ScoredTokens.of([len(split)], [-1.0])])


def test_oov_nll_is_separated():
    split = TokenizedSplit.from_lines(
        "t", [[1, 2], [3]], eos_id=0, text_lines=["a b", "c"], oov_lines=[[False, True], [True]]
    )
    logprobs = np.array([-1.0, -2.0, -3.0, -4.0, -5.0])
    nll, oov_nll = accumulate(split, [ScoredTokens.of(np.arange(5), logprobs)])
    assert nll == pytest.approx(15.0)
    assert oov_nll == pytest.approx(2.0 + 4.0)
