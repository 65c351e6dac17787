"""`bench probe`: measurements that look inside models, beyond perplexity, stored in the
database (table probe_results)."""

from __future__ import annotations

from pathlib import Path

import click

from bench.cli.app import BenchGroup
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
    set_option,
)
from bench.errors import BenchError


@click.group(cls=BenchGroup)
def probe() -> None:
    """Look inside models: measurements beyond perplexity, stored in the database."""


@probe.command("gradients")
@click.option(
    "--run",
    "run_ids",
    type=RUN_ID,
    multiple=True,
    help="a stored run with a checkpoint, e.g. an lstm run (repeatable)",
)
@click.option(
    "--plugin",
    "-p",
    "plugins",
    multiple=True,
    help="a freshly initialised model of this plugin: lstm, gru, rnn (repeatable)",
)
@click.option(
    "--corpus",
    "-c",
    help="corpus of fresh models: a registered name or a folder  "
    "[default: tinyshakespeare, embedded]",
)
@click.option("--tokenizer", "-t", help="tokenizer of fresh models  [default: the corpus's own]")
@set_option(
    "a model option of fresh models (repeatable); PLUGIN.KEY=VALUE sets it for "
    "one plugin only, tokenizer.KEY=VALUE a tokenizer option"
)
@click.option(
    "--split",
    type=click.Choice(["train", "valid", "test"]),
    default="valid",
    show_default=True,
    help="the split whose tokens are fed",
)
@click.option(
    "--distance",
    "-k",
    type=click.IntRange(1),
    default=50,
    show_default=True,
    help="K: measure k = 1..K steps back",
)
@click.option(
    "--positions",
    "-n",
    type=click.IntRange(1),
    default=100,
    show_default=True,
    help="positions t averaged over, spread evenly over the split",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("gradients.png"),
    show_default=True,
    help="the plot (PNG)",
)
@seed_option(default=1234, help="initialisation seed of fresh models")
@device_option(default="auto")
@db_option
@data_dir_option
def probe_gradients(
    run_ids: tuple[int | str, ...],
    plugins: tuple[str, ...],
    corpus: str | None,
    tokenizer: str | None,
    assignments: tuple[str, ...],
    split: str,
    distance: int,
    positions: int,
    out: Path,
    seed: int,
    device: str,
    db: str | None,
    data_dir: str | None,
) -> None:
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
    from bench.machine.environment import resolve_device
    from bench.probes.gradients import measure_gradient_norms
    from bench.probes.report import (
        SERIES_NAMES,
        gradient_table,
        plot_gradient_norms,
        shown_distances,
    )
    from bench.probes.subjects import fresh_subjects, subject_from_run

    if bool(run_ids) == bool(plugins):
        raise BenchError(
            "give stored runs (--run ID) or fresh models (--plugin NAME), one of the two"
        )
    if run_ids and (corpus or tokenizer or assignments):
        raise BenchError(
            "--corpus, --tokenizer and --set describe fresh models; a run brings its own"
        )
    store, host, folder = open_store(db), plugin_host(), resolve_data_dir(data_dir)
    device = resolve_device(device)
    subjects = (
        [
            subject_from_run(resolve_run(store, value), store, host, folder, device, split)
            for value in run_ids
        ]
        if run_ids
        else fresh_subjects(
            list(plugins),
            host,
            folder,
            device,
            corpus=corpus,
            tokenizer=tokenizer,
            assignments=assignments,
            seed=seed,
            split=split,
        )
    )
    curves = []
    stored = 0
    for subject in subjects:
        norms = measure_gradient_norms(
            subject.network,
            subject.split.ids,
            subject.eos_id,
            distance=distance,
            positions=positions,
            device=device,
            split=f"{subject.corpus} {split}",
        )
        curves.append((subject.label, norms))
        stored += store.add_probe_results(
            "gradients",
            [
                (SERIES_NAMES[series], int(k), float(value))
                for series, values in norms.series().items()
                for k, value in zip(norms.distances, values, strict=True)
            ],
            label=subject.label,
            plugin=subject.plugin,
            corpus=subject.corpus,
            split=split,
            positions=len(norms.positions),
            run_id=subject.run_id,
            config=subject.config,
            seed=subject.seed,
        )
    corpora = ", ".join(dict.fromkeys(subject.corpus for subject in subjects))
    where = f"mean over {len(curves[0][1].positions)} positions of {corpora} {split}"
    click.echo(f"|dJ(t)/dh(t-k)|, {where}")
    table = gradient_table(curves, shown_distances(distance))
    click.echo(table.to_string(float_format=lambda value: f"{value:.3e}"))
    path = plot_gradient_norms(curves, out, title=f"‖∂J(t)/∂h(t−k)‖, {where}")
    from bench.store.engine import safe_url

    click.echo(f"wrote {path}; stored {stored} values in {safe_url(store.url)} (probe_results)")
