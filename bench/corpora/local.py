"""Local folders as corpora, recognised as a registered corpus when the checksums match."""

from __future__ import annotations

from pathlib import Path

from bench.corpora.assemble import _assemble
from bench.corpora.layout import _final_name
from bench.corpora.spec import SPLITS, CorpusSpec, CorpusText
from bench.corpora.text import _read_file, combine_sha256, decode_lines, sha256_bytes, sha256_file
from bench.errors import BenchError
from bench.registry import Registry


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
