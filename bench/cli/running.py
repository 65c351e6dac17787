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
    RUN_ID,
    data_dir_option,
    db_option,
    device_option,
    log_to_option,
    open_store,
    plugin_host,
    progress_option,
    resolve_data_dir,
    resolve_run,
    seed_option,
    set_option,
)
from bench.errors import BenchError
from bench.machine import distributed
from bench.machine.launch import launch_options

SEEDS_HELP = (
    "run once per seed: a count N (the --seed value and the N-1 next ones) or a "
    "comma list such as 1,2,3; the runs form a seed group, aggregated in the "
    "leaderboard and comparable with `bench compare --groups`"
)
seeds_option = click.option("--seeds", metavar="N|S1,S2,...", help=SEEDS_HELP)


@click.command()
@click.option("--plugin", "-p", help="model plugin to run (see `bench models`)")
@click.option(
    "--corpus",
    "-c",
    help="registered corpus name, a text file (split by line number, see docs/corpora.md) "
    "or a folder holding train.txt/valid.txt/test.txt  [default: tinyshakespeare, embedded]",
)
@click.option(
    "--tokenizer",
    "-t",
    help="word, char, sentencepiece-bpe, sentencepiece-unigram [default: the corpus's own]",
)
@set_option("set a model option (repeatable); tokenizer.KEY=VALUE sets a tokenizer option")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML file with plugin, corpus, tokenizer, seed, device, [options], "
    "[tokenizer_options]; flags override it",
)
@device_option()
@seed_option()
@db_option
@data_dir_option
@progress_option
@click.option(
    "--resume",
    "resume_run",
    type=RUN_ID,
    help="continue an interrupted, failed or killed run (a run id, or last) from its "
    "last checkpoint, as the same row (its configuration comes from the database)",
)
@log_to_option
@seeds_option
@launch_options
def run(
    plugin: str | None,
    corpus: str | None,
    tokenizer: str | None,
    assignments: tuple[str, ...],
    config_file: Path | None,
    device: str | None,
    seed: int | None,
    db: str | None,
    data_dir: str | None,
    progress: bool,
    resume_run: int | str | None,
    log_to: tuple[str, ...],
    seeds: str | None,
) -> None:
    """Train and evaluate a model; store the run and print a summary.

    A training run writes a resumable checkpoint every few minutes (option
    checkpoint_minutes), at every epoch's end and on Ctrl-C; `--resume RUN` continues it
    to the same final numbers as an uninterrupted run.

    \b
    Examples:
      bench run --plugin lstm
      bench run --plugin lstm --corpus ptb --set hidden_size=200 --set epochs=6
      bench run --plugin unigram --corpus ./my-corpus --tokenizer word
      bench run --plugin lstm --corpus names.txt     one text file, split for you
      bench run --config recipe.toml --device cuda
      bench run --plugin lstm --seeds 1,2,3
      bench run --resume last
      bench run --plugin lstm --log-to tensorboard:runs/tb --log-to mlflow
      bench run --plugin lstm --nproc-per-node 2     two processes (GPUs), one model
    """
    from bench.configuration.run_config import build_config, load_config_file

    if resume_run is not None:
        given = [
            flag
            for flag, value in (
                ("--plugin", plugin),
                ("--corpus", corpus),
                ("--tokenizer", tokenizer),
                ("--set", assignments),
                ("--config", config_file),
                ("--device", device),
                ("--seed", seed),
                ("--seeds", seeds),
            )
            if value
        ]
        if given:
            raise BenchError(
                f"--resume continues run {resume_run} with its recorded "
                f"configuration; drop {', '.join(given)}"
            )
        # a resumed run goes on to the trackers it was sent to, unless --log-to says otherwise
        _execute(None, None, db, data_dir, progress, resume_run=resume_run, log_to=log_to)
        return
    file_values = load_config_file(config_file) if config_file else {}
    config = build_config(
        file_values,
        {
            "plugin": plugin,
            "corpus": corpus,
            "tokenizer": tokenizer,
            "device": device,
            "seed": seed,
            "log_to": list(log_to) or None,
        },
        assignments,
    )
    if seeds:
        _execute_seeds(config, seeds, config_file, db, data_dir, progress)
        return
    _execute(config, config_file, db, data_dir, progress)


