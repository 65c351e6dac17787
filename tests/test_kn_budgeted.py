"""Kneser-Ney within a memory budget (``--set memory=...``): the same model as in memory,
temporary files removed after errors, Ctrl-C and ``kill -9``, clear lines for budgets
that cannot work, and the run's record of the passes."""

from __future__ import annotations

import gc
import os
import subprocess
import sys

import numpy as np
import pytest
from test_kn import markov_lines

from bench.api.plugin_host import load_plugins
from bench.configuration.options import validate_options
from bench.configuration.run_config import build_config
from bench.errors import BenchError
from bench.run.runner import Runner
from bench.store import Store
from bench.tokenization.tokenizers import WordTokenizer
from bench_plugins import kn
from bench_plugins.kn import KNModel, KNOptions
from bench_plugins.kn import on_disk as kn_budgeted
from bench_plugins.kn.in_memory import score_sequence, with_sentence_starts
from bench_plugins.kn.scratch import DiskArray, TempSpace, parse_size


@pytest.fixture(scope="module")
def corpus():
    """Train text, and test text with words train never saw (OOVs)."""
    return markov_lines(0, 600), markov_lines(1, 60) + ["", "w1 unseen w2", "zzz qqq"]


@pytest.fixture
def tiny_blocks(monkeypatch):
    """Let a 64 KB budget cut a few thousand tokens into many runs, merge chunks, stream
    chunks and id ranges, so that every multi-block code path runs on test-sized data."""
    monkeypatch.setattr(kn_budgeted, "MIN_BLOCK", 64)
    monkeypatch.setattr(kn_budgeted, "MIN_MERGE_CHUNK", 8)
    monkeypatch.setattr(kn_budgeted, "PAGE_KEYS", 16)
    monkeypatch.setattr(kn_budgeted, "BYTES_PER_SCORED_KEY", 256)  # 256-key chunks
    return "64K"


def fit_both(train, tmp_path, memory, **options):
    tokenizer = WordTokenizer(WordTokenizer.Options())
    tokenizer.fit(train, tmp_path / "tokenizer")
    split = tokenizer.encode("train", train)
    in_memory = KNModel(KNOptions(**options), tokenizer.vocab, "cpu")
    in_memory.fit_split(split)
    passes = []
    budgeted = KNModel(KNOptions(memory=memory, **options), tokenizer.vocab, "cpu")
    budgeted.fit_split(
        split, temp_root=tmp_path / "tmp", on_pass=lambda name, seconds: passes.append(name)
    )
    return in_memory, budgeted, tokenizer, passes


def assert_same_model(in_memory, budgeted):
    assert budgeted.ngram_counts == in_memory.ngram_counts
    assert budgeted.discounts == in_memory.discounts
    for ours, reference in zip(budgeted.tables, in_memory.tables, strict=True):
        assert np.array_equal(ours.keys, reference.keys)
        assert np.allclose(ours.logprob, reference.logprob, rtol=1e-9, atol=0, equal_nan=True)
        assert np.allclose(ours.backoff, reference.backoff, rtol=1e-9, atol=1e-15)


def test_parse_size():
    assert parse_size("8G") == 8 * 2**30 and parse_size("16M") == 16 * 2**20
    assert parse_size("1.5g") == 3 * 2**29 and parse_size("512MB") == 512 * 2**20
    assert parse_size("1000") == 1000
    with pytest.raises(ValueError, match="not a size"):
        parse_size("lots")
    with pytest.raises(BenchError, match="memory"):
        validate_options(KNOptions, {"memory": "lots"}, owner="model kn")


@pytest.mark.parametrize("order", [1, 2, 3, 4, 5])
def test_budgeted_model_equals_the_in_memory_one(corpus, tmp_path, tiny_blocks, order):
    train, test = corpus
    options = {"order": order, "discount_fallback": order == 1}
    in_memory, budgeted, tokenizer, passes = fit_both(train, tmp_path, tiny_blocks, **options)
    assert_same_model(in_memory, budgeted)
    assert f"count_{order}" in passes or order == 1
    assert passes[0] == "sequence" and passes[-1] == (
        f"interpolate_{order}" if order > 1 else "adjust_1"
    )
    split = tokenizer.encode("test", test + train)
    assert split.counts.oov >= 3
    assert order < 2 or max(budgeted.ngram_counts) > 2 * 256  # lookups read several chunks
    ours = next(iter(budgeted.score(split, budgeted.eval_protocol(split)))).logprobs
    reference = next(iter(in_memory.score(split, in_memory.eval_protocol(split)))).logprobs
    assert ours == pytest.approx(reference, rel=1e-9)


