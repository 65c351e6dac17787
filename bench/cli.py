"""The ``bench`` command line (click). Heavy modules are imported inside commands."""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any

import click

import bench
from bench import distributed
from bench.errors import BenchError

DB_HELP = "database: any SQLAlchemy URL [default: $BENCH_DB, else a SQLite file in the user data folder]"
DATA_HELP = "folder for downloaded corpora, tokenizer models and checkpoints [default: $BENCH_DATA_DIR, else the user cache folder]"


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


def _host() -> Any:
    from bench.plugins import get_host

    return get_host()


def _store(db: str | None) -> Any:
    from bench.store import Store

    return Store(db)


def _data_dir(data_dir: str | None) -> Path:
    from bench.paths import data_dir as resolve

    return resolve(data_dir)


# --------------------------------------------------------------------------- run
@cli.command()
@click.option("--plugin", "-p", help="model plugin to run (see `bench models`)")
@click.option("--corpus", "-c", help="registered corpus name or a folder holding "
              "train.txt/valid.txt/test.txt  [default: tinyshakespeare, embedded]")
@click.option("--tokenizer", "-t", help="word, char, sentencepiece-bpe, sentencepiece-unigram "
              "[default: the corpus's own]")
@click.option("--set", "-s", "assignments", multiple=True, metavar="KEY=VALUE",
              help="set a model option (repeatable); tokenizer.KEY=VALUE sets a tokenizer option")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
              help="TOML file with plugin, corpus, tokenizer, seed, device, [options], "
              "[tokenizer_options]; flags override it")
@click.option("--device", "-d", help="auto, cpu, cuda, cuda:N or mps  [default: auto]")
@click.option("--seed", type=int, help="seed for every random generator  [default: 1234]")
@click.option("--db", help=DB_HELP)
@click.option("--data-dir", help=DATA_HELP)
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="progress bars on stderr (off anyway when stderr is not a terminal)")
@click.option("--resume", "resume_run", type=int, metavar="RUN",
              help="continue an interrupted, failed or killed run from its last checkpoint, "
              "as the same row (its configuration comes from the database)")
@distributed.launch_options
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
      bench run --plugin lstm --nproc-per-node 2     two processes (GPUs), one model
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


def _execute(config: Any, config_file: Path | None, db: str | None, data_dir: str | None,
             progress: bool, resume_run: int | None = None) -> None:
    """Run a configuration (or resume a run), print its summary; Ctrl-C and kill leave an
    'interrupted' row that `bench run --resume` continues."""
    from bench.runner import Runner

    # with several ranks (torchrun) only rank 0 opens the database, prints and notifies
    main = distributed.current().is_main
    store = distributed.shared_store(lambda: _store(db))
    runner = Runner(distributed.shared_host(_host()), store, _data_dir(data_dir),
                    progress=progress and main,
                    echo=lambda message: click.echo(message, err=True) if main else None)
    # `kill` (SIGTERM) ends a run like Ctrl-C does: recorded as interrupted, not left
    # running; both are remembered as well as raised, so none is lost (bench.interrupts)
    distributed.install_signal_handlers()
    try:
        result = runner.resume(resume_run) if resume_run is not None \
            else runner.run(config, _command_line(config_file, config))
    except KeyboardInterrupt:
        if main:
            click.echo("\ninterrupted: the run is recorded as 'interrupted' (bench runs); "
                       "continue it with `bench run --resume RUN`", err=True)
        # The run is closed and committed. Leave now with 130 (128 + SIGINT): a normal exit
        # can turn into "killed by SIGINT" (-2), because CPython marks a KeyboardInterrupt
        # as unhandled when it surfaces inside Python code that a C extension ran through
        # PyRun_String (torch initialises some lazily), even though it was caught here.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)
    if main:
        _print_summary(result, store.url)


def _command_line(config_file: Path | None, config: Any) -> str:
    """The command as typed, or an equivalent one for runs started another way."""
    if sys.argv[1:2] in (["run"], ["reproduce"]):
        return shlex.join(["bench", *sys.argv[1:]])
    return shlex.join(["bench", "run", *_flags(config_file, config)])


