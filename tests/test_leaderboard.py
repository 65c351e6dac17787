"""Leaderboards: measured rows from the Store beside cited reference rows, in md/csv/json."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pandas as pd
import pytest

from bench.api.model import EvalProtocol
from bench.configuration.recipes import Recipe
from bench.errors import BenchError
from bench.report.csv_json import RECORD_FIELDS
from bench.report.leaderboard import (
    build_tables,
    humanize_count,
    leading_number,
    render,
    write_tables,
)
from bench.report.published import (
    PUBLISHED_COLUMNS,
    is_plain,
    load_published,
    published_count,
    published_number,
)
from bench.scoring.exactly_once import Evaluation
from bench.scoring.metrics import SplitMetrics
from bench.store import Store
from bench.tokenization.tokens import UnitCounts


def evaluation(
    split: str, ppl: float, *, tokens: int, words: int, context: int | None = 35
) -> Evaluation:
    counts = UnitCounts(tokens=tokens, words=words, bytes=6 * words, lines=40)
    return Evaluation(
        split=split,
        counts=counts,
        protocol=EvalProtocol("stream", 10, context),
        metrics=SplitMetrics.compute(tokens * math.log(ppl), counts),
        seconds=2.0,
    )


def add_run(
    store: Store,
    *,
    corpus: str,
    label: str,
    valid: float | None,
    test: float,
    tokens: int = 1000,
    words: int = 1000,
    status: str = "finished",
    **fields,
) -> int:
    run_id = store.create_run(
        plugin="lstm",
        model_label=label,
        corpus=corpus,
        command=f"bench run lstm --corpus {corpus} --label '{label}'",
        device="cuda",
        device_name="NVIDIA H100 80GB HBM3",
        **fields,
    )
    if valid is not None:
        store.add_evaluation(run_id, evaluation("valid", valid, tokens=tokens, words=words))
    store.add_evaluation(run_id, evaluation("test", test, tokens=tokens, words=words))
    store.finish_run(
        run_id, status, error="boom" if status == "failed" else None, train_tokens_per_second=6123.4
    )
    return run_id


@pytest.fixture
def store(tmp_path: Path) -> Store:
    with Store(f"sqlite:///{tmp_path / 'bench.db'}") as s:
        add_run(
            s,
            corpus="ptb",
            label="LSTM 2x650",
            valid=86.0,
            test=82.5,
            key_options="layers=2 hidden=650 dropout=0.5",
            params=19_800_000,
            config_hash="0123456789abcdef",
            git_commit="feedbeef" * 5,
        )
        add_run(
            s,
            corpus="ptb",
            label="LSTM 2x200",
            valid=120.0,
            test=115.0,
            key_options="layers=2 hidden=200",
            params=4_650_000,
            corpus_verified=False,
        )
        add_run(s, corpus="ptb", label="broken", valid=None, test=1.0, status="failed")
        # A subword run: 1300 tokens for 1000 words, so word ppl differs from ppl.
        add_run(
            s,
            corpus="one-billion-word",
            label="BPE LSTM",
            valid=None,
            test=40.0,
            tokens=1300,
            words=1000,
            params=830_000_000,
        )
        yield s


@pytest.fixture
def tables(store: Store) -> dict[str, pd.DataFrame]:
    return build_tables(
        store.results_frame(), load_published(), corpus_aliases={"1b-word": "one-billion-word"}
    )


def test_published_table_loads_with_citations() -> None:
    published = load_published()
    assert tuple(published.columns) == PUBLISHED_COLUMNS
    assert (published["citation"] != "").all()
    gal = published[published["model"] == "Variational LSTM medium (untied)"].iloc[0]
    assert gal["valid_ppl"] == "81.9 ± 0.2"  # text, as printed in the paper
    assert "unconfirmed" in " ".join(published["notes"])  # caveats are kept


def test_measured_and_reference_rows(tables: dict[str, pd.DataFrame]) -> None:
    assert {"ptb", "wikitext-2", "wikitext-103", "one-billion-word"} <= set(tables)
    assert "1b-word" not in tables  # the alias was applied
    ptb = tables["ptb"]
    measured = ptb[ptb["kind"] == "measured"]
    reference = ptb[ptb["kind"] == "reference"]
    assert list(measured["model"]) == ["LSTM 2x650", "LSTM 2x200"]  # by test ppl
    assert "broken" not in set(ptb["model"])  # the failed run is not shown
    assert list(measured["params"]) == ["19.8M", "4.65M"]
    assert list(measured["test ppl"]) == ["82.50", "115.00"]
    assert measured.iloc[0]["protocol"] == "stream, batch 10, context 35"
    assert measured.iloc[0]["train tok/s"] == "6,123"
    assert measured.iloc[0]["device"] == "NVIDIA H100 80GB HBM3"
    assert (measured["citation"] == "").all()
    assert measured.iloc[1]["notes"] == "corpus checksums not verified"
    # Measured rows first, then references sorted by the number in their test ppl.
    assert list(ptb["kind"][:2]) == ["measured", "measured"]
    numbers = [leading_number(v) for v in reference["test ppl"]]
    assert numbers == sorted(numbers)
    zaremba = reference[reference["model"].str.startswith("LSTM small, non-regularized")].iloc[0]
    assert zaremba["citation"].startswith("Zaremba, Sutskever & Vinyals 2014")
    assert (zaremba["test ppl"], zaremba["params"]) == ("114.5", "4.65M")
    assert (reference[["run", "protocol", "train tok/s", "device", "date"]] == "").all().all()
    assert (tables["one-billion-word"]["kind"] == "reference").sum() == 15


def test_word_ppl_only_when_tokens_are_not_words(tables: dict[str, pd.DataFrame]) -> None:
    assert "word ppl (test)" not in tables["ptb"].columns  # word-level runs only
    obw = tables["one-billion-word"]
    bpe = obw[obw["kind"] == "measured"].iloc[0]
    assert bpe["test ppl"] == "40.00"
    expected = math.exp(1300 * math.log(40.0) / 1000)
    assert bpe["word ppl (test)"] == f"{expected:.2f}"
    assert "word ppl (valid)" not in obw.columns  # no run there has a valid evaluation
    assert bpe["params"] == "830M"


def test_corpora_restricts_tables(store: Store) -> None:
    tables = build_tables(
        store.results_frame(),
        load_published(),
        corpus_aliases={"1b-word": "one-billion-word"},
        corpora=["1b-word", "ptb", "no-such-corpus"],
    )
    assert list(tables) == ["one-billion-word", "ptb"]
    empty = build_tables(store.results_frame().iloc[0:0], load_published(), corpora=["ptb"])
    assert set(empty["ptb"]["kind"]) == {"reference"}


def test_render_markdown(tables: dict[str, pd.DataFrame], store: Store) -> None:
    text = render(tables["ptb"], "md")
    assert text.startswith("# Perplexity on ptb\n")
    assert "## Measured by bench" in text and "## Published" in text
    assert max(len(line) for line in text.splitlines()) <= 180
    run = store.get_run(1)
    assert f"- run 1: `{run['command']}`; options layers=2 hidden=650 dropout=0.5; " in text
    assert "NVIDIA H100 80GB HBM3" in text
    assert run["finished_at"].strftime("%Y-%m-%d") in text
    assert "config 0123456789ab" in text and "git feedbeeffeed" in text
    assert "not re-measured" in text
    assert "unconfirmed" in text  # rows whose notes say so are marked in the table
    assert "Zaremba, Sutskever & Vinyals 2014" in text
    assert render(tables["ptb"], "md", corpus="Penn Treebank").startswith(
        "# Perplexity on Penn Treebank\n"
    )


def test_render_csv_and_json_hold_numbers(tables: dict[str, pd.DataFrame]) -> None:
    ptb = tables["ptb"]
    text = render(ptb, "csv")
    assert "\nmeasured,LSTM 2x650,lstm,,layers=2 hidden=650 dropout=0.5,19800000,85.99" in text
    from_csv = pd.read_csv(io.StringIO(text), dtype={"run_ids": str})
    assert list(from_csv.columns) == RECORD_FIELDS
    assert len(from_csv) == len(ptb)
    assert list(from_csv["kind"]) == list(ptb["kind"])  # same rows, same order
    first = from_csv.iloc[0]
    assert (first["model"], first["params"]) == ("LSTM 2x650", 19_800_000)
    assert first["test_ppl"] == pytest.approx(82.5) and first["valid_ppl"] == pytest.approx(86.0)
    assert first["train_tokens_per_second"] == pytest.approx(6123.4)
    assert str(first["run_ids"]) == "1" and first["seeds_n"] == 1
    assert from_csv["test_ppl"].dtype == float and from_csv["params"].dtype == float  # NaN gaps

    records = json.loads(render(ptb, "json"))
    assert len(records) == len(ptb) and list(records[0]) == RECORD_FIELDS
    assert records[0]["params"] == 19_800_000 and records[0]["run_ids"] == [1]
    assert records[0]["test_ppl"] == pytest.approx(82.5)
    assert records[0]["citation"] is None and records[0]["kind"] == "measured"
    # a published cell that is more than a number: the number, and the text in the notes
    gal = next(r for r in records if r["model"] == "Variational LSTM medium (untied)")
    assert (gal["kind"], gal["valid_ppl"], gal["test_ppl"]) == ("reference", 81.9, 79.7)
    assert gal["params"] == 20_000_000 and gal["year"] == 2016
    assert "as printed: valid ppl 81.9 ± 0.2; test ppl 79.7 ± 0.1" in gal["notes"]
    kn5 = next(r for r in records if r["model"].startswith("KN5 (interpolated"))
    assert kn5["params"] == 2_000_000 and "params 2M (estimate" in kn5["notes"]
    zaremba = next(r for r in records if r["model"].startswith("LSTM small, non-regularized"))
    assert zaremba["params"] == 4_650_000 and "as printed" not in (zaremba["notes"] or "")
    with pytest.raises(BenchError, match="unknown leaderboard format"):
        render(ptb, "html")


def test_markdown_keeps_its_formatted_cells(tables: dict[str, pd.DataFrame]) -> None:
    text = render(tables["ptb"], "md")
    assert "19.8M" in text and "81.9 ± 0.2" in text and "6,123" in text


@pytest.mark.parametrize(
    "text, number, count, plain",
    [
        ("114.5", 114.5, 114, True),
        ("79.7 ± 0.1", 79.7, 80, False),
        ("2M (estimate, Merity et al. 2016 Table 2)", 2.0, 2_000_000, False),
        ("1.76B", 1.76, 1_760_000_000, False),
        ("", None, None, True),
    ],
)
def test_published_cells_as_numbers(text: str, number, count, plain: bool) -> None:
    assert published_number(text) == number
    assert published_count(text) == count
    assert is_plain(text) is plain
    assert is_plain("4.65M", count=True) and not is_plain("2M (estimate)", count=True)


ZAREMBA_SMALL = "LSTM small, non-regularized (2x200, bptt 20, 13 epochs)"  # test 114.5


def small_recipe(**options) -> Recipe:
    return Recipe(
        name="small",
        description="d",
        published="test 114.5",
        cost="c",
        config={"plugin": "lstm", "corpus": "ptb", "options": {"hidden_size": 200} | options},
        path=None,
        reproduces=ZAREMBA_SMALL,
    )


def test_a_run_of_a_recipe_is_shown_beside_the_paper(tmp_path: Path) -> None:
    with Store(f"sqlite:///{tmp_path / 'bench.db'}") as store:
        for label, test, hidden in (
            ("small", 113.16, 200),
            ("other", 150.0, 300),
            ("s2", 117, 200),
        ):
            add_run(
                store,
                corpus="ptb",
                label=label,
                valid=None,
                test=test,
                config={"options": {"hidden_size": hidden, "epochs": 13}, "seed": len(label)},
            )
        add_run(  # the recipe's plugin, but bounded by max_steps_per_epoch: not a whole run
            store,
            corpus="ptb",
            label="short",
            valid=None,
            test=300.0,
            config={"options": {"hidden_size": 200, "max_steps_per_epoch": 5}},
        )
        results = store.results_frame()
    ptb = build_tables(results, load_published(), recipes=[small_recipe()])["ptb"]
    measured = ptb[ptb["kind"] == "measured"].set_index("model")
    # runs 1 and 3 differ only in their seed: one row, the mean, beside the paper
    assert list(measured.index) == ["small", "other", "short"]
    assert measured.loc["small", "vs paper (test)"] == "114.5 → 115.08, +0.5%"
    assert measured.loc["other", "vs paper (test)"] == ""  # another configuration
    assert measured.loc["short", "vs paper (test)"] == ""  # not a whole run
    assert ZAREMBA_SMALL in measured.loc["small", "reproduces"]
    records = json.loads(render(ptb, "json"))
    small = next(r for r in records if r["model"] == "small")
    assert small["paper_test_ppl"] == 114.5 and small["reproduces"] == ZAREMBA_SMALL
    assert small["test_ppl_change_percent"] == pytest.approx(
        (115.08 - 114.5) / 114.5 * 100, abs=0.01
    )
    assert small["recipe"] == "small"
    assert next(r for r in records if r["model"] == "other")["paper_test_ppl"] is None
    text = render(ptb, "md")
    flat = " ".join(text.split())  # notes are wrapped
    assert "| 114.5 → 115.08, +0.5% |" in flat and f"reproduces {ZAREMBA_SMALL}" in flat
    assert max(len(line) for line in text.splitlines()) <= 180

    # the README's headline table carries the comparison too, only where there is one
    from bench.report.markdown import headline

    assert "| 114.5 → 115.08, +0.5% |" in " ".join(headline({"ptb": ptb}).split())

    unmatched = build_tables(results, load_published(), recipes=[small_recipe(epochs=39)])
    assert "vs paper (test)" not in unmatched["ptb"].columns  # no run: no column
    assert "vs paper" not in render(unmatched["ptb"], "md")
    assert "vs paper" not in headline(unmatched)


def test_the_measured_table_narrows_to_180_bytes_when_labels_are_not_ascii(
    tmp_path: Path,
) -> None:
    # "—", "→", "…" and "±" take two or three bytes: tools that measure lines in bytes
    # must find them within 180 too
    with Store(f"sqlite:///{tmp_path / 'bench.db'}") as store:
        add_run(
            store,
            corpus="ptb",
            label="LSTM → 2×200 … ± — " * 5,
            valid=120.0,
            test=113.16,
            tokens=1300,
            config={"options": {"hidden_size": 200}},
        )
        results = store.results_frame()
    ptb = build_tables(results, load_published(), recipes=[small_recipe()])["ptb"]
    table = [line for line in render(ptb, "md").splitlines() if line.startswith("|")]
    assert max(len(line.encode("utf-8")) for line in table) <= 180


def test_the_measured_table_narrows_to_180_characters(tmp_path: Path) -> None:
    long = "an LSTM with a very long descriptive label, " * 3
    with Store(f"sqlite:///{tmp_path / 'bench.db'}") as store:
        add_run(
            store,
            corpus="ptb",
            label=long,
            valid=120.0,
            test=113.16,
            tokens=1300,
            config={"options": {"hidden_size": 200}},
        )
        results = store.results_frame()
    ptb = build_tables(results, load_published(), recipes=[small_recipe()])["ptb"]
    text = render(ptb, "md")
    assert max(len(line) for line in text.splitlines()) <= 180
    table_lines = [line for line in text.splitlines() if line.startswith("|")]
    header, row = table_lines[0], table_lines[2]
    assert "vs paper (test)" in header and "device" not in header  # the device gave way
    assert len(row.split("|")[1].strip()) <= 40 and "…" in row  # the label was shortened
    flat = " ".join(text.split())  # notes are wrapped
    assert "NVIDIA H100 80GB HBM3" in flat  # in the run's note
    assert "test ppl paper → bench: 114.5 → 113.16, −1.2%" in flat
    # the README's headline table narrows the same way
    from bench.report.markdown import headline

    top = headline({"ptb": ptb})
    assert max(len(line) for line in top.splitlines()) <= 180
    assert "…" in top  # the label was shortened


def oov_evaluation(ppl: float, oov: int, ppl_no_oov: float) -> Evaluation:
    """A test evaluation of 1000 tokens, ``oov`` of them out of vocabulary."""
    counts = UnitCounts(tokens=1000, words=1000, bytes=6000, lines=40, oov=oov)
    nll, in_vocab_nll = 1000 * math.log(ppl), (1000 - oov) * math.log(ppl_no_oov)
    return Evaluation(
        split="test",
        counts=counts,
        protocol=EvalProtocol("stream", 10, 35),
        metrics=SplitMetrics.compute(nll, counts, oov_nll=nll - in_vocab_nll),
        seconds=2.0,
    )


def test_oov_counts_and_ppl_without_them(tmp_path: Path) -> None:
    with Store(f"sqlite:///{tmp_path / 'bench.db'}") as store:
        plain = add_run(store, corpus="ptb", label="closed vocabulary", valid=None, test=90.0)
        open_vocab = store.create_run(plugin="kn", model_label="open vocabulary", corpus="ptb")
        store.add_evaluation(open_vocab, oov_evaluation(120.0, oov=25, ppl_no_oov=100.0))
        store.finish_run(open_vocab, "finished")
        results = store.results_frame()
    ptb = build_tables(results, load_published(), recipes=[])["ptb"]
    measured = ptb[ptb["kind"] == "measured"].set_index("run")
    assert measured.loc[str(open_vocab), "OOV (test)"] == "25"
    assert measured.loc[str(open_vocab), "test ppl w/o OOV"] == "100.00"
    assert measured.loc[str(plain), "OOV (test)"] == "0"
    assert measured.loc[str(plain), "test ppl w/o OOV"] == ""
    text = render(ptb, "md")
    header = next(line for line in text.splitlines() if line.startswith("| model"))
    assert "| OOV (test) |" in header.replace("  ", "") and "test ppl w/o OOV" in header
    assert '"OOV": test tokens outside the run\'s vocabulary' in text
    assert "test text: 25 OOV tokens, ppl 100.00 without them" in " ".join(text.split())
    records = {r["run_ids"][0]: r for r in json.loads(render(ptb, "json"))[:2]}
    assert records[open_vocab]["test_oov"] == 25
    assert records[open_vocab]["test_ppl_no_oov"] == pytest.approx(100.0)
    assert records[plain]["test_oov"] == 0 and records[plain]["test_ppl_no_oov"] is None

    closed = build_tables(results[results["run_id"] == plain], load_published(), recipes=[])
    assert "OOV (test)" not in closed["ptb"].columns  # no run with OOV tokens: no columns
    assert "OOV" not in render(closed["ptb"], "md")


def test_write_tables(tables: dict[str, pd.DataFrame], tmp_path: Path) -> None:
    for fmt in ("md", "csv", "json"):
        paths = write_tables(tables, tmp_path / "out" / fmt, fmt)
        assert sorted(p.name for p in paths) == sorted(f"{c}.{fmt}" for c in tables)
        assert all(p.read_text(encoding="utf-8") for p in paths)
    md = (tmp_path / "out" / "md" / "ptb.md").read_text(encoding="utf-8")
    assert md.startswith("# Perplexity on ptb")


@pytest.mark.parametrize(
    "n, text",
    [
        (950, "950"),
        (4_650_000, "4.65M"),
        (66_000_000, "66M"),
        (1_040_000_000, "1.04B"),
        (999_999_999, "1B"),
        (None, ""),
    ],
)
def test_humanize_count(n: int | None, text: str) -> None:
    assert humanize_count(n) == text