def test_spilling_with_the_real_block_sizes(tmp_path):
    """Without shrunk constants: 5 MB cuts ~150k positions into three runs."""
    train = markov_lines(3, 20_000, vocab_size=400, max_len=14)
    in_memory, budgeted, tokenizer, _ = fit_both(
        train, tmp_path, "5M", order=4, discount_fallback=True
    )
    assert kn_budgeted.Plan(parse_size("5M"), 150_000, 400).runs >= 2
    assert_same_model(in_memory, budgeted)
    split = tokenizer.encode("test", markov_lines(4, 200, vocab_size=400))
    bos = budgeted.bos_id
    seq = with_sentence_starts(split.ids, split.line_offsets, bos)
    np.testing.assert_allclose(
        score_sequence(budgeted.tables, seq, bos),
        score_sequence(in_memory.tables, seq, bos),
        rtol=1e-9,
    )


def test_arpa_files_are_identical(corpus, tmp_path, tiny_blocks):
    in_memory, budgeted, _, _ = fit_both(corpus[0], tmp_path, tiny_blocks, order=4)
    in_memory.export_arpa(tmp_path / "memory.arpa")
    budgeted.export_arpa(tmp_path / "disk.arpa")
    assert (tmp_path / "disk.arpa").read_bytes() == (tmp_path / "memory.arpa").read_bytes()


def test_temporary_files_live_with_the_model(corpus, tmp_path, tiny_blocks):
    _, budgeted, _, _ = fit_both(corpus[0], tmp_path, tiny_blocks, order=3)
    folders = list((tmp_path / "tmp").iterdir())
    assert len(folders) == 1 and budgeted.space.peak_bytes > 0
    budgeted.close()
    assert not folders[0].exists()
    with pytest.raises(BenchError, match="before fit"):
        budgeted.ngram_counts  # noqa: B018


def test_an_error_leaves_no_temporary_files(tmp_path, tiny_blocks):
    # too small a corpus for real discounts: fails after counting, with files on disk
    train = ["a b c", "a b", "c a"]
    tokenizer = WordTokenizer(WordTokenizer.Options())
    tokenizer.fit(train, tmp_path / "tokenizer")
    model = KNModel(KNOptions(order=3, memory=tiny_blocks), tokenizer.vocab, "cpu")
    with pytest.raises(BenchError, match="discount_fallback"):
        model.fit_split(tokenizer.encode("train", train), temp_root=tmp_path / "tmp")
    assert list((tmp_path / "tmp").iterdir()) == []


def test_ctrl_c_leaves_no_temporary_files(corpus, tmp_path, tiny_blocks, monkeypatch):
    calls = []

    def interrupted_at_the_tenth_block() -> None:
        calls.append(1)
        if len(calls) == 10:
            raise KeyboardInterrupt

    monkeypatch.setattr(
        kn_budgeted.interrupts, "raise_if_requested", interrupted_at_the_tenth_block
    )
    tokenizer = WordTokenizer(WordTokenizer.Options())
    tokenizer.fit(corpus[0], tmp_path / "tokenizer")
    model = KNModel(KNOptions(order=4, memory=tiny_blocks), tokenizer.vocab, "cpu")
    with pytest.raises(KeyboardInterrupt):
        model.fit_split(tokenizer.encode("train", corpus[0]), temp_root=tmp_path / "tmp")
    assert len(calls) == 10 and list((tmp_path / "tmp").iterdir()) == []


def test_a_killed_estimation_is_cleaned_up_by_the_next(tmp_path):
    root = tmp_path / "tmp"
    script = (
        "import os, signal, sys; from pathlib import Path; "
        "from bench_plugins.kn_disk import TempSpace, DiskArray; import numpy as np; "
        "s = TempSpace(Path(sys.argv[1])); "
        "DiskArray(s.file('x'), np.int64).append(np.arange(1000)); "
        "os.kill(os.getpid(), signal.SIGKILL)"
    )
    killed = subprocess.run([sys.executable, "-c", script, str(root)], check=False)
    assert killed.returncode == -9
    (left,) = root.iterdir()
    alive = TempSpace(root)  # a live one is never taken for a stale one
    after = TempSpace(root)
    assert not left.exists() and alive.path.exists() and after.path.exists()
    assert alive.stale_bytes_removed >= 8000 and after.stale_bytes_removed == 0
    alive.close()
    after.close()
    assert list(root.iterdir()) == []


def test_disk_array_round_trip(tmp_path):
    array = DiskArray(tmp_path / "a", np.int32)
    array.append(np.arange(10))
    array.append(np.arange(5))
    assert len(array) == 15 and array.read(8, 12).tolist() == [8, 9, 0, 1]
    array.write_at(2, np.array([-1, -2]))
    assert next(array.chunks(6))[1].tolist() == [0, 1, -1, -2, 4, 5]
    assert array.memmap()[12] == 2


