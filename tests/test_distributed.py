"""Training on several ranks (torch.distributed, gloo on CPU, 2 ranks): the same numbers as
one process, one row per run, Ctrl-C and a failing rank recorded, resumable.

The 2-rank runs go through the real elastic agent (`bench run --nproc-per-node 2`, or
torch.distributed.run with tests/distributed_worker.py), one torch thread per rank.
"""

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import write_tiny_corpus

from bench.api.plugin_host import get_host
from bench.cli import cli
from bench.configuration.run_config import build_config
from bench.errors import BenchError
from bench.machine import distributed
from bench.machine.launch import Launch
from bench.machine.sharding import column_share, take_columns
from bench.run.runner import Runner
from bench.store import Store
from bench.tokenization.batching import TrainWindows

# dropout 0: one process and two ranks then make the same updates; 2 epochs of 15 steps
SMALL = (
    "layers=1",
    "hidden_size=16",
    "embedding_size=16",
    "epochs=2",
    "batch_size=4",
    "bptt=8",
    "max_steps_per_epoch=15",
    "lr=0.01",
    "dropout=0",
    "log_every=5",
)
SAMPLED_SPARSE = (
    "output=sampled",
    "output.samples=5",
    "sparse_grad=true",
    "optimizer=adagrad",
    "lr=0.1",
)
WORKER = Path(__file__).with_name("distributed_worker.py")
TIMEOUT_S = 240  # generous: a loaded CI machine; a run takes a few seconds on a quiet one


def settings(extra=()):
    return [arg for setting in (*SMALL, *extra) for arg in ("--set", setting)]


def launch(args, env, **kwargs):
    """A command in its own process group (so a Ctrl-C sent to the group reaches only it)."""
    return subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**env, "OMP_NUM_THREADS": "1"},
        start_new_session=True,
        **kwargs,
    )


def finish(process):
    try:
        out, err = process.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        raise
    return process.returncode, out, err


def bench_run(env, *args):
    return finish(launch([sys.executable, "-m", "bench", "run", *args], env))


def ppl(record, split):
    (value,) = [e["ppl"] for e in record["evaluations"] if e["split"] == split]
    return value


def curve(record):
    """Every metric as (name, step, epoch, value), leaving out timings and markers."""
    return sorted(
        (m["name"], m["step"], m["epoch"], m["value"])
        for m in record["metrics"]
        if m["name"]
        not in (
            "resumed",
            "train_tokens_per_second",
            "epoch_seconds",
            "train_tokens_per_second_per_device",
            "train_model_flops_per_second_per_device",
        )
    )


def assert_same_curve(got, expected, rel):
    assert [row[:3] for row in got] == [row[:3] for row in expected]
    assert [row[3] for row in got] == pytest.approx([row[3] for row in expected], rel=rel)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A database, a data folder and the tiny corpus shared by this module's runs."""
    folder = tmp_path_factory.mktemp("distributed")
    corpus = write_tiny_corpus(folder)
    env = {
        **os.environ,
        "BENCH_DB": f"sqlite:///{folder / 'bench.db'}",
        "BENCH_DATA_DIR": str(folder / "data"),
    }
    env.pop("BENCH_PLUGINS", None)
    return env, corpus


def one_process(env, corpus, extra=()):
    """The same configuration in this process (a single rank)."""
    store = Store(env["BENCH_DB"])
    runner = Runner(
        get_host(), store, Path(env["BENCH_DATA_DIR"]), progress=False, echo=lambda message: None
    )
    config = build_config({}, {"plugin": "lstm", "corpus": str(corpus)}, (*SMALL, *extra))
    return store.get_run(runner.run(config, "x").run_id)


@pytest.fixture(scope="module")
def two_ranks(world):
    """`bench run --nproc-per-node 2`, end to end: its output and stored row."""
    env, corpus = world
    code, out, err = bench_run(
        env, "--plugin", "lstm", "--corpus", str(corpus), *settings(), "--nproc-per-node", "2"
    )
    assert code == 0, err
    store = Store(env["BENCH_DB"])
    (run,) = store.list_runs()
    return store.get_run(run["id"]), out, err


@pytest.fixture(scope="module")
def reference(world):
    """The same run in one process, the numbers two ranks must give."""
    env, corpus = world
    return one_process(env, corpus)


