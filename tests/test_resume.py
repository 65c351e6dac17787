"""`bench run --resume`: an interrupted or killed run continues to the uninterrupted numbers;
`bench delete` removes a run and its folder, never one that is running."""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from bench.api.plugin_host import get_host
from bench.cli import cli
from bench.configuration.run_config import build_config
from bench.errors import BenchError
from bench.run.folders import run_lock
from bench.run.runner import Runner
from bench.store import Store
from bench.training.checkpoint import EPOCH_START_FILE, RESUME_FILE

PAUSE_AT_STEP = Path(__file__).with_name("pause_at_step.py")

# dropout (random masks), Adam (optimiser state), a step schedule and several epochs: every
# piece of state a resume has to bring back is in play
RESUMABLE = (
    "layers=1",
    "hidden_size=16",
    "embedding_size=16",
    "epochs=3",
    "batch_size=4",
    "bptt=8",
    "max_steps_per_epoch=30",
    "lr=0.01",
    "dropout=0.3",
    "log_every=5",
    "lr_schedule=step",
    "decay_after=1",
)


@pytest.fixture
def runner(tmp_path):
    return Runner(get_host(), Store(), tmp_path / "data", progress=False, echo=lambda m: None)


def run_config(corpus, *extra):
    return build_config({}, {"plugin": "lstm", "corpus": str(corpus)}, (*RESUMABLE, *extra))


def training_curve(store, run_id):
    """Every metric the run logged, as (name, step, epoch, value), without the resume
    marker and the timings."""
    return sorted(
        (m["name"], m["step"], m["epoch"], m["value"])
        for m in store.get_run(run_id)["metrics"]
        if m["name"]
        not in (
            "resumed",
            "train_tokens_per_second",
            "epoch_seconds",
            "train_model_flops_per_second_per_device",
        )
    )


def interrupt_at_call(monkeypatch, call, how):
    """Ctrl-C at the given training step: raised before it starts, or a real SIGINT in it."""
    from bench_plugins.recurrent.network import RecurrentNetwork

    training_loss = RecurrentNetwork.training_loss
    calls = {"n": 0}

    def patched(self, inputs, targets, state):
        calls["n"] += 1
        if calls["n"] == call:
            if how == "before the step":
                raise KeyboardInterrupt
            os.kill(os.getpid(), signal.SIGINT)  # held back until the step has finished
        return training_loss(self, inputs, targets, state)

    monkeypatch.setattr(RecurrentNetwork, "training_loss", patched)
    return lambda: monkeypatch.setattr(RecurrentNetwork, "training_loss", training_loss)


def interrupted_run(runner, corpus, monkeypatch, call, how="before the step"):
    """Start a run and Ctrl-C it at training step ``call``; the training is left unpatched."""
    undo = interrupt_at_call(monkeypatch, call, how)
    with pytest.raises(KeyboardInterrupt):
        runner.run(run_config(corpus), "x")
    undo()


def ppl_of(store, run_id, split):
    (value,) = [e["ppl"] for e in store.get_run(run_id)["evaluations"] if e["split"] == split]
    return value


def assert_same_run(store, reference, resumed):
    ref, res = store.get_run(reference), store.get_run(resumed)
    for split in ("valid", "test"):
        expected = next(e["ppl"] for e in ref["evaluations"] if e["split"] == split)
        got = [e["ppl"] for e in res["evaluations"] if e["split"] == split]
        assert got == [pytest.approx(expected, rel=1e-6)]
    expected, got = training_curve(store, reference), training_curve(store, resumed)
    assert [row[:3] for row in got] == [row[:3] for row in expected]
    assert [row[3] for row in got] == pytest.approx([row[3] for row in expected], rel=1e-6)
    assert res["status"] == "finished" and res["error"] is None
    # the tokens trained before the stop count too, once (those after the last checkpoint
    # of a killed process are trained again, and counted again, only in the resumed one)
    assert res["train_tokens"] == ref["train_tokens"]


