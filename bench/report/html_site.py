"""The leaderboards as a static site: an index with each corpus's headline and its progress
over the years, a page per corpus (that chart, a filterable and sortable table, the
plots) and a page per measured run (:mod:`bench.report.html_run`).

The pages show the same rows as the markdown tables (from
:func:`bench.report.leaderboard.build_tables`); the markdown stays the primary output, this is a
way to browse it. Pages are self-contained (inline CSS, script and SVG, PNG files beside
them, links relative to the folder), so the folder works offline, from disk, and can be
published as it is (GitHub Pages).
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from bench.paths import write_atomically
from bench.report.families import model_family
from bench.report.html_assets import page
from bench.report.html_charts import YearPoint, year_chart
from bench.report.html_run import run_page
from bench.report.html_table import filters_html, run_page_name, table_html
from bench.report.leaderboard import corpus_file_stem
from bench.report.plots import PLOTS, corpus_figures, save_figure
from bench.report.training_curves import curves_figure, run_curves

if TYPE_CHECKING:
    from bench.store import Store

REPRODUCED_WITHIN = 2.0  # percent: a run "reproduces" a paper's figure when this close


def _records(table: pd.DataFrame, kind: str) -> list[Mapping[str, Any]]:
    return [r for r in table.attrs.get("records", []) if r.get("kind") == kind]


def year_points(table: pd.DataFrame) -> tuple[list[YearPoint], list[YearPoint]]:
    """The published rows with a year and a test figure, and the measured rows that
    reproduce one of them (drawn beside it)."""
    published, by_row = [], {}
    for record in _records(table, "reference"):
        if record.get("year") and record.get("test_ppl"):
            point = YearPoint(
                int(record["year"]),
                float(record["test_ppl"]),
                str(record["model"]),
                model_family(str(record["model"])),
            )
            published.append(point)
            by_row[(point.name, point.ppl)] = point
    measured = []
    for record in _records(table, "measured"):
        paper = by_row.get((str(record.get("reproduces")), record.get("paper_test_ppl")))
        if paper is None or not record.get("test_ppl"):
            continue
        runs = record.get("run_ids") or []
        measured.append(
            YearPoint(
                paper.year,
                float(record["test_ppl"]),
                f"{record['model']} (run {', '.join(map(str, runs))})",
                model_family(str(record["model"]), str(record.get("plugin") or "")),
                href=run_page_name(runs[0]) if runs else None,
                reproduces=paper,
            )
        )
    return published, measured


def _chart(corpus: str, table: pd.DataFrame) -> str:
    published, measured = year_points(table)
    shown = len(measured)
    others = len(_records(table, "measured")) - shown
    caption = f"{corpus}: published test perplexity by year of publication. "
    if shown:
        caption += f"{shown} run(s) of bench beside the published row each reproduces. "
    if others > 0:
        caption += f"{others} measured run(s) reproduce no dated published row: see the table. "
    caption += "Hover a point for its model; the rows that set a record are named."
    return year_chart(published, measured, caption=caption)


def headline(table: pd.DataFrame) -> dict[str, Any]:
    """Best measured row, best published row, and how many measured rows reproduce their
    paper's figure within :data:`REPRODUCED_WITHIN` percent (of how many that have one)."""
    measured = [r for r in _records(table, "measured") if r.get("test_ppl") is not None]
    published = [r for r in _records(table, "reference") if r.get("test_ppl") is not None]
    changes = [
        r["test_ppl_change_percent"]
        for r in measured
        if r.get("test_ppl_change_percent") is not None
    ]
    return {
        "measured": min(measured, key=lambda r: r["test_ppl"], default=None),
        "published": min(published, key=lambda r: r["test_ppl"], default=None),
        "reproduced": sum(abs(c) <= REPRODUCED_WITHIN for c in changes),
        "reproducible": len(changes),
        "rows": (len(measured), len(published)),
    }


