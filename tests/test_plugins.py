"""Plugin discovery: entry points, isolation of broken plugins, BENCH_PLUGINS, hook docs."""

import inspect
import re
from importlib import metadata
from pathlib import Path

import pytest

import bench
from bench.api import hookspecs
from bench.api.plugin_host import BUILTIN_DISTRIBUTION, ENTRY_POINT_GROUP, load_plugins
from bench.errors import BenchError

DOCS = Path(__file__).resolve().parent.parent / "docs"


def builtin_entry_points():
    return list(metadata.entry_points(group=ENTRY_POINT_GROUP))


def fake(name, value):
    return metadata.EntryPoint(name=name, value=value, group=ENTRY_POINT_GROUP)


def test_builtins_are_discovered_through_entry_points():
    host = load_plugins()
    builtins = {r.name for r in host.records if r.builtin}
    assert {
        "recurrent",
        "unigram",
        "kn",
        "standard-corpora",
        "standard-tokenizers",
        "output-layers",
    } <= builtins
    assert all(r.status == "loaded" for r in host.records if r.builtin)
    assert {"lstm", "gru", "rnn", "unigram", "kn"} <= set(host.models.names())
    assert "tinyshakespeare" in host.corpora
    assert host.models.entry("lstm").plugin == "recurrent"
    assert set(host.output_layers.names()) == {
        "full",
        "sampled",
        "nce",
        "blackout",
        "adaptive",
        "class",
    }
    assert host.output_layers.entry("nce").plugin == "output-layers"


def test_broken_plugins_are_reported_and_the_rest_work():
    host = load_plugins(
        builtin_entry_points()
        + [
            fake("good", "sample_plugins:good"),
            fake("broken-import", "sample_plugins_that_do_not_exist"),
            fake("broken-register", "sample_plugins:broken_register"),
            fake("clash", "sample_plugins:clash"),
            fake("not-a-model", "sample_plugins:not_a_model"),
        ]
    )
    status = {r.name: r for r in host.records}
    assert status["good"].status == "loaded"
    assert status["broken-import"].status == "failed"
    assert "ModuleNotFoundError" in status["broken-import"].error
    assert status["broken-register"].status == "failed"
    assert "boom while registering" in status["broken-register"].error
    assert status["clash"].status == "failed" and "already registered" in status["clash"].error
    assert status["not-a-model"].status == "failed"
    # the built-in keeps its name; the good plugin works, alias included
    assert host.models.get("unigram").__name__ == "UnigramModel"
    assert host.models.get("uniform").__name__ == "UniformModel"


def test_env_var_empty_disables_third_party(monkeypatch):
    monkeypatch.setenv("BENCH_PLUGINS", "")
    host = load_plugins(builtin_entry_points() + [fake("good", "sample_plugins:good")])
    status = {r.name: r.status for r in host.records}
    assert status["good"] == "disabled"
    assert status["recurrent"] == "loaded"
    assert "sample-uniform" not in host.models


def test_env_var_list_restricts_third_party(monkeypatch):
    monkeypatch.setenv("BENCH_PLUGINS", "good")
    host = load_plugins(
        builtin_entry_points()
        + [fake("good", "sample_plugins:good"), fake("clash", "sample_plugins:clash")]
    )
    status = {r.name: r.status for r in host.records}
    assert status == {**status, "good": "loaded", "clash": "disabled"}


class FakeDistribution:
    """What an entry point reads of the distribution that declares it."""

    def __init__(self, name, version):
        self.metadata = {"Name": name}
        self.version = version


def declared_by(entry_point, name, version):
    """A copy of ``entry_point`` as declared by distribution ``name`` (_for sets it in place)."""
    copy = metadata.EntryPoint(
        name=entry_point.name, value=entry_point.value, group=ENTRY_POINT_GROUP
    )
    return copy._for(FakeDistribution(name, version))


def test_an_entry_point_declared_twice_loads_once():
    builtins = builtin_entry_points()
    # an older install under bench's former name declares the same objects, and a
    # third-party package declares one object under two names; listed first on purpose
    stale = [declared_by(ep, "bench", "0.0.9") for ep in builtins]
    twice = [
        declared_by(fake("good", "sample_plugins:good"), "sample-pkg", "1.0"),
        declared_by(fake("good-again", "sample_plugins : good"), "sample-pkg", "1.0"),
    ]
    host = load_plugins(stale + builtins + twice)
    names = sorted({ep.name for ep in builtins})  # an older install here may list them twice
    assert not [r for r in host.records if r.status != "loaded"]
    assert sorted(r.name for r in host.records) == sorted([*names, "good"])
    # this install's entry points are the ones loaded; the older install's are duplicates
    assert {r.distribution for r in host.records if r.builtin} == {BUILTIN_DISTRIBUTION}
    assert {r.status for r in host.duplicates} == {"duplicate"}
    skipped = {(r.name, r.distribution) for r in host.duplicates}
    assert {(n, "bench") for n in names} | {("good-again", "sample-pkg")} <= skipped
    assert host.duplicates[0].error.startswith(f"skipped: {BUILTIN_DISTRIBUTION} ")
    assert host.models.entry("lstm").plugin == "recurrent" and "sample-uniform" in host.models


