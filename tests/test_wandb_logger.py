"""The W&B logger's offline run file: whole on disk when the run's finish returns, read
back up to its last whole record even while written or after its writer was killed, and
every earlier attempt of a run found, whichever second it started in."""

from pathlib import Path

import pytest
from conftest import import_or_unavailable

from bench import RunInfo
from bench.configuration.run_config import log_destinations

STEPS = list(range(1, 21))


@pytest.fixture(autouse=True)
def offline_wandb(tmp_path, monkeypatch):
    import_or_unavailable("wandb", "wandb", "no wandb: pip install -e '.[wandb]'")
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")


def tracker(run_id=7):
    from bench_plugins.loggers.to_wandb import WandbRun

    (destination,) = log_destinations(["wandb"])
    run = RunInfo(
        run_id, "lstm", "tiny", "char", "cpu", {"seed": 1}, (destination,), "sqlite:///x.db"
    )
    return WandbRun(run, destination.target)


def logged(steps=STEPS, run_id=7):
    """A run that logged ``train_loss`` at ``steps`` and finished; its file."""
    run = tracker(run_id)
    run.start({"seed": 1})
    for step in steps:
        run.log({"train_loss": 1.0 / step}, step, 1)
    run.finish("finished", {"final/test_ppl": 3.0})
    return Path(run.wb.settings.sync_file)


def steps_in(path):
    from bench_plugins.loggers import wandb_files

    return [row["_step"] for row in wandb_files.history(path) if "train_loss" in row]


def test_the_file_is_whole_when_finish_returns():
    from bench_plugins.loggers import wandb_files

    path = logged()
    assert wandb_files.complete(path)
    assert steps_in(path) == STEPS
    summary, config = wandb_files.summary_and_config(path)
    assert summary["final/test_ppl"] == 3.0 and summary["status"] == "finished"
    assert config["seed"] == 1


def record_kinds(path):
    from bench_plugins.loggers import wandb_files

    return [record.WhichOneof("record_type") for record in wandb_files.records(path)]


def test_the_summary_is_written_once_with_each_series_last_value():
    """W&B's helper would rewrite the summary after every row (twice, in the offline
    file): bench has the summary derived elsewhere and sets the last values itself."""
    from bench_plugins.loggers import wandb_files

    path = logged()
    kinds = record_kinds(path)
    assert kinds.count("history") == len(STEPS)
    assert kinds.count("summary") <= 2, kinds.count("summary")  # not one or two per row
    summary, _ = wandb_files.summary_and_config(path)
    assert summary["train_loss"] == 1.0 / STEPS[-1]


def test_a_resumed_run_s_summary_keeps_the_last_value_an_earlier_attempt_logged():
    from bench_plugins.loggers import wandb_files

    logged(STEPS)  # reached step 20
    path = logged(range(11, 16), run_id=7)  # from a checkpoint at 10, ended at 15
    summary, _ = wandb_files.summary_and_config(path)
    assert summary["train_loss"] == 1.0 / STEPS[-1]


def test_finish_waits_until_the_file_ends_with_the_exit_record(monkeypatch):
    from bench_plugins.loggers import to_wandb

    seen = []

    def complete(path):  # not yet, three times over: finish must keep looking
        seen.append(to_wandb.complete.__wrapped__(path) if len(seen) >= 3 else False)
        return seen[-1]

    complete.__wrapped__ = to_wandb.complete
    monkeypatch.setattr(to_wandb, "complete", complete)
    path = logged()
    assert len(seen) >= 4 and seen[-1] is True
    assert steps_in(path) == STEPS


def test_a_file_w_and_b_never_finishes_is_reported_once(monkeypatch, capfd):
    from bench_plugins.loggers import common, to_wandb

    monkeypatch.setattr(to_wandb, "CLOSE_SECONDS", 0.3)
    monkeypatch.setattr(to_wandb, "complete", lambda path: False)
    (destination,) = log_destinations(["wandb"])
    run = tracker().run
    # on the test's own thread, where the patches above apply (a tracker's process would
    # import to_wandb afresh)
    sender = common.Destination(to_wandb.WandbRun, run, destination, process=False)
    sender.send("start", {"seed": 1})
    sender.send("log", {"train_loss": 1.0}, 1, 1)
    sender.send("finish", "finished", {})
    sender.close()
    errors = [line for line in capfd.readouterr().err.splitlines() if "--log-to" in line]
    assert len(errors) == 1, errors
    assert errors[0].startswith("bench: --log-to wandb: TimeoutError: W&B had not finished ")
    assert "0.3 s after the run ended; not logging there any more" in errors[0]


def test_a_file_cut_short_or_damaged_reads_up_to_its_last_whole_record(tmp_path):
    from bench_plugins.loggers import wandb_files

    whole = logged(range(1, 1001))  # several 32 KiB blocks
    data = whole.read_bytes()
    assert len(data) > 3 * wandb_files.BLOCK
    cut = tmp_path / "cut.wandb"
    for size in range(len(data) // 7, len(data), len(data) // 7 + 13):  # cuts mid-chunk
        cut.write_bytes(data[:size])
        steps = steps_in(cut)
        assert steps == list(range(1, len(steps) + 1))  # the rows before the cut, no more
        assert not wandb_files.complete(cut)
    damaged = bytearray(data)
    damaged[len(data) // 2] ^= 0xFF
    cut.write_bytes(bytes(damaged))
    steps = steps_in(cut)
    assert 0 < len(steps) < 1000 and steps == list(range(1, len(steps) + 1))


def test_every_earlier_attempt_is_found_whichever_second_it_started_in(tmp_path):
    from bench_plugins.loggers import wandb_files

    run = "bench-run-1-abcdef"
    folders = {  # folder: the W&B run id in it
        f"offline-run-20260101_000001-{run}": run,
        f"offline-run-20260101_000000-{run}-2": run,  # W&B's suffix: a third start that second
        f"offline-run-20260101_000000-{run}": run,
        f"offline-run-20260101_000000-{run}-1": run,
        f"offline-run-20260101_000000-{run}0": f"{run}0",  # other runs
        "offline-run-20260101_000000-bench-run-11-abcdef": "bench-run-11-abcdef",
    }
    for folder, wandb_id in folders.items():
        (tmp_path / folder).mkdir()
        (tmp_path / folder / f"run-{wandb_id}.wandb").write_bytes(b":W&B")
    found = [path.parent.name for path in wandb_files.offline_files(tmp_path, run)]
    assert found == [
        f"offline-run-20260101_000000-{run}",
        f"offline-run-20260101_000000-{run}-1",
        f"offline-run-20260101_000000-{run}-2",
        f"offline-run-20260101_000001-{run}",
    ]


def test_runs_in_one_process_each_write_under_their_own_wandb_dir(tmp_path, monkeypatch):
    for folder in ("first", "second"):
        monkeypatch.setenv("WANDB_DIR", str(tmp_path / folder))
        path = logged(run_id=len(folder))
        assert path.is_relative_to(tmp_path / folder / "wandb"), path
        assert steps_in(path) == STEPS


def test_offline_by_default_means_w_and_b_itself_is_offline_too():
    """W&B's own usage telemetry follows the process's mode, not the run's: bench's default
    offline run must not leave the process online (it would send that telemetry)."""
    import wandb

    logged()
    assert wandb.setup().settings.mode == "offline"
