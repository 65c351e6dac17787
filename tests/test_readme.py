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
