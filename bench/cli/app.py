"""The root `bench` group: one error line for user mistakes, the version, the quick start."""

from __future__ import annotations

from typing import Any

import click

import bench
from bench.errors import BenchError
from bench.report.shown_text import for_terminal


class BenchGroup(click.Group):
    """Shows a user mistake (BenchError) as one line, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BenchError as error:
            from bench.run.failures import debugging

            if debugging():  # bench --debug / $BENCH_DEBUG: the whole traceback, causes too
                raise
            # messages quote labels and names from stored, possibly shared, runs
            raise click.ClickException(for_terminal(error, keep_newlines=True)) from None


@click.group(cls=BenchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(bench.__version__, prog_name="bench")
@click.option(
    "--debug",
    is_flag=True,
    help="show the whole traceback of an error instead of its one line (also: BENCH_DEBUG=1)",
)
def cli(debug: bool) -> None:
    """Re-measure language-model perplexity tables on your own hardware.

    \b
    Quick start:
      bench run --plugin lstm          train + evaluate an LSTM on the embedded corpus
      bench leaderboard                measured runs beside published numbers
      bench models                     the installed models and their options
      bench output-layers              softmax approximations for large vocabularies
    """
    if debug:
        import os

        from bench.run.failures import DEBUG_ENV

        os.environ[DEBUG_ENV] = "1"