def test_two_ranks_equal_one_process_at_the_same_global_batch(two_ranks, reference):
    record, _, _ = two_ranks
    for split in ("valid", "test"):
        assert ppl(record, split) == pytest.approx(ppl(reference, split), rel=1e-5)
    # the same updates step by step: the logged losses, gradient norms and valid ppl agree
    assert_same_curve(curve(record), curve(reference), rel=1e-5)


def test_a_two_rank_run_is_one_row_with_its_metrics_once_and_a_leaderboard_row(
    world, two_ranks, reference
):
    env, _ = world
    record, out, err = two_ranks
    assert record["status"] == "finished" and record["error"] is None
    assert out.count("finished:") == 1 and err.count("run 1:") == 1  # rank 0 alone speaks
    assert "Traceback" not in err

    # metrics come from rank 0 only: each (name, step, epoch) as often as in one process (a
    # rank 1 that logged too would double every train_loss); the per-device throughput,
    # checked below, is the one metric only several ranks log
    def keys(run):
        return Counter(
            (m["name"], m["step"], m["epoch"])
            for m in run["metrics"]
            if m["name"] != "train_tokens_per_second_per_device"
        )

    assert keys(record) == keys(reference)
    assert len([m for m in record["metrics"] if m["name"] == "valid_ppl"]) == 2
    assert len(record["evaluations"]) == 2
    shared = record["environment"]["distributed"]
    assert shared["world_size"] == 2 and shared["backend"] == "gloo" and shared["nodes"] == 1
    assert len(shared["devices"]) == 2
    assert record["device_name"].startswith("2 processes on ")
    per_device = [
        m["value"] for m in record["metrics"] if m["name"] == "train_tokens_per_second_per_device"
    ]
    total = [m["value"] for m in record["metrics"] if m["name"] == "train_tokens_per_second"]
    assert per_device == pytest.approx([value / 2 for value in total])
    assert "--nproc-per-node 2" in record["command"]
    board = CliRunner().invoke(cli, ["leaderboard", "--format", "csv", "--db", env["BENCH_DB"]])
    assert board.exit_code == 0, board.output
    assert "2 processes on" in board.output


def test_an_approximate_output_layer_with_sparse_gradients_trains_the_same(world):
    env, corpus = world
    code, _, err = bench_run(
        env,
        "--plugin",
        "lstm",
        "--corpus",
        str(corpus),
        *settings(SAMPLED_SPARSE),
        "--nproc-per-node",
        "2",
    )
    assert code == 0, err
    store = Store(env["BENCH_DB"])
    record = store.get_run(store.list_runs()[0]["id"])
    reference = one_process(env, corpus, SAMPLED_SPARSE)
    for split in ("valid", "test"):
        assert ppl(record, split) == pytest.approx(ppl(reference, split), rel=1e-5)
    assert_same_curve(curve(record), curve(reference), rel=1e-5)


def torchrun_worker(env, how, rank, call, *args):
    """`torchrun tests/distributed_worker.py ...`: bench under the agent, misbehaving."""
    return launch(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node",
            "2",
            str(WORKER),
            how,
            str(rank),
            str(call),
            "run",
            *args,
        ],
        env,
        cwd=Path(__file__).parent.parent,
    )


def test_ctrl_c_of_two_ranks_is_one_interrupted_row_and_resumes_to_the_same_numbers(
    world, two_ranks
):
    env, corpus = world
    reference, _, _ = two_ranks
    store = Store(env["BENCH_DB"])
    before = {run["id"] for run in store.list_runs()}
    # rank 0 sends SIGINT to the whole process group at its 20th step (epoch 2)
    code, _, err = finish(
        torchrun_worker(
            env, "ctrl-c", 0, 20, "--plugin", "lstm", "--corpus", str(corpus), *settings()
        )
    )
    (run_id,) = {run["id"] for run in store.list_runs()} - before
    record = store.get_run(run_id)
    assert record["status"] == "interrupted", (code, err)
    assert err.count("recorded as 'interrupted'") == 1
    code, _, err = bench_run(env, "--resume", str(run_id), "--nproc-per-node", "2")
    assert code == 0, err
    resumed = store.get_run(run_id)
    assert resumed["status"] == "finished" and len(store.list_runs()) == len(before) + 1
    for split in ("valid", "test"):
        assert ppl(resumed, split) == pytest.approx(ppl(reference, split), rel=1e-6)
    assert_same_curve(curve(resumed), curve(reference), rel=1e-6)
    marks = [m["step"] for m in resumed["metrics"] if m["name"] == "resumed"]
    assert len(marks) == 1 and 15 < marks[0] < 30  # it went on from mid-epoch 2


