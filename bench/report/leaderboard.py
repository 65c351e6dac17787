"""Leaderboard tables: measured runs from the database beside published reference figures.

Measured rows come only from :meth:`bench.store.Store.results_frame` (finished runs with a
test evaluation), each traceable to its run id, command, device and date; reference rows
are quoted from :func:`bench.report.published.load_published` with their citation. The two kinds
are never mixed: measured rows come first, each group sorted by test perplexity, or,
where the runs of a corpus tokenize it differently, by a unit they share
(:mod:`bench.report.ranking`). A table is one corpus by its content, not by its folder's
name (:mod:`bench.scoring.corpus_identity`).

Tables hold display text (empty string for "not applicable"): what markdown shows. CSV and
JSON hold numbers instead, one record per row with the unit in each field's name
(``test_ppl``, ``train_tokens_per_second``), kept beside the table in ``attrs["records"]``
(see :mod:`bench.report.csv_json`).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from bench.configuration.recipes import Recipe, load_recipes
from bench.errors import BenchError
from bench.paths import write_atomically
from bench.report.bits_per_unit import FiguresPer, add_bits_per_unit
from bench.report.csv_json import (
    cell,
    measured_record,
    missing,
    records_frame,
    reference_record,
)
from bench.report.derived import derived_note
from bench.report.measured_cells import fixed, oov_cells, ppl_cell, protocol, word_ppl
from bench.report.published import Reproduction, reproduced_rows
from bench.report.ranking import Ranking, choose_ranking, sort_measured
from bench.report.shown_text import csv_cell
from bench.scoring.corpus_identity import label_corpora
from bench.scoring.seeds import NewOptions, aggregate_seed_groups
from bench.secrets import mask_text
from bench.store.local_paths import redact_command

COLUMNS = [
    "kind",
    "model",
    "plugin",
    "tokenizer",
    "options",
    "params",
    "valid ppl",
    "test ppl",
    "vs paper (test)",
    "OOV (test)",
    "test ppl w/o OOV",
    "word ppl (valid)",
    "word ppl (test)",
    "bits/byte (test)",
    "bits/char (test)",
    "protocol",
    "train tok/s",
    "eval tok/s (test)",
    "device",
    "date",
    "run",
    "reproduces",
    "citation",
    "notes",
]
# Word perplexity repeats ppl for word-level runs, so these columns are dropped from a
# table in which no run has tokens that differ from words.
WORD_PPL_COLUMNS = ("word ppl (valid)", "word ppl (test)")
# Dropped as well where no row has a value: few runs reproduce a published row, and the
# out-of-vocabulary columns matter only where some run's test text had OOV tokens.
OOV_COLUMNS = ("OOV (test)", "test ppl w/o OOV")
OPTIONAL_COLUMNS = (*WORD_PPL_COLUMNS, "vs paper (test)", *OOV_COLUMNS, "bits/char (test)")
NUMERIC_COLUMNS = {
    "params",
    "valid ppl",
    "test ppl",
    "bits/byte (test)",
    "bits/char (test)",
    "train tok/s",
    "eval tok/s (test)",
    "run",
    *WORD_PPL_COLUMNS,
}
FORMATS = ("md", "csv", "json")  # each is also its files' extension


def humanize_count(n: Any) -> str:
    """4650000 -> "4.65M", 1_040_000_000 -> "1.04B", 950 -> "950"; "" when missing."""
    if missing(n):
        return ""
    n = int(n)
    suffixes = [(1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")]
    for i, (factor, suffix) in enumerate(suffixes):
        if abs(n) < factor:
            continue
        text = f"{n / factor:.3g}"
        if float(text) >= 1000 and i > 0:  # 999.9996M rounds to 1000M: say 1B instead
            factor, suffix = suffixes[i - 1]
            text = f"{n / factor:.3g}"
        return text + suffix
    return str(n)


def _rate(value: Any) -> str:
    return "" if missing(value) or not math.isfinite(value) else f"{value:,.0f}"


def _date(value: Any) -> str:
    return "" if missing(value) else pd.Timestamp(value).strftime("%Y-%m-%d")


def leading_number(text: Any) -> float:
    """The first number in a published cell ("79.7 ± 0.1" -> 79.7); NaN when there is none."""
    match = re.search(r"\d+(?:\.\d+)?", str(text)) if not missing(text) else None
    return float(match.group()) if match else math.nan


def _versus_paper(row: Mapping[str, Any], paper: Reproduction | None) -> str:
    """ "114.5 → 113.16, −1.2%": the paper's test figure as printed, then bench's."""
    measured = cell(row, "test_ppl")
    if paper is None or measured is None:
        return ""
    change = paper.change_percent(measured)
    sign = "−" if change < 0 else "+"  # the minus sign, not a hyphen
    return f"{paper.test_ppl_text} → {measured:.2f}, {sign}{abs(change):.1f}%"


def _measured_row(
    row: Mapping[str, Any], paper: Reproduction | None = None, ranking: Ranking | None = None
) -> dict[str, str]:
    every_word_ppl = ranking is not None and ranking.across_tokenizers
    verified = cell(row, "corpus_verified")
    notes = "corpus checksums not verified" if verified is not None and not verified else ""
    group = (cell(row, "seed_n") or 1) > 1
    oov, ppl_no_oov = oov_cells(row)
    if group:
        seeds = ", ".join(str(s) for s in row["seed_list"])
        notes = "; ".join(n for n in (f"mean ± std over seeds {seeds}", notes) if n)
    derived = derived_note(cell(row, "config"))
    notes = "; ".join(n for n in (notes, cell(row, "seed_remeasured"), derived) if n)
    return {
        "kind": "measured",
        "model": cell(row, "model_label") or cell(row, "plugin") or "",
        "plugin": cell(row, "plugin") or "",
        "tokenizer": cell(row, "tokenizer") or "",
        "options": cell(row, "key_options") or "",
        "params": humanize_count(cell(row, "params")),
        "valid ppl": ppl_cell(row, "valid"),
        "test ppl": ppl_cell(row, "test"),
        "vs paper (test)": _versus_paper(row, paper),
        "word ppl (valid)": word_ppl(row, "valid", every_word_ppl),
        "OOV (test)": oov,
        "test ppl w/o OOV": ppl_no_oov,
        "word ppl (test)": word_ppl(row, "test", every_word_ppl),
        "bits/byte (test)": fixed(cell(row, "test_bits_per_byte"), 3),
        "bits/char (test)": "",  # on character corpora only (bench.report.bits_per_unit)
        "protocol": protocol(row),
        "train tok/s": _rate(cell(row, "train_tokens_per_second")),
        "eval tok/s (test)": _rate(cell(row, "test_tokens_per_second")),
        "device": cell(row, "device_name") or cell(row, "device") or "",
        "date": _date(cell(row, "finished_at") or cell(row, "started_at")),
        "run": ", ".join(map(str, _run_ids(row))),
        "reproduces": f"{paper.model} (recipe {paper.recipe})" if paper else "",
        "citation": "",
        "notes": notes,
    }


def _reference_row(row: Mapping[str, Any]) -> dict[str, str]:
    cells = dict.fromkeys(COLUMNS, "")
    cells.update(
        {
            "kind": "reference",
            "model": str(cell(row, "model") or ""),
            "params": str(cell(row, "params") or ""),
            "valid ppl": str(cell(row, "valid_ppl") or ""),
            "test ppl": str(cell(row, "test_ppl") or ""),
            "citation": str(cell(row, "citation") or ""),
            "notes": str(cell(row, "notes") or ""),
        }
    )
    return cells


def _provenance(row: Mapping[str, Any]) -> dict[str, Any]:
    """What a footnote needs to trace a measured row back to its run."""
    return {
        "run": int(row["run_id"]),
        # rows stored before masking; local paths as <data-dir>/..., ~/... in committed files
        "command": redact_command(mask_text(cell(row, "command") or "")) or None,
        "device": cell(row, "device_name") or cell(row, "device"),
        "date": _date(cell(row, "finished_at") or cell(row, "started_at")),
        "config_hash": cell(row, "config_hash"),
        "git_commit": cell(row, "git_commit"),
    }


def _run_ids(row: Mapping[str, Any]) -> list[int]:
    """The runs behind a measured row: a seed group's members, or the run itself."""
    return row.get("seed_runs") or [int(row["run_id"])]


