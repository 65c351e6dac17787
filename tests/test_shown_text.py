"""Text from someone else's runs (labels, corpus names, commands, errors) is shown as text:
plots draw it without mathtext, markdown and CSV escape it, terminals never get its
control characters, and the files written from it replace what is in the output folder
(never writing through a link) under names that never collide."""

from __future__ import annotations

import io
import math
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from bench.api.model import EvalProtocol
from bench.cli import cli
from bench.probes.gradients import GradientNorms
from bench.probes.report import plot_gradient_norms
from bench.report.html_site import write_site
from bench.report.leaderboard import build_tables, corpus_file_stem, render, write_tables
from bench.report.plots import corpus_figures, write_corpus_plots
from bench.report.published import PUBLISHED_COLUMNS
from bench.report.shown_text import csv_cell, for_terminal, markdown_code, markdown_text
from bench.report.training_curves import RunCurves, curves_figure
from bench.scoring.exactly_once import Evaluation
from bench.scoring.metrics import SplitMetrics
from bench.store import Store
from bench.tokenization.tokens import UnitCounts

NO_PUBLISHED = pd.DataFrame(columns=PUBLISHED_COLUMNS)
MATHTEXT_LABELS = ["cost $\\frac{1$", "$5 and $10"]


def add_run(store: Store, *, corpus: str, label: str, command: str = "bench run", **fields) -> int:
    run_id = store.create_run(
        plugin="lstm", model_label=label, corpus=corpus, command=command, **fields
    )
    counts = UnitCounts(tokens=1000, words=1000, bytes=6000, lines=40)
    store.add_evaluation(
        run_id,
        Evaluation(
            split="test",
            counts=counts,
            protocol=EvalProtocol("stream", 10, 35),
            metrics=SplitMetrics.compute(1000 * math.log(100.0), counts),
            seconds=2.0,
        ),
    )
    store.finish_run(run_id, "finished", train_tokens_per_second=5000.0)
    return run_id


def assert_drawn_as_text(figure, labels: list[str]) -> None:
    figure.savefig(io.BytesIO(), format="png")  # mathtext that does not parse raises here
    texts = figure.findobj(lambda artist: hasattr(artist, "get_parse_math"))
    for label in labels:
        holding = [t for t in texts if label in t.get_text()]
        assert holding and not any(t.get_parse_math() for t in holding), label


def test_leaderboard_plots_draw_labels_with_dollars_as_text(tmp_path: Path) -> None:
    with Store(f"sqlite:///{tmp_path / 'bench.db'}") as store:
        for number, label in enumerate(MATHTEXT_LABELS):
            add_run(store, corpus="c $x$", label=label, params=1000 * (number + 1))
        results = store.results_frame()
    tables = build_tables(results, NO_PUBLISHED, corpora=["c $x$"])
    figures = corpus_figures(tables["c $x$"], results)
    assert set(figures) == {"params", "speed"}
    for figure in figures.values():
        assert_drawn_as_text(figure, MATHTEXT_LABELS + ["c $x$"])


def test_training_curves_and_the_probe_plot_draw_labels_as_text(tmp_path: Path) -> None:
    curves = [
        RunCurves(run_id=i, label=label, corpus="c", series={"lr": ([1.0, 2.0], [0.1, 0.2])})
        for i, label in enumerate(MATHTEXT_LABELS)
    ]
    assert_drawn_as_text(curves_figure(curves, title="$title", x_axis="steps"), MATHTEXT_LABELS)

    norms = GradientNorms(
        distances=np.arange(1, 4), hidden=np.ones(3), cell=None, positions=np.arange(3)
    )
    path = plot_gradient_norms(
        [(label, norms) for label in MATHTEXT_LABELS], tmp_path / "probe.png", title="a $b"
    )
    assert path.read_bytes().startswith(b"\x89PNG")


def test_markdown_text_escapes_html_line_breaks_and_links() -> None:
    shown = markdown_text("<script>alert(1)</script><img src=x onerror=y> a|b\r[x](http://e)")
    assert "<" not in shown.replace("\\<", "") and ">" not in shown.replace("\\>", "")
    assert "\\|" in shown and "](" not in shown.replace("\\](", "")
    for breaker in "\n\r\u2028\u2029\x85\v\f":
        assert markdown_text(f"a{breaker}# b").splitlines() == ["a \\# b"]
    assert markdown_text("113.2 [112.0, 114.3]") == "113.2 [112.0, 114.3]"  # stays readable


def test_markdown_code_is_one_span_whatever_backticks_it_holds() -> None:
    assert markdown_code("bench run") == "`bench run`"
    assert markdown_code("a `b` c") == "`` a `b` c ``"
    assert markdown_code("x ``y`` z") == "``` x ``y`` z ```"
    assert markdown_code("a\nb") == "`a b`"


