"""The corpus layer: the line rule, fetch/verify through file:// URLs, local folders, names.

Everything is built in tmp_path; nothing needs the network or the shared corpora.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import io
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest

from bench.api.plugin_host import load_plugins
from bench.api.registry import Registry
from bench.corpora import (
    CorpusSpec,
    SplitFile,
    accepted_names,
    cached_path,
    combine_sha256,
    count_tokens,
    describe,
    fetch,
    load_corpus,
    read_lines,
    split_lines,
    verify,
)
from bench.errors import BenchError

TEXTS = {
    "train": b"the cat sat\non the mat\n\na dog\n",
    "valid": b"the dog sat\n",
    "test": b"a cat\non a mat\n",
}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def spec_of(files: tuple[SplitFile, ...], name: str = "tiny", **extra: object) -> CorpusSpec:
    return CorpusSpec(
        name=name, description="test corpus", files=files, license="test", citation="test", **extra
    )  # type: ignore[arg-type]


def registry_of(*specs: CorpusSpec) -> Registry[CorpusSpec]:
    registry: Registry[CorpusSpec] = Registry("corpus")
    for spec in specs:
        registry.add(spec.name, spec, plugin="test", aliases=spec.aliases)
    return registry


def plain_spec(src: Path) -> CorpusSpec:
    """A three-file corpus served from ``src`` through file:// URLs, with true checksums."""
    files = tuple(
        SplitFile(
            split,
            (write(src / f"{split}.txt", data)).as_uri(),
            sha(data),
            lines=len(split_lines(data.decode())),
            tokens=count_tokens(split_lines(data.decode())),
        )
        for split, data in TEXTS.items()
    )
    return spec_of(files)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


# --------------------------------------------------------------------------- line rule


def test_line_rule_trailing_fragment_crlf_and_blank_lines(tmp_path: Path) -> None:
    assert split_lines("a b\nc\n") == ["a b", "c"]
    assert split_lines("a _ b \n c \n ") == ["a _ b ", " c "]  # ptb-char ends in "\n "
    assert split_lines("a\r\nb\r\n") == ["a", "b"]
    assert split_lines("a\n\nb") == ["a", "", "b"]  # a blank middle line stays
    assert split_lines("a\r\r\n") == ["a\r"]  # only one \r is stripped
    assert read_lines(write(tmp_path / "x.txt", b"one\r\n\r\ntwo\r\n")) == ["one", "", "two"]
    assert count_tokens(["a b", "", "c"]) == 3 + 3


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "split is empty"),
        (b" \n\n\t\n", "split is empty"),
        (b"caf\xe9\n", "not a text file"),
        (b"abc\x00def\n", "not a text file"),
    ],
)
def test_read_lines_rejects_bad_files(tmp_path: Path, data: bytes, message: str) -> None:
    path = write(tmp_path / "bad.txt", data)
    with pytest.raises(BenchError, match=message) as caught:
        read_lines(path)
    assert str(path) in str(caught.value)


def test_read_lines_rejects_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(BenchError, match="no such file"):
        read_lines(tmp_path / "absent.txt")
    with pytest.raises(BenchError, match="is a folder"):
        read_lines(tmp_path)


# --------------------------------------------------------------------------- fetch


def test_fetch_plain_file_and_no_second_download(tmp_path: Path, data_dir: Path) -> None:
    spec = plain_spec(tmp_path / "src")
    paths = fetch(spec, data_dir, progress=False)
    assert paths["train"] == [data_dir / "corpora" / "tiny" / "train.txt"]
    assert paths["test"][0].read_bytes() == TEXTS["test"]
    for split in TEXTS:
        (tmp_path / "src" / f"{split}.txt").unlink()
    assert fetch(spec, data_dir, progress=False) == paths  # served from the cache
    with pytest.raises(BenchError, match=r"download of .* failed"):
        fetch(spec, data_dir, force=True, progress=False)
    assert paths["train"][0].read_bytes() == TEXTS["train"]  # a failed re-fetch keeps it