@click.command()
@click.argument("name", required=False)
@click.option("--list", "list_recipes", is_flag=True, help="list the recipes")
@click.option(
    "--table",
    "table",
    metavar="CORPUS",
    help="print the corpus's published table row by row: each figure's recipe, "
    "what bench measured of it, its state and projected time (runs nothing)",
)
@click.option("--corpus", "-c", help="override the recipe's corpus (e.g. a local PTB folder)")
@set_option("override a recipe option (repeatable)")
@device_option()
@seed_option()
@db_option
@data_dir_option
@progress_option
@log_to_option
@seeds_option
@launch_options
def reproduce(
    name: str | None,
    list_recipes: bool,
    table: str | None,
    corpus: str | None,
    assignments: tuple[str, ...],
    device: str | None,
    seed: int | None,
    db: str | None,
    data_dir: str | None,
    progress: bool,
    log_to: tuple[str, ...],
    seeds: str | None,
) -> None:
    """Run a published configuration by name (`bench reproduce --list`).

    \b
    Examples:
      bench reproduce zaremba-small
      bench reproduce zaremba-small --corpus ../shared/corpora/ptb
      bench reproduce zaremba-medium --device cuda
      bench reproduce zaremba-small --seeds 3
      bench reproduce --table one-billion-word
    """
    from bench.configuration.recipes import find_recipe, load_recipes
    from bench.configuration.run_config import build_config

    if table:
        from bench.cli.reproduction import print_table

        print_table(table, db)
        return
    if list_recipes or not name:
        for recipe in load_recipes():
            click.echo(
                f"{recipe.name:<22} {recipe.description}\n{'':<22} published: "
                f"{recipe.published}\n{'':<22} cost: {recipe.cost}"
            )
        return
    recipe = find_recipe(name)
    if distributed.current().is_main:
        click.echo(
            f"{recipe.name}: {recipe.description}\npublished: {recipe.published}\n"
            f"expected cost: {recipe.cost}",
            err=True,
        )
    if recipe.rescore is not None:  # an evaluation-time method over the parent's run
        from bench.cli.reproduction import reproduce_rescore

        parent = find_recipe(recipe.rescore["parent"])
        overrides = {"corpus": corpus, "device": device, "seed": seed, "log_to": None}
        config = build_config(parent.config, overrides, assignments)
        run_parent = lambda: _execute(config, parent.path, db, data_dir, progress).run_id  # noqa: E731
        reproduce_rescore(recipe, config.corpus, run_parent, db, data_dir, progress)
        return
    config = build_config(
        recipe.config,
        {"corpus": corpus, "device": device, "seed": seed, "log_to": list(log_to) or None},
        assignments,
    )
    if seeds:
        _execute_seeds(config, seeds, recipe.path, db, data_dir, progress)
        return
    _execute(config, recipe.path, db, data_dir, progress)


def _execute(
    config: Any,
    config_file: Path | None,
    db: str | None,
    folder: str | None,
    progress: bool,
    resume_run: int | str | None = None,
    command: str | None = None,
    log_to: tuple[str, ...] = (),
) -> Any:
    """Run a configuration (or resume a run), print its summary; Ctrl-C and kill leave an
    'interrupted' row that `bench run --resume` continues."""
    from bench.cli.command_line import command_line
    from bench.machine.rank_zero import shared_host, shared_store
    from bench.run.runner import Runner
    from bench.store.engine import safe_url

    # with several ranks (torchrun) only rank 0 opens the database, prints and notifies
    main = distributed.current().is_main
    database = shared_store(lambda: open_store(db))
    if resume_run is not None:  # `--resume last`: the newest run
        resume_run = resolve_run(database, resume_run)
    runner = Runner(
        shared_host(plugin_host()),
        database,
        resolve_data_dir(folder),
        progress=progress and main,
        echo=lambda message: click.echo(message, err=True) if main else None,
    )
    # `kill` (SIGTERM) ends a run like Ctrl-C does: recorded as interrupted, not left
    # running; both are remembered as well as raised, so none is lost (bench.interrupts)
    distributed.install_signal_handlers()
    try:
        result = (
            runner.resume(resume_run, log_to)
            if resume_run is not None
            else runner.run(config, command or command_line(config_file, config))
        )
    except KeyboardInterrupt:
        if main:
            run_id = resume_run if resume_run is not None else runner.current_run_id
            click.echo(
                "\ninterrupted: the run is recorded as 'interrupted' (bench runs); "
                f"continue it with `bench run --resume {run_id}`",
                err=True,
            )
        # The run is closed and committed. Leave now with 130 (128 + SIGINT; 143 after
        # SIGTERM, 128 + its number): a normal exit
        # can turn into "killed by SIGINT" (-2), because CPython marks a KeyboardInterrupt
        # as unhandled when it surfaces inside Python code that a C extension ran through
        # PyRun_String (torch initialises some lazily), even though it was caught here.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(interrupts.exit_code())
    if main:
        _print_summary(result, safe_url(database.url))
    return result


