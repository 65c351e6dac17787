"""``load_corpus``: a registered name, or a local folder, as a checked :class:`CorpusText`.

The result holds the lines of train/valid/test plus the checksums a run records, so every
number in the database can be traced to the exact bytes it was measured on. A registered
corpus is read from its cache (fetched first when missing) or its embedded resource; a
local folder is read as it is and recognised as a registered corpus when its checksums
match one. Both go through one assembly step that checks every file's checksum and counts.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from bench.api.registry import Registry
from bench.corpora.blocks import checked_sha256
from bench.corpora.byte_splits import load_byte_splits
from bench.corpora.fetch import fetch
from bench.corpora.files import (
    cached_path,
    corpus_dir,
    embedded_bytes,
    final_name,
    trusted_sha256,
)
from bench.corpora.local_names import find_split_file, missing_split_message
from bench.corpora.shards import Shard, ShardedLines, StreamedSplit, stream_split
from bench.corpora.single_file import SPLIT_EVERY, lines_sha256, scan_single_file
from bench.corpora.spec import SPLITS, CorpusSpec, SplitFile
from bench.corpora.text import (
    check_counts,
    check_sha256,
    combine_sha256,
    decode_lines,
    read_file,
    sha256_bytes,
    sha256_file,
)
from bench.errors import BenchError, unknown_name_error


@dataclass(frozen=True)
class CorpusText:
    """The lines of each split, and the checksums that identify what was read.

    ``name`` is the registered name, or ``"local:<folder name>"`` for a folder that matches
    no registered corpus. ``source`` is ``"embedded"``, the cache folder or the local folder.
    ``sha256[split]`` is the sha256 of the file the split was read from; for a split made of
    several shards it is :func:`combine_sha256` of the shard checksums in order; for a split
    cut out of one file by ``line_splits`` or ``byte_splits`` it is that whole file's sha256
    (the ranges are part of the spec). ``verified`` is True when every file matched a registered checksum.
    A split is a list of lines, except the train split of a ``stream_train`` corpus, of a
    local folder and of a single text file: a :class:`~bench.corpora.shards.ShardedLines`
    that re-reads its files, a block at a time, on each iteration.
    """

    name: str
    spec: CorpusSpec | None
    source: str
    splits: dict[str, list[str] | ShardedLines]
    sha256: dict[str, str]
    verified: bool
    single_file: bool = False

    @property
    def default_tokenizer(self) -> str:
        """The registered corpus's own; ``char`` for a single text file (which is short,
        and often a list such as names, where words would be mostly unknown); else ``word``."""
        if self.spec is not None:
            return self.spec.default_tokenizer
        return "char" if self.single_file else "word"

    def describe_split(self) -> str | None:
        """The line a run prints about how a single file was split, or None."""
        if not self.single_file:
            return None
        sizes = {split: _line_count(self.splits[split]) for split in SPLITS}
        return (
            f"{self.source}: {sum(sizes.values()):,} lines split by line number "
            f"(of every {SPLIT_EVERY}, the next to last to valid and the last to test): "
            + ", ".join(f"{count:,} {split}" for split, count in sizes.items())
        )


def _line_count(lines: list[str] | ShardedLines) -> int:
    if isinstance(lines, list):
        return len(lines)
    if lines.line_count is None:
        raise ValueError(f"{lines!r}: the number of lines is not known")
    return lines.line_count


def load_corpus(
    name_or_path: str,
    corpora: Registry[CorpusSpec],
    data_dir: Path,
    *,
    download: bool = True,
    progress: bool = True,
) -> CorpusText:
    """A registered corpus (by name or alias) or a local folder, as lines per split.

    Registered names win over folders of the same name. A registered corpus that is not
    cached is fetched when ``download`` is True. A folder with train/valid/test files is
    read as it is, and recognised as a registered corpus when its checksums match one.
    """
    if name_or_path in corpora:
        return _load_registered(
            corpora.get(name_or_path), data_dir, download=download, progress=progress
        )
    folder = Path(name_or_path).expanduser()
    if folder.is_dir():
        return _load_local(folder, corpora)
    if folder.is_file():
        return _load_single_file(folder, corpora)
    if _looks_like_path(name_or_path):
        raise BenchError(f"no such file or folder: {folder}")
    known = [name for entry in corpora for name in (entry.name, *entry.aliases)]
    error = unknown_name_error("corpus", name_or_path, known)
    raise BenchError(
        f"{error} A text file, or a folder with train.txt, valid.txt and test.txt, also "
        "works as a corpus."
    )


def download_if_missing(
    name: str, corpora: Registry[CorpusSpec], data_dir: Path, *, progress: bool = True
) -> None:
    """Fetch registered corpus ``name`` when any of its files is not cached yet (nothing
    for an embedded corpus or a path). A run calls it before it records a row, so a
    failed download (offline) costs one error line, not a failed run."""
    if name not in corpora:
        return
    spec = corpora.get(name)
    if spec.embedded is None and not all(
        cached_path(spec, split_file, data_dir).is_file() for split_file in spec.files
    ):
        fetch(spec, data_dir, progress=progress)


def _looks_like_path(text: str) -> bool:
    separators = {os.sep, "/"} | ({os.altsep} if os.altsep else set())
    return any(sep in text for sep in separators) or text.startswith((".", "~"))


def _load_registered(
    spec: CorpusSpec, data_dir: Path, *, download: bool, progress: bool
) -> CorpusText:
    if spec.embedded is not None:
        label = f"embedded resource {spec.embedded}"
        contents = ((split_file, label, embedded_bytes(spec)) for split_file in spec.files)
        return _assemble(spec, contents, source="embedded")
    paths = [cached_path(spec, split_file, data_dir) for split_file in spec.files]
    missing = [path for path in paths if not path.is_file()]
    if missing and not download:
        raise BenchError(
            f"corpus {spec.name!r} is not downloaded ({missing[0]} is missing); "
            f"run `bench corpora fetch {spec.name}`"
        )
    if missing:
        fetch(spec, data_dir, progress=progress)
    trusted = trusted_sha256(spec, data_dir)  # files a verified archive vouched for
    files = [
        (
            replace(f, sha256=trusted[p.name][0]) if f.sha256 is None and p.name in trusted else f,
            p,
        )
        for f, p in zip(spec.files, paths, strict=True)
    ]
    if spec.byte_splits:
        return _load_byte_splits(spec, *files[0], source=str(corpus_dir(spec, data_dir)))
    streamed = None
    if spec.stream_train:  # left on disk: checksummed now, read shard by shard when used
        streamed = stream_split(spec, "train", [(f, p) for f, p in files if f.split == "train"])
        files = [(f, p) for f, p in files if f.split != "train"]
    contents = ((split_file, str(path), read_file(path)) for split_file, path in files)
    return _assemble(spec, contents, source=str(corpus_dir(spec, data_dir)), streamed=streamed)


def _load_byte_splits(
    spec: CorpusSpec, split_file: SplitFile, path: Path, *, source: str
) -> CorpusText:
    """enwik8, text8: one file, cut by byte offsets, never read whole: checksummed a chunk
    at a time, train left on disk (see :func:`load_byte_splits`); every split's checksum
    is the whole file's."""
    assert spec.byte_splits is not None
    digest = sha256_file(path)
    verified = check_sha256(spec.name, split_file, str(path), digest)
    splits = load_byte_splits(spec.name, spec.byte_splits, path, spec.expected_tokens)
    _require_splits(spec, splits)
    return CorpusText(
        name=spec.name,
        spec=spec,
        source=source,
        splits=splits,
        sha256=dict.fromkeys(splits, digest),
        verified=verified,
    )


