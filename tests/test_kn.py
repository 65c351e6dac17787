"""The Kneser-Ney plugin: hand-computed probabilities, a dict-based reference, the ARPA
round trip (own reader, and KenLM's when installed), OOVs, blank lines, and a full run."""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict

import numpy as np
import pytest
from arpa_reader import read_arpa
from conftest import import_or_unavailable

from bench.api.plugin_host import load_plugins
from bench.configuration.options import validate_options
from bench.configuration.run_config import build_config
from bench.errors import BenchError
from bench.run.runner import Runner
from bench.scoring.exactly_once import evaluate
from bench.store import Store
from bench.tokenization.tokenizers import WordTokenizer
from bench_plugins.kn import KNModel, KNOptions
from bench_plugins.kn.in_memory import _unique, compute_discounts

# --------------------------------------------------------------------------- helpers

HAND_TRAIN = ["a b", "a b", "b a"]


def tokenizer_for(train_lines, tmp_path):
    tokenizer = WordTokenizer(WordTokenizer.Options())
    tokenizer.fit(train_lines, tmp_path / "tokenizer")
    return tokenizer


def fitted(train_lines, tmp_path, **options):
    tokenizer = tokenizer_for(train_lines, tmp_path)
    model = KNModel(KNOptions(**options), tokenizer.vocab, "cpu")
    model.fit_split(tokenizer.encode("train", train_lines))
    return model, tokenizer


def token_logprobs(model, tokenizer, lines):
    """Per-token natural-log probabilities of ``lines`` and the split they came from."""
    split = tokenizer.encode("test", lines)
    (chunk,) = model.score(split, model.eval_protocol(split))
    assert np.array_equal(chunk.positions, np.arange(len(split)))
    return chunk.logprobs, split


def markov_lines(seed, n_lines, vocab_size=120, max_len=12):
    """Random sentences from a sparse Markov chain with Zipfian jumps: enough repetition
    and enough rare words that every order up to 5 has n-grams with adjusted counts
    1..4 (so real discounts can be estimated), as real text has."""
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(vocab_size)]
    weights = [1 / (rank + 1) for rank in range(vocab_size)]
    chain = random.Random(0)  # the same chain for every split
    successors = {w: chain.sample(words[:30], 3) for w in words}
    lines = []
    for _ in range(n_lines):
        word = rng.choice(words[:5])
        line = []
        for _ in range(rng.randint(0, max_len)):
            line.append(word)
            word = (
                rng.choice(successors[word])
                if rng.random() < 0.8
                else rng.choices(words, weights)[0]
            )
        lines.append(" ".join(line))
    return lines


class ReferenceKN:
    """Interpolated modified Kneser-Ney written straight from the formulas with dicts of
    tuples: slow, but each line can be checked against Chen & Goodman by eye."""

    def __init__(self, train_lines, order, vocab_size):
        self.order, self.vocab_size = order, vocab_size
        raw = [Counter() for _ in range(order + 1)]  # raw[k]: k-gram -> count
        for line in train_lines:
            sentence = ["<s>", *line.split(), "</s>"]
            for end in range(1, len(sentence)):  # <s> itself is never an n-gram's last word
                for k in range(1, min(order, end + 1) + 1):
                    raw[k][tuple(sentence[end - k + 1 : end + 1])] += 1
        self.adjusted = [Counter() for _ in range(order + 1)]
        self.adjusted[order] = raw[order]
        for k in range(order - 1, 0, -1):
            for longer in raw[k + 1]:  # each distinct left extension counts once
                self.adjusted[k][longer[1:]] += 1
            for gram, count in raw[k].items():
                if gram[0] == "<s>":  # n-grams after <s> have no left word: raw counts
                    self.adjusted[k][gram] = count
        self.count_of_counts, self.discounts = {}, {}
        for k in range(1, order + 1):
            t = Counter(self.adjusted[k].values())
            self.count_of_counts[k] = (t[1], t[2], t[3], t[4])
            y = t[1] / (t[1] + 2 * t[2])
            self.discounts[k] = [0.0] + [j - (j + 1) * y * t[j + 1] / t[j] for j in (1, 2, 3)]
        self.total, self.discounted = defaultdict(float), defaultdict(float)
        for k in range(1, order + 1):
            for gram, a in self.adjusted[k].items():
                self.total[gram[:-1]] += a
                self.discounted[gram[:-1]] += self.discounts[k][min(a, 3)]

    def prob(self, history, word):
        history = tuple(history[max(0, len(history) - self.order + 1) :]) if self.order > 1 else ()
        lower = 1.0 / self.vocab_size if not history else self.prob(history[1:], word)
        total = self.total.get(history, 0.0)
        if total == 0:  # an unseen context: back off without a factor
            return lower
        a = self.adjusted[len(history) + 1].get((*history, word), 0)
        d = self.discounts[len(history) + 1][min(a, 3)]
        return (a - d) / total + self.discounted[history] / total * lower

    def sentence_logprobs(self, line, known):
        history, out = ["<s>"], []
        for word in [*(w if w in known else "<unk>" for w in line.split()), "</s>"]:
            out.append(math.log(self.prob(history, word)))
            history.append(word)
        return out