def _flags(config_file: Path | None, config: Any) -> list[str]:
    """A command line equivalent to the run, for runs started through the Python API."""
    flags = ["--plugin", config.plugin, "--corpus", config.corpus]
    if config_file:
        flags += ["--config", str(config_file)]
    for key, value in config.options.items():
        if key == "output_options" and isinstance(value, dict):
            flags += [arg for k, v in value.items() for arg in ("--set", f"output.{k}={v}")]
        else:
            flags += ["--set", f"{key}={value}"]
    return flags


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
        f"  test bits/token {test.metrics.bits_per_token:.4f}, bits/byte "
        f"{test.metrics.bits_per_byte:.4f} over {test.counts.tokens:,} tokens "
        f"({test.protocol.describe()})",
        f"  parameters {s.get('params', 0):,}",
        f"  train {_rate(s.get('train_tokens_per_second'))}, eval {_rate(test.tokens_per_second)}, "
        f"wall {s.get('wall_seconds', 0):.1f} s, peak RSS {s.get('peak_rss_mb', 0):.0f} MB",
        f"  device {result.device_name}",
        f"  stored in {db_url} (bench show {result.run_id})",
    ]
    click.echo("\n".join(lines))


def _rate(tokens_per_second: float | None) -> str:
    return "n/a" if not tokens_per_second else f"{tokens_per_second:,.0f} tokens/s"


# ------------------------------------------------------------------- leaderboard
@cli.command()
@click.option("--corpus", "-c", "corpora", multiple=True, help="only these corpora (repeatable)")
@click.option("--format", "fmt", type=click.Choice(["md", "csv", "json"]), default="md",
              show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="write one file per corpus into this folder (e.g. leaderboards/)")
@click.option("--db", help=DB_HELP)
def leaderboard(corpora: tuple[str, ...], fmt: str, out: Path | None, db: str | None) -> None:
    """Tables per corpus: measured runs beside published reference rows with citations."""
    from bench.leaderboard import build_tables, render, write_tables
    from bench.published import load_published

    host = _host()
    aliases = {ref: entry.name for entry in host.corpora for ref in entry.item.reference_names}
    wanted = [host.corpora.entry(c).name if c in host.corpora else c for c in corpora] or None
    tables = build_tables(_store(db).results_frame(), load_published(),
                          corpus_aliases=aliases, corpora=wanted)
    if not tables:
        raise BenchError("nothing to show: no finished runs and no references for "
                         f"{', '.join(corpora) or 'any corpus'}")
    if out:
        for path in write_tables(tables, out, fmt):
            click.echo(f"wrote {path}")
        return
    click.echo("\n\n".join(render(tables[name], fmt, corpus=name) for name in tables))


# --------------------------------------------------------------------- reproduce
@cli.command()
@click.argument("name", required=False)
@click.option("--list", "list_recipes", is_flag=True, help="list the recipes")
@click.option("--corpus", "-c", help="override the recipe's corpus (e.g. a local PTB folder)")
@click.option("--set", "-s", "assignments", multiple=True, metavar="KEY=VALUE",
              help="override a recipe option (repeatable)")
@click.option("--device", "-d", help="auto, cpu, cuda, cuda:N or mps  [default: auto]")
@click.option("--seed", type=int, help="seed for every random generator  [default: 1234]")
@click.option("--db", help=DB_HELP)
@click.option("--data-dir", help=DATA_HELP)
@click.option("--progress/--no-progress", default=True, show_default=True)
@distributed.launch_options
def reproduce(name: str | None, list_recipes: bool, corpus: str | None,
              assignments: tuple[str, ...], device: str | None, seed: int | None,
              db: str | None, data_dir: str | None, progress: bool) -> None:
    """Run a published configuration by name (`bench reproduce --list`).

    \b
    Examples:
      bench reproduce zaremba-small
      bench reproduce zaremba-small --corpus ../shared/corpora/ptb
      bench reproduce zaremba-medium --device cuda
    """
    from bench.config import build_config
    from bench.recipes import find_recipe, load_recipes

    if list_recipes or not name:
        for recipe in load_recipes():
            click.echo(f"{recipe.name:<22} {recipe.description}\n{'':<22} published: "
                       f"{recipe.published}\n{'':<22} cost: {recipe.cost}")
        return
    recipe = find_recipe(name)
    if distributed.current().is_main:
            click.echo(f"{recipe.name}: {recipe.description}\npublished: {recipe.published}\n"
                   f"expected cost: {recipe.cost}", err=True)
    config = build_config(recipe.config, {"corpus": corpus, "device": device, "seed": seed},
                          assignments)
    _execute(config, recipe.path, db, data_dir, progress)


