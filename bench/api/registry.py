"""Named registries that plugins fill through the ``register`` callbacks."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from bench.errors import BenchError, unknown_name_error

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    item: T
    plugin: str
    aliases: tuple[str, ...] = ()


class Registry(Generic[T]):
    """Names (and aliases) to registered items, with duplicate checks and near-match errors."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}
        self._aliases: dict[str, str] = {}

    def add(self, name: str, item: T, *, plugin: str, aliases: tuple[str, ...] = ()) -> None:
        if not isinstance(name, str) or not name:
            raise BenchError(f"a {self.kind} name must be a non-empty string, got {name!r}")
        for key in (name, *aliases):
            if key in self._entries or key in self._aliases:
                owner = self._entries.get(key) or self._entries[self._aliases[key]]
                raise BenchError(
                    f"{self.kind} name {key!r} from plugin {plugin!r} is already registered "
                    f"by plugin {owner.plugin!r}"
                )
        self._entries[name] = Entry(name=name, item=item, plugin=plugin, aliases=tuple(aliases))
        for alias in aliases:
            self._aliases[alias] = name

    def entry(self, name: str) -> Entry[T]:
        key = self._aliases.get(name, name)
        if key not in self._entries:
            raise unknown_name_error(self.kind, name, [*self._entries, *self._aliases])
        return self._entries[key]

    def get(self, name: str) -> T:
        return self.entry(name).item

    def __contains__(self, name: str) -> bool:
        return name in self._entries or name in self._aliases

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(sorted(self._entries.values(), key=lambda e: e.name))

    def names(self) -> list[str]:
        return sorted(self._entries)
