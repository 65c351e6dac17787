"""What a leaderboard says about a derived run (a combination of stored runs): which
models it was made from, found by their configuration hashes.

A derived run's ``parents`` are run ids of the database it lives in (``bench import``
maps them to the importing database's ids, or to a readable reference when a parent is not
there); the members' labels and configuration hashes, which the leaderboard also prints for
every run, tell a reader which rows it was made from in any database.
"""

from __future__ import annotations

from typing import Any


def derived_note(config: Any) -> str:
    """ "members: KN5 (config ffda9fd75c2c) 0.453, LSTM 2x200 (config c98da77571b7) 0.547",
    or "" for a run that was not derived, or whose record does not say."""
    derived = config.get("derived_from") if isinstance(config, dict) else None
    settings = derived.get("settings") if isinstance(derived, dict) else None
    members = settings.get("members") if isinstance(settings, dict) else None
    if not isinstance(members, dict) or not members:
        return ""
    weights = settings.get("weights") if isinstance(settings.get("weights"), dict) else {}
    parts = []
    for run_id, member in members.items():
        member = member if isinstance(member, dict) else {}
        label = str(member.get("label") or f"run {run_id}").split(" (")[0]
        config_hash = str(member.get("config_hash") or "")[:12]
        weight = weights.get(run_id)
        text = f"{label} (config {config_hash})" if config_hash else label
        parts.append(f"{text} {weight:.3f}" if isinstance(weight, (int, float)) else text)
    return "members: " + ", ".join(parts)
