"""Only rank 0 writes: the database and observer hooks as every rank of a distributed run
sees them (the other ranks read what rank 0 broadcasts, and notify no one)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.machine.distributed import current, from_rank0


def _ignored(*args: Any, **kwargs: Any) -> None:
    return None


class SharedStore:
    """The run's database as every rank sees it: rank 0 opens it and writes; the others
    never open it, their writes are dropped, and what they read (the run's id, a stored
    run to resume, the URL that names the run's folder) is broadcast from rank 0."""

    def __init__(self, open_store: Callable[[], Any]) -> None:
        self._store = open_store() if current().is_main else None
        self.url: str = from_rank0(lambda: self._store.url)

    def create_run(self, **fields: Any) -> int:
        return from_rank0(lambda: self._store.create_run(**fields))

    def get_run(self, run_id: int) -> dict[str, Any]:
        return from_rank0(lambda: self._store.get_run(run_id))

    def list_runs(self, **filters: Any) -> list[dict[str, Any]]:
        """Stored runs, as rank 0 reads them (`bench run --resume last` on every rank)."""
        return from_rank0(lambda: self._store.list_runs(**filters))

    def __getattr__(self, name: str) -> Any:
        if self._store is not None:
            return getattr(self._store, name)
        return _ignored


def shared_store(open_store: Callable[[], Any]) -> Any:
    """The store a rank uses: the database itself in one process, else a SharedStore."""
    return SharedStore(open_store) if current().distributed else open_store()


class _NoHooks:
    def __getattr__(self, name: str) -> Any:
        return lambda **kwargs: []


class _QuietHost:
    """A plugin host whose observer hooks do not fire: a plugin logging runs elsewhere
    hears of a distributed run once, from rank 0."""

    def __init__(self, host: Any) -> None:
        self._host = host
        self.hook = _NoHooks()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._host, name)


def shared_host(host: Any) -> Any:
    return host if current().is_main else _QuietHost(host)


def note_world_size(
    store: Any, run_id: int, record: dict[str, Any], env: dict[str, Any], echo: Callable[[str], Any]
) -> None:
    """A run may continue on another number of ranks (the checkpoint holds every column's
    state); the run then records the ranks it finished on (``env``: this attempt's)."""
    before = (record.get("environment") or {}).get("distributed", {}).get("world_size", 1)
    now = env.get("distributed", {}).get("world_size", 1)
    if before != now:
        echo(f"run {run_id} trained on {before} rank(s) so far; it continues on {now}")
        store.update_run(run_id, environment=env, device_name=env["device_name"])
