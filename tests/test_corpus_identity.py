"""A corpus is its content: runs are grouped by the checksums of their splits, not by the
name of the folder they were read from, and a table of runs that tokenize the text
differently ranks them by a unit they share (issue 29).

Every corpus here is written into tmp_path; nothing needs the network or the shared corpora.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from bench.cli import cli
from bench.report.leaderboard import build_tables, render
from bench.report.markdown import headline
from bench.report.published import load_published
from bench.report.ranking import choose_ranking
from bench.scoring.corpus_identity import corpus_identity, label_corpora, shown_names
from bench.scoring.seeds import aggregate_seed_groups
from bench.store import Store

NO_PUBLISHED = load_published().iloc[0:0]
SMALL_LSTM = [f"--set={o}" for o in ("epochs=1", "hidden_size=8", "embedding_size=8", "bptt=16")]


def invoke(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def sha(train: str, valid: str = "v", test: str = "t") -> dict[str, str]:
    return {"train": train * 64, "valid": valid * 64, "test": test * 64}


def record(corpus: str, checksums: dict[str, str] | None, verified: bool = False) -> dict:
    return {"corpus": corpus, "corpus_sha256": checksums, "corpus_verified": verified}


def write_corpus(folder: Path, extra: str = "") -> Path:
    folder.mkdir(parents=True)
    lines = {"train": 60, "valid": 9, "test": 8}
    for split, n in lines.items():
        text = "".join(f"the cat sat on mat {i % 5} {extra}\n" for i in range(n))
        (folder / f"{split}.txt").write_text(text)
    return folder


# ------------------------------------------------------------------ names and identities


def test_a_name_shared_by_two_texts_shows_the_start_of_each_digest():
    a, b = record("local:corpus", sha("a")), record("local:corpus", sha("b"))
    names = shown_names([a, b, record("local:other", sha("c"))])
    shown = sorted(names[corpus_identity(r)] for r in (a, b))
    assert all(n.startswith("local:corpus (") and n.endswith("…)") for n in shown)
    assert shown[0] != shown[1]
    assert shown == sorted(f"local:corpus ({corpus_identity(r)[7:11]}…)" for r in (a, b))
    assert names[corpus_identity(record("local:other", sha("c")))] == "local:other"


def test_the_same_text_in_two_folders_is_one_corpus():
    copy = record("local:copy", sha("a"))
    assert corpus_identity(copy) == corpus_identity(record("local:corpus", sha("a")))
    assert corpus_identity(copy) != corpus_identity(record("local:copy", sha("a", test="u")))


def test_digests_alike_in_their_first_digits_are_shown_longer():
    ids = {}
    for n in range(400):  # enough texts that two identities share their first 4 digits
        r = record("local:corpus", sha(f"{n:x}"))
        ids.setdefault(corpus_identity(r)[7:11], []).append(r)
    twins = next(rs for rs in ids.values() if len(rs) > 1)
    names = set(shown_names(twins).values())
    assert len(names) == len(twins) and all(len(n.split("(")[1]) > 6 for n in names)


def test_a_registered_corpus_keeps_its_name_and_old_runs_are_told_apart():
    ptb = record("ptb", sha("p"), verified=True)
    old = record("ptb", None)  # stored before bench recorded checksums
    other = record("ptb", sha("q"), verified=False)  # a registered name, other text
    names = shown_names([ptb, old, other])
    assert names[corpus_identity(ptb)] == "ptb"
    assert names[corpus_identity(old)] == "ptb (checksums not recorded)"
    assert names[corpus_identity(other)].startswith("ptb (")
    assert shown_names([old]) == {"name:ptb": "ptb"}  # alone, an old run keeps its name


def test_one_text_stored_under_several_names_takes_the_registered_one():
    names = shown_names([record("local:copy", sha("p")), record("ptb", sha("p"), True)])
    assert list(names.values()) == ["ptb"]


def test_labelling_twice_changes_nothing():
    frame = pd.DataFrame([record("ptb", sha("p"), True), record("ptb", None)])
    once = label_corpora(frame)
    assert list(once["corpus"]) == ["ptb", "ptb (checksums not recorded)"]
    assert label_corpora(once).equals(once)


# ------------------------------------------------------------------ end to end


def test_two_folders_named_corpus_make_two_tables_and_a_copy_joins_its_text(tmp_path):
    first = write_corpus(tmp_path / "a" / "corpus")
    second = write_corpus(tmp_path / "b" / "corpus", extra="dog")
    copy = shutil.copytree(first, tmp_path / "c" / "elsewhere")
    for folder in (first, second, copy):
        assert (
            invoke("run", "--plugin", "unigram", "--corpus", folder, "--no-progress").exit_code == 0
        )
    with Store() as store:
        results = store.results_frame()
    tables = build_tables(results, NO_PUBLISHED)
    assert len(tables) == 2 and all(n.startswith("local:corpus (") for n in tables)
    runs = sorted(sorted(int(r["run"]) for r in t.attrs["runs"]) for t in tables.values())
    assert runs == [[1, 3], [2]]  # the copy's run 3 is on the first text
    board = invoke("leaderboard", "--corpus", "local:corpus").output  # both its tables
    assert sorted(n for n in tables) == sorted(
        line.removeprefix("# Perplexity on ") for line in board.splitlines() if line[:2] == "# "
    )


def test_seed_groups_are_one_text_whatever_path_it_was_given_as(tmp_path):
    corpus = write_corpus(tmp_path / "corpus")
    copy = shutil.copytree(corpus, tmp_path / "copy")
    assert invoke("run", "--plugin", "unigram", "--corpus", corpus, "--seed", "1").exit_code == 0
    assert invoke("run", "--plugin", "unigram", "--corpus", copy, "--seed", "2").exit_code == 0
    (copy / "train.txt").write_text("another text\n" * 20)
    assert invoke("run", "--plugin", "unigram", "--corpus", copy, "--seed", "3").exit_code == 0
    with Store() as store:
        rows = aggregate_seed_groups(store.results_frame())
    assert sorted(map(list, rows["seed_runs"])) == [[1, 2], [3]]
    assert "seed group: runs 1, 2, test ppl" in invoke("show", "1").output


def test_compare_says_when_runs_on_the_same_test_lines_trained_on_other_text(tmp_path):
    corpus = write_corpus(tmp_path / "one" / "corpus")
    other = shutil.copytree(corpus, tmp_path / "two" / "corpus")
    (other / "train.txt").write_text("the dog sat\n" * 30)
    for folder in (corpus, other):
        assert invoke("run", "--plugin", "unigram", "--corpus", folder).exit_code == 0
    lines = invoke("compare", "1", "2").output.splitlines()
    assert lines[2].startswith("local:corpus (") and lines[3].startswith(
        "the runs' corpora differ outside the test split: local:corpus ("
    )


def test_show_says_when_the_folder_no_longer_holds_the_text(tmp_path):
    corpus = write_corpus(tmp_path / "corpus")
    assert invoke("run", "--plugin", "unigram", "--corpus", corpus).exit_code == 0
    shown = invoke("show", "1").output
    assert (
        f"corpus read from         {corpus}" in shown and "corpus sha256            train " in shown
    )
    assert "corpus changed" not in shown
    (corpus / "test.txt").write_text("other test text\n")
    shown = invoke("show", "1").output
    assert f"corpus changed           {corpus / 'test.txt'} differs from the text" in shown
    assert "valid.txt" not in shown.split("corpus changed")[1]


# ------------------------------------------------------------------ units


def unit_row(run_id: int, tokenizer: str, ppl: float, word_ppl: float, **counts) -> dict:
    return {
        "run_id": run_id,
        "status": "finished",
        "corpus": "ptb",
        "corpus_sha256": sha("p"),
        "corpus_verified": True,
        "plugin": "lstm",
        "tokenizer": tokenizer,
        "config": {"plugin": "lstm", "tokenizer": tokenizer, "options": {"hidden": run_id}},
        "seed": run_id,
        "valid_ppl": None,
        "test_ppl": ppl,
        "test_word_ppl": word_ppl,
        "test_bits_per_byte": word_ppl / 100,
        "test_tokens": counts.get("tokens", 1000),
        "test_words": counts.get("words", 1000),
        "test_bytes": 5000,
    }


def test_a_word_and_a_char_model_are_ranked_per_word_with_their_tokenizers():
    results = pd.DataFrame(
        [
            unit_row(1, "char", 4.5, 900.0, tokens=5000),
            unit_row(2, "word", 607.0, 607.0),
            unit_row(3, "word", 650.0, 650.0),
        ]
    )
    table = build_tables(results, NO_PUBLISHED)["ptb"]
    measured = table[table["kind"] == "measured"]
    assert list(measured["run"]) == ["2", "3", "1"]  # by word ppl, not by 4.5 < 607
    assert list(measured["tokenizer"]) == ["word", "word", "char"]
    assert list(measured["word ppl (test)"]) == ["607.00", "650.00", "900.00"]
    text = " ".join(render(table, "md").split())
    assert "| model | tokenizer | word ppl (test) |" in text.replace("  ", " ")
    assert "Ranked by word ppl (test): these runs tokenize the text differently" in text
    assert "char, 5,000 test tokens; word, 1,000 test tokens" in text
    top = headline({"ptb": table}).splitlines()
    cells = [[c.strip() for c in line.split("|")[1:-1]] for line in top]
    assert cells[0][2:4] == ["tokenizer", "ranked by"]
    assert [row[2:4] for row in cells[2:]] == [
        ["word", "word ppl (test) 607.00"],
        ["word", "word ppl (test) 650.00"],
        ["char", "word ppl (test) 900.00"],
    ]


def test_without_shared_word_counts_the_rank_is_per_byte_and_one_tokenizer_is_per_token():
    mixed = pd.DataFrame(
        [unit_row(1, "char", 4.5, 900.0, tokens=5000, words=990), unit_row(2, "bpe", 80.0, 700.0)]
    )
    assert choose_ranking(mixed).column == "test_bits_per_byte"
    table = build_tables(mixed, NO_PUBLISHED)["ptb"]
    assert list(table["run"]) == ["2", "1"]
    alike = pd.DataFrame([unit_row(1, "word", 650.0, 650.0), unit_row(2, "word", 607.0, 607.0)])
    assert choose_ranking(alike).column == "test_ppl"
    assert not choose_ranking(alike).describe()
    table = build_tables(alike, NO_PUBLISHED)["ptb"]
    assert "Ranked by" not in render(table, "md") and "| tokenizer" not in render(table, "md")


@pytest.mark.parametrize("unit", ["word", "byte"])
def test_seed_groups_of_different_tokenizers_compare_in_a_shared_unit(tmp_path, unit):
    corpus = write_corpus(tmp_path / "corpus")
    for tokenizer in ("word", "char"):
        for seed in (1, 2):
            args = ("--corpus", corpus, "--tokenizer", tokenizer, "--seed", seed)
            assert invoke("run", "--plugin", "lstm", *args, *SMALL_LSTM).exit_code == 0
    refused = CliRunner().invoke(cli, ["compare", "--groups", "1", "3", "--unit", "token"])
    assert refused.exit_code == 1 and len(refused.output.strip().splitlines()) == 1
    assert "per-token perplexities measure different things" in refused.output
    assert "--unit word or --unit byte" in refused.output
    shown = invoke("compare", "--groups", "1", "3", "--unit", unit).output
    assert ("word ppl" if unit == "word" else "bits/byte") in shown.splitlines()[1]


def test_resuming_on_a_folder_that_now_holds_other_text_is_refused(tmp_path):
    from bench.api.plugin_host import load_plugins
    from bench.errors import BenchError
    from bench.run.plan import plan_resume

    corpus = write_corpus(tmp_path / "corpus")
    assert invoke("run", "--plugin", "unigram", "--corpus", corpus).exit_code == 0
    with Store() as store:
        stored = store.get_run(1)
    host = load_plugins()
    plan_resume(host, 1, stored, tmp_path / "data", print)  # the same text: resumes
    (corpus / "valid.txt").write_text("other valid text\n")
    with pytest.raises(BenchError, match=r"no longer holds the text it measured \(the valid"):
        plan_resume(host, 1, stored, tmp_path / "data", print)


def test_asking_for_a_corpus_name_gives_every_table_of_that_name():
    old = {**unit_row(2, "word", 600.0, 600.0), "corpus_sha256": None, "corpus_verified": None}
    results = pd.DataFrame([unit_row(1, "word", 607.0, 607.0), old])
    tables = build_tables(results, NO_PUBLISHED, corpora=["ptb"])
    assert list(tables) == ["ptb", "ptb (checksums not recorded)"]
    assert [t.attrs["runs"][0]["run"] for t in tables.values()] == [1, 2]
