"""Checkpoint files are data, never code, and a full disk or a damaged file is named as the
cause: `bench run --resume`, the best-on-valid file and `bench generate` refuse a file that
would run code when unpickled, say "no space left" on a full disk, and say how to recover."""

import errno
import os
import random
import subprocess
import sys

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from bench.api.plugin_host import get_host
from bench.cli import cli
from bench.configuration.run_config import build_config
from bench.run.runner import Runner
from bench.store import Store
from bench.training.checkpoint import (
    RESUME_FILE,
    CheckpointError,
    capture_rng,
    load_checkpoint,
    load_weights,
    restore_epoch_start,
    restore_rng,
    save_atomically,
)

SMALL = (
    "layers=1",
    "hidden_size=8",
    "embedding_size=8",
    "epochs=2",
    "batch_size=4",
    "bptt=8",
    "max_steps_per_epoch=10",
)


class RunsAProgram:
    """Unpickling this runs a shell command: what a replaced checkpoint file could hold."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def write_hostile_file(path, marker):
    torch.save({"model": {}, "loop": RunsAProgram(marker)}, path)


@pytest.fixture
def runner(tmp_path):
    return Runner(get_host(), Store(), tmp_path / "data", progress=False, echo=lambda m: None)


def config(corpus, *extra):
    return build_config({}, {"plugin": "lstm", "corpus": str(corpus)}, (*SMALL, *extra))


def interrupted_run(runner, corpus, monkeypatch):
    """A run stopped by Ctrl-C in its second epoch, with a resume.pt in its folder."""
    from bench_plugins.recurrent.network import RecurrentNetwork

    training_loss = RecurrentNetwork.training_loss
    calls = {"n": 0}

    def patched(self, inputs, targets, state):
        calls["n"] += 1
        if calls["n"] == 14:
            raise KeyboardInterrupt
        return training_loss(self, inputs, targets, state)

    monkeypatch.setattr(RecurrentNetwork, "training_loss", patched)
    with pytest.raises(KeyboardInterrupt):
        runner.run(config(corpus), "x")
    monkeypatch.setattr(RecurrentNetwork, "training_loss", training_loss)
    (run,) = runner.store.list_runs()
    assert (runner.run_dir(run["id"]) / RESUME_FILE).exists()
    return run["id"]


def bench(*args):
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=300,
    )


def test_a_resume_file_that_runs_code_is_refused_by_bench_run_resume(
    runner, tiny_corpus, monkeypatch, tmp_path
):
    run_id = interrupted_run(runner, tiny_corpus, monkeypatch)
    marker = tmp_path / "ran"
    write_hostile_file(runner.run_dir(run_id) / RESUME_FILE, marker)
    result = bench("run", "--resume", str(run_id))
    assert not marker.exists(), "loading the checkpoint ran its code"
    assert result.returncode == 1
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert line.startswith("Error: run ") and "resume.pt was not loaded" in line
    assert "model plugin" not in line and "Traceback" not in result.stderr


@pytest.mark.parametrize("loader", ["checkpoint", "epoch start", "weights"])
def test_every_checkpoint_reader_refuses_code(tmp_path, loader):
    marker, path = tmp_path / "ran", tmp_path / "file.pt"
    write_hostile_file(path, marker)
    module = torch.nn.Linear(2, 2)
    with pytest.raises(CheckpointError, match="was not loaded"):
        if loader == "checkpoint":
            load_checkpoint(path, "cpu")
        elif loader == "epoch start":
            optimizer = torch.optim.SGD(module.parameters(), lr=0.1)
            restore_epoch_start(path, module, optimizer, "cpu")
        else:
            load_weights(path, "cpu")
    assert not marker.exists()


def test_bench_generate_refuses_a_best_file_that_runs_code(runner, tiny_corpus, tmp_path):
    run_id = runner.run(config(tiny_corpus, "epochs=1"), "x").run_id
    marker = tmp_path / "ran"
    write_hostile_file(runner.run_dir(run_id) / "best.pt", marker)
    result = CliRunner().invoke(cli, ["generate", "--run", str(run_id), "--tokens", "3"])
    assert not marker.exists()
    assert result.exit_code == 1
    (line,) = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert "best.pt was not loaded" in line


def test_a_checkpoint_from_before_holds_numpy_state_and_still_loads(tmp_path):
    """Older checkpoints kept numpy's generator state as an ndarray (and Python's as a
    tuple): exactly those types load, and the generators come back."""
    random.seed(3)
    np.random.seed(4)
    torch.manual_seed(5)
    legacy = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "cuda": [],
    }
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    path = tmp_path / RESUME_FILE
    torch.save({"rng": legacy}, path)
    restore_rng(load_weights(path, "cpu")["rng"])
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


def test_generator_states_round_trip_as_tensors_and_lists(tmp_path):
    np.random.seed(1)
    random.seed(2)
    path = tmp_path / "rng.pt"
    save_atomically({"rng": capture_rng()}, path)
    expected = (random.random(), np.random.rand())
    restore_rng(torch.load(path, weights_only=True)["rng"])  # no numpy type inside
    assert (random.random(), np.random.rand()) == expected


def fill_the_disk_on(monkeypatch, when=lambda payload: True):
    """torch.save writes part of the file, then the disk is full (ENOSPC)."""
    import bench.training.checkpoint

    real_save = torch.save

    def full(payload, file, *args, **kwargs):
        if not when(payload):
            return real_save(payload, file, *args, **kwargs)
        file.write(b"half a checkpoint")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(bench.training.checkpoint.torch, "save", full)


def test_a_full_disk_says_so_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    fill_the_disk_on(monkeypatch)
    target = tmp_path / RESUME_FILE
    target.write_bytes(b"the previous checkpoint")
    with pytest.raises(CheckpointError, match="no space left on /"):
        save_atomically({"model": {}}, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == [RESUME_FILE]
    assert target.read_bytes() == b"the previous checkpoint"


def test_a_full_disk_while_writing_best_keeps_the_last_one_and_blames_no_plugin(
    runner, tiny_corpus, monkeypatch
):
    """best.pt is written like every checkpoint: epoch 2's write fails on a full disk,
    epoch 1's file is intact, and the run's error names the disk, not the model plugin."""
    writes = {"best": 0}

    def second_best(payload):
        if "epoch" not in payload:
            return False
        writes["best"] += 1
        return writes["best"] == 2

    fill_the_disk_on(monkeypatch, when=second_best)
    with pytest.raises(CheckpointError) as raised:
        runner.run(config(tiny_corpus, "epochs=3"), "x")
    message = str(raised.value)
    assert "no space left on" in message and "model plugin" not in message
    (run,) = runner.store.list_runs()
    folder = runner.run_dir(run["id"])
    assert not list(folder.glob("*.tmp"))
    assert load_weights(folder / "best.pt", "cpu")["epoch"] == 1
    assert runner.store.get_run(run["id"])["status"] == "failed"


def test_a_truncated_resume_file_says_how_to_recover(runner, tiny_corpus, monkeypatch):
    run_id = interrupted_run(runner, tiny_corpus, monkeypatch)
    path = runner.run_dir(run_id) / RESUME_FILE
    path.write_bytes(path.read_bytes()[:1000])
    result = CliRunner().invoke(cli, ["run", "--resume", str(run_id)])
    assert result.exit_code == 1
    (line,) = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert line.startswith(f"Error: run {run_id} recorded as failed: ")
    assert "resume.pt is damaged" in line and "delete it" in line
    assert "model plugin" not in line
    path.unlink()  # what the line advises: the run then trains from the start
    assert runner.resume(run_id).run_id == run_id
    assert runner.store.get_run(run_id)["status"] == "finished"