@pytest.mark.parametrize("how", ["before the step", "during the step"])
def test_ctrl_c_then_resume_matches_an_uninterrupted_run(runner, tiny_corpus, monkeypatch, how):
    reference = runner.run(run_config(tiny_corpus), "x").run_id
    interrupted_run(runner, tiny_corpus, monkeypatch, 45, how)  # mid-way through epoch 2
    (interrupted,) = [r["id"] for r in runner.store.list_runs() if r["id"] != reference]
    assert runner.store.get_run(interrupted)["status"] == "interrupted"
    result = runner.resume(interrupted)
    assert result.run_id == interrupted  # the same row, not a new one
    assert_same_run(runner.store, reference, interrupted)
    resumed_marks = [
        m for m in runner.store.get_run(interrupted)["metrics"] if m["name"] == "resumed"
    ]
    steps_done = 44 if how == "before the step" else 45
    assert [m["step"] for m in resumed_marks] == [steps_done]


def kill_9_when_paused(corpus, *pause):
    """`bench run` through pause_at_step.py with ``pause`` (its arguments before ARGS), and
    kill -9 once it says it paused."""
    settings = [f"--set={s}" for s in (*RESUMABLE, "checkpoint_minutes=0")]
    process = subprocess.Popen(
        [
            sys.executable,
            str(PAUSE_AT_STEP),
            *pause,
            "run",
            "--plugin",
            "lstm",
            "--corpus",
            str(corpus),
            *settings,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=os.environ.copy(),
    )
    try:
        paused = any(line.startswith("paused ") for line in process.stdout)
        assert paused, "the run ended before it could be killed"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        process.kill()
        process.stdout.close()


def test_kill_9_then_resume_matches_an_uninterrupted_run(runner, tiny_corpus, tmp_path):
    # kill it well into its second epoch (30 steps each): steps 1..45 done, 46 about to run
    kill_9_when_paused(tiny_corpus, "46")
    runs = runner.store.list_runs()
    killed = runs[0]["id"]
    assert runner.store.get_run(killed)["status"] == "running"  # nobody could record anything
    before = runner.store.get_run(killed)["wall_seconds"]  # as of its last logged metrics
    assert before is not None and before > 0
    runner.resume(killed)
    assert runner.store.get_run(killed)["wall_seconds"] > before  # the attempts add up
    reference = runner.run(run_config(tiny_corpus), "x").run_id
    assert_same_run(runner.store, reference, killed)
    assert (runner.run_dir(killed) / "best.pt").exists()
    assert not (runner.run_dir(killed) / "resume.pt").exists()  # a finished run needs none


@pytest.mark.parametrize(
    "writes, step",
    [
        (1, 46),  # the checkpoint after step 46 (checkpoint_minutes=0: one after every step)
        (1, 60),  # epoch 2's last step: the best model after validation
        (2, 60),  # then the checkpoint of epoch 2's end
    ],
    ids=["checkpoint", "best-model", "epoch-end-checkpoint"],
)
def test_kill_9_during_a_file_write_leaves_every_file_whole_and_the_run_resumable(
    runner, tiny_corpus, writes, step
):
    """Whatever the file and however it is written: the old file stays intact or the new
    one is complete, never a torn one under the file's name."""
    kill_9_when_paused(tiny_corpus, "--in-write", str(writes), str(step))
    (killed,) = [run["id"] for run in runner.store.list_runs()]
    folder = runner.run_dir(killed)
    for path in folder.glob("*.pt"):
        torch.load(path, weights_only=False)  # raises on a torn file
    runner.resume(killed)
    torch.load(folder / "best.pt", weights_only=False)
    reference = runner.run(run_config(tiny_corpus), "x").run_id
    for split in ("valid", "test"):
        assert ppl_of(runner.store, killed, split) == pytest.approx(
            ppl_of(runner.store, reference, split), rel=1e-6
        )
    # the epoch's end metrics (logged before the best model is written) once, not twice
    assert_same_run(runner.store, reference, killed)


def test_a_finished_run_cannot_be_resumed(runner, tiny_corpus):
    result = runner.run(run_config(tiny_corpus, "epochs=1"), "x")
    with pytest.raises(BenchError, match="has finished"):
        runner.resume(result.run_id)
    with pytest.raises(BenchError, match="no run with id 99"):
        runner.resume(99)


def test_a_run_still_running_elsewhere_is_not_resumed(runner, tiny_corpus, monkeypatch):
    interrupted_run(runner, tiny_corpus, monkeypatch, 3)
    with (
        run_lock(runner.run_dir(1), 1),  # as if another process held it
        pytest.raises(BenchError, match="still running in another process"),
    ):
        runner.resume(1)
    assert runner.store.get_run(1)["status"] == "interrupted"


def edit_stored_options(store, run_id, edit):
    """Change what the database says a run started with (as an older bench wrote it)."""
    from sqlalchemy import update

    from bench.store.schema import Run

    config = store.get_run(run_id)["config"]
    edit(config["options"])
    with store.writing() as session:
        session.execute(update(Run).where(Run.id == run_id).values(config=config))


def test_a_run_from_before_an_option_existed_resumes_with_its_default(
    tiny_corpus, monkeypatch, tmp_path
):
    """Options bench gained after a run started (here `variational` and `precision`) take
    their defaults, which keep the old behaviour; the run finishes as if never stopped."""
    messages = []
    runner = Runner(get_host(), Store(), tmp_path / "data", progress=False, echo=messages.append)
    reference = runner.run(run_config(tiny_corpus), "x").run_id
    interrupted_run(runner, tiny_corpus, monkeypatch, 45)
    edit_stored_options(
        runner.store, 2, lambda options: (options.pop("variational"), options.pop("precision"))
    )
    runner.resume(2)
    assert_same_run(runner.store, reference, 2)
    assert (
        "run 2 started before bench had options.precision, options.variational: resumed "
        "with their defaults" in messages
    )


def test_a_run_whose_settings_now_resolve_differently_is_not_resumed(
    runner, tiny_corpus, monkeypatch
):
    interrupted_run(runner, tiny_corpus, monkeypatch, 3)
    # as a bench whose validators differ would see it: the stored text is a number now
    edit_stored_options(runner.store, 1, lambda options: options.update(init_range="0.10"))
    with pytest.raises(
        BenchError,
        match=r"run 1 cannot be resumed exactly: its configuration "
        r"resolves differently now \(options\.init_range: '0\.10' -> 0\.1\)",
    ):
        runner.resume(1)
    edit_stored_options(runner.store, 1, lambda options: options.update(retired=1))
    with pytest.raises(
        BenchError,
        match=r"run 1 cannot be resumed: its stored configuration no "
        r"longer resolves \(unknown option for lstm 'retired'",
    ):
        runner.resume(1)
    assert runner.store.get_run(1)["status"] == "interrupted"


def test_delete_removes_a_run_and_its_folder_but_not_one_running_elsewhere(
    runner, tiny_corpus, monkeypatch
):
    interrupted_run(runner, tiny_corpus, monkeypatch, 3)
    folder = runner.run_dir(1)
    assert (folder / RESUME_FILE).exists()
    with (
        run_lock(folder, 1),  # as if another process held it
        pytest.raises(
            BenchError,
            match="still running in another process; stop it "
            r"first \(Ctrl-C\), then delete it",
        ),
    ):
        runner.delete(1)
    assert runner.store.get_run(1)["status"] == "interrupted" and folder.exists()

    assert runner.delete(1) == folder
    assert not folder.exists()
    with pytest.raises(BenchError, match="no run with id 1"):
        runner.store.get_run(1)


def test_delete_on_the_command_line_asks_first_and_names_unknown_runs(tiny_corpus):
    assert (
        CliRunner().invoke(cli, ["run", "--plugin", "unigram", "--corpus", tiny_corpus]).exit_code
        == 0
    )
    unknown = CliRunner().invoke(cli, ["delete", "1", "7", "--yes"])
    assert unknown.exit_code == 1 and "no run with id 7" in unknown.output
    declined = CliRunner().invoke(cli, ["delete", "1"], input="n\n")
    assert declined.exit_code == 1 and "run 1: finished, Unigram" in declined.output
    assert re.search(r"^\s+1\s+finished", CliRunner().invoke(cli, ["runs"]).output, re.M)
    deleted = CliRunner().invoke(cli, ["delete", "1"], input="y\n")
    assert deleted.exit_code == 0 and "deleted run 1" in deleted.output
    assert "no runs stored yet" in CliRunner().invoke(cli, ["runs"]).output


def test_resume_takes_no_other_configuration():
    result = CliRunner().invoke(
        cli, ["run", "--resume", "1", "--plugin", "lstm", "--set", "epochs=2"]
    )
    assert result.exit_code != 0
    assert "drop --plugin, --set" in result.output
    assert "Traceback" not in result.output


def test_two_databases_sharing_a_data_folder_keep_their_runs_apart(tmp_path):
    first = Runner(get_host(), Store(f"sqlite:///{tmp_path / 'a.db'}"), tmp_path / "data")
    second = Runner(get_host(), Store(f"sqlite:///{tmp_path / 'b.db'}"), tmp_path / "data")
    assert first.run_dir(1) != second.run_dir(1)
    assert first.run_dir(1).parent.parent == second.run_dir(1).parent.parent


def test_a_run_stopped_before_its_vocabulary_was_recorded_resumes(runner, tiny_corpus, monkeypatch):
    tokenize = Runner._tokenize

    def interrupted(self, *args):
        raise KeyboardInterrupt

    monkeypatch.setattr(Runner, "_tokenize", interrupted)
    with pytest.raises(KeyboardInterrupt):
        runner.run(run_config(tiny_corpus, "epochs=1"), "x")
    monkeypatch.setattr(Runner, "_tokenize", tokenize)
    assert runner.store.get_run(1)["vocab_sha256"] is None
    assert runner.resume(1).evaluations["test"].ppl > 0
    assert runner.store.get_run(1)["status"] == "finished"


def test_a_registered_sharded_corpus_is_resumed_by_name(runner, monkeypatch):
    """One Billion Word's recorded source is its cache folder of shard files, which is not
    a corpus folder: resume must look the corpus up by name again."""
    from bench.corpora import cached_path
    from bench_plugins.standard_corpora import ONE_BILLION_WORD

    for index, split_file in enumerate(ONE_BILLION_WORD.files):
        path = cached_path(ONE_BILLION_WORD, split_file, runner.data_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        words = [f"w{(index + i) % 9}" for i in range(40)]
        path.write_text("\n".join(" ".join(words[i : i + 8]) for i in range(0, 40, 8)) + "\n")
    interrupted_run(runner, "one-billion-word", monkeypatch, 3)
    assert runner.store.get_run(1)["status"] == "interrupted"
    runner.resume(1)
    assert runner.store.get_run(1)["status"] == "finished"


def nan_loss_at_call(monkeypatch, call):
    """The loss of training step ``call`` (counted from this patch on) is NaN."""
    from bench_plugins.recurrent.network import RecurrentNetwork

    training_loss = RecurrentNetwork.training_loss
    calls = {"n": 0}

    def patched(self, inputs, targets, state):
        calls["n"] += 1
        loss, state = training_loss(self, inputs, targets, state)
        return (loss * float("nan") if calls["n"] == call else loss), state

    monkeypatch.setattr(RecurrentNetwork, "training_loss", patched)


def test_nan_after_a_resume_goes_back_to_the_epoch_start_as_it_would_have(
    runner, tiny_corpus, monkeypatch
):
    """NaN recovery returns to the epoch's first step. The weights of that moment are a file
    beside the checkpoint, not a second copy inside it: resumed mid-epoch, a run that then
    meets a NaN goes back to that file and ends with the numbers of a run never stopped."""
    nan_loss_at_call(monkeypatch, 50)  # epoch 2 (30 steps each), step 50
    reference = runner.run(run_config(tiny_corpus), "x").run_id
    assert any(m["name"] == "nan_recovery" for m in runner.store.get_run(reference)["metrics"])

    interrupted_run(runner, tiny_corpus, monkeypatch, 45)  # steps 1..44 done
    (stopped,) = [r["id"] for r in runner.store.list_runs() if r["id"] != reference]
    import torch

    checkpoint = torch.load(runner.run_dir(stopped) / RESUME_FILE, weights_only=True)
    assert "epoch_start" not in checkpoint
    assert (runner.run_dir(stopped) / EPOCH_START_FILE).exists()
    nan_loss_at_call(monkeypatch, 50 - 44)  # the same step 50
    runner.resume(stopped)
    assert_same_run(runner.store, reference, stopped)
    assert not (runner.run_dir(stopped) / EPOCH_START_FILE).exists()  # a finished run needs none
