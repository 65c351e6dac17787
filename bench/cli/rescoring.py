"""`bench rescore`: a stored run scored again through an evaluation method, as a new run."""

from __future__ import annotations

import shlex
import sys
from typing import Any

import click

from bench.cli.options import (
    RUN_ID,
    data_dir_option,
    db_option,
    open_store,
    plugin_host,
    resolve_data_dir,
    resolve_run,
    set_option,
)
from bench.errors import BenchError


@click.command()
@click.argument("run_id", type=RUN_ID, metavar="RUN", required=False)
@click.option("--method", "-m", help="evaluation method (see --list)")
@set_option("fix a method option (repeatable): it is then not searched on validation")
@click.option(
    "--grid",
    "grids",
    multiple=True,
    metavar="KEY=V1,V2,...",
    help="search these values of an option on validation instead of the method's own grid",
)
@click.option("--list", "listing", is_flag=True, help="list the methods, their options and grids")
@click.option("--progress/--no-progress", default=True, help="progress bars on stderr")
@db_option
@data_dir_option
def rescore(
    run_id: int | str | None,
    method: str | None,
    assignments: tuple[str, ...],
    grids: tuple[str, ...],
    listing: bool,
    progress: bool,
    db: str | None,
    data_dir: str | None,
) -> None:
    """Score a stored run again with an evaluation-time method (a cache, dynamic
    evaluation), without retraining; store the result as a new run.

    The run's model is restored (its checkpoint; an n-gram model is counted again) and
    must reproduce the run's stored validation perplexity. The method's settings are
    chosen on the validation split only, from its grid (see --list), and test is scored
    once with them. The new run names its parent, the method, the chosen settings and
    the whole search (`bench show`), and the leaderboard shows it as e.g.
    "KN5 + unigram cache".

    \b
    Examples:
      bench rescore 12 --method cache
      bench rescore 12 --method cache --set window=500 --grid weight=0.05,0.1
      bench rescore 7 --method neural-cache
      bench rescore 7 --method dynamic-eval --set rule=sgd
      bench rescore --list
    """
    from bench.configuration.options import parse_assignments
    from bench.run.rescoring import rescore as rescore_run

    host = plugin_host()
    if listing:
        _list_methods(host)
        return
    if run_id is None or method is None:
        raise BenchError("give a RUN and --method NAME (`bench rescore --list` lists methods)")
    store = open_store(db)
    parent = resolve_run(store, run_id)
    result = rescore_run(
        parent,
        method,
        parse_assignments(assignments),
        grid=_parse_grids(grids),
        store=store,
        host=host,
        data_dir=resolve_data_dir(data_dir),
        command="bench " + shlex.join(sys.argv[1:]),
        echo=lambda line: click.echo(line, err=True),
        progress=progress_bar(progress),
    )
    print_result(result, parent, store.url)


def print_result(result: Any, parent: int, url: str) -> None:
    """The summary of a rescored run, as `bench run` prints one."""
    valid, test = result.evaluations["valid"], result.evaluations["test"]
    chosen = ", ".join(f"{key}={value}" for key, value in result.chosen.items())
    click.echo(f"run {result.run_id} finished: {result.label} (from run {parent})")
    click.echo(f"  chosen on valid ({len(result.search)} tried): {chosen}")
    click.echo(f"  valid perplexity {valid.ppl:10.3f}   test perplexity {test.ppl:10.3f}")
    interval = test.ppl_interval
    if interval is not None:
        click.echo(f"  test 95% interval [{interval.low:.2f}, {interval.high:.2f}]")
    click.echo(f"  stored in {url} (bench show {result.run_id})")


def _parse_grids(grids: tuple[str, ...]) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for text in grids:
        key, sep, values = text.partition("=")
        listed = [value.strip() for value in values.split(",") if value.strip()]
        if not sep or not key.strip() or not listed:
            raise BenchError(f"--grid expects KEY=V1,V2,..., got {text!r}")
        result[key.strip()] = listed
    return result


def progress_bar(enabled: bool) -> Any:
    from tqdm import tqdm

    def bar(iterable: Any = None, **options: Any) -> Any:
        return tqdm(iterable, disable=not enabled or None, file=sys.stderr, **options)

    return bar


def _list_methods(host: Any) -> None:
    from bench.configuration.options import describe_options

    for entry in host.eval_methods:
        method = entry.item
        aliases = f" (also {', '.join(entry.aliases)})" if entry.aliases else ""
        click.echo(f"{entry.name}{aliases} [{entry.plugin}]: {method.summary()}")
        if method.requires:
            click.echo(f"  needs a model with: {', '.join(method.requires)}")
        for option in describe_options(method.Options):
            grid = method.search.get(option["name"])
            searched = f"; searched on valid: {', '.join(map(str, grid))}" if grid else ""
            click.echo(
                f"  {option['name']} (default {option['default']}): {option['description']}"
                f"{searched}"
            )
