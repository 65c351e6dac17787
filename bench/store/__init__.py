"""bench's database: runs, evaluations, metrics and artifacts (see :class:`Store`)."""

from bench.store.database import Store

__all__ = ["Store"]
