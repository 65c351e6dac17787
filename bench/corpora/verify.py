"""``verify`` re-checks the files of a corpus that are there against their sha256."""

from __future__ import annotations

from pathlib import Path

from bench.corpora.layout import _embedded_bytes, _resource_path, cached_path
from bench.corpora.spec import CorpusSpec, FileCheck, SplitFile
from bench.corpora.text import sha256_bytes, sha256_file
from bench.errors import BenchError


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
