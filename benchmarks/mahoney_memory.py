"""Peak memory of loading and tokenizing enwik8 and text8 against the file's size
(synthetic archives of the same layout).

    python benchmarks/mahoney_memory.py                        # 20M and 100M bytes
    python benchmarks/mahoney_memory.py --sizes 100M --corpus text8
    python benchmarks/mahoney_memory.py --before /a/checkout   # the same, with other code

How it measures. For each corpus and size a zip of the layout of Mahoney's is written in a
temporary folder (never kept): one member, ``enwik8`` or ``text8``, of exactly SIZE bytes.
It is synthetic, not Wikipedia: the enwik8 stand-in is lines of XML-like UTF-8 text (tags,
accented and CJK characters, 0 to ~300 characters a line) cut at SIZE bytes, possibly
inside a character as enwik8 is; the text8 stand-in is one line of lower-case words drawn
from a Zipf distribution, separated by single spaces. Each corpus is the registered entry
fetched from that file:// zip, with the member's own MD5 as its published checksum and
the split at 90% / 5% / 5% of the bytes (the standard 90M / 5M / 5M at 100M bytes).

Then one fresh Python process per corpus and size (``--worker``, started from a parent
that never held the text: Linux carries the peak across fork and exec) fetches it (extracting
the member), loads it, fits the character tokenizer (each corpus's default) on train and
encodes every split, as ``bench run`` does before its model sees the ids. Peak memory is
that process's peak resident set size (``ru_maxrss``) read after each phase, so each
figure is the peak so far. The worker prints a checksum of the encoded ids, which must be
the same with ``--before`` (a checkout of other bench code, put first on PYTHONPATH).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from itertools import accumulate
from pathlib import Path

SIZES = {"M": 1_000_000, "K": 1_000}
WORDS = [f"{a}{b}" for a in "abcdefghijklmnopqrstuvwxyz" for b in ("", "an", "er", "ing", "tion")]


def parse_count(text: str) -> int:
    suffix = text[-1].upper()
    return int(float(text[:-1]) * SIZES[suffix]) if suffix in SIZES else int(text)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def synthetic_member(name: str, size: int, seed: int = 0) -> bytes:
    """``size`` bytes in the layout of enwik8 (UTF-8 XML-like lines) or text8 (one line)."""
    rng = random.Random(seed)
    weights = list(accumulate(1 / (i + 1) for i in range(len(WORDS))))
    if name == "text8":
        pool = " ".join(rng.choices(WORDS, cum_weights=weights, k=400_000))
        text = (" " + pool) * (size // (len(pool) + 1) + 1)
        return text[:size].encode("ascii")
    extra = ["caf\u00e9", "\u00fcber", "\u4e2d\u6587", "&lt;ref&gt;", "[[link]]", "{{cite}}"]
    vocabulary = WORDS + extra
    lines = []
    for i in range(40_000):
        words = rng.choices(vocabulary, k=rng.randint(0, 50))
        lines.append(f"<text id={i}>" + " ".join(words) if i % 7 == 0 else " ".join(words))
    pool = ("\n".join(lines) + "\n").encode("utf-8")
    return (pool * (size // len(pool) + 1))[:size]


def write_archive(folder: Path, name: str, size: int) -> tuple[Path, str]:
    data = synthetic_member(name, size)
    archive = folder / f"{name}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr(name, data)
    return archive, hashlib.md5(data).hexdigest()


def use_other_checkout(root: Path) -> None:
    """Import ``bench`` from ``root`` rather than from an editable install of this one
    (whose import hook would otherwise win over PYTHONPATH); bench_plugins stays."""
    for module in list(sys.modules.values()):
        if getattr(module, "__name__", "").startswith("__editable__"):
            getattr(module, "MAPPING", {}).pop("bench", None)
    sys.path.insert(0, str(root))


def worker(name: str, archive: Path, md5: str, size: int, data_dir: Path) -> dict:
    """Fetch, load and tokenize one synthetic corpus; peaks after each phase."""
    import dataclasses

    if os.environ.get("BENCH_BEFORE"):
        use_other_checkout(Path(os.environ["BENCH_BEFORE"]))
    import bench
    from bench.api.registry import Registry
    from bench.corpora import Checksum, fetch, load_corpus
    from bench.tokenization.encode import tokenize_corpus
    from bench.tokenization.tokenizers import CharTokenizer
    from bench_plugins.mahoney_corpora import enwik8, text8

    spec = (enwik8 if name == "enwik8" else text8)(archive.as_uri())
    (only,) = spec.files
    published = Checksum("md5", md5, "synthetic", size=size)
    cuts = {"train": (0, size * 9 // 10), "valid": (size * 9 // 10, size * 19 // 20)}
    spec = dataclasses.replace(
        spec,
        files=(dataclasses.replace(only, published=published, bytes=size),),
        byte_splits={**cuts, "test": (size * 19 // 20, size)},
    )
    registry: Registry = Registry("corpus")
    registry.add(name, spec, plugin="benchmark")
    found: dict = {"base": peak_mb()}
    start = time.perf_counter()
    fetch(spec, data_dir, progress=False)
    found["fetched"] = peak_mb()
    corpus = load_corpus(name, registry, data_dir, progress=False)
    found["loaded"] = peak_mb()
    tokenizer = CharTokenizer(CharTokenizer.Options())
    splits = tokenize_corpus(corpus, tokenizer, data_dir, lambda x, **_: x, lambda _: None)
    found["tokenized"] = peak_mb()
    found["seconds"] = time.perf_counter() - start
    digest = hashlib.sha256()
    for split in ("train", "valid", "test"):
        digest.update(splits[split].ids.astype("<i4").tobytes())
    found["train_tokens"] = len(splits["train"])
    found["ids_sha256"] = digest.hexdigest()[:16]
    found["bench"] = str(Path(bench.__file__).parent)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="20M,100M", help="member bytes, comma-separated")
    parser.add_argument("--corpus", default="enwik8,text8", help="enwik8, text8 or both")
    parser.add_argument("--before", type=Path, help="a checkout of other bench code to run")
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    parser.add_argument("--make", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make:
        name, size, folder = args.make
        print(write_archive(Path(folder), name, int(size))[1])
        return
    if args.worker:
        name, archive, md5, size, data_dir = args.worker
        print(json.dumps(worker(name, Path(archive), md5, int(size), Path(data_dir))))
        return
    env = dict(os.environ)
    if args.before:
        env["BENCH_BEFORE"] = str(args.before.resolve())
    print("| corpus (synthetic) | bytes | train tokens | after load MB | peak MB | s | ids |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name in args.corpus.split(","):
        for size in map(parse_count, args.sizes.split(",")):
            with tempfile.TemporaryDirectory(prefix="bench-mahoney-") as temp:
                # made by another process: Linux carries a process's peak RSS across
                # fork and exec, so a worker forked from a parent holding the text
                # would report the parent's size as its own peak
                make = [sys.executable, __file__, "--make", name, str(size), temp]
                md5 = subprocess.run(make, capture_output=True, text=True, check=True).stdout
                archive, md5 = Path(temp) / f"{name}.zip", md5.strip()
                command = [sys.executable, __file__, "--worker", name, str(archive), md5]
                command += [str(size), str(Path(temp) / "data")]
                done = subprocess.run(command, capture_output=True, text=True, env=env)
                if done.returncode != 0:
                    sys.exit(f"{name} {size:,} failed:\n{done.stderr[-3000:]}")
                found = json.loads(done.stdout.splitlines()[-1])
                print(
                    f"| {name} | {size:,} | {found['train_tokens']:,} | "
                    f"{found['loaded']:,.0f} | {found['tokenized']:,.0f} | "
                    f"{found['seconds']:.0f} | {found['ids_sha256']} |",
                    flush=True,
                )
    print(f"bench code: {found['bench']}")


if __name__ == "__main__":
    main()
