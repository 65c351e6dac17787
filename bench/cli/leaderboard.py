"""`bench leaderboard`: tables per corpus, measured runs beside published reference rows."""

from __future__ import annotations

from pathlib import Path

import click

from bench.cli.options import db_option, open_store, plugin_host
from bench.errors import BenchError
from bench.report.shown_text import for_terminal


@click.command()
@click.option("--corpus", "-c", "corpora", multiple=True, help="only these corpora (repeatable)")
@click.option(
    "--format", "fmt", type=click.Choice(["md", "csv", "json"]), default="md", show_default=True
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="write one file per corpus into this folder (e.g. leaderboards/)",
)
@click.option(
    "--html",
    "html_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="write a static site into this folder: each corpus's headline and progress over "
    "the years, filterable sortable tables, plots, a page per run (no network needed)",
)
@click.option(
    "--all",
    "show_all",
    is_flag=True,
    help="also corpora with published figures but no measured run",
)
@click.option(
    "--headline",
    is_flag=True,
    help="one short markdown table of every measured run (the README's results)",
)
@db_option
def leaderboard(
    corpora: tuple[str, ...],
    fmt: str,
    out: Path | None,
    html_dir: Path | None,
    show_all: bool,
    headline: bool,
    db: str | None,
) -> None:
    """Tables per corpus: measured runs beside published reference rows with citations.

    Without --corpus or --all, only corpora with at least one finished run are shown.

    \b
    Examples:
      bench leaderboard --corpus ptb
      bench import leaderboards/runs && bench leaderboard --out leaderboards
      bench leaderboard --html site      # then open site/index.html in a browser

    With --out and the markdown format, plots of test perplexity against parameters and
    against training speed are written beside each table, which links them.
    """
    from bench.report.bits_per_unit import FiguresPer
    from bench.report.leaderboard import build_tables, render, write_tables
    from bench.report.published import load_published

    host = plugin_host()
    aliases = {ref: entry.name for entry in host.corpora for ref in entry.item.reference_names}
    figures_per = {
        entry.name: FiguresPer(entry.item.figures_per, entry.item.default_tokenizer)
        for entry in host.corpora
    }
    wanted = [host.corpora.entry(c).name if c in host.corpora else c for c in corpora] or None
    store = open_store(db)
    results = store.results_frame()
    if wanted is None and not show_all:
        finished = results[results["status"] == "finished"] if "status" in results else results
        wanted = sorted(set(finished["corpus"].dropna())) if "corpus" in finished else []
    tables = build_tables(
        results,
        load_published(),
        corpus_aliases=aliases,
        corpora=wanted,
        figures_per=figures_per,
        new_options=host.with_new_options,
    )
    if not tables:
        raise BenchError(
            "nothing to show: no finished runs and no references for "
            f"{', '.join(corpora) or 'any corpus'} (--all shows the published "
            "figures of every corpus)"
        )
    if headline:
        from bench.report.markdown import headline as headline_table

        click.echo(for_terminal(headline_table(tables), keep_newlines=True), nl=False)
        return
    if html_dir:
        from bench.report.html_site import write_site

        pages = write_site(tables, results, store, html_dir)
        click.echo(f"wrote {pages[0]} and {len(pages) - 1} more pages")
    if out:
        if fmt == "md":  # the markdown links the plots written beside it
            from bench.report.plots import write_corpus_plots

            for paths in write_corpus_plots(tables, results, out).values():
                for path in paths:
                    click.echo(f"wrote {path}")
        for path in write_tables(tables, out, fmt):
            click.echo(f"wrote {path}")
    if out or html_dir:
        return
    # markdown is escaped already; CSV and JSON cells hold stored text as it is
    text = "\n\n".join(render(tables[name], fmt, corpus=name) for name in tables)
    click.echo(for_terminal(text, keep_newlines=True))
