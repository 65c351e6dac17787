"""Download a corpus: ``fetch`` puts its files into ``<data_dir>/corpora/<name>/``.

Plain, gzipped and archived (.zip, .tar.gz, .tgz) files are fetched, checked against their
sha256 and the checksums third parties publish for them (an archive before anything is
extracted from it), and moved into place atomically, with a progress bar on a terminal.
"""

from __future__ import annotations

import difflib
import gzip
import hashlib
import http.client
import os
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, BinaryIO

from tqdm import tqdm

from bench.corpora.files import (
    cached_path,
    corpus_dir,
    embedded_path,
    final_name,
    is_plain_gzip,
    published_problem,
    record_trusted,
    url_basename,
)
from bench.corpora.spec import Checksum, CorpusSpec, SplitFile
from bench.corpora.text import CHUNK, sha256_file
from bench.errors import BenchError

TIMEOUT_S = 60  # per socket operation; a dead server fails instead of hanging forever
DOWNLOADS = "downloads"  # archives are kept here so re-fetching a member needs no download


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
        path = embedded_path(spec)
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


def _fetch_pending(
    spec: CorpusSpec, data_dir: Path, pending: list[SplitFile], *, force: bool, progress: bool
) -> None:
    target = corpus_dir(spec, data_dir)
    archives: dict[str, list[SplitFile]] = {}
    for split_file in pending:
        if split_file.member is None:
            _fetch_plain(split_file, target, progress=progress)
        else:
            archives.setdefault(split_file.url, []).append(split_file)
    for url, members in archives.items():  # grouped: one download and one pass per archive
        checksum = spec.archive_checksums.get(url)
        archive = _get_archive(url, target / DOWNLOADS, checksum, force=force, progress=progress)
        installed = _extract_members(archive, members, target)
        if checksum is not None:  # the files of a verified archive are trusted from now on
            for name, digest in installed.items():
                record_trusted(spec, data_dir, name, digest, checksum.source)


def _fetch_plain(split_file: SplitFile, target: Path, *, progress: bool) -> None:
    """Download a plain (optionally gzipped) file, verify it and move it into place."""
    final = target / final_name(split_file)
    downloaded = _download(split_file.url, target, progress=progress, local_copy=final)
    try:
        if is_plain_gzip(split_file.url):
            temp, digest = _gunzip(downloaded, target, final.name, split_file.url)
        else:
            temp, digest = downloaded, sha256_file(downloaded)
        _install(temp, final, digest, split_file)
    finally:
        downloaded.unlink(missing_ok=True)


def _gunzip(path: Path, folder: Path, file_name: str, url: str) -> tuple[Path, str]:
    try:
        with gzip.open(path, "rb") as source:
            return _write_temp(source, folder, file_name)
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise BenchError(f"{url}: not a valid gzip file ({error or 'truncated'})") from None


def _get_archive(
    url: str, downloads: Path, checksum: Checksum | None, *, force: bool, progress: bool
) -> Path:
    """The archive at ``url``, downloaded into ``downloads`` unless already there (a copy
    put there by hand counts), checked against its published ``checksum`` if it has one.

    A truncated or different archive is deleted before anything is extracted from it.
    """
    archive = downloads / url_basename(url)
    if force or not archive.is_file():
        temp = _download(url, downloads, progress=progress, local_copy=archive)
        os.replace(temp, archive)
    problem = published_problem(archive, checksum) if checksum is not None else None
    if problem is not None:
        archive.unlink()
        raise BenchError(
            f"{archive.name} is not the published archive: {problem}. It was deleted; "
            "fetch again to download it afresh"
        )
    return archive


def _extract_members(archive: Path, members: list[SplitFile], target: Path) -> dict[str, str]:
    """Extract, verify and install the wanted members, reading the archive only once;
    return the sha256 of each file installed, by file name."""
    wanted = {_normalise_member(split_file.member or ""): split_file for split_file in members}
    found: list[str] = []
    installed: dict[str, str] = {}
    try:
        for name, source in _iter_archive(archive, set(wanted)):
            split_file = wanted[name]
            final = target / final_name(split_file)
            temp, digest = _write_temp(source, target, final.name)
            _install(temp, final, digest, split_file, archive=archive)
            found.append(name)
            installed[final.name] = digest
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, gzip.BadGzipFile, zlib.error) as error:
        archive.unlink(missing_ok=True)  # useless now; the next fetch downloads it afresh
        raise BenchError(
            f"{archive}: the archive is damaged or incomplete ({error}); it was deleted, "
            "fetch again to download it afresh"
        ) from None
    missing = [name for name in wanted if name not in found]
    if missing:
        raise BenchError(_missing_member_message(archive, missing[0]))
    return installed


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