# ---------------------------------------------------------------------- generate
@cli.command()
@click.option("--run", "run_id", type=int, required=True, help="a finished run (see `bench runs`)")
@click.option("--prompt", default="", help="text to continue (tokenized like the corpus)")
@click.option("--tokens", "-n", default=200, show_default=True, type=click.IntRange(1),
              help="how many tokens to sample")
@click.option("--temperature", default=1.0, show_default=True, type=click.FloatRange(min=0.01),
              help="below 1 sharpens the distribution, above 1 flattens it")
@click.option("--top-k", type=click.IntRange(1), help="sample only among the K likeliest tokens")
@click.option("--seed", default=0, show_default=True, help="same seed, same sample")
@click.option("--device", "-d", default="auto", show_default=True)
@click.option("--db", help=DB_HELP)
@click.option("--data-dir", help=DATA_HELP)
def generate(run_id: int, prompt: str, tokens: int, temperature: float, top_k: int | None,
             seed: int, device: str, db: str | None, data_dir: str | None) -> None:
    """Sample text from a stored run's best checkpoint, in the style of its corpus."""
    from bench.environment import resolve_device
    from bench.restore import restore_run

    restored = restore_run(run_id, _store(db), _host(), _data_dir(data_dir),
                           resolve_device(device))
    if not hasattr(restored.model, "generate"):
        raise BenchError(f"model plugin {restored.record['plugin']!r} cannot generate text")
    prompt_ids = restored.tokenizer.encode("prompt", [prompt]).ids[:-1].tolist()  # no eos
    drawn = restored.model.generate(prompt_ids, tokens, temperature=temperature, top_k=top_k,
                                    seed=seed)
    click.echo("\n".join(restored.tokenizer.decode([*prompt_ids, *drawn])))


# ------------------------------------------------------------------------- probe
@cli.group(cls=BenchGroup)
def probe() -> None:
    """Look inside models: measurements beyond perplexity, stored in the database."""


@probe.command("gradients")
@click.option("--run", "run_ids", type=int, multiple=True,
              help="a stored run with a checkpoint, e.g. an lstm run (repeatable)")
@click.option("--plugin", "-p", "plugins", multiple=True,
              help="a freshly initialised model of this plugin: lstm, gru, rnn (repeatable)")
@click.option("--corpus", "-c", help="corpus of fresh models: a registered name or a folder  "
              "[default: tinyshakespeare, embedded]")
@click.option("--tokenizer", "-t", help="tokenizer of fresh models  [default: the corpus's own]")
@click.option("--set", "-s", "assignments", multiple=True, metavar="KEY=VALUE",
              help="a model option of fresh models (repeatable); PLUGIN.KEY=VALUE sets it for "
              "one plugin only, tokenizer.KEY=VALUE a tokenizer option")
@click.option("--split", type=click.Choice(["train", "valid", "test"]), default="valid",
              show_default=True, help="the split whose tokens are fed")
@click.option("--distance", "-k", type=click.IntRange(1), default=50, show_default=True,
              help="K: measure k = 1..K steps back")
@click.option("--positions", "-n", type=click.IntRange(1), default=100, show_default=True,
              help="positions t averaged over, spread evenly over the split")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("gradients.png"), show_default=True, help="the plot (PNG)")
