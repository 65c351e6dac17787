"""Rebuild a stored run's tokenizer and model, with its best checkpoint, from the database."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.api.model import LanguageModel
from bench.api.plugin_host import PluginHost
from bench.configuration.options import validate_options
from bench.corpora import CorpusText, load_corpus
from bench.errors import BenchError
from bench.store import Store
from bench.tokenization.tokenizers import Tokenizer
from bench.tokenization.vocabulary_cache import fit_tokenizer


@dataclass
class RestoredRun:
    record: dict[str, Any]
    tokenizer: Tokenizer
    model: LanguageModel
    corpus: CorpusText  # the text the run was trained and scored on


def restore_run(
    run_id: int, store: Store, host: PluginHost, data_dir: Path, device: str = "cpu"
) -> RestoredRun:
    """The tokenizer (refitted on the same train split, checked by vocabulary hash) and
    the model with its recorded checkpoint loaded."""
    record = store.get_run(run_id)
    config = record["config"] or {}
    checkpoints = [a["path"] for a in record["artifacts"] if a["kind"] == "checkpoint"]
    if not checkpoints or not Path(checkpoints[-1]).exists():
        raise BenchError(
            f"run {run_id} has no checkpoint on this machine "
            f"(status {record['status']}); only trained runs can be restored"
        )
    model_class = host.models.get(config["plugin"])
    if not model_class.supports("load_checkpoint"):
        raise BenchError(f"model plugin {config['plugin']!r} cannot load checkpoints")
    tokenizer_class = host.tokenizers.get(config["tokenizer"])
    tokenizer = tokenizer_class(
        validate_options(
            tokenizer_class.Options, config["tokenizer_options"], owner=config["tokenizer"]
        )
    )
    # a local folder is recorded by where it was read from; a registered corpus by name
    source = record.get("corpus_source")
    corpus_name = source if source and Path(source).is_dir() else record["corpus"]
    corpus = load_corpus(corpus_name, host.corpora, data_dir, download=False, progress=False)
    fit_tokenizer(tokenizer, corpus, data_dir / "tokenizers")
    if tokenizer.vocab.sha256() != record["vocab_sha256"]:
        raise BenchError(
            f"run {run_id}: the rebuilt vocabulary differs from the recorded one "
            "(has the corpus changed?)"
        )
    options = host.model_options(config["plugin"], config["options"])
    model = model_class(options, tokenizer.vocab, device)
    model.load_checkpoint(Path(checkpoints[-1]))
    return RestoredRun(record=record, tokenizer=tokenizer, model=model, corpus=corpus)
