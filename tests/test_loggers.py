"""`--log-to`: runs sent to TensorBoard, MLflow, W&B and CSV, read back with each tracker's
own reader; a killed and resumed run's series has no gap and no step twice; a failing or
slow tracker never fails or slows the run. Each tracker's tests skip without its extra."""

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import OPTIONAL, import_or_unavailable, required

from bench.api.plugin_host import get_host
from bench.cli import cli
from bench.configuration.run_config import build_config, log_destinations
from bench.errors import BenchError
from bench.run.runner import Runner
from bench.store import Store
from bench_plugins.loggers import common, to_csv, to_tensorboard, wandb_files

PAUSE_AT_STEP = Path(__file__).with_name("pause_at_step.py")
STEPS_PER_EPOCH = 12
EPOCHS = 3
# every step logged; a checkpoint only at each epoch's end, so a run killed in epoch 2
# resumes from step 12 and trains (and logs) the steps after it a second time
TRAINING = (
    "layers=1",
    "hidden_size=8",
    "embedding_size=8",
    "batch_size=4",
    "bptt=8",
    f"epochs={EPOCHS}",
    f"max_steps_per_epoch={STEPS_PER_EPOCH}",
    "log_every=1",
    "checkpoint_minutes=600",
    "dropout=0",
)
ALL_STEPS = list(range(1, EPOCHS * STEPS_PER_EPOCH + 1))


def needs(module, extra):
    """The tracker's library, or a skip naming its extra (a failure where $BENCH_REQUIRE
    names it: CI installs wandb's extra and requires it)."""
    reason = f"no {module}: pip install -e '.[{extra}]'"
    if module in OPTIONAL:
        return import_or_unavailable(module, module, reason)
    return pytest.importorskip(module, reason=reason)


@pytest.fixture
def runner(tmp_path):
    return Runner(get_host(), Store(), tmp_path / "data", progress=False, echo=lambda m: None)


@pytest.fixture(autouse=True)
def offline_wandb(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("BENCH_LOG_TO", raising=False)


def train(runner, corpus, *log_to):
    config = build_config(
        {}, {"plugin": "lstm", "corpus": str(corpus), "log_to": list(log_to)}, TRAINING
    )
    return runner.run(config, "x")


def stored_curve(store, run_id, name="train_loss"):
    """bench's own record of a per-step series: {step: value} (the epoch means apart)."""
    rows = store.get_run(run_id)["metrics"]
    epoch_ends = {(m["step"], m["created_at"]) for m in rows if m["name"] == "valid_ppl"}
    return {
        m["step"]: m["value"]
        for m in rows
        if m["name"] == name and (m["step"], m["created_at"]) not in epoch_ends
    }


def run_folder(parent):
    (folder,) = Path(parent).glob("run-*")
    return folder


# -- readers, one per tracker: [(step, value)] of a series in the order stored -----------


def tensorboard_series(folder, name):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0})
    events.Reload()
    return [(event.step, event.value) for event in events.Scalars(name)]


def mlflow_run(uri):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("bench")
    (run,) = client.search_runs([experiment.experiment_id])
    return client, run


def mlflow_series(uri, name):
    client, run = mlflow_run(uri)
    history = client.get_metric_history(run.info.run_id, name)
    return sorted((metric.step, metric.value) for metric in history)


def wandb_series(wandb_dir, name):
    rows = [
        row
        for path in sorted(Path(wandb_dir, "wandb").glob("offline-run-*/run-*.wandb"))
        for row in wandb_files.history(path)
    ]
    return sorted((row["_step"], row[name]) for row in rows if name in row)


def csv_series(folder, name):
    with (run_folder(folder) / "metrics.csv").open(newline="") as handle:
        return [
            (int(r["step"]), float(r["value"])) for r in csv.DictReader(handle) if r["name"] == name
        ]


def assert_series(series, expected):
    """One value per step, no step missing, each equal to bench's own record."""
    assert [step for step, _ in series] == sorted(expected)
    assert [value for _, value in series] == pytest.approx(
        [expected[step] for step in sorted(expected)], rel=1e-5
    )


# -- each tracker, one short run read back ----------------------------------------------