# ---------------------------------------------------------------- by hand, order 2


def test_bigram_probabilities_computed_by_hand(tmp_path):
    # Train: "<s> a b </s>" twice and "<s> b a </s>"; fixed discounts D1=.5, D2=1, D3+=1.5
    # (the counts are too few to estimate them). Vocabulary: <eos>, <unk>, a, b, so the
    # uniform level is 1/4.
    model, tokenizer = fitted(HAND_TRAIN, tmp_path, order=2, discount_fallback=True)
    # Unigram adjusted counts = distinct left words: a {<s>, b} = 2, b {<s>, a} = 2,
    # </s> {a, b} = 2, <unk> 0. Sum 6; each loses D2 = 1, so gamma() = 3/6 = 1/2 and
    #   p(a) = p(b) = p(</s>) = (2 - 1)/6 + 1/2 * 1/4 = 7/24,   p(<unk>) = 1/8 = 3/24.
    # Bigrams keep raw counts (highest order): <s> a 2, <s> b 1 -> total 3,
    # gamma(<s>) = (D2 + D1)/3 = 1/2:
    #   p(a | <s>)    = (2 - 1)/3   + 1/2 * 7/24 = 23/48
    #   p(b | <s>)    = (1 - 0.5)/3 + 1/2 * 7/24 = 15/48
    #   p(</s> | <s>) =               1/2 * 7/24 =  7/48   (a blank line)
    #   p(<unk> | <s>) =              1/2 * 3/24 =  3/48
    # Context a: a b 2, a </s> 1, gamma(a) = 1/2: p(b | a) = 23/48, p(</s> | a) = 15/48;
    # context b mirrors it: p(</s> | b) = 23/48, p(a | b) = 15/48.
    logprobs, _ = token_logprobs(model, tokenizer, ["a b", "b", "", "c"])
    expected = [
        23 / 48,
        23 / 48,
        23 / 48,  # a b </s>
        15 / 48,
        23 / 48,  # b </s>
        7 / 48,  # </s>: the blank line is one token
        3 / 48,
        7 / 24,
    ]  # c -> <unk>, then </s> | <unk> (unseen)
    assert np.exp(logprobs) == pytest.approx(expected, rel=1e-12)
    assert [d.fallback for d in model.discounts] == [True, True]
    assert model.ngram_counts == [5, 6]  # <eos> <unk> a b <s>; six distinct bigrams


def test_unigram_order_uses_raw_counts(tmp_path):
    # Order 1: raw counts a 3, b 3, </s> 3 (sum 9), discount D3+ = 1.5 each:
    # gamma = 4.5/9 = 1/2, p(a) = 1.5/9 + 1/2 * 1/4 = 1/6 + 1/8 = 7/24.
    model, tokenizer = fitted(HAND_TRAIN, tmp_path, order=1, discount_fallback=True)
    logprobs, _ = token_logprobs(model, tokenizer, ["a"])
    assert np.exp(logprobs) == pytest.approx([7 / 24, 7 / 24], rel=1e-12)