def test_the_markdown_leaderboard_shows_crafted_labels_as_text(tmp_path: Path) -> None:
    corpus = "ptb\n# Hacked\n<script>alert(1)</script>"
    with Store(f"sqlite:///{tmp_path / 'bench.db'}") as store:
        add_run(
            store,
            corpus=corpus,
            label="<img src=x onerror=alert(1)>\rsecond\u2028third",
            command="bench run --label 'a `b`'",
            key_options="<b>bold</b>",
        )
        results = store.results_frame()
    table = build_tables(results, NO_PUBLISHED, corpora=[corpus])[corpus]
    text = render(table, "md", corpus=corpus)
    lines = text.splitlines()
    assert lines[0].startswith("# Perplexity on ptb \\# Hacked \\<script\\>")
    assert [line for line in lines if line.startswith("#")][1:] == ["## Measured by bench"]
    assert "<script" not in text.replace("\\<script", "")
    assert "<img" not in text.replace("\\<img", "") and "<b>" not in text
    assert text.splitlines() == text.rstrip("\n").split("\n")  # no U+2028 or lone \r
    (row,) = [line for line in lines if line.startswith("|") and "second" in line]
    assert "\\<img src=x onerror=alert(1)\\> second third" in row
    assert "`` bench run --label 'a `b`' ``" in " ".join(text.split())


def test_csv_cells_that_look_like_formulas_are_neutralised(tmp_path: Path) -> None:
    assert csv_cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert [csv_cell(v) for v in ("+1+1", "-x", "@SUM(A1)", "\tx")] == [
        "'+1+1",
        "'-x",
        "'@SUM(A1)",
        "'\tx",
    ]
    assert [csv_cell(v) for v in (-1.5, "-1.5", "lstm", None, 3)] == [-1.5, "-1.5", "lstm", None, 3]
    with Store(f"sqlite:///{tmp_path / 'bench.db'}") as store:
        add_run(store, corpus="ptb", label="=cmd|'/c calc'!A0", key_options="@x")
        results = store.results_frame()
    table = build_tables(results, NO_PUBLISHED, corpora=["ptb"])["ptb"]
    frame = pd.read_csv(io.StringIO(render(table, "csv")))
    row = frame.iloc[0]
    assert row["model"] == "'=cmd|'/c calc'!A0" and row["options"] == "'@x"
    assert row["test_ppl"] == pytest.approx(100.0)


@pytest.mark.parametrize(
    "raw",
    [
        "\x1b[2J\x1b[H",  # clear the screen
        "\x1b]0;title\x07",  # window title (OSC)
        "\x1b]52;c;ZXZpbA==\x1b\\",  # clipboard (OSC 52)
        "\x9b31m",  # CSI as one C1 byte
        "a\rb",
        "a\u2028b",
        "\u202eevil",  # bidi override
    ],
)
def test_for_terminal_leaves_no_control_character(raw: str) -> None:
    shown = for_terminal(raw)
    assert shown.isprintable(), repr(shown)
    assert for_terminal("a\nb", keep_newlines=True) == "a\nb"
    assert for_terminal("a\nb") == "a\\nb"


HOSTILE = "\x1b[2J\x1b]0;owned\x07\x1b]52;c;ZXZpbA==\x1b\\\x9b31m\u202e"


def test_runs_show_and_delete_print_no_control_character(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'bench.db'}"
    with Store(db) as store:
        run_id = add_run(
            store,
            corpus=f"ptb{HOSTILE}",
            label=f"lstm{HOSTILE}",
            command=f"bench run {HOSTILE}",
            config={"options": {f"k{HOSTILE}": f"v{HOSTILE}"}},
        )
        failed = store.create_run(plugin="lstm", model_label=f"x{HOSTILE}", corpus="ptb")
        store.finish_run(failed, "failed", error=f"RuntimeError: boom{HOSTILE}\n\ntraceback")
    env = {"BENCH_DB": db, "BENCH_DATA_DIR": str(tmp_path / "data"), "BENCH_PLUGINS": None}
    outputs = []
    for args, reply in (
        (["runs"], None),
        (["show", str(run_id)], None),
        (["show", str(failed)], None),
        (["show", str(run_id), "--json"], None),
        (["delete", str(run_id)], "n\n"),
        (
            ["plot", str(run_id), "-o", str(tmp_path / "p.png")],
            None,
        ),  # an Error: line that names the run's label
        (["leaderboard", "--corpus", f"ptb{HOSTILE}", "--format", "csv"], None),
        (["leaderboard", "--corpus", f"ptb{HOSTILE}", "--format", "json"], None),
    ):
        result = CliRunner().invoke(cli, args, env=env, input=reply)
        outputs.append(result.output)
        assert "lstm" in result.output or "boom" in result.output, (args, result.output)
    for output in outputs:
        shown = output.replace("\n", "")
        assert shown.isprintable(), repr(output)
    assert "owned" in outputs[0] and "\\x1b" in outputs[0]


