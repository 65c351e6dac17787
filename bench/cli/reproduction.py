"""`bench reproduce --table CORPUS`: a published table row by row, with its recipes' state
(the rows are built by ``bench.report.reproduction_table``; this module gathers their inputs)."""

from __future__ import annotations

import click

from bench.cli.options import open_store, plugin_host
from bench.errors import BenchError


def print_table(corpus: str, db: str | None) -> None:
    from bench.configuration.options import validate_options
    from bench.configuration.recipes import Recipe, load_recipes
    from bench.configuration.run_config import build_config
    from bench.report.published import load_published
    from bench.report.reproduction_table import build_rows, render_text

    host = plugin_host()
    name = host.corpora.entry(corpus).name if corpus in host.corpora else corpus
    aliases = {ref: entry.name for entry in host.corpora for ref in entry.item.reference_names}
    published = load_published()
    published = published.assign(corpus=published["corpus"].map(lambda c: aliases.get(c, c)))

    def why_not(recipe: Recipe) -> str | None:
        """Why the installed plugins cannot run the recipe (None: they can)."""
        try:
            config = build_config(recipe.config, {}, ())
            host.model_options(config.plugin, config.options)
            if config.tokenizer:
                tokenizer = host.tokenizers.get(config.tokenizer)
                validate_options(tokenizer.Options, config.tokenizer_options, config.tokenizer)
        except (BenchError, ValueError) as exc:
            return str(exc).splitlines()[0]
        return None

    recipes = load_recipes()
    known = set(published["corpus"]) | {r.config.get("corpus") for r in recipes}
    if name not in known:
        raise BenchError(
            f"no published rows or recipes for corpus {corpus!r}; corpora with "
            f"published rows: {', '.join(sorted(set(published['corpus'])))}"
        )
    runs = open_store(db).list_runs(limit=None, corpus=name)
    click.echo(render_text(name, build_rows(name, published, recipes, runs, why_not)), nl=False)
