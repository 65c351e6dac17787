"""How stored runs read on screen: the `bench runs` table and a run's configuration as
`key = value` lines for `bench show`. Plain functions of rows, so they are tested alone."""

from __future__ import annotations

import json
import re
from typing import Any

from tabulate import tabulate

from bench.report.shown_text import for_terminal

# the longest a cell may be before it is cut with an ellipsis; tabulate sizes the
# columns from what is left, so a long corpus folder or model label never shifts the rest
LABEL_WIDTH = 40
CORPUS_WIDTH = 32
REASON_WIDTH = 60
HEADERS = ("id", "status", "started", "model", "corpus", "valid ppl", "test ppl", "note")


def shorten(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, the last one an ellipsis when it was cut."""
    return text if len(text) <= width else text[: width - 1] + "…"


def failure_reason(error: str | None) -> str:
    """The first line of a stored error (its traceback follows a blank line), shortened."""
    if not error:
        return ""
    first = next((line.strip() for line in error.splitlines() if line.strip()), "")
    # "bench.errors.BenchError: message" -> "message"; "torch.x.SomeError: m" -> "SomeError: m"
    qualified = re.match(r"((?:\w+\.)*)(\w+): ", first)
    if qualified and qualified.group(2) == "BenchError":
        first = first[qualified.end() :]
    elif qualified and qualified.group(1):
        first = first[len(qualified.group(1)) :]
    return shorten(first, REASON_WIDTH)


def runs_table(rows: list[dict[str, Any]]) -> str:
    """The `bench runs` table: a header line, then one line per run."""
    # labels, corpus names and errors may come from someone else's file (bench import):
    # no control character of theirs reaches the terminal
    body = [
        (
            row["id"],
            for_terminal(row["status"]),
            for_terminal(str(row.get("started_at") or "")[:19]),
            for_terminal(shorten(row.get("model_label") or row.get("plugin") or "", LABEL_WIDTH)),
            for_terminal(shorten(row.get("corpus") or "", CORPUS_WIDTH)),
            row.get("valid_ppl"),
            row.get("test_ppl"),
            for_terminal(failure_reason(row.get("error"))) if row["status"] != "finished" else "",
        )
        for row in rows
    ]
    return tabulate(
        body,
        headers=HEADERS,
        tablefmt="plain",
        floatfmt=".2f",
        missingval="",
        disable_numparse=[1, 2, 3, 4, 7],  # text columns stay as written (a corpus "1234")
    )


def config_lines(config: dict[str, Any] | None) -> list[str]:
    """A configuration as ``key = value`` lines, nested mappings as dotted keys
    (``options.output_options.samples = 512``), in the stored order."""
    pairs = list(_flatten(config or {}, ""))
    width = max((len(key) for key, _ in pairs), default=0)
    return [f"{key:<{width}} = {value}" for key, value in pairs]


def _flatten(value: dict[str, Any], prefix: str) -> Any:
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, dict) and item:
            yield from _flatten(item, f"{name}.")
        else:
            yield name, _show(item)


def _show(value: Any) -> str:
    """A value as one would type it in --set or a TOML file."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return ", ".join(_show(v) for v in value) if value else "[]"
    if isinstance(value, dict):  # inside a list (a derived run's search record): inline
        return json.dumps(value, default=str) if value else "{}"
    return str(value)


def oov_text(split: str, oov: int | None, tokens: int, ppl_no_oov: float | None) -> str | None:
    """How many of a split's tokens were out of vocabulary, and the perplexity over the
    others; None when there were none (nothing worth a line)."""
    if not oov:
        return None
    share = f" ({oov / tokens:.2%})" if tokens else ""
    without = f"{ppl_no_oov:.3f}" if ppl_no_oov is not None else "n/a (every token is OOV)"
    return f"{split} OOV tokens {oov:,} of {tokens:,}{share}, perplexity without them {without}"
