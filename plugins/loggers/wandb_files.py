"""Reading a W&B offline run folder (``offline-run-…/run-ID.wandb``) back.

The file is a log of protobuf records in 32 KiB blocks, each record in one or more
chunks behind a 7-byte header (CRC-32 of the chunk's type and data, length, type), after
a 7-byte file header (``:W&B``, magic, version); a chunk never crosses a block's end, so
every block starts with a chunk header. The wandb library no longer ships a reader in
Python, and a resumed run needs the steps an earlier offline attempt logged, so this is a
small one. It reads a file that is still being written, or whose writer was killed, up to
its last whole chunk: a chunk cut short or failing its checksum ends the reading.
"""

from __future__ import annotations

import json
import re
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

BLOCK = 32 * 1024
FILE_HEADER = 7
HEADER = struct.Struct("<IHB")  # checksum, length, chunk type
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def _chunks(data: bytes, position: int) -> Iterator[tuple[int, bytes]]:
    """(type, data) of each whole, intact chunk from ``position`` (a chunk's start)."""
    while position + HEADER.size <= len(data):
        left = BLOCK - position % BLOCK
        if left < HEADER.size:  # a block's tail too short for a header is padding
            position += left
            continue
        checksum, length, kind = HEADER.unpack_from(data, position)
        if checksum == 0 and length == 0 and kind == 0:  # zero padding to the block's end
            position += left
            continue
        start = position + HEADER.size
        chunk = data[start : start + length]
        if zlib.crc32(bytes([kind]) + chunk) != checksum:
            return  # cut short (not all written yet, or its writer killed) or damaged
        yield kind, chunk
        position = start + length


def records(path: Path, last_blocks: int | None = None) -> Iterator[Any]:
    """The protobuf records (``wandb_internal_pb2.Record``) of a ``.wandb`` file, in order;
    with ``last_blocks``, only those that end in the file's last ``last_blocks`` blocks
    (a record begun in an earlier block is left out)."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    if data[:4] != b":W&B":
        raise ValueError(f"{path} is not a W&B run file")
    position = FILE_HEADER
    if last_blocks is not None:
        blocks = -(-len(data) // BLOCK)
        position = max(position, (blocks - last_blocks) * BLOCK)
    pending: bytes | None = None  # None: not inside a record begun where we started
    for kind, chunk in _chunks(data, position):
        if kind in (FULL, FIRST):
            pending = chunk
        elif pending is not None:
            pending += chunk
        if kind in (FULL, LAST) and pending is not None:
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            pending = None
            yield record


def complete(path: Path) -> bool:
    """Whether the file ends with the run's exit record, the last one W&B writes: the file
    then holds all the run logged."""
    last = None
    for record in records(path, last_blocks=2):  # an exit record is far smaller than a block
        last = record.WhichOneof("record_type")
    return last == "exit"


def _key(item: Any) -> str:
    return item.key or "/".join(item.nested_key)


def history(path: Path) -> list[dict[str, Any]]:
    """The rows ``run.log`` wrote, each a dict with ``_step`` and the logged values."""
    rows = []
    for record in records(path):
        if record.WhichOneof("record_type") == "history":
            rows.append({_key(item): json.loads(item.value_json) for item in record.history.item})
    return rows


def summary_and_config(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The run's summary and configuration as last updated in the file."""
    summary: dict[str, Any] = {}
    config: dict[str, Any] = {}
    for record in records(path):
        kind = record.WhichOneof("record_type")
        if kind == "summary":
            summary.update({_key(i): json.loads(i.value_json) for i in record.summary.update})
        elif kind == "config":
            config.update({_key(i): json.loads(i.value_json) for i in record.config.update})
        elif kind == "run":
            config.update({_key(i): json.loads(i.value_json) for i in record.run.config.update})
    return summary, config


def offline_files(folder: Path, run_id: str) -> list[Path]:
    """The ``.wandb`` files of earlier offline attempts of run ``run_id`` under ``folder``
    (the ``wandb`` folder), oldest first. An attempt's folder is named by the second it
    started in, and W&B adds ``-1``, ``-2``, … to the name of a second attempt that
    started in the same second."""
    pattern = re.compile(rf"offline-run-(\d{{8}}_\d{{6}})-{re.escape(run_id)}(?:-(\d+))?")
    found = []
    for path in folder.glob(f"offline-run-*-{run_id}*/run-{run_id}.wandb"):
        match = pattern.fullmatch(path.parent.name)
        if match:
            found.append(((match[1], int(match[2] or 0)), path))
    return [path for _, path in sorted(found)]
