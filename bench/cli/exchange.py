"""`bench export` and `bench import`: stored runs to and from reviewable JSON files."""

from __future__ import annotations

from pathlib import Path

import click

from bench.cli.options import RUN_ID, db_option, open_store, plugin_host, resolve_run


@click.command("export")
@click.argument("run_ids", metavar="[RUN]...", nargs=-1, type=RUN_ID)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="folder for the run files, one JSON file per run (e.g. leaderboards/runs)",
)
@click.option(
    "--to",
    "to",
    metavar="KIND[:TARGET]",
    help="send the runs to a tracker instead, as `bench run --log-to` does: "
    "tensorboard:DIR, mlflow[:TRACKING_URI], wandb[:PROJECT], csv:DIR",
)
@db_option
def export_command(
    run_ids: tuple[int | str, ...], out: Path | None, to: str | None, db: str | None
) -> None:
    """Write stored runs as JSON files (run row, evaluations and training curve), or
    send them to a tracker (--to).

    Without RUN ids every finished run is exported. Commit the files to keep the
    measurements behind a leaderboard, or carry a run measured on another machine home
    with `bench import`. Sending a run to a tracker again continues the same run there.

    \b
    Examples:
      bench export --out leaderboards/runs
      bench export 12 13 --out ./from-gpu-box
      bench export --to mlflow:sqlite:///mlflow.db
      bench export 12 --to tensorboard:runs/tb
    """
    if (out is None) == (to is None):
        raise click.UsageError("give either --out FOLDER or --to KIND[:TARGET]")
    if to is not None:
        from bench.configuration.run_config import log_destinations
        from bench.run.replay import replay_runs

        (destination,) = log_destinations([to])
        store = open_store(db)
        ids = [resolve_run(store, value) for value in run_ids]
        for run_id in replay_runs(plugin_host(), store, destination, ids or None):
            click.echo(f"sent run {run_id} to {destination}")
        return
    from bench.store.exchange import export_runs

    store = open_store(db)
    ids = [resolve_run(store, value) for value in run_ids]
    for path in export_runs(store, out, ids or None):
        click.echo(f"wrote {path}")


@click.command("import")
@click.argument(
    "paths", metavar="FILE_OR_FOLDER...", nargs=-1, required=True, type=click.Path(path_type=Path)
)
@db_option
def import_command(paths: tuple[Path, ...], db: str | None) -> None:
    """Add runs from `bench export` files to the database (a run already there is skipped).

    Each file is checked before anything of it is written: a value that does not fit its
    field refuses the file. Files are read only if they are regular files (not symbolic
    links) of at most 64 MB.

    \b
    Examples:
      bench import leaderboards/runs
      bench import leaderboards/runs && bench leaderboard --out leaderboards
    """
    from bench.store.exchange import import_one_by_one

    for path, run_id, new in import_one_by_one(open_store(db), paths):
        click.echo(f"{'imported' if new else 'already there'}: {path.name} as run {run_id}")
