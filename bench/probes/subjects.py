"""What a probe looks at: a stored run's trained network, or freshly initialised ones.

Either way the result is a :class:`ProbeSubject`: a recurrent network, the tokenized split
it is probed on, and what the database records about it (run id, or plugin, options and
seed for a fresh model).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.api.model import LanguageModel
from bench.api.plugin_host import PluginHost
from bench.configuration.options import parse_assignments, validate_options
from bench.configuration.run_config import DEFAULT_CORPUS, TOKENIZER_PREFIX
from bench.corpora import CorpusText, load_corpus
from bench.errors import BenchError
from bench.store import Store
from bench.tokenization.tokens import TokenizedSplit


@dataclass
class ProbeSubject:
    """A recurrent network and the split it is probed on."""

    label: str  # e.g. "LSTM 2x200 (run 3)" or "GRU 1x64 (untrained)"
    plugin: str
    config: dict[str, Any]  # enough to rebuild a fresh model; a run's own config
    run_id: int | None
    seed: int | None
    corpus: str
    split: TokenizedSplit
    eos_id: int
    network: Any


def subject_from_run(
    run_id: int, store: Store, host: PluginHost, data_dir: Path, device: str, split: str = "valid"
) -> ProbeSubject:
    """A stored run's model with its best checkpoint, and its corpus's ``split``."""
    from bench.run.restore import restore_run

    record = store.get_run(run_id)
    plugin = (record.get("config") or {}).get("plugin") or record["plugin"]
    if not host.models.get(plugin).supports("load_checkpoint"):
        raise _not_recurrent(f"run {run_id} ({plugin})")
    restored = restore_run(run_id, store, host, data_dir, device)
    network = recurrent_network(restored.model, f"run {run_id} ({plugin})")
    tokens = restored.tokenizer.encode(split, restored.corpus.splits[split])
    return ProbeSubject(
        label=f"{record.get('model_label') or plugin} (run {run_id})",
        plugin=plugin,
        config=record["config"],
        run_id=run_id,
        seed=record.get("seed"),
        corpus=restored.corpus.name,
        split=tokens,
        eos_id=restored.tokenizer.vocab.eos_id,
        network=network,
    )


def fresh_subjects(
    plugins: list[str],
    host: PluginHost,
    data_dir: Path,
    device: str,
    *,
    corpus: str | None = None,
    tokenizer: str | None = None,
    assignments: tuple[str, ...] = (),
    seed: int = 1234,
    split: str = "valid",
) -> list[ProbeSubject]:
    """Freshly initialised models of ``plugins`` (each seeded with ``seed``) on one corpus.

    ``assignments`` are ``--set`` pairs: ``KEY=VALUE`` sets a model option of every plugin,
    ``PLUGIN.KEY=VALUE`` of that plugin only (``rnn.nonlinearity=relu``), and
    ``tokenizer.KEY=VALUE`` a tokenizer option. The corpus is tokenized once, with
    ``tokenizer`` or the corpus's default one, and shared.
    """
    from bench.machine.environment import seed_everything

    pairs = parse_assignments(assignments)
    _check_scopes(pairs, plugins)
    # names and options first: a typo is reported before any corpus is read
    models = [(plugin, host.models.get(plugin)) for plugin in plugins]
    chosen = [
        (plugin, model_class, host.model_options(plugin, _options_for(plugin, pairs)))
        for plugin, model_class in models
    ]
    text = load_corpus(corpus or DEFAULT_CORPUS, host.corpora, data_dir)
    tokenizer_name = tokenizer or text.default_tokenizer
    tokenizer_options, fitted = _fit_tokenizer(tokenizer_name, text, pairs, host, data_dir)
    tokens = fitted.encode(split, text.splits[split])
    subjects = []
    for plugin, model_class, options in chosen:
        seed_everything(seed)  # each model's init depends on the seed only, not on order
        model = model_class(options, fitted.vocab, device)
        subjects.append(
            ProbeSubject(
                label=f"{model.label()} (untrained)",
                plugin=plugin,
                config={
                    "plugin": plugin,
                    "corpus": text.name,
                    "tokenizer": tokenizer_name,
                    "seed": seed,
                    "options": options.model_dump(mode="json"),
                    "tokenizer_options": tokenizer_options,
                },
                run_id=None,
                seed=seed,
                corpus=text.name,
                split=tokens,
                eos_id=fitted.vocab.eos_id,
                network=recurrent_network(model, plugin),
            )
        )
    return subjects


def recurrent_network(model: LanguageModel, what: str) -> Any:
    """The model's network, if it follows the recurrent network contract; else a BenchError."""
    network = model.network if model.supports("network") else None
    if not (
        callable(network)
        and callable(getattr(network, "target_logprobs", None))
        and hasattr(network, "train")
    ):
        raise _not_recurrent(what)
    return network


def _not_recurrent(what: str) -> BenchError:
    return BenchError(
        f"{what} is not a recurrent network: the gradient probe needs a model "
        "like lstm, gru or rnn, whose network carries a hidden state"
    )


def _check_scopes(pairs: dict[str, str], plugins: list[str]) -> None:
    """A ``PLUGIN.KEY`` pair must name one of the plugins probed (or the tokenizer)."""
    for key in pairs:
        scope, dot, _ = key.rpartition(".")
        if dot and f"{scope}." != TOKENIZER_PREFIX and scope not in plugins:
            raise BenchError(
                f"--set {key}: {scope!r} is not one of the plugins probed ({', '.join(plugins)})"
            )


def _options_for(plugin: str, pairs: dict[str, str]) -> dict[str, str]:
    """Options shared by every plugin, then this plugin's own (which win)."""
    shared = {key: value for key, value in pairs.items() if "." not in key}
    own = {
        key.rpartition(".")[2]: value
        for key, value in pairs.items()
        if key.rpartition(".")[0] == plugin
    }
    return {**shared, **own}


def _fit_tokenizer(
    name: str, text: CorpusText, pairs: dict[str, str], host: PluginHost, data_dir: Path
) -> tuple[dict[str, Any], Any]:
    """The tokenizer ``name`` with its ``tokenizer.*`` options, fitted on the train split."""
    tokenizer_class = host.tokenizers.get(name)
    values = {
        key[len(TOKENIZER_PREFIX) :]: value
        for key, value in pairs.items()
        if key.startswith(TOKENIZER_PREFIX)
    }
    options = validate_options(tokenizer_class.Options, values, owner=f"tokenizer {name}")
    tokenizer = tokenizer_class(options)
    tokenizer.fit(text.splits["train"], data_dir / "tokenizers")
    return options.model_dump(mode="json"), tokenizer
