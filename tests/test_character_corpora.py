"""enwik8 and text8: registered with their published checksums and the 90M/5M/5M byte
split, fetched from a zip holding one member, cut by byte offsets, listed with licence
and citation. Offline: small zips of the same layout stand in for Mahoney's."""

from __future__ import annotations

import dataclasses
import hashlib
import zipfile
from pathlib import Path

import pytest

from bench.api.registry import Registry
from bench.corpora import (
    Checksum,
    CorpusSpec,
    ShardedLines,
    describe,
    fetch,
    load_corpus,
    verify,
)
from bench.corpora.byte_splits import character_start, whole_characters_end
from bench.errors import BenchError
from bench_plugins.mahoney_corpora import ENWIK8, TEXT8, enwik8, text8

STANDARD = {"train": (0, 90_000_000), "valid": (90_000_000, 95_000_000)}
STANDARD["test"] = (95_000_000, 100_000_000)


def test_the_registered_entries_are_the_standard_split_and_published_checksums() -> None:
    for spec in (ENWIK8, TEXT8):
        assert spec.byte_splits == STANDARD and spec.default_tokenizer == "char"
        (only,) = spec.files
        assert only.member == spec.name and only.url.endswith(f"mattmahoney.net/dc/{spec.name}.zip")
        assert only.published is not None and only.published.size == 100_000_000
        assert "mattmahoney.net/dc/textdata.html" in spec.citation
        assert "Wikipedia" in spec.license
    # Mahoney's own MD5 of enwik8 (textdata.html); GluonNLP's SHA-1 of text8
    assert ENWIK8.files[0].published == Checksum(
        "md5",
        "a1fa5ffddb56f4953e226637dabbb36a",
        ENWIK8.files[0].published.source,  # type: ignore[union-attr]
        size=100_000_000,
    )
    assert TEXT8.files[0].published.kind == "sha1"  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="byte_splits cut one file"):
        dataclasses.replace(ENWIK8, line_splits={"train": (0, 1)})


def small_copy(
    spec: CorpusSpec, tmp_path: Path, data: bytes, splits: dict[str, tuple[int, int]]
) -> CorpusSpec:
    """``spec`` fetched from a file:// zip holding ``data`` as its one member, with the
    zip's member checked by its true MD5, cut by ``splits``."""
    archive = tmp_path / "src" / f"{spec.name}.zip"
    archive.parent.mkdir(exist_ok=True)
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr(spec.name, data)
    small = (enwik8 if spec.name == "enwik8" else text8)(archive.as_uri())
    (only,) = small.files
    checksum = Checksum("md5", hashlib.md5(data).hexdigest(), "the test", size=len(data))
    files = (dataclasses.replace(only, published=checksum, bytes=len(data)),)
    return dataclasses.replace(small, files=files, byte_splits=splits)


def whole_lines(split: list[str] | ShardedLines) -> list[str]:
    """The lines of a split; a streamed one's pieces of a line joined again."""
    if isinstance(split, list):
        return split
    lines: list[str] = []
    goes_on = False
    for piece, next_goes_on in split.pieces():
        if goes_on and piece:
            lines[-1] += piece[0]
            piece = piece[1:]
        lines.extend(piece)
        goes_on = next_goes_on
    return lines


def registry_of(spec: CorpusSpec) -> Registry[CorpusSpec]:
    registry: Registry[CorpusSpec] = Registry("corpus")
    registry.add(spec.name, spec, plugin="test", aliases=spec.aliases)
    return registry


def test_text8_is_cut_by_characters_from_its_zip(tmp_path: Path) -> None:
    data = b" anarchism originated as a term of abuse" * 25  # one line, 1,000 bytes
    spec = small_copy(TEXT8, tmp_path, data, {"train": (0, 900), "valid": (900, 950)})
    spec = dataclasses.replace(spec, byte_splits={**spec.byte_splits, "test": (950, 1000)})  # type: ignore[dict-item]
    text = load_corpus("text8", registry_of(spec), tmp_path / "data", progress=False)
    assert isinstance(text.splits["train"], ShardedLines)  # left on disk
    assert {split: whole_lines(lines) for split, lines in text.splits.items()} == {
        "train": [data[:900].decode()],
        "valid": [data[900:950].decode()],
        "test": [data[950:].decode()],
    }
    whole = hashlib.sha256(data).hexdigest()
    assert text.sha256 == {"train": whole, "valid": whole, "test": whole}
    assert [check.status for check in verify(spec, tmp_path / "data")] == ["ok"]
    counted = describe(spec, tmp_path / "data")
    assert counted["tokens"] == {"train": 901, "valid": 51, "test": 51}  # chars + one eos
    assert counted["tokens_source"] == "counted"


def test_enwik8_cuts_never_split_a_character(tmp_path: Path) -> None:
    lines = ["<page>", "  <title>Caf\u00e9 \u4e2d\u6587</title>", "  <text>\u00fcber</text>"]
    data = ("\n".join(lines * 6) + "\n").encode() + "tail \u4e2d".encode()[:-1]
    cut = data.index("\u4e2d".encode()) + 1  # the second byte of a three-byte character
    splits = {"train": (0, cut), "valid": (cut, cut + 40), "test": (cut + 40, len(data))}
    spec = small_copy(ENWIK8, tmp_path, data, splits)
    text = load_corpus("enwik8", registry_of(spec), tmp_path / "data", progress=False)
    joined = {split: "\n".join(whole_lines(lines)) for split, lines in text.splits.items()}
    # the character the cut fell into is whole, in train; the file's cut-short end is dropped
    assert joined["train"].endswith("Caf\u00e9 \u4e2d")
    assert joined["valid"].startswith("\u6587</title>")
    assert joined["test"].endswith("tail ") and "\ufffd" not in "".join(joined.values())
    rebuilt = "\n".join(joined[s] for s in ("train", "valid", "test"))
    assert rebuilt.replace("\n", "") == data[: whole_characters_end(data)].decode().replace(
        "\n", ""
    )
    assert character_start(data, cut) == cut + 2 and whole_characters_end(data) == len(data) - 2


def test_a_damaged_download_or_a_short_file_is_refused(tmp_path: Path) -> None:
    data = b"x" * 100 + b"\n"
    spec = small_copy(TEXT8, tmp_path, data, {"train": (0, 80), "valid": (80, 90)})
    spec = dataclasses.replace(spec, byte_splits={**spec.byte_splits, "test": (90, 200)})  # type: ignore[dict-item]
    with pytest.raises(BenchError, match=r"covers bytes 90-200 but the file has 101 bytes"):
        load_corpus("text8", registry_of(spec), tmp_path / "data", progress=False)
    (only,) = spec.files
    wrong = Checksum("md5", "0" * 32, "the test", size=len(data))
    damaged = dataclasses.replace(spec, files=(dataclasses.replace(only, published=wrong),))
    with pytest.raises(BenchError, match=r"md5"):
        fetch(damaged, tmp_path / "other", progress=False)
