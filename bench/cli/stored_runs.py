"""Commands about stored runs: `bench runs` lists them, `bench show` shows one, `bench
generate` samples text from one's checkpoint, `bench delete` removes them."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import click

from bench.cli.options import (
    RUN_ID,
    data_dir_option,
    db_option,
    device_option,
    open_store,
    plugin_host,
    resolve_data_dir,
    resolve_run,
    seed_option,
)
from bench.errors import BenchError
from bench.report.shown_text import for_terminal
from bench.store.rows import stored_number
from bench.training.flops import TrainingUtilisation


def _echo(line: str) -> None:
    """A line that quotes a stored run (label, command, config, error: possibly from
    someone else's file), with its control characters escaped."""
    click.echo(for_terminal(line))


@click.command()
@click.option("--limit", "-n", default=20, show_default=True)
@click.option("--status", type=click.Choice(["running", "finished", "failed", "interrupted"]))
@click.option("--plugin", "-p")
@click.option("--corpus", "-c")
@db_option
@data_dir_option
def runs(
    limit: int,
    status: str | None,
    plugin: str | None,
    corpus: str | None,
    db: str | None,
    data_dir: str | None,
) -> None:
    """Stored runs, newest first: model, corpus, perplexities, and why a run failed or
    was interrupted (`bench show RUN` has the whole error). A run that says running but
    whose process is gone (killed) shows as "running (process gone)"; give the --data-dir
    the run was started with, if it was given one."""
    from bench.cli.run_listing import runs_table
    from bench.run.folders import process_gone, run_folder

    store = open_store(db)
    rows = store.list_runs(limit=limit, status=status, plugin=plugin, corpus=corpus)
    folders = resolve_data_dir(data_dir)
    for r in rows:  # a killed run's row still says running: its lock tells
        if r["status"] == "running" and process_gone(run_folder(folders, store.url, r["id"])):
            r["status"] = "running (process gone)"
    if not rows:
        click.echo("no runs stored yet: try `bench run --plugin lstm`")
        return
    click.echo(runs_table(rows))


@click.command()
@click.argument("run_id", type=RUN_ID)
@click.option("--json", "as_json", is_flag=True, help="everything stored, as JSON")
@db_option
def show(run_id: int | str, as_json: bool, db: str | None) -> None:
    """One stored run: configuration, environment, metrics and evaluations."""
    from bench.cli.run_listing import config_lines, oov_text
    from bench.secrets import mask_text

    store = open_store(db)
    record = store.get_run(resolve_run(store, run_id))
    if record.get("command"):  # rows stored before bench masked passwords
        record["command"] = mask_text(record["command"])
    if as_json:
        click.echo(json.dumps(record, indent=2, default=str))  # JSON escapes control characters
        return
    keys = [
        "id",
        "status",
        "plugin",
        "model_label",
        "corpus",
        "tokenizer",
        "vocab_size",
        "params",
        "device_name",
        "started_at",
        "finished_at",
        "wall_seconds",
        "train_tokens_per_second",
        "peak_rss_mb",
        "command",
        "git_commit",
        "config_hash",
    ]
    for key in keys:
        if record.get(key) is not None:
            _echo(f"{key:<24} {_shown(record[key])}")
    _echo_corpus(record)
    utilisation = TrainingUtilisation.from_metrics(
        {m["name"]: m["value"] for m in record.get("metrics", [])},
        ((record.get("config") or {}).get("options") or {}).get("precision", "fp32"),
    )
    if utilisation is not None:
        _echo(f"{'training arithmetic':<24} {utilisation.describe()}")
    if record.get("config"):
        _echo("config:")
        for line in config_lines(record["config"]):
            _echo(f"  {line}")
    for ev in record.get("evaluations", []):
        interval = (
            f" [{ev['ppl_low']:.2f}, {ev['ppl_high']:.2f}]" if ev.get("ppl_low") is not None else ""
        )
        _echo(
            f"eval {ev['split']:<5} ppl {stored_number(ev['ppl'], '.3f')}{interval}  word ppl "
            f"{stored_number(ev['word_ppl'], '.3f')}  bits/byte {stored_number(ev['bits_per_byte'], '.4f')}"
            f"  tokens {stored_number(ev['tokens'], ',')}  ({ev['mode']}, batch {ev['batch_size']})"
        )
        oov = ev["tokens"] and oov_text(
            ev["split"], ev.get("oov"), ev["tokens"], ev.get("ppl_no_oov")
        )
        if oov:
            _echo(f"  {oov}")
    if any(ev.get("ppl_low") is not None for ev in record.get("evaluations", [])):
        _echo("  [low, high]: 95% bootstrap interval over the split's lines (docs/uncertainty.md)")
    _echo_seed_group(store, record)
    epochs = [m for m in record.get("metrics", []) if m.get("name") == "valid_ppl"]
    for m in epochs:
        _echo(f"epoch {m['epoch']}: valid ppl {m['value']:.3f}")
    for artifact in record.get("artifacts", []):
        _echo(f"artifact {artifact['kind']}: {artifact['path']}")
    if record.get("error"):
        _echo(f"error: {record['error'].splitlines()[0]}")


def _echo_corpus(record: dict[str, Any]) -> None:
    """The corpus as the command gave it, where it was read from, its checksums, and any
    file there that no longer holds the text the run measured."""
    from bench.corpora import changed_files

    given = (record.get("config") or {}).get("corpus")
    if given and given != record.get("corpus"):
        _echo(f"{'corpus as given':<24} {_shown(given)}")
    if record.get("corpus_source"):
        _echo(f"{'corpus read from':<24} {_shown(record['corpus_source'])}")
    sha = record.get("corpus_sha256")
    if isinstance(sha, dict) and sha:
        shown = ", ".join(f"{split} {str(digest)[:12]}…" for split, digest in sha.items())
        _echo(f"{'corpus sha256':<24} {_shown(shown)}")
    elif record.get("corpus"):
        _echo(f"{'corpus sha256':<24} not recorded: grouped with runs of the same corpus name")
    for problem in changed_files(record.get("corpus_source"), sha):
        _echo(f"{'corpus changed':<24} {_shown(problem)}; rerunning would measure other text")


def _echo_seed_group(store: Any, record: dict[str, Any]) -> None:
    """The run's seed group (runs equal but for the seed), when it has other members."""
    from bench.scoring.seeds import SeedSpread, group_members

    if record.get("status") != "finished" or not record.get("config"):
        return
    _, members, remeasured = group_members(
        store, record["id"], new_options=plugin_host().with_new_options
    )
    if len(members) > 1:
        ids = ", ".join(str(i) for i in members["run_id"])
        spread = SeedSpread.of(list(members["test_ppl"].astype(float)))
        _echo(f"seed group: runs {ids}, test ppl {spread.describe()} (bench compare --groups)")
    if remeasured:
        _echo(f"re-measured: {remeasured}")


@click.command()
@click.option(
    "--run",
    "run_id",
    type=RUN_ID,
    required=True,
    help="a finished run: its id (see `bench runs`) or last, the newest",
)
@click.option(
    "--prompt", default="", help="text the first line starts with (tokenized like the corpus)"
)
@click.option(
    "--lines",
    "-n",
    type=click.IntRange(1),
    help="how many whole lines to sample  [default: 10]",
)
@click.option(
    "--tokens",
    type=click.IntRange(1),
    help="sample this many tokens instead of whole lines (the last line may be cut)",
)
@click.option(
    "--temperature",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0.01),
    help="below 1 sharpens the distribution, above 1 flattens it",
)
@click.option("--top-k", type=click.IntRange(1), help="sample only among the K likeliest tokens")
@click.option(
    "--top-p",
    type=click.FloatRange(0, 1, min_open=True),
    help="sample only among the likeliest tokens that together hold P of the probability",
)
@click.option("--greedy", is_flag=True, help="always take the likeliest token (no sampling)")
@seed_option(default=0, help="same seed, same sample")
@device_option(default="auto")
@db_option
@data_dir_option
def generate(
    run_id: int | str,
    prompt: str,
    lines: int | None,
    tokens: int | None,
    temperature: float,
    top_k: int | None,
    top_p: float | None,
    greedy: bool,
    seed: int,
    device: str,
    db: str | None,
    data_dir: str | None,
) -> None:
    """Sample whole lines from a stored run's best checkpoint, in the style of its corpus.

    The model first reads the last lines of its train split, so the sample starts at the
    start of a line, as after any end of line in the text; it stops at a line end.

    \b
    Examples:
      bench generate --run last
      bench generate --run last -n 20 --temperature 0.7
      bench generate --run 3 --prompt "ROMEO:" --greedy
      bench generate --run 3 --tokens 500 --top-p 0.9
    """
    from bench.machine.environment import resolve_device
    from bench.run.generation import Sampling, print_sample
    from bench.run.restore import restore_run

    if lines is not None and tokens is not None:
        raise BenchError("give --lines (-n) or --tokens, not both")
    if greedy and (top_k or top_p or temperature != 1.0):
        raise BenchError(
            "--greedy takes the likeliest token: drop --top-k, --top-p and --temperature"
        )
    store, host = open_store(db), plugin_host()
    run = resolve_run(store, run_id)
    _require_generation(host, store.get_run(run), run)
    restored = restore_run(run, store, host, resolve_data_dir(data_dir), resolve_device(device))
    sampling = Sampling(temperature, top_k, top_p, greedy, seed)
    print_sample(restored, prompt, sampling, lines=lines, tokens=tokens, echo=click.echo)


