"""bench's built-in tokenizers: words, characters and sentencepiece subwords.

The implementations live in :mod:`bench.tokenization.tokenizers` and
:mod:`bench.tokenization.sentencepiece_tokenizers` (the core and tests use them directly); this
plugin only names them, through the same hook as any third-party one.
"""

from __future__ import annotations

from bench import (
    CharTokenizer,
    RegisterTokenizer,
    SentencePieceBPETokenizer,
    SentencePieceUnigramTokenizer,
    WordTokenizer,
    hookimpl,
)


@hookimpl
def register_tokenizers(register: RegisterTokenizer) -> None:
    register("word", WordTokenizer, aliases=("whitespace",))
    register("char", CharTokenizer, aliases=("character",))
    register("sentencepiece-bpe", SentencePieceBPETokenizer, aliases=("bpe",))
    register("sentencepiece-unigram", SentencePieceUnigramTokenizer, aliases=("unigram-lm",))
