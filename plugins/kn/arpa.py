"""ARPA files: write bench's Kneser-Ney tables so KenLM and SRILM can use them.

The ARPA format lists, per order, ``log10 p(w | h)``, the n-gram, and (below the highest
order) ``log10 backoff``. For an interpolated model the probability written is the fully
interpolated one and the backoff is gamma of the n-gram used as a context, as KenLM's
``lmplz`` writes them: a reader that backs off through unseen n-grams then computes
exactly the interpolated probability. ``<s>`` is listed with log10 probability -99
(it is never predicted), and every vocabulary entry, ``<unk>`` included, is a unigram.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bench.errors import BenchError
from bench_plugins.kn.in_memory import OrderTable, index_dtype
from bench_plugins.kn.scratch import read_range

BOS_TEXT = "<s>"
EOS_TEXT = "</s>"
NEVER_LOG10 = -99.0  # what ARPA files conventionally give <s>, which is never predicted
LOG10_E = 1.0 / math.log(10.0)
CHUNK = 1 << 20  # n-grams formatted at a time, so writing a big model needs little memory


def ngram_words(tables: list[OrderTable], k: int, start: int, stop: int, base: int) -> np.ndarray:
    """The word ids of the k-grams ``start..stop-1``, as a ``(stop - start, k)`` array.

    Keys are sorted, so the prefixes of a range of k-grams are a range of (k-1)-grams:
    each order is resolved from a slice of the one below, and a chunk needs memory for
    that chunk only (tables may be memory maps of files far larger than memory).
    """
    keys = read_range(tables[k - 1].keys, start, stop)
    dtype = index_dtype(base)
    if k == 1 or len(keys) == 0:
        return keys.astype(dtype).reshape(-1, k)
    prefix = keys // base
    low = int(prefix[0])
    lower = ngram_words(tables, k - 1, low, int(prefix[-1]) + 1, base)
    return np.hstack([lower[prefix - low], (keys % base).astype(dtype).reshape(-1, 1)])


def write_arpa(
    path: Path, tables: list[OrderTable], vocab_tokens: Sequence[str], eos_id: int
) -> None:
    """Write the model to ``path``; bench's end-of-sentence token is written as ``</s>``.

    ``vocab_tokens[i]`` is the text of word id ``i``; id ``len(vocab_tokens)`` is ``<s>``.
    Written a chunk of n-grams at a time: an ARPA file of One Billion Word is tens of GB.
    """
    texts = _word_texts(vocab_tokens, eos_id)
    base = len(texts)
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        out.write("\\data\\\n")
        for k, table in enumerate(tables, start=1):
            out.write(f"ngram {k}={len(table)}\n")
        for k, table in enumerate(tables, start=1):
            out.write(f"\n\\{k}-grams:\n")
            highest = k == len(tables)
            for start in range(0, len(table), CHUNK):
                stop = min(start + CHUNK, len(table))
                out.write(
                    _format_lines(
                        table,
                        ngram_words(tables, k, start, stop, base),
                        texts,
                        start,
                        stop,
                        highest,
                        base - 1,
                    )
                )
        out.write("\n\\end\\\n")


def _word_texts(vocab_tokens: Sequence[str], eos_id: int) -> np.ndarray:
    """The ARPA spelling of every id: ``</s>`` for bench's end-of-sentence, then ``<s>``."""
    clashes = {BOS_TEXT, EOS_TEXT} & {t for i, t in enumerate(vocab_tokens) if i != eos_id}
    if clashes:
        raise BenchError(
            f"the vocabulary holds {', '.join(sorted(clashes))} as an ordinary "
            "word, which ARPA reserves for sentence boundaries"
        )
    if any(any(c.isspace() for c in token) for token in vocab_tokens):
        raise BenchError("a vocabulary entry contains whitespace, which ARPA cannot represent")
    texts = np.array([*vocab_tokens, BOS_TEXT], dtype=object)
    texts[eos_id] = EOS_TEXT
    return texts


def _format_lines(
    table: OrderTable,
    words: np.ndarray,
    texts: np.ndarray,
    start: int,
    stop: int,
    highest: bool,
    bos: int,
) -> str:
    ngrams = texts[words[:, 0]]
    for column in range(1, words.shape[1]):
        ngrams = ngrams + " " + texts[words[:, column]]
    logprob = read_range(table.logprob, start, stop) * LOG10_E
    if words.shape[1] == 1:
        logprob = np.where(words[:, 0] == bos, NEVER_LOG10, logprob)
    if highest:
        return "".join(f"{p:.7g}\t{g}\n" for p, g in zip(logprob.tolist(), ngrams, strict=True))
    backoff = (read_range(table.backoff, start, stop) * LOG10_E).tolist()
    return "".join(
        f"{p:.7g}\t{g}\t{b:.7g}\n" if b else f"{p:.7g}\t{g}\n"
        for p, g, b in zip(logprob.tolist(), ngrams, backoff, strict=True)
    )