def test_tensorboard_event_files_hold_the_config_curves_and_final_values(
    runner, tiny_corpus, tmp_path
):
    needs("tensorboard", "tensorboard")
    result = train(runner, tiny_corpus, f"tensorboard:{tmp_path / 'tb'}")
    folder = run_folder(tmp_path / "tb")
    assert_series(
        tensorboard_series(folder, "train_loss"), stored_curve(runner.store, result.run_id)
    )
    assert [step for step, _ in tensorboard_series(folder, "valid_ppl")] == [12, 24, 36]
    assert [step for step, _ in tensorboard_series(folder, "epoch_train_loss")] == [12, 24, 36]
    assert [step for step, _ in tensorboard_series(folder, "lr")] == [12, 24, 36]
    assert tensorboard_series(folder, "grad_norm_max")
    (final,) = tensorboard_series(folder, "final/test_ppl")
    assert final == (36, pytest.approx(result.evaluations["test"].ppl))
    (params,) = tensorboard_series(folder, "final/params")
    assert params[1] == result.summary["params"]
    assert tensorboard_series(folder, "final/train_tokens_per_second")

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder), size_guidance={"tensors": 0})
    events.Reload()
    (text,) = events.Tensors("config/text_summary")
    assert '"options.hidden_size": 8' in text.tensor_proto.string_val[0].decode()


def test_mlflow_sqlite_store_holds_params_curves_and_final_values(runner, tiny_corpus, tmp_path):
    needs("mlflow", "mlflow")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = train(runner, tiny_corpus, f"mlflow:{uri}")
    _, run = mlflow_run(uri)
    assert run.info.status == "FINISHED"
    assert run.data.params["options.hidden_size"] == "8"
    assert run.data.params["corpus"] == str(tiny_corpus)
    assert run.data.tags["bench.run_id"] == str(result.run_id)
    assert_series(mlflow_series(uri, "train_loss"), stored_curve(runner.store, result.run_id))
    assert run.data.metrics["final/test_ppl"] == pytest.approx(result.evaluations["test"].ppl)
    assert run.data.metrics["final/wall_seconds"] > 0


def test_wandb_offline_run_folder_holds_config_curves_and_summary(runner, tiny_corpus, tmp_path):
    needs("wandb", "wandb")
    result = train(runner, tiny_corpus, "wandb:bench-tests")
    (path,) = Path(tmp_path, "wandb").glob("offline-run-*/run-*.wandb")  # offline by default
    assert_series(wandb_series(tmp_path, "train_loss"), stored_curve(runner.store, result.run_id))
    summary, config = wandb_files.summary_and_config(path)
    assert summary["final/test_ppl"] == pytest.approx(result.evaluations["test"].ppl)
    assert summary["status"] == "finished"
    assert config["options.hidden_size"] == 8


def test_csv_files_hold_params_curves_and_summary(runner, tiny_corpus, tmp_path):
    result = train(runner, tiny_corpus, f"csv:{tmp_path / 'csv'}")
    folder = run_folder(tmp_path / "csv")
    assert_series(
        csv_series(tmp_path / "csv", "train_loss"), stored_curve(runner.store, result.run_id)
    )
    params = json.loads((folder / "params.json").read_text())
    assert params["options.hidden_size"] == 8 and params["run_id"] == result.run_id
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["status"] == "finished"
    assert summary["final/valid_ppl"] == pytest.approx(result.evaluations["valid"].ppl)


# -- a run killed with -9 and resumed: one series, no gap, no step twice ---------------------


def installed_destinations(tmp_path):
    destinations = [f"csv:{tmp_path / 'csv'}"]
    checks = {}
    for module, destination in (
        ("tensorboard", f"tensorboard:{tmp_path / 'tb'}"),
        ("mlflow", f"mlflow:sqlite:///{tmp_path / 'mlflow.db'}"),
        ("wandb", "wandb"),
    ):
        try:
            __import__(module)
        except ImportError:
            if module in required():
                needs(module, module)  # fails, naming the missing library
            continue
        destinations.append(destination)
        checks[module] = True
    return destinations, checks


def series_of(kind, tmp_path, name):
    if kind == "csv":
        return csv_series(tmp_path / "csv", name)
    if kind == "tensorboard":
        return tensorboard_series(run_folder(tmp_path / "tb"), name)
    if kind == "mlflow":
        return mlflow_series(f"sqlite:///{tmp_path / 'mlflow.db'}", name)
    return wandb_series(tmp_path, name)


