"""bench's built-in tokenizers: words, characters and sentencepiece subwords.

The implementations live in :mod:`bench.tokenizers` and
:mod:`bench.sentencepiece_tokenizers` (the core and tests use them directly); this
plugin only names them, through the same hook as any third-party one.
"""

from __future__ import annotations

from bench.api.hookspecs import RegisterTokenizer, hookimpl
from bench.tokenization.sentencepiece_tokenizers import (
    SentencePieceBPETokenizer,
    SentencePieceUnigramTokenizer,
)
from bench.tokenization.tokenizers import CharTokenizer, WordTokenizer


@hookimpl
def register_tokenizers(register: RegisterTokenizer) -> None:
    register("word", WordTokenizer, aliases=("whitespace",))
    register("char", CharTokenizer, aliases=("character",))
    register("sentencepiece-bpe", SentencePieceBPETokenizer, aliases=("bpe",))
    register("sentencepiece-unigram", SentencePieceUnigramTokenizer, aliases=("unigram-lm",))