def _table(
    corpus: str,
    measured: pd.DataFrame,
    reference: pd.DataFrame,
    reproductions: Mapping[int, Reproduction],
    figures: FiguresPer | None = None,
    new_options: NewOptions | None = None,
) -> pd.DataFrame:
    measured_records: list[dict[str, Any]] = []
    provenance = []
    ranking = choose_ranking(measured)
    if not measured.empty:
        runs = {int(r["run_id"]): r for r in measured.to_dict("records")}
        # runs equal but for the seed: one row
        measured = aggregate_seed_groups(measured, new_options)
        measured_records = sort_measured(measured, ranking).to_dict("records")
        provenance = [_provenance(runs[run_id]) for r in measured_records for run_id in _run_ids(r)]
    reference = reference.assign(_key=reference["test_ppl"].map(leading_number))
    reference = reference.sort_values("_key", na_position="last", kind="stable")
    # a seed group reproduces a paper's row when its runs do (they share one configuration)
    papers = [
        next((reproductions[i] for i in _run_ids(r) if i in reproductions), None)
        for r in measured_records
    ]
    rows = [_measured_row(r, p, ranking) for r, p in zip(measured_records, papers, strict=True)]
    records = [
        measured_record(r, c, p) for r, c, p in zip(measured_records, rows, papers, strict=True)
    ]
    references = reference.to_dict("records")
    rows += [_reference_row(r) for r in references]
    records += [reference_record(r) for r in references]
    table = pd.DataFrame(rows, columns=COLUMNS, dtype=str)
    add_bits_per_unit(table, records, measured_records, figures)
    empty = [c for c in OPTIONAL_COLUMNS if not (table[c] != "").any()]
    if not (table["test ppl w/o OOV"] != "").any():  # OOV counts of 0 only
        empty += [c for c in OOV_COLUMNS if c not in empty]
    table = table.drop(columns=empty)
    table.attrs["corpus"] = corpus
    table.attrs["ranking"] = ranking
    table.attrs["runs"] = provenance
    table.attrs["records"] = records
    return table


