"""What the command line prints for long and short work: epoch lines off a terminal, the
runs table, a run's configuration, shared model options, corpus token counts and OOVs."""

import re

from click.testing import CliRunner

from bench.cli import cli

TINY_LSTM = [
    "--set",
    "layers=1",
    "--set",
    "hidden_size=8",
    "--set",
    "embedding_size=8",
    "--set",
    "batch_size=4",
    "--set",
    "bptt=8",
    "--set",
    "max_steps_per_epoch=6",
    "--set",
    "log_every=1",
]

EPOCH_LINE = re.compile(
    r"^epoch (\d)/2: train loss [\d.]+, valid ppl [\d.]+, lr [\d.e-]+, "
    r"train [\d,]+ tokens/s, elapsed \d:\d\d:\d\d$",
    re.MULTILINE,
)


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_one_line_per_epoch_when_no_bars_are_drawn(tiny_corpus):
    result = invoke(
        "run", "--plugin", "lstm", "--corpus", tiny_corpus, "--set", "epochs=2", *TINY_LSTM
    )
    assert result.exit_code == 0, result.output
    # a step logs train_loss every step (log_every=1), yet only epochs get a line
    assert [int(m) for m in EPOCH_LINE.findall(result.output)] == [1, 2]
    assert len(re.findall(r"^epoch ", result.output, re.MULTILINE)) == 2


def test_epoch_lines_go_above_the_bars_on_a_terminal(monkeypatch):
    import sys

    from bench.run import epoch_report

    printed, written = [], []
    monkeypatch.setattr(epoch_report.tqdm, "write", lambda line, file=None: written.append(line))
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    epoch_report.epoch_echo(printed.append, progress=True)("epoch 1")
    epoch_report.epoch_echo(printed.append, progress=False)("epoch 2")
    assert written == ["epoch 1"] and printed == ["epoch 2"]


def test_runs_table_has_header_label_reason_and_steady_columns(tmp_path, tiny_corpus):
    from bench.store import Store

    long_folder = tmp_path / ("corpus-with-a-name-longer-than-any-column-" * 2)
    long_folder.mkdir()
    for split in ("train", "valid", "test"):
        (long_folder / f"{split}.txt").write_text((tiny_corpus / f"{split}.txt").read_text())
    assert invoke("run", "--plugin", "unigram", "--corpus", tiny_corpus).exit_code == 0
    assert invoke("run", "--plugin", "unigram", "--corpus", long_folder).exit_code == 0
    failed = CliRunner().invoke(cli, ["run", "--plugin", "kn", "--corpus", str(tiny_corpus)])
    assert failed.exit_code != 0  # too small for Kneser-Ney discounts: recorded as failed
    store = Store(None)
    interrupted = store.create_run(plugin="lstm", corpus="ptb", model_label="LSTM 2x650")
    store.finish_run(interrupted, "interrupted", error="interrupted by the user (Ctrl-C)")

    lines = invoke("runs").output.splitlines()
    header = lines[0]
    assert header.split() == [
        "id",
        "status",
        "started",
        "model",
        "corpus",
        "valid",
        "ppl",
        "test",
        "ppl",
        "note",
    ]
    by_id = {int(line.split()[0]): line for line in lines[1:]}
    assert "Unigram (add-k)" in by_id[1] and "KN5" in by_id[3]
    assert re.search(r"failed .*no 1-gram has adjusted count 1", by_id[3])
    assert "Traceback" not in by_id[3] and "BenchError" not in by_id[3]
    assert by_id[4].rstrip().endswith("interrupted by the user (Ctrl-C)")
    assert "…" in by_id[2] and long_folder.name not in by_id[2]
    # perplexities end where their header ends, whatever the corpus name's length
    for run_id in (1, 2):
        valid, test = re.findall(r"\d+\.\d\d\b", by_id[run_id])
        assert by_id[run_id].index(valid) + len(valid) == header.index("valid ppl") + 9
        assert by_id[run_id].index(test) + len(test) == header.index("test ppl") + 8


