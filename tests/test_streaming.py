"""One Billion Word streamed: lazy shards, memory-mapped ids, windows from the map, a full run.

A tiny corpus is laid out exactly like the real archive (99 training shards and the
heldout shards) and loaded through the registered entry's own spec, so everything but
the download size is the real code path.
"""

from __future__ import annotations

import dataclasses
import io
import json
import random
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from bench.api.registry import Registry
from bench.cli import cli
from bench.corpora import (
    Checksum,
    CorpusSpec,
    ShardedLines,
    SplitFile,
    cached_path,
    load_corpus,
    sha256_file,
)
from bench.corpora import blocks as blocks_module
from bench.errors import BenchError
from bench.tokenization import token_cache
from bench.tokenization.batching import TrainWindows
from bench.tokenization.sentencepiece_tokenizers import (
    SentencePieceBPETokenizer,
    SentencePieceOptions,
)
from bench.tokenization.token_cache import encode_to_disk
from bench.tokenization.tokenizers import CharTokenizer, Tokenizer, WordOptions, WordTokenizer
from bench_plugins.standard_corpora import ONE_BILLION_WORD, one_billion_word

WORDS = ["the", "cat", "sat", "on", "a", "mat", "dog", "ran", "to", "park", "in", "rain"]


def patterned_text(rng: random.Random, lines: int) -> bytes:
    """Lines of consecutive words from a cycle: text a tiny model can learn."""
    out = []
    for _ in range(lines):
        start = rng.randrange(len(WORDS))
        out.append(" ".join(WORDS[(start + i) % len(WORDS)] for i in range(rng.randint(1, 7))))
    return ("\n".join(out) + "\n").encode()


def corpus_files(spec: CorpusSpec) -> dict[str, bytes]:
    """Text for every file of the spec (keyed by archive member): 2 to 6 lines per shard."""
    rng = random.Random(0)
    return {
        f.member or "": patterned_text(rng, rng.randint(2, 6) if f.split == "train" else 30)
        for f in spec.files
    }


def registry_of(spec: CorpusSpec) -> Registry[CorpusSpec]:
    registry: Registry[CorpusSpec] = Registry("corpus")
    registry.add(spec.name, spec, plugin="test", aliases=spec.aliases)
    return registry


@pytest.fixture
def archive_spec(tmp_path: Path) -> tuple[CorpusSpec, dict[str, bytes]]:
    """The one-billion-word spec, fetching from a file:// tar.gz laid out like the real one."""
    archive = tmp_path / "src" / "1-billion-word.tar.gz"
    archive.parent.mkdir()
    files = corpus_files(ONE_BILLION_WORD)
    with tarfile.open(archive, "w:gz") as bundle:
        for member, data in files.items():
            info = tarfile.TarInfo(member)
            info.size = len(data)
            bundle.addfile(info, io.BytesIO(data))
    checksum = Checksum("sha256", sha256_file(archive), "the test", size=archive.stat().st_size)
    return one_billion_word(archive.as_uri(), checksum), files