# --------------------------------------------------------------------------- local folders


def _load_local(folder: Path, corpora: Registry[CorpusSpec]) -> CorpusText:
    """Read a folder of split files; name it after a registered corpus its checksums match."""
    folder = folder.resolve()
    files = {split: find_split_file(folder, split) for split in SPLITS}
    if all(path is None for path in files.values()):
        single = _single_file_corpus(folder, corpora)
        if single is not None:
            return single
    splits: dict[str, list[str] | ShardedLines] = {}
    sha: dict[str, str] = {}
    for split, path in files.items():
        if path is None:
            raise BenchError(missing_split_message(folder, split))
        if split == "train":  # left on disk, read in blocks when used: any size fits
            sha[split] = checked_sha256(path, str(path))
            splits[split] = ShardedLines([Shard(path)])
            continue
        data = read_file(path)
        sha[split] = sha256_bytes(data)
        splits[split] = decode_lines(data, str(path))
    spec = _recognise(sha, corpora)
    name = spec.name if spec is not None else f"local:{folder.name}"
    return CorpusText(
        name=name,
        spec=spec,
        source=str(folder),
        splits=splits,
        sha256=sha,
        verified=spec is not None,
    )


def _recognise(sha: dict[str, str], corpora: Registry[CorpusSpec]) -> CorpusSpec | None:
    """The registered corpus whose per-split checksums all equal ``sha``, if any."""
    for entry in corpora:
        if _split_checksums(entry.item) == sha:
            return entry.item
    return None


def _split_checksums(spec: CorpusSpec) -> dict[str, str] | None:
    """Per-split checksums of a multi-file corpus, or None when any is unknown."""
    if spec.line_splits or spec.byte_splits or spec.embedded:
        return None
    grouped: dict[str, list[str]] = {}
    for split_file in spec.files:
        if split_file.sha256 is None:
            return None
        grouped.setdefault(split_file.split, []).append(split_file.sha256)
    return {
        split: found[0] if len(found) == 1 else combine_sha256(found)
        for split, found in grouped.items()
    }


