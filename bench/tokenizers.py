"""Tokenizers: learn a vocabulary from train only, turn splits into token streams.

Three families ship with bench (registered by ``bench_plugins.standard_tokenizers``):

- :class:`WordTokenizer`: whitespace words, the unit of the classic PTB / WikiText tables;
- :class:`CharTokenizer`: every character is a token, for bits-per-character tables;
- :class:`SentencePieceTokenizer` (BPE or unigram LM): subwords learned with sentencepiece.

Rules they share, because every number downstream depends on them:

- the vocabulary is learned from the train lines only, and its order is deterministic;
- each line becomes its tokens followed by exactly one ``<eos>`` (a blank line is one token);
- a token missing from the vocabulary becomes ``<unk>`` and is flagged in ``oov_mask``;
- a literal ``<unk>`` in the text (PTB and WikiText contain it) is the corpus's own
  unknown-word token: it becomes the ``<unk>`` id as one token but is *not* an OOV, since
  the corpus authors already replaced that word before any model saw it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable, Sequence
from itertools import chain, islice, repeat
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import Field

from bench.errors import BenchError
from bench.options import Options
from bench.tokens import EOS, UNK, TokenizedSplit, UnitCounts, Vocabulary

if TYPE_CHECKING:
    import sentencepiece

# Marks a token that is not in the vocabulary while a stream is assembled: it becomes
# ``<unk>`` and is flagged in ``oov_mask``. Real ids are never negative.
OOV = -1


class Tokenizer(ABC):
    """Base class of tokenizers.

    ``fit`` learns the vocabulary from the train lines only (``cache_dir`` may hold
    trained models, keyed by a hash of the data and options). It must only iterate over
    them, possibly more than once: a streamed train split (One Billion Word) is re-read
    from disk on each pass and is never a list. ``encode`` turns the lines of any split
    into a :class:`TokenizedSplit` with one end-of-sentence per line; it must treat each
    line on its own, so that a big split encoded shard by shard gives the same ids.
    """

    Options: ClassVar[type[Options]] = Options
    description: ClassVar[str] = ""

    def __init__(self, options: Options) -> None:
        self.options = options
        self._vocab: Vocabulary | None = None

    @property
    def vocab(self) -> Vocabulary:
        if self._vocab is None:
            raise RuntimeError("tokenizer used before fit()")
        return self._vocab

    @abstractmethod
    def fit(self, train_lines: Iterable[str], cache_dir: Path) -> None:
        """Learn the vocabulary (and any model) from the train split only, by iterating."""

    @abstractmethod
    def encode(self, name: str, lines: Sequence[str]) -> TokenizedSplit:
        """Tokenize ``lines`` of split ``name`` into a stream with one eos per line."""

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Turn a stream of ids back into text lines, one per end-of-sentence.

        Meant for inspection and tests (samples, round trips); ids after the last
        end-of-sentence form a final, unterminated line.
        """
        vocab = self.vocab
        lines: list[str] = []
        current: list[str] = []
        for token_id in ids:
            if token_id == vocab.eos_id:
                lines.append(self.join_tokens(current))
                current = []
            else:
                current.append(vocab.tokens[token_id])
        if current:
            lines.append(self.join_tokens(current))
        return lines

    def join_tokens(self, tokens: list[str]) -> str:
        """The text of one line's tokens; word-level by default, subclasses refine it."""
        return " ".join(tokens)


def assemble_split(
    name: str, flat_ids: np.ndarray, lengths: np.ndarray, vocab: Vocabulary,
    lines: Sequence[str],
) -> TokenizedSplit:
    """Build a split from the tokens of all lines laid end to end (no eos yet).

    ``lengths[i]`` is the number of tokens of line ``i``; ids equal to :data:`OOV` become
    ``<unk>`` and are flagged in ``oov_mask``.
    """
    flat_ids = np.asarray(flat_ids, dtype=np.int64)
    oov_flat = flat_ids == OOV
    if oov_flat.any():
        if vocab.unk_id is None:
            raise BenchError("text holds unknown tokens but the vocabulary has no <unk>")
        flat_ids = np.where(oov_flat, vocab.unk_id, flat_ids)
    return TokenizedSplit.from_flat(name, flat_ids, lengths, vocab.eos_id, lines, oov_flat)


# --------------------------------------------------------------------------- words


class WordOptions(Options):
    max_size: int | None = Field(
        default=None, ge=2,
        description="Largest vocabulary, <eos> and <unk> included; the most frequent train "
                    "words are kept (ties broken by the word's string). None keeps all.",
    )
    min_count: int = Field(
        default=1, ge=1,
        description="Train words seen fewer times than this map to <unk>.",
    )


