"""Whether the files a stored run read are still the ones it measured.

A run records the corpus path as the user gave it (in its command and configuration),
the folder or file it was read from, and the sha256 of each split. A local folder may
change later; ``bench show`` and ``bench run --resume`` re-hash what is there now and
say which file differs, since rerunning the stored command would measure other text.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from bench.corpora.local_names import accepted_names
from bench.corpora.spec import SPLITS
from bench.corpora.text import sha256_file


def _split_files(folder: Path) -> dict[str, Path]:
    """The file each split of ``folder`` is read from, where exactly one is there."""
    found = {}
    for split in SPLITS:
        files = [folder / name for name in accepted_names(split) if (folder / name).is_file()]
        if len(files) == 1:
            found[split] = files[0]
    return found


def changed_files(source: str | None, recorded: Mapping[str, str] | None) -> list[str]:
    """One line per file at ``source`` whose sha256 is no longer the ``recorded`` one, or
    that is gone; empty when everything that can be checked matches (or nothing can: no
    checksums recorded, an embedded corpus, a split made of several shards)."""
    if not source or not isinstance(recorded, Mapping) or not recorded:
        return []
    path = Path(source)
    if not path.is_absolute():  # "embedded": a resource inside bench, checked on load
        return []
    if recorded.get("file"):  # a single text file, split by line number
        files = {"file": path}
    elif path.is_dir():
        files = {split: file for split, file in _split_files(path).items() if split in recorded}
    else:
        return [f"{source} is gone: the run cannot be measured again on the same text"]
    problems = []
    for key, file in files.items():
        if not file.is_file():
            problems.append(f"{file} is gone")
            continue
        now = sha256_file(file)
        if now != recorded.get(key):
            problems.append(
                f"{file} differs from the text this run measured "
                f"(sha256 {str(recorded.get(key))[:12]}… then, {now[:12]}… now)"
            )
    return problems