def test_show_prints_the_configuration_as_dotted_key_value_lines(tiny_corpus):
    args = ("--corpus", tiny_corpus, "--set", "smoothing=0.5", "--set", "tokenizer.max_size=9")
    assert invoke("run", "--plugin", "unigram", *args).exit_code == 0
    show = invoke("show", "1").output
    assert re.search(r"^  options\.smoothing\s+= 0\.5$", show, re.MULTILINE)
    assert re.search(r"^  tokenizer_options\.max_size\s+= 9$", show, re.MULTILINE)
    assert re.search(r"^  plugin\s+= unigram$", show, re.MULTILINE)
    assert "{" not in show  # no JSON left on screen
    assert '"smoothing": 0.5' in invoke("show", "1", "--json").output
    # header figures rounded for reading: no float with a dozen digits
    assert re.search(r"^wall_seconds\s+\d+(\.\d+)?(e-?\d+)?$", show, re.MULTILINE), show
    assert not re.search(r"\d\.\d{6,}", show)


def test_run_and_show_give_the_training_arithmetic(tiny_corpus):
    """Model FLOPs per token and the rate they mean, the same in the run's summary and in
    show (from the stored metrics); this CPU has no listed peak, so no fraction."""
    ran = invoke(
        "run", "--plugin", "lstm", "--corpus", tiny_corpus, "--set", "epochs=1", *TINY_LSTM
    )
    line = re.search(r"^  training arithmetic (.+)$", ran.output, re.MULTILINE)
    assert line, ran.output
    assert re.fullmatch(
        r"[\d.]+ kFLOP/token forward \(x3 trained\), [\d.]+ [kMGT]?FLOP/s per device "
        r"\(no listed peak for this device\)",
        line.group(1),
    )
    show = invoke("show", "1").output
    assert f"\ntraining arithmetic      {line.group(1)}\n" in show
    unigram = invoke("run", "--plugin", "unigram", "--corpus", tiny_corpus).output
    assert "training arithmetic" not in unigram + invoke("show", "2").output


def test_config_lines_flatten_nested_options():
    from bench.cli.run_listing import config_lines

    lines = config_lines(
        {"plugin": "lstm", "options": {"output_options": {"samples": 64}, "tied": True}}
    )
    assert [line.split() for line in lines] == [
        ["plugin", "=", "lstm"],
        ["options.output_options.samples", "=", "64"],
        ["options.tied", "=", "true"],
    ]
    assert len({line.index("=") for line in lines}) == 1  # aligned


def test_models_lists_shared_options_once():
    listing = invoke("models").output
    # the BPTT training options are common to the recurrent models: one block, not four
    # (awd-lstm has a hidden_size of its own: it shares no option class with them)
    recurrent = re.sub(r"(?ms)^awd-lstm .*?\n\n", "", listing)
    assert len(re.findall(r"^    hidden_size\b", recurrent, re.MULTILINE)) == 1
    block = re.search(r"^options shared by ([^:\n]+):$", listing, re.MULTILINE)
    assert block and {"lstm", "gru", "rnn", "rnn-maxent"} <= set(block.group(1).split(", "))
    lstm = listing.split("\nlstm ")[1].split("\n\n")[0]
    assert "projection_size" in lstm and "hidden_size" not in lstm
    assert "options shared by" in lstm
    assert "smoothing" in listing.split("\nunigram ")[1]  # a model's own options stay put
    # one model alone shows everything it takes
    assert re.search(r"^    hidden_size\b", invoke("models", "lstm").output, re.MULTILINE)


def test_sharing_is_found_from_the_option_classes():
    from pydantic import Field

    from bench.cli.option_groups import describe_all, group_options
    from bench.configuration.options import Options

    class Base(Options):
        lr: float = Field(0.1, description="learning rate")

    class A(Base):
        width: int = Field(4, description="width")

    class B(Base):
        width: int = Field(8, description="width")  # another default: not shared

    class C(Options):
        lr: float = Field(0.1, description="learning rate")  # same field, no common base

    class Entry:
        def __init__(self, name, options):
            self.name, self.item = name, type("Item", (), {"Options": options})

    listing = group_options(describe_all([Entry("a", A), Entry("b", B), Entry("c", C)]))
    assert [(b.models, [o["name"] for o in b.options]) for b in listing.blocks] == [
        (("a", "b", "c"), ["lr"])
    ]
    assert [o["default"] for o in listing.own["a"] + listing.own["b"]] == ["4", "8"]
    assert listing.own["c"] == []


def _counted_by_tokenizer(spec, data_dir, tokenizer):
    """Token counts as a run would see them: the corpus loaded and encoded for real."""
    from bench.api.registry import Registry
    from bench.corpora import load_corpus
    from bench.tokenization.tokenizers import CharTokenizer, WordTokenizer

    registry = Registry("corpus")
    registry.add(spec.name, spec, plugin="test")
    text = load_corpus(spec.name, registry, data_dir, download=False)
    cls = {"word": WordTokenizer, "char": CharTokenizer}[tokenizer]
    tok = cls(cls.Options())
    tok.fit(text.splits["train"], data_dir)
    return {split: tok.encode(split, lines).counts.tokens for split, lines in text.splits.items()}