def test_order_longer_than_every_sentence(tmp_path):
    # the longest n-grams here are "<s> a b </s>" and "<s> b a </s>": no 5-gram at all,
    # and every 4-gram starts with <s> (raw counts), so KN5 is KN4 here
    model, tokenizer = fitted(HAND_TRAIN, tmp_path, order=5, discount_fallback=True)
    assert model.ngram_counts[3:] == [2, 0]
    kn4, _ = fitted(HAND_TRAIN, tmp_path, order=4, discount_fallback=True)
    lines = ["b a b", "a b", ""]
    assert token_logprobs(model, tokenizer, lines)[0] == pytest.approx(
        token_logprobs(kn4, tokenizer, lines)[0], rel=1e-15
    )
    for context in ([], [tokenizer.vocab.index["a"]], [tokenizer.vocab.index["b"]] * 4):
        probs = np.exp(model.next_token_logprobs(context, sentence_start=True))
        assert probs.sum() == pytest.approx(1.0, abs=1e-12)


# ------------------------------------------------------------------------- discounts


def test_discounts_from_known_count_of_counts():
    # Y = 4/(4 + 2*2) = 1/2; D1 = 1 - 2*Y*2/4 = 0.5; D2 = 2 - 3*Y*1/2 = 1.25;
    # D3+ = 3 - 4*Y*1/1 = 1.
    d = compute_discounts(2, (4, 2, 1, 1), fallback=None)
    assert (d.d1, d.d2, d.d3) == pytest.approx((0.5, 1.25, 1.0))
    # PTB's 5-gram count-of-counts give the D1, D2, D3+ that lmplz prints: .9597 1.3879 1.2417
    d = compute_discounts(5, (714969, 15023, 3194, 1463), fallback=None)
    assert (d.d1, d.d2, d.d3) == pytest.approx((0.9597, 1.3879, 1.2417), abs=5e-5)


def test_missing_count_of_counts_is_a_clear_error_or_falls_back():
    with pytest.raises(BenchError, match=r"adjusted count 3.*discount_fallback"):
        compute_discounts(2, (3, 3, 0, 0), fallback=None)
    with pytest.raises(BenchError, match=r"D2 = -3.0000 is outside"):
        compute_discounts(1, (1, 1, 5, 5), fallback=None)  # Y = 1/3, D2 = 2 - 3*Y*5/1
    d = compute_discounts(2, (3, 3, 0, 0), fallback=(0.5, 1.0, 1.5))
    assert (d.d1, d.d2, d.d3, d.fallback) == (0.5, 1.0, 1.5, True)


def test_no_adjusted_count_4_gives_d3_of_3_as_lmplz_does():
    """t4 = 0 leaves every divisor non-zero: D3+ = 3 - 4 Y 0 / t3 = 3, no fallback (the
    5-grams of tests/kenlm_fixtures/train.txt, which lmplz estimates so)."""
    d = compute_discounts(5, (174, 7, 2, 0), fallback=None)
    y = 174 / (174 + 2 * 7)
    assert (d.d1, d.d2, d.d3, d.fallback) == pytest.approx(
        (1 - 2 * y * 7 / 174, 2 - 3 * y * 2 / 7, 3.0, False)
    )


def test_tiny_corpus_without_fallback_fails_with_advice(tmp_path):
    with pytest.raises(BenchError, match="discount_fallback=true"):
        fitted(HAND_TRAIN, tmp_path, order=2)


def test_options_are_validated():
    with pytest.raises(BenchError, match="order"):
        validate_options(KNOptions, {"order": "0"}, owner="kn")
    options = validate_options(KNOptions, {"fallback_discounts": "0.4, 0.9 1.2"}, owner="kn")
    assert options.fallback_discounts == (0.4, 0.9, 1.2)
    with pytest.raises(BenchError, match="D2"):
        validate_options(KNOptions, {"fallback_discounts": "0.5,2.5,1"}, owner="kn")


# ------------------------------------------------- against a reference, every order


@pytest.mark.parametrize("key_bound", [1000, 2**62])  # packed sort; too wide: argsort
def test_unique_matches_numpy(key_bound):
    keys = np.random.default_rng(0).integers(0, 1000, 5000)
    expected = np.unique(keys, return_inverse=True, return_counts=True)
    uniq, inverse, counts = _unique(keys.copy(), key_bound, np.int32)
    for ours, theirs in zip((uniq, inverse, counts), expected, strict=True):
        assert np.array_equal(ours, theirs)


