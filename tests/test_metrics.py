"""The core's metric definitions, checked on examples computed by hand."""

import math

import numpy as np
import pytest

from bench.scoring.metrics import SplitMetrics, bits_per_unit, perplexity
from bench.tokenization.tokens import TokenizedSplit, UnitCounts


def test_perplexity_of_uniform_model_is_vocabulary_size():
    # 7 tokens each given p = 1/50: NLL = 7 ln 50, ppl = 50
    assert perplexity(7 * math.log(50), 7) == pytest.approx(50.0, rel=1e-12)


def test_bits_per_unit_of_fair_coin_is_one():
    assert bits_per_unit(10 * math.log(2), 10) == pytest.approx(1.0, rel=1e-12)


def test_split_metrics_by_hand():
    # "a b" + eos, "c" + eos: tokens 5 (char-like model), words 2+1+... computed by hand
    counts = UnitCounts(tokens=10, words=5, bytes=12, lines=2, oov=2)
    nll = 20.0
    oov_nll = 6.0
    m = SplitMetrics.compute(nll, counts, oov_nll=oov_nll)
    assert m.ppl == pytest.approx(math.exp(2.0))
    assert m.word_ppl == pytest.approx(math.exp(4.0))
    assert m.bits_per_token == pytest.approx(20.0 / (10 * math.log(2)))
    assert m.bits_per_byte == pytest.approx(20.0 / (12 * math.log(2)))
    assert m.ppl_no_oov == pytest.approx(math.exp(14.0 / 8))


def test_no_oov_metric_absent_without_oovs():
    m = SplitMetrics.compute(3.0, UnitCounts(tokens=3, words=3, bytes=5, lines=1))
    assert m.ppl_no_oov is None


def test_perplexity_needs_units():
    with pytest.raises(ValueError):
        perplexity(1.0, 0)


def test_unit_counts_of_lines_counts_eos_and_utf8_bytes():
    lines = ["the cat", "", "café"]
    counts = UnitCounts.of_lines(lines, tokens=7)
    assert counts.words == 3 + 3  # whitespace words + one eos per line (blank line included)
    assert counts.bytes == 7 + 0 + 5 + 3  # é is two bytes; one newline per line
    assert counts.lines == 3


def test_tokenized_split_from_lines_adds_one_eos_per_line():
    split = TokenizedSplit.from_lines(
        "test", [[3, 4], [], [5]], eos_id=0, text_lines=["a b", "", "c"]
    )
    assert split.ids.tolist() == [3, 4, 0, 0, 5, 0]
    assert split.line_offsets.tolist() == [0, 3, 4, 6]
    assert [line.tolist() for line in split.lines()] == [[3, 4, 0], [0], [5, 0]]
    assert split.counts.tokens == 6 and split.counts.words == 6


def test_oov_mask_counts_oov_tokens():
    split = TokenizedSplit.from_lines(
        "t", [[1, 2]], eos_id=0, text_lines=["x y"], oov_lines=[[False, True]]
    )
    assert split.counts.oov == 1
    assert split.oov_mask.tolist() == [False, True, False]
    assert np.issubdtype(split.ids.dtype, np.integer)


def test_perplexity_of_a_diverged_model_is_infinite_not_an_error():
    # two Adagrad steps of a 2048-unit LSTM on random text gave ~800 nats per token
    assert perplexity(800.0 * 10, 10) == math.inf
    assert perplexity(700.0 * 10, 10) == pytest.approx(math.exp(700.0))