def build_tables(
    results: pd.DataFrame,
    published: pd.DataFrame,
    *,
    corpus_aliases: dict[str, str] | None = None,
    corpora: list[str] | None = None,
    recipes: Iterable[Recipe] | None = None,
    figures_per: Mapping[str, FiguresPer] | None = None,
    new_options: NewOptions | None = None,
) -> dict[str, pd.DataFrame]:
    """One display table per corpus that has measured runs or published rows.

    ``results`` is :meth:`Store.results_frame` output; ``published`` is
    :func:`load_published` output. A corpus is known by its content: runs are grouped by
    :func:`bench.scoring.corpus_identity.label_corpora`, and each table is named by the
    name it shows (``local:corpus (3f2a…)`` where two texts share a folder name).
    ``corpus_aliases`` maps a published corpus name to bench's (``{"1b-word":
    "one-billion-word"}``). ``corpora`` (table names, stored corpus names, which take
    every table of that name, or published aliases) restricts and orders the tables;
    otherwise they are sorted by name. A run of
    one of ``recipes`` (by default the packaged ones) is shown beside the published row
    the recipe reproduces (:func:`bench.report.published.reproduced_rows`). ``figures_per``
    (corpus -> :class:`FiguresPer`, from ``CorpusSpec.figures_per``) gives the tables of
    character and byte corpora their bits per character or byte. ``new_options``
    (:meth:`bench.api.plugin_host.PluginHost.with_new_options`) lets a run stored before
    its plugin gained an option join its seed group. Each table carries
    ``attrs["corpus"]``, ``attrs["runs"]`` (provenance for footnotes) and
    ``attrs["records"]`` (its rows as numbers, for CSV and JSON).
    """
    aliases = dict(corpus_aliases or {})
    if "status" in results.columns:  # leaderboards show finished runs only
        results = results[results["status"] == "finished"]
    results = label_corpora(results)  # one table per text, named after its folder
    published = published.assign(corpus=published["corpus"].map(lambda c: aliases.get(c, c)))
    reproductions = reproduced_rows(
        results.to_dict("records"), published, load_recipes() if recipes is None else recipes
    )
    measured_names = set(results["corpus"].dropna()) if "corpus" in results.columns else set()
    available = measured_names | set(published["corpus"].dropna())
    if corpora is None:
        names = sorted(available)
    else:
        wanted = dict.fromkeys(aliases.get(c, c) for c in corpora)
        names = list(dict.fromkeys(n for c in wanted for n in _tables_named(c, results, available)))
    tables = {}
    for name in names:
        measured = (
            results[results["corpus"] == name] if name in measured_names else results.iloc[0:0]
        )
        reference = published[published["corpus"] == name]
        figures = (figures_per or {}).get(name)
        tables[name] = _table(name, measured, reference, reproductions, figures, new_options)
    return tables


