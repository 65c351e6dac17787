"""`bench compare A B`: is one run better than another, beyond the noise of the test set?"""

from __future__ import annotations

import click

from bench.cli.options import RUN_ID, db_option, open_store, plugin_host, resolve_run
from bench.report.shown_text import for_terminal


@click.command()
@click.argument("run_a", type=RUN_ID, metavar="A")
@click.argument("run_b", type=RUN_ID, metavar="B")
@click.option(
    "--split",
    type=click.Choice(["valid", "test"]),
    default="test",
    show_default=True,
    help="the evaluation compared",
)
@click.option(
    "--groups",
    is_flag=True,
    help="compare the seed groups of A and B (the finished runs whose configuration "
    "equals theirs but for the seed) by their spread over seeds",
)
@click.option(
    "--unit",
    type=click.Choice(["token", "word", "byte"]),
    help="the unit perplexity and bits are taken per; by default per token when both "
    "runs tokenize alike, else per word when both counted the same words, else per byte. "
    "Per-token figures of different tokenizers are refused",
)
@db_option
def compare(
    run_a: int | str, run_b: int | str, split: str, groups: bool, unit: str | None, db: str | None
) -> None:
    """Is run B better than run A? A paired bootstrap over the lines both scored.

    Prints the difference A - B in perplexity and bits per token with a 95% interval
    and a p-value, the parameter and speed ratios, and a one-line verdict. Runs that
    tokenize the text differently (another tokenizer or vocabulary) are compared per
    word or per byte, never per token. Runs scored on different text are refused.
    See docs/uncertainty.md.

    \b
    Examples:
      bench compare 4 7
      bench compare 4 7 --split valid
      bench compare 4 7 --unit byte
      bench compare 4 7 --groups
    """
    from bench.scoring.compare import compare_groups, compare_runs

    store = open_store(db)
    a, b = resolve_run(store, run_a), resolve_run(store, run_b)
    if groups:
        lines = compare_groups(store, a, b, split, unit, plugin_host().with_new_options)
    else:
        lines = compare_runs(store, a, b, split, unit)
    click.echo(for_terminal("\n".join(lines), keep_newlines=True))
