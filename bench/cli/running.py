"""Commands that run a model: `bench run` (a configuration, or --resume) and `bench reproduce`
(a published recipe by name); both print the same summary."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from bench import interrupts
from bench.cli.options import (
    data_dir_option,
    db_option,
    device_option,
    open_store,
    plugin_host,
    progress_option,
    resolve_data_dir,
    seed_option,
    set_option,
)
from bench.errors import BenchError


@click.command()
@click.option("--plugin", "-p", help="model plugin to run (see `bench models`)")
@click.option("--corpus", "-c", help="registered corpus name or a folder holding "
              "train.txt/valid.txt/test.txt  [default: tinyshakespeare, embedded]")
@click.option("--tokenizer", "-t", help="word, char, sentencepiece-bpe, sentencepiece-unigram "
              "[default: the corpus's own]")
@set_option("set a model option (repeatable); tokenizer.KEY=VALUE sets a tokenizer option")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
              help="TOML file with plugin, corpus, tokenizer, seed, device, [options], "
              "[tokenizer_options]; flags override it")
@device_option()
@seed_option()
@db_option
@data_dir_option
@progress_option
@click.option("--resume", "resume_run", type=int, metavar="RUN",
              help="continue an interrupted, failed or killed run from its last checkpoint, "
              "as the same row (its configuration comes from the database)")
def run(plugin: str | None, corpus: str | None, tokenizer: str | None,
        assignments: tuple[str, ...], config_file: Path | None, device: str | None,
        seed: int | None, db: str | None, data_dir: str | None, progress: bool,
        resume_run: int | None) -> None:
    """Train and evaluate a model; store the run and print a summary.

    A training run writes a resumable checkpoint every few minutes (option
    checkpoint_minutes), at every epoch's end and on Ctrl-C; `--resume RUN` continues it
    to the same final numbers as an uninterrupted run.

    \b
    Examples:
      bench run --plugin lstm
      bench run --plugin lstm --corpus ptb --set hidden_size=200 --set epochs=6
      bench run --plugin unigram --corpus ./my-corpus --tokenizer word
      bench run --config recipe.toml --device cuda
      bench run --resume 12
    """
    from bench.config import build_config, load_config_file

    if resume_run is not None:
        given = [flag for flag, value in (("--plugin", plugin), ("--corpus", corpus),
                                          ("--tokenizer", tokenizer), ("--set", assignments),
                                          ("--config", config_file), ("--device", device),
                                          ("--seed", seed)) if value]
        if given:
            raise BenchError(f"--resume continues run {resume_run} with its recorded "
                             f"configuration; drop {', '.join(given)}")
        _execute(None, None, db, data_dir, progress, resume_run=resume_run)
        return
    file_values = load_config_file(config_file) if config_file else {}
    config = build_config(
        file_values,
        {"plugin": plugin, "corpus": corpus, "tokenizer": tokenizer, "device": device,
         "seed": seed},
        assignments,
    )
    _execute(config, config_file, db, data_dir, progress)


@click.command()
@click.argument("name", required=False)
@click.option("--list", "list_recipes", is_flag=True, help="list the recipes")
@click.option("--table", "table", metavar="CORPUS",
              help="print the corpus's published table row by row: each figure's recipe, "
              "what bench measured of it, its state and projected time (runs nothing)")
@click.option("--corpus", "-c", help="override the recipe's corpus (e.g. a local PTB folder)")
@set_option("override a recipe option (repeatable)")
@device_option()
@seed_option()
@db_option
@data_dir_option
@progress_option
def reproduce(name: str | None, list_recipes: bool, table: str | None, corpus: str | None,
              assignments: tuple[str, ...], device: str | None, seed: int | None,
              db: str | None, data_dir: str | None, progress: bool) -> None:
    """Run a published configuration by name (`bench reproduce --list`).

    \b
    Examples:
      bench reproduce zaremba-small
      bench reproduce zaremba-small --corpus ../shared/corpora/ptb
      bench reproduce zaremba-medium --device cuda
      bench reproduce --table one-billion-word
    """
    from bench.config import build_config
    from bench.recipes import find_recipe, load_recipes

    if table:
        from bench.cli.reproduction import print_table

        print_table(table, db)
        return
    if list_recipes or not name:
        for recipe in load_recipes():
            click.echo(f"{recipe.name:<22} {recipe.description}\n{'':<22} published: "
                       f"{recipe.published}\n{'':<22} cost: {recipe.cost}")
        return
    recipe = find_recipe(name)
    click.echo(f"{recipe.name}: {recipe.description}\npublished: {recipe.published}\n"
               f"expected cost: {recipe.cost}", err=True)
    config = build_config(recipe.config, {"corpus": corpus, "device": device, "seed": seed},
                          assignments)
    _execute(config, recipe.path, db, data_dir, progress)


def _execute(config: Any, config_file: Path | None, db: str | None, folder: str | None,
             progress: bool, resume_run: int | None = None) -> None:
    """Run a configuration (or resume a run), print its summary; Ctrl-C and kill leave an
    'interrupted' row that `bench run --resume` continues."""
    from bench.cli.command_line import command_line
    from bench.runner import Runner

    database = open_store(db)
    runner = Runner(plugin_host(), database, resolve_data_dir(folder), progress=progress,
                    echo=lambda message: click.echo(message, err=True))
    # `kill` (SIGTERM) ends a run like Ctrl-C does: recorded as interrupted, not left
    # running; both are remembered as well as raised, so none is lost (bench.interrupts)
    interrupts.install()
    try:
        result = runner.resume(resume_run) if resume_run is not None \
            else runner.run(config, command_line(config_file, config))
    except KeyboardInterrupt:
        click.echo("\ninterrupted: the run is recorded as 'interrupted' (bench runs); "
                   "continue it with `bench run --resume RUN`", err=True)
        # The run is closed and committed. Leave now with 130 (128 + SIGINT): a normal exit
        # can turn into "killed by SIGINT" (-2), because CPython marks a KeyboardInterrupt
        # as unhandled when it surfaces inside Python code that a C extension ran through
        # PyRun_String (torch initialises some lazily), even though it was caught here.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)
    _print_summary(result, database.url)


def _print_summary(result: Any, db_url: str) -> None:
    valid, test = result.evaluations["valid"], result.evaluations["test"]
    s = result.summary
    lines = [
        f"run {result.run_id} finished: {result.label} on {result.corpus} ({result.tokenizer} tokens)",
        f"  valid perplexity {valid.ppl:10.3f}   test perplexity {test.ppl:10.3f}",
    ]
    if test.counts.words != test.counts.tokens:
        lines.append(f"  valid word ppl   {valid.metrics.word_ppl:10.3f}   test word ppl   "
                     f"{test.metrics.word_ppl:10.3f}")
    lines += [
        (f"  test bits/token {test.metrics.bits_per_token:.4f}, bits/byte "
         f"{test.metrics.bits_per_byte:.4f} over {test.counts.tokens:,} tokens "
         f"({test.protocol.describe()})"),
        f"  parameters {s.get('params', 0):,}",
        (f"  train {_rate(s.get('train_tokens_per_second'))}, eval {_rate(test.tokens_per_second)}, "
         f"wall {s.get('wall_seconds', 0):.1f} s, peak RSS {s.get('peak_rss_mb', 0):.0f} MB"),
        f"  device {result.device_name}",
        f"  stored in {db_url} (bench show {result.run_id})",
    ]
    click.echo("\n".join(lines))


def _rate(tokens_per_second: float | None) -> str:
    return "n/a" if not tokens_per_second else f"{tokens_per_second:,.0f} tokens/s"
