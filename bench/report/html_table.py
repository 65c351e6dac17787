"""A corpus's leaderboard table as HTML that fits a laptop screen.

The display table (:func:`bench.report.leaderboard.build_tables`) has ~20 columns; shown
whole it is several screens wide. Here each row keeps the columns a reader ranks by
(model, parameters, perplexities, the paper's figure beside bench's, speed, year, run),
and what makes it trustworthy (command, scoring protocol, device, options, citation,
caveats) is folded into the row: the model's name opens it. Rows carry their kind and
model family as data attributes, which the page's filters read; on a phone the columns
marked ``wide`` are hidden by the stylesheet.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

import pandas as pd

from bench.report.families import COLOURS, model_family

# (header, class): "num" right-aligns figures, "wide" hides the column on a phone
SHOWN = [
    ("model", "name"),
    ("params", "num"),
    ("test ppl", "num"),
    ("valid ppl", "num wide"),
    ("vs paper (test)", "num wide"),
    ("bits/char (test)", "num"),
    ("bits/byte (test)", "num wide"),
    ("train tok/s", "num wide"),
    ("year", "num wide"),
    ("run", "num"),
]


def run_page_name(run_id: int) -> str:
    return f"run-{int(run_id)}.html"


def _run_links(cell: str) -> str:
    ids = [part.strip() for part in str(cell).split(",") if part.strip()]
    if not all(i.isdigit() for i in ids):
        return escape(str(cell))
    return ", ".join(f'<a href="{run_page_name(int(i))}">{i}</a>' for i in ids)


def _figure(text: str) -> str:
    """ "113.16 [109.4, 117.0]" as the figure with its interval in small print below it
    (a space first, so the cell's text still reads "113.16 [109.4, 117.0]")."""
    head, space, rest = str(text).partition(" ")
    if not space:
        return escape(head)
    return f'{escape(head)} <span class="spread">{escape(rest)}</span>'


def _short_params(text: str) -> str:
    """ "2M (estimate, Merity et al. 2016 Table 2)" -> "2M (est.)": the rest is in the details."""
    head, _, rest = str(text).partition(" (")
    return f"{head} (est.)" if "estimate" in rest else head


def _facts(pairs: list[tuple[str, str]]) -> str:
    items = "".join(f"<dt>{escape(name)}</dt><dd>{value}</dd>" for name, value in pairs if value)
    return f"<dl>{items}</dl>"


def _measured_details(row: pd.Series, runs: Mapping[str, Mapping[str, Any]]) -> str:
    members = [runs.get(i.strip(), {}) for i in str(row["run"]).split(",")]
    commands = dict.fromkeys(m["command"] for m in members if m.get("command"))
    first = members[0] if members else {}
    return _facts(
        [
            ("reproduces", escape(row.get("reproduces", ""))),
            ("options", escape(row.get("options", ""))),
            ("tokenizer", escape(row.get("tokenizer", ""))),
            ("test scored", escape(row.get("protocol", ""))),
            ("word ppl (test)", escape(row.get("word ppl (test)", ""))),
            ("OOV (test)", escape(row.get("OOV (test)", ""))),
            ("device", escape(row.get("device", ""))),
            ("date", escape(row.get("date", ""))),
            ("command", "<br>".join(f"<code>{escape(c)}</code>" for c in commands)),
            ("config", escape(str(first.get("config_hash") or "")[:12])),
            ("git", escape(str(first.get("git_commit") or "")[:12])),
            ("notes", escape(row.get("notes", ""))),
        ]
    )


def _reference_details(row: pd.Series, year: Any) -> str:
    return _facts(
        [
            ("citation", escape(row.get("citation", ""))),
            ("year", escape(str(year or ""))),
            ("params", escape(row.get("params", ""))),
            ("notes", escape(row.get("notes", ""))),
        ]
    )


def _row(row: pd.Series, record: Mapping[str, Any], runs: Mapping, columns: list[str]) -> str:
    kind = str(row.get("kind", ""))
    family = model_family(str(row.get("model", "")), str(row.get("plugin", "")))
    measured = kind == "measured"
    details = (
        _measured_details(row, runs) if measured else _reference_details(row, record.get("year"))
    )
    badge = '<span class="badge">bench</span>' if measured else ""
    name = (
        f'<details><summary><i class="dot" style="background:{COLOURS[family]}" '
        f'title="{escape(family)}"></i>{escape(str(row.get("model", "")))}{badge}</summary>'
        f"{details}</details>"
    )
    year = "" if measured else str(record.get("year") or "")  # a run's date is in its details
    cells = []
    for header, css in SHOWN:
        if header not in columns:
            continue
        text = str(row.get(header, ""))
        if header == "model":
            inner = name
        elif header == "run":
            inner = _run_links(text)
        elif header == "year":
            inner = escape(year)
        elif header == "params":
            inner = escape(_short_params(text))
        elif header in ("test ppl", "valid ppl"):
            inner = _figure(text)
        else:
            inner = escape(text)
        cells.append(f'<td class="{css}">{inner}</td>')
    return (
        f'<tr class="{escape(kind)}" data-kind="{escape(kind)}" '
        f'data-family="{escape(family)}">{"".join(cells)}</tr>'
    )


def table_html(table: pd.DataFrame) -> str:
    """The table's rows under headers a script sorts, details folded into each row; a
    column left out where no row has a value; run ids link to their pages."""
    records = table.attrs.get("records") or [{} for _ in range(len(table))]
    runs = {str(r["run"]): r for r in table.attrs.get("runs", [])}
    years = [str(r.get("year") or "") for r in records]
    columns = [
        header
        for header, _ in SHOWN
        if header == "model"
        or (header == "year" and any(years))
        or (header in table.columns and (table[header].astype(str) != "").any())
    ]
    head = "".join(
        f'<th data-column="{escape(h)}" class="{css}">{escape(h)}</th>'
        for h, css in SHOWN
        if h in columns
    )
    rows = [
        _row(row, record, runs, columns)
        for (_, row), record in zip(table.iterrows(), records, strict=True)
    ]
    return (
        '<div class="scroll"><table class="sortable" id="leaderboard">\n'
        f"<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody></table></div>"
    )


def filters_html(table: pd.DataFrame) -> str:
    """The kind and family filters above the table (the page's script acts on them)."""
    families = sorted(
        {model_family(str(m), str(p)) for m, p in zip(table["model"], table["plugin"], strict=True)}
    )
    options = "".join(f'<option value="{escape(f)}">{escape(f)}</option>' for f in families)
    return (
        '<div class="filters">'
        '<label>show <select id="kind-filter"><option value="">all rows</option>'
        '<option value="measured">measured by bench</option>'
        '<option value="reference">published</option></select></label> '
        f'<label>family <select id="family-filter"><option value="">all</option>{options}'
        '</select></label> <span id="shown-count" class="muted"></span></div>'
    )
