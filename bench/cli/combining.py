"""`bench combine RUN RUN ...`: stored runs interpolated token by token, as a run of their own."""

from __future__ import annotations

import shlex

import click

from bench.cli.options import (
    RUN_ID,
    data_dir_option,
    db_option,
    open_store,
    plugin_host,
    resolve_data_dir,
    resolve_run,
)
from bench.report.shown_text import for_terminal


@click.command()
@click.argument("runs", nargs=-1, required=True, type=RUN_ID, metavar="RUN RUN...")
@click.option(
    "--log-linear",
    is_flag=True,
    help="a normalised log-linear mixture instead of a linear one (refused: it needs full "
    "distributions, which stored runs do not keep)",
)
@db_option
@data_dir_option
def combine(
    runs: tuple[int | str, ...], log_linear: bool, db: str | None, data_dir: str | None
) -> None:
    """Interpolate stored runs: p = sum of w_k p_k, token by token, as a new run.

    The weights are fitted by EM on the validation split only; the test split is then
    scored once with them. The result is stored like any run (valid and test perplexity,
    intervals, the members and their weights in its configuration), shown on the
    leaderboard as e.g. "KN5 + LSTM 2x200 (interpolated)" and comparable with `bench
    compare`. The runs must have scored the same token streams (corpus text, tokenizer,
    vocabulary); a run stored without per-token log-probabilities is scored again from
    its checkpoint. See docs/evaluation-methods.md.

    \b
    Examples:
      bench combine 3 7
      bench combine 3 7 9 --db sqlite:///results.db
    """
    from bench.errors import BenchError
    from bench.run.combine import LOG_LINEAR_REFUSAL, combine_runs
    from bench.run.combine_members import latest_evaluation

    if log_linear:
        raise BenchError(LOG_LINEAR_REFUSAL)
    store = open_store(db)
    run_ids = [resolve_run(store, run) for run in runs]
    command = shlex.join(["bench", "combine", *[str(r) for r in runs]])
    result = combine_runs(
        store,
        plugin_host(),
        resolve_data_dir(data_dir),
        run_ids,
        command=command,
        echo=lambda line: click.echo(for_terminal(line), err=True),
    )
    weights = ", ".join(
        f"run {m.run_id} {w:.4f}" for m, w in zip(result.members, result.fit.weights, strict=True)
    )
    valid, test = result.evaluations["valid"], result.evaluations["test"]
    interval = test.ppl_interval
    click.echo(for_terminal(f"run {result.run_id}: {result.label}"))
    click.echo(f"  weights (EM on valid, {result.fit.iterations} iterations): {weights}")
    click.echo(f"  valid perplexity {valid.ppl:10.3f}   test perplexity {test.ppl:10.3f}")
    if interval is not None:
        click.echo(f"  test 95% interval {interval.describe(2)}")
    for member in result.members:
        member_test = latest_evaluation(member.record, "test")["ppl"]
        line = f"  member run {member.run_id} ({member.short_label()}): test perplexity {member_test:.3f}"
        click.echo(for_terminal(line))
