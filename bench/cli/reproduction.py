"""`bench reproduce --table CORPUS`: a published table row by row, with its recipes' state
(the rows are built by ``bench.report.reproduction_table``; this module gathers their inputs)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from bench.cli.options import open_store, plugin_host, resolve_data_dir
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


def reproduce_rescore(
    recipe: Any,
    corpus: str,
    run_parent: Callable[[], int],
    db: str | None,
    data_dir: str | None,
    progress: bool,
) -> None:
    """`bench reproduce` of a rescoring recipe: the newest whole run of its parent recipe
    on ``corpus`` (run now if there is none), rescored with the recipe's method."""
    from bench.cli.rescoring import print_result, progress_bar
    from bench.configuration.recipes import find_recipe
    from bench.report.reproduction_table import whole_runs
    from bench.run.rescoring import rescore

    store = open_store(db)
    parent = find_recipe(recipe.rescore["parent"])
    # a local folder is recorded under the corpus name it was recognised as (ptb)
    runs = [
        run
        for run in store.list_runs(limit=None)
        if corpus in (run["corpus"], (run.get("config") or {}).get("corpus"))
    ]
    found = [run for name in {r["corpus"] for r in runs} for run in whole_runs(parent, name, runs)]
    parent_id = max(run["id"] for run in found) if found else run_parent()
    click.echo(f"{recipe.name}: rescoring run {parent_id} ({parent.name})", err=True)
    grid = {key: [str(v) for v in values] for key, values in recipe.rescore.get("grid", {}).items()}
    result = rescore(
        parent_id,
        recipe.rescore["method"],
        dict(recipe.rescore.get("settings", {})),
        grid=grid,
        store=store,
        host=plugin_host(),
        data_dir=resolve_data_dir(data_dir),
        command=f"bench reproduce {recipe.name}",
        echo=lambda line: click.echo(line, err=True),
        progress=progress_bar(progress),
    )
    print_result(result, parent_id, store.url)
