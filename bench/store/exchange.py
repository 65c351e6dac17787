"""Runs as JSON files: the durable, reviewable record behind the committed leaderboards.

A database lives on one machine; a run exported with :func:`export_run` is one plain JSON
file (its run row, evaluations and training-curve metrics) that can be committed to git,
reviewed in a diff, and imported into any other database with :func:`import_run`, so the
leaderboards can be regenerated anywhere and a run measured on a borrowed GPU can be
brought home. Artifacts (checkpoints) are not exported: their paths belong to the machine
that wrote them.

One file per run (not one big file, not a committed SQLite file) so that runs from
different machines merge in git without conflicts and a diff shows exactly which figures
changed. A run is recognised on import by its start time, plugin and configuration hash,
so importing the same file twice adds it once. Each evaluation carries its per-line scores
(base64 of the compressed blob the database keeps), so intervals can be recomputed and
`bench compare` works on imported runs. Per-token log-probabilities (`bench combine`) are
not carried: they would make each file for the leaderboards' repository several times larger
(a few bytes per scored token, where per-line scores cost a few per line); an imported run is
combined on a machine that still holds it, or after it has been run again.

A rescored or combined run names its parents by their ids in the database that made it;
its file also carries each parent's identity, and the import puts the parents' ids in the
receiving database in their place (:mod:`bench.store.derived_parents`).
"""

from __future__ import annotations

import base64
import errno
import itertools
import json
import os
import re
import stat
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from bench.configuration.run_config import config_hash
from bench.errors import BenchError
from bench.store.database import Store
from bench.store.derived_parents import (
    parent_identities,
    time_text,
    time_value,
    with_local_parents,
)
from bench.store.local_paths import holds_redacted_paths, shared_run
from bench.store.run_file import FORMAT, check_run_file
from bench.store.schema import Evaluation, LineScoreBlob, Metric, Run

_RUN_COLUMNS = [c.key for c in Run.__table__.columns if c.key != "id"]
_EVAL_COLUMNS = [c.key for c in Evaluation.__table__.columns if c.key not in ("id", "run_id")]
_METRIC_COLUMNS = ["step", "epoch", "name", "value", "created_at"]
_TIME_COLUMNS = {"started_at", "finished_at", "created_at"}
# the largest run file bench import reads (JSON takes ~35 times its size in memory while
# it is parsed); an export of a long training curve with per-line scores is a few MB
MAX_FILE_BYTES = 64 * 2**20


def _to_json(key: str, value: Any) -> Any:
    if isinstance(value, datetime):
        return time_text(value)
    return value


def _from_json(key: str, value: Any) -> Any:
    if key in _TIME_COLUMNS and isinstance(value, str):
        return time_value(value)
    return value


def run_record(store: Store, run_id: int) -> dict[str, Any]:
    """One stored run as a JSON-ready dict: ``format``, ``run``, ``evaluations``, ``metrics``
    (metrics as a header and rows, which keeps a long training curve compact)."""
    with Session(store.engine) as session:
        run = session.get(Run, run_id)
        if run is None:
            raise BenchError(f"no run with id {run_id}")
        evaluations = session.scalars(
            select(Evaluation).where(Evaluation.run_id == run_id).order_by(Evaluation.id)
        )
        metrics = session.scalars(select(Metric).where(Metric.run_id == run_id).order_by(Metric.id))
        return {
            "format": FORMAT,
            "exported_from_run": run_id,
            # local paths as <data-dir>/..., ~/...: the file is made to be shared
            "run": shared_run({k: _to_json(k, getattr(run, k)) for k in _RUN_COLUMNS}),
            "shared_config_hash": config_hash(shared_run({"config": run.config})["config"])
            if run.config is not None
            else None,
            # a derived run's parents by what names them in any database (derived_parents)
            "parents": parent_identities(session, run.config),
            "evaluations": [_evaluation_record(session, e) for e in evaluations],
            "metrics": {
                "columns": _METRIC_COLUMNS,
                "rows": [[_to_json(k, getattr(m, k)) for k in _METRIC_COLUMNS] for m in metrics],
            },
        }


def _evaluation_record(session: Session, evaluation: Evaluation) -> dict[str, Any]:
    record = {k: _to_json(k, getattr(evaluation, k)) for k in _EVAL_COLUMNS}
    blob = session.get(LineScoreBlob, evaluation.id)
    if blob is not None:
        record["line_scores"] = {
            "format": blob.format,
            "base64": base64.b64encode(blob.data).decode("ascii"),
        }
    return record


