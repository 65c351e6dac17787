"""Keep passwords out of everything bench prints or stores.

A database URL may carry a password, in its user info
(``postgresql+psycopg://user:PASSWORD@host/db``, where SQLAlchemy accepts spaces too) or in
its query string (``...db?password=PASSWORD``), given with ``--db`` or ``$BENCH_DB``. bench
shows and records URLs and command lines (the run summary, ``runs.command``, ``bench show``,
exports, leaderboards' "reproduce with" lines, the HTML site); each goes through
:func:`mask_url`, :func:`mask_args` or :func:`mask_text` first, which put ``***`` in place
of the password.

A URL is masked by taking it apart (scheme, user info, host, query parameters), not by
matching what a password usually looks like: a password holding ``@``, ``:``, ``/``, ``#``
or a space is hidden whole.
"""

from __future__ import annotations

import re
import shlex

MASK = "***"

# query parameters that carry a secret in the URLs of SQLAlchemy's drivers (libpq's
# password and sslpassword, ODBC's pwd, tokens of cloud databases)
SECRET_PARAMETERS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "pass",
        "sslpassword",
        "secret",
        "token",
        "access_token",
        "auth_token",
        "api_key",
        "apikey",
    }
)

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")
_USER = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^:/@?#\s]*")


def mask_url(url: str) -> str:
    """``url`` with the password of its user info and every secret query parameter
    replaced by ``***``; the rest as it was written."""
    found = _USER.match(url)
    if found is None:
        return url
    head, rest = url[: found.end()], url[found.end() :]
    if rest.startswith(":") and "@" in rest:
        # the password runs to the last '@': SQLAlchemy ends it at the first, but hiding a
        # host by mistake is safe where showing part of a password is not
        head += f":{MASK}@"
        rest = rest[rest.rindex("@") + 1 :]
    if "?" in rest:
        rest, query = rest.split("?", 1)
        rest += "?" + _mask_query(query)
    return head + rest


def _mask_query(query: str) -> str:
    fragment = ""
    if "#" in query:
        query, fragment = query.split("#", 1)
        fragment = "#" + fragment
    parts = []
    for part in re.split(r"([&;])", query):
        key, equals, _ = part.partition("=")
        parts.append(f"{key}={MASK}" if equals and _is_secret(key) else part)
    return "".join(parts) + fragment


def _is_secret(key: str) -> bool:
    from urllib.parse import unquote

    return unquote(key).strip().lower() in SECRET_PARAMETERS


def mask_arg(arg: str) -> str:
    """One command-line argument (``URL`` or ``--db=URL``) with any URL in it masked."""
    found = _SCHEME.search(arg)
    if found is None:
        return arg
    return arg[: found.start()] + mask_url(arg[found.start() :])


def mask_args(args: list[str]) -> list[str]:
    """Command-line arguments with any URL password masked."""
    return [mask_arg(arg) for arg in args]


def mask_text(text: str) -> str:
    """``text`` (a stored command line, a message) with the password of every URL in it
    replaced by ``***``.

    A command line is split into its arguments as the shell would, so that a quoted URL
    whose password holds a space is masked whole; text that is not a command line is
    masked word by word, a password with a space then hidden up to the last ``@`` of its
    line.
    """
    if "://" not in text:
        return text
    lines = []
    for line in text.split("\n"):
        lines.append(_mask_line(line))
    return "\n".join(lines)


def _mask_line(line: str) -> str:
    if "://" not in line:
        return line
    try:
        words = shlex.split(line)
    except ValueError:
        words = None
    if words is not None and shlex.join(words) == line:  # a command line bench wrote
        return shlex.join(mask_args(words))
    # free text: a URL ends at white space, but user info that spans a space ends at the
    # last '@' of the line (hiding too much is safe, too little is not)
    line = re.sub(
        r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*:)(?P<secret>[^\n]*)@",
        lambda m: f"{m.group('head')}{MASK}@",
        line,
    )
    return re.sub(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"]+", lambda m: mask_url(m.group(0)), line)
