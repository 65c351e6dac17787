"""A leaderboard table as markdown a newcomer can read: two compact tables, details below.

The full display table (:func:`bench.report.leaderboard.build_tables`) has ~20 columns; as one
markdown table its lines run to several hundred characters. Here measured runs and
published figures get a table each with only the columns a reader compares (model,
parameters, valid, test, speed, device, run), every line at most 180 characters, and
what makes a row reproducible or trustworthy (command, options, scoring protocol,
citation, caveats) goes into numbered notes under the tables.

A "test" cell is free text, so it can carry an interval or a mean over seeds
("113.4 ± 0.3 (n=3)") without changing the layout. A run that reproduces a published row
shows the paper's figure beside its own ("114.5 → 113.16, −1.2%"). When the measured table
would be wider than 180 characters, long model names are shortened and columns whose
values the notes repeat (device, OOV counts, the comparison with the paper) give way.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from typing import Any

import pandas as pd

from bench.report.shown_text import markdown_code, markdown_text
from bench.scoring.seeds import other_seeds

MEASURED_COLUMNS = [
    "model",
    "params",
    "valid ppl",
    "test ppl",
    "vs paper (test)",
    "OOV (test)",
    "test ppl w/o OOV",
    "word ppl (test)",
    "bits/byte (test)",
    "bits/char (test)",
    "train tok/s",
    "device",
    "run",
]
# shown on the tables of character and byte corpora (bench.report.bits_per_unit)
BITS_COLUMNS = ("bits/char (test)", "bits/byte (test)")
RIGHT_ALIGNED = set(MEASURED_COLUMNS) - {"model", "device"}  # the figures
MAX_MODEL_CHARS = 60
MAX_LINE = 180


def _wrapped(note: str, indent: str) -> str:
    """A note as lines of at most 180 characters (markdown joins them again)."""
    return textwrap.fill(
        note,
        width=MAX_LINE,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )


def _short(text: str, limit: int = MAX_MODEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _short_params(text: str) -> str:
    """ "2M (estimate, Merity et al. 2016 Table 2)" -> "2M (estimate)"; the rest is in the note."""
    head, _, rest = str(text).partition(" (")
    return f"{head} (estimate)" if "estimate" in rest else head


def _grid(frame: pd.DataFrame) -> str:
    cells = frame.astype(str).map(markdown_text)
    align = ["right" if c in RIGHT_ALIGNED else "left" for c in cells.columns]
    return cells.to_markdown(index=False, disable_numparse=True, colalign=align)


def _width(frame: pd.DataFrame) -> int:
    # counted in UTF-8 bytes, not characters: "±", "→" and "…" take two or three, and tools
    # that measure line length in bytes must also find every line within MAX_LINE
    return max(len(line.encode("utf-8")) for line in _grid(frame).splitlines())


def _model_width(limit: int) -> Any:
    return lambda frame: frame.assign(model=frame["model"].map(lambda m: _short(m, limit)))


def _drop(*columns: str) -> Any:
    return lambda frame: frame.drop(columns=list(columns), errors="ignore")


# What gives way, in this order, while the measured table is wider than MAX_LINE; what a
# dropped column said is in each run's note as well.
NARROWING = (
    _model_width(40),
    _drop("device"),
    _drop("OOV (test)", "test ppl w/o OOV"),
    _model_width(30),
    _drop("vs paper (test)"),
)


def _fit(shown: pd.DataFrame) -> pd.DataFrame:
    for narrower in NARROWING:
        if _width(shown) <= MAX_LINE:
            break
        shown = narrower(shown)
    return shown


def _oov_note(row: pd.Series) -> str:
    if not row.get("test ppl w/o OOV"):
        return ""
    return f"test text: {row['OOV (test)']} OOV tokens, ppl {row['test ppl w/o OOV']} without them"


def _commands(commands: list[str]) -> str:
    """The commands of a row's runs: one, and the other seeds where they differ only in
    ``--seed``; else each in full."""
    if not commands:
        return "(command not recorded)"
    seeds = other_seeds(commands)
    if seeds:
        others = ", ".join(markdown_code(f"--seed {seed}") for seed in seeds)
        return f"{markdown_code(commands[0])} (and the same with {others})"
    return " or ".join(markdown_code(command) for command in commands)


def _measured(table: pd.DataFrame, runs: Iterable[dict[str, Any]]) -> list[str]:
    rows = table[table["kind"] == "measured"]
    if rows.empty:
        return []
    ranking = table.attrs.get("ranking")
    order = MEASURED_COLUMNS
    if ranking is not None and ranking.across_tokenizers:  # the shared unit first
        order = ["model", "tokenizer", ranking.shown, *MEASURED_COLUMNS[1:]]
    columns = [c for c in dict.fromkeys(order) if c in rows.columns and (rows[c] != "").any()]
    shown = rows[columns].copy()
    shown["model"] = shown["model"].map(_short)
    by_run = {str(r["run"]): r for r in runs}
    notes = []
    for _, row in rows.iterrows():
        # a seed group's row names its member runs ("3, 4, 5"): each has its own command
        members = [by_run.get(run_id, {}) for run_id in str(row["run"]).split(", ")]
        run = members[0]
        command = _commands(list(dict.fromkeys(m["command"] for m in members if m.get("command"))))
        details = [
            f"options {row['options']}" if row.get("options") else "",
            f"test scored {row['protocol']}" if row.get("protocol") else "",
            f"reproduces {row['reproduces']}; test ppl paper → bench: {row['vs paper (test)']}"
            if row.get("reproduces")
            else "",
            _oov_note(row),
            run.get("device") or "",
            run.get("date") or "",
            f"config {str(run['config_hash'])[:12]}" if run.get("config_hash") else "",
            f"git {str(run['git_commit'])[:12]}" if run.get("git_commit") else "",
            row.get("notes") or "",
        ]
        label = "runs" if len(members) > 1 else "run"
        shown_details = "; ".join(markdown_text(d) for d in details if d)
        notes.append(
            _wrapped(f"- {label} {markdown_text(row['run'])}: {command}; {shown_details}", "  ")
        )
    explained = []
    if "vs paper (test)" in shown.columns:
        explained += [
            '"vs paper": the published test ppl the recipe of the run reproduces → bench\'s,',
            "and how far bench's is from it.",
        ]
    if "OOV (test)" in shown.columns:
        explained += [
            '"OOV": test tokens outside the run\'s vocabulary; "w/o OOV": the perplexity of',
            "the other tokens.",
        ]
    if ranking is not None and ranking.describe():  # a paragraph of its own
        explained += ([""] if explained else []) + textwrap.wrap(ranking.describe(), 80)
    explained += [""] if explained else []
    return [
        "## Measured by bench",
        "",
        *explained,
        _grid(_fit(shown)),
        "",
        "Each run, with the exact command that reproduces it:",
        "",
        *notes,
    ]


def _reference(table: pd.DataFrame) -> list[str]:
    rows = table[table["kind"] == "reference"]
    if rows.empty:
        return []
    bits = [c for c in BITS_COLUMNS if c in rows.columns and (rows[c] != "").any()]
    shown = rows[["model", "params", "valid ppl", "test ppl", *bits]].copy()
    shown["model"] = shown["model"].map(_short)
    shown["params"] = shown["params"].map(_short_params)
    notes, sources = [], []
    for number, (_, row) in enumerate(rows.iterrows(), start=1):
        caveat = str(row.get("notes") or "")
        unconfirmed = "unconfirmed" in caveat.lower()
        sources.append(f"[{number}]" + (" unconfirmed" if unconfirmed else ""))
        note = f"{row['model']}: {row['citation']}" + (f". {caveat}" if caveat else "")
        notes.append(_wrapped(f"{number}. {markdown_text(note)}", "   "))
    shown["source"] = sources
    return [
        "## Published (quoted with citations, not re-measured by bench)",
        "",
        _grid(shown),
        "",
        *notes,
    ]


def _bits_note(published: pd.DataFrame) -> list[str]:
    """On a character or byte corpus: what its published figures count."""
    for column, unit in zip(BITS_COLUMNS, ("character", "byte"), strict=True):
        if column in published.columns and (published[column] != "").any():
            return [
                f"Papers report this corpus in bits per {unit}; a published test ppl is the",
                f"perplexity per {unit}, 2 to those bits ({column}).",
                "",
            ]
    return []


def markdown(table: pd.DataFrame, corpus: str | None) -> str:
    """Title, a short explanation, the measured and the published table, numbered notes."""
    lines = [
        f"# Perplexity on {markdown_text(corpus)}" if corpus else "# Perplexity",
        "",
        "ppl is per token of the run's own tokenizer; for tokens that are not words,",
        "word ppl divides the same log-likelihood by words (plus one end-of-sentence",
        "per line) and bits/byte compares across tokenizers. A run's scoring protocol",
        "(stream, sentence or window; batch, context, stride) is in its note: it is",
        'the usual reason a figure differs from a paper\'s. "unconfirmed": the figure',
        "could not be checked against the paper itself.",
        "",
    ]
    lines += _bits_note(table[table["kind"] == "reference"])
    measured = _measured(table, table.attrs.get("runs", []))
    reference = _reference(table)
    if measured:
        lines += measured + [""]
    if reference:
        lines += reference + [""]
    # (caption, relative file) pairs that bench.report.plots.write_corpus_plots wrote beside the file
    figures = table.attrs.get("figures") or []
    if figures:
        lines += ["## Plots", ""]
        for caption, name in figures:
            lines += [f"![{markdown_text(caption)}]({name})", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


HEADLINE_COLUMNS = [
    "corpus",
    "model",
    "params",
    "valid ppl",
    "test ppl",
    "vs paper (test)",
    "train tok/s",
    "device",
    "run",
]


def headline(tables: dict[str, pd.DataFrame]) -> str:
    """One short markdown table of every measured run, all corpora together (for a README):
    the best first within each corpus. Where a corpus's runs tokenize it differently, each
    row names its tokenizer and the shared unit its corpus is ranked by."""
    rows = []
    mixed = False
    for corpus, table in tables.items():
        measured = table[table["kind"] == "measured"]
        ranking = table.attrs.get("ranking")
        across = ranking is not None and ranking.across_tokenizers
        mixed = mixed or across
        for _, row in measured.iterrows():
            cells = {c: row.get(c, "") for c in HEADLINE_COLUMNS[1:]}
            cells["ranked by"] = f"{ranking.shown} {row.get(ranking.shown, '')}" if across else ""
            rows.append({"corpus": corpus, "tokenizer": row.get("tokenizer", ""), **cells})
    columns = HEADLINE_COLUMNS[:2] + (["tokenizer", "ranked by"] if mixed else [])
    frame = pd.DataFrame(rows, columns=columns + HEADLINE_COLUMNS[2:], dtype=str).fillna("")
    frame["model"] = frame["model"].map(_short)
    if not (frame["vs paper (test)"] != "").any():  # no run reproduces a published row
        frame = frame.drop(columns="vs paper (test)")
    # narrowed as the corpus tables are: what gives way is in those tables' run notes
    return _grid(_fit(frame)) + "\n"
