"""Commands that list what is installed: plugins, models, tokenizers, output layers, and
the corpora (with fetch and verify). None of them imports torch."""

from __future__ import annotations

import json
from typing import Any

import click

from bench.cli.app import BenchGroup
from bench.cli.options import data_dir_option, plugin_host, resolve_data_dir
from bench.errors import BenchError


@click.command()
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def plugins(as_json: bool) -> None:
    """Installed plugins: package, version, hooks, and any that failed to load."""
    host = plugin_host()
    records = host.records + host.duplicates  # duplicates: a second install, skipped
    if as_json:
        click.echo(json.dumps([vars(r) for r in records], indent=2))
        return
    for r in records:
        origin = "built-in" if r.builtin else "third-party"
        click.echo(f"{r.name}  [{r.status}]  {r.distribution} {r.version} ({origin})  {r.module}")
        if r.hooks:
            click.echo(f"    hooks: {', '.join(r.hooks)}")
        if r.error:
            click.echo(f"    error: {r.error}")


@click.command()
@click.argument("name", required=False)
def models(name: str | None) -> None:
    """Model plugins with their options and defaults (all, or just NAME).

    Options that several models have in common (the training options of the neural
    models) are listed once, after the models, rather than under each of them.
    """
    from bench.cli.option_groups import block_title, describe_all, group_options

    registry = plugin_host().models
    entries = [registry.entry(name)] if name else list(registry)
    listing = group_options(describe_all(entries))
    for entry in entries:
        aliases = f" (aliases: {', '.join(entry.aliases)})" if entry.aliases else ""
        click.echo(
            f"{entry.name}{aliases}  [plugin {entry.plugin}, scoring "
            f"{entry.item.scoring_mode}]\n  {entry.item.summary()}"
        )
        _echo_rows(listing.own[entry.name])
        for block in listing.shared_by_model[entry.name]:
            count = len(block.options)
            click.echo(f"    + the {count} {block_title(block, count)} (below)")
        click.echo()
    for block in listing.blocks:
        click.echo(f"{block_title(block, len(block.options))}:")
        _echo_rows(block.options)
        click.echo()


def _echo_options(options_class: Any) -> None:
    from bench.configuration.options import describe_options

    _echo_rows(describe_options(options_class))


def _echo_rows(rows: list[dict[str, str]]) -> None:
    # widths from the rows (a long name or type does not push its description out of
    # line); a long default such as a tuple is allowed to overflow its column
    name_width = max([20, *(len(row["name"]) for row in rows)])
    type_width = max([10, *(len(row["type"]) for row in rows)])
    for option in rows:
        click.echo(
            f"    {option['name']:<{name_width}} {option['type']:<{type_width}} "
            f"default {option['default']:<10} {option['description']}"
        )


@click.command()
def tokenizers() -> None:
    """Tokenizers with their options and defaults."""
    for entry in plugin_host().tokenizers:
        aliases = f" (aliases: {', '.join(entry.aliases)})" if entry.aliases else ""
        doc = entry.item.description or (entry.item.__doc__ or "").strip().split("\n")[0]
        click.echo(f"{entry.name}{aliases}  [plugin {entry.plugin}]\n  {doc}")
        _echo_options(entry.item.Options)


@click.command("output-layers")
@click.argument("name", required=False)
def output_layers(name: str | None) -> None:
    """Output layers a neural model can train with (--set output=NAME), with their options
    (--set output.KEY=VALUE)."""
    registry = plugin_host().output_layers
    entries = [registry.entry(name)] if name else list(registry)
    for entry in entries:
        layer = entry.item
        aliases = f" (aliases: {', '.join(entry.aliases)})" if entry.aliases else ""
        kind = "exact" if layer.exact else f"approximate, scored by {layer.scored_by}"
        tied = ", tieable" if layer.tieable else ""
        click.echo(
            f"{entry.name}{aliases}  [plugin {entry.plugin}, {kind}{tied}]\n  {layer.summary()}"
        )
        _echo_options(layer.Options)
        click.echo()


@click.group(cls=BenchGroup)
def corpora() -> None:
    """List, download and verify corpora."""


@corpora.command("list")
@data_dir_option
def corpora_list(data_dir: str | None) -> None:
    """Registered corpora: splits, token counts, licence, and whether they are here."""
    from bench.corpora import describe

    folder = resolve_data_dir(data_dir)
    for entry in plugin_host().corpora:
        info = describe(entry.item, folder)
        aliases = f" (aliases: {', '.join(info['aliases'])})" if info.get("aliases") else ""
        click.echo(
            f"{info['name']}{aliases}  [{info['status']}]  tokenizer {info['default_tokenizer']}"
        )
        click.echo(f"  {info['description']}")
        click.echo(f"  {_tokens_line(info)}")
        click.echo(f"  {_checksums_line(info)}")
        click.echo(f"  licence: {info['license']}")
        click.echo(f"  cite: {info['citation']}")


def _checksums_line(info: dict[str, Any]) -> str:
    """The published checksums the files are checked against, or how many files have none."""
    line = "checked against: " + "; ".join(info["checksums"]) if info["checksums"] else ""
    if info["unverified_files"]:
        missing = f"unverified: {info['unverified_files']} file(s) have no published checksum"
        line = f"{line}; {missing}" if line else missing
    return line


def _tokens_line(info: dict[str, Any]) -> str:
    """Token counts: counted here under the default tokenizer, else the registered ones
    (whitespace words), else what is missing."""
    source = info.get("tokens_source")
    if source is None:
        return "tokens: not downloaded" if info["status"] == "not downloaded" else "tokens: ?"
    how = (
        f"{info['default_tokenizer']} tokenizer"
        if source == "counted"
        else "whitespace words, registered"
    )
    counts = ", ".join(
        f"{split} {count:,}" if count is not None else f"{split} ?"
        for split, count in info["tokens"].items()
    )
    return f"tokens ({how}, +eos per line): {counts}"


@corpora.command("fetch")
@click.argument("names", nargs=-1, required=True)
@click.option("--force", is_flag=True, help="download again even if cached")
@data_dir_option
def corpora_fetch(names: tuple[str, ...], force: bool, data_dir: str | None) -> None:
    """Download corpora into the cache, checking every sha256."""
    from bench.corpora import fetch

    folder = resolve_data_dir(data_dir)
    for name in names:
        spec = plugin_host().corpora.get(name)
        paths = fetch(spec, folder, force=force)
        for split, files in paths.items():
            for path in files:
                click.echo(f"{spec.name} {split}: {path}")


@corpora.command("verify")
@click.argument("names", nargs=-1)
@data_dir_option
def corpora_verify(names: tuple[str, ...], data_dir: str | None) -> None:
    """Check cached corpora against their sha256 (all registered ones by default)."""
    from bench.corpora import verify

    folder = resolve_data_dir(data_dir)
    registry = plugin_host().corpora
    specs = [registry.get(n) for n in names] if names else [e.item for e in registry]
    bad = False
    for spec in specs:
        for check in verify(spec, folder):
            click.echo(
                f"{spec.name} {check.split}: {check.status}  {check.path}"
                + (f"  ({check.detail})" if check.detail else "")
            )
            bad |= check.status == "mismatch" or (bool(names) and check.status == "missing")
    if bad:
        raise BenchError("verification failed (see above)")