def test_fetch_gunzips_gz_urls(tmp_path: Path, data_dir: Path) -> None:
    source = write(tmp_path / "src" / "train.txt.gz", gzip.compress(TEXTS["train"]))
    spec = spec_of((SplitFile("train", source.as_uri(), sha(TEXTS["train"])),))
    (path,) = fetch(spec, data_dir, progress=False)["train"]
    assert path.name == "train.txt"
    assert path.read_bytes() == TEXTS["train"]


def make_zip(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as bundle:
        for split, data in TEXTS.items():
            bundle.writestr(f"corpus/wiki.{split}.tokens", data)
    return path


def make_tgz(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as bundle:
        for split, data in TEXTS.items():
            info = tarfile.TarInfo(f"./corpus/data/{split}.txt")
            info.size = len(data)
            bundle.addfile(info, io.BytesIO(data))
    return path


def test_fetch_zip_members_from_one_kept_download(tmp_path: Path, data_dir: Path) -> None:
    archive = make_zip(tmp_path / "src" / "corpus.zip")
    spec = spec_of(
        tuple(
            SplitFile(split, archive.as_uri(), sha(data), member=f"corpus/wiki.{split}.tokens")
            for split, data in TEXTS.items()
        )
    )
    paths = fetch(spec, data_dir, progress=False)
    assert paths["valid"][0].read_bytes() == TEXTS["valid"]
    kept = data_dir / "corpora" / "tiny" / "downloads" / "corpus.zip"
    assert kept.is_file()
    archive.unlink()
    paths["valid"][0].unlink()
    fetch(spec, data_dir, progress=False)  # re-extracted from the kept archive
    assert paths["valid"][0].read_bytes() == TEXTS["valid"]


def test_fetch_tar_gz_member_with_leading_dot(tmp_path: Path, data_dir: Path) -> None:
    archive = make_tgz(tmp_path / "src" / "corpus.tgz")
    spec = spec_of(
        (
            SplitFile(
                "train", archive.as_uri(), sha(TEXTS["train"]), member="corpus/data/train.txt"
            ),
            SplitFile(
                "test", archive.as_uri(), sha(TEXTS["test"]), member="./corpus/data/test.txt"
            ),
        )
    )
    paths = fetch(spec, data_dir, progress=False)
    assert paths["train"][0].read_bytes() == TEXTS["train"]
    assert paths["test"][0].read_bytes() == TEXTS["test"]


def test_fetch_reports_a_missing_member(tmp_path: Path, data_dir: Path) -> None:
    archive = make_zip(tmp_path / "src" / "corpus.zip")
    spec = spec_of((SplitFile("train", archive.as_uri(), None, member="corpus/wiki.train.token"),))
    with pytest.raises(BenchError, match=r"no member .*wiki.train.tokens"):
        fetch(spec, data_dir, progress=False)


def test_checksum_mismatch_leaves_no_file(tmp_path: Path, data_dir: Path) -> None:
    source = write(tmp_path / "src" / "train.txt", TEXTS["train"])
    spec = spec_of((SplitFile("train", source.as_uri(), "0" * 64),))
    with pytest.raises(BenchError) as caught:
        fetch(spec, data_dir, progress=False)
    message = str(caught.value)
    assert "train.txt" in message and "0" * 64 in message and sha(TEXTS["train"]) in message
    folder = data_dir / "corpora" / "tiny"
    assert not (folder / "train.txt").exists()
    assert [path.name for path in folder.iterdir()] == []  # no temp file left behind


@pytest.mark.parametrize(
    "url", ["file:///nonexistent/bench/train.txt", "http://127.0.0.1:9/train.txt"]
)
def test_unreachable_url_is_a_bench_error(data_dir: Path, url: str) -> None:
    spec = spec_of((SplitFile("train", url, None),))
    with pytest.raises(BenchError, match="offline") as caught:
        fetch(spec, data_dir, progress=False)
    assert "--corpus PATH" in str(caught.value)
    assert not any((data_dir / "corpora" / "tiny").iterdir())


# --------------------------------------------------------------------------- verify


def test_verify_statuses(tmp_path: Path, data_dir: Path) -> None:
    spec = plain_spec(tmp_path / "src")
    assert {check.status for check in verify(spec, data_dir)} == {"missing"}
    fetch(spec, data_dir, progress=False)
    assert [check.status for check in verify(spec, data_dir)] == ["ok", "ok", "ok"]
    cached_path(spec, spec.files[1], data_dir).write_bytes(b"changed\n")
    statuses = {check.split: check.status for check in verify(spec, data_dir)}
    assert statuses == {"train": "ok", "valid": "mismatch", "test": "ok"}
    unverified = spec_of((SplitFile("train", spec.files[0].url, None),))
    (check,) = verify(unverified, data_dir)
    assert (check.status, check.actual_sha256) == ("unverified", sha(TEXTS["train"]))


# --------------------------------------------------------------------------- load


def test_load_registered_fetches_and_checks(tmp_path: Path, data_dir: Path) -> None:
    spec = plain_spec(tmp_path / "src")
    corpora = registry_of(spec)
    with pytest.raises(BenchError, match="bench corpora fetch tiny"):
        load_corpus("tiny", corpora, data_dir, download=False)
    text = load_corpus("tiny", corpora, data_dir, progress=False)
    assert text.splits["train"] == ["the cat sat", "on the mat", "", "a dog"]
    assert text.verified and text.spec is spec and text.default_tokenizer == "word"
    assert text.sha256["valid"] == sha(TEXTS["valid"])
    assert describe(spec, data_dir)["status"] == "cached"


def test_load_checks_token_counts_and_combines_shards(tmp_path: Path, data_dir: Path) -> None:
    shard_a = write(tmp_path / "src" / "a.txt", b"x y\n")
    shard_b = write(tmp_path / "src" / "b.txt", b"z\n")
    other = write(tmp_path / "src" / "o.txt", b"w\n")
    files = (
        SplitFile("train", shard_a.as_uri(), None, tokens=3),
        SplitFile("train", shard_b.as_uri(), None, tokens=2),
        SplitFile("valid", other.as_uri(), None),
        SplitFile("test", other.as_uri(), None),
    )
    text = load_corpus("tiny", registry_of(spec_of(files)), data_dir, progress=False)
    assert text.splits["train"] == ["x y", "z"] and not text.verified
    assert text.sha256["train"] == combine_sha256([sha(b"x y\n"), sha(b"z\n")])
    wrong = spec_of(
        (files[0], files[2], SplitFile("test", other.as_uri(), None, tokens=5)), name="wrong"
    )
    with pytest.raises(BenchError, match="expected 5 tokens"):
        load_corpus("wrong", registry_of(wrong), data_dir, progress=False)


def test_line_splits_cut_one_file(tmp_path: Path, data_dir: Path) -> None:
    source = write(tmp_path / "src" / "all.txt", b"".join(b"line %d\n" % i for i in range(10)))
    spec = spec_of(
        (SplitFile("all", source.as_uri(), sha(source.read_bytes())),),
        line_splits={"train": (0, 8), "valid": (8, 9), "test": (9, 10)},
        expected_tokens={"valid": 3},
    )
    text = load_corpus("tiny", registry_of(spec), data_dir, progress=False)
    assert [len(text.splits[split]) for split in ("train", "valid", "test")] == [8, 1, 1]
    assert text.splits["test"] == ["line 9"] and text.verified


def write_folder(folder: Path, names: dict[str, str]) -> Path:
    for split, name in names.items():
        write(folder / name, TEXTS[split])
    return folder


def test_local_folder_and_alternate_names(tmp_path: Path) -> None:
    folder = write_folder(
        tmp_path / "mine",
        {"train": "ptb.train.txt", "valid": "dev.txt", "test": "wiki.test.tokens"},
    )
    text = load_corpus(str(folder), registry_of(), tmp_path / "data")
    assert text.name == "local:mine" and text.spec is None and not text.verified
    assert text.source == str(folder.resolve())
    assert text.splits["valid"] == ["the dog sat"]
    assert text.sha256["test"] == sha(TEXTS["test"])
    assert text.default_tokenizer == "word"


def test_local_folder_missing_split_lists_names_and_contents(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "mine", {"train": "train.txt", "test": "test.txt"})
    write(folder / "notes.md", b"x")
    with pytest.raises(BenchError) as caught:
        load_corpus(str(folder), registry_of(), tmp_path / "data")
    message = str(caught.value)
    assert "no valid split" in message
    assert all(name in message for name in accepted_names("valid"))
    assert "notes.md" in message


@pytest.mark.parametrize(
    ("data", "message"), [(b"\n \n", "split is empty"), (b"\xff\xfe\n", "not a text file")]
)
def test_local_folder_bad_split(tmp_path: Path, data: bytes, message: str) -> None:
    folder = write_folder(tmp_path / "mine", {"train": "train.txt", "valid": "valid.txt"})
    write(folder / "test.txt", data)
    with pytest.raises(BenchError, match=message):
        load_corpus(str(folder), registry_of(), tmp_path / "data")


def test_local_folder_recognised_by_checksum(tmp_path: Path) -> None:
    spec = plain_spec(tmp_path / "src")  # its files are train.txt/valid.txt/test.txt in src
    text = load_corpus(str(tmp_path / "src"), registry_of(spec), tmp_path / "data")
    assert (text.name, text.spec, text.verified) == ("tiny", spec, True)


def test_names_paths_and_near_matches(tmp_path: Path) -> None:
    corpora = load_plugins().corpora
    with pytest.raises(BenchError, match="Did you mean: tinyshakespeare"):
        load_corpus("tinyshakespear", corpora, tmp_path)
    with pytest.raises(BenchError, match="no such file or folder"):
        load_corpus("./no-such-corpus-folder", corpora, tmp_path)
    with pytest.raises(BenchError, match="no such file or folder"):
        load_corpus(str(tmp_path / "absent"), corpora, tmp_path)


def test_embedded_tiny_shakespeare(tmp_path: Path) -> None:
    corpora = load_plugins().corpora
    text = load_corpus("shakespeare", corpora, tmp_path / "data", download=False)
    assert text.name == "tinyshakespeare" and text.source == "embedded" and text.verified
    assert [len(text.splits[split]) for split in ("train", "valid", "test")] == [
        36_000,
        2_000,
        2_000,
    ]
    assert text.default_tokenizer == "char"
    assert text.splits["train"][0] == "First Citizen:"
    spec = corpora.get("tinyshakespeare")
    assert [check.status for check in verify(spec, tmp_path)] == ["ok"]
    assert describe(spec, tmp_path)["status"] == "embedded"
    assert not (tmp_path / "data").exists()  # nothing was downloaded or written


def test_fetch_over_http_and_http_errors(tmp_path: Path, data_dir: Path) -> None:
    source = write(tmp_path / "src" / "train.txt", TEXTS["train"])

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep pytest output clean
            pass

    handler = functools.partial(Quiet, directory=str(source.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        good = spec_of((SplitFile("train", f"{base}/train.txt", sha(TEXTS["train"])),))
        assert fetch(good, data_dir, progress=False)["train"][0].read_bytes() == TEXTS["train"]
        missing = spec_of((SplitFile("train", f"{base}/absent.txt", None),), name="absent")
        with pytest.raises(BenchError, match="HTTP 404"):
            fetch(missing, data_dir, progress=False)
    finally:
        server.shutdown()
        server.server_close()


def test_damaged_archive_is_deleted(tmp_path: Path, data_dir: Path) -> None:
    archive = write(tmp_path / "src" / "corpus.tgz", b"this is not an archive")
    spec = spec_of((SplitFile("train", archive.as_uri(), None, member="a/train.txt"),))
    with pytest.raises(BenchError, match="damaged"):
        fetch(spec, data_dir, progress=False)
    assert not (data_dir / "corpora" / "tiny" / "downloads" / "corpus.tgz").exists()
