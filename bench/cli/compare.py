"""`bench compare A B`: is one run better than another, beyond the noise of the test set?"""

from __future__ import annotations

import click

from bench.cli.options import db_option, open_store


@click.command()
@click.argument("run_a", type=int, metavar="A")
@click.argument("run_b", type=int, metavar="B")
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
@db_option
def compare(run_a: int, run_b: int, split: str, groups: bool, db: str | None) -> None:
    """Is run B better than run A? A paired bootstrap over the lines both scored.

    Prints the difference A - B in perplexity and bits per token (per byte when the
    runs' vocabularies differ) with a 95% interval and a p-value, the parameter and
    speed ratios, and a one-line verdict. Runs scored on different text are refused.
    See docs/uncertainty.md.

    \b
    Examples:
      bench compare 4 7
      bench compare 4 7 --split valid
      bench compare 4 7 --groups
    """
    from bench.scoring.compare import compare_groups, compare_runs

    report = compare_groups if groups else compare_runs
    click.echo("\n".join(report(open_store(db), run_a, run_b, split)))
