"""Published checksums: each registered corpus names one per file, fetch checks an archive
before extracting anything and each file after, and a download that cannot happen says
how to use a local copy instead.

Everything is built in tmp_path (small archives and files made here); nothing needs the
network or the shared corpora.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.api.plugin_host import load_plugins
from bench.api.registry import Registry
from bench.cli import cli
from bench.corpora import (
    Checksum,
    CorpusSpec,
    SplitFile,
    cached_path,
    describe,
    fetch,
    load_corpus,
    verify,
)
from bench.corpora.text import file_digest
from bench.errors import BenchError

TEXTS = {
    "train": b"the cat sat\non the mat\n",
    "valid": b"the dog sat\n",
    "test": b"a cat\n",
}
UNREACHABLE = "http://127.0.0.1:9/corpus.tar.gz"  # port 9 (discard): nothing listens


def make_archive(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as bundle:
        for split, data in TEXTS.items():
            info = tarfile.TarInfo(f"corpus/{split}.txt")
            info.size = len(data)
            bundle.addfile(info, io.BytesIO(data))
    return path


def archive_checksum(archive: Path) -> Checksum:
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    return Checksum("sha256", digest, "the test's own archive", size=archive.stat().st_size)


def archive_spec(url: str, checksum: Checksum, **published: Checksum) -> CorpusSpec:
    """Three files taken from the archive at ``url``, no sha256 of bench's own."""
    files = tuple(
        SplitFile(split, url, None, member=f"corpus/{split}.txt", published=published.get(split))
        for split in TEXTS
    )
    return CorpusSpec(
        name="tiny",
        description="test corpus",
        files=files,
        license="test",
        citation="test",
        archive_checksums={url: checksum},
    )


def registry_of(spec: CorpusSpec) -> Registry[CorpusSpec]:
    registry: Registry[CorpusSpec] = Registry("corpus")
    registry.add(spec.name, spec, plugin="test")
    return registry


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def test_checksum_kinds_as_their_sources_compute_them(tmp_path: Path) -> None:
    path = tmp_path / "hello.txt"
    path.write_bytes(b"hello\n")
    assert file_digest(path, "git-blob") == "ce013625030ba8dba906f756967f9e9ca394464a"  # git
    assert file_digest(path, "sha1") == "f572d396fae9206628714fb2ce00f72e94f2258f"
    assert file_digest(path, "md5") == "b1946ac92492d2347c6235b4d2611184"
    with pytest.raises(ValueError, match="kind"):
        Checksum("crc32", "0", "nobody")


def test_a_good_archive_is_extracted_and_its_files_trusted(tmp_path: Path, data_dir: Path) -> None:
    archive = make_archive(tmp_path / "src" / "corpus.tar.gz")
    spec = archive_spec(archive.as_uri(), archive_checksum(archive))
    fetch(spec, data_dir, progress=False)
    checks = verify(spec, data_dir)
    assert [check.status for check in checks] == ["ok", "ok", "ok"]
    assert "the test's own archive" in checks[0].detail
    corpus = load_corpus("tiny", registry_of(spec), data_dir, progress=False)
    assert corpus.verified  # trusted by the sha256 recorded on extraction
    cached_path(spec, spec.files[1], data_dir).write_bytes(b"the dog sat down\n")
    assert verify(spec, data_dir)[1].status == "mismatch"
    with pytest.raises(BenchError, match="checksum mismatch"):
        load_corpus("tiny", registry_of(spec), data_dir, progress=False)


def test_an_archive_unlike_its_published_checksum_is_deleted_unopened(
    tmp_path: Path, data_dir: Path
) -> None:
    archive = make_archive(tmp_path / "src" / "corpus.tar.gz")
    good = archive_checksum(archive)
    wrong = Checksum("sha256", "0" * 64, "a catalogue", size=good.size)
    spec = archive_spec(archive.as_uri(), wrong)
    with pytest.raises(BenchError, match="not the published archive") as caught:
        fetch(spec, data_dir, progress=False)
    assert "0" * 64 in str(caught.value) and good.value in str(caught.value)
    assert "a catalogue" in str(caught.value)
    folder = data_dir / "corpora" / "tiny"
    assert not (folder / "downloads" / "corpus.tar.gz").exists()
    assert not list(folder.glob("*.txt"))  # nothing extracted