def written_steps(kind, tmp_path, name):
    """The steps of ``name`` a tracker has written so far. MLflow's store is read with plain
    SQLite, read-only: opening it with MlflowClient would create and migrate its tables, and
    doing that while the writing process migrates the same file made that process's MLflow
    fail and switch off."""
    if kind != "mlflow":
        return [step for step, _ in series_of(kind, tmp_path, name)]
    uri = f"file:{tmp_path / 'mlflow.db'}?mode=ro"
    db = sqlite3.connect(uri, uri=True)
    try:
        return [row[0] for row in db.execute("SELECT step FROM metrics WHERE key = ?", (name,))]
    finally:
        db.close()


def wait_until_sent(destinations, tmp_path, step, timeout=120.0):
    """The killed process's trackers have written every step up to ``step`` (W&B writes a
    step's row once the next step begins: up to the one before)."""
    deadline = time.monotonic() + timeout
    kinds = [d.split(":")[0] for d in destinations]
    pending = set(kinds)
    while pending and time.monotonic() < deadline:
        for kind in list(pending):
            try:
                written = max(written_steps(kind, tmp_path, "train_loss"), default=0)
                if written >= step - (kind == "wandb"):
                    pending.discard(kind)
            except Exception:  # not written yet (no file, no run, no table)
                pass
        time.sleep(0.5)
    assert not pending, f"never received step {step}: {sorted(pending)}"


def process_table():
    """pid -> (name, parent pid) of every process now running (Linux's /proc)."""
    table = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # gone meanwhile
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        table[int(stat.parent.name)] = (name, int(text[text.rindex(")") + 2 :].split()[1]))
    return table


def descendants(pid):
    """The processes started by ``pid``, by those it started, and so on (Linux's /proc;
    elsewhere none are found)."""
    table, found = process_table(), []
    for child, (_, parent) in table.items():
        while parent not in (0, 1, pid) and parent in table:
            parent = table[parent][1]
        if parent == pid and child != pid:
            found.append(child)
    return found


def helper_processes(pid):
    """The processes a `bench run` (``pid``) started to log: the W&B tracker's process and
    the W&B helper (wandb-core) it started. A helper outlives its process killed with -9
    by a moment, in which it may still write that run's file."""
    return descendants(pid)


