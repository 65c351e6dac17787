"""Training uncertainty: one configuration run with several seeds, and its seed groups.

A seed group is every finished run whose resolved configuration is equal but for the
seed (same plugin, tokenizer, device and options) and that measured the same corpus,
known by its content (:func:`bench.scoring.corpus_identity.corpus_identity`), not by the
path it was given as. It needs no id of its own: :func:`group_key` recomputes it from the
stored configuration, so runs started on different days or machines with ``--seed`` join
the same group as runs of one ``--seeds``.

A run stored before its plugin gained an option has no value for it; it ran as the
option's default does (a new option's default keeps the old behaviour, as a resumed run
takes it). Given ``new_options`` (:meth:`bench.api.plugin_host.PluginHost.with_new_options`),
the key fills such options in, so that run still joins a later run of the same
configuration.
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bench.configuration.run_config import SEED_MAX, SEED_MIN, config_hash
from bench.errors import BenchError
from bench.scoring.corpus_identity import corpus_identity


def parse_seeds(text: str, base: int) -> list[int]:
    """``"3"`` -> three seeds from ``base``; ``"1,5,9"`` -> those seeds."""
    text = text.strip()
    if re.fullmatch(r"\d+", text):
        count = int(text)
        if count < 1:
            raise BenchError("--seeds needs a count of at least 1 or a list like 1,2,3")
        return _check_range([base + i for i in range(count)], text)
    parts = [part.strip() for part in text.split(",")]
    if len(parts) < 2 or not all(re.fullmatch(r"-?\d+", part) for part in parts):
        raise BenchError(
            f"--seeds {text!r}: give a count (3) or a comma list of integer seeds (1,2,3)"
        )
    seeds = [int(part) for part in parts]
    _check_range(seeds, text)
    if len(set(seeds)) != len(seeds):
        raise BenchError(f"--seeds {text!r} repeats a seed")
    return seeds


def _check_range(seeds: list[int], text: str) -> list[int]:
    if any(not SEED_MIN <= seed <= SEED_MAX for seed in seeds):
        raise BenchError(f"--seeds {text!r}: a seed must lie in [{SEED_MIN}, {SEED_MAX}]")
    return seeds


def command_for_seed(argv: Sequence[str], seed: int) -> str:
    """The command that reruns one member of a seed group: ``--seeds X`` becomes ``--seed S``."""
    words, _ = _without_seed(list(argv))
    return shlex.join(["bench", *words, "--seed", str(seed)])


def other_seeds(commands: Sequence[str]) -> list[str] | None:
    """The ``--seed`` values of ``commands[1:]`` when each is ``commands[0]`` but for its
    seed (a seed group started one ``--seed`` at a time), else None: the leaderboard then
    shows one command and the other seeds rather than every command in full."""
    if len(commands) < 2:
        return None
    try:
        split = [_without_seed(shlex.split(command)) for command in commands]
    except ValueError:  # not a shell command line
        return None
    rest, _ = split[0]
    if any(other_rest != rest or seed is None for other_rest, seed in split[1:]):
        return None
    return [seed for _, seed in split[1:] if seed is not None]


def _without_seed(words: list[str]) -> tuple[list[str], str | None]:
    """``words`` without ``--seed S`` and ``--seeds X`` (or their ``=`` forms), and S
    (None when absent)."""
    rest: list[str] = []
    seed = None
    iterator = iter(words)
    for word in iterator:
        if word in ("--seed", "--seeds"):
            value = next(iterator, None)
            seed = value if word == "--seed" else seed
        elif word.startswith(("--seed=", "--seeds=")):
            name, value = word.split("=", 1)
            seed = value if name == "--seed" else seed
        else:
            rest.append(word)
    return rest, seed


# Not part of a group's configuration: the seed varies within it, and the corpus is told
# by its content (the path given for it may differ between runs of the same text)
NOT_GROUPED = ("seed", "corpus")
# (plugin, stored options) -> those options with the ones the plugin gained since at their
# defaults (module docstring)
NewOptions = Callable[[str, dict[str, Any]], dict[str, Any]]


def group_key(config: dict[str, Any] | None, new_options: NewOptions | None = None) -> str | None:
    """A hash of a resolved configuration without its seed and corpus path; None when
    there is none."""
    if not isinstance(config, dict):
        return None
    grouped = {key: value for key, value in config.items() if key not in NOT_GROUPED}
    if new_options is not None and isinstance(grouped.get("options"), dict):
        grouped["options"] = new_options(str(grouped.get("plugin")), grouped["options"])
    return config_hash(grouped)


@dataclass(frozen=True)
class SeedSpread:
    """Mean, sample standard deviation (n - 1) and count of one figure over a seed group."""

    mean: float
    std: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> SeedSpread:
        n = len(values)
        if n == 0:
            raise ValueError("no values")
        mean = math.fsum(values) / n
        std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
        return cls(mean, std, n)

    def describe(self, digits: int = 2) -> str:
        return f"{self.mean:.{digits}f} ± {self.std:.{digits}f} (n={self.n})"


def group_members(
    store: Any, run_id: int, split: str = "test", new_options: NewOptions | None = None
) -> tuple[dict[str, Any], Any, str]:
    """Run ``run_id``, the finished runs of its seed group with a ``split`` evaluation
    (a frame of :meth:`Store.results_frame` rows, oldest first, one per distinct seed),
    and the note on its re-measured seeds (:func:`distinct_seeds`)."""
    record = store.get_run(run_id)
    key = group_key(record.get("config"), new_options)
    if key is None:
        raise BenchError(f"run {run_id} has no stored configuration; it belongs to no group")
    frame = store.results_frame()
    identity = corpus_identity(record)
    members = frame[
        [
            group_key(row["config"], new_options) == key and corpus_identity(row) == identity
            for row in frame.to_dict("records")
        ]
    ]
    return record, *distinct_seeds(members[members[f"{split}_ppl"].notna()], split)


def distinct_seeds(members: Any, split: str = "test") -> tuple[Any, str]:
    """One row per distinct seed of a seed group's ``members`` (oldest first), and a note
    on the re-measurements.

    A run with a seed already in the group is a re-measurement of the same sample, not a
    new one: counting it would shrink the spread (two reruns of one seed give ``± 0.00
    (n=2)``). The first run of each seed stands for it; the later ones only check that
    the seed gives the same figure again, e.g. ``"seed 1234 re-measured ×2 (runs 1, 2),
    equal"``.
    """
    import pandas as pd  # lazily: keeps `bench --help` fast

    # the configuration's seed: members with equal ones have equal configurations
    seeds = pd.Series(
        [c.get("seed") if isinstance(c, dict) else None for c in members["config"]], dtype=object
    )
    notes = []
    for seed in dict.fromkeys(seeds):
        runs = members[[s == seed for s in seeds]]
        if len(runs) < 2:
            continue
        values = pd.to_numeric(runs[f"{split}_ppl"], errors="coerce").dropna()
        spread = float(values.max() - values.min()) if len(values) else 0.0
        check = "equal" if spread == 0 else f"{split} ppl differs by up to {spread:.4g}"
        ids = ", ".join(str(int(i)) for i in runs["run_id"])
        name = "no seed" if seed is None else f"seed {int(seed)}"
        notes.append(f"{name} re-measured ×{len(runs)} (runs {ids}), {check}")
    return members[~seeds.duplicated(keep="first").to_numpy()], "; ".join(notes)


# Figures a leaderboard row of a seed group shows as the mean over its members.
MEAN_COLUMNS = (
    "valid_ppl",
    "test_ppl",
    "valid_word_ppl",
    "test_word_ppl",
    "valid_ppl_no_oov",
    "test_ppl_no_oov",
    "test_bits_per_byte",
    "train_tokens_per_second",
    "test_tokens_per_second",
)


def aggregate_seed_groups(results: Any, new_options: NewOptions | None = None) -> Any:
    """One row per seed group of ``results`` (rows of :meth:`Store.results_frame`).

    Runs whose configuration is equal but for the seed, on the same corpus (its
    identity: the content of its splits), become one row: the first run's columns, the mean of :data:`MEAN_COLUMNS`, and
    ``seed_runs`` (member run ids), ``seed_list`` (its distinct seeds), ``seed_n`` (how
    many), ``seed_remeasured`` (see :func:`distinct_seeds`), ``valid_ppl_std`` and
    ``test_ppl_std``. A run alone keeps its row, with ``seed_n`` 1.
    """
    import pandas as pd  # lazily: keeps `bench --help` fast

    if results.empty or "config" not in results.columns:
        return results.assign(seed_n=1)
    order: dict[Any, list[int]] = {}
    for position, row in enumerate(results.to_dict("records")):
        key = group_key(row["config"], new_options)
        identity = corpus_identity(row)
        order.setdefault((key, identity) if key else ("alone", position), []).append(position)
    rows = []
    for positions in order.values():
        every = results.iloc[positions]
        members, row_note = distinct_seeds(every)  # a re-measured seed is one sample
        row = members.iloc[0].to_dict()
        row["seed_n"] = len(members)
        row["seed_runs"] = [int(i) for i in every["run_id"]]
        row["seed_list"] = [None if pd.isna(s) else int(s) for s in members["seed"]]
        row["seed_remeasured"] = row_note
        if len(members) > 1:
            for column in MEAN_COLUMNS:
                if column in members.columns:
                    values = pd.to_numeric(members[column], errors="coerce").dropna()
                    row[column] = float(values.mean()) if len(values) else None
            for split in ("valid", "test"):
                values = pd.to_numeric(members[f"{split}_ppl"], errors="coerce").dropna()
                row[f"{split}_ppl_std"] = SeedSpread.of(list(values)).std if len(values) else None
        rows.append(row)
    return pd.DataFrame(rows)