def test_corpus_file_stems_are_distinct_and_never_the_sites_own_pages() -> None:
    names = ["ptb", "wikitext-2", "a_b", "a b", "a/b", "PTB", "index", "run-1", "Index", "..", ""]
    stems = [corpus_file_stem(name) for name in names]
    assert stems[:3] == ["ptb", "wikitext-2", "a_b"]  # plain names are kept
    assert len({stem.casefold() for stem in stems}) == len(names)  # also on macOS/Windows
    for stem in stems:
        assert re.fullmatch(r"[a-z0-9_-][a-z0-9._-]*", stem), stem
        assert stem not in {"index", "run-1"}
    # a corpus named like a hashed stem cannot take that stem from the name it belongs to
    assert corpus_file_stem(corpus_file_stem("a b")) != corpus_file_stem("a b")


def crafted_store(tmp_path: Path, corpora: list[str]) -> tuple[Store, pd.DataFrame]:
    store = Store(f"sqlite:///{tmp_path / 'bench.db'}")
    for number, corpus in enumerate(corpora):
        add_run(store, corpus=corpus, label=f"model {number}", params=1000 * (number + 1))
    return store, store.results_frame()


def test_out_and_html_replace_links_in_the_folder_instead_of_writing_through(
    tmp_path: Path,
) -> None:
    victim = tmp_path / "bashrc"
    victim.write_text("precious\n")
    store, results = crafted_store(tmp_path, ["ptb"])
    tables = build_tables(results, NO_PUBLISHED, corpora=["ptb"])
    out, html = tmp_path / "boards", tmp_path / "site"
    links = [out / "ptb.md", out / "ptb-params.png", html / "index.html", html / "ptb.html"]
    links += [html / "run-1.html", html / "ptb-speed.png"]
    for link in links:
        link.parent.mkdir(exist_ok=True)
        link.symlink_to(victim)
    write_corpus_plots(tables, results, out)
    write_tables(tables, out, "md")
    write_site(tables, results, store, html)
    assert victim.read_text() == "precious\n"
    for path in links:
        assert path.is_file() and not path.is_symlink(), path
    assert (out / "ptb.md").read_text().startswith("# Perplexity on ptb")
    assert not [p for p in [*out.iterdir(), *html.iterdir()] if p.name.endswith(".tmp")]


def test_corpora_named_like_site_pages_or_alike_get_pages_of_their_own(tmp_path: Path) -> None:
    corpora = ["index", "run-1", "a b", "a_b"]
    store, results = crafted_store(tmp_path, corpora)
    tables = build_tables(results, NO_PUBLISHED, corpora=corpora)
    pages = write_site(tables, results, store, tmp_path / "site")
    names = [page.name for page in pages]
    assert len(set(names)) == len(names) == 1 + 2 * len(corpora)  # index, corpora, runs
    assert "<h1>Perplexity leaderboards</h1>" in (tmp_path / "site" / "index.html").read_text()
    assert "<h1>Run 2: model 1</h1>" in (tmp_path / "site" / "run-2.html").read_text()
    written = write_tables(tables, tmp_path / "boards", "md")
    assert len({path.name for path in written}) == len(corpora)


class Tags(HTMLParser):
    """Every start tag of a page with its attributes, and the text of its scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)


INJECTED = '"><img src=x onerror=alert(1)><script>alert(2)</script>'


def test_the_html_site_shows_crafted_text_as_text(tmp_path: Path) -> None:
    """Each field the site shows holds markup that breaks out of text and of attributes;
    not one tag or event handler of it may reach a page (removing the site's escaping, in
    any of the places that show stored text, fails this)."""
    store = Store(f"sqlite:///{tmp_path / 'bench.db'}")
    corpus = f"c{INJECTED}"
    add_run(
        store,
        corpus=corpus,
        label=f"m{INJECTED}",
        command=f"bench run {INJECTED}",
        config={"options": {"note": INJECTED}},
        environment={"host": INJECTED},
        device_name=INJECTED,
        key_options=INJECTED,
    )
    published = pd.DataFrame(
        [
            dict.fromkeys(PUBLISHED_COLUMNS, "")
            | {"corpus": corpus, "model": f"p{INJECTED}", "test_ppl": "80", "citation": INJECTED}
        ]
    )
    results = store.results_frame()
    tables = build_tables(results, published, corpora=[corpus])
    pages = write_site(tables, results, store, tmp_path / "site")
    assert len(pages) == 3  # the index, the corpus's page, the run's page
    for page in pages:
        text = page.read_text()
        parser = Tags()
        parser.feed(text)
        injected = [tag for tag, attrs in parser.tags if attrs.get("src") == "x"]
        assert not injected, page.name
        handlers = [name for _, attrs in parser.tags for name in attrs if name.startswith("on")]
        assert not handlers, (page.name, handlers)
        assert not any("alert" in script for script in parser.scripts), page.name
        assert "&lt;img src=x onerror=alert(1)&gt;" in text, page.name  # shown, as text
