"""Corpus specs and loading: fetch, verify, cache, or read a local folder.

A corpus is registered by a plugin as a :class:`CorpusSpec`. ``fetch`` downloads its files
into ``<data_dir>/corpora/<name>/`` (checking sha256), ``verify`` re-checks what is there,
and ``load_corpus`` turns a registered name, or a local folder, into a :class:`CorpusText`:
the lines of train/valid/test plus the checksums a run records, so every number in the
database can be traced to the exact bytes it was measured on.

Every file is turned into lines by one rule, :func:`split_lines`, so token counts are the
same whichever way the text arrived (embedded, downloaded or a local folder).
"""

from __future__ import annotations

import difflib
import gzip
import hashlib
import http.client
import importlib.resources
import os
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import IO, BinaryIO

from tqdm import tqdm

from bench.errors import BenchError, unknown_name_error
from bench.registry import Registry

SPLITS = ("train", "valid", "test")

CHUNK = 1 << 20  # bytes per read while downloading, hashing and extracting
TIMEOUT_S = 60  # per socket operation; a dead server fails instead of hanging forever
DOWNLOADS = "downloads"  # archives are kept here so re-fetching a member needs no download


@dataclass(frozen=True)
class SplitFile:
    """Where one file of a split comes from, and what it must look like once fetched.

    ``url`` is http(s) or file://. When ``member`` is set, ``url`` is an archive (.zip,
    .tar.gz, .tgz) and ``member`` the file's path inside it; a ``url`` ending in .gz
    (not .tar.gz) is gunzipped. ``sha256`` is the checksum of the final plain-text file;
    None means no trusted checksum is recorded (verify reports it as unverified).
    ``tokens`` counts whitespace tokens plus one end-of-sentence per line.
    """

    split: str
    url: str
    sha256: str | None
    member: str | None = None
    tokens: int | None = None
    lines: int | None = None
    bytes: int | None = None


@dataclass(frozen=True)
class CorpusSpec:
    """A named corpus: its files, counts, licence and how it is split and tokenized.

    A corpus whose splits are separate files lists one SplitFile per split (several for a
    split that is sharded, read in order). A single-file corpus (Tiny Shakespeare) lists
    one file with split ``"all"`` and gives ``line_splits``: split -> (first line, end line).
    ``embedded`` names a gzip resource inside the bench package, used instead of fetching.
    ``reference_names`` are the corpus names used by published reference rows.
    ``expected_tokens`` (split -> whitespace tokens + one per line) is checked on load for
    splits cut by ``line_splits``, whose SplitFile counts cover the whole file.
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


@dataclass(frozen=True)
class CorpusText:
    """The lines of each split, and the checksums that identify what was read.

    ``name`` is the registered name, or ``"local:<folder name>"`` for a folder that matches
    no registered corpus. ``source`` is ``"embedded"``, the cache folder or the local folder.
    ``sha256[split]`` is the sha256 of the file the split was read from; for a split made of
    several shards it is :func:`combine_sha256` of the shard checksums in order; for a split
    cut out of one file by ``line_splits`` it is that whole file's sha256 (the line ranges
    are part of the spec). ``verified`` is True when every file matched a registered checksum.
    """

    name: str
    spec: CorpusSpec | None
    source: str
    splits: dict[str, list[str]]
    sha256: dict[str, str]
    verified: bool

    @property
    def default_tokenizer(self) -> str:
        return self.spec.default_tokenizer if self.spec is not None else "word"


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


# --------------------------------------------------------------------------- lines


def split_lines(text: str) -> list[str]:
    """Split decoded text into lines, by the one rule every corpus goes through.

    Split on "\\n"; strip one trailing "\\r" per line (CRLF files give the same lines);
    drop the final fragment after the last "\\n" when it is whitespace-only: "" for a file
    ending in a newline, " " for the ptb-char files, which end in "\\n ". A blank line in
    the middle stays: it is a line with zero words and still gets its end-of-sentence.
    A leading UTF-8 byte-order mark is dropped so it cannot glue itself to the first word.
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.split("\n")
    if lines and not lines[-1].strip():
        lines.pop()
    if "\r" in text:
        lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    return lines


