"""`bench export` and `bench import`: stored runs to and from reviewable JSON files."""

from __future__ import annotations

from pathlib import Path

import click

from bench.cli.options import RUN_ID, db_option, open_store, resolve_run


@click.command("export")
@click.argument("run_ids", metavar="[RUN]...", nargs=-1, type=RUN_ID)
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="folder for the run files, one JSON file per run (e.g. leaderboards/runs)",
)
@db_option
def export_command(run_ids: tuple[int | str, ...], out: Path, db: str | None) -> None:
    """Write stored runs as JSON files: run row, evaluations and training curve.

    Without RUN ids every finished run is exported. Commit the files to keep the
    measurements behind a leaderboard, or carry a run measured on another machine home
    with `bench import`.

    \b
    Examples:
      bench export --out leaderboards/runs
      bench export 12 13 --out ./from-gpu-box
    """
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
