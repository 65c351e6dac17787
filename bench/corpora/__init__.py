"""Corpus specs and loading: fetch, verify, cache, or read a local folder.

A corpus is registered by a plugin as a :class:`CorpusSpec`. ``fetch`` downloads its files
into ``<data_dir>/corpora/<name>/`` (checking sha256), ``verify`` re-checks what is there,
and ``load_corpus`` turns a registered name, or a local folder, into a :class:`CorpusText`:
the lines of train/valid/test plus the checksums a run records, so every number in the
database can be traced to the exact bytes it was measured on.

The package is cut into modules with one job each; import from ``bench.corpora`` itself.
No module reaches for another's private (``_name``) helpers:

- :mod:`~bench.corpora.spec`: what a corpus is: CorpusSpec, SplitFile, CorpusText, FileCheck
- :mod:`~bench.corpora.text`: the line rule, decoding, token counts, sha256 helpers
- :mod:`~bench.corpora.files`: where files live (cache folder, file names, embedded
  resource) and ``verify``, re-checking what is there
- :mod:`~bench.corpora.fetch`: downloads, archives, atomic install, progress bar
- :mod:`~bench.corpora.load`: load_corpus, for registered names and local folders
- :mod:`~bench.corpora.local_names`: which file of a local folder holds each split
- :mod:`~bench.corpora.blocks`: a text file read in blocks cut after newlines
- :mod:`~bench.corpora.single_file`: the rule that splits one text file by line number
- :mod:`~bench.corpora.byte_splits`: one file cut by byte offsets (enwik8, text8)
- :mod:`~bench.corpora.shards`: ShardedLines, a big split read lazily shard by shard
- :mod:`~bench.corpora.describe`: what ``bench corpora list`` shows
- :mod:`~bench.corpora.recheck`: whether a stored run's local files still hold its text
"""

from __future__ import annotations

from bench.corpora.describe import describe, expected_split_tokens
from bench.corpora.fetch import DOWNLOADS, TIMEOUT_S, fetch
from bench.corpora.files import cached_path, corpus_dir, verify
from bench.corpora.load import CorpusText, download_if_missing, load_corpus
from bench.corpora.local_names import accepted_names
from bench.corpora.recheck import changed_files
from bench.corpora.shards import ShardedLines
from bench.corpora.spec import SPLITS, Checksum, CorpusSpec, FileCheck, SplitFile
from bench.corpora.text import (
    CHUNK,
    combine_sha256,
    count_tokens,
    decode_lines,
    read_lines,
    sha256_bytes,
    sha256_file,
    split_lines,
)

__all__ = [
    "CHUNK",
    "DOWNLOADS",
    "SPLITS",
    "TIMEOUT_S",
    "Checksum",
    "CorpusSpec",
    "CorpusText",
    "FileCheck",
    "ShardedLines",
    "SplitFile",
    "accepted_names",
    "cached_path",
    "changed_files",
    "combine_sha256",
    "corpus_dir",
    "count_tokens",
    "decode_lines",
    "describe",
    "download_if_missing",
    "expected_split_tokens",
    "fetch",
    "load_corpus",
    "read_lines",
    "sha256_bytes",
    "sha256_file",
    "split_lines",
    "verify",
]
