"""README.md's results table is the tool's output over the committed run files."""

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
