"""README.md: its results table is the tool's output over the committed run files, and its
test command is what CI runs."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _updater():
    spec = importlib.util.spec_from_file_location(
        "update_readme", ROOT / "docs" / "update_readme.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_results_table_is_generated_from_the_committed_runs():
    updater = _updater()
    table = updater.headline_from_runs()
    assert table.count("\n") >= 3, "the committed runs give at least one row"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert updater.readme_block(readme) == table, "run `python docs/update_readme.py`"


def test_ci_runs_readme_test_command_with_every_optional_tool_required():
    """CI (.ci/run) ends with README's test command, verbatim, and requires every tool
    whose absence would otherwise only skip tests (conftest.OPTIONAL)."""
    from conftest import OPTIONAL

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    run = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = readme.split("Run the tests", 1)[1].split("```bash\n", 1)[1].split("\n```", 1)[0]
    assert run.rstrip().splitlines()[-1] == command
    (line,) = [x for x in run.splitlines() if x.startswith("export BENCH_REQUIRE=")]
    assert set(line.split("=", 1)[1].split(",")) == OPTIONAL.keys()
    assert "|| echo" not in run  # no install failure is waved through


def test_readme_everyday_commands_run_on_a_new_users_database():
    """No run id a new user does not have (``last``, or runs 1 and 2 of a fresh database),
    the commands a user needs daily, and where the runs are kept."""
    import re

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    everyday = readme.split("## Everyday commands", 1)[1].split("## ", 1)[0]
    commands = re.findall(r"^bench .*$", everyday, re.MULTILINE)
    for command in ("reproduce", "generate", "compare", "probe", "show", "runs"):
        assert any(line.startswith(f"bench {command} ") for line in commands), command
    ids = re.findall(r"(?:--run|--resume|show|compare|plot|export)((?: \d+)+)", everyday)
    assert ids and all(int(n) <= 2 for group in ids for n in group.split()), ids
    assert "~/.local/share/bench/bench.db" in everyday and "shared by every clone" in everyday
    head = readme.split("## Results", 1)[0]
    assert "pip install -e '.[test]' && bench run --plugin lstm\n" in head
    assert ". .venv/bin/activate && python -m pytest -q\n" in head
