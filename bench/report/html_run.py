"""A measured run's page on the leaderboard site: its results rounded as the tables round
them, with their intervals, the command that reproduces it, its training curves, its
configuration and its environment.

Figures are rounded as in the leaderboard (perplexity to 2 decimals, its interval to 1,
bits to 3, counts with separators); the exact values are in ``bench show RUN`` and in the
run's exported file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from html import escape
from typing import Any

from bench.report.html_assets import page
from bench.report.leaderboard import humanize_count
from bench.secrets import mask_text
from bench.store.local_paths import shared_run


def key_value_lines(values: Mapping[str, Any], prefix: str = "") -> list[str]:
    """``key = value`` lines, nested mappings as dotted keys (``tokenizer.vocab_size``);
    values other than text as JSON, as a configuration file would hold them."""
    lines = []
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            lines += key_value_lines(value, f"{name}.")
        elif value is not None:
            plain = isinstance(value, (bool, int, float, list, tuple))
            text = json.dumps(value, default=str) if plain else str(value)  # dates as text
            lines.append(f"{name} = {text}")
    return lines


def _number(value: Any, spec: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return format(value, spec)


def duration(seconds: Any) -> str:
    """3336.1 -> "55 min 36 s", 95000 -> "26 h 23 min"; "" when missing."""
    if seconds is None:
        return ""
    seconds = round(float(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def _when(value: Any) -> str:
    return "" if value is None else str(value)[:19].replace("T", " ") + " UTC"


def _results(record: Mapping[str, Any]) -> str:
    header = [
        "split",
        "ppl",
        "95% interval",
        "bits/token",
        "bits/byte",
        "tokens",
        "OOV",
        "scored",
        "eval tokens/s",
    ]
    rows = []
    for ev in record.get("evaluations", []):
        low, high = ev.get("ppl_low"), ev.get("ppl_high")
        interval = f"[{low:.1f}, {high:.1f}]" if low is not None and high is not None else ""
        context = f", context {ev['context']}" if ev.get("context") else ""
        cells = [
            escape(str(ev.get("split", ""))),
            _number(ev.get("ppl"), ".2f"),
            interval,
            _number(ev.get("bits_per_token"), ".3f"),
            _number(ev.get("bits_per_byte"), ".3f"),
            _number(ev.get("tokens"), ","),
            _number(ev.get("oov"), ","),
            escape(f"{ev.get('mode', '')}, batch {ev.get('batch_size', '')}{context}"),
            _number(ev.get("tokens_per_second"), ",.0f"),
        ]
        rows.append(
            "<tr>"
            + "".join(
                f'<td class="{"num" if i and i != 7 else ""}">{c}</td>' for i, c in enumerate(cells)
            )
            + "</tr>"
        )
    if not rows:
        return ""
    head = "".join(
        f'<th class="{"num" if i and i != 7 else ""}">{h}</th>' for i, h in enumerate(header)
    )
    return (
        f'<h2>Results</h2>\n<div class="scroll"><table id="results"><thead><tr>{head}'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def _facts(record: Mapping[str, Any]) -> list[tuple[str, str]]:
    params = record.get("params")
    rate = _number(record.get("train_tokens_per_second"), ",.0f")
    return [
        ("model", f"{record.get('model_label') or ''} (plugin {record.get('plugin') or ''})"),
        ("corpus", str(record.get("corpus") or "")),
        (
            "tokenizer",
            f"{record.get('tokenizer') or ''}, vocabulary {_number(record.get('vocab_size'), ',')}",
        ),
        ("parameters", f"{humanize_count(params)} ({params:,})" if params else ""),
        (
            "trained on",
            f"{humanize_count(record.get('train_tokens'))} tokens"
            if record.get("train_tokens")
            else "",
        ),
        ("training speed", f"{rate} tokens/s" if rate else ""),
        ("wall time", duration(record.get("wall_seconds"))),
        (
            "peak memory",
            _number(record.get("peak_rss_mb"), ",.0f") + " MB" if record.get("peak_rss_mb") else "",
        ),
        (
            "GPU memory",
            _number(record.get("cuda_max_allocated_mb"), ",.0f") + " MB"
            if record.get("cuda_max_allocated_mb")
            else "",
        ),
        ("device", str(record.get("device_name") or record.get("device") or "")),
        ("seed", str(record.get("seed") if record.get("seed") is not None else "")),
        ("started", _when(record.get("started_at"))),
        ("finished", _when(record.get("finished_at"))),
        ("status", str(record.get("status") or "")),
        (
            "bench",
            f"{record.get('bench_version') or ''} (git {str(record.get('git_commit') or '')[:12]})",
        ),
        ("config hash", str(record.get("config_hash") or "")[:16]),
    ]


def _definition_list(pairs: list[tuple[str, str]]) -> str:
    items = "".join(
        f"<dt>{escape(name)}</dt><dd>{escape(value)}</dd>" for name, value in pairs if value
    )
    return f'<dl class="facts">{items}</dl>'


def _block(title: str, lines: list[str]) -> str:
    if not lines:
        return ""
    return f"<h2>{escape(title)}</h2>\n<pre>{escape(chr(10).join(lines))}</pre>"


def run_page(record: Mapping[str, Any], corpus_page: str, curves: str | None) -> str:
    """The page of one stored run (a :meth:`Store.get_run` record); ``curves`` is the file
    name of its training curves' PNG beside the page, if it has any."""
    run_id = int(record["id"])
    label = record.get("model_label") or record.get("plugin") or ""
    # a site is made to be published: local paths as <data-dir>/..., ~/...
    record = shared_run(dict(record))
    command = mask_text(record.get("command") or "") or "(command not recorded)"
    environment = [
        tuple(line.split(" = ", 1)) for line in key_value_lines(record.get("environment") or {})
    ]
    parts = [
        f'<nav><a href="index.html">all corpora</a> · '
        f'<a href="{escape(corpus_page)}">{escape(str(record.get("corpus") or ""))}</a></nav>',
        f"<h1>Run {run_id}: {escape(label)}</h1>",
        _results(record),
        _block("Command", [command]),
        "<h2>Run</h2>\n" + _definition_list(_facts(record)),
    ]
    if curves:
        parts += [
            "<h2>Training curves</h2>",
            f'<p><img src="{escape(curves)}" alt="training curves of run {run_id}"></p>',
        ]
    parts += [
        _block("Configuration", key_value_lines(record.get("config") or {})),
        "<h2>Environment</h2>\n" + _definition_list(environment) if environment else "",
    ]
    return page(f"Run {run_id}: {label}", "\n".join(p for p in parts if p))
