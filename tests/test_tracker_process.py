"""A logger made with ``process=True`` (bench's W&B logger) runs each destination's tracker
in a child process: the tracker runs in another pid and gets every event; a child that is
killed, hangs or is interrupted with its run never fails or holds up the run, is reported
once, and is never left behind (Linux: processes are read from /proc)."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sample_trackers
from test_loggers import ALL_STEPS, descendants, running, stored_curve, train

from bench import RunInfo
from bench.api.plugin_host import get_host
from bench.configuration.run_config import log_destinations
from bench.run.runner import Runner
from bench.store import Store
from bench_plugins.loggers import common, to_csv

RUN_WITH_TRACKER = Path(__file__).with_name("run_with_tracker.py")
pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")


@pytest.fixture
def runner(tmp_path):
    return Runner(get_host(), Store(), tmp_path / "data", progress=False, echo=lambda m: None)


@pytest.fixture
def in_a_process(monkeypatch):
    """bench's CSV logger, with a test tracker run in a process of its own."""
    monkeypatch.delenv("BENCH_LOG_TO", raising=False)
    monkeypatch.setattr(to_csv.plugin, "process", True)

    def use(tracker):
        monkeypatch.setattr(to_csv.plugin, "tracker", tracker)

    return use


@pytest.fixture
def tracker_processes(monkeypatch):
    """Every tracker process the destinations start, as they start it."""
    processes = []

    class Recorded(common.TrackerProcess):
        def __init__(self, *args):
            super().__init__(*args)
            processes.append(self)

    monkeypatch.setattr(common, "TrackerProcess", Recorded)
    return processes


def log_lines(capfd):
    return [line for line in capfd.readouterr().err.splitlines() if "--log-to" in line]


def test_the_tracker_runs_in_another_process_and_gets_every_event(
    runner, tiny_corpus, tmp_path, in_a_process, capfd
):
    in_a_process(sample_trackers.Recording)
    result = train(runner, tiny_corpus, f"csv:{tmp_path / 'out'}")
    calls = sample_trackers.calls(tmp_path / "out")
    assert calls[0]["call"] == "start"
    assert calls[0]["pid"] != os.getpid() and calls[0]["parent"] == os.getpid()
    logged = [c["step"] for c in calls if c["call"] == "log" and "train_loss" in c]
    assert logged == ALL_STEPS
    assert calls[-1] == {"call": "finish", "status": "finished"}
    assert runner.store.get_run(result.run_id)["status"] == "finished"
    assert not running(calls[0]["pid"])  # ended with the run, not left behind
    assert log_lines(capfd) == []


def test_a_tracker_process_killed_mid_run_is_one_line_and_the_run_finishes(
    runner, tiny_corpus, tmp_path, in_a_process, capfd
):
    in_a_process(sample_trackers.KilledAtStep5)
    result = train(runner, tiny_corpus, f"csv:{tmp_path / 'out'}")
    record = runner.store.get_run(result.run_id)
    assert record["status"] == "finished"
    assert sorted(stored_curve(runner.store, result.run_id)) == ALL_STEPS  # bench's own record
    assert {e["split"] for e in record["evaluations"]} >= {"valid", "test"}
    assert record["train_tokens_per_second"] > 0 and record["wall_seconds"] > 0
    pid = sample_trackers.calls(tmp_path / "out")[0]["pid"]
    assert log_lines(capfd) == [
        f"bench: --log-to csv:{tmp_path / 'out'}: the tracker's process (pid {pid}) ended "
        "(killed by SIGKILL); not logging there any more (the run goes on, and bench's own "
        "record of it is complete)"
    ]


def test_a_tracker_process_that_hangs_is_ended_with_the_run(
    runner, tiny_corpus, tmp_path, in_a_process, tracker_processes, monkeypatch, capfd
):
    monkeypatch.setenv("BENCH_LOG_FINISH_SECONDS", "3")
    in_a_process(sample_trackers.Hanging)
    started = time.monotonic()
    result = train(runner, tiny_corpus, f"csv:{tmp_path / 'out'}")
    assert time.monotonic() - started < 120
    assert runner.store.get_run(result.run_id)["status"] == "finished"
    (process,) = tracker_processes
    assert not running(process.pid)
    assert log_lines(capfd) == [
        f"bench: --log-to csv:{tmp_path / 'out'}: still sending after 3 s; not logging "
        "there any more (the run goes on, and bench's own record of it is complete)"
    ]


def test_a_tracker_process_that_cannot_start_is_one_line(
    runner, tiny_corpus, tmp_path, in_a_process, monkeypatch, capfd
):
    def refused(*args):
        raise OSError(12, "Cannot allocate memory")

    monkeypatch.setattr(common, "TrackerProcess", refused)
    in_a_process(sample_trackers.Recording)
    result = train(runner, tiny_corpus, f"csv:{tmp_path / 'out'}")
    assert runner.store.get_run(result.run_id)["status"] == "finished"
    assert log_lines(capfd) == [
        f"bench: --log-to csv:{tmp_path / 'out'}: OSError: [Errno 12] Cannot allocate memory; "
        "not logging there any more (the run goes on, and bench's own record of it is "
        "complete)"
    ]


