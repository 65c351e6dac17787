"""The parents of a derived run (``bench rescore``, ``bench combine``) across databases.

A derived run's configuration names its parents by run id (``derived_from.parents``; a
combination also keys its ``settings.weights`` and ``settings.members`` by them). Ids
belong to the database that made the run, so an export carries each parent's identity
(start time, plugin, configuration hash, label, corpus) beside the run, and an import
puts the ids the parents have in the receiving database in their place. A parent that is
not there (not imported, or imported after the run) becomes a readable reference such as
``"run 12 of the database that made it: KN5 on ptb, started 2026-12-07T15:24:31+00:00,
config ffda9fd75c2c"``, never an id that would name another run here.

A file written before run files carried the identities still names a combination's
members by their configuration hashes: a member whose hash one run here has is found by
it.

The configuration changes, so its hash is recomputed; importing the same file again
gives the same ids, hence the same hash, and the run is recognised as already there.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bench.configuration.run_config import config_hash
from bench.store.schema import Run

IDENTITY = ("started_at", "plugin", "config_hash", "model_label", "corpus")


def time_text(value: datetime) -> str:
    """A stored time as a run file writes it (ISO 8601, UTC)."""
    return value.astimezone(UTC).isoformat()


def time_value(text: str) -> datetime:
    """A run file's time as the database stores it."""
    return datetime.fromisoformat(text).astimezone(UTC)


def parent_ids(config: Any) -> list[Any]:
    """The ``derived_from.parents`` of a run's configuration ([] for a run not derived)."""
    derived = config.get("derived_from") if isinstance(config, dict) else None
    parents = derived.get("parents") if isinstance(derived, dict) else None
    return list(parents) if isinstance(parents, list) else []


def parent_identities(session: Session, config: Any) -> dict[str, dict[str, Any]]:
    """For the export: each parent id still in the database, with what names it anywhere."""
    found = {}
    for parent in parent_ids(config):
        row = session.get(Run, parent) if isinstance(parent, int) else None
        if row is not None:
            found[str(parent)] = {
                key: time_text(value) if isinstance(value, datetime) else value
                for key, value in ((k, getattr(row, k)) for k in IDENTITY)
            }
    return found


def with_local_parents(session: Session, record: dict[str, Any]) -> dict[str, Any]:
    """For the import: ``record`` with its parents' ids replaced by their ids in this
    database, or by a readable reference, and the configuration hash recomputed."""
    config = record["run"].get("config")
    parents = parent_ids(config)
    if not parents:
        return record
    identities = record.get("parents") if isinstance(record.get("parents"), dict) else {}
    local = {
        str(parent): _local_name(session, parent, identities.get(str(parent)), config)
        for parent in parents
    }
    remapped = copy.deepcopy(record)
    derived = remapped["run"]["config"]["derived_from"]
    derived["parents"] = [local[str(parent)] for parent in parents]
    settings = derived.get("settings")
    for key in ("weights", "members"):  # a combination keys these by its members' ids
        table = settings.get(key) if isinstance(settings, dict) else None
        if isinstance(table, dict):
            settings[key] = {str(local.get(k, k)): value for k, value in table.items()}
    remapped["run"]["config_hash"] = config_hash(remapped["run"]["config"])
    return remapped


def _local_name(session: Session, parent: Any, identity: Any, config: dict[str, Any]) -> int | str:
    if isinstance(parent, str):  # already a reference (the file came from an import)
        return parent
    if not isinstance(identity, dict):  # an older file: a combination still names members
        identity = _member(config, parent)
    query = select(Run)
    if identity.get("started_at") and identity.get("plugin"):
        query = query.where(
            Run.started_at == time_value(str(identity["started_at"])),
            Run.plugin == identity["plugin"],
        )
    elif identity.get("config_hash"):  # an older file's member: its hash alone, if unique
        query = query.where(Run.config_hash == identity["config_hash"])
    else:
        return _reference(parent, identity)
    rows = session.scalars(query).all()
    if len(rows) > 1:  # two runs started in the same instant: the hash decides
        rows = [r for r in rows if r.config_hash == identity.get("config_hash")]
    return rows[0].id if len(rows) == 1 else _reference(parent, identity)


def _member(config: dict[str, Any], parent: Any) -> dict[str, Any]:
    """What a combination's ``settings.members`` says of one parent (label, config hash)."""
    settings = config["derived_from"].get("settings")
    members = settings.get("members") if isinstance(settings, dict) else None
    member = members.get(str(parent)) if isinstance(members, dict) else None
    return member if isinstance(member, dict) else {}


def _reference(parent: Any, identity: dict[str, Any]) -> str:
    """What a reader can find the parent by, where this database does not hold it."""
    label = identity.get("model_label") or identity.get("label")
    parts = [
        f"{label} on {identity['corpus']}" if label and identity.get("corpus") else label,
        f"started {identity['started_at']}" if identity.get("started_at") else None,
        f"config {str(identity['config_hash'])[:12]}" if identity.get("config_hash") else None,
    ]
    described = ", ".join(p for p in parts if p)
    return f"run {parent} of the database that made it" + (f": {described}" if described else "")