def _require_generation(host: Any, record: dict[str, Any], run: int) -> None:
    """A one-line refusal for a run whose model cannot sample (n-gram counts, a tutorial's
    bigram), before anything is loaded."""
    plugin = (record.get("config") or {}).get("plugin") or record.get("plugin")
    if host.models.get(plugin).supports("generate"):
        return
    able = [entry.name for entry in host.models if entry.item.supports("generate")]
    raise BenchError(
        f"run {run}: model plugin {plugin!r} cannot generate text (it has no generate "
        f"method); models that can: {', '.join(able) or 'none installed'}"
    )


@click.command()
@click.argument("run_ids", nargs=-1, required=True, type=RUN_ID, metavar="RUN...")
@click.option("--yes", "-y", is_flag=True, help="do not ask for confirmation")
@db_option
@data_dir_option
def delete(run_ids: tuple[int | str, ...], yes: bool, db: str | None, data_dir: str | None) -> None:
    """Delete stored runs: their rows (metrics, evaluations, probe results) and their
    folders of checkpoints. A run still going on in another process is refused.

    Leaderboard files already written keep the run until `bench leaderboard` is run again.
    """
    from bench.run.runner import Runner

    store = open_store(db)
    ids = dict.fromkeys(resolve_run(store, value) for value in run_ids)
    records = [store.get_run(run_id) for run_id in ids]  # unknown ids first
    for record in records:
        what = " on ".join(
            part for part in (record.get("model_label"), record.get("corpus")) if part
        )
        _echo(
            f"run {record['id']}: {record['status']}, {what or record.get('plugin')}, "
            f"started {str(record['started_at'])[:19]}"
        )
    if not yes:
        click.confirm(f"delete {'this run' if len(records) == 1 else 'these runs'}?", abort=True)
    runner = Runner(plugin_host(), store, resolve_data_dir(data_dir), progress=False)
    for record in records:
        folder = runner.delete(record["id"])
        _echo(f"deleted run {record['id']} and {folder}")


def _shown(value: Any) -> str:
    """A header value as a person reads it: 1,234 and 1,884.2, not 1884.1961360003552."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 100 else f"{value:.4g}"
    return str(value)
