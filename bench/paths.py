"""Where bench keeps its files (platformdirs), each overridable by an environment variable."""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from pathlib import Path

import platformdirs

DATA_DIR_ENV = "BENCH_DATA_DIR"  # corpora, tokenizer models, checkpoints
DB_ENV = "BENCH_DB"  # any SQLAlchemy URL
# a run's resumable checkpoint, in its run folder (named here so that the runner can
# remove it without importing bench.training.checkpoint, which imports torch)
RESUME_FILE = "resume.pt"
# the weights and optimiser state at the start of the epoch in progress (NaN recovery
# goes back there), beside the resumable checkpoint
EPOCH_START_FILE = "epoch-start.pt"


def write_atomically(path: Path, data: bytes) -> None:
    """Write via a fresh temporary file beside ``path`` and rename it over ``path``, so a
    killed process never leaves half a file (a cached tokenizer model or vocabulary, a
    leaderboard) for a later run to read, and a symlink already at ``path`` (a cloned
    repository's ``leaderboards/ptb.md -> ~/.bashrc``) is replaced, never written through.
    The temporary file is created exclusively (never an existing file or link)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp's 0600 would hide shared files
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


@functools.cache
def _umask() -> int:
    # read once: setting it is the only way to read it, and it is process-wide
    mask = os.umask(0)
    os.umask(mask)
    return mask


def data_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """Cache for downloaded corpora, trained tokenizers and run artifacts.

    ``override`` (the ``--data-dir`` option) wins, then $BENCH_DATA_DIR, then the
    platform's user cache folder (``~/.cache/bench`` on Linux).
    """
    chosen = override or os.environ.get(DATA_DIR_ENV) or platformdirs.user_cache_dir("bench")
    return Path(chosen).expanduser()


def default_db_url() -> str:
    """$BENCH_DB, else a SQLite file in the platform's user data folder.

    On Linux that is ``~/.local/share/bench/bench.db``.
    """
    url = os.environ.get(DB_ENV)
    if url:
        return url
    return f"sqlite:///{Path(platformdirs.user_data_dir('bench')) / 'bench.db'}"
