"""Reading a W&B offline run folder (``offline-run-…/run-ID.wandb``) back.

The file is a log of protobuf records in 32 KiB blocks, each record in one or more
chunks behind a 7-byte header (checksum, length, type), after a 7-byte file header
(``:W&B``, magic, version). The wandb library no longer ships a reader in Python, and a
resumed run needs the steps an earlier offline attempt logged, so this is a small one.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

BLOCK = 32 * 1024
HEADER = struct.Struct("<IHB")  # checksum, length, chunk type
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path: Path) -> Iterator[Any]:
    """The protobuf records (``wandb_internal_pb2.Record``) of a ``.wandb`` file, in order."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    if data[:4] != b":W&B":
        raise ValueError(f"{path} is not a W&B run file")
    position, pending = 7, b""
    while position + HEADER.size <= len(data):
        left = BLOCK - position % BLOCK
        if left < HEADER.size:  # a block's tail too short for a header is padding
            position += left
            continue
        _, length, kind = HEADER.unpack_from(data, position)
        if length == 0 and kind == 0:
            position += left
            continue
        chunk = data[position + HEADER.size : position + HEADER.size + length]
        position += HEADER.size + length
        pending = chunk if kind in (FULL, FIRST) else pending + chunk
        if kind in (FULL, LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            yield record


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
    (the ``wandb`` folder), oldest first."""
    return sorted(folder.glob(f"offline-run-*-{run_id}/run-{run_id}.wandb"))
