"""A corpus's splits as token streams: the tokenizer fitted on train (or given the
vocabulary an earlier fit kept), then every split encoded."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from bench.corpora import CorpusText, ShardedLines
from bench.tokenization.token_cache import encode_to_disk
from bench.tokenization.tokenizers import Tokenizer
from bench.tokenization.tokens import TokenizedSplit
from bench.tokenization.vocabulary_cache import fit_tokenizer


def tokenize_corpus(
    corpus: CorpusText,
    tokenizer: Tokenizer,
    data_dir: Path,
    progress: Callable[..., Iterable[Any]],
    echo: Callable[[str], None],
) -> dict[str, TokenizedSplit]:
    """Fit ``tokenizer`` on train (or take the vocabulary kept from an earlier fit under
    ``<data_dir>/tokenizers``), encode every split. A streamed split (:class:`ShardedLines`)
    is read shard by shard and encoded into memory-mapped ids under
    ``<data_dir>/tokenized``, where later runs with the same corpus and tokenizer find it."""
    fit_tokenizer(tokenizer, corpus, data_dir / "tokenizers", echo)
    names = list(corpus.splits)
    return {
        name: encode_split(corpus, tokenizer, name, data_dir, progress)
        for name in progress(names, desc="tokenizing", unit="split")
    }


def encode_split(
    corpus: CorpusText,
    tokenizer: Tokenizer,
    name: str,
    data_dir: Path,
    progress: Callable[..., Iterable[Any]],
) -> TokenizedSplit:
    """One split of ``corpus`` encoded with the fitted ``tokenizer`` (a streamed split into
    memory-mapped ids under ``<data_dir>/tokenized``, as :func:`tokenize_corpus` says)."""
    lines = corpus.splits[name]
    if isinstance(lines, ShardedLines):
        return encode_to_disk(
            tokenizer, name, lines, corpus.sha256[name], data_dir / "tokenized", progress
        )
    return tokenizer.encode(name, lines)