def _tables_named(name: str, results: pd.DataFrame, available: set[str]) -> list[str]:
    """The tables ``name`` asks for: the table of that name, then every other table of
    runs stored under that corpus name (``local:corpus`` names both texts of two such
    folders; ``ptb`` also its runs stored without checksums)."""
    exact = [name] if name in available else []
    if "corpus_stored" not in results.columns:
        return exact
    stored = results.loc[results["corpus_stored"] == name, "corpus"].dropna()
    return exact + sorted(set(stored) - {name})


def render(table: pd.DataFrame, fmt: str, *, corpus: str | None = None) -> str:
    """The table as text: "md" (title, explanation, table, provenance footnotes), "csv", "json".

    CSV and JSON hold numbers (:func:`records_frame`; JSON: a list of objects, CSV: lists
    such as ``run_ids`` joined by spaces). ``corpus`` names the markdown title; by default
    it is the one :func:`build_tables` stored in ``table.attrs``.
    """
    if fmt == "md":
        from bench.report.markdown import markdown

        return markdown(table, corpus or table.attrs.get("corpus"))
    if fmt == "csv":
        frame = records_frame(table, join_lists=True)
        # text a spreadsheet would run as a formula is neutralised; object cells keep an
        # integer column with gaps as integers
        cells = [[csv_cell(value) for value in row] for row in frame.itertuples(index=False)]
        return pd.DataFrame(cells, columns=frame.columns, dtype=object).to_csv(index=False)
    if fmt == "json":
        records = records_frame(table).to_dict(orient="records")
        return json.dumps(records, ensure_ascii=False, indent=2) + "\n"
    raise BenchError(f"unknown leaderboard format {fmt!r}; expected one of {', '.join(FORMATS)}")


# File stems of the HTML site's own pages (index.html, run-<id>.html), which no corpus's
# page may take
_RESERVED_STEM = re.compile(r"index|run-\d+")
_HASHED_STEM = re.compile(r".*-[0-9a-f]{12}")


def corpus_file_stem(corpus: str) -> str:
    """The name a corpus's files take (table, plots, HTML page). Corpus names are
    plugin-provided or come from imported runs: keep them from escaping the output folder,
    and give distinct corpora distinct names, also on a case-insensitive file system. A
    name that is already a plain lower-case file name is kept ("ptb", "wikitext-2",
    "a_b"); any other ("a b", "PTB", "index", "run-1") gets a hash of the name after it
    ("a_b-5d2c…"), so "a b" and "a_b" never share a file and no corpus overwrites the
    site's own pages."""
    plain = re.sub(r"[^A-Za-z0-9._-]+", "_", corpus).strip(".")
    if (
        plain
        and plain == corpus
        and plain == plain.lower()
        and not _RESERVED_STEM.fullmatch(plain)
        and not _HASHED_STEM.fullmatch(plain)  # the form of a hashed name: never taken as is
    ):
        return plain
    digest = hashlib.sha256(corpus.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{plain.lower() or 'corpus'}-{digest}"


def write_tables(tables: dict[str, pd.DataFrame], out_dir: str | Path, fmt: str) -> list[Path]:
    """Write each table to ``<out_dir>/<corpus>.<ext>``; return the paths written."""
    if fmt not in FORMATS:
        raise BenchError(
            f"unknown leaderboard format {fmt!r}; expected one of {', '.join(FORMATS)}"
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for corpus, table in tables.items():
        path = out / f"{corpus_file_stem(corpus)}.{fmt}"
        # a file or link already there is replaced, never written through
        write_atomically(path, render(table, fmt, corpus=corpus).encode("utf-8"))
        paths.append(path)
    return paths