def test_a_budget_too_small_is_one_clear_line(corpus, tmp_path):
    tokenizer = WordTokenizer(WordTokenizer.Options())
    train = markov_lines(3, 20_000, vocab_size=400, max_len=14)
    tokenizer.fit(train, tmp_path / "tokenizer")
    model = KNModel(KNOptions(order=5, memory="1M", discount_fallback=True), tokenizer.vocab, "cpu")
    with pytest.raises(
        BenchError,
        match=r"memory=1.0 MB is too small to estimate a "
        r"5-gram model .* Give at least --set memory=\d+M",
    ) as refused:
        model.fit_split(tokenizer.encode("train", train), temp_root=tmp_path / "tmp")
    enough = str(refused.value).rsplit("memory=", 1)[1].rstrip(".")
    model = KNModel(
        KNOptions(order=5, memory=enough, discount_fallback=True), tokenizer.vocab, "cpu"
    )
    model.fit_split(tokenizer.encode("train", train), temp_root=tmp_path / "tmp")
    assert model.ngram_counts[0] == len(tokenizer.vocab) + 1


def test_an_in_memory_estimate_that_cannot_fit_suggests_a_budget(corpus, tmp_path, monkeypatch):
    monkeypatch.setattr(kn, "available_memory", lambda: 2**18)
    tokenizer = WordTokenizer(WordTokenizer.Options())
    tokenizer.fit(corpus[0], tmp_path / "tokenizer")
    model = KNModel(KNOptions(order=5), tokenizer.vocab, "cpu")
    with pytest.raises(
        BenchError,
        match=r"in memory .* needs about .* only 256 KB is "
        r"available; .* --set memory=1M",
    ):
        model.fit_split(tokenizer.encode("train", corpus[0]))


def test_a_budgeted_run_records_its_passes_and_cleans_up(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    for split, (seed, n) in {"train": (0, 600), "valid": (1, 40), "test": (2, 40)}.items():
        (folder / f"{split}.txt").write_text("\n".join(markov_lines(seed, n)) + "\n")
    runner = Runner(
        load_plugins(), Store(), tmp_path / "data", progress=False, echo=lambda message: None
    )
    results = {}
    for options in [("order=3",), ("order=3", "memory=16M", f"temp_dir={tmp_path / 'tmp'}")]:
        config = build_config({}, {"plugin": "kn", "corpus": str(folder)}, options)
        results[len(options)] = runner.run(config, "bench run --plugin kn")
    gc.collect()  # the model (and its tables on disk) went with the run
    assert list((tmp_path / "tmp").iterdir()) == []
    budgeted = runner.store.get_run(results[3].run_id)
    metrics = {m["name"]: m["value"] for m in budgeted["metrics"]}
    assert {
        "pass_sequence_seconds",
        "pass_count_3_seconds",
        "pass_merge_3_seconds",
        "pass_interpolate_3_seconds",
    } <= set(metrics)
    assert metrics["memory_budget_mb"] == 16 and metrics["temp_disk_peak_mb"] > 0
    for split in ("valid", "test"):
        assert results[3].evaluations[split].ppl == pytest.approx(
            results[1].evaluations[split].ppl, rel=1e-9
        )
    assert os.path.isdir(tmp_path / "tmp")


def test_a_memory_mapped_train_split_is_read_in_blocks(corpus, tmp_path, tiny_blocks):
    """A streamed corpus reaches the model as memory maps (bench's token cache)."""
    from bench.tokenization.tokens import TokenizedSplit

    tokenizer = WordTokenizer(WordTokenizer.Options())
    tokenizer.fit(corpus[0], tmp_path / "tokenizer")
    split = tokenizer.encode("train", corpus[0])
    split.ids.astype(np.int32).tofile(tmp_path / "ids")
    split.line_offsets.tofile(tmp_path / "offsets")
    mapped = TokenizedSplit(
        "train",
        np.memmap(tmp_path / "ids", np.int32, "r", shape=(len(split),)),
        np.memmap(tmp_path / "offsets", np.int64, "r", shape=(len(split.line_offsets),)),
        split.counts,
    )
    in_memory = KNModel(KNOptions(order=3), tokenizer.vocab, "cpu")
    in_memory.fit_split(split)
    budgeted = KNModel(KNOptions(order=3, memory=tiny_blocks), tokenizer.vocab, "cpu")
    budgeted.fit_split(mapped, temp_root=tmp_path / "tmp")
    assert_same_model(in_memory, budgeted)
