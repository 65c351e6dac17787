"""What a corpus is: a :class:`CorpusSpec` of :class:`SplitFile` entries, the
:class:`FileCheck` verify reports (the loaded text, :class:`CorpusText`, is in load.py).

A corpus is registered by a plugin as a :class:`CorpusSpec`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

SPLITS = ("train", "valid", "test")
CHECKSUM_KINDS = ("sha256", "sha1", "md5", "git-blob")


@dataclass(frozen=True)
class Checksum:
    """A checksum a third party published for a file, and where it published it.

    ``kind`` is the hash as published: sha256, sha1, md5, or git-blob (a git blob id: the
    sha1 of ``"blob <size>\\0"`` and the bytes, as a repository's tree lists a file).
    ``size`` is the file's length in bytes where the source gives it: a shorter file is
    reported as truncated rather than as a mismatch.
    """

    kind: str
    value: str
    source: str
    size: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in CHECKSUM_KINDS:
            raise ValueError(f"checksum kind {self.kind!r} is not one of {CHECKSUM_KINDS}")


@dataclass(frozen=True)
class SplitFile:
    """Where one file of a split comes from, and what it must look like once fetched.

    ``url`` is http(s) or file://. When ``member`` is set, ``url`` is an archive (.zip,
    .tar.gz, .tgz) and ``member`` the file's path inside it; a ``url`` ending in .gz
    (not .tar.gz) is gunzipped. ``sha256`` is the checksum of the final plain-text file;
    None means no trusted checksum is recorded (verify reports it as unverified).
    ``published`` is a third party's checksum of the same final file, checked as well.
    ``tokens`` counts whitespace tokens plus one end-of-sentence per line.
    """

    split: str
    url: str
    sha256: str | None
    member: str | None = None
    tokens: int | None = None
    lines: int | None = None
    bytes: int | None = None
    published: Checksum | None = None


# The units published figures count (CorpusSpec.figures_per)
FIGURES_PER = ("word", "character", "byte")


@dataclass(frozen=True)
class CorpusSpec:
    """A named corpus: its files, counts, licence and how it is split and tokenized.

    A corpus whose splits are separate files lists one SplitFile per split (several for a
    split that is sharded, read in order). A single-file corpus (Tiny Shakespeare) lists
    one file with split ``"all"`` and gives ``line_splits``: split -> (first line, end line).
    A single-file corpus cut by byte offsets instead (enwik8, text8: 90M / 5M / 5M bytes)
    gives ``byte_splits``: split -> (first byte, end byte); a cut that falls inside a UTF-8
    character moves forward to the character's end (see :mod:`bench.corpora.byte_splits`).
    ``embedded`` names a gzip resource inside the bench package, used instead of fetching.
    ``reference_names`` are the corpus names used by published reference rows.
    ``expected_tokens`` (split -> whitespace tokens + one per line) is checked on load for
    splits cut by ``line_splits``, whose SplitFile counts cover the whole file.
    ``stream_train`` keeps the train split on disk: it loads as a lazily read
    :class:`~bench.corpora.shards.ShardedLines` and is encoded into memory-mapped token ids
    (for corpora too big for memory, such as One Billion Word).
    ``archive_checksums`` maps an archive's URL to its published :class:`Checksum`: the
    archive is checked before anything is extracted, and the files extracted from a good
    one are trusted (their sha256 is recorded beside them) when they have no checksum of
    their own.
    ``figures_per`` is what the corpus's published figures count: ``"word"``, or
    ``"character"`` / ``"byte"`` for a corpus whose papers report bits per character
    (ptb-char, text8) or per byte (enwik8); its leaderboard then shows those bits, and
    a run's bits per token count as bits per character where its tokenizer is the
    corpus's ``default_tokenizer`` (or ``char``).
    """

    name: str
    description: str
    files: tuple[SplitFile, ...]
    license: str
    citation: str
    default_tokenizer: str = "word"
    aliases: tuple[str, ...] = ()
    line_splits: dict[str, tuple[int, int]] | None = None
    embedded: str | None = None
    reference_names: tuple[str, ...] = ()
    notes: str = ""
    expected_tokens: dict[str, int] = field(default_factory=dict)
    stream_train: bool = False
    archive_checksums: dict[str, Checksum] = field(default_factory=dict)
    byte_splits: dict[str, tuple[int, int]] | None = None
    figures_per: str = "word"

    def __post_init__(self) -> None:
        if self.figures_per not in FIGURES_PER:
            raise ValueError(
                f"corpus {self.name}: figures_per must be one of {', '.join(FIGURES_PER)}, "
                f"not {self.figures_per!r}"
            )
        if self.byte_splits and (self.line_splits or self.stream_train or len(self.files) != 1):
            raise ValueError(
                f"corpus {self.name!r}: byte_splits cut one file, without line_splits or "
                "stream_train"
            )
        if self.stream_train and (self.line_splits or self.embedded):
            raise ValueError(
                f"corpus {self.name!r}: stream_train needs a train split of its "
                "own files (not line_splits or an embedded resource)"
            )


@dataclass(frozen=True)
class FileCheck:
    """The state of one file of a corpus, as ``bench corpora verify`` reports it.

    ``status`` is "ok" (checksum matches), "missing" (not downloaded), "mismatch" (present
    but different bytes) or "unverified" (present, but no trusted checksum is recorded).
    """

    split: str
    path: Path
    status: str
    expected_sha256: str | None
    actual_sha256: str | None
    detail: str
