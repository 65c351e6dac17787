"""The package's shape: no import circle, no module over 400 lines (issue 10)."""

from import_graph import (
    DEFERRED,
    RUNTIME,
    TYPING,
    cycles,
    import_edges,
    merged,
    module_files,
)

MAX_LINES = 400

MODULES = module_files()
EDGES = import_edges(MODULES)
EVERY_IMPORT = merged(EDGES[RUNTIME], EDGES[DEFERRED], EDGES[TYPING])


def describe(circles):
    return "\n".join(" <-> ".join(circle) for circle in circles)


def test_the_graph_sees_the_imports_it_should():
    """Guards the reader of the source: if it found nothing, every test below would pass."""
    assert "bench.cli.options" in EDGES[RUNTIME]["bench.cli.running"]
    assert "bench.run.runner" in EDGES[DEFERRED]["bench.cli.running"]  # inside _execute
    assert "bench.cli.command_line" in EDGES[DEFERRED]["bench.cli.running"]
    assert "bench.configuration.run_config" in EDGES[RUNTIME]["bench.cli.command_line"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_circle_at_import_time():
    """Imports executed when a module loads never go round in a circle."""
    found = cycles(EDGES[RUNTIME])
    assert not found, f"import circles:\n{describe(found)}"


def test_the_command_line_is_in_no_import_circle():
    found = [c for c in cycles(EVERY_IMPORT) if any(m.startswith("bench.cli") for m in c)]
    assert not found, f"import circles through bench.cli:\n{describe(found)}"


def test_no_import_circle_at_all():
    """Counting imports inside functions and under TYPE_CHECKING too: each is a
    dependency a reader has to follow, and a circle means two modules cannot be
    understood one without the other."""
    found = cycles(EVERY_IMPORT)
    assert not found, f"import circles:\n{describe(found)}"


def too_long(modules):
    lengths = {name: len(MODULES[name].read_text().splitlines()) for name in modules}
    return {name: n for name, n in lengths.items() if n > MAX_LINES}


def test_no_module_is_over_400_lines():
    assert too_long(MODULES) == {}


ROOT = MODULES["bench"].parent.parent
# the cross-cutting modules that stay at the top of bench/ (issue 22)
TOP_LEVEL = {"__init__", "__main__", "_moved", "errors", "interrupts", "paths", "secrets"}


def stage_packages():
    return sorted(path.parent.name for path in (ROOT / "bench").glob("*/__init__.py"))


def test_every_package_of_bench_is_on_the_map():
    """docs/architecture.md names each stage's folder: a new package is added to the map."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    assert "training" in stage_packages()  # the glob found the packages
    assert [name for name in stage_packages() if f"`bench/{name}/`" not in text] == []


def test_each_package_says_what_its_step_does():
    import ast

    for name in stage_packages():
        tree = ast.parse((ROOT / "bench" / name / "__init__.py").read_text())
        assert ast.get_docstring(tree), f"bench/{name}/__init__.py has no docstring"


def test_only_cross_cutting_modules_stay_at_the_top():
    assert {path.stem for path in (ROOT / "bench").glob("*.py")} <= TOP_LEVEL
