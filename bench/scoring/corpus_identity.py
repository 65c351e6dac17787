"""Which stored runs measured the same corpus, and the name a table shows for it.

A corpus's identity is its content: the sha256 of the train, valid and test splits a run
records (:attr:`bench.corpora.CorpusText.sha256`), never the name of the folder it was
read from. Two folders both named ``corpus`` holding different texts are two corpora; a
folder anywhere that holds PTB's files is recognised as ``ptb`` when it is read, records
PTB's checksums, and so joins PTB's runs. Leaderboards, seed groups and ``bench compare``
all group by :func:`corpus_identity`.

Runs stored without checksums (by bench versions before it recorded them, or imported
from such an export) have nothing to compare: they are grouped by their stored corpus
name, apart from any checksummed runs of that name.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

IDENTITY_SPLITS = ("train", "valid", "test")
LOCAL_PREFIX = "local:"  # the stored name of a folder or file that is no registered corpus
NO_CHECKSUMS = "checksums not recorded"
SHORT_DIGEST = 4  # hex digits a shared name is told apart by; more when 4 do not tell them


def split_checksums(record: Mapping[str, Any]) -> dict[str, str] | None:
    """A run's recorded sha256 of each of train/valid/test, or None when any is missing."""
    sha = record.get("corpus_sha256")
    if not isinstance(sha, Mapping):
        return None
    found = {split: sha.get(split) for split in IDENTITY_SPLITS}
    if not all(isinstance(value, str) and value for value in found.values()):
        return None
    return {split: str(value) for split, value in found.items()}


def corpus_identity(record: Mapping[str, Any]) -> str:
    """``"sha256:<hex>"``, a digest of the run's split checksums; ``"name:<corpus>"`` for
    a run stored without them."""
    sha = split_checksums(record)
    if sha is None:
        return f"name:{_stored_name(record)}"
    joined = "".join(f"{split} {sha[split]}\n" for split in IDENTITY_SPLITS)
    return "sha256:" + hashlib.sha256(joined.encode("ascii", "replace")).hexdigest()


def _stored_name(record: Mapping[str, Any]) -> str:
    return str(record.get("corpus_stored") or record.get("corpus") or "?")


def shown_names(records: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Identity -> the corpus name a table shows for it.

    The name is the stored one (a registered corpus's, or ``local:<folder>``); where one
    identity was stored under several names, a registered name wins, else the commonest.
    When several identities share a name, each checksummed one gets the start of its
    digest after it (``local:corpus (3f2a…)``), except the one a registered corpus's
    checksums vouched for, which keeps the plain name; runs without checksums show
    ``(checksums not recorded)``.
    """
    names: dict[str, Counter[str]] = {}
    vouched: set[str] = set()
    for record in records:
        identity = corpus_identity(record)
        name = _stored_name(record)
        names.setdefault(identity, Counter())[name] += 1
        if record.get("corpus_verified") is True and not name.startswith(LOCAL_PREFIX):
            vouched.add(identity)
    chosen = {
        identity: max(counts, key=lambda n: (not n.startswith(LOCAL_PREFIX), counts[n]))
        for identity, counts in names.items()
    }
    sharing: dict[str, list[str]] = {}
    for identity, name in chosen.items():
        sharing.setdefault(name, []).append(identity)
    shown = {}
    for name, identities in sharing.items():
        plain = [i for i in identities if i in vouched]
        digests = [i for i in identities if i.startswith("sha256:") and i not in plain[:1]]
        width = _distinct_width([i.removeprefix("sha256:") for i in digests])
        for identity in identities:
            if len(identities) == 1 or identity in plain[:1]:
                shown[identity] = name
            elif identity.startswith("sha256:"):
                shown[identity] = f"{name} ({identity.removeprefix('sha256:')[:width]}…)"
            else:
                shown[identity] = f"{name} ({NO_CHECKSUMS})"
    return shown


def _distinct_width(digests: list[str]) -> int:
    """The fewest leading hex digits (at least :data:`SHORT_DIGEST`) that tell ``digests`` apart."""
    width = SHORT_DIGEST
    while width < 64 and len({d[:width] for d in digests}) < len(digests):
        width += 1
    return width


def label_corpora(results: Any) -> Any:
    """``results`` (rows of :meth:`bench.store.Store.results_frame`) with ``corpus`` set to
    the name shown for each run's corpus identity (:func:`shown_names`), the stored name
    kept in ``corpus_stored`` and the identity in ``corpus_identity``. Applying it twice
    changes nothing."""
    if "corpus" not in results.columns:
        return results
    records = results.to_dict("records")
    shown = shown_names(records)
    identities = [corpus_identity(r) for r in records]
    return results.assign(
        corpus_stored=[_stored_name(r) for r in records],
        corpus_identity=identities,
        corpus=[shown[i] for i in identities],
    )