@click.option("--seed", default=1234, show_default=True, help="initialisation seed of fresh models")
@click.option("--device", "-d", default="auto", show_default=True)
@click.option("--db", help=DB_HELP)
@click.option("--data-dir", help=DATA_HELP)
def probe_gradients(run_ids: tuple[int, ...], plugins: tuple[str, ...], corpus: str | None,
                    tokenizer: str | None, assignments: tuple[str, ...], split: str, distance: int, positions: int,
                    out: Path, seed: int, device: str, db: str | None,
                    data_dir: str | None) -> None:
    """The vanishing-gradient picture: mean norm of dJ(t)/dh(t-k), k = 1..K, per model.

    J(t) is the loss at position t of the split, h(t-k) the hidden state k steps earlier
    (every layer's h, concatenated; an LSTM's cell state c is shown too, dashed). The
    state is carried from the start of the split, as when scoring; the model is in eval
    mode. Prints a table, writes a PNG and stores every value in the database
    (table probe_results).

    \b
    Examples:
      bench probe gradients --run 3 --run 4
      bench probe gradients --plugin lstm --plugin gru --plugin rnn --set hidden_size=128
      bench probe gradients --plugin rnn --corpus ptb --set rnn.nonlinearity=relu -k 100
    """
    from bench.environment import resolve_device
    from bench.probes.gradients import measure_gradient_norms
    from bench.probes.report import (
        SERIES_NAMES,
        gradient_table,
        plot_gradient_norms,
        shown_distances,
    )
    from bench.probes.subjects import fresh_subjects, subject_from_run

    if bool(run_ids) == bool(plugins):
        raise BenchError("give stored runs (--run ID) or fresh models (--plugin NAME), "
                         "one of the two")
    if run_ids and (corpus or tokenizer or assignments):
        raise BenchError("--corpus, --tokenizer and --set describe fresh models; "
                         "a run brings its own")
    store, host, folder = _store(db), _host(), _data_dir(data_dir)
    device = resolve_device(device)
    subjects = ([subject_from_run(run_id, store, host, folder, device, split)
                 for run_id in run_ids] if run_ids else
                fresh_subjects(list(plugins), host, folder, device, corpus=corpus,
                               tokenizer=tokenizer, assignments=assignments, seed=seed,
                               split=split))
    curves = []
    stored = 0
    for subject in subjects:
        norms = measure_gradient_norms(subject.network, subject.split.ids, subject.eos_id,
                                       distance=distance, positions=positions, device=device,
                                       split=f"{subject.corpus} {split}")
        curves.append((subject.label, norms))
        stored += store.add_probe_results(
            "gradients",
            [(SERIES_NAMES[series], int(k), float(value))
             for series, values in norms.series().items()
             for k, value in zip(norms.distances, values, strict=True)],
            label=subject.label, plugin=subject.plugin, corpus=subject.corpus, split=split,
            positions=len(norms.positions), run_id=subject.run_id, config=subject.config,
            seed=subject.seed)
    corpora = ", ".join(dict.fromkeys(subject.corpus for subject in subjects))
    where = f"mean over {len(curves[0][1].positions)} positions of {corpora} {split}"
    click.echo(f"|dJ(t)/dh(t-k)|, {where}")
    table = gradient_table(curves, shown_distances(distance))
    click.echo(table.to_string(float_format=lambda value: f"{value:.3e}"))
    path = plot_gradient_norms(curves, out, title=f"‖∂J(t)/∂h(t−k)‖, {where}")
    click.echo(f"wrote {path}; stored {stored} values in {store.url} (probe_results)")


# -------------------------------------------------------------- listings
@cli.command()
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def plugins(as_json: bool) -> None:
    """Installed plugins: package, version, hooks, and any that failed to load."""
    records = _host().records
    if as_json:
        click.echo(json.dumps([vars(r) for r in records], indent=2))
        return
    for r in records:
        origin = "built-in" if r.builtin else "third-party"
        click.echo(f"{r.name}  [{r.status}]  {r.distribution} {r.version} ({origin})  {r.module}")
        if r.hooks:
            click.echo(f"    hooks: {', '.join(r.hooks)}")
        if r.error:
            click.echo(f"    error: {r.error}")


@cli.command()
@click.argument("name", required=False)
def models(name: str | None) -> None:
    """Model plugins with their options and defaults (all, or just NAME)."""
    registry = _host().models
    entries = [registry.entry(name)] if name else list(registry)
    for entry in entries:
        aliases = f" (aliases: {', '.join(entry.aliases)})" if entry.aliases else ""
        click.echo(f"{entry.name}{aliases}  [plugin {entry.plugin}, scoring "
                   f"{entry.item.scoring_mode}]\n  {entry.item.summary()}")
        _echo_options(entry.item.Options)
        click.echo()