def test_a_rank_that_raises_fails_the_run_with_its_error_in_bounded_time(world):
    env, corpus = world
    store = Store(env["BENCH_DB"])
    before = {run["id"] for run in store.list_runs()}
    started = time.monotonic()
    code, _, err = finish(
        torchrun_worker(
            env, "raise", 1, 7, "--plugin", "lstm", "--corpus", str(corpus), *settings()
        )
    )
    assert time.monotonic() - started < TIMEOUT_S
    assert code != 0
    (run_id,) = {run["id"] for run in store.list_runs()} - before
    record = store.get_run(run_id)
    assert record["status"] == "failed"
    assert record["error"].startswith("rank 1 failed: ValueError: rank 1 broke at step 7")
    assert "Error: rank 1 failed: ValueError: rank 1 broke at step 7" in err


def test_a_two_rank_run_resumes_in_one_process_to_the_same_numbers(world, reference):
    """The docs allow another number of ranks on --resume: the checkpoint holds every
    column's state; with dropout off the numbers are those of an uninterrupted run."""
    env, corpus = world
    store = Store(env["BENCH_DB"])
    before = {run["id"] for run in store.list_runs()}
    finish(
        torchrun_worker(
            env, "ctrl-c", 0, 20, "--plugin", "lstm", "--corpus", str(corpus), *settings()
        )
    )
    (run_id,) = {run["id"] for run in store.list_runs()} - before
    assert store.get_run(run_id)["status"] == "interrupted"
    code, _, err = bench_run(env, "--resume", str(run_id))  # one process
    assert code == 0, err
    assert f"run {run_id} trained on 2 rank(s) so far; it continues on 1" in err
    resumed = store.get_run(run_id)
    assert resumed["status"] == "finished"
    assert "distributed" not in resumed["environment"]  # the ranks it finished on: one
    for split in ("valid", "test"):
        assert ppl(resumed, split) == pytest.approx(ppl(reference, split), rel=1e-5)
    assert_same_curve(curve(resumed), curve(reference), rel=1e-5)


def started_launcher(env, corpus):
    """`bench run --nproc-per-node 2` that would train for ever, once rank 0 has said
    "run N:" (its row exists): the process and N."""
    process = launch(
        [
            sys.executable,
            "-m",
            "bench",
            "run",
            "--plugin",
            "lstm",
            "--corpus",
            str(corpus),
            *settings(("epochs=1000", "max_steps_per_epoch=1000")),
            "--nproc-per-node",
            "2",
        ],
        env,
    )
    first = process.stderr.readline()
    if not first.startswith("run "):
        os.killpg(process.pid, signal.SIGKILL)
        pytest.fail(f"the launch did not start a run: {first}{process.stderr.read()}")
    return process, int(first.split()[1].rstrip(":"))


def rank_pid(launcher, rank):
    """The process the elastic agent started as ``rank`` (found by its RANK variable)."""
    pending = [launcher.pid]
    while pending:
        pid = pending.pop()
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in map(int, (task / "children").read_text().split()):
                if f"RANK={rank}".encode() in Path(f"/proc/{child}/environ").read_bytes().split(
                    b"\0"
                ):
                    return child
                pending.append(child)
    raise AssertionError(f"no rank {rank} under process {launcher.pid}")


@pytest.mark.parametrize(
    "signum, to_group",
    [(signal.SIGINT, True), (signal.SIGTERM, False)],
    ids=["ctrl-c", "kill"],
)
def test_bench_launcher_exits_130_after_ctrl_c_and_143_after_sigterm(world, signum, to_group):
    """Ctrl-C in a terminal reaches the whole process group; `kill` only the launcher, which
    passes it on to the ranks."""
    env, corpus = world
    process, run_id = started_launcher(env, corpus)
    if to_group:
        os.killpg(process.pid, signum)
    else:
        process.send_signal(signum)
    code, _, err = finish(process)
    assert code == 128 + signum, err
    assert err.count("recorded as 'interrupted'") == 1 and "Traceback" not in err
    assert Store(env["BENCH_DB"]).get_run(run_id)["status"] == "interrupted"