def test_corpora_list_counts_tokens_under_the_default_tokenizer(tmp_path, monkeypatch):
    from dataclasses import replace

    from bench.corpora import CorpusSpec, SplitFile, cached_path, describe
    from bench.corpora.counts import CACHE_NAME

    data_dir = tmp_path / "data"
    texts = {  # a BOM, CRLF, a blank line, a literal <unk>, a trailing whitespace fragment
        "train": "\ufeffthe cat  sat\r\n\non <unk> mat\n ",
        "valid": "a dog\nran",
        "test": "x <unk> y\n",
    }
    files = tuple(SplitFile(s, f"file:///src/{s}.txt", None) for s in texts)
    spec = CorpusSpec("mini", "a test corpus", files, "none", "none", default_tokenizer="word")
    assert describe(spec, data_dir)["tokens_source"] is None  # not here, nothing registered
    for split_file in files:
        path = cached_path(spec, split_file, data_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(texts[split_file.split].encode())
    for tokenizer in ("word", "char"):
        spec = replace(spec, default_tokenizer=tokenizer)
        info = describe(spec, data_dir)
        assert info["tokens_source"] == "counted"
        assert info["tokens"] == _counted_by_tokenizer(spec, data_dir, tokenizer), tokenizer

    # the counts are cached beside the files, and counted again when a file changes
    cache = data_dir / "corpora" / "mini" / CACHE_NAME
    assert cache.is_file()
    monkeypatch.setattr("bench.corpora.counts._file_counts", lambda *a: 1 / 0)
    assert describe(spec, data_dir)["tokens"]["valid"] == 10  # "a dog", "ran": 8 chars + 2 eos
    monkeypatch.undo()
    cached_path(spec, files[1], data_dir).write_text("a dog\nran far\n")
    assert describe(spec, data_dir)["tokens"]["valid"] == 14


def test_corpora_list_says_where_counts_come_from():
    listing = invoke("corpora", "list").output
    shakespeare = listing.split("\ntinyshakespeare")[1]
    # embedded, so counted here, in characters (its default tokenizer), not whitespace words
    train = int(
        re.search(r"tokens \(char tokenizer, \+eos per line\): train ([\d,]+)", shakespeare)
        .group(1)
        .replace(",", "")
    )
    assert train > 1_000_000
    assert re.search(
        r"ptb .*\n.*\n  tokens \(whitespace words, registered.*: train 929,589", listing
    )
    assert re.search(r"^one-billion-word .*\n.*\n  tokens: not downloaded$", listing, re.MULTILINE)


def test_oov_counts_and_ppl_without_them_in_summary_and_show(tmp_path):
    import json

    corpus = tmp_path / "oov"
    corpus.mkdir()
    (corpus / "train.txt").write_text("a a a b b c\n" * 3)  # counts: a 9, b 6, c 3
    (corpus / "valid.txt").write_text("a b c\n")
    (corpus / "test.txt").write_text("a zebra b\nc c\n")  # zebra never seen in train

    # vocabulary capped at <eos>, <unk>, a, b: c is out of vocabulary too
    capped = invoke(
        "run", "--plugin", "unigram", "--corpus", corpus, "--set", "tokenizer.max_size=4"
    )
    assert capped.exit_code == 0, capped.output
    record = json.loads(invoke("show", "1", "--json").output)
    by_split = {ev["split"]: ev for ev in record["evaluations"]}
    assert (by_split["valid"]["oov"], by_split["test"]["oov"]) == (1, 3)
    for split, oov, tokens in (("valid", 1, 4), ("test", 3, 7)):
        line = (
            f"{split} OOV tokens {oov} of {tokens} ({oov / tokens:.2%}), perplexity without "
            f"them {by_split[split]['ppl_no_oov']:.3f}"
        )
        assert f"\n  {line}\n" in capped.output
        assert f"\n  {line}\n" in invoke("show", "1").output

    # without the cap only the test split has an OOV; nothing is added for valid
    full = invoke("run", "--plugin", "unigram", "--corpus", corpus)
    assert "test OOV tokens 1 of 7" in full.output and "valid OOV" not in full.output
    show = invoke("show", "2").output
    assert "test OOV tokens 1 of 7" in show and "valid OOV" not in show
