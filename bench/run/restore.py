"""Rebuild a stored run's tokenizer and model, with its best checkpoint, from the database."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.api.model import LanguageModel, TrainingContext
from bench.api.plugin_host import PluginHost
from bench.configuration.options import validate_options
from bench.corpora import CorpusText, load_corpus
from bench.errors import BenchError, CheckpointError
from bench.run.plan import recorded_corpus
from bench.store import Store
from bench.tokenization.tokenizers import Tokenizer
from bench.tokenization.tokens import TokenizedSplit
from bench.tokenization.vocabulary_cache import fit_tokenizer


@dataclass
class RestoredRun:
    record: dict[str, Any]
    tokenizer: Tokenizer
    model: LanguageModel
    corpus: CorpusText  # the text the run was trained and scored on
    refit_needed: bool = False  # a model restored by fitting it again (refit_to_restore)


def restore_run(
    run_id: int,
    store: Store,
    host: PluginHost,
    data_dir: Path,
    device: str = "cpu",
    *,
    refit: bool = False,
) -> RestoredRun:
    """The tokenizer (refitted on the same train split, checked by vocabulary hash) and
    the model with its recorded checkpoint loaded. With ``refit``, a model whose class
    declares ``refit_to_restore`` (a cheap, deterministic fit: n-gram counts) comes back
    unfitted, with ``refit_needed`` set: the caller fits it on the run's train split."""
    record = store.get_run(run_id)
    config = record["config"] or {}
    checkpoints = [a["path"] for a in record["artifacts"] if a["kind"] == "checkpoint"]
    refit_needed = refit and host.models.get(config["plugin"]).refit_to_restore
    if not refit_needed and (not checkpoints or not Path(checkpoints[-1]).exists()):
        raise BenchError(
            f"run {run_id} has no checkpoint on this machine "
            f"(status {record['status']}); only trained runs can be restored"
        )
    model_class = host.models.get(config["plugin"])
    if not refit_needed and not model_class.supports("load_checkpoint"):
        raise BenchError(f"model plugin {config['plugin']!r} cannot load checkpoints")
    tokenizer, corpus = restore_tokenizer(run_id, record, host, data_dir)
    options = host.model_options(config["plugin"], config["options"])
    model = model_class(options, tokenizer.vocab, device)
    if not refit_needed:
        _load_checkpoint(model, Path(checkpoints[-1]))
    return RestoredRun(record, tokenizer, model, corpus, refit_needed=refit_needed)


def restore_tokenizer(
    run_id: int, record: dict[str, Any], host: PluginHost, data_dir: Path
) -> tuple[Tokenizer, CorpusText]:
    """A stored run's tokenizer, refitted on the same train split and checked by vocabulary
    hash, and the corpus it read (checked by checksum where it was a single file)."""
    config = record["config"] or {}
    tokenizer_class = host.tokenizers.get(config["tokenizer"])
    tokenizer = tokenizer_class(
        validate_options(
            tokenizer_class.Options, config["tokenizer_options"], owner=config["tokenizer"]
        )
    )
    corpus = load_corpus(
        recorded_corpus(record, host), host.corpora, data_dir, download=False, progress=False
    )
    if corpus.single_file and corpus.sha256 != record.get("corpus_sha256"):
        raise BenchError(
            f"run {run_id}: {corpus.source} has changed since the run read it "
            "(its checksums differ from the recorded ones)"
        )
    fit_tokenizer(tokenizer, corpus, data_dir / "tokenizers")
    if tokenizer.vocab.sha256() != record["vocab_sha256"]:
        raise BenchError(
            f"run {run_id}: the rebuilt vocabulary differs from the recorded one "
            "(has the corpus changed?)"
        )
    return tokenizer, corpus


def refit_context(
    splits: dict[str, TokenizedSplit],
    data_dir: Path,
    record: dict[str, Any],
    progress: Callable[..., Any],
) -> TrainingContext:
    """A training context for fitting a restored model again: the run's splits, a scratch
    folder, and nothing recorded (the run was recorded when it was first carried out)."""
    folder = data_dir / "tmp" / f"refit-{record['id']}"
    folder.mkdir(parents=True, exist_ok=True)
    return TrainingContext(
        train=splits["train"],
        valid=splits["valid"],
        device="cpu",
        seed=record.get("seed") or 0,
        artifacts_dir=folder,
        evaluate=_no_evaluation,
        log_metrics=lambda metrics, step, epoch: None,
        progress=progress,
        record_train_throughput=lambda tokens, seconds: None,
        record_artifact=lambda kind, path: None,
    )


def _load_checkpoint(model: LanguageModel, path: Path) -> None:
    """The plugin loads its file; a file that is damaged or is more than weights (which
    ``weights_only`` loading refuses rather than run) is named as the cause, not the plugin."""
    try:
        model.load_checkpoint(path)
    except pickle.UnpicklingError:
        raise CheckpointError(
            f"{path} was not loaded: it holds more than tensors and numbers, which a file "
            "bench wrote never does, and loading it could run code; if you did not put it "
            "there, delete it and train the run again"
        ) from None
    except (RuntimeError, EOFError) as error:
        first = str(error).strip().splitlines()[0][:160] if str(error).strip() else ""
        raise CheckpointError(
            f"{path} could not be loaded ({type(error).__name__}: {first}); if it is damaged "
            "(truncated, copied in part), delete it and train the run again"
        ) from None


def _no_evaluation(split: TokenizedSplit) -> Any:
    raise BenchError("a model fitted again to be restored cannot evaluate while it fits")
