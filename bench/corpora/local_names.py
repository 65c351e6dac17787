"""Which file of a local folder holds each split, and why one that should cannot be read."""

from __future__ import annotations

from pathlib import Path

from bench.errors import BenchError


def accepted_names(split: str) -> tuple[str, ...]:
    """File names a local folder may use for ``split``, in the order they are looked for."""
    names = (f"{split}.txt", f"ptb.{split}.txt", f"wiki.{split}.tokens")
    return names + (("validation.txt", "dev.txt") if split == "valid" else ())


def find_split_file(folder: Path, split: str) -> Path | None:
    found = [folder / name for name in accepted_names(split) if (folder / name).is_file()]
    if len(found) > 1:  # picking one silently could measure the wrong file
        raise BenchError(
            f"{folder}: several files could be the {split} split "
            f"({', '.join(path.name for path in found)}); keep only one"
        )
    return found[0] if found else None


def missing_split_message(folder: Path, split: str) -> str:
    for name in accepted_names(split):  # a file of the right name that is not a readable file
        problem = not_a_file(folder / name)
        if problem:
            return f"{folder / name}: the {split} split {problem}"
    present = sorted(path.name for path in folder.iterdir())
    shown = ", ".join(present[:20]) + (", ..." if len(present) > 20 else "")
    return (
        f"{folder}: no {split} split; expected one of {', '.join(accepted_names(split))}. "
        f"The folder contains: {shown or 'nothing'}"
    )


def not_a_file(path: Path) -> str | None:
    """Why ``path``, which exists under a split's name, cannot be read as one (or None)."""
    if path.is_symlink():
        try:
            path.resolve(strict=True)
        except RuntimeError:
            return "is a symbolic link that loops; point it at a text file"
        except OSError:
            return f"is a symbolic link to {path.readlink()}, which does not exist"
    if path.is_dir():
        return "is a folder, not a text file"
    if path.exists() and not path.is_file():
        return "is not a regular file"
    return None
