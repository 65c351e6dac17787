"""``load_corpus``: a registered name, or a local folder, as a :class:`CorpusText`.

The result holds the lines of train/valid/test plus the checksums a run records, so every
number in the database can be traced to the exact bytes it was measured on.
"""

from __future__ import annotations

import os
from pathlib import Path

from bench.corpora.assemble import _assemble
from bench.corpora.fetch import fetch
from bench.corpora.layout import _embedded_bytes, cached_path, corpus_dir
from bench.corpora.local import _load_local
from bench.corpora.shards import stream_split
from bench.corpora.spec import CorpusSpec, CorpusText
from bench.corpora.text import _read_file
from bench.errors import BenchError, unknown_name_error
from bench.registry import Registry


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
    files = list(zip(spec.files, paths, strict=True))
    streamed = None
    if spec.stream_train:  # left on disk: checksummed now, read shard by shard when used
        streamed = stream_split(spec, "train", [(f, p) for f, p in files if f.split == "train"])
        files = [(f, p) for f, p in files if f.split != "train"]
    contents = ((split_file, str(path), _read_file(path)) for split_file, path in files)
    return _assemble(spec, contents, source=str(corpus_dir(spec, data_dir)), streamed=streamed)