def test_an_older_install_alone_still_counts_as_built_in(monkeypatch):
    monkeypatch.setenv("BENCH_PLUGINS", "")  # third-party plugins off: built-ins stay
    host = load_plugins([declared_by(ep, "bench", "0.0.9") for ep in builtin_entry_points()])
    assert all(r.builtin and r.status == "loaded" for r in host.records)
    assert "lstm" in host.models


def test_bench_is_installed_as_its_distribution():
    assert bench.__version__ == metadata.version(BUILTIN_DISTRIBUTION)
    builtin = [r for r in load_plugins().records if r.builtin]
    assert builtin and {r.distribution for r in builtin} == {BUILTIN_DISTRIBUTION}


def test_unknown_model_suggests_near_matches():
    host = load_plugins()
    with pytest.raises(BenchError, match="Did you mean: lstm"):
        host.models.get("lstn")


def hook_names():
    return [
        name
        for name, value in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(value, "bench_spec")
    ]


def test_every_hook_is_documented():
    names = hook_names()
    assert {
        "register_models",
        "register_corpora",
        "register_tokenizers",
        "run_started",
        "log_metrics",
        "run_finished",
        "register_commands",
    } <= set(names)
    reference = (DOCS / "hooks.md").read_text()
    for name in names:
        assert (getattr(hookspecs, name).__doc__ or "").strip(), f"hook {name} has no docstring"
        assert f"`{name}(" in reference, f"hook {name} is missing from docs/hooks.md"


def test_a_misspelled_hook_fails_its_plugin_by_name():
    host = load_plugins(
        builtin_entry_points()
        + [fake("typo", "sample_plugins:misspelled"), fake("good", "sample_plugins:good")]
    )
    status = {r.name: r for r in host.records}
    assert status["typo"].status == "failed"
    assert status["typo"].error == (
        "unknown hook 'register_model' (did you mean 'register_models'?)"
    )
    assert "never-registered" not in host.models
    assert host.manager.get_plugin("typo") is None  # none of its hooks run
    assert status["good"].status == "loaded" and "sample-uniform" in host.models
    host.manager.check_pending()  # nothing unknown is left registered


def test_registration_hooks_are_called_through_pluggy(monkeypatch, capsys):
    monkeypatch.setenv("BENCH_TRACE_HOOKS", "1")
    host = load_plugins(builtin_entry_points() + [fake("traced", "sample_plugins:tracing")])
    trace = capsys.readouterr().err
    assert "traced-uniform" in host.models
    for hook in (
        "register_models",
        "register_corpora",
        "register_tokenizers",
        "register_output_layers",
    ):
        implementing = getattr(host.hook, hook).get_hookimpls()
        assert trace.count(f"  {hook} [hook]") == len(implementing), hook  # once per plugin


def documented_sections() -> dict[str, str]:
    """Each ``### `hook(...)``` section of docs/hooks.md, by hook name."""
    reference = (DOCS / "hooks.md").read_text()
    sections = re.split(r"^### ", reference, flags=re.MULTILINE)[1:]
    return {re.match(r"`(\w+)\(", section)[1]: section for section in sections}


def spec_signature(name):
    parameters = inspect.signature(getattr(hookspecs, name)).parameters.values()
    return f"def {name}({', '.join(f'{p.name}: {p.annotation}' for p in parameters)}) -> None"


def version_added(text):
    found = re.search(r"versionadded:: ([\d.]+)|\*Added in ([\d.]+)\.\*", text)
    return found and (found[1] or found[2])


@pytest.mark.parametrize("name", hook_names())
def test_each_hook_is_documented_with_its_signature_and_version(name):
    sections = documented_sections()
    assert name in sections, f"hook {name} is missing from docs/hooks.md"
    section = sections[name]
    parameters = inspect.signature(getattr(hookspecs, name)).parameters
    assert section.startswith(f"`{name}({', '.join(parameters)})`"), section.splitlines()[0]
    assert f"```python\n{spec_signature(name)}\n```" in section, (
        f"docs/hooks.md shows another signature for {name}; the code has {spec_signature(name)}"
    )
    docstring = getattr(hookspecs, name).__doc__
    assert version_added(docstring), f"hook {name} has no versionadded"
    assert version_added(section) == version_added(docstring)


def test_docs_list_no_hook_that_does_not_exist():
    assert set(documented_sections()) == set(hook_names())
