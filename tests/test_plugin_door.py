"""The built-in plugins go through the door a third-party plugin uses (issue 22): they
import from `bench` and `bench.training` only the names those export, and nothing from
any other bench module."""

import ast
from pathlib import Path

import bench
import bench.training

PLUGINS = Path(__file__).resolve().parent.parent / "plugins"
DOORS = {"bench": set(bench.__all__), "bench.training": set(bench.training.__all__)}


def reaches_past_the_door(path: Path, root: Path = PLUGINS) -> list[str]:
    """Each import of ``path`` that names a bench module or name outside the doors."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
            found += [
                f"{path.relative_to(root)}:{node.lineno} import {m}"
                for m in modules
                if m.startswith("bench.")
            ]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            module = node.module
            if module.split(".")[0] != "bench":
                continue
            names = {alias.name for alias in node.names}
            if module not in DOORS or not names <= DOORS[module]:
                found.append(f"{path.relative_to(root)}:{node.lineno} from {module} import ...")
    return found


def test_the_check_sees_an_import_past_the_door(tmp_path):
    sample = tmp_path / "plugin.py"
    sample.write_text(
        "from bench import LanguageModel\nfrom bench.training import train_bptt\n"
        "import bench_plugins.kn\nfrom bench.api.model import LanguageModel\n"
        "from bench import model\nimport bench.tokens\n"
    )
    assert len(reaches_past_the_door(sample, root=tmp_path)) == 3


def test_the_built_in_plugins_import_only_through_the_door():
    files = sorted(PLUGINS.rglob("*.py"))
    assert len(files) > 15
    found = [line for path in files for line in reaches_past_the_door(path)]
    assert found == []


def test_every_name_of_the_doors_imports():
    for module, names in DOORS.items():
        for name in names:
            assert getattr(__import__(module, fromlist=[name]), name) is not None