def running(pid):
    """Whether ``pid`` still runs (a zombie, ended but not yet reaped, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_until_gone(pids, timeout=60.0):
    deadline = time.monotonic() + timeout
    while any(running(pid) for pid in pids):
        assert time.monotonic() < deadline, f"W&B's helper still runs: {pids}"
        time.sleep(0.1)


def test_a_killed_and_resumed_run_continues_each_series_without_gap_or_repeat(
    runner, tiny_corpus, tmp_path
):
    destinations, _ = installed_destinations(tmp_path)
    flags = [f"--set={s}" for s in TRAINING] + [f"--log-to={d}" for d in destinations]
    # An earlier test's W&B run started this process's W&B helper and named it in
    # $WANDB_SERVICE: a child inheriting that would log through this process's helper,
    # which would still hold the killed run open when this process resumes it ("run ID
    # ... is in use"). A killed `bench run` has a helper of its own, as here.
    env = {key: value for key, value in os.environ.items() if key != "WANDB_SERVICE"}
    # killed before step 21 (in epoch 2): steps 1..20 sent, the checkpoint is step 12's
    process = subprocess.Popen(
        [sys.executable, str(PAUSE_AT_STEP), "21", "run", "--plugin", "lstm",
         "--corpus", str(tiny_corpus), *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )  # fmt: skip
    try:
        assert any(line.startswith("paused at step 21") for line in process.stdout)
        wait_until_sent(destinations, tmp_path, 20)
        helpers = helper_processes(process.pid)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        wait_until_gone(helpers)  # the killed run's file is final: nothing more comes
    finally:
        process.kill()
        process.stdout.close()
    (killed,) = [run["id"] for run in runner.store.list_runs()]
    runner.resume(killed)  # to the destinations the run recorded
    marks = [m["step"] for m in runner.store.get_run(killed)["metrics"] if m["name"] == "resumed"]
    assert marks == [STEPS_PER_EPOCH]  # steps 13..20 were trained and sent twice
    expected = stored_curve(runner.store, killed)
    assert sorted(expected) == ALL_STEPS
    for destination in destinations:
        kind = destination.split(":")[0]
        series = series_of(kind, tmp_path, "train_loss")
        assert [step for step, _ in series] == ALL_STEPS, kind
        assert [v for _, v in series] == pytest.approx([expected[s] for s in ALL_STEPS], rel=1e-5)
        valid = series_of(kind, tmp_path, "valid_ppl")
        assert [step for step, _ in valid] == [12, 24, 36], kind


# -- trackers that fail or hang never fail or slow the run -----------------------------------


def test_a_failing_tracker_is_reported_once_and_the_run_finishes(
    runner, tiny_corpus, tmp_path, capfd
):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the CSV folder should go")
    result = train(runner, tiny_corpus, f"csv:{blocker}", f"csv:{tmp_path / 'csv'}")
    record = runner.store.get_run(result.run_id)
    assert record["status"] == "finished"
    assert sorted(stored_curve(runner.store, result.run_id)) == ALL_STEPS  # bench's own record
    errors = [line for line in capfd.readouterr().err.splitlines() if "--log-to" in line]
    assert len(errors) == 1, errors
    assert f"--log-to csv:{blocker}:" in errors[0] and "not logging there any more" in errors[0]
    # the other destination of the same kind went on
    assert [s for s, _ in csv_series(tmp_path / "csv", "train_loss")] == ALL_STEPS


class Hanging(common.Tracker):
    def log(self, metrics, step, epoch):
        time.sleep(10)  # per step: 360 s for the run, if the run waited for it


def test_a_tracker_that_hangs_does_not_hold_the_run_up(runner, tiny_corpus, monkeypatch, capfd):
    monkeypatch.setenv("BENCH_LOG_FINISH_SECONDS", "0.5")
    monkeypatch.setattr(to_csv.plugin, "tracker", Hanging)
    started = time.monotonic()
    result = train(runner, tiny_corpus, "csv:anywhere")
    assert time.monotonic() - started < 120
    assert runner.store.get_run(result.run_id)["status"] == "finished"
    errors = [line for line in capfd.readouterr().err.splitlines() if "--log-to" in line]
    assert errors == [
        "bench: --log-to csv:anywhere: still sending after 0.5 s; not logging there any "
        "more (the run goes on, and bench's own record of it is complete)"
    ]


def test_a_tracker_that_falls_far_behind_is_switched_off(monkeypatch, capfd):
    monkeypatch.setattr(common, "MAX_PENDING", 3)
    destination = common.Destination(Hanging, None, log_destinations(["x"])[0])
    for step in range(10):
        destination.send("log", {"loss": 1.0}, step, None)
    assert not destination.on
    err = capfd.readouterr().err
    assert err.count("fell 3 events behind the run") == 1


def test_a_missing_library_is_one_line_naming_the_extra(runner, tiny_corpus, monkeypatch, capfd):
    monkeypatch.setattr(to_tensorboard.plugin, "library", "tensorboard_is_not_installed")
    result = train(runner, tiny_corpus, "tensorboard:tb")
    assert runner.store.get_run(result.run_id)["status"] == "finished"
    errors = [line for line in capfd.readouterr().err.splitlines() if "--log-to" in line]
    assert errors == [
        "bench: --log-to tensorboard:tb: the tensorboard_is_not_installed library is not "
        "installed: pip install 'bench-lm[tensorboard]' (not logging there)"
    ]


# -- where the destinations come from ------------------------------------------------------


def test_flags_then_the_config_file_then_the_environment(monkeypatch):
    monkeypatch.setenv("BENCH_LOG_TO", "csv:from-env, tensorboard")
    assert [str(d) for d in log_destinations(None)] == ["csv:from-env", "tensorboard"]
    assert [str(d) for d in log_destinations(None, ["mlflow:sqlite:///m.db"])] == [
        "mlflow:sqlite:///m.db"
    ]
    assert [str(d) for d in log_destinations(["wandb:p"], ["csv:x"])] == ["wandb:p"]
    (destination,) = log_destinations(["MLflow:http://host:5000"])
    assert (destination.kind, destination.target) == ("mlflow", "http://host:5000")
    with pytest.raises(BenchError, match="expected KIND"):
        log_destinations([":x"])


def test_the_config_file_key_and_the_environment_reach_the_run(tiny_corpus, tmp_path, monkeypatch):
    config = tmp_path / "run.toml"
    config.write_text(f'plugin = "unigram"\nlog_to = ["csv:{tmp_path / "from-file"}"]\n')
    monkeypatch.setenv("BENCH_LOG_TO", f"csv:{tmp_path / 'from-env'}")
    invoke = CliRunner().invoke
    outcome = invoke(cli, ["run", "--config", str(config), "--corpus", str(tiny_corpus)])
    assert outcome.exit_code == 0, outcome.output
    assert (run_folder(tmp_path / "from-file") / "summary.json").exists()
    assert not (tmp_path / "from-env").exists()
    outcome = invoke(cli, ["run", "--plugin", "unigram", "--corpus", str(tiny_corpus)])
    assert outcome.exit_code == 0, outcome.output
    assert (run_folder(tmp_path / "from-env") / "summary.json").exists()


def test_an_unknown_kind_is_refused_before_a_run_is_recorded(tiny_corpus):
    outcome = CliRunner().invoke(
        cli,
        ["run", "--plugin", "unigram", "--corpus", str(tiny_corpus), "--log-to", "tensorbord:x"],
    )
    assert outcome.exit_code == 1
    assert outcome.output.splitlines()[-1] == (
        "Error: unknown logger (--log-to KIND) 'tensorbord'. Did you mean: tensorboard? "
        "Known: csv, mlflow, tensorboard, wandb."
    )
    assert Store().list_runs() == []


# -- bench export --to: stored runs sent after the fact ---------------------------------------


def test_export_sends_stored_runs_and_sending_again_adds_nothing(runner, tiny_corpus, tmp_path):
    result = train(runner, tiny_corpus)
    target = f"csv:{tmp_path / 'exported'}"
    for _ in range(2):
        outcome = CliRunner().invoke(cli, ["export", str(result.run_id), "--to", target])
        assert outcome.exit_code == 0, outcome.output
        assert outcome.output == f"sent run {result.run_id} to {target}\n"
    expected = stored_curve(runner.store, result.run_id)
    assert_series(csv_series(tmp_path / "exported", "train_loss"), expected)
    summary = json.loads((run_folder(tmp_path / "exported") / "summary.json").read_text())
    assert summary["final/test_ppl"] == pytest.approx(result.evaluations["test"].ppl)
    assert summary["final/params"] == result.summary["params"]


def test_export_to_mlflow_fills_an_mlflow_store(runner, tiny_corpus, tmp_path):
    needs("mlflow", "mlflow")
    result = train(runner, tiny_corpus)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    for _ in range(2):
        outcome = CliRunner().invoke(cli, ["export", "--to", f"mlflow:{uri}"])
        assert outcome.exit_code == 0, outcome.output
    assert_series(mlflow_series(uri, "train_loss"), stored_curve(runner.store, result.run_id))
    _, run = mlflow_run(uri)
    assert run.data.metrics["final/test_ppl"] == pytest.approx(result.evaluations["test"].ppl)


# -- each tracker's resume, attempt by attempt (no training: quick to run for every kind) ---


@pytest.mark.parametrize("kind", ["csv", "tensorboard", "mlflow", "wandb"])
def test_a_second_attempt_from_a_checkpoint_continues_the_series(kind, tmp_path):
    """The first attempt sends steps 1..20 and dies; the second resumes from step 12's
    checkpoint and sends 13..36 again, with the same values: one value per step."""
    if kind != "csv":
        needs(kind, kind)
    from bench import RunInfo

    destination = {
        "csv": f"csv:{tmp_path / 'csv'}",
        "tensorboard": f"tensorboard:{tmp_path / 'tb'}",
        "mlflow": f"mlflow:sqlite:///{tmp_path / 'mlflow.db'}",
        "wandb": "wandb",
    }[kind]
    (parsed,) = log_destinations([destination])
    run = RunInfo(7, "lstm", "tiny", "char", "cpu", {"seed": 1}, (parsed,), "sqlite:///x.db")
    plugin = {"csv": to_csv, "tensorboard": to_tensorboard}.get(kind)
    plugin = (
        plugin.plugin
        if plugin
        else __import__(f"bench_plugins.loggers.to_{kind}", fromlist=["plugin"]).plugin
    )
    loss = {step: 1.0 / step for step in ALL_STEPS}
    first = plugin.tracker(run, parsed.target)
    first.start({"seed": 1})
    for step in range(1, 21):
        first.log({"train_loss": loss[step]}, step, 1)
    first.flush()
    if kind == "wandb":  # a killed process's file holds what it wrote; close this one alike
        first.finish("killed", {})
    second = plugin.tracker(run, parsed.target)
    second.start({"seed": 1})
    second.resumed(12)
    for step in range(13, 37):
        second.log({"train_loss": loss[step]}, step, 2)
    second.finish("finished", {"final/test_ppl": 3.0})
    assert_series(series_of(kind, tmp_path, "train_loss"), loss)
