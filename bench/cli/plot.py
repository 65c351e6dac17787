"""`bench plot RUN...`: training curves of stored runs as one PNG."""

from __future__ import annotations

from pathlib import Path

import click

from bench.cli.options import RUN_ID, db_option, open_store, resolve_run
from bench.report.training_curves import X_AXES


@click.command()
@click.argument("run_ids", nargs=-1, required=True, type=RUN_ID, metavar="RUN...")
@click.option(
    "--out",
    "-o",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="the PNG file to write (its folder is made as needed)",
)
@click.option("--title", help="the figure's title  [default: training on CORPUS]")
@click.option(
    "--x",
    "x_axis",
    type=click.Choice(list(X_AXES)),
    default="tokens",
    show_default=True,
    help="the x axis: training tokens seen, optimiser steps, or wall time since the start",
)
@db_option
def plot(
    run_ids: tuple[int | str, ...], out: Path, title: str | None, x_axis: str, db: str | None
) -> None:
    """Training curves of stored runs, overlaid: train loss per logged step and valid
    perplexity at each epoch's end, against the tokens seen (runs with other batch sizes
    or epoch lengths line up), with the learning rate as a thin strip below; one colour
    per run.

    The runs must be on the same corpus (losses on different text do not compare) and
    must have logged training metrics: the n-gram models (unigram, kn, snm) log none of
    these. `bench runs` lists run ids; `bench show RUN` prints the same metrics.

    \b
    Examples:
      bench plot 3 --out run3.png
      bench plot 3 5 8 --out ptb-lstms.png --title "PTB: three LSTM sizes"
      bench plot 3 5 --x time --out speed.png    # which run got there sooner
    """
    from bench.report.plots import save_figure
    from bench.report.training_curves import curves_figure, load_curves

    store = open_store(db)
    curves = load_curves(store, [resolve_run(store, value) for value in run_ids])
    path = save_figure(curves_figure(curves, title=title, x_axis=x_axis), out)
    click.echo(f"wrote {path}")
