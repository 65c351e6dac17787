"""Where a corpus's files live, and whether what is there is intact.

Its cache folder and final file names (:func:`corpus_dir`, :func:`cached_path`,
:func:`final_name`), the text of an embedded corpus (:func:`embedded_bytes`), and
:func:`verify`, which re-checks the files that are there against their sha256 and their
published checksums without downloading anything, and the record of files trusted because
the archive they came from matched its published checksum (:func:`trusted_sha256`).
"""

from __future__ import annotations

import gzip
import importlib.resources
import json
import os
import urllib.parse
from importlib.resources.abc import Traversable
from pathlib import Path

from bench.corpora.spec import Checksum, CorpusSpec, FileCheck, SplitFile
from bench.corpora.text import file_digest, sha256_bytes, sha256_file
from bench.errors import BenchError

TRUSTED = "trusted.json"  # in the corpus folder: files vouched for by a verified archive


def corpus_dir(spec: CorpusSpec, data_dir: Path) -> Path:
    """The cache folder of a registered corpus: ``<data_dir>/corpora/<name>``."""
    return Path(data_dir) / "corpora" / spec.name


def cached_path(spec: CorpusSpec, split_file: SplitFile, data_dir: Path) -> Path:
    """Where the final plain-text file of ``split_file`` lives once fetched."""
    return corpus_dir(spec, data_dir) / final_name(split_file)


def final_name(split_file: SplitFile) -> str:
    """The file name ``split_file`` is kept under: its archive member's name, else the URL's
    (less ".gz" for a gzipped plain file, which is stored unpacked)."""
    if split_file.member is not None:
        return _basename(split_file.member)
    name = url_basename(split_file.url)
    return name[: -len(".gz")] if is_plain_gzip(split_file.url) else name


def _basename(member: str) -> str:
    return member.rstrip("/").rsplit("/", 1)[-1]


def url_basename(url: str) -> str:
    """The last part of the URL's path, unquoted (``"download"`` when it has none)."""
    return _basename(urllib.parse.unquote(urllib.parse.urlparse(url).path)) or "download"


def is_plain_gzip(url: str) -> bool:
    """Whether ``url`` names a gzipped single file (.gz but not .tar.gz), gunzipped on fetch."""
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


def embedded_bytes(spec: CorpusSpec) -> bytes:
    """The decompressed text of an embedded corpus (a gzip resource inside the package)."""
    resource = _embedded_resource(spec)
    try:
        return gzip.decompress(resource.read_bytes())
    except (OSError, EOFError) as error:
        raise BenchError(f"embedded resource {spec.embedded} is damaged ({error})") from None


def embedded_path(spec: CorpusSpec) -> Path:
    """Where the packaged gzip resource of an embedded corpus lies."""
    return Path(str(_embedded_resource(spec)))


# --------------------------------------------------------------------------- verify


def verify(spec: CorpusSpec, data_dir: Path) -> list[FileCheck]:
    """Check every file of ``spec`` against its recorded sha256, without downloading."""
    if spec.embedded is not None:
        return [_verify_embedded(spec, split_file) for split_file in spec.files]
    return [_verify_cached(spec, split_file, data_dir) for split_file in spec.files]


def _verify_embedded(spec: CorpusSpec, split_file: SplitFile) -> FileCheck:
    try:
        path = embedded_path(spec)
        actual = sha256_bytes(embedded_bytes(spec))
    except BenchError as error:
        return FileCheck(
            split_file.split,
            Path(spec.embedded or ""),
            "missing",
            split_file.sha256,
            None,
            str(error),
        )
    return _check(split_file, path, actual)


def _verify_cached(spec: CorpusSpec, split_file: SplitFile, data_dir: Path) -> FileCheck:
    path = cached_path(spec, split_file, data_dir)
    if not path.is_file():
        return FileCheck(
            split_file.split,
            path,
            "missing",
            split_file.sha256,
            None,
            f"not downloaded; run `bench corpora fetch {spec.name}`",
        )
    trusted = trusted_sha256(spec, data_dir).get(path.name)
    return _check(split_file, path, sha256_file(path), trusted)


def _check(
    split_file: SplitFile, path: Path, actual: str, trusted: tuple[str, str] | None = None
) -> FileCheck:
    """Check a file against its sha256 and its published checksum; a file with neither is
    checked against the sha256 recorded when it came out of a verified archive."""
    expected = split_file.sha256
    published = split_file.published
    if expected is None and published is None and trusted is not None:
        expected, source = trusted
        good = (
            f"sha256 matches the one recorded on extraction from an archive that matched {source}"
        )
    else:
        good = "sha256 matches" if expected is not None else ""
    problem = None
    if published is not None and (published.kind, published.value) != ("sha256", expected):
        problem = published_problem(path, published)  # a sha256 equal to ours is checked
    if expected is not None and actual != expected:
        status, detail = "mismatch", f"expected sha256 {expected}, got {actual}"
    elif problem is not None:
        status, detail = "mismatch", problem
    elif expected is None and published is None:
        status, detail = "unverified", "no trusted checksum is recorded for this file"
    else:
        parts = [good] if good else []
        if published is not None:
            parts.append(f"{published.kind} matches {published.source}")
        status, detail = "ok", "; ".join(parts)
    return FileCheck(split_file.split, path, status, expected, actual, detail)


def published_problem(path: Path, checksum: Checksum) -> str | None:
    """What is wrong with ``path`` by ``checksum`` (truncated, or a different file), or None."""
    size = path.stat().st_size
    if checksum.size is not None and size < checksum.size:
        return (
            f"truncated: {size:,} of the {checksum.size:,} bytes {checksum.source} gives "
            "(an interrupted download?)"
        )
    actual = file_digest(path, checksum.kind)
    if actual != checksum.value:
        return f"expected {checksum.kind} {checksum.value} ({checksum.source}), got {actual}"
    return None


# --------------------------------------------------------------------------- trusted files


def trusted_sha256(spec: CorpusSpec, data_dir: Path) -> dict[str, tuple[str, str]]:
    """File name -> (sha256, the checksum source that vouched for it), for the files that
    were extracted from an archive matching its published checksum (see
    :func:`record_trusted`); empty when there are none or the record is unreadable."""
    try:
        data = json.loads((corpus_dir(spec, data_dir) / TRUSTED).read_text(encoding="utf-8"))
        return {name: (entry["sha256"], entry["source"]) for name, entry in data.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def record_trusted(spec: CorpusSpec, data_dir: Path, name: str, sha256: str, source: str) -> None:
    """Record that file ``name`` (sha256 ``sha256``) came out of an archive matching the
    published checksum ``source`` names, so later loads and `bench corpora verify` can
    check it. Written atomically."""
    folder = corpus_dir(spec, data_dir)
    entries = {
        n: {"sha256": d, "source": s} for n, (d, s) in trusted_sha256(spec, data_dir).items()
    }
    entries[name] = {"sha256": sha256, "source": source}
    temp = folder / f".{TRUSTED}.part"
    temp.write_text(json.dumps(entries, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(temp, folder / TRUSTED)
