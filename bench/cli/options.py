"""The options several commands share, each defined once, and what their values become.

Heavy modules (the plugin host, the database) are imported only when a command asks for
them, so `bench --help` stays instant.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

Command = TypeVar("Command", bound=Callable[..., Any])

DB_HELP = (
    "database: any SQLAlchemy URL [default: $BENCH_DB, else a SQLite file in the user data folder]"
)
DATA_HELP = "folder for downloaded corpora, tokenizer models and checkpoints [default: $BENCH_DATA_DIR, else the user cache folder]"
DEVICES = "auto, cpu, cuda, cuda:N or mps"

db_option = click.option("--db", help=DB_HELP)
data_dir_option = click.option("--data-dir", help=DATA_HELP)
progress_option = click.option(
    "--progress/--no-progress",
    default=True,
    show_default=True,
    help="progress bars on stderr; where stderr is not a terminal, a progress line "
    "every 30 s instead",
)


log_to_option = click.option(
    "--log-to",
    "log_to",
    multiple=True,
    metavar="KIND[:TARGET]",
    help="also send the run's configuration, curves and results to a tracker (repeatable): "
    "tensorboard:DIR, mlflow[:TRACKING_URI], wandb[:PROJECT], csv:DIR, or a logger "
    "plugin's name  [default: the config file's log_to, else $BENCH_LOG_TO]",
)


def device_option(default: str | None = None) -> Callable[[Command], Command]:
    """--device/-d; without a default the configuration decides (auto unless a file says)."""
    if default is None:
        return click.option("--device", "-d", help=f"{DEVICES}  [default: auto]")
    return click.option("--device", "-d", default=default, show_default=True, help=DEVICES)


def seed_option(
    default: int | None = None,
    help: str = "seed for every random generator  [default: 1234]",
) -> Callable[[Command], Command]:
    """--seed; without a default the configuration decides."""
    return click.option(
        "--seed", type=int, default=default, show_default=default is not None, help=help
    )


def set_option(help: str) -> Callable[[Command], Command]:
    """--set/-s KEY=VALUE, repeatable, into the parameter ``assignments`` (the grammar is
    bench.configuration.run_config's: KEY, tokenizer.KEY, output.KEY)."""
    return click.option("--set", "-s", "assignments", multiple=True, metavar="KEY=VALUE", help=help)


def plugin_host() -> Any:
    """The plugin host: every installed plugin loaded and registered."""
    from bench.api.plugin_host import get_host

    return get_host()


def open_store(db: str | None) -> Any:
    """The database that --db names (or its default)."""
    from bench.store import Store

    return Store(db)


def resolve_data_dir(folder: str | None) -> Path:
    """The folder that --data-dir names (or its default)."""
    from bench.paths import data_dir as resolve

    return resolve(folder)


# --------------------------------------------------------------------------- run ids
LAST = "last"


class RunIdType(click.ParamType):
    """A run id, or ``last``: the newest run in the database (resolved by :func:`resolve_run`
    once the database is open, since --db may come later on the command line)."""

    name = "RUN"

    def convert(self, value: Any, param: Any, ctx: Any) -> int | str:
        if isinstance(value, int) or value == LAST:
            return value
        try:
            return int(value)
        except ValueError:
            self.fail(f"{value!r} is not a run id: give a number (see `bench runs`) or 'last'")


RUN_ID = RunIdType()


def resolve_run(store: Any, value: int | str) -> int:
    """The run a RUN argument names: ``last`` is the newest run stored."""
    if value != LAST:
        return int(value)
    from bench.errors import BenchError

    newest = store.list_runs(limit=1)
    if not newest:
        raise BenchError(
            "no runs stored yet, so there is no 'last' run: try `bench run --plugin lstm`"
        )
    return int(newest[0]["id"])
