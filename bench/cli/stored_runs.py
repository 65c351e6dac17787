"""Commands about stored runs: `bench runs` lists them, `bench show` shows one, `bench
generate` samples text from one's checkpoint, `bench delete` removes them."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import click

from bench.cli.options import (
    data_dir_option,
    db_option,
    device_option,
    open_store,
    plugin_host,
    resolve_data_dir,
    seed_option,
)
from bench.errors import BenchError
from bench.training.flops import TrainingUtilisation


@click.command()
@click.option("--limit", "-n", default=20, show_default=True)
@click.option("--status", type=click.Choice(["running", "finished", "failed", "interrupted"]))
@click.option("--plugin", "-p")
@click.option("--corpus", "-c")
@db_option
def runs(
    limit: int, status: str | None, plugin: str | None, corpus: str | None, db: str | None
) -> None:
    """Stored runs, newest first: model, corpus, perplexities, and why a run failed or
    was interrupted (`bench show RUN` has the whole error)."""
    from bench.cli.run_listing import runs_table
    from bench.run.folders import process_gone, run_folder

    store = open_store(db)
    rows = store.list_runs(limit=limit, status=status, plugin=plugin, corpus=corpus)
    data_dir = resolve_data_dir(None)
    for r in rows:  # a killed run's row still says running: its lock tells
        if r["status"] == "running" and process_gone(run_folder(data_dir, store.url, r["id"])):
            r["status"] = "running (process gone)"
    if not rows:
        click.echo("no runs stored yet: try `bench run --plugin lstm`")
        return
    click.echo(runs_table(rows))


@click.command()
@click.argument("run_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="everything stored, as JSON")
@db_option
def show(run_id: int, as_json: bool, db: str | None) -> None:
    """One stored run: configuration, environment, metrics and evaluations."""
    from bench.cli.run_listing import config_lines, oov_text
    from bench.secrets import mask_text

    store = open_store(db)
    record = store.get_run(run_id)
    if record.get("command"):  # rows stored before bench masked passwords
        record["command"] = mask_text(record["command"])
    if as_json:
        click.echo(json.dumps(record, indent=2, default=str))
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
            click.echo(f"{key:<24} {_shown(record[key])}")
    utilisation = TrainingUtilisation.from_metrics(
        {m["name"]: m["value"] for m in record.get("metrics", [])},
        ((record.get("config") or {}).get("options") or {}).get("precision", "fp32"),
    )
    if utilisation is not None:
        click.echo(f"{'training arithmetic':<24} {utilisation.describe()}")
    if record.get("config"):
        click.echo("config:")
        for line in config_lines(record["config"]):
            click.echo(f"  {line}")
    for ev in record.get("evaluations", []):
        interval = (
            f" [{ev['ppl_low']:.2f}, {ev['ppl_high']:.2f}]" if ev.get("ppl_low") is not None else ""
        )
        click.echo(
            f"eval {ev['split']:<5} ppl {ev['ppl']:.3f}{interval}  word ppl "
            f"{ev['word_ppl']:.3f}  bits/byte {ev['bits_per_byte']:.4f}  tokens "
            f"{ev['tokens']:,}  ({ev['mode']}, batch {ev['batch_size']})"
        )
        oov = oov_text(ev["split"], ev.get("oov"), ev["tokens"], ev.get("ppl_no_oov"))
        if oov:
            click.echo(f"  {oov}")
    if any(ev.get("ppl_low") is not None for ev in record.get("evaluations", [])):
        click.echo(
            "  [low, high]: 95% bootstrap interval over the split's lines (docs/uncertainty.md)"
        )
    _echo_seed_group(store, record)
    epochs = [m for m in record.get("metrics", []) if m.get("name") == "valid_ppl"]
    for m in epochs:
        click.echo(f"epoch {m['epoch']}: valid ppl {m['value']:.3f}")
    for artifact in record.get("artifacts", []):
        click.echo(f"artifact {artifact['kind']}: {artifact['path']}")
    if record.get("error"):
        click.echo(f"error: {record['error'].splitlines()[0]}")


def _echo_seed_group(store: Any, record: dict[str, Any]) -> None:
    """The run's seed group (runs equal but for the seed), when it has other members."""
    from bench.scoring.seeds import SeedSpread, group_members

    if record.get("status") != "finished" or not record.get("config"):
        return
    _, members = group_members(store, record["id"])
    if len(members) > 1:
        ids = ", ".join(str(i) for i in members["run_id"])
        spread = SeedSpread.of(list(members["test_ppl"].astype(float)))
        click.echo(f"seed group: runs {ids}, test ppl {spread.describe()} (bench compare --groups)")


@click.command()
@click.option("--run", "run_id", type=int, required=True, help="a finished run (see `bench runs`)")
@click.option("--prompt", default="", help="text to continue (tokenized like the corpus)")
@click.option(
    "--tokens",
    "-n",
    default=200,
    show_default=True,
    type=click.IntRange(1),
    help="how many tokens to sample",
)
@click.option(
    "--temperature",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0.01),
    help="below 1 sharpens the distribution, above 1 flattens it",
)
@click.option("--top-k", type=click.IntRange(1), help="sample only among the K likeliest tokens")
@seed_option(default=0, help="same seed, same sample")
@device_option(default="auto")
@db_option
@data_dir_option
def generate(
    run_id: int,
    prompt: str,
    tokens: int,
    temperature: float,
    top_k: int | None,
    seed: int,
    device: str,
    db: str | None,
    data_dir: str | None,
) -> None:
    """Sample text from a stored run's best checkpoint, in the style of its corpus."""
    from bench.machine.environment import resolve_device
    from bench.run.restore import restore_run

    restored = restore_run(
        run_id, open_store(db), plugin_host(), resolve_data_dir(data_dir), resolve_device(device)
    )
    if not restored.model.supports("generate"):
        raise BenchError(f"model plugin {restored.record['plugin']!r} cannot generate text")
    prompt_ids = restored.tokenizer.encode("prompt", [prompt]).ids[:-1].tolist()  # no eos
    drawn = restored.model.generate(
        prompt_ids, tokens, temperature=temperature, top_k=top_k, seed=seed
    )
    click.echo("\n".join(restored.tokenizer.decode([*prompt_ids, *drawn])))


@click.command()
@click.argument("run_ids", nargs=-1, required=True, type=int, metavar="RUN...")
@click.option("--yes", "-y", is_flag=True, help="do not ask for confirmation")
@db_option
@data_dir_option
def delete(run_ids: tuple[int, ...], yes: bool, db: str | None, data_dir: str | None) -> None:
    """Delete stored runs: their rows (metrics, evaluations, probe results) and their
    folders of checkpoints. A run still going on in another process is refused.

    Leaderboard files already written keep the run until `bench leaderboard` is run again.
    """
    from bench.run.runner import Runner

    store = open_store(db)
    records = [store.get_run(run_id) for run_id in dict.fromkeys(run_ids)]  # unknown ids first
    for record in records:
        what = " on ".join(
            part for part in (record.get("model_label"), record.get("corpus")) if part
        )
        click.echo(
            f"run {record['id']}: {record['status']}, {what or record.get('plugin')}, "
            f"started {str(record['started_at'])[:19]}"
        )
    if not yes:
        click.confirm(f"delete {'this run' if len(records) == 1 else 'these runs'}?", abort=True)
    runner = Runner(plugin_host(), store, resolve_data_dir(data_dir), progress=False)
    for record in records:
        folder = runner.delete(record["id"])
        click.echo(f"deleted run {record['id']} and {folder}")


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
