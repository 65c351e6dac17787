"""Keep passwords out of everything bench prints or stores.

A database URL may carry a password (``postgresql+psycopg://user:PASSWORD@host/db``), given
with ``--db`` or ``$BENCH_DB``. bench shows and records URLs and command lines (the run
summary, ``runs.command``, ``bench show``, leaderboards' "reproduce with" lines); each goes
through :func:`mask_text` first, which renders the password as SQLAlchemy does (``***``).
"""

from __future__ import annotations

import re

# scheme://user:password@  (the user part may be empty; the password runs to the last '@'
# before the host, so a password holding '@' or ':' is hidden whole)
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*:)(?P<secret>\S*)@")

MASK = "***"


def mask_text(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``***``."""
    return _URL_PASSWORD.sub(lambda m: f"{m.group('head')}{MASK}@", text)


def mask_args(args: list[str]) -> list[str]:
    """Command-line arguments with any URL password masked."""
    return [mask_text(arg) for arg in args]
