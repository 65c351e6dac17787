"""What bench does to its own process: the allocator settings, and no torch for numpy models.

Both are per-process state (glibc's settings, ``sys.modules``), so each check runs the
command line in a fresh Python and reads back what it prints.
"""

import json
import os
import platform
import subprocess
import sys

import pytest

RUN_AND_REPORT = """
import json, sys
from bench.allocator import allocator_record
from bench.cli import cli
try:
    cli(sys.argv[1:], standalone_mode=False)
except SystemExit as error:
    if error.code:
        raise
print(json.dumps({"torch_imported": "torch" in sys.modules, "allocator": allocator_record()}))
"""


def run_in_fresh_python(tmp_path, *args, env=None):
    """``bench run`` in a new interpreter; the last line it prints, as JSON. The allocator
    variables of the environment running the tests are left out, ``env`` is added."""
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "BENCH_MALLOPT"
    }
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            RUN_AND_REPORT,
            "run",
            "--db",
            f"sqlite:///{tmp_path / 'b.db'}",
            "--data-dir",
            str(tmp_path / "data"),
            *args,
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        env=clean | (env or {}),
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "plugin", [["kn", "--set", "discount_fallback=true"], ["unigram"], ["snm", "--set", "order=2"]]
)
def test_numpy_models_run_without_importing_torch(tmp_path, tiny_corpus, plugin):
    report = run_in_fresh_python(tmp_path, "--corpus", str(tiny_corpus), "--plugin", *plugin)
    assert report["torch_imported"] is False


@pytest.mark.parametrize("run_id", [None, "", "job-7"])
def test_torchrun_detection_without_torch_agrees_with_torch(monkeypatch, run_id):
    import torch.distributed

    from bench.machine.distributed import launched_by_torchrun

    if run_id is None:
        monkeypatch.delenv("TORCHELASTIC_RUN_ID", raising=False)
    else:
        monkeypatch.setenv("TORCHELASTIC_RUN_ID", run_id)
    assert launched_by_torchrun() == torch.distributed.is_torchelastic_launched()


def test_a_torch_model_does_import_torch(tmp_path, tiny_corpus):
    # the check above could pass vacuously if the report were wrong: here it must say True
    report = run_in_fresh_python(
        tmp_path,
        "--corpus",
        str(tiny_corpus),
        "--plugin",
        "lstm",
        "--set",
        "epochs=1",
        "--set",
        "hidden_size=8",
        "--set",
        "embedding_size=8",
        "--set",
        "max_steps_per_epoch=2",
    )
    assert report["torch_imported"] is True


glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc only")


@glibc
def test_a_run_sets_and_records_the_allocator(tmp_path, tiny_corpus):
    report = run_in_fresh_python(tmp_path, "--corpus", str(tiny_corpus), "--plugin", "unigram")
    assert report["allocator"]["applied"] is True
    assert report["allocator"]["mallopt"]["M_MMAP_THRESHOLD"] >= 2**25
    # and the run's stored environment record says the same
    from bench.store import Store

    stored = Store(f"sqlite:///{tmp_path / 'b.db'}").get_run(1)["environment"]
    assert stored["allocator"] == report["allocator"]


@pytest.mark.parametrize(
    ("env", "reason"),
    [
        ({"BENCH_MALLOPT": "0"}, "BENCH_MALLOPT=0"),
        ({"MALLOC_TRIM_THRESHOLD_": "1000000"}, "MALLOC_TRIM_THRESHOLD_"),
    ],
)
def test_the_allocator_is_left_alone_when_asked(tmp_path, tiny_corpus, env, reason):
    report = run_in_fresh_python(
        tmp_path, "--corpus", str(tiny_corpus), "--plugin", "unigram", env=env
    )
    assert report["allocator"]["applied"] is False
    assert reason in report["allocator"]["reason"]


def test_cpu_device_name_counts_the_cores_this_process_may_use(monkeypatch):
    from bench.machine import environment

    monkeypatch.setattr(environment, "cpu_model", lambda: "Some CPU")
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0}, raising=False)
    assert environment.device_name("cpu") == "Some CPU (1 core)"  # e.g. under taskset -c 0
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    assert environment.device_name("cpu") == "Some CPU (3 cores)"
