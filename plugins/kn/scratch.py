"""Disk space for the budgeted Kneser-Ney estimator: a temporary folder and flat arrays in it.

:class:`TempSpace` is one estimation's folder of scratch files. It is removed when the
estimation fails or is interrupted (Ctrl-C), when the model that owns it is garbage
collected, and at interpreter exit. A folder whose process was killed outright
(``kill -9``) cannot clean up after itself: each folder holds an flock-ed ``.lock`` file
for as long as its process lives, and the next estimation under the same root removes
every sibling folder whose lock nobody holds.

:class:`DiskArray` is a flat binary file of one numpy dtype, appended to and read back in
ranges with plain file I/O. Reading through ``np.memmap`` would be simpler, but every page
of a mapped file that is touched counts in the process's resident set size until the
kernel reclaims it, so a pass over a 10 GB table would show a 10 GB peak RSS; pages read
with ``read()`` land in the page cache, which the kernel frees under pressure and which no
process is charged with (a fault on a mapped file here brought in some 400 KB around
the page, even with ``MADV_RANDOM``). The final tables are memory maps for the few
lookups of ``next_token_logprobs``; bulk readers use :func:`read_range`.
"""

from __future__ import annotations

import contextlib
import fcntl
import mmap
import os
import re
import shutil
import tempfile
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import numpy as np

PREFIX = "kn-estimate-"
LOCK = ".lock"
UNITS = {"": 1, "B": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def parse_size(text: str | int) -> int:
    """Bytes in a size such as ``8G``, ``512M``, ``1.5G``, ``16MB`` or ``1000000`` (binary units)."""
    if isinstance(text, int):
        return text
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*", str(text).upper())
    if not match:
        raise ValueError(f"not a size: {text!r} (write e.g. 8G, 512M or 4096M)")
    return int(float(match.group(1)) * UNITS[match.group(2)])


def format_size(n_bytes: float) -> str:
    """``n_bytes`` for people: 1.5 GB, 640 MB, 12 KB."""
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if n_bytes >= scale:
            return (
                f"{n_bytes / scale:.1f} {unit}"
                if n_bytes < 10 * scale
                else f"{n_bytes / scale:.0f} {unit}"
            )
    return f"{int(n_bytes)} B"


def folder_bytes(folder: Path) -> int:
    """Total size of the files directly or deeper under ``folder`` (0 when it is gone)."""
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):  # removed while we looked
                total += os.stat(os.path.join(root, name)).st_size
    return total


def remove_stale(root: Path) -> int:
    """Remove the scratch folders under ``root`` left by killed processes; bytes freed.

    Only folders named like ours that hold a lock file nobody holds are removed: a folder
    without one is not ours to judge (or is an instant old and still being set up).
    """
    freed = 0
    if not root.is_dir():
        return 0
    for folder in root.iterdir():
        if not (folder.is_dir() and folder.name.startswith(PREFIX)):
            continue
        try:
            descriptor = os.open(folder / LOCK, os.O_RDWR)  # never created here
        except OSError:
            continue
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # its process is alive
        finally:
            os.close(descriptor)
        size = folder_bytes(folder)
        shutil.rmtree(folder, ignore_errors=True)
        freed += size
    return freed


class TempSpace:
    """One estimation's scratch folder under ``root``, removed by :meth:`close`.

    ``peak_bytes`` is the most the folder held at any :meth:`measure` call (the
    estimator measures after each pass, when its files are largest).
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.stale_bytes_removed = remove_stale(self.root)
        self.path = Path(tempfile.mkdtemp(dir=self.root, prefix=PREFIX))
        self._lock: IO[str] | None = open(self.path / LOCK, "w")  # noqa: SIM115 (held open)
        fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self.peak_bytes = 0
        # removed at exit or when nothing refers to this space any more, whichever is first
        self._finalizer = weakref.finalize(self, _remove, self.path, self._lock)

    def file(self, name: str) -> Path:
        return self.path / name

    def measure(self) -> int:
        """The bytes the folder holds now; updates ``peak_bytes``."""
        now = folder_bytes(self.path)
        self.peak_bytes = max(self.peak_bytes, now)
        return now

    def close(self) -> None:
        """Remove the folder and everything in it (idempotent)."""
        self._finalizer()

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive


def _remove(path: Path, lock: IO[str]) -> None:
    shutil.rmtree(path, ignore_errors=True)
    lock.close()


class DiskArray:
    """A growing flat file of ``dtype`` items: append blocks, read ranges, map at the end."""

    def __init__(self, path: Path, dtype: np.dtype | type | str) -> None:
        self.path = Path(path)
        self.dtype = np.dtype(dtype)
        self._length = 0
        self._writer: IO[bytes] | None = open(self.path, "wb")  # noqa: SIM115 (appended to)

    def __len__(self) -> int:
        return self._length

    def append(self, values: np.ndarray) -> None:
        if self._writer is None:
            raise ValueError(f"{self.path.name} is finished; it cannot grow")
        values = np.ascontiguousarray(values, dtype=self.dtype)
        self._writer.write(memoryview(values).cast("B"))
        self._length += len(values)

    def finish(self) -> DiskArray:
        """Flush and stop appending; reading needs this first."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        return self

    def read(self, start: int, stop: int) -> np.ndarray:
        """Items ``start:stop`` as a fresh in-memory array."""
        self.finish()
        stop = min(stop, self._length)
        if stop <= start:
            return np.empty(0, dtype=self.dtype)
        return np.fromfile(
            self.path, dtype=self.dtype, count=stop - start, offset=start * self.dtype.itemsize
        )

    def write_at(self, start: int, values: np.ndarray) -> None:
        """Overwrite items from ``start`` (the file must already hold them)."""
        self.finish()
        values = np.ascontiguousarray(values, dtype=self.dtype)
        with open(self.path, "r+b") as handle:
            handle.seek(start * self.dtype.itemsize)
            handle.write(memoryview(values).cast("B"))

    def chunks(self, size: int) -> Iterator[tuple[int, np.ndarray]]:
        """``(start, items)`` for consecutive ranges of ``size`` items."""
        for start in range(0, self._length, size):
            yield start, self.read(start, start + size)

    def memmap(self) -> np.ndarray:
        """A read-only memory map of the whole file (an empty array when there is none)."""
        self.finish()
        if self._length == 0:
            return np.empty(0, dtype=self.dtype)
        mapped = np.memmap(self.path, dtype=self.dtype, mode="r", shape=(self._length,))
        mapped.base.madvise(mmap.MADV_RANDOM)  # lookups: no read-ahead
        return mapped

    def delete(self) -> None:
        self.finish()
        self.path.unlink(missing_ok=True)
        self._length = 0


def read_range(values: np.ndarray, start: int, stop: int) -> np.ndarray:
    """``values[start:stop]`` as an in-memory copy; a whole-file memory map is read with
    ``read()`` so that streaming through it does not grow the resident set (see above)."""
    stop = min(stop, len(values))
    if (
        isinstance(values, np.memmap)
        and isinstance(values.base, mmap.mmap)
        and values.filename
        and values.ndim == 1
        and stop > start
    ):
        return np.fromfile(
            values.filename,
            dtype=values.dtype,
            count=stop - start,
            offset=values.offset + start * values.dtype.itemsize,
        )
    return np.array(values[start:stop])
