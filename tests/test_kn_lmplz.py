"""Kneser-Ney estimation compared with KenLM's own estimator, lmplz: every probability and
backoff of bench's ARPA export against the ARPA files lmplz wrote from the same text, and
the perplexities (with and without OOVs) against those KenLM's `query` printed.

The texts and lmplz's files are committed in tests/kenlm_fixtures/ (README.md there: how
they were made, with which KenLM commit); nothing here needs KenLM installed.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from arpa_reader import ArpaModel, read_arpa
from test_kn import fitted

from bench.scoring.exactly_once import evaluate

FIXTURES = Path(__file__).with_name("kenlm_fixtures")
# lmplz writes log10 values as float32 (7-8 significant digits); bench's are float64
TOLERANCE = 2e-6
# what `query -v summary train.oN.arpa < test.txt` printed (KenLM needs a bigram at least):
# order -> (perplexity including OOVs, excluding OOVs, OOVs, tokens)
QUERY = {
    2: (11.285495652440884, 6.239178013594199, 14, 118),
    3: (11.375891908029802, 6.3579901840997675, 14, 118),
    4: (11.374661684630968, 6.30275676752911, 14, 118),
    5: (11.58908345669823, 6.464518502949675, 14, 118),
}


def lines(name: str) -> list[str]:
    return (FIXTURES / name).read_text(encoding="utf-8").splitlines()


def disagreements(ours: ArpaModel, theirs: ArpaModel) -> list[str]:
    """Each n-gram whose log10 probability or backoff differs by more than TOLERANCE,
    as 'n-gram: field bench vs lmplz'. ``<s>``'s own probability is left out: it is never
    predicted, and the two write different placeholders (-99, 0) for it."""
    found = []
    for gram, (prob, backoff) in sorted(theirs.entries.items()):
        mine = ours.entries[gram]
        if gram != ("<s>",) and abs(mine[0] - prob) > TOLERANCE:
            found.append(f"{' '.join(gram)}: log10 p {mine[0]:.7f} vs {prob:.7f}")
        if abs(mine[1] - backoff) > TOLERANCE:
            found.append(f"{' '.join(gram)}: log10 backoff {mine[1]:.7f} vs {backoff:.7f}")
    return found


def bench_arpa(train: list[str], tmp_path: Path, **options) -> ArpaModel:
    model, _ = fitted(train, tmp_path, **options)
    model.export_arpa(tmp_path / "bench.arpa")
    return read_arpa(tmp_path / "bench.arpa")


def assert_same_model(ours: ArpaModel, theirs: ArpaModel) -> None:
    assert ours.declared == theirs.declared  # the same number of n-grams of each order
    assert ours.entries.keys() == theirs.entries.keys()
    found = disagreements(ours, theirs)
    assert not found, f"{len(found)} values differ from lmplz's:\n" + "\n".join(found[:20])


@pytest.mark.parametrize("order", [1, 2, 3, 4, 5])
def test_every_probability_and_backoff_equals_lmplz(order, tmp_path):
    theirs = read_arpa(FIXTURES / f"train.o{order}.arpa")
    assert_same_model(bench_arpa(lines("train.txt"), tmp_path, order=order), theirs)


def test_discount_fallback_equals_lmplz_discount_fallback(tmp_path):
    """tiny.txt's count-of-counts have zeros: lmplz needs --discount_fallback, and so does
    bench, with the same fallback discounts (0.5, 1, 1.5)."""
    theirs = read_arpa(FIXTURES / "tiny.o3.arpa")
    ours = bench_arpa(lines("tiny.txt"), tmp_path, order=3, discount_fallback=True)
    assert_same_model(ours, theirs)


def arpa_perplexities(model: ArpaModel, known: set[str], test: list[str]) -> tuple[float, float]:
    """Perplexity of ``test`` under an ARPA model, including and excluding OOVs, counted as
    KenLM's query counts them (every word and </s> a token; an OOV scores p(<unk>))."""
    total = oov_total = 0.0
    tokens = oovs = 0
    for line in test:
        history = ["<s>"]
        for word in [*line.split(), "</s>"]:
            oov = word not in known
            logprob = model.log10_prob(history, "<unk>" if oov else word)
            total, tokens = total + logprob, tokens + 1
            if oov:
                oov_total, oovs = oov_total + logprob, oovs + 1
            history.append(word)
    return 10 ** (-total / tokens), 10 ** (-(total - oov_total) / (tokens - oovs))


@pytest.mark.parametrize("order", [1, 2, 3, 4, 5])
def test_perplexities_with_and_without_oovs_equal_kenlm(order, tmp_path):
    train, test = lines("train.txt"), lines("test.txt")
    model, tokenizer = fitted(train, tmp_path, order=order)
    split = tokenizer.encode("test", test)
    result = evaluate(split, model.eval_protocol(split), model.score)
    lmplz = read_arpa(FIXTURES / f"train.o{order}.arpa")
    known = {gram[0] for gram in lmplz.entries if len(gram) == 1}
    with_oov, without_oov = arpa_perplexities(lmplz, known, test)
    if order in QUERY:  # the reader above counts as KenLM does
        expected = QUERY[order]
        assert (with_oov, without_oov) == pytest.approx(expected[:2], rel=1e-6)
        assert (split.counts.oov, split.counts.tokens) == expected[2:]
    assert result.ppl == pytest.approx(with_oov, rel=1e-6)
    assert result.metrics.ppl_no_oov == pytest.approx(without_oov, rel=1e-6)
    assert math.isfinite(result.ppl)