@pytest.fixture(scope="module")
def markov_corpus():
    return markov_lines(0, 600), markov_lines(1, 60) + ["", "w1 unseen w2", "zzz"]


@pytest.mark.parametrize("order", [1, 2, 3, 4, 5])
def test_matches_dict_based_reference(markov_corpus, tmp_path, order):
    train, test = markov_corpus
    model, tokenizer = fitted(train, tmp_path, order=order)
    reference = ReferenceKN(train, order, len(tokenizer.vocab))
    assert not any(d.fallback for d in model.discounts)  # real discounts at every order
    for k, d in enumerate(model.discounts, start=1):
        assert d.count_of_counts == reference.count_of_counts[k]
        assert (d.d1, d.d2, d.d3) == pytest.approx(reference.discounts[k][1:], rel=1e-12)
    # every vocabulary entry and <s> is a unigram, seen or not; above, the seen n-grams
    assert model.ngram_counts == [len(tokenizer.vocab) + 1] + [
        len(reference.adjusted[k]) for k in range(2, order + 1)
    ]
    known = set(tokenizer.vocab.tokens)
    expected = [p for line in test for p in reference.sentence_logprobs(line, known)]
    logprobs, _ = token_logprobs(model, tokenizer, test)
    assert logprobs == pytest.approx(expected, rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("order", [1, 2, 3, 4, 5])
def test_probabilities_sum_to_one_for_many_contexts(markov_corpus, tmp_path, order):
    train, _ = markov_corpus
    model, tokenizer = fitted(train, tmp_path, order=order)
    rng = random.Random(order)
    contexts = []
    for line in rng.sample(train, 25):  # seen contexts at every length, from both ends
        ids = tokenizer.encode("c", [line]).ids[:-1].tolist()
        for length in range(min(len(ids), order) + 1):
            contexts.append((ids[:length], True))
            contexts.append((ids[len(ids) - length :], False))
    vocab = tokenizer.vocab
    contexts += [([vocab.index["w3"]] * 6, False), ([vocab.unk_id], True), ([], False)]
    for context, at_start in contexts:
        probs = np.exp(model.next_token_logprobs(context, sentence_start=at_start))
        assert len(probs) == len(vocab)
        assert probs.sum() == pytest.approx(1.0, abs=1e-12), (context, at_start)
        assert probs.min() > 0


# --------------------------------------------------------- the evaluation contract


def test_every_token_scored_once_and_oov_reported(markov_corpus, tmp_path):
    train, test = markov_corpus
    model, tokenizer = fitted(train, tmp_path, order=3)
    split = tokenizer.encode("test", test)
    result = evaluate(split, model.eval_protocol(split), model.score)
    assert result.counts.tokens == sum(len(line.split()) for line in test) + len(test)
    # "unseen", "zzz" and the rare words train lacks became <unk> and are flagged
    unseen = [w for line in test for w in line.split() if w not in tokenizer.vocab]
    assert result.counts.oov == len(unseen) >= 2
    assert split.oov_mask.sum() == len(unseen)
    logprobs, _ = token_logprobs(model, tokenizer, test)
    in_vocab = ~split.oov_mask
    assert result.metrics.ppl_no_oov == pytest.approx(math.exp(-logprobs[in_vocab].mean()))
    assert result.ppl == pytest.approx(math.exp(-logprobs.mean()))
    assert result.protocol.context == 2 and result.protocol.mode == "sentence"


def test_oov_word_scores_as_unk(markov_corpus, tmp_path):
    train, _ = markov_corpus
    model, tokenizer = fitted(train, tmp_path, order=3)
    unseen, _ = token_logprobs(model, tokenizer, ["w1 never-seen w2"])
    literal, _ = token_logprobs(model, tokenizer, ["w1 <unk> w2"])
    assert unseen == pytest.approx(literal, rel=1e-15)


def test_literal_unk_in_train_is_an_ordinary_word(tmp_path):
    train = ["the <unk> sat", "the cat sat", "a <unk> ran"] * 3
    model, tokenizer = fitted(train, tmp_path, order=2, discount_fallback=True)
    unk = tokenizer.vocab.unk_id
    seen_after_the = model.next_token_logprobs([tokenizer.vocab.index["the"]], sentence_start=True)[
        unk
    ]
    never_after_sat = model.next_token_logprobs(
        [tokenizer.vocab.index["sat"]], sentence_start=True
    )[unk]
    assert seen_after_the > never_after_sat  # the bigram "the <unk>" was counted


def test_blank_lines_are_one_token_each(markov_corpus, tmp_path):
    train, _ = markov_corpus
    model, tokenizer = fitted(train + ["", ""], tmp_path, order=4)
    logprobs, split = token_logprobs(model, tokenizer, ["", "w0", ""])
    assert len(split) == 4
    end_after_start = model.next_token_logprobs([], sentence_start=True)[tokenizer.vocab.eos_id]
    assert logprobs[[0, 3]] == pytest.approx([end_after_start] * 2, rel=1e-15)


# ------------------------------------------------------------------------------ ARPA


def test_arpa_round_trip_with_own_reader(markov_corpus, tmp_path):
    train, test = markov_corpus
    model, tokenizer = fitted(train, tmp_path, order=4)
    path = tmp_path / "model.arpa"
    model.export_arpa(path)
    arpa = read_arpa(path)
    assert arpa.declared == dict(enumerate(model.ngram_counts, start=1))
    assert arpa.entries[("<s>",)][0] == -99.0
    assert ("<unk>",) in arpa.entries and ("</s>",) in arpa.entries
    known = set(tokenizer.vocab.tokens)
    for line in test:
        logprobs, _ = token_logprobs(model, tokenizer, [line])
        words = [w if w in known else "<unk>" for w in line.split()]
        assert arpa.sentence_log10(words) == pytest.approx(
            logprobs.sum() / math.log(10), rel=1e-6, abs=1e-6
        )


def test_arpa_loads_in_kenlm_with_the_same_perplexity(markov_corpus, tmp_path):
    kenlm = import_or_unavailable("kenlm", "kenlm", "no kenlm module: pip install -e '.[kenlm]'")
    train, test = markov_corpus
    model, tokenizer = fitted(train, tmp_path, order=5)
    path = tmp_path / "model.arpa"
    model.export_arpa(path)
    loaded = kenlm.Model(str(path))
    assert loaded.order == 5
    ours = token_logprobs(model, tokenizer, test)[0].sum() / math.log(10)
    theirs = sum(loaded.score(line, bos=True, eos=True) for line in test)
    assert theirs == pytest.approx(ours, rel=1e-6)  # KenLM keeps float32


def test_arpa_refuses_reserved_words(tmp_path):
    model, _ = fitted(["a </s> b", "a b"] * 3, tmp_path, order=2, discount_fallback=True)
    with pytest.raises(BenchError, match="</s>"):
        model.export_arpa(tmp_path / "model.arpa")


# ------------------------------------------------------------------ through a run


def test_run_through_the_runner_records_statistics_and_arpa(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    for split, (seed, n) in {"train": (0, 600), "valid": (1, 40), "test": (2, 40)}.items():
        (folder / f"{split}.txt").write_text("\n".join(markov_lines(seed, n)) + "\n")
    words = set((folder / "train.txt").read_text().split())
    runner = Runner(
        load_plugins(), Store(), tmp_path / "data", progress=False, echo=lambda message: None
    )
    arpa = tmp_path / "out.arpa"
    config = build_config({}, {"plugin": "kn", "corpus": str(folder)}, ("order=3", f"arpa={arpa}"))
    result = runner.run(config, "bench run --plugin kn")
    record = runner.store.get_run(result.run_id)
    assert record["status"] == "finished"
    assert result.label == "KN3 (interpolated modified Kneser-Ney)"
    metrics = {m["name"]: m["value"] for m in record["metrics"]}
    assert metrics["ngrams_1"] == len(words) + 3  # the words, <eos>, <unk> and <s>
    assert 0 < metrics["discount_3_1"] < 1 < metrics["discount_3_3plus"] < 3
    assert record["params"] == sum(metrics[f"ngrams_{k}"] for k in (1, 2, 3))
    assert record["artifacts"][0]["kind"] == "arpa" and arpa.exists()
    assert 1 < result.evaluations["test"].ppl < len(words)