def _echo_options(options_class: Any) -> None:
    from bench.options import describe_options

    for option in describe_options(options_class):
        click.echo(f"    {option['name']:<20} {option['type']:<10} default {option['default']:<10}"
                   f" {option['description']}")


@cli.command()
def tokenizers() -> None:
    """Tokenizers with their options and defaults."""
    for entry in _host().tokenizers:
        aliases = f" (aliases: {', '.join(entry.aliases)})" if entry.aliases else ""
        doc = (entry.item.description or (entry.item.__doc__ or "").strip().split("\n")[0])
        click.echo(f"{entry.name}{aliases}  [plugin {entry.plugin}]\n  {doc}")
        _echo_options(entry.item.Options)


@cli.command("output-layers")
@click.argument("name", required=False)
def output_layers(name: str | None) -> None:
    """Output layers a neural model can train with (--set output=NAME), with their options
    (--set output.KEY=VALUE)."""
    registry = _host().output_layers
    entries = [registry.entry(name)] if name else list(registry)
    for entry in entries:
        layer = entry.item
        aliases = f" (aliases: {', '.join(entry.aliases)})" if entry.aliases else ""
        kind = "exact" if layer.exact else f"approximate, scored by {layer.scored_by}"
        tied = ", tieable" if layer.tieable else ""
        click.echo(f"{entry.name}{aliases}  [plugin {entry.plugin}, {kind}{tied}]\n"
                   f"  {layer.summary()}")
        _echo_options(layer.Options)
        click.echo()


@cli.group(cls=BenchGroup)
def corpora() -> None:
    """List, download and verify corpora."""


@corpora.command("list")
@click.option("--data-dir", help=DATA_HELP)
def corpora_list(data_dir: str | None) -> None:
    """Registered corpora: splits, token counts, licence, and whether they are here."""
    from bench.corpora import describe

    folder = _data_dir(data_dir)
    for entry in _host().corpora:
        info = describe(entry.item, folder)
        aliases = f" (aliases: {', '.join(info['aliases'])})" if info.get("aliases") else ""
        click.echo(f"{info['name']}{aliases}  [{info['status']}]  tokenizer {info['default_tokenizer']}")
        click.echo(f"  {info['description']}")
        tokens = info.get("tokens") or {}
        if tokens:
            click.echo("  tokens (+eos): " + ", ".join(
                f"{split} {count:,}" if count else f"{split} ?" for split, count in tokens.items()))
        click.echo(f"  licence: {info['license']}")
        click.echo(f"  cite: {info['citation']}")


@corpora.command("fetch")
@click.argument("names", nargs=-1, required=True)
@click.option("--force", is_flag=True, help="download again even if cached")
@click.option("--data-dir", help=DATA_HELP)
def corpora_fetch(names: tuple[str, ...], force: bool, data_dir: str | None) -> None:
    """Download corpora into the cache, checking every sha256."""
    from bench.corpora import fetch

    folder = _data_dir(data_dir)
    for name in names:
        spec = _host().corpora.get(name)
        paths = fetch(spec, folder, force=force)
        for split, files in paths.items():
            for path in files:
                click.echo(f"{spec.name} {split}: {path}")


@corpora.command("verify")
@click.argument("names", nargs=-1)
@click.option("--data-dir", help=DATA_HELP)
def corpora_verify(names: tuple[str, ...], data_dir: str | None) -> None:
    """Check cached corpora against their sha256 (all registered ones by default)."""
    from bench.corpora import verify

    folder = _data_dir(data_dir)
    registry = _host().corpora
    specs = [registry.get(n) for n in names] if names else [e.item for e in registry]
    bad = False
    for spec in specs:
        for check in verify(spec, folder):
            click.echo(f"{spec.name} {check.split}: {check.status}  {check.path}"
                       + (f"  ({check.detail})" if check.detail else ""))
            bad |= check.status == "mismatch" or (bool(names) and check.status == "missing")
    if bad:
        raise BenchError("verification failed (see above)")