class WordTokenizer(Tokenizer):
    """Whitespace words (``line.split()``), the unit of published word-level perplexities.

    Vocabulary: ``<eos>``, ``<unk>``, then train words by descending count, ties by string.
    On PTB (whose train already contains ``<unk>``) that gives exactly 10,000 entries.
    """

    Options = WordOptions
    description = "whitespace-separated words; vocabulary from train by frequency"

    def fit(self, train_lines: Iterable[str], cache_dir: Path) -> None:
        options: WordOptions = self.options  # type: ignore[assignment]
        counts: Counter[str] = Counter()
        for line in train_lines:
            counts.update(line.split())
        for special in (EOS, UNK):  # fixed at the front, never ranked among words
            counts.pop(special, None)
        kept = [word for word, count in counts.items() if count >= options.min_count]
        kept.sort(key=lambda word: (-counts[word], word))
        if options.max_size is not None:
            kept = kept[: options.max_size - 2]
        self._vocab = Vocabulary([EOS, UNK, *kept])

    def encode(self, name: str, lines: Sequence[str]) -> TokenizedSplit:
        vocab = self.vocab
        words = [line.split() for line in lines]
        lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
        # map() with two iterables runs dict.get in C: ~10x faster than a generator.
        flat = np.fromiter(map(vocab.index.get, chain.from_iterable(words), repeat(OOV)),
                           dtype=np.int64, count=int(lengths.sum()))
        return assemble_split(name, flat, lengths, vocab, lines)


# --------------------------------------------------------------------------- characters


class CharOptions(Options):
    """The character tokenizer has no options: its vocabulary is the train characters."""


class CharTokenizer(Tokenizer):
    """Every character of a line is a token, spaces included; the line break is ``<eos>``.

    Vocabulary: ``<eos>``, ``<unk>``, then the train characters by code point. A literal
    ``<unk>`` stays one token, as for the other tokenizers, so it is never spelled out.
    """

    Options = CharOptions
    description = "characters (spaces included); vocabulary = train characters"

    def __init__(self, options: Options) -> None:
        super().__init__(options)
        # Sorted code points of the single-character tokens and their ids, for a
        # vectorised lookup of whole splits (a dict lookup per character is ~10x slower).
        self._codes = np.zeros(0, dtype=np.uint32)
        self._code_ids = np.zeros(0, dtype=np.int64)

    def fit(self, train_lines: Iterable[str], cache_dir: Path) -> None:
        chars: set[str] = set()
        for line in train_lines:
            chars.update(line.replace(UNK, ""))
        self._vocab = Vocabulary([EOS, UNK, *sorted(chars)])
        self._index_codes()

    def _index_codes(self) -> None:
        singles = [(ord(token), i) for i, token in enumerate(self.vocab.tokens) if len(token) == 1]
        singles.sort()
        self._codes = np.array([code for code, _ in singles], dtype=np.uint32)
        self._code_ids = np.array([i for _, i in singles], dtype=np.int64)

    def _lookup(self, codes: np.ndarray) -> np.ndarray:
        """Ids of an array of code points; :data:`OOV` where the character is unknown."""
        if len(self._codes) == 0:
            return np.full(len(codes), OOV, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self._codes, codes), len(self._codes) - 1)
        return np.where(self._codes[pos] == codes, self._code_ids[pos], OOV)

    def encode(self, name: str, lines: Sequence[str]) -> TokenizedSplit:
        vocab = self.vocab
        # One separator after each line keeps a literal <unk> from matching across lines;
        # separators are found by position (not by value), so a "\n" inside a line is
        # still an ordinary character.
        text = "".join(line + "\n" for line in lines)
        codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        ids = self._lookup(codes)
        lengths = np.fromiter(map(len, lines), dtype=np.int64, count=len(lines))
        line_ends = np.cumsum(lengths + 1) - 1
        keep = np.ones(len(ids), dtype=bool)
        keep[line_ends] = False
        if UNK in text:
            starts = np.array([m.start() for m in re.finditer(re.escape(UNK), text)],
                              dtype=np.int64)
            ids[starts] = vocab.unk_id
            for k in range(1, len(UNK)):
                keep[starts + k] = False
            per_line = np.bincount(np.searchsorted(line_ends, starts), minlength=len(lines))
            lengths = lengths - (len(UNK) - 1) * per_line
        return assemble_split(name, ids[keep], lengths, vocab, lines)

    def join_tokens(self, tokens: list[str]) -> str:
        return "".join(tokens)


# --------------------------------------------------------------------------- sentencepiece