# --seeds: one run per seed, then the group's spread
def _execute_seeds(
    config: Any,
    seeds_text: str,
    config_file: Path | None,
    db: str | None,
    data_dir: str | None,
    progress: bool,
) -> None:
    from bench.scoring.seeds import SeedSpread, command_for_seed, parse_seeds

    seeds = parse_seeds(seeds_text, config.seed)
    typed = sys.argv[1:2] in (["run"], ["reproduce"])  # else: started through the Python API
    results = []
    for number, seed in enumerate(seeds, 1):
        click.echo(f"seed {seed} ({number} of {len(seeds)})", err=True)
        results.append(
            _execute(
                config.model_copy(update={"seed": seed}),
                config_file,
                db,
                data_dir,
                progress,
                command=command_for_seed(sys.argv[1:], seed) if typed else None,
            )
        )
    if not distributed.current().is_main:
        return
    ids = ", ".join(str(result.run_id) for result in results)
    for split in ("valid", "test"):
        spread = SeedSpread.of([result.evaluations[split].ppl for result in results])
        click.echo(f"seed group (runs {ids}): {split} perplexity {spread.describe()}")


def _print_summary(result: Any, db_url: str) -> None:
    from bench.cli.run_listing import oov_text

    valid, test = result.evaluations["valid"], result.evaluations["test"]
    s = result.summary
    lines = [
        f"run {result.run_id} finished: {result.label} on {result.corpus} ({result.tokenizer} tokens)",
        f"  valid perplexity {valid.ppl:10.3f}   test perplexity {test.ppl:10.3f}",
    ]
    for split, evaluation in (("valid", valid), ("test", test)):
        oov = oov_text(
            split, evaluation.counts.oov, evaluation.counts.tokens, evaluation.metrics.ppl_no_oov
        )
        if oov:
            lines.append(f"  {oov}")
    if test.ppl_interval is not None:
        lines.append(
            f"  test 95% interval {test.ppl_interval.describe(2)} (bootstrap over "
            f"{test.counts.lines:,} lines, {test.ppl_interval.resamples} resamples)"
        )
    if test.counts.words != test.counts.tokens:
        lines.append(
            f"  valid word ppl   {valid.metrics.word_ppl:10.3f}   test word ppl   "
            f"{test.metrics.word_ppl:10.3f}"
        )
    lines += [
        (
            f"  test bits/token {test.metrics.bits_per_token:.4f}, bits/byte "
            f"{test.metrics.bits_per_byte:.4f} over {test.counts.tokens:,} tokens "
            f"({test.protocol.describe()})"
        ),
        f"  parameters {s.get('params', 0):,}",
        (
            f"  train {_rate(s.get('train_tokens_per_second'))}, eval {_rate(test.tokens_per_second)}, "
            f"wall {s.get('wall_seconds', 0):.1f} s, peak RSS {s.get('peak_rss_mb', 0):.0f} MB"
        ),
        f"  device {result.device_name}",
    ]
    if result.utilisation is not None:
        lines.append(f"  training arithmetic {result.utilisation.describe()}")
    lines += [f"  stored in {db_url} (bench show {result.run_id})"]
    click.echo("\n".join(lines))


def _rate(tokens_per_second: float | None) -> str:
    return "n/a" if not tokens_per_second else f"{tokens_per_second:,.0f} tokens/s"