def _single_file_corpus(
    folder: Path, corpora: Registry[CorpusSpec], only: Path | None = None
) -> CorpusText | None:
    """A folder holding the one file of a single-file corpus (e.g. Tiny Shakespeare's input.txt).

    Only a file with the registered file's name is hashed (and only ``only``, when given),
    so a big unrelated folder costs nothing; it counts only when its checksum matches.
    """
    for entry in corpora:
        spec = entry.item
        if not spec.line_splits or len(spec.files) != 1 or spec.files[0].sha256 is None:
            continue
        split_file = spec.files[0]
        candidate = folder / final_name(split_file)
        if only is not None and candidate != only:
            continue
        if candidate.is_file() and sha256_file(candidate) == split_file.sha256:
            contents = [(split_file, str(candidate), read_file(candidate))]
            return _assemble(spec, contents, source=str(folder))
    return None


def _load_single_file(path: Path, corpora: Registry[CorpusSpec]) -> CorpusText:
    """One text file, cut by :func:`split_single_file`; a registered single-file corpus's
    own file (Tiny Shakespeare's input.txt) keeps that corpus's splits instead."""
    path = path.resolve()
    registered = _single_file_corpus(path.parent, corpora, only=path)
    if registered is not None:
        return registered
    scan = scan_single_file(path, str(path))
    train = ShardedLines(
        [Shard(path)], pick="train", line_count=scan.train_lines, file_lines=scan.lines
    )
    return CorpusText(
        name=f"local:{path.name}",
        spec=None,
        source=str(path),
        splits={"train": train, "valid": scan.valid, "test": scan.test},
        sha256={
            "train": scan.train_sha256,
            "valid": lines_sha256(scan.valid),
            "test": lines_sha256(scan.test),
            "file": scan.file_sha256,
        },
        verified=False,
        single_file=True,
    )


# --------------------------------------------------------------------------- assembly


def _assemble(
    spec: CorpusSpec,
    contents: Iterable[tuple[SplitFile, str, bytes]],
    *,
    source: str,
    streamed: StreamedSplit | None = None,
) -> CorpusText:
    """Check and decode each file of ``spec`` (one at a time) and build the splits.

    Every file must match its checksum (when one is recorded) and its line/token counts
    (when given): a silently different corpus would make every perplexity incomparable.
    ``streamed`` is a split already checksummed and left on disk (its files are not in
    ``contents``); its lines are checked against their counts as they are read.
    """
    lines: dict[str, list[str]] = {}
    digests: dict[str, list[str]] = {}
    verified = streamed is None or streamed.verified
    for split_file, label, data in contents:
        digest = sha256_bytes(data)
        verified = check_sha256(spec.name, split_file, label, digest) and verified
        file_lines = decode_lines(data, label)
        del data  # big shards: keep only the decoded lines alive
        check_counts(label, file_lines, split_file.lines, split_file.tokens)
        lines.setdefault(split_file.split, []).extend(file_lines)
        digests.setdefault(split_file.split, []).append(digest)
    sha = {
        split: found[0] if len(found) == 1 else combine_sha256(found)
        for split, found in digests.items()
    }
    if spec.line_splits:
        lines, sha = _cut_line_splits(spec, lines, sha)
    splits: dict[str, list[str] | ShardedLines] = dict(lines)
    if streamed is not None:
        splits[streamed.split] = streamed.lines
        sha[streamed.split] = streamed.sha256
    _require_splits(spec, splits)
    return CorpusText(
        name=spec.name, spec=spec, source=source, splits=splits, sha256=sha, verified=verified
    )


def _cut_line_splits(
    spec: CorpusSpec, lines: dict[str, list[str]], sha: dict[str, str]
) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Cut the one file of a single-file corpus into splits by ``spec.line_splits``."""
    assert spec.line_splits is not None
    if len(lines) != 1:
        raise BenchError(
            f"corpus {spec.name!r}: line_splits needs exactly one source split, got {sorted(lines)}"
        )
    ((whole_name, whole),) = lines.items()
    splits: dict[str, list[str]] = {}
    for split, (start, end) in spec.line_splits.items():
        if not 0 <= start < end <= len(whole):
            raise BenchError(
                f"corpus {spec.name!r}: split {split} covers lines {start}-{end} "
                f"but the file has {len(whole):,} lines"
            )
        splits[split] = whole[start:end]
        if split in spec.expected_tokens:
            check_counts(f"{spec.name} {split}", splits[split], None, spec.expected_tokens[split])
    return splits, {split: sha[whole_name] for split in splits}


def _require_splits(spec: CorpusSpec, lines: dict[str, list[str] | ShardedLines]) -> None:
    missing = [split for split in SPLITS if split not in lines]
    if missing:
        raise BenchError(
            f"corpus {spec.name!r} defines no {', '.join(missing)} split; "
            f"it has {', '.join(sorted(lines))}"
        )