def test_bench_launcher_exits_1_with_one_error_line_when_rank_0_is_killed(world):
    env, corpus = world
    process, run_id = started_launcher(env, corpus)
    os.kill(rank_pid(process, 0), signal.SIGKILL)
    code, _, err = finish(process)
    assert code == 1, err
    (line,) = [line for line in err.splitlines() if line.startswith("Error:")]
    assert line.startswith("Error: rank 0 ended with exit code -9 before it could record the run")
    assert "Traceback" not in err
    assert Store(env["BENCH_DB"]).get_run(run_id)["status"] == "running"  # as the line says


def test_bench_launcher_fails_when_rank_1_is_killed(world):
    env, corpus = world
    process, run_id = started_launcher(env, corpus)
    os.kill(rank_pid(process, 1), signal.SIGKILL)
    code, _, err = finish(process)
    assert code != 0 and "Traceback" not in err
    assert "exitcode: -9) local_rank: 1" in err  # the agent names the rank that was killed
    assert Store(env["BENCH_DB"]).get_run(run_id)["status"] != "finished"


# ------------------------------------------------------------- without launching ranks
def test_each_rank_trains_a_contiguous_share_of_the_columns(tmp_path):
    ids = np.arange(403, dtype=np.int64)
    mapped = np.memmap(tmp_path / "ids", dtype=np.int64, mode="w+", shape=ids.shape)
    mapped[:] = ids
    whole = list(TrainWindows(ids, 4, 8, "cpu").from_window())
    for source in (ids, mapped):
        shares = [
            list(TrainWindows(source, 4, 8, "cpu", columns=column_share(4, rank, 2)).from_window())
            for rank in range(2)
        ]
        for (inputs, targets), *parts in zip(whole, *shares, strict=True):
            assert torch.equal(torch.cat([p[0] for p in parts], 1), inputs)
            assert torch.equal(torch.cat([p[1] for p in parts], 1), targets)
    with pytest.raises(BenchError, match="does not split evenly over 3 ranks"):
        column_share(4, 0, 3)


def test_a_carried_state_keeps_whole_batch_checkpoints(monkeypatch):
    state = (torch.arange(24.0).view(1, 4, 6), torch.zeros(1, 4, 6))
    mine = take_columns(state, column_share(4, 1, 2))
    assert torch.equal(mine[0], state[0][:, 2:4])


@pytest.fixture
def two_gpu_ranks(monkeypatch):
    monkeypatch.setattr(
        distributed, "_world", distributed.World(0, 0, 2, 2, 1, "cpu:gloo,cuda:nccl")
    )
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


def test_sparse_gradients_are_refused_with_nccl_before_any_row(two_gpu_ranks):
    options = get_host().model_options("lstm", {"sparse_grad": True, "optimizer": "adagrad"})
    with pytest.raises(BenchError, match="NCCL all-reduces only dense tensors"):
        distributed.check_plan(options, "cuda:0", "lstm")
    distributed.check_plan(options, "cpu", "lstm")  # gloo all-reduces sparse tensors
    with pytest.raises(BenchError, match="does not split evenly"):
        distributed.check_plan(get_host().model_options("lstm", {"batch_size": 5}), "cpu", "lstm")
    with pytest.raises(BenchError, match="does not train by gradient descent"):
        distributed.check_plan(get_host().model_options("kn", {}), "cpu", "kn")


def test_more_ranks_than_gpus_is_refused_but_cpu_ranks_are_not(two_gpu_ranks, monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    options = get_host().model_options("lstm", {})
    with pytest.raises(BenchError, match="2 ranks on this machine, but it has 1 GPU"):
        distributed.check_plan(options, "cuda:0", "lstm")
    distributed.check_plan(options, "cpu", "lstm")


def test_launch_flags_are_named_and_checked_as_torchrun_does():
    assert Launch(2).torchrun_args() == ["--nproc-per-node", "2", "--nnodes", "1", "--standalone"]
    assert Launch(8, 2, 1, "node0:29500").torchrun_args() == [
        "--nproc-per-node",
        "8",
        "--nnodes",
        "2",
        "--node-rank",
        "1",
        "--rdzv-endpoint",
        "node0:29500",
    ]
    with pytest.raises(BenchError, match="needs --rdzv-endpoint"):
        Launch(8, 2, 1).check()
    with pytest.raises(BenchError, match="needs --node-rank"):
        Launch(8, 2, None, "node0:29500").check()
    result = CliRunner().invoke(cli, ["run", "--plugin", "lstm", "--nproc-per-node", "2"])
    assert result.exit_code == 1 and "Error: --nproc-per-node" in result.output