# Fixed so that a model is a function of the text and options only (unigram training
# splits its work by thread); encoding is thread-count independent and uses what it can.
TRAIN_THREADS = 4
# sentencepiece skips longer training sentences (default 4192 bytes); WikiText paragraphs
# come close, and a skipped line would silently shrink the train data.
MAX_SENTENCE_BYTES = 1 << 16
# Bump when the training recipe changes, so stale cached models are not reused.
CACHE_FORMAT = 1
WORD_BOUNDARY = "\u2581"  # sentencepiece's visible space, "▁"


class SentencePieceOptions(Options):
    vocab_size: int = Field(
        default=8000, gt=0,
        description="Target number of sentencepiece pieces (<unk> included, <eos> added on "
                    "top). A soft limit: tiny corpora get fewer.",
    )
    character_coverage: float = Field(
        default=1.0, gt=0.0, le=1.0,
        description="Share of train characters the model covers; rarer ones become <unk>.",
    )
    max_sentences: int = Field(
        default=2_000_000, ge=1,
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
            "unk_id": 0, "unk_piece": UNK,
            "bos_id": -1, "eos_id": -1, "pad_id": -1,  # bench appends its own <eos>
            "normalization_rule_name": "identity",
            "input_sentence_size": 0,  # max_sentences is applied before, in order
            "shuffle_input_sentence": False,
            "max_sentence_length": MAX_SENTENCE_BYTES,
            "num_threads": TRAIN_THREADS,
            "minloglevel": 2,  # no progress chatter on stderr; errors still raise
        }

    def cache_key(self, train_lines: Iterable[str]) -> str:
        """sha256 of the recipe (options, model type, trainer settings) and the train text."""
        recipe = {"format": CACHE_FORMAT, "options": self.options.model_dump(),
                  "trainer": self.trainer_settings()}
        digest = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode("utf-8"))
        for line in train_lines:
            digest.update(line.encode("utf-8", "surrogatepass"))
            digest.update(b"\n")
        return digest.hexdigest()

    def fit(self, train_lines: Iterable[str], cache_dir: Path) -> None:
        import sentencepiece as spm

        path = Path(cache_dir) / "sentencepiece" / f"{self.cache_key(train_lines)}.model"
        proto = _read_cached_model(path)
        self.loaded_from_cache = proto is not None
        if proto is None:
            proto = self._train(train_lines)
            _write_atomically(path, proto)
        self.model_path = path
        self._processor = spm.SentencePieceProcessor(model_proto=proto)
        self._vocab = self._vocabulary(self._processor)

    def _train(self, train_lines: Iterable[str]) -> bytes:
        import sentencepiece as spm

        options: SentencePieceOptions = self.options  # type: ignore[assignment]
        sentences = list(islice(_training_sentences(train_lines), options.max_sentences))
        if not sentences:
            raise BenchError(f"cannot train sentencepiece ({self.model_type}): the train "
                             "split has no non-blank lines")
        writer = io.BytesIO()
        try:
            spm.SentencePieceTrainer.train(sentence_iterator=iter(sentences),
                                           model_writer=writer, **self.trainer_settings())
        except (RuntimeError, OSError, ValueError) as error:
            raise BenchError(f"sentencepiece ({self.model_type}) training failed: "
                             f"{error}") from None
        if not writer.getvalue():
            raise BenchError(f"sentencepiece ({self.model_type}) training produced no model")
        return writer.getvalue()

    @staticmethod
    def _vocabulary(processor: sentencepiece.SentencePieceProcessor) -> Vocabulary:
        pieces = [processor.id_to_piece(i) for i in range(processor.get_piece_size())]
        if pieces[0] != UNK or processor.unk_id() != 0:
            raise BenchError(f"sentencepiece model must have {UNK} as id 0")
        if EOS in pieces:
            raise BenchError(f"sentencepiece learned a piece {EOS!r} from the train text; "
                             "it clashes with bench's end-of-sentence token")
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
        encoded = processor.encode(segments, out_type=int,
                                   num_threads=min(TRAIN_THREADS, os.cpu_count() or 1))
        seg_lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
        flat = np.fromiter(chain.from_iterable(encoded), dtype=np.int64,
                           count=int(seg_lengths.sum()))
        flat[flat == processor.unk_id()] = OOV  # characters the model does not cover
        seg_line = np.repeat(np.arange(len(lines)), n_parts)
        inner = seg_line[:-1] == seg_line[1:]  # segment followed by a literal <unk>
        flat = np.insert(flat, np.cumsum(seg_lengths)[:-1][inner], vocab.unk_id)
        lengths = (np.bincount(seg_line, weights=seg_lengths, minlength=len(lines))
                   .astype(np.int64) + n_parts - 1)
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


def _write_atomically(path: Path, data: bytes) -> None:
    """Write via a temporary file and rename, so a killed run never leaves half a model."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)
