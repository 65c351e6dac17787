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
    assert "bench.runner" in EDGES[DEFERRED]["bench.cli.running"]  # inside _execute
    assert "bench.cli.command_line" in EDGES[DEFERRED]["bench.cli.running"]
    assert "bench.config" in EDGES[RUNTIME]["bench.cli.command_line"]
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