def decode_lines(data: bytes, label: str) -> list[str]:
    """Decode a file's bytes as UTF-8 text and split them with :func:`split_lines`.

    Raises BenchError naming ``label`` for binary data (NUL bytes), bytes that are not
    UTF-8, and text that is empty or only whitespace, since any of those would otherwise
    surface much later as a baffling tokenizer or perplexity error.
    """
    if b"\x00" in data:
        raise BenchError(f"{label}: not a text file (it contains NUL bytes)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BenchError(
            f"{label}: not a text file (not UTF-8: byte 0x{data[error.start]:02x} "
            f"at offset {error.start})"
        ) from None
    if not text.strip():
        raise BenchError(f"{label}: split is empty (no text in the file)")
    return split_lines(text)


def read_lines(path: str | os.PathLike[str]) -> list[str]:
    """The lines of a UTF-8 text file, by the rule of :func:`split_lines`.

    Raises BenchError with the path for a missing file, a directory, an empty (or
    whitespace-only) file and a file that is not UTF-8 text.
    """
    return decode_lines(_read_file(Path(path)), str(path))


def count_tokens(lines: Iterable[str]) -> int:
    """Whitespace tokens plus one end-of-sentence per line (the published convention)."""
    total = 0
    for line in lines:
        total += len(line.split()) + 1
    return total


def _read_file(path: Path) -> bytes:
    if path.is_dir():
        raise BenchError(f"{path}: is a folder, not a text file")
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise BenchError(f"{path}: no such file") from None
    except OSError as error:
        raise BenchError(f"{path}: cannot read it ({error.strerror or error})") from None