def test_a_truncated_archive_is_reported_as_truncated(tmp_path: Path, data_dir: Path) -> None:
    whole = make_archive(tmp_path / "whole" / "corpus.tar.gz")
    cut = tmp_path / "src" / "corpus.tar.gz"
    cut.parent.mkdir()
    cut.write_bytes(whole.read_bytes()[:-40])  # as an interrupted download leaves it
    spec = archive_spec(cut.as_uri(), archive_checksum(whole))
    with pytest.raises(BenchError, match="truncated") as caught:
        fetch(spec, data_dir, progress=False)
    size = whole.stat().st_size
    assert f"{size - 40:,} of the {size:,} bytes" in str(caught.value)
    assert not (data_dir / "corpora" / "tiny" / "downloads" / "corpus.tar.gz").exists()


def test_a_file_unlike_its_published_checksum_is_not_installed(
    tmp_path: Path, data_dir: Path
) -> None:
    archive = make_archive(tmp_path / "src" / "corpus.tar.gz")
    sha1 = Checksum("sha1", "1" * 40, "GluonNLP-like catalogue")
    spec = archive_spec(archive.as_uri(), archive_checksum(archive), valid=sha1)
    with pytest.raises(BenchError, match=r"checksum mismatch for valid\.txt") as caught:
        fetch(spec, data_dir, progress=False)
    assert "1" * 40 in str(caught.value) and "GluonNLP-like catalogue" in str(caught.value)
    assert not cached_path(spec, spec.files[1], data_dir).exists()
    right = hashlib.sha1(TEXTS["valid"]).hexdigest()
    good = archive_spec(
        archive.as_uri(), archive_checksum(archive), valid=Checksum("sha1", right, "catalogue")
    )
    fetch(good, data_dir, progress=False)
    assert verify(good, data_dir)[1].detail.endswith("sha1 matches catalogue")


def test_an_unreachable_host_offers_a_local_copy_which_then_is_used(
    tmp_path: Path, data_dir: Path
) -> None:
    local = make_archive(tmp_path / "elsewhere" / "corpus.tar.gz")
    spec = archive_spec(UNREACHABLE, archive_checksum(local))
    with pytest.raises(BenchError, match="offline") as caught:
        fetch(spec, data_dir, progress=False)
    place = data_dir / "corpora" / "tiny" / "downloads" / "corpus.tar.gz"
    message = str(caught.value)
    assert f"put it at {place}" in message and "--corpus PATH" in message
    shutil.copy(local, place)  # what the message tells the user to do
    fetch(spec, data_dir, progress=False)
    assert [check.status for check in verify(spec, data_dir)] == ["ok", "ok", "ok"]
    assert cached_path(spec, spec.files[0], data_dir).read_bytes() == TEXTS["train"]


def test_a_wrong_local_copy_is_refused(tmp_path: Path, data_dir: Path) -> None:
    local = make_archive(tmp_path / "elsewhere" / "corpus.tar.gz")
    spec = archive_spec(UNREACHABLE, archive_checksum(local))
    place = data_dir / "corpora" / "tiny" / "downloads" / "corpus.tar.gz"
    place.parent.mkdir(parents=True)
    place.write_bytes(local.read_bytes().replace(b"\x00", b"\x01", 1))
    with pytest.raises(BenchError, match="not the published archive"):
        fetch(spec, data_dir, progress=False)


def test_every_registered_corpus_names_a_published_checksum_for_every_file(
    data_dir: Path,
) -> None:
    for entry in load_plugins().corpora:
        info = describe(entry.item, data_dir)
        assert info["unverified_files"] == 0, entry.item.name
        assert info["checksums"], entry.item.name
    result = CliRunner().invoke(cli, ["corpora", "list", "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    assert "checked against:" in result.output and "unverified" not in result.output


def test_list_marks_a_corpus_without_a_published_checksum(tmp_path: Path) -> None:
    spec = CorpusSpec(
        name="tiny",
        description="test corpus",
        files=(SplitFile("train", "file:///x/train.txt", "0" * 64),),
        license="test",
        citation="test",
    )
    info = describe(spec, tmp_path)
    assert info["unverified_files"] == 1 and info["checksums"] == []


def test_the_embedded_corpus_matches_its_published_checksum() -> None:
    spec = load_plugins().corpora.get("tinyshakespeare")
    (check,) = verify(spec, Path("unused"))
    assert check.status == "ok" and "TensorFlow Datasets" in check.detail
