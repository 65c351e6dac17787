"""The root `bench` group: one error line for user mistakes, the version, the quick start."""

from __future__ import annotations

from typing import Any

import click

import bench
from bench.errors import BenchError


class BenchGroup(click.Group):
    """Shows a user mistake (BenchError) as one line, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BenchError as error:
            raise click.ClickException(str(error)) from None


@click.group(cls=BenchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(bench.__version__, prog_name="bench")
def cli() -> None:
    """Re-measure language-model perplexity tables on your own hardware.

    \b
    Quick start:
      bench run --plugin lstm          train + evaluate an LSTM on the embedded corpus
      bench leaderboard                measured runs beside published numbers
      bench models                     the installed models and their options
      bench output-layers              softmax approximations for large vocabularies
    """