def test_a_tracker_process_that_hangs_and_falls_behind_is_ended_in_time(
    tmp_path, monkeypatch, capfd
):
    """The destination's queue is full when the run ends: the end must not wait for room."""
    monkeypatch.setattr(common, "MAX_PENDING", 3)
    monkeypatch.setenv("BENCH_LOG_FINISH_SECONDS", "1")
    (destination,) = log_destinations([f"csv:{tmp_path}"])
    run = RunInfo(1, "lstm", "tiny", "char", "cpu", {}, (destination,))
    sender = common.Destination(sample_trackers.Hanging, run, destination, process=True)
    sender.send("start", {})
    sender.send("log", {"train_loss": 1.0}, 1, 1)
    deadline = time.monotonic() + 60
    while not any(c["call"] == "hanging" for c in sample_trackers.calls(tmp_path)):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    for step in range(2, 10):
        sender.send("log", {"train_loss": 1.0}, step, 1)
    closing = threading.Thread(target=sender.close, daemon=True)
    started = time.monotonic()
    closing.start()
    closing.join(30)
    assert not closing.is_alive() and time.monotonic() - started < 10
    assert not running(sample_trackers.calls(tmp_path)[0]["pid"])
    assert [line.split(": ", 2)[2] for line in log_lines(capfd)] == [
        "fell 3 events behind the run; not logging there any more (the run goes on, and "
        "bench's own record of it is complete)"
    ]


def test_ctrl_c_leaves_no_tracker_process_behind(tiny_corpus, tmp_path):
    """Ctrl-C reaches the run's whole process group, the tracker's process too; the run
    ends as interrupted after at most $BENCH_LOG_FINISH_SECONDS, its tracker with it."""
    out = tmp_path / "out"
    env = dict(os.environ, BENCH_LOG_FINISH_SECONDS="1", BENCH_DB=f"sqlite:///{tmp_path}/r.db")
    process = subprocess.Popen(
        [sys.executable, str(RUN_WITH_TRACKER), "Hanging", "run", "--plugin", "lstm",
         "--corpus", str(tiny_corpus), "--set", "epochs=1000", "--set", "log_every=1",
         "--set", "hidden_size=8", "--set", "embedding_size=8", "--log-to", f"csv:{out}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,  # its own process group, as a terminal's job has
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not any(c["call"] == "hanging" for c in sample_trackers.calls(out)):
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        children = descendants(process.pid)  # the tracker's process
        assert sample_trackers.calls(out)[0]["pid"] in children
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130
    assert "Traceback" not in err, err
    assert [line for line in err.splitlines() if "--log-to" in line] == [
        f"bench: --log-to csv:{out}: still sending after 1 s; not logging there any more "
        "(the run goes on, and bench's own record of it is complete)"
    ]
    # the tracker's process ends a moment after the run's, once it finds its socket closed
    deadline = time.monotonic() + 10
    while any(running(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in children if running(pid)]
    assert Store(env["BENCH_DB"]).list_runs()[0]["status"] == "interrupted"


UNGUARDED_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
import sample_trackers
from bench.cli import main
from bench_plugins.loggers import to_csv

to_csv.plugin.tracker = sample_trackers.Recording
to_csv.plugin.process = True
sys.argv = ["bench", *{args!r}]
main()  # at the top level, with no `if __name__ == "__main__":` around it
"""


def run_script(template, name, tiny_corpus, tmp_path):
    """Write ``template`` as the script ``name`` (a small `bench run` logging to a
    process tracker, csv:OUT) and run it; its result, OUT and the run's database."""
    out, db = tmp_path / "out", tmp_path / "script.db"
    args = ["run", "--plugin", "lstm", "--corpus", str(tiny_corpus), "--db", f"sqlite:///{db}"]
    args += ["--set", "epochs=1", "--set", "hidden_size=8", "--set", "embedding_size=8"]
    args += ["--log-to", f"csv:{out}", "--no-progress"]
    script = tmp_path / name
    script.write_text(template.format(tests=str(Path(__file__).parent), args=args))
    env = {**os.environ, "BENCH_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300
    )
    return done, out, Store(f"sqlite:///{db}")


def test_a_script_without_a_main_guard_runs_once_with_a_tracker_process(tiny_corpus, tmp_path):
    # the tracker's process must not import the script again (multiprocessing's spawn
    # would, and run the script's whole work a second time there)
    done, out, store = run_script(UNGUARDED_SCRIPT, "my_experiment.py", tiny_corpus, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "--log-to" not in done.stderr  # no report: the tracker got everything
    assert len(store.list_runs()) == 1
    calls = sample_trackers.calls(out)
    assert [c["call"] for c in calls][:1] == ["start"] and calls[-1]["call"] == "finish"


GUARDED_SCRIPT_WITH_ITS_OWN_TRACKER = """
import sys
sys.path.insert(0, {tests!r})
import sample_trackers
from bench.cli import main
from bench_plugins.loggers import to_csv


class MyTracker(sample_trackers.Recording):  # defined in the script itself
    pass


if __name__ == "__main__":
    to_csv.plugin.tracker = MyTracker
    to_csv.plugin.process = True
    sys.argv = ["bench", *{args!r}]
    main()
"""


def test_a_tracker_class_defined_in_the_script_itself_runs_in_its_process(tiny_corpus, tmp_path):
    done, out, store = run_script(
        GUARDED_SCRIPT_WITH_ITS_OWN_TRACKER, "my_logger_script.py", tiny_corpus, tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "--log-to" not in done.stderr, done.stderr  # the child found MyTracker
    assert len(store.list_runs()) == 1
    assert sample_trackers.calls(out)[-1]["call"] == "finish"