@cli.command()
@click.option("--limit", "-n", default=20, show_default=True)
@click.option("--status", type=click.Choice(["running", "finished", "failed", "interrupted"]))
@click.option("--plugin", "-p")
@click.option("--corpus", "-c")
@click.option("--db", help=DB_HELP)
def runs(limit: int, status: str | None, plugin: str | None, corpus: str | None,
         db: str | None) -> None:
    """Stored runs, newest first."""
    rows = _store(db).list_runs(limit=limit, status=status, plugin=plugin, corpus=corpus)
    if not rows:
        click.echo("no runs stored yet: try `bench run --plugin lstm`")
        return
    for r in rows:
        valid, test = r.get("valid_ppl"), r.get("test_ppl")
        ppl = f"valid {valid:.2f} test {test:.2f}" if valid and test else ""
        started = str(r.get("started_at") or "")[:19]
        click.echo(f"{r['id']:>5}  {r['status']:<11} {started}  {r['plugin']:<10} "
                   f"{r.get('corpus') or '':<16} {ppl}")


@cli.command()
@click.argument("run_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="everything stored, as JSON")
@click.option("--db", help=DB_HELP)
def show(run_id: int, as_json: bool, db: str | None) -> None:
    """One stored run: configuration, environment, metrics and evaluations."""
    record = _store(db).get_run(run_id)
    if as_json:
        click.echo(json.dumps(record, indent=2, default=str))
        return
    keys = ["id", "status", "plugin", "model_label", "corpus", "tokenizer", "vocab_size", "params",
            "device_name", "started_at", "finished_at", "wall_seconds", "train_tokens_per_second",
            "peak_rss_mb", "command", "git_commit", "config_hash"]
    for key in keys:
        if record.get(key) is not None:
            click.echo(f"{key:<24} {record[key]}")
    click.echo(f"{'config':<24} {json.dumps(record.get('config'))}")
    for ev in record.get("evaluations", []):
        click.echo(f"eval {ev['split']:<5} ppl {ev['ppl']:.3f}  word ppl {ev['word_ppl']:.3f}  "
                   f"bits/byte {ev['bits_per_byte']:.4f}  tokens {ev['tokens']:,}  "
                   f"({ev['mode']}, batch {ev['batch_size']})")
    epochs = [m for m in record.get("metrics", []) if m.get("name") == "valid_ppl"]
    for m in epochs:
        click.echo(f"epoch {m['epoch']}: valid ppl {m['value']:.3f}")
    for artifact in record.get("artifacts", []):
        click.echo(f"artifact {artifact['kind']}: {artifact['path']}")
    if record.get("error"):
        click.echo(f"error: {record['error'].splitlines()[0]}")


@cli.command()
@click.argument("run_ids", nargs=-1, required=True, type=int, metavar="RUN...")
@click.option("--yes", "-y", is_flag=True, help="do not ask for confirmation")
@click.option("--db", help=DB_HELP)
@click.option("--data-dir", help=DATA_HELP)
def delete(run_ids: tuple[int, ...], yes: bool, db: str | None, data_dir: str | None) -> None:
    """Delete stored runs: their rows (metrics, evaluations, probe results) and their
    folders of checkpoints. A run still going on in another process is refused.

    Leaderboard files already written keep the run until `bench leaderboard` is run again.
    """
    from bench.runner import Runner

    store = _store(db)
    records = [store.get_run(run_id) for run_id in dict.fromkeys(run_ids)]  # unknown ids first
    for record in records:
        what = " on ".join(part for part in (record.get("model_label"), record.get("corpus"))
                           if part)
        click.echo(f"run {record['id']}: {record['status']}, {what or record.get('plugin')}, "
                   f"started {str(record['started_at'])[:19]}")
    if not yes:
        click.confirm(f"delete {'this run' if len(records) == 1 else 'these runs'}?", abort=True)
    runner = Runner(_host(), store, _data_dir(data_dir), progress=False)
    for record in records:
        folder = runner.delete(record["id"])
        click.echo(f"deleted run {record['id']} and {folder}")


def main() -> None:
    """Console entry point: plugin commands are added before click parses argv."""
    try:
        _host().hook.register_commands(cli=cli)
    except Exception as error:  # a broken plugin command must not take the CLI down
        click.echo(f"warning: a plugin failed to add commands: {error}", err=True)
    cli(prog_name="bench")
