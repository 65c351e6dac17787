"""Subword tokenizers learned with sentencepiece (BPE or unigram LM) on the train lines.

They follow the rules of :mod:`bench.tokenization.tokenizers` (vocabulary from train only, one
``<eos>`` per line, a literal ``<unk>`` kept as the corpus's own unknown-word token), and
cache each trained model under the tokenizer cache folder, keyed by the train text and
every training setting, so a second run on the same data trains nothing.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Iterable, Sequence
from itertools import chain, islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import Field

from bench.configuration.options import Options
from bench.errors import BenchError
from bench.paths import write_atomically
from bench.tokenization.tokenizers import OOV, Tokenizer, assemble_split
from bench.tokenization.tokens import EOS, UNK, TokenizedSplit, Vocabulary

if TYPE_CHECKING:
    import sentencepiece

# Fixed so that a model is a function of the text and options only (unigram training
# splits its work by thread); encoding is thread-count independent and uses what it can.
TRAIN_THREADS = 4
# sentencepiece skips longer training sentences (default 4192 bytes); WikiText paragraphs
# come close, and a skipped line would silently shrink the train data.
MAX_SENTENCE_BYTES = 1 << 16
# Bump when the training recipe changes, so stale cached models are not reused.
CACHE_FORMAT = 2  # 2: the key hashes the training sentences, not every train line
WORD_BOUNDARY = "\u2581"  # sentencepiece's visible space, "▁"


class SentencePieceOptions(Options):
    vocab_size: int = Field(
        default=8000,
        gt=0,
        description="Target number of sentencepiece pieces (<unk> included, <eos> added on "
        "top). A soft limit: tiny corpora get fewer.",
    )
    character_coverage: float = Field(
        default=1.0,
        gt=0.0,
        le=1.0,
        description="Share of train characters the model covers; rarer ones become <unk>.",
    )
    max_sentences: int = Field(
        default=2_000_000,
        ge=1,
        description="Train on at most this many non-blank train lines (the first ones, "
        "no shuffling, so training is reproducible).",
    )


class SentencePieceTokenizer(Tokenizer):
    """Subwords learned by sentencepiece on the train lines (blank lines skipped).

    Vocabulary: sentencepiece's pieces in its own order (``<unk>`` is id 0), then
    ``<eos>``, which bench appends itself; sentencepiece's own bos/eos are disabled. The
    text is kept as is (identity normalisation), so bits-per-byte refer to the real bytes.
    Trained models are cached under ``cache_dir/sentencepiece/<sha256>.model``, keyed by
    the train text and every training setting. Subclasses fix ``model_type``.
    """

    Options = SentencePieceOptions
    model_type: ClassVar[str] = "unigram"
    description = "sentencepiece subwords learned from train"

    def __init__(self, options: Options) -> None:
        super().__init__(options)
        self._processor: sentencepiece.SentencePieceProcessor | None = None
        self.model_path: Path | None = None
        self.loaded_from_cache = False

    # ---- training

    def trainer_settings(self) -> dict[str, Any]:
        """Every argument given to the sentencepiece trainer besides the data."""
        options: SentencePieceOptions = self.options  # type: ignore[assignment]
        return {
            "model_type": self.model_type,
            "vocab_size": options.vocab_size,
            "character_coverage": options.character_coverage,
            "hard_vocab_limit": False,  # tiny corpora cannot reach vocab_size
            "unk_id": 0,
            "unk_piece": UNK,
            "bos_id": -1,
            "eos_id": -1,
            "pad_id": -1,  # bench appends its own <eos>
            "normalization_rule_name": "identity",
            "input_sentence_size": 0,  # max_sentences is applied before, in order
            "shuffle_input_sentence": False,
            "max_sentence_length": MAX_SENTENCE_BYTES,
            "num_threads": TRAIN_THREADS,
            "minloglevel": 2,  # no progress chatter on stderr; errors still raise
        }

    def cache_key(self, train_lines: Iterable[str]) -> str:
        """sha256 of the recipe (options, model type, trainer settings) and of exactly the
        sentences training sees: the first ``max_sentences`` non-blank lines. Reading stops
        there, so a big split (One Billion Word: ~30M lines) is not read to its end in
        every process, and text past them, which cannot change the model, does not count."""
        options: SentencePieceOptions = self.options  # type: ignore[assignment]
        recipe = {
            "format": CACHE_FORMAT,
            "options": options.model_dump(),
            "trainer": self.trainer_settings(),
        }
        digest = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode("utf-8"))
        for sentence in islice(_training_sentences(train_lines), options.max_sentences):
            digest.update(sentence.encode("utf-8", "surrogatepass"))
            digest.update(b"\n")
        return digest.hexdigest()

    def fit(self, train_lines: Iterable[str], cache_dir: Path) -> None:
        import sentencepiece as spm

        path = Path(cache_dir) / "sentencepiece" / f"{self.cache_key(train_lines)}.model"
        proto = _read_cached_model(path)
        self.loaded_from_cache = proto is not None
        if proto is None:
            proto = self._train(train_lines)
            write_atomically(path, proto)
        self.model_path = path
        self._processor = spm.SentencePieceProcessor(model_proto=proto)
        self._vocab = self._vocabulary(self._processor)

    def _train(self, train_lines: Iterable[str]) -> bytes:
        import sentencepiece as spm

        options: SentencePieceOptions = self.options  # type: ignore[assignment]
        sentences = list(islice(_training_sentences(train_lines), options.max_sentences))
        if not sentences:
            raise BenchError(
                f"cannot train sentencepiece ({self.model_type}): the train "
                "split has no non-blank lines"
            )
        writer = io.BytesIO()
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=iter(sentences), model_writer=writer, **self.trainer_settings()
            )
        except (RuntimeError, OSError, ValueError) as error:
            raise BenchError(
                f"sentencepiece ({self.model_type}) training failed: {error}"
            ) from None
        if not writer.getvalue():
            raise BenchError(f"sentencepiece ({self.model_type}) training produced no model")
        return writer.getvalue()

    @staticmethod
    def _vocabulary(processor: sentencepiece.SentencePieceProcessor) -> Vocabulary:
        pieces = [processor.id_to_piece(i) for i in range(processor.get_piece_size())]
        if pieces[0] != UNK or processor.unk_id() != 0:
            raise BenchError(f"sentencepiece model must have {UNK} as id 0")
        if EOS in pieces:
            raise BenchError(
                f"sentencepiece learned a piece {EOS!r} from the train text; "
                "it clashes with bench's end-of-sentence token"
            )
        return Vocabulary([*pieces, EOS])

    # ---- encoding

    def encode(self, name: str, lines: Sequence[str]) -> TokenizedSplit:
        vocab = self.vocab
        processor = self._processor
        assert processor is not None  # vocab exists only after fit
        # sentencepiece would spell a literal <unk> as "<", "unk", ">" (or merge it into an
        # unknown run): cut lines at it, encode the pieces, put one <unk> id back between.
        parts = [line.split(UNK) for line in lines]
        n_parts = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts))
        segments = list(chain.from_iterable(parts))
        encoded = processor.encode(
            segments, out_type=int, num_threads=min(TRAIN_THREADS, os.cpu_count() or 1)
        )
        seg_lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
        flat = np.fromiter(
            chain.from_iterable(encoded), dtype=np.int64, count=int(seg_lengths.sum())
        )
        flat[flat == processor.unk_id()] = OOV  # characters the model does not cover
        seg_line = np.repeat(np.arange(len(lines)), n_parts)
        inner = seg_line[:-1] == seg_line[1:]  # segment followed by a literal <unk>
        flat = np.insert(flat, np.cumsum(seg_lengths)[:-1][inner], vocab.unk_id)
        lengths = (
            np.bincount(seg_line, weights=seg_lengths, minlength=len(lines)).astype(np.int64)
            + n_parts
            - 1
        )
        return assemble_split(name, flat, lengths, vocab, lines)

    def join_tokens(self, tokens: list[str]) -> str:
        # "▁" marks a space before a piece; <unk> (literal or unknown text) is rendered as
        # a word of its own, which reproduces PTB-style " <unk> " exactly.
        text = "".join(WORD_BOUNDARY + UNK if token == UNK else token for token in tokens)
        return text.replace(WORD_BOUNDARY, " ").removeprefix(" ")


class SentencePieceBPETokenizer(SentencePieceTokenizer):
    """Byte-pair-encoding subwords (sentencepiece ``model_type=bpe``)."""

    model_type = "bpe"
    description = "sentencepiece BPE subwords learned from train"


class SentencePieceUnigramTokenizer(SentencePieceTokenizer):
    """Unigram language-model subwords (sentencepiece ``model_type=unigram``)."""

    model_type = "unigram"
    description = "sentencepiece unigram-LM subwords learned from train"


def _training_sentences(train_lines: Iterable[str]) -> Iterable[str]:
    """Non-blank train lines with literal ``<unk>`` removed.

    Encoding never shows sentencepiece a literal ``<unk>`` (it cuts lines there), so
    training must not spend pieces on "<", "unk", ">" either; a space keeps the words on
    each side apart, exactly as the cut does.
    """
    for line in train_lines:
        sentence = line.replace(UNK, " ").strip()
        if sentence:
            yield sentence


def _read_cached_model(path: Path) -> bytes | None:
    """The cached model's bytes, or None when absent or unreadable (then retrain)."""
    import sentencepiece as spm

    try:
        proto = path.read_bytes()
        spm.SentencePieceProcessor(model_proto=proto)  # a corrupt file must not stick
    except (OSError, RuntimeError):
        return None
    return proto