def _write_temp(source: IO[bytes], folder: Path, file_name: str) -> tuple[Path, str]:
    """Copy a stream into a new temp file next to its final place; return it and its sha256."""
    digest = hashlib.sha256()
    handle, temp_name = tempfile.mkstemp(dir=folder, prefix=f".{file_name}.", suffix=".part")
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


def _install(
    temp: Path, final: Path, actual: str, split_file: SplitFile, *, archive: Path | None = None
) -> None:
    """Move a verified temp file to its final name; delete it and fail on a bad checksum
    (its sha256, or the checksum a third party published for it).

    os.replace within one folder is atomic, so the final path only ever holds a whole,
    verified file, even if bench is killed mid-download.
    """
    expected, published = split_file.sha256, split_file.published
    problem = None
    if expected is not None and actual != expected:
        problem = f"expected sha256 {expected}, got {actual}"
    elif published is not None and (published.kind, published.value) != ("sha256", expected):
        problem = published_problem(temp, published)
    if problem is not None:
        temp.unlink(missing_ok=True)
        where = (
            f" (extracted from {archive}; delete that archive to download it again)"
            if archive is not None
            else ""
        )
        raise BenchError(
            f"checksum mismatch for {final.name}{where}: {problem}. The file was deleted."
        )
    os.replace(temp, final)


def _download(url: str, folder: Path, *, progress: bool, local_copy: Path) -> Path:
    """Download ``url`` (http, https or file://) into a new temp file in ``folder``.

    Network trouble becomes a BenchError that says how to go on without the network: by
    putting a copy of the file at ``local_copy``, where fetch looks before downloading.
    """
    folder.mkdir(parents=True, exist_ok=True)
    label = url_basename(url)
    handle, temp_name = tempfile.mkstemp(dir=folder, prefix=f".{label}.", suffix=".part")
    temp = Path(temp_name)
    try:
        with os.fdopen(handle, "wb") as out:
            _copy_url(url, out, label=label, progress=progress, local_copy=local_copy)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


def _copy_url(url: str, out: BinaryIO, *, label: str, progress: bool, local_copy: Path) -> None:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            total = _content_length(response)
            with _progress_bar(total, label, progress) as bar:
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    bar.update(len(chunk))
    except ValueError as error:  # urllib's answer to a string that is not a URL
        raise BenchError(f"cannot download {url!r}: {error}") from None
    except (
        urllib.error.URLError,
        http.client.HTTPException,
        TimeoutError,
        ConnectionError,
    ) as error:
        raise BenchError(_download_failed_message(url, error, local_copy)) from None


def _download_failed_message(url: str, error: BaseException, local_copy: Path) -> str:
    if isinstance(error, urllib.error.HTTPError):
        reason: object = f"HTTP {error.code} {error.reason}"
    else:
        reason = getattr(error, "reason", None) or error
    return (
        f"download of {url} failed ({reason}). The machine may be offline. With a copy of "
        f"{url_basename(url)} from elsewhere, put it at {local_copy} and run the command "
        "again: bench checks it against its checksum before using it. `--corpus PATH` also "
        "accepts a text file, or a folder with train.txt, valid.txt and test.txt."
    )


def _content_length(response: object) -> int | None:
    length = getattr(response, "headers", {}).get("Content-Length")
    return int(length) if length and length.isdigit() else None


def _progress_bar(total: int | None, label: str, progress: bool) -> tqdm:
    """A byte counter on stderr, silent when asked or when stderr is not a terminal."""
    return tqdm(
        total=total,
        desc=label,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        file=sys.stderr,
        leave=False,
        disable=not progress or not sys.stderr.isatty(),
    )
