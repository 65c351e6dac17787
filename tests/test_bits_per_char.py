"""The tables of character and byte corpora (ptb-char, text8, enwik8) show bits per
character or per byte, for published rows (log2 of the stored 2^bpc) and measured runs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from bench import CorpusSpec, SplitFile
from bench.cli import cli
from bench.report.bits_per_unit import FiguresPer
from bench.report.html_table import table_html
from bench.report.leaderboard import build_tables, render
from bench.report.published import load_published
from bench.store import Store
from tests.test_leaderboard import add_run

FIGURES_PER = {
    "ptb-char": FiguresPer("character", "word"),
    "text8": FiguresPer("character", "char"),
    "enwik8": FiguresPer("byte", "char"),
}


@pytest.fixture
def tables(tmp_path: Path) -> dict[str, pd.DataFrame]:
    with Store(f"sqlite:///{tmp_path / 'bench.db'}") as store:
        # ptb-char's 'word' tokens are its characters; a text8 run with a subword tokenizer
        # has tokens that are not characters, so its bits per token are no bpc
        add_run(store, corpus="ptb-char", label="char LSTM", valid=None, test=2.5, tokenizer="word")
        add_run(store, corpus="text8", label="char run", valid=None, test=2.0, tokenizer="char")
        add_run(store, corpus="text8", label="bpe run", valid=None, test=30.0, tokenizer="bpe")
        add_run(store, corpus="ptb", label="word LSTM", valid=None, test=80.0, tokenizer="word")
        results = store.results_frame()
    return build_tables(results, load_published(), figures_per=FIGURES_PER)


def _by_model(table: pd.DataFrame, column: str) -> dict[str, str]:
    return dict(zip(table["model"], table[column], strict=True))


def test_published_rows_show_bits_per_character(tables) -> None:
    text8 = _by_model(tables["text8"], "bits/char (test)")
    assert text8["Transformer-XL"] == "1.080"  # stored as 2^1.08 = 2.114
    assert (
        _by_model(tables["ptb-char"], "bits/char (test)")["AWD-LSTM (3-layer, character level)"]
        == f"{math.log2(2.258):.3f}"
    )


def test_measured_runs_show_bits_per_character_only_where_tokens_are_characters(tables):
    text8 = _by_model(tables["text8"], "bits/char (test)")
    assert text8["char run"] == "1.000"  # ppl 2 per character is 1 bit
    assert text8["bpe run"] == ""
    assert _by_model(tables["ptb-char"], "bits/char (test)")["char LSTM"] == "1.322"


def test_enwik8_shows_bits_per_byte_for_published_rows(tables) -> None:
    enwik8 = _by_model(tables["enwik8"], "bits/byte (test)")
    assert enwik8["Transformer-XL (24 layers)"] == "0.990"
    assert "bits/char (test)" not in tables["enwik8"].columns


def test_word_corpora_have_no_bits_per_character_column(tables) -> None:
    assert "bits/char (test)" not in tables["ptb"].columns
    assert (tables["ptb"].loc[tables["ptb"]["kind"] == "reference", "bits/byte (test)"] == "").all()


def test_markdown_csv_json_and_html_show_the_bits(tables) -> None:
    text8 = tables["text8"]
    markdown = render(text8, "md")
    published = markdown.split("## Published")[1]
    assert "bits/char (test)" in published and "1.080" in published
    assert "bits/char (test)" in markdown.split("## Published")[0]
    assert "Papers report this corpus in bits per character" in markdown
    assert "in bits per byte" in render(tables["enwik8"], "md")
    records = {r["model"]: r for r in json.loads(render(text8, "json"))}
    assert records["Transformer-XL"]["test_bits_per_char"] == pytest.approx(math.log2(2.114))
    assert records["char run"]["test_bits_per_char"] == pytest.approx(1.0)
    assert records["bpe run"]["test_bits_per_char"] is None
    assert "test_bits_per_char" in render(text8, "csv").splitlines()[0]
    enwik8 = {r["model"]: r for r in json.loads(render(tables["enwik8"], "json"))}
    assert enwik8["Transformer-XL (24 layers)"]["test_bits_per_byte"] == pytest.approx(
        math.log2(1.986)
    )
    assert 'data-column="bits/char (test)"' in table_html(text8)
    assert ">1.080<" in table_html(text8)
    assert "Papers report this corpus" not in render(tables["ptb"], "md")


def test_the_registered_corpora_say_what_their_figures_count() -> None:
    runner = CliRunner()
    for corpus, header, bits in (
        ("text8", "bits/char (test)", "1.080"),
        ("ptb-char", "bits/char (test)", f"{math.log2(2.258):.3f}"),
        ("enwik8", "bits/byte (test)", "0.990"),
    ):
        shown = runner.invoke(cli, ["leaderboard", "--corpus", corpus, "--all"])
        assert shown.exit_code == 0, shown.output
        assert header in shown.output and bits in shown.output, corpus
    ptb = runner.invoke(cli, ["leaderboard", "--corpus", "ptb", "--all"]).output
    assert "bits/char" not in ptb


def test_corpus_spec_rejects_an_unknown_unit() -> None:
    with pytest.raises(ValueError, match="figures_per"):
        CorpusSpec(
            name="x",
            description="x",
            files=(SplitFile("train", "file:///x", None),),
            license="x",
            citation="x",
            figures_per="sentence",
        )