def _headline_row(corpus: str, table: pd.DataFrame) -> str:
    facts = headline(table)
    stem = corpus_file_stem(corpus)
    cells = [f'<td class="name"><a href="{stem}.html">{escape(corpus)}</a></td>']
    best = facts["measured"]
    if best:
        runs = ", ".join(f'<a href="{run_page_name(i)}">{i}</a>' for i in best["run_ids"])
        cells += [
            f'<td class="num"><b>{best["test_ppl"]:.2f}</b></td>',
            f"<td>{escape(best['model'])} (run {runs})</td>",
        ]
    else:
        cells += ['<td class="num"></td>', '<td class="muted">no run yet</td>']
    best = facts["published"]
    year = f" ({best['year']})" if best and best.get("year") else ""
    cells += [
        f'<td class="num"><b>{best["test_ppl"]:g}</b></td>' if best else '<td class="num"></td>',
        f"<td>{escape(best['model'])}{year}</td>" if best else "<td></td>",
    ]
    reproduced = (
        f"{facts['reproduced']} of {facts['reproducible']}" if facts["reproducible"] else ""
    )
    measured, published = facts["rows"]
    cells += [
        f'<td class="num wide">{reproduced}</td>',
        f'<td class="num wide">{measured} / {published}</td>',
    ]
    return f"<tr>{''.join(cells)}</tr>"


def _headlines(tables: dict[str, pd.DataFrame]) -> str:
    head = (
        '<tr><th>corpus</th><th class="num">best measured</th><th>model</th>'
        '<th class="num">best published</th><th>model</th>'
        f'<th class="num wide">within {REPRODUCED_WITHIN:g}% of paper</th>'
        '<th class="num wide">rows measured / published</th></tr>'
    )
    rows = "".join(_headline_row(corpus, table) for corpus, table in tables.items())
    return (
        f'<div class="scroll"><table id="headlines"><thead>{head}</thead>'
        f"<tbody>{rows}</tbody></table></div>"
    )


def _index_page(tables: dict[str, pd.DataFrame]) -> str:
    # corpora bench has measured first: they are what this site adds to the papers
    order = sorted(tables, key=lambda c: (-int((tables[c]["kind"] == "measured").sum()), c))
    tables = {corpus: tables[corpus] for corpus in order}
    charts = []
    for corpus, table in tables.items():
        chart = _chart(corpus, table)
        if chart:
            stem = corpus_file_stem(corpus)
            charts.append(
                f'<section><h2><a href="{stem}.html">{escape(corpus)}</a>: progress over '
                f"the years</h2>\n{chart}</section>"
            )
    body = (
        "<h1>Perplexity leaderboards</h1>\n"
        '<p class="muted">Runs measured by bench, each with the command that reproduces it, '
        "beside published figures quoted with their citations. Lower perplexity is better; "
        "perplexities compare only on the same corpus and tokenizer. "
        f'"Within {REPRODUCED_WITHIN:g}%": runs of a published recipe whose test perplexity '
        "is that close to the paper's, of all such runs.</p>\n"
        f"{_headlines(tables)}\n"
        f'<div class="charts">{"".join(charts)}</div>'
    )
    return page("Perplexity leaderboards", body)


def _corpus_page(corpus: str, table: pd.DataFrame, plots: list[tuple[str, str]]) -> str:
    measured = int((table["kind"] == "measured").sum())
    reference = int((table["kind"] == "reference").sum())
    parts = [
        '<nav><a href="index.html">all corpora</a></nav>',
        f"<h1>Perplexity on {escape(corpus)}</h1>",
        _chart(corpus, table),
        f'<p class="muted">{measured} rows measured by bench (tinted), {reference} published '
        "(quoted with citations, not re-measured). ppl is per token of each run's own "
        "tokenizer, with its 95% interval (or mean ± std over seeds) below it. A model's "
        "name opens its details (command, scoring, device, citation); a run's number opens "
        "its page. Click a column's header to sort on it, again to reverse.</p>",
        filters_html(table),
        table_html(table),
    ]
    if plots:
        parts.append("<h2>Plots</h2>")
        parts += [f'<p><img src="{escape(name)}" alt="{escape(alt)}"></p>' for alt, name in plots]
    return page(f"Perplexity on {corpus}", "\n".join(p for p in parts if p), sortable=True)


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
            if curves.series:  # against tokens seen, or steps where the run has no count
                axis = "tokens" if curves.tokens_per_step else "steps"
                figure = curves_figure([curves], x_axis=axis)
                image = save_figure(figure, out / f"run-{run_id}-curves.png").name
            pages.append(
                _write(out / run_page_name(run_id), run_page(record, f"{stem}.html", image))
            )
    return pages