def record_file_name(record: dict[str, Any]) -> str:
    """A stable, readable file name: start time, plugin and corpus,
    e.g. ``20261202T185301-kn-ptb.json``."""
    run = record["run"]
    started = (
        datetime.fromisoformat(run["started_at"]).strftime("%Y%m%dT%H%M%S")
        if run.get("started_at")
        else "unknown-time"  # a row whose start time could not be read
    )
    corpus = re.sub(r"[^A-Za-z0-9]+", "-", Path(str(run.get("corpus") or "corpus")).name).strip("-")
    plugin = re.sub(r"[^A-Za-z0-9]+", "-", str(run.get("plugin") or "run")).strip("-")
    return f"{started}-{plugin}-{corpus or 'corpus'}.json"


def export_runs(store: Store, folder: Path, run_ids: Iterable[int] | None = None) -> list[Path]:
    """Write one JSON file per run into ``folder``: the given runs, else every finished run."""
    if run_ids is None:
        run_ids = [r["id"] for r in store.list_runs(limit=None, status="finished")]
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for run_id in sorted(run_ids):
        record = run_record(store, run_id)
        path = _free_name(folder, record_file_name(record), record, written)
        path.write_text(
            json.dumps(record, indent=1, sort_keys=False, allow_nan=False) + "\n", encoding="utf-8"
        )
        written.append(path)
    return written


def _free_name(folder: Path, name: str, record: dict[str, Any], taken: list[Path]) -> Path:
    """``name`` in ``folder``, or ``name-2``, ``name-3``...: a file already there is
    replaced only when it holds this very run (an earlier export of it), never another
    run that started in the same second."""
    stem, suffix = name.removesuffix(".json"), ".json"
    for n in itertools.count(1):
        path = folder / (f"{stem}{suffix}" if n == 1 else f"{stem}-{n}{suffix}")
        if path in taken:
            continue
        if not path.exists() and not path.is_symlink():
            return path
        if _holds_run(path, record):
            return path
    raise AssertionError("unreachable")


def _holds_run(path: Path, record: dict[str, Any]) -> bool:
    """Whether the run file at ``path`` is an export of the same stored run."""
    try:
        other = json.loads(_read_bounded(path).decode("utf-8"))
    except (BenchError, ValueError, RecursionError):
        return False
    if not isinstance(other, dict) or not isinstance(other.get("run"), dict):
        return False
    same = ("started_at", "plugin", "config_hash")
    return other.get("exported_from_run") == record["exported_from_run"] and all(
        other["run"].get(key) == record["run"].get(key) for key in same
    )


def _read_record(path: Path) -> dict[str, Any]:
    try:
        record = json.loads(_read_bounded(path).decode("utf-8"))
    # ValueError: bad UTF-8, bad JSON, a number of more than 4300 digits
    except (OSError, ValueError, RecursionError) as exc:
        raise BenchError(f"cannot read run file {path}: {exc}") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise BenchError(f'{path} is not a bench run file (expected "format": "{FORMAT}")')
    return check_run_file(record, str(path))


def import_run(store: Store, record: dict[str, Any]) -> tuple[int, bool]:
    """Add one exported run to ``store``; return its id there and whether it was new.

    A run already there is not added twice: it has the file's start time, plugin and
    configuration hash, and the same contents (run row, evaluations, training curve). A
    file that only claims the identity of a stored run, with other figures, is a run of
    its own; a configuration hash that does not match the configuration is refused.
    """
    _check_config_hash(record)
    with Session(store.engine) as session:
        record = with_local_parents(session, record)
    run = {k: _from_json(k, record["run"].get(k)) for k in _RUN_COLUMNS}
    for candidate in _same_identity(store, run):
        if _contents(run_record(store, candidate)) == _contents(record):
            return candidate, False
    with store.writing() as session:  # BEGIN IMMEDIATE on SQLite, as every write
        row = Run(**run)
        session.add(row)
        session.flush()
        run_id = row.id
        for evaluation in record.get("evaluations", []):
            row = Evaluation(
                run_id=run_id, **{k: _from_json(k, evaluation.get(k)) for k in _EVAL_COLUMNS}
            )
            session.add(row)
            lines = evaluation.get("line_scores")
            if lines:
                session.flush()  # the evaluation's id
                session.add(
                    LineScoreBlob(
                        evaluation_id=row.id,
                        run_id=run_id,
                        format=lines["format"],
                        data=base64.b64decode(lines["base64"]),
                    )
                )
        metrics = record.get("metrics") or {"columns": _METRIC_COLUMNS, "rows": []}
        rows = [dict(zip(metrics["columns"], values, strict=True)) for values in metrics["rows"]]
        if rows:
            session.execute(
                insert(Metric),
                [
                    {"run_id": run_id, **{k: _from_json(k, r.get(k)) for k in _METRIC_COLUMNS}}
                    for r in rows
                ],
            )
    return run_id, True


