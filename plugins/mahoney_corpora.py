"""enwik8 and text8, Mahoney's 10^8-byte Wikipedia files, registered by
:mod:`bench_plugins.standard_corpora` beside the other standard corpora.

Both are one file in a zip, cut into the standard 90M / 5M / 5M split by byte offsets
(``CorpusSpec.byte_splits``), and scored per byte (enwik8) or per character (text8, all
ASCII, where the two are the same): the unit of the published bits-per-character tables.
"""

from __future__ import annotations

from bench import Checksum, CorpusSpec, SplitFile

MAHONEY_TEXTDATA = "Mahoney, About the Test Data (mattmahoney.net/dc/textdata.html)"
MAHONEY_CITATION = (
    "Mahoney (2006). Large Text Compression Benchmark; About the Test Data. "
    "http://mattmahoney.net/dc/textdata.html"
)
WIKIPEDIA_2006_LICENSE = (
    "Text of the English Wikipedia dump of 3 March 2006, under the GNU Free Documentation "
    "License as Wikipedia's text then was (see en.wikipedia.org/wiki/Wikipedia:Copyrights); "
    "redistributed by Mahoney as compression test data. bench never ships it."
)
# The standard split of both files (Mikolov et al. 2012 for text8; the Hutter Prize data
# as cmix, Transformer-XL and the AWD-LSTM scripts cut it): 90M / 5M / 5M bytes.
HUNDRED_MILLION_BYTES_SPLIT = {
    "train": (0, 90_000_000),
    "valid": (90_000_000, 95_000_000),
    "test": (95_000_000, 100_000_000),
}


def enwik8(url: str = "https://mattmahoney.net/dc/enwik8.zip") -> CorpusSpec:
    """The enwik8 entry, fetched from ``url`` (tests pass a file:// zip of the same layout)."""
    return CorpusSpec(
        name="enwik8",
        aliases=("hutter-prize",),
        description="enwik8 (Hutter Prize): the first 10^8 bytes of the English Wikipedia "
        "XML dump of 3 March 2006, raw UTF-8 XML. Split by bytes 90M / 5M / 5M; "
        "scored per byte (bits per byte, the 'bits per character' of the published tables).",
        files=(
            SplitFile(
                "all",
                url,
                None,
                member="enwik8",
                bytes=100_000_000,
                published=Checksum(
                    "md5", "a1fa5ffddb56f4953e226637dabbb36a", MAHONEY_TEXTDATA, size=100_000_000
                ),
            ),
        ),
        license=WIKIPEDIA_2006_LICENSE,
        citation=MAHONEY_CITATION + "; Hutter Prize, http://prize.hutter1.net",
        default_tokenizer="char",
        byte_splits=HUNDRED_MILLION_BYTES_SPLIT,
        reference_names=("enwik8",),
        figures_per="byte",
        notes="The file is checked against the size and MD5 Mahoney publishes for enwik8 "
        "(there is none for the zip, whose size only is given: 36,445,475 bytes). Published "
        "models read enwik8 as bytes (~205 symbols); bench's char tokenizer reads characters "
        "(a line break is an end-of-line token) and reports bits per byte over the same "
        "bytes, the unit of the published figures. A byte offset inside a character moves "
        "to that character's end.",
    )


def text8(url: str = "https://mattmahoney.net/dc/text8.zip") -> CorpusSpec:
    """The text8 entry, fetched from ``url`` (tests pass a file:// zip of the same layout)."""
    return CorpusSpec(
        name="text8",
        description="text8: the first 10^8 characters of Mahoney's cleaned English "
        "Wikipedia (March 2006): lower-case letters a-z and single spaces only, one line. "
        "Split by characters 90M / 5M / 5M; scored per character.",
        files=(
            SplitFile(
                "all",
                url,
                None,
                member="text8",
                bytes=100_000_000,
                published=Checksum(
                    "sha1",
                    "0dc3edebc970dcc96137e7deda4d9995af9d93de",
                    "GluonNLP, src/gluonnlp/data/corpora/large_text_compression_benchmark.py "
                    "(github.com/dmlc/gluon-nlp, commit 0b3ed83e): the text8 file of its "
                    "re-hosted copy of text8.zip",
                    size=100_000_000,
                ),
            ),
        ),
        license=WIKIPEDIA_2006_LICENSE,
        citation=MAHONEY_CITATION + " (text8: the filtered 'fil9' text, first 10^8 bytes)",
        default_tokenizer="char",
        byte_splits=HUNDRED_MILLION_BYTES_SPLIT,
        reference_names=("text8",),
        figures_per="character",
        notes="Mahoney publishes no checksum of text8 or text8.zip; the file is checked "
        "against the SHA-1 GluonNLP publishes for the text8 file inside its re-hosted copy "
        "of the zip (not checked against Mahoney's own file here). The text is one line, so "
        "each split has a single end-of-line token; every character is ASCII, so bits per "
        "byte is bits per character.",
    )


ENWIK8 = enwik8()
TEXT8 = text8()
