"""Absolute local paths out of what leaves the machine: exported run files, leaderboards and
the HTML site.

A run records where it read its corpus and which ``--data-dir`` it used, as absolute paths
(``/home/alice/corpora/ptb``): right for this machine, where ``bench show`` prints them
and a resume needs them, but in a committed file they give away the user's name and the
layout of their home. What is shared names them relative to places every reader has:

- a path under the data folder (the current one, or a ``--data-dir`` the command gave)
  becomes ``<data-dir>/...``;
- a path under the home folder becomes ``~/...``;
- any other absolute path keeps only its last part, ``<path>/ptb``.

The database keeps the paths as they were.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shlex
from collections.abc import Iterable
from pathlib import PurePosixPath
from typing import Any

DATA_DIR_MARK = "<data-dir>"
OTHER_MARK = "<path>"
MARKS = (DATA_DIR_MARK, OTHER_MARK, "~/")


def _roots(extra_data_dirs: Iterable[str] = ()) -> list[tuple[str, str]]:
    """(prefix, what it becomes), the longest prefix first."""
    from bench.paths import data_dir

    roots = [(str(PurePosixPath(d)), DATA_DIR_MARK) for d in (*extra_data_dirs, data_dir(None))]
    home = os.path.expanduser("~")
    if home not in ("", "/"):
        roots.append((home, "~"))
    return sorted(
        ((root, mark) for root, mark in roots if root not in ("", "/")),
        key=lambda pair: len(pair[0]),
        reverse=True,
    )


def _under(path: str, root: str) -> str | None:
    if path == root:
        return ""
    return path[len(root) + 1 :] if path.startswith(root + "/") else None


def redact_path(path: str, data_dirs: Iterable[str] = ()) -> str:
    """One path as it may be shared (see the module's docstring); relative paths as they are."""
    if not path.startswith("/"):
        return path
    roots = _roots(data_dirs)
    for root, mark in roots:
        rest = _under(path, root)
        if rest is not None:
            return f"{mark}/{rest}" if rest else mark
    return f"{OTHER_MARK}/{PurePosixPath(path).name}"


def redact_command(command: str) -> str:
    """A stored command line with every absolute path in it made shareable."""
    try:
        words = shlex.split(command)
    except ValueError:
        return redact_text(command)
    data_dirs = _data_dirs_of(words)
    return shlex.join(_redact_word(word, data_dirs) for word in words)


def _data_dirs_of(words: list[str]) -> list[str]:
    """The ``--data-dir`` folders a command line names."""
    dirs = [w.split("=", 1)[1] for w in words if w.startswith("--data-dir=")]
    return dirs + [b for a, b in itertools.pairwise(words) if a == "--data-dir"]


def _redact_word(word: str, data_dirs: list[str]) -> str:
    if word.startswith("-") and "=" in word:
        flag, value = word.split("=", 1)
        return f"{flag}={redact_path(value, data_dirs)}"
    if word.startswith("/"):
        return redact_path(word, data_dirs)
    return word


def redact_text(text: str) -> str:
    """Free text (an error and its traceback): the data folder and the home folder by name."""
    for root, mark in _roots():
        text = text.replace(root + "/", mark + "/")
    return text


def redact_value(value: Any, data_dirs: Iterable[str] = ()) -> Any:
    """A JSON value (a configuration, an environment) with each absolute path made shareable."""
    if isinstance(value, str):
        return redact_path(value, data_dirs)
    if isinstance(value, dict):
        return {key: redact_value(item, data_dirs) for key, item in value.items()}
    if isinstance(value, list):
        return [redact_value(item, data_dirs) for item in value]
    return value


def holds_redacted_paths(value: Any) -> bool:
    """Whether a JSON value holds a path this module made shareable."""
    if isinstance(value, str):
        return value.startswith(MARKS) or value == "~"
    if isinstance(value, dict):
        return any(holds_redacted_paths(item) for item in value.values())
    if isinstance(value, list):
        return any(holds_redacted_paths(item) for item in value)
    return False


def shared_run(run: dict[str, Any]) -> dict[str, Any]:
    """A run row (as exported) with its local paths made shareable."""
    shared = dict(run)
    command = run.get("command")
    data_dirs: list[str] = []
    if command:
        shared["command"] = redact_command(command)
        with contextlib.suppress(ValueError):  # not a command line bench wrote
            data_dirs = _data_dirs_of(shlex.split(command))
    for key in ("corpus_source", "config", "environment"):
        if run.get(key) is not None:
            shared[key] = redact_value(run[key], data_dirs)
    if run.get("error"):
        shared["error"] = redact_text(run["error"])
    return shared
