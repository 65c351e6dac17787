"""Shared fixtures: every test gets its own database and data folder. Tests marked
``slow`` run only with ``--runslow``.

Tests that need something outside Python (a PostgreSQL server, Chromium, KenLM's module,
the wandb library) skip, saying why, where it is missing; ``$BENCH_REQUIRE`` (comma-separated names from
``OPTIONAL``) turns those skips into failures, so that CI, which installs them, cannot
pass without running those tests.
"""

import importlib
import os
import random
from types import ModuleType
from typing import NoReturn

import pytest

# what $BENCH_REQUIRE may name, and what each one is
OPTIONAL = {
    "postgres": "psycopg and a PostgreSQL server for the store tests",
    "chromium": "Chromium for the HTML site's browser tests",
    "kenlm": "KenLM's Python module for the ARPA round trip",
    "wandb": "the wandb library (the wandb extra) for the W&B logger's tests",
}


def required() -> set[str]:
    """The names in $BENCH_REQUIRE."""
    return {name.strip() for name in os.environ.get("BENCH_REQUIRE", "").split(",") if name.strip()}


def pytest_configure(config):
    unknown = required() - OPTIONAL.keys()
    if unknown:  # a misspelt name would otherwise require nothing, silently
        raise pytest.UsageError(
            f"BENCH_REQUIRE names {', '.join(sorted(unknown))}; known: {', '.join(OPTIONAL)}"
        )


def unavailable(name: str, reason: str) -> NoReturn:
    """Skip the test for ``reason``, or fail it when $BENCH_REQUIRE names ``name``."""
    if name in required():
        pytest.fail(f"{reason} (BENCH_REQUIRE={os.environ['BENCH_REQUIRE']})", pytrace=False)
    pytest.skip(reason)


def import_or_unavailable(module: str, name: str, reason: str) -> ModuleType:
    """``pytest.importorskip`` that fails instead when $BENCH_REQUIRE names ``name``."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        unavailable(name, f"{reason} ({error})")


def pytest_addoption(parser):
    parser.addoption(
        "--runslow",
        action="store_true",
        default=False,
        help="also run tests marked slow (long training or subprocess runs)",
    )


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def isolated_paths(tmp_path, monkeypatch):
    """Never touch the user's real database or cache."""
    monkeypatch.setenv("BENCH_DB", f"sqlite:///{tmp_path / 'bench.db'}")
    monkeypatch.setenv("BENCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("BENCH_PLUGINS", raising=False)
    return tmp_path


@pytest.fixture
def tiny_corpus(tmp_path):
    """A folder with train/valid/test.txt of patterned text a small model can learn."""
    return write_tiny_corpus(tmp_path)


def write_tiny_corpus(parent):
    """The tiny corpus, written into ``parent / "tiny"`` (for module-scoped fixtures too)."""
    rng = random.Random(0)
    words = ["the", "cat", "sat", "on", "a", "mat", "dog", "ran", "to", "park"]

    def lines(n):
        out = []
        for _ in range(n):
            start = rng.randrange(len(words))
            out.append(" ".join(words[(start + i) % len(words)] for i in range(rng.randint(0, 7))))
        return "\n".join(out) + "\n"

    folder = parent / "tiny"
    folder.mkdir()
    for split, n in (("train", 400), ("valid", 41), ("test", 37)):
        (folder / f"{split}.txt").write_text(lines(n))
    return folder


@pytest.fixture(scope="session")
def postgres_server():
    """One PostgreSQL server for the session (see tests/postgres_server.py); skips with the
    reason when it cannot start here (fails with it when $BENCH_REQUIRE names postgres)."""
    from postgres_server import postgres_server as start

    # the store talks to PostgreSQL through psycopg, the `postgres` extra: without it a
    # machine that has PostgreSQL installed still runs the rest of the suite
    import_or_unavailable("psycopg", "postgres", "no psycopg: pip install -e '.[postgres]'")
    try:
        context = start()
        server = context.__enter__()
    except RuntimeError as error:
        unavailable("postgres", f"no PostgreSQL server: {error}")
    try:
        yield server
    finally:
        context.__exit__(None, None, None)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A fresh, empty database on each backend: a SQLite file, and a new database on the
    session's PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fresh.db'}"
    return request.getfixturevalue("postgres_server").create_database()
