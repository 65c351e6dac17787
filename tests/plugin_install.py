"""A third-party plugin package installed for real (wheel build, dist-info with its entry
point) into a folder of its own, and `bench` run as a user would, with that folder on the path."""

import os
import subprocess
import sys
from pathlib import Path


def install_plugin(files: dict[str, str], root: Path) -> dict[str, str]:
    """Write ``files`` as a package under ``root``, install it there; the environment to run
    bench with it (its own database and data folder under ``root``)."""
    package = root / "package"
    package.mkdir()
    for name, body in files.items():
        (package / name).write_text(body)
    site = root / "site"
    # kept out of the test environment: --target, and no dependencies installed
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(site),
            str(package),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    env = {k: v for k, v in os.environ.items() if k != "BENCH_PLUGINS"}
    # prepended: whatever the test environment already puts on the path stays reachable
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    env.update(
        PYTHONPATH=path,
        BENCH_DATA_DIR=str(root / "data"),
        BENCH_DB=f"sqlite:///{root / 'bench.db'}",
    )
    return env


def bench(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bench", *args], env=env, capture_output=True, text=True, timeout=600
    )