def _check_config_hash(record: dict[str, Any]) -> None:
    stated, config = record["run"].get("config_hash"), record["run"].get("config")
    if config is not None and holds_redacted_paths(config):
        # run.config_hash is of the paths as they were on the machine that ran
        stated = record.get("shared_config_hash")
    if stated is not None and config is not None and stated != config_hash(config):
        raise BenchError(
            "refused, nothing imported from it: run.config_hash does not match run.config "
            "(recomputed from it), so the file was edited after export"
        )


def _same_identity(store: Store, run: dict[str, Any]) -> list[int]:
    """Stored runs with the start time, plugin and configuration hash of ``run``."""
    with Session(store.engine) as session:
        return list(
            session.scalars(
                select(Run.id).where(
                    Run.started_at == run["started_at"],
                    Run.plugin == run["plugin"],
                    Run.config_hash == run["config_hash"],
                )
            )
        )


def _contents(record: dict[str, Any]) -> str:
    """What makes two run files the same run, as comparable text: every known field of the
    run, its evaluations (with their line scores) and its training curve."""
    run = {k: record["run"].get(k) for k in _RUN_COLUMNS}
    evaluations = [
        {k: e.get(k) for k in (*_EVAL_COLUMNS, "line_scores")} for e in record["evaluations"]
    ]
    metrics = record.get("metrics") or {"columns": _METRIC_COLUMNS, "rows": []}
    return json.dumps([run, evaluations, metrics], sort_keys=True, default=str)


def _read_bounded(path: Path) -> bytes:
    """The bytes of a regular file of at most MAX_FILE_BYTES, never through a symbolic link
    (a ``run.json`` pointing at ``/dev/zero`` or a FIFO would be read for ever)."""
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise BenchError(f"{path} is a symbolic link; import the file it points to") from None
        raise BenchError(f"cannot read run file {path}: {error.strerror}") from None
    with os.fdopen(descriptor, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise BenchError(f"{path} is not a regular file; refused")
        if info.st_size > MAX_FILE_BYTES:
            raise BenchError(
                f"{path} is {info.st_size / 2**20:.0f} MB, more than a run file may be "
                f"({MAX_FILE_BYTES // 2**20} MB); refused"
            )
        data = file.read(MAX_FILE_BYTES + 1)  # a file growing while read is bounded too
    if len(data) > MAX_FILE_BYTES:
        raise BenchError(f"{path} is larger than {MAX_FILE_BYTES // 2**20} MB; refused")
    return data


def run_files(paths: Iterable[Path]) -> list[Path]:
    """The run files named, folders expanded to their ``*.json`` files, in name order
    (names start with the start time, so runs are imported oldest first). A symbolic link
    or anything but a regular file is refused, named or found in a folder."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            found = sorted(path.glob("*.json"))
        elif path.exists() or path.is_symlink():
            found = [path]
        else:
            raise BenchError(f"no such file or folder: {path}")
        for file in found:
            if file.is_symlink() or not file.is_file():
                kind = "a symbolic link" if file.is_symlink() else "not a regular file"
                raise BenchError(f"{file} is {kind}; refused, nothing imported from it")
        files.extend(found)
    return sorted(files, key=lambda p: p.name)


def _start_then_name(path: Path) -> tuple[str, str]:
    """A file's run start time (as the file writes it, UTC) and name: file names start with
    the start time only to the second, and a second's runs take suffixes (-2) that sort
    before the first one's ".json". A file that cannot be read sorts first, so that its
    refusal stops the import before anything is written."""
    try:
        started = json.loads(_read_bounded(path).decode("utf-8"))["run"]["started_at"]
    except (BenchError, ValueError, RecursionError, KeyError, TypeError):
        return ("", path.name)
    return (started if isinstance(started, str) else "", path.name)


def import_runs(store: Store, paths: Iterable[Path]) -> list[tuple[Path, int, bool]]:
    """Import every run file under ``paths``; (file, run id, whether new) per file."""
    return list(import_one_by_one(store, paths))


def import_one_by_one(store: Store, paths: Iterable[Path]) -> Iterator[tuple[Path, int, bool]]:
    """Import the run files under ``paths`` one after the other, yielding (file, run id,
    whether new) as each is in, oldest run first (a derived run after its parents, whose
    ids it takes). A file that is refused stops the import there, with nothing of it
    written (the files before it are in)."""
    for path in sorted(run_files(paths), key=_start_then_name):
        record = _read_record(path)
        try:
            yield (path, *import_run(store, record))
        except BenchError as error:
            raise BenchError(f"{path} {error}") from None
