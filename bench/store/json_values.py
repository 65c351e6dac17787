"""JSON for the database's JSON columns that every backend accepts and reads back exactly.

Python's json writes inf and nan as the bare words ``Infinity`` and ``NaN``, which are not
JSON: SQLite stores them as text, PostgreSQL rejects the row. A non-finite float (an option
such as ``checkpoint_minutes=inf``) is written as ``{"$float": "inf"}`` instead and read
back as the float, so a stored configuration compares equal to the one it came from.
"""

from __future__ import annotations

import json
import math
from typing import Any

_TAG = "$float"


def _portable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return {_TAG: repr(value)}  # 'inf', '-inf' or 'nan'
    if isinstance(value, dict):
        return {key: _portable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_portable(item) for item in value]
    return value


def _restore(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and _TAG in obj and isinstance(obj[_TAG], str):
        return float(obj[_TAG])
    return obj


def dumps(value: Any) -> str:
    """JSON text for ``value``, non-finite floats tagged."""
    return json.dumps(_portable(value), allow_nan=False)


def loads(text: str | bytes) -> Any:
    """The value :func:`dumps` wrote (also reads bare ``Infinity``/``NaN`` of older rows)."""
    return json.loads(text, object_hook=_restore)
