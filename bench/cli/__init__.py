"""The ``bench`` command line (click), one module per family of commands:

- ``running``: run, reproduce
- ``stored_runs``: runs, show, generate, delete
- ``rescoring``: rescore (evaluation-time methods over a stored run)
- ``catalogue``: plugins, models, tokenizers, output-layers, corpora
- ``leaderboard``: leaderboard
- ``compare``: compare
- ``combining``: combine
- ``plot``: plot (training curves)
- ``exchange``: export, import
- ``probe``: probe gradients

Options that several commands share are defined once in ``options``; ``command_line``
turns a configuration back into the command stored with a run. Heavy modules are imported
inside commands, so `bench --help` stays instant.
"""

from __future__ import annotations

import click

from bench.cli import (
    catalogue,
    combining,
    compare,
    exchange,
    leaderboard,
    plot,
    probe,
    rescoring,
    running,
    stored_runs,
)
from bench.cli.app import BenchGroup, cli
from bench.cli.options import plugin_host

for _command in (
    running.run,
    running.reproduce,
    leaderboard.leaderboard,
    compare.compare,
    combining.combine,
    plot.plot,
    stored_runs.generate,
    rescoring.rescore,
    probe.probe,
    catalogue.plugins,
    catalogue.models,
    catalogue.tokenizers,
    catalogue.output_layers,
    catalogue.corpora,
    stored_runs.runs,
    stored_runs.show,
    stored_runs.delete,
    exchange.export_command,
    exchange.import_command,
):
    cli.add_command(_command)

__all__ = ["BenchGroup", "cli", "main"]


def main() -> None:
    """Console entry point: plugin commands are added before click parses argv."""
    try:
        plugin_host().hook.register_commands(cli=cli)
    except Exception as error:
        click.echo(f"warning: a plugin failed to add commands: {error}", err=True)
    cli(prog_name="bench")
