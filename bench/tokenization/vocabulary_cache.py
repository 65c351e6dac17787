"""Fit a tokenizer once per train text: the learned vocabulary is kept on disk.

Counting the words of One Billion Word's train split (800M tokens, read shard by shard)
takes minutes, and every process that needs the vocabulary would count them again: a run,
each resume of it, every rank, the restore behind ``bench generate`` and ``bench probe
gradients --run``. For tokenizers whose fit learns nothing but the vocabulary
(``Tokenizer.fit_is_vocabulary``: the word and character tokenizers) the vocabulary is
written to ``<cache_dir>/vocabularies/<key>.json``, where ``key`` hashes the corpus's name,
the train split's checksum, the tokenizer class and its options, and read back by later
processes instead of fitting. Sentencepiece tokenizers keep their trained model themselves,
beside it (``<cache_dir>/sentencepiece/``). A file that cannot be read back as a vocabulary
is fitted again and replaced.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from bench._moved import former_name
from bench.corpora.shards import ShardedLines
from bench.paths import write_atomically
from bench.tokenization.tokenizers import Tokenizer
from bench.tokenization.tokens import Vocabulary

if TYPE_CHECKING:
    from bench.corpora import CorpusText

FORMAT = 1  # bump when the file or the fitting rules change, so older files are not used
FOLDER = "vocabularies"
LONG_FIT_BYTES = 256 << 20  # a train file this big takes tens of seconds to fit: say so


def vocabulary_path(tokenizer: Tokenizer, corpus: CorpusText, cache_dir: Path) -> Path:
    """Where the vocabulary ``tokenizer`` fits on ``corpus``'s train split is kept."""
    recipe = {
        "format": FORMAT,
        "corpus": corpus.name,  # a split cut out of a bigger file shares that file's checksum
        "train_sha256": corpus.sha256["train"],
        "tokenizer": former_name(type(tokenizer)),  # the same key before and after a move
        "options": tokenizer.options.model_dump(mode="json"),
    }
    key = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode("utf-8")).hexdigest()
    return Path(cache_dir) / FOLDER / f"{key}.json"


def fit_tokenizer(
    tokenizer: Tokenizer,
    corpus: CorpusText,
    cache_dir: Path,
    echo: Callable[[str], None] = lambda message: None,
) -> None:
    """``tokenizer.fit`` on the train split, or the vocabulary a previous fit kept.

    ``echo`` hears about a streamed train split of several files or of at least
    :data:`LONG_FIT_BYTES`, the only kind whose fit takes long (a run's own output
    starts with its "run N:" line otherwise).
    """
    train = corpus.splits["train"]
    streamed = isinstance(train, ShardedLines) and _long_to_fit(train)
    keeps = tokenizer.fit_is_vocabulary and "train" in corpus.sha256
    path = vocabulary_path(tokenizer, corpus, cache_dir) if keeps else None
    if path is not None:
        vocab = _read_vocabulary(path)
        if vocab is not None:
            tokenizer.adopt_vocabulary(vocab)
            if streamed:
                echo(f"{corpus.name}: vocabulary of {len(vocab):,} tokens fitted earlier ({path})")
            return
    if streamed:
        files = f" of {len(train.paths)} files" if len(train.paths) > 1 else ""
        echo(f"{corpus.name}: fitting the tokenizer on the train split{files}, read in blocks")
    tokenizer.fit(train, cache_dir)
    if path is not None:
        text = json.dumps({"format": FORMAT, "tokens": tokenizer.vocab.tokens}, ensure_ascii=False)
        write_atomically(path, text.encode("utf-8", "surrogatepass"))


def _long_to_fit(train: ShardedLines) -> bool:
    paths = train.paths
    return len(paths) > 1 or sum(path.stat().st_size for path in paths) >= LONG_FIT_BYTES


def _read_vocabulary(path: Path) -> Vocabulary | None:
    """The kept vocabulary, or None when absent or unreadable (then it is fitted again)."""
    try:
        saved = json.loads(path.read_bytes().decode("utf-8", "surrogatepass"))
        tokens = saved.get("tokens") if saved.get("format") == FORMAT else None
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            return None
        return Vocabulary(tokens)
    except (OSError, ValueError, TypeError, AttributeError):
        return None
