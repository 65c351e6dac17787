"""Where a corpus's files live: its cache folder, the final file names, the embedded resource."""

from __future__ import annotations

import gzip
import importlib.resources
import urllib.parse
from importlib.resources.abc import Traversable
from pathlib import Path

from bench.corpora.spec import CorpusSpec, SplitFile
from bench.errors import BenchError


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
