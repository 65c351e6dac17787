"""The leaderboards as a static site: an index, a sortable page per corpus with its plots,
and a page per measured run (configuration, environment, training curves, command).

The pages show the same rows as the markdown tables (from
:func:`bench.report.leaderboard.build_tables`); the markdown stays the primary output, this is a
way to browse it. Pages are self-contained (inline CSS and script, PNG files beside
them), so the folder works offline and from disk.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from bench.paths import write_atomically
from bench.report.html_assets import page
from bench.report.leaderboard import NUMERIC_COLUMNS, corpus_file_stem
from bench.report.plots import PLOTS, corpus_figures, save_figure
from bench.report.training_curves import curves_figure, run_curves
from bench.secrets import mask_text
from bench.store.local_paths import shared_run
from bench.store.rows import stored_number

if TYPE_CHECKING:
    from bench.store import Store

RUN_FIELDS = [
    "status",
    "plugin",
    "plugin_version",
    "model_label",
    "corpus",
    "corpus_source",
    "tokenizer",
    "vocab_size",
    "params",
    "seed",
    "device",
    "device_name",
    "started_at",
    "finished_at",
    "wall_seconds",
    "train_tokens",
    "train_tokens_per_second",
    "peak_rss_mb",
    "cuda_max_allocated_mb",
    "bench_version",
    "git_commit",
    "config_hash",
]
LONG_COLUMNS = {"citation", "notes", "options", "protocol"}  # prose: smaller print


def run_page_name(run_id: int) -> str:
    return f"run-{int(run_id)}.html"


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


def _run_links(cell: str) -> str:
    ids = [part.strip() for part in str(cell).split(",") if part.strip()]
    if not all(i.isdigit() for i in ids):
        return escape(str(cell))
    return ", ".join(f'<a href="{run_page_name(int(i))}">{i}</a>' for i in ids)


def table_html(table: pd.DataFrame) -> str:
    """The table's rows under headers a script sorts (columns empty in every row left
    out); run ids link to their pages."""
    columns = [c for c in table.columns if (table[c].astype(str) != "").any()]
    head = "".join(f'<th data-column="{escape(c)}">{escape(c)}</th>' for c in columns)
    rows = []
    for _, row in table.iterrows():
        cells = []
        for column in columns:
            text = str(row[column])
            inner = _run_links(text) if column == "run" else escape(text)
            css = ' class="num"' if column in NUMERIC_COLUMNS else ""
            css = ' class="long"' if column in LONG_COLUMNS else css
            cells.append(f"<td{css}>{inner}</td>")
        rows.append(f'<tr class="{escape(str(row.get("kind", "")))}">{"".join(cells)}</tr>')
    return (
        '<div class="scroll"><table class="sortable" id="leaderboard">\n'
        f"<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody></table></div>"
    )


def _corpus_page(corpus: str, table: pd.DataFrame, plots: list[tuple[str, str]]) -> str:
    measured = int((table["kind"] == "measured").sum())
    reference = int((table["kind"] == "reference").sum())
    parts = [
        '<nav><a href="index.html">all corpora</a></nav>',
        f"<h1>Perplexity on {escape(corpus)}</h1>",
        f'<p class="muted">{measured} measured by bench, {reference} published (quoted with '
        "citations, not re-measured). ppl is per token of each run's own tokenizer; click a "
        "column's header to sort on it, again to reverse. A run's number opens its page: "
        "configuration, environment, training curves and the command that reproduces it.</p>",
        table_html(table),
    ]
    if plots:
        parts.append("<h2>Plots</h2>")
        parts += [f'<p><img src="{escape(name)}" alt="{escape(alt)}"></p>' for alt, name in plots]
    return page(f"Perplexity on {corpus}", "\n".join(parts), sortable=True)


def _section(title: str, lines: list[str]) -> str:
    if not lines:
        return ""
    return f"<h2>{escape(title)}</h2>\n<pre>{escape(chr(10).join(lines))}</pre>"


def _evaluation_lines(record: Mapping[str, Any]) -> list[str]:
    lines = []
    for ev in record.get("evaluations", []):
        interval = (
            f" [{ev['ppl_low']:.2f}, {ev['ppl_high']:.2f}]" if ev.get("ppl_low") is not None else ""
        )
        lines.append(
            f"{ev['split']}: ppl {stored_number(ev['ppl'], '.3f')}{interval}, "
            f"tokens {stored_number(ev['tokens'], ',')}, "
            f"{ev['mode']} (batch {ev['batch_size']})"
        )
    return lines


def _run_page(record: Mapping[str, Any], corpus_page: str, curves: str | None) -> str:
    run_id = int(record["id"])
    label = record.get("model_label") or record.get("plugin") or ""
    # a site is made to be published: local paths as <data-dir>/..., ~/...
    record = shared_run(dict(record))
    command = mask_text(record.get("command") or "") or "(command not recorded)"
    fields = {key: record.get(key) for key in RUN_FIELDS}
    parts = [
        f'<nav><a href="index.html">all corpora</a> · '
        f'<a href="{escape(corpus_page)}">{escape(str(record.get("corpus") or ""))}</a></nav>',
        f"<h1>Run {run_id}: {escape(label)}</h1>",
        _section("Command", [command]),
        _section("Results", _evaluation_lines(record)),
        _section("Run", key_value_lines(fields)),
        _section("Configuration", key_value_lines(record.get("config") or {})),
        _section("Environment", key_value_lines(record.get("environment") or {})),
    ]
    if curves:
        parts += ["<h2>Training curves</h2>", f'<p><img src="{curves}" alt="training curves"></p>']
    return page(f"Run {run_id}: {label}", "\n".join(p for p in parts if p))


def _index_page(tables: dict[str, pd.DataFrame]) -> str:
    items = []
    for corpus, table in tables.items():
        measured = int((table["kind"] == "measured").sum())
        reference = int((table["kind"] == "reference").sum())
        items.append(
            f'<li><a href="{corpus_file_stem(corpus)}.html">{escape(corpus)}</a> '
            f'<span class="muted">{measured} measured, {reference} published</span></li>'
        )
    body = (
        "<h1>Leaderboards</h1>\n"
        '<p class="muted">Perplexity per corpus: runs measured by bench beside published '
        "figures quoted with their citations.</p>\n<ul>\n" + "\n".join(items) + "\n</ul>"
    )
    return page("Leaderboards", body)


def _write(path: Path, text: str) -> Path:
    write_atomically(path, text.encode("utf-8"))  # replaces a link there, never follows it
    return path


def write_site(
    tables: dict[str, pd.DataFrame], results: pd.DataFrame, store: Store, out_dir: str | Path
) -> list[Path]:
    """Write the site into ``out_dir``: ``index.html``, ``<corpus>.html`` with its plots
    and ``run-<id>.html`` (with ``run-<id>-curves.png``) per measured run; return the
    pages written, the index first."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pages = [_write(out / "index.html", _index_page(tables))]
    for corpus, table in tables.items():
        stem = corpus_file_stem(corpus)
        plots = []
        for plot, figure in corpus_figures(table, results, corpus).items():
            path = save_figure(figure, out / f"{stem}-{plot}.png")
            plots.append((f"test perplexity against {PLOTS[plot][0]}", path.name))
        pages.append(_write(out / f"{stem}.html", _corpus_page(corpus, table, plots)))
        for run_id in dict.fromkeys(int(r["run"]) for r in table.attrs.get("runs", [])):
            record = store.get_run(run_id)
            curves = run_curves(record)
            image = None
            if curves.series:
                image = save_figure(curves_figure([curves]), out / f"run-{run_id}-curves.png").name
            pages.append(
                _write(out / run_page_name(run_id), _run_page(record, f"{stem}.html", image))
            )
    return pages