class ReadCounter:
    """Counts the files ShardedLines reads line by line (each in blocks, then decoded)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.paths: list[Path] = []
        original = blocks_module.line_blocks

        def counting(path: Path, label: str, digest: object = None) -> Iterator[list[str]]:
            self.paths.append(path)
            return original(path, label, digest)

        monkeypatch.setattr(blocks_module, "line_blocks", counting)


def test_train_shards_are_read_lazily_one_at_a_time(
    archive_spec: tuple[CorpusSpec, dict[str, bytes]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec, files = archive_spec
    reads = ReadCounter(monkeypatch)
    text = load_corpus(spec.name, registry_of(spec), tmp_path / "data", progress=False)
    train = text.splits["train"]
    assert isinstance(train, ShardedLines) and len(train.paths) == 99
    assert isinstance(text.splits["valid"], list) and isinstance(text.splits["test"], list)
    assert reads.paths == []  # loading only checksums the shards

    first_shard = files[spec.files[0].member or ""].decode().splitlines()
    lines = iter(train)
    assert next(lines) == first_shard[0] and reads.paths == [train.paths[0]]
    for _ in first_shard[1:]:
        next(lines)
    assert len(reads.paths) == 1  # the whole first shard came from one read
    next(lines)
    assert reads.paths == list(train.paths[:2])

    # the same lines and checksum as loading every shard into memory (the old path)
    whole = load_corpus(
        spec.name,
        registry_of(dataclasses.replace(spec, stream_train=False)),
        tmp_path / "data",
        progress=False,
    )
    assert list(train) == list(train) == whole.splits["train"]
    # both verified: the files came out of an archive that matched its published checksum
    assert text.sha256 == whole.sha256 and text.verified and whole.verified
    assert text.splits["test"] == whole.splits["test"]


def test_streamed_shards_are_checked_like_loaded_ones(tmp_path: Path) -> None:
    shard = tmp_path / "src" / "a.txt"
    shard.parent.mkdir()
    shard.write_bytes(b"x y\nz\n")
    heldout = SplitFile("valid", shard.as_uri(), None), SplitFile("test", shard.as_uri(), None)
    wrong_count = CorpusSpec(
        name="counted",
        description="",
        license="",
        citation="",
        stream_train=True,
        files=(SplitFile("train", shard.as_uri(), None, tokens=9), *heldout),
    )
    train = load_corpus(
        "counted", registry_of(wrong_count), tmp_path / "data", progress=False
    ).splits["train"]
    with pytest.raises(BenchError, match=r"expected 9 tokens .* found 5"):
        list(train)  # counts are checked as each shard is read
    wrong_sha = dataclasses.replace(
        wrong_count, name="hashed", files=(SplitFile("train", shard.as_uri(), "0" * 64), *heldout)
    )
    cached = cached_path(wrong_sha, wrong_sha.files[0], tmp_path / "data")
    cached.parent.mkdir(parents=True)
    cached.write_bytes(shard.read_bytes())  # already there, so the load itself must check it
    with pytest.raises(BenchError, match="checksum mismatch for corpus 'hashed'"):
        load_corpus("hashed", registry_of(wrong_sha), tmp_path / "data", download=False)
    with pytest.raises(ValueError, match="stream_train needs"):
        dataclasses.replace(wrong_count, line_splits={"train": (0, 1)})


def tokenizer_cases() -> list[Tokenizer]:
    return [
        WordTokenizer(WordOptions(max_size=8)),  # leaves words out: OOVs in train
        WordTokenizer(WordOptions()),
        CharTokenizer(CharTokenizer.Options()),
        SentencePieceBPETokenizer(SentencePieceOptions(vocab_size=40, max_sentences=50)),
    ]


@pytest.mark.parametrize("tokenizer", tokenizer_cases(), ids=["word-max8", "word", "char", "bpe"])
def test_encoded_train_is_a_memory_map_equal_to_the_in_memory_encoding(
    archive_spec: tuple[CorpusSpec, dict[str, bytes]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tokenizer: Tokenizer,
) -> None:
    spec, _ = archive_spec
    text = load_corpus(spec.name, registry_of(spec), tmp_path / "data", progress=False)
    train = text.splits["train"]
    assert isinstance(train, ShardedLines)
    tokenizer.fit(train, tmp_path / "tokenizers")
    expected = tokenizer.encode("train", list(train))
    cache = tmp_path / "tokenized"
    monkeypatch.setattr(token_cache, "BLOCK_LINES", 3)  # shards of 2-6 lines: 1 or 2 blocks

    streamed = encode_to_disk(tokenizer, "train", train, text.sha256["train"], cache)
    assert isinstance(streamed.ids, np.memmap) and isinstance(streamed.line_offsets, np.memmap)
    assert Path(streamed.ids.filename).is_relative_to(cache)
    np.testing.assert_array_equal(streamed.ids, expected.ids)
    np.testing.assert_array_equal(streamed.line_offsets, expected.line_offsets)
    assert streamed.counts == expected.counts
    assert expected.oov_mask is not None
    if expected.counts.oov:
        assert isinstance(streamed.oov_mask, np.memmap)
        np.testing.assert_array_equal(streamed.oov_mask, expected.oov_mask)
    else:
        assert streamed.oov_mask is None and not expected.oov_mask.any()

    reads = ReadCounter(monkeypatch)  # a second run finds the files instead of encoding
    again = encode_to_disk(tokenizer, "train", train, text.sha256["train"], cache)
    assert reads.paths == [] and again.ids.filename == streamed.ids.filename
    np.testing.assert_array_equal(again.ids, expected.ids)


def test_damaged_or_other_encodings_are_not_reused(
    archive_spec: tuple[CorpusSpec, dict[str, bytes]], tmp_path: Path
) -> None:
    spec, _ = archive_spec
    train = load_corpus(spec.name, registry_of(spec), tmp_path / "data", progress=False).splits[
        "train"
    ]
    assert isinstance(train, ShardedLines)
    word = WordTokenizer(WordOptions())
    word.fit(train, tmp_path)
    first = encode_to_disk(word, "train", train, "sha-a", tmp_path / "tokenized")
    ids_path = Path(first.ids.filename)
    expected = np.array(first.ids)
    with open(ids_path, "r+b") as handle:  # a truncated file (say, a full disk) is rebuilt
        handle.truncate(8)
    rebuilt = encode_to_disk(word, "train", train, "sha-a", tmp_path / "tokenized")
    np.testing.assert_array_equal(rebuilt.ids, expected)
    assert json.loads((ids_path.parent / "meta.json").read_text())["counts"]["tokens"] == len(
        expected
    )
    # another text checksum or another vocabulary gets a folder of its own
    other_text = encode_to_disk(word, "train", train, "sha-b", tmp_path / "tokenized")
    smaller = WordTokenizer(WordOptions(max_size=5))
    smaller.fit(train, tmp_path)
    other_vocab = encode_to_disk(smaller, "train", train, "sha-a", tmp_path / "tokenized")
    folders = {Path(split.ids.filename).parent for split in (rebuilt, other_text, other_vocab)}
    assert len(folders) == 3


def memory_map(tmp_path: Path, ids: np.ndarray) -> np.memmap:
    path = tmp_path / "ids.int32"
    ids.astype("<i4").tofile(path)
    return np.memmap(path, dtype="<i4", mode="r", shape=ids.shape)


@pytest.mark.parametrize(
    "tokens, batch_size, bptt, max_windows",
    [
        (1000, 4, 8, None),
        (1003, 7, 35, None),
        (997, 1, 5, None),
        (500, 10, 6, 3),
        (24, 4, 10, None),
    ],
)
def test_windows_from_a_memory_map_equal_the_in_memory_windows(
    tmp_path: Path, tokens: int, batch_size: int, bptt: int, max_windows: int | None
) -> None:
    ids = np.random.default_rng(tokens).integers(0, 50, size=tokens)
    in_memory = TrainWindows(ids, batch_size, bptt, "cpu", max_windows)
    mapped = TrainWindows(memory_map(tmp_path, ids), batch_size, bptt, "cpu", max_windows)
    assert mapped.data is None and in_memory.data is not None  # nothing batchified up front
    assert len(mapped) == len(in_memory) > 0
    for start in range(len(in_memory) + 1):
        expected = list(in_memory.from_window(start))
        found = list(mapped.from_window(start))
        assert len(found) == len(expected) == len(in_memory) - start
        for (inputs, targets), (want_inputs, want_targets) in zip(found, expected, strict=True):
            assert inputs.dtype == want_inputs.dtype == torch.long
            assert torch.equal(inputs, want_inputs) and torch.equal(targets, want_targets)


def test_too_few_tokens_for_the_batch_fail_the_same_way(tmp_path: Path) -> None:
    ids = np.arange(7)
    for source in (ids, memory_map(tmp_path, ids)):
        with pytest.raises(
            BenchError,
            match=r"7 tokens are too few for batch size 4.*"
            "the largest batch size that fits is 3",
        ):
            TrainWindows(source, 4, 8, "cpu")


TINY_LSTM = [
    "--set",
    "layers=1",
    "--set",
    "hidden_size=16",
    "--set",
    "embedding_size=16",
    "--set",
    "epochs=1",
    "--set",
    "batch_size=4",
    "--set",
    "bptt=8",
    "--set",
    "max_steps_per_epoch=10",
    "--set",
    "lr=0.01",
]


def test_bench_run_on_the_streamed_corpus_equals_the_in_memory_run(
    isolated_paths: Path, tmp_path: Path
) -> None:
    """The registered entry, its files already in the cache, through the CLI; the same
    text as one local folder (one file per split) gives exactly the same numbers."""
    files = corpus_files(ONE_BILLION_WORD)
    data_dir = isolated_paths / "data"
    for split_file in ONE_BILLION_WORD.files:
        path = cached_path(ONE_BILLION_WORD, split_file, data_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(files[split_file.member or ""])
    folder = tmp_path / "whole"
    folder.mkdir()
    texts = {"train": b"", "valid": b"", "test": b""}
    for split_file in ONE_BILLION_WORD.files:
        texts[split_file.split] += files[split_file.member or ""]
    for split, data in texts.items():
        (folder / f"{split}.txt").write_bytes(data)

    def run(corpus: str) -> dict[str, object]:
        result = CliRunner().invoke(
            cli, ["run", "--plugin", "lstm", "--corpus", corpus, *TINY_LSTM], catch_exceptions=False
        )
        assert result.exit_code == 0, result.output
        run_id = re.search(r"bench show (\d+)", result.output).group(1)  # type: ignore[union-attr]
        return json.loads(CliRunner().invoke(cli, ["show", run_id, "--json"]).output)

    streamed, whole = run("one-billion-word"), run(str(folder))
    assert streamed["status"] == whole["status"] == "finished"
    assert streamed["corpus"] == "one-billion-word"
    assert list((data_dir / "tokenized").glob("*/ids.int32"))
    assert streamed["vocab_sha256"] == whole["vocab_sha256"]

    def numbers(record: dict[str, object]) -> dict[str, tuple[int, float]]:
        return {e["split"]: (e["tokens"], e["ppl"]) for e in record["evaluations"]}  # type: ignore

    assert numbers(streamed) == numbers(whole)
    assert streamed["train_tokens"] == whole["train_tokens"] > 0