# --------------------------------------------------------------------------- checksums


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """sha256 of a file, read in chunks so multi-gigabyte shards need no memory."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def combine_sha256(digests: Iterable[str]) -> str:
    """One checksum for a sharded split: sha256 of each shard's hex digest plus "\\n", in order.

    A single-file split keeps its own file checksum instead, so it can be compared with
    ``sha256sum`` output directly.
    """
    return sha256_bytes("".join(f"{digest}\n" for digest in digests).encode("ascii"))


# --------------------------------------------------------------------------- where files live


def corpus_dir(spec: CorpusSpec, data_dir: Path) -> Path:
    """The cache folder of a registered corpus: ``<data_dir>/corpora/<name>``."""
    return Path(data_dir) / "corpora" / spec.name


def cached_path(spec: CorpusSpec, split_file: SplitFile, data_dir: Path) -> Path:
    """Where the final plain-text file of ``split_file`` lives once fetched."""
    return corpus_dir(spec, data_dir) / _final_name(split_file)


def _final_name(split_file: SplitFile) -> str:
    if split_file.member is not None:
        return _basename(split_file.member)
    name = _url_basename(split_file.url)
    return name[: -len(".gz")] if _is_plain_gzip(split_file.url) else name


def _basename(member: str) -> str:
    return member.rstrip("/").rsplit("/", 1)[-1]


def _url_basename(url: str) -> str:
    return _basename(urllib.parse.unquote(urllib.parse.urlparse(url).path)) or "download"


def _is_plain_gzip(url: str) -> bool:
    path = urllib.parse.urlparse(url).path.lower()
    return path.endswith(".gz") and not path.endswith(".tar.gz")


def _embedded_resource(spec: CorpusSpec) -> Traversable:
    assert spec.embedded is not None
    resource = importlib.resources.files("bench") / "resources" / spec.embedded
    if not resource.is_file():
        raise BenchError(
            f"corpus {spec.name!r}: the embedded resource {spec.embedded} is missing from "
            "this bench installation; reinstall bench"
        )
    return resource


def _embedded_bytes(spec: CorpusSpec) -> bytes:
    """The decompressed text of an embedded corpus (a gzip resource inside the package)."""
    resource = _embedded_resource(spec)
    try:
        return gzip.decompress(resource.read_bytes())
    except (OSError, EOFError) as error:
        raise BenchError(f"embedded resource {spec.embedded} is damaged ({error})") from None


def _resource_path(spec: CorpusSpec) -> Path:
    return Path(str(_embedded_resource(spec)))


# --------------------------------------------------------------------------- fetch


def fetch(
    spec: CorpusSpec, data_dir: Path, *, force: bool = False, progress: bool = True
) -> dict[str, list[Path]]:
    """Download and verify every file of ``spec``; return split -> final paths, in order.

    Unless ``force``, a file already present is kept when its checksum is good (or when no
    checksum is recorded); one with a bad checksum is deleted and fetched again. Archives are
    downloaded once per call and kept in ``<corpus dir>/downloads/`` so that a later fetch
    extracts from them instead of downloading again. Embedded corpora need nothing: the
    path of their packaged resource is returned.
    """
    if spec.embedded is not None:
        path = _resource_path(spec)
        return {split_file.split: [path] for split_file in spec.files}
    paths: dict[str, list[Path]] = {}
    pending: list[SplitFile] = []
    for split_file in spec.files:
        path = cached_path(spec, split_file, data_dir)
        paths.setdefault(split_file.split, []).append(path)
        if force or not _is_good(path, split_file):
            pending.append(split_file)
    _fetch_pending(spec, data_dir, pending, force=force, progress=progress)
    return paths


def _is_good(path: Path, split_file: SplitFile) -> bool:
    """Whether a cached file can be kept; a present but corrupt one is deleted on the spot."""
    if not path.is_file():
        return False
    if split_file.sha256 is None or sha256_file(path) == split_file.sha256:
        return True
    path.unlink()
    return False


def _fetch_pending(spec: CorpusSpec, data_dir: Path, pending: list[SplitFile], *,
                   force: bool, progress: bool) -> None:
    target = corpus_dir(spec, data_dir)
    archives: dict[str, list[SplitFile]] = {}
    for split_file in pending:
        if split_file.member is None:
            _fetch_plain(split_file, target, progress=progress)
        else:
            archives.setdefault(split_file.url, []).append(split_file)
    for url, members in archives.items():  # grouped: one download and one pass per archive
        archive = _get_archive(url, target / DOWNLOADS, force=force, progress=progress)
        _extract_members(archive, members, target)


def _fetch_plain(split_file: SplitFile, target: Path, *, progress: bool) -> None:
    """Download a plain (optionally gzipped) file, verify it and move it into place."""
    final = target / _final_name(split_file)
    downloaded = _download(split_file.url, target, progress=progress)
    try:
        if _is_plain_gzip(split_file.url):
            temp, digest = _gunzip(downloaded, target, final.name, split_file.url)
        else:
            temp, digest = downloaded, sha256_file(downloaded)
        _install(temp, final, digest, split_file.sha256)
    finally:
        downloaded.unlink(missing_ok=True)


def _gunzip(path: Path, folder: Path, final_name: str, url: str) -> tuple[Path, str]:
    try:
        with gzip.open(path, "rb") as source:
            return _write_temp(source, folder, final_name)
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise BenchError(f"{url}: not a valid gzip file ({error or 'truncated'})") from None


def _get_archive(url: str, downloads: Path, *, force: bool, progress: bool) -> Path:
    """The archive at ``url``, downloaded into ``downloads`` unless already there."""
    archive = downloads / _url_basename(url)
    if force or not archive.is_file():
        temp = _download(url, downloads, progress=progress)
        os.replace(temp, archive)
    return archive


def _extract_members(archive: Path, members: list[SplitFile], target: Path) -> None:
    """Extract, verify and install the wanted members, reading the archive only once."""
    wanted = {_normalise_member(split_file.member or ""): split_file for split_file in members}
    found: list[str] = []
    try:
        for name, source in _iter_archive(archive, set(wanted)):
            split_file = wanted[name]
            final = target / _final_name(split_file)
            temp, digest = _write_temp(source, target, final.name)
            _install(temp, final, digest, split_file.sha256, archive=archive)
            found.append(name)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, gzip.BadGzipFile,
            zlib.error) as error:
        archive.unlink(missing_ok=True)  # useless now; the next fetch downloads it afresh
        raise BenchError(
            f"{archive}: the archive is damaged or incomplete ({error}); it was deleted, "
            "fetch again to download it afresh"
        ) from None
    missing = [name for name in wanted if name not in found]
    if missing:
        raise BenchError(_missing_member_message(archive, missing[0]))


def _normalise_member(name: str) -> str:
    """Archive member names with and without a leading "./" are the same file."""
    while name.startswith("./"):
        name = name[2:]
    return name


def _iter_archive(archive: Path, names: set[str]) -> Iterator[tuple[str, IO[bytes]]]:
    """Yield (normalised name, readable stream) for each wanted member, in archive order.

    The type is told from the content, not the file name. Tar archives are read as a
    stream, so a multi-gigabyte .tar.gz (One Billion Word) is decompressed once in all.
    """
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as bundle:
            for info in bundle.infolist():
                name = _normalise_member(info.filename)
                if name in names and not info.is_dir():
                    with bundle.open(info) as source:
                        yield name, source
        return
    with tarfile.open(archive, "r|*") as bundle:
        for info in bundle:
            name = _normalise_member(info.name)
            if name in names and info.isfile():
                source = bundle.extractfile(info)
                if source is not None:
                    yield name, source


def _missing_member_message(archive: Path, member: str) -> str:
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as bundle:
                present = [_normalise_member(name) for name in bundle.namelist()]
        else:
            with tarfile.open(archive, "r:*") as bundle:
                present = [_normalise_member(name) for name in bundle.getnames()]
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError):
        present = []
    close = difflib.get_close_matches(member, present, n=3, cutoff=0.5)
    hint = f" Close: {', '.join(close)}." if close else ""
    return f"{archive}: the archive has no member {member!r}.{hint}"


def _write_temp(source: IO[bytes], folder: Path, final_name: str) -> tuple[Path, str]:
    """Copy a stream into a new temp file next to its final place; return it and its sha256."""
    digest = hashlib.sha256()
    handle, temp_name = tempfile.mkstemp(dir=folder, prefix=f".{final_name}.", suffix=".part")
    temp = Path(temp_name)
    try:
        with os.fdopen(handle, "wb") as out:
            while chunk := source.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp, digest.hexdigest()


def _install(temp: Path, final: Path, actual: str, expected: str | None, *,
             archive: Path | None = None) -> None:
    """Move a verified temp file to its final name; delete it and fail on a bad checksum.

    os.replace within one folder is atomic, so the final path only ever holds a whole,
    verified file, even if bench is killed mid-download.
    """
    if expected is not None and actual != expected:
        temp.unlink(missing_ok=True)
        where = f" (extracted from {archive}; delete that archive to download it again)" \
            if archive is not None else ""
        raise BenchError(
            f"checksum mismatch for {final.name}{where}: expected sha256 {expected}, "
            f"got {actual}. The file was deleted."
        )
    os.replace(temp, final)


def _download(url: str, folder: Path, *, progress: bool) -> Path:
    """Download ``url`` (http, https or file://) into a new temp file in ``folder``.

    Network trouble becomes a BenchError that says how to go on without the network.
    """
    folder.mkdir(parents=True, exist_ok=True)
    label = _url_basename(url)
    handle, temp_name = tempfile.mkstemp(dir=folder, prefix=f".{label}.", suffix=".part")
    temp = Path(temp_name)
    try:
        with os.fdopen(handle, "wb") as out:
            _copy_url(url, out, label=label, progress=progress)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


def _copy_url(url: str, out: BinaryIO, *, label: str, progress: bool) -> None:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            total = _content_length(response)
            with _progress_bar(total, label, progress) as bar:
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    bar.update(len(chunk))
    except ValueError as error:  # urllib's answer to a string that is not a URL
        raise BenchError(f"cannot download {url!r}: {error}") from None
    except (urllib.error.URLError, http.client.HTTPException, TimeoutError,
            ConnectionError) as error:
        raise BenchError(_download_failed_message(url, error)) from None


def _download_failed_message(url: str, error: BaseException) -> str:
    if isinstance(error, urllib.error.HTTPError):
        reason: object = f"HTTP {error.code} {error.reason}"
    else:
        reason = getattr(error, "reason", None) or error
    return (
        f"download of {url} failed ({reason}). The machine may be offline. "
        "`--corpus PATH` also accepts a local folder with train.txt, valid.txt and test.txt."
    )


def _content_length(response: object) -> int | None:
    length = getattr(response, "headers", {}).get("Content-Length")
    return int(length) if length and length.isdigit() else None


def _progress_bar(total: int | None, label: str, progress: bool) -> tqdm:
    """A byte counter on stderr, silent when asked or when stderr is not a terminal."""
    return tqdm(total=total, desc=label, unit="B", unit_scale=True, unit_divisor=1024,
                file=sys.stderr, leave=False, disable=not progress or not sys.stderr.isatty())


# --------------------------------------------------------------------------- verify


def verify(spec: CorpusSpec, data_dir: Path) -> list[FileCheck]:
    """Check every file of ``spec`` against its recorded sha256, without downloading."""
    if spec.embedded is not None:
        return [_verify_embedded(spec, split_file) for split_file in spec.files]
    return [_verify_cached(spec, split_file, data_dir) for split_file in spec.files]


def _verify_embedded(spec: CorpusSpec, split_file: SplitFile) -> FileCheck:
    try:
        path = _resource_path(spec)
        actual = sha256_bytes(_embedded_bytes(spec))
    except BenchError as error:
        return FileCheck(split_file.split, Path(spec.embedded or ""), "missing",
                         split_file.sha256, None, str(error))
    return _check(split_file, path, actual)


def _verify_cached(spec: CorpusSpec, split_file: SplitFile, data_dir: Path) -> FileCheck:
    path = cached_path(spec, split_file, data_dir)
    if not path.is_file():
        return FileCheck(split_file.split, path, "missing", split_file.sha256, None,
                         f"not downloaded; run `bench corpora fetch {spec.name}`")
    return _check(split_file, path, sha256_file(path))


def _check(split_file: SplitFile, path: Path, actual: str) -> FileCheck:
    expected = split_file.sha256
    if expected is None:
        status, detail = "unverified", "no trusted checksum is recorded for this file"
    elif actual == expected:
        status, detail = "ok", "sha256 matches"
    else:
        status, detail = "mismatch", f"expected sha256 {expected}, got {actual}"
    return FileCheck(split_file.split, path, status, expected, actual, detail)


# --------------------------------------------------------------------------- load


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
        return _load_registered(corpora.get(name_or_path), data_dir,
                                download=download, progress=progress)
    folder = Path(name_or_path).expanduser()
    if folder.is_dir():
        return _load_local(folder, corpora)
    if _looks_like_path(name_or_path):
        if folder.exists():
            raise BenchError(f"{folder}: is a file; a corpus path must be a folder holding "
                             "train.txt, valid.txt and test.txt")
        raise BenchError(f"no such folder: {folder}")
    known = [name for entry in corpora for name in (entry.name, *entry.aliases)]
    error = unknown_name_error("corpus", name_or_path, known)
    raise BenchError(f"{error} A local folder with train.txt, valid.txt and test.txt "
                     "also works as a corpus.")


def _looks_like_path(text: str) -> bool:
    separators = {os.sep, "/"} | ({os.altsep} if os.altsep else set())
    return any(sep in text for sep in separators) or text.startswith((".", "~"))


def _load_registered(spec: CorpusSpec, data_dir: Path, *, download: bool,
                     progress: bool) -> CorpusText:
    if spec.embedded is not None:
        label = f"embedded resource {spec.embedded}"
        contents = ((split_file, label, _embedded_bytes(spec)) for split_file in spec.files)
        return _assemble(spec, contents, source="embedded")
    paths = [cached_path(spec, split_file, data_dir) for split_file in spec.files]
    missing = [path for path in paths if not path.is_file()]
    if missing and not download:
        raise BenchError(f"corpus {spec.name!r} is not downloaded ({missing[0]} is missing); "
                         f"run `bench corpora fetch {spec.name}`")
    if missing:
        fetch(spec, data_dir, progress=progress)
    contents = ((split_file, str(path), _read_file(path))
                for split_file, path in zip(spec.files, paths, strict=True))
    return _assemble(spec, contents, source=str(corpus_dir(spec, data_dir)))


def _assemble(spec: CorpusSpec, contents: Iterable[tuple[SplitFile, str, bytes]], *,
              source: str) -> CorpusText:
    """Check and decode each file of ``spec`` (one at a time) and build the splits.

    Every file must match its checksum (when one is recorded) and its line/token counts
    (when given): a silently different corpus would make every perplexity incomparable.
    """
    lines: dict[str, list[str]] = {}
    digests: dict[str, list[str]] = {}
    verified = True
    for split_file, label, data in contents:
        digest = sha256_bytes(data)
        if split_file.sha256 is None:
            verified = False
        elif digest != split_file.sha256:
            raise BenchError(
                f"{label}: checksum mismatch for corpus {spec.name!r}: expected sha256 "
                f"{split_file.sha256}, got {digest}. Run `bench corpora fetch {spec.name}` "
                "to download it again."
            )
        file_lines = decode_lines(data, label)
        del data  # big shards: keep only the decoded lines alive
        _check_counts(label, file_lines, split_file.lines, split_file.tokens)
        lines.setdefault(split_file.split, []).extend(file_lines)
        digests.setdefault(split_file.split, []).append(digest)
    sha = {split: found[0] if len(found) == 1 else combine_sha256(found)
           for split, found in digests.items()}
    if spec.line_splits:
        lines, sha = _cut_line_splits(spec, lines, sha)
    _require_splits(spec, lines)
    return CorpusText(name=spec.name, spec=spec, source=source, splits=lines, sha256=sha,
                      verified=verified)


def _check_counts(label: str, lines: list[str], want_lines: int | None,
                  want_tokens: int | None) -> None:
    if want_lines is not None and len(lines) != want_lines:
        raise BenchError(f"{label}: expected {want_lines:,} lines, found {len(lines):,}; "
                         "this is not the expected version of the file")
    if want_tokens is not None:
        found = count_tokens(lines)
        if found != want_tokens:
            raise BenchError(
                f"{label}: expected {want_tokens:,} tokens (whitespace tokens + one per "
                f"line), found {found:,}; this is not the expected version of the file"
            )


def _cut_line_splits(spec: CorpusSpec, lines: dict[str, list[str]],
                     sha: dict[str, str]) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Cut the one file of a single-file corpus into splits by ``spec.line_splits``."""
    assert spec.line_splits is not None
    if len(lines) != 1:
        raise BenchError(f"corpus {spec.name!r}: line_splits needs exactly one source split, "
                         f"got {sorted(lines)}")
    (whole_name, whole), = lines.items()
    splits: dict[str, list[str]] = {}
    for split, (start, end) in spec.line_splits.items():
        if not 0 <= start < end <= len(whole):
            raise BenchError(f"corpus {spec.name!r}: split {split} covers lines {start}-{end} "
                             f"but the file has {len(whole):,} lines")
        splits[split] = whole[start:end]
        if split in spec.expected_tokens:
            _check_counts(f"{spec.name} {split}", splits[split], None,
                          spec.expected_tokens[split])
    return splits, {split: sha[whole_name] for split in splits}


def _require_splits(spec: CorpusSpec, lines: dict[str, list[str]]) -> None:
    missing = [split for split in SPLITS if split not in lines]
    if missing:
        raise BenchError(f"corpus {spec.name!r} defines no {', '.join(missing)} split; "
                         f"it has {', '.join(sorted(lines))}")


# --------------------------------------------------------------------------- local folders


def accepted_names(split: str) -> tuple[str, ...]:
    """File names a local folder may use for ``split``, in the order they are looked for."""
    names = (f"{split}.txt", f"ptb.{split}.txt", f"wiki.{split}.tokens")
    return names + (("validation.txt", "dev.txt") if split == "valid" else ())


def _load_local(folder: Path, corpora: Registry[CorpusSpec]) -> CorpusText:
    """Read a folder of split files; name it after a registered corpus its checksums match."""
    folder = folder.resolve()
    files = {split: _find_split_file(folder, split) for split in SPLITS}
    if all(path is None for path in files.values()):
        single = _single_file_corpus(folder, corpora)
        if single is not None:
            return single
    splits: dict[str, list[str]] = {}
    sha: dict[str, str] = {}
    for split, path in files.items():
        if path is None:
            raise BenchError(_missing_split_message(folder, split))
        data = _read_file(path)
        sha[split] = sha256_bytes(data)
        splits[split] = decode_lines(data, str(path))
    spec = _recognise(sha, corpora)
    name = spec.name if spec is not None else f"local:{folder.name}"
    return CorpusText(name=name, spec=spec, source=str(folder), splits=splits, sha256=sha,
                      verified=spec is not None)


def _find_split_file(folder: Path, split: str) -> Path | None:
    found = [folder / name for name in accepted_names(split) if (folder / name).is_file()]
    if len(found) > 1:  # picking one silently could measure the wrong file
        raise BenchError(f"{folder}: several files could be the {split} split "
                         f"({', '.join(path.name for path in found)}); keep only one")
    return found[0] if found else None


def _missing_split_message(folder: Path, split: str) -> str:
    present = sorted(path.name for path in folder.iterdir())
    shown = ", ".join(present[:20]) + (", ..." if len(present) > 20 else "")
    return (f"{folder}: no {split} split; expected one of {', '.join(accepted_names(split))}. "
            f"The folder contains: {shown or 'nothing'}")


def _recognise(sha: dict[str, str], corpora: Registry[CorpusSpec]) -> CorpusSpec | None:
    """The registered corpus whose per-split checksums all equal ``sha``, if any."""
    for entry in corpora:
        if _split_checksums(entry.item) == sha:
            return entry.item
    return None


def _split_checksums(spec: CorpusSpec) -> dict[str, str] | None:
    """Per-split checksums of a multi-file corpus, or None when any is unknown."""
    if spec.line_splits or spec.embedded:
        return None
    grouped: dict[str, list[str]] = {}
    for split_file in spec.files:
        if split_file.sha256 is None:
            return None
        grouped.setdefault(split_file.split, []).append(split_file.sha256)
    return {split: found[0] if len(found) == 1 else combine_sha256(found)
            for split, found in grouped.items()}


def _single_file_corpus(folder: Path, corpora: Registry[CorpusSpec]) -> CorpusText | None:
    """A folder holding the one file of a single-file corpus (e.g. Tiny Shakespeare's input.txt).

    Only a file with the registered file's name is hashed, so a big unrelated folder costs
    nothing; it counts only when its checksum matches.
    """
    for entry in corpora:
        spec = entry.item
        if not spec.line_splits or len(spec.files) != 1 or spec.files[0].sha256 is None:
            continue
        split_file = spec.files[0]
        candidate = folder / _final_name(split_file)
        if candidate.is_file() and sha256_file(candidate) == split_file.sha256:
            contents = [(split_file, str(candidate), _read_file(candidate))]
            return _assemble(spec, contents, source=str(folder))
    return None


# --------------------------------------------------------------------------- describe


def describe(spec: CorpusSpec, data_dir: Path) -> dict[str, object]:
    """What ``bench corpora list`` shows for one corpus; cheap: checks presence, not checksums.

    ``status`` is "embedded", "cached" (every file present) or "not downloaded".
    ``tokens`` maps each split to its expected token count (whitespace tokens + one per
    line), or None when unknown.
    """
    return {
        "name": spec.name,
        "aliases": list(spec.aliases),
        "description": spec.description,
        "tokens": expected_split_tokens(spec),
        "license": spec.license,
        "citation": spec.citation,
        "default_tokenizer": spec.default_tokenizer,
        "status": _status(spec, data_dir),
        "location": "embedded" if spec.embedded else str(corpus_dir(spec, data_dir)),
        "reference_names": list(spec.reference_names),
        "notes": spec.notes,
    }


def expected_split_tokens(spec: CorpusSpec) -> dict[str, int | None]:
    """Expected tokens per split: from ``expected_tokens``, else summed over its files."""
    if spec.line_splits:
        return {split: spec.expected_tokens.get(split) for split in spec.line_splits}
    counts: dict[str, int | None] = {}
    for split_file in spec.files:
        known = counts.get(split_file.split, 0)
        counts[split_file.split] = (None if known is None or split_file.tokens is None
                                    else known + split_file.tokens)
    counts.update(spec.expected_tokens)
    return counts


def _status(spec: CorpusSpec, data_dir: Path) -> str:
    if spec.embedded is not None:
        return "embedded"
    present = all(cached_path(spec, f, data_dir).is_file() for f in spec.files)
    return "cached" if present else "not downloaded"
