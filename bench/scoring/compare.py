"""``bench compare``: is run B better than run A, or is the difference noise?

Two runs scored on the same text are compared line by line: a paired bootstrap draws the
same lines for both, so what the two models have in common (hard lines stay hard) cancels
and only their difference varies. Reported: the difference in perplexity and in bits per
unit with a 95% percentile interval, a two-sided p-value, speed and size ratios, and a
one-line verdict. Per-token perplexities of runs that tokenize the text differently (other
tokenizer or vocabulary) measure different things and are never compared: such runs are
compared per word (when both counted the same words) or per byte, the units both share;
runs scored on different text, by corpus identity or by their lines, are refused.

Two seed groups (``--groups``) are compared by their seed spread instead: every member
scored the same lines, so the question is whether the training recipes differ by more
than the seeds do; Welch's t-test on the members' perplexities answers it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.errors import BenchError
from bench.scoring.corpus_identity import corpus_identity, shown_names
from bench.scoring.seeds import NewOptions, SeedSpread, group_members
from bench.scoring.uncertainty import LEVEL, RESAMPLES, SEED, LineScores, resampled_sums

LN2 = math.log(2.0)


@dataclass(frozen=True)
class Scored:
    """A stored run and one of its evaluations, with the per-line scores behind it."""

    record: dict[str, Any]
    evaluation: dict[str, Any]
    lines: LineScores

    @property
    def run_id(self) -> int:
        return int(self.record["id"])


@dataclass(frozen=True)
class Difference:
    """A - B of one figure (positive: B is lower, i.e. better), with its interval."""

    name: str
    a: float
    b: float
    diff: float
    low: float
    high: float
    p_value: float


def load_scored(store: Any, run_id: int, split: str) -> Scored:
    """Run ``run_id``'s newest evaluation of ``split`` and its per-line scores."""
    record = store.get_run(run_id)
    evaluations = [e for e in record["evaluations"] if e["split"] == split]
    if not evaluations:
        raise BenchError(f"run {run_id} has no {split} evaluation ({record['status']})")
    evaluation = max(evaluations, key=lambda e: e["id"])
    lines = store.line_scores(evaluation["id"])
    if lines is None:
        raise BenchError(
            f"run {run_id} was scored before bench kept per-line scores; run it again to compare it"
        )
    return Scored(record, evaluation, lines)


def check_same_text(a: Scored, b: Scored, split: str) -> None:
    """Refuse (one line) unless both runs scored the same lines of the same text."""
    sha_a = (a.record.get("corpus_sha256") or {}).get(split)
    sha_b = (b.record.get("corpus_sha256") or {}).get(split)
    if sha_a and sha_b and sha_a != sha_b:
        raise BenchError(
            f"runs {a.run_id} and {b.run_id} were scored on different {split} "
            f"text ({a.record.get('corpus')} {sha_a[:12]} vs "
            f"{b.record.get('corpus')} {sha_b[:12]}); compare needs the same lines"
        )
    if len(a.lines) != len(b.lines):
        raise BenchError(
            f"runs {a.run_id} and {b.run_id} were scored on different {split} "
            f"text ({len(a.lines):,} vs {len(b.lines):,} lines); compare needs "
            "the same lines"
        )
    for unit in ("words", "bytes"):
        units_a, units_b = getattr(a.lines, unit), getattr(b.lines, unit)
        if units_a is not None and units_b is not None and not np.array_equal(units_a, units_b):
            raise BenchError(
                f"runs {a.run_id} and {b.run_id} were scored on different "
                f"{split} text (the {unit} of their lines differ); compare needs "
                "the same lines"
            )


UNITS = {"token": "tokens", "word": "words", "byte": "bytes"}  # --unit -> LineScores field


def _units_agree(a: Scored, b: Scored, unit: str) -> bool:
    units_a, units_b = getattr(a.lines, unit), getattr(b.lines, unit)
    return units_a is not None and units_b is not None and np.array_equal(units_a, units_b)


def shared_unit(a: Scored, b: Scored, asked: str | None = None) -> str:
    """The unit the runs are compared in: ``asked`` ("token", "word", "byte") when it
    means the same for both, else refused in one line that names the units that do.

    Unasked: "tokens" when both have the same vocabulary and tokenization, else "words"
    when both counted the same words of every line, else "bytes".
    """
    vocab_a, vocab_b = a.record.get("vocab_sha256"), b.record.get("vocab_sha256")
    same_tokens = vocab_a is not None and vocab_a == vocab_b and _units_agree(a, b, "tokens")
    shared = [unit for unit in ("words", "bytes") if _units_agree(a, b, unit)]
    if same_tokens:
        shared.insert(0, "tokens")
    offered = " or ".join(f"--unit {unit[:-1]}" for unit in shared if unit != "tokens")
    if asked is None:
        if not shared:
            raise BenchError(
                f"runs {a.run_id} and {b.run_id} tokenize the text differently and the "
                "words and bytes of their lines were not recorded; no unit to compare them in"
            )
        return shared[0]
    if UNITS[asked] in shared:
        return UNITS[asked]
    if asked == "token":
        tokenizer_a, tokenizer_b = a.record.get("tokenizer"), b.record.get("tokenizer")
        why = "different tokenizers" if tokenizer_a != tokenizer_b else "different vocabularies"
        raise BenchError(
            f"runs {a.run_id} and {b.run_id} use {why} ({tokenizer_a} vs {tokenizer_b}): "
            "their per-token "
            "perplexities measure different things and are not compared; "
            + (f"compare them with {offered}" if offered else "no shared unit was recorded")
        )
    raise BenchError(
        f"runs {a.run_id} and {b.run_id} did not record the same {asked}s for their lines; "
        + (f"compare them with {offered}" if offered else "no shared unit was recorded")
    )


def paired_bootstrap(
    a: LineScores,
    b: LineScores,
    unit: str = "tokens",
    *,
    resamples: int = RESAMPLES,
    seed: int = SEED,
    level: float = LEVEL,
) -> list[Difference]:
    """A - B in perplexity per ``unit`` and in bits per ``unit``, resampling lines in pairs.

    The p-value is two-sided, from the bootstrap distribution shifted to the null
    hypothesis of no difference (Davison & Hinkley 1997, 4.4):
    p = (1 + #{|d* - d| >= |d|}) / (1 + resamples). A run against itself gives p = 1.
    """
    columns = np.column_stack([a.nll, b.nll, a.units(unit), b.units(unit)])
    full = columns.sum(axis=0)[None, :]
    sums = resampled_sums(columns, resamples, seed)
    figures = {
        f"perplexity per {unit[:-1]}": lambda s: (
            np.exp(s[:, 0] / s[:, 2]) - np.exp(s[:, 1] / s[:, 3])
        ),
        f"bits per {unit[:-1]}": lambda s: (s[:, 0] / s[:, 2] - s[:, 1] / s[:, 3]) / LN2,
    }
    values_of = {
        f"perplexity per {unit[:-1]}": lambda s, i, j: float(np.exp(s[0, i] / s[0, j])),
        f"bits per {unit[:-1]}": lambda s, i, j: float(s[0, i] / s[0, j] / LN2),
    }
    differences = []
    for name, statistic in figures.items():
        observed = float(statistic(full)[0])
        drawn = statistic(sums)
        low, high = np.quantile(drawn, [(1 - level) / 2, (1 + level) / 2])
        extreme = int(np.count_nonzero(np.abs(drawn - observed) >= abs(observed)))
        differences.append(
            Difference(
                name=name,
                a=values_of[name](full, 0, 2),
                b=values_of[name](full, 1, 3),
                diff=observed,
                low=float(low),
                high=float(high),
                p_value=(1 + extreme) / (1 + resamples),
            )
        )
    return differences


def verdict(difference: Difference, unit_label: str, level: float = LEVEL) -> str:
    """One line: which run is better and by how much, or that the interval includes 0."""
    percent = f"{level:.0%}"
    if difference.low > 0:
        return (
            f"B is better by {difference.diff:.2f} {unit_label} "
            f"[{difference.low:.2f}, {difference.high:.2f}]"
        )
    if difference.high < 0:
        return (
            f"A is better by {-difference.diff:.2f} {unit_label} "
            f"[{-difference.high:.2f}, {-difference.low:.2f}]"
        )
    return (
        f"no clear difference: A - B = {difference.diff:+.2f} {unit_label} "
        f"[{difference.low:.2f}, {difference.high:.2f}], the {percent} interval includes 0"
    )


def _p(value: float, resamples: int | None = None) -> str:
    if resamples is not None and value <= 1 / (1 + resamples) + 1e-12:
        return f"p < {2 / (1 + resamples):.2g}"
    return f"p = {value:.4f}" if value < 0.01 else f"p = {value:.3f}"


def _ratio(b: Any, a: Any) -> str:
    if a is None or b is None or not a or (isinstance(a, float) and math.isnan(a)):
        return "n/a"
    return f"{b / a:.2f}x"


def _describe_run(label: str, scored: Scored) -> str:
    r = scored.record
    return (
        f"{label}: run {scored.run_id}, {r.get('model_label') or r.get('plugin')} "
        f"[{r.get('tokenizer')}] {r.get('key_options') or ''}".rstrip()
    )


def compare_runs(
    store: Any, run_a: int, run_b: int, split: str = "test", unit: str | None = None
) -> list[str]:
    """The report of ``bench compare A B`` (in ``unit``: "token", "word", "byte", or
    the first the runs share), as lines of text."""
    a, b = load_scored(store, run_a, split), load_scored(store, run_b, split)
    check_same_text(a, b, split)
    unit = shared_unit(a, b, unit)
    differences = paired_bootstrap(a.lines, b.lines, unit)
    names = shown_names([a.record, b.record])
    name_a, name_b = (names[corpus_identity(s.record)] for s in (a, b))
    out = [
        _describe_run("A", a),
        _describe_run("B", b),
        f"{name_a} {split}: {len(a.lines):,} lines, scored by both",
    ]
    if name_a != name_b:  # same lines scored, but the corpora differ elsewhere
        out.append(f"the runs' corpora differ outside the {split} split: {name_a} vs {name_b}")
    if unit != "tokens":
        out.append(
            f"compared per {unit[:-1]}, a unit both runs share ({a.record.get('tokenizer')} "
            f"vs {b.record.get('tokenizer')} tokens; per-token perplexities of different "
            "tokenizers or vocabularies are not compared)"
        )
    out.append(f"{'':<22}{'A':>11}{'B':>11}{'A - B':>11}   95% interval")
    for d in differences:
        out.append(
            f"{d.name:<22} {d.a:>10.4f} {d.b:>10.4f} {d.diff:>+10.4f}   "  # apart when wide
            f"[{d.low:.4f}, {d.high:.4f}]  {_p(d.p_value, RESAMPLES)}"
        )
    out.append(f"paired bootstrap over lines: {RESAMPLES} resamples, seed {SEED}")
    out.append(
        f"B/A: parameters {_ratio(b.record.get('params'), a.record.get('params'))}, "
        f"train tokens/s {_ratio(b.record.get('train_tokens_per_second'), a.record.get('train_tokens_per_second'))}, "
        f"eval tokens/s {_ratio(b.evaluation.get('tokens_per_second'), a.evaluation.get('tokens_per_second'))}"
    )
    headline = differences[1] if unit == "bytes" else differences[0]
    unit_label = {"tokens": "ppl", "words": "word ppl", "bytes": "bits/byte"}[unit]
    out.append(f"verdict: {verdict(headline, unit_label)}")
    return out


# ------------------------------------------------------------------ seed groups
GROUP_FIGURES = {  # --unit -> (results column after the split, the figure's name)
    "token": ("ppl", "ppl"),
    "word": ("word_ppl", "word ppl"),
    "byte": ("bits_per_byte", "bits/byte"),
}


def _group_unit(sides: list[Any], split: str, asked: str | None) -> str:
    """The unit two seed groups are compared in: per token when both groups tokenize the
    text alike (same tokenizer, same token count), else refused for "token" and chosen
    as per word (same word count) or per byte."""
    tokens = {(str(r.get("tokenizer")), str(m[f"{split}_tokens"].iloc[0])) for _, r, m, _ in sides}
    words = {str(m[f"{split}_words"].iloc[0]) for _, _, m, _ in sides}
    if len(tokens) == 1 and asked in (None, "token"):
        return "token"
    shared = ["word"] if len(words) == 1 and "None" not in words else []
    shared.append("byte")
    if asked == "token":
        names = " vs ".join(str(r.get("tokenizer")) for _, r, _, _ in sides)
        raise BenchError(
            f"the two groups tokenize the text differently ({names}): their per-token "
            "perplexities measure different things and are not compared; compare them with "
            + " or ".join(f"--unit {unit}" for unit in shared)
        )
    if asked == "word" and "word" not in shared:
        raise BenchError(
            "the two groups did not count the same words; compare them with --unit byte"
        )
    return asked or shared[0]


def compare_groups(
    store: Any,
    run_a: int,
    run_b: int,
    split: str = "test",
    unit: str | None = None,
    new_options: NewOptions | None = None,
) -> list[str]:
    """The report of ``bench compare --groups A B``: Welch's t-test on the seed spreads,
    per token, or in ``unit`` ("word", "byte") where the groups tokenize differently."""
    from scipy import stats

    sides = []
    for label, run_id in (("A", run_a), ("B", run_b)):
        record, members, remeasured = group_members(store, run_id, split, new_options)
        if len(members) < 2:
            raise BenchError(
                f"the seed group of run {run_id} has {len(members)} distinct seed(s) "
                f"with a {split} evaluation; comparing groups needs at least "
                "2 a side (bench run --seeds 3)"
            )
        sides.append((label, record, members, remeasured))
    shas = {str((r.get("corpus_sha256") or {}).get(split)) for _, r, _, _ in sides}
    if len(shas) > 1:
        raise BenchError(
            f"the groups of runs {run_a} and {run_b} were scored on different "
            f"{split} text; compare needs the same lines"
        )
    column, figure = GROUP_FIGURES[_group_unit(sides, split, unit)]
    values = [m[f"{split}_{column}"].astype(float).to_numpy() for _, _, m, _ in sides]
    if all(np.ptp(v) == 0 for v in values):  # Welch's t is undefined without spread
        raise BenchError(
            f"the seed groups of runs {run_a} and {run_b} have no spread: their "
            "seeds do not change the result; compare two runs with "
            f"`bench compare {run_a} {run_b}`"
        )
    test = stats.ttest_ind(values[0], values[1], equal_var=False)
    interval = test.confidence_interval(LEVEL)
    out = []
    for (label, record, members, remeasured), vals in zip(sides, values, strict=True):
        ids = ", ".join(str(i) for i in members["run_id"])
        seeds = ", ".join(str(s) for s in members["seed"])
        out.append(
            f"{label}: {record.get('model_label') or record.get('plugin')} "
            f"{record.get('key_options') or ''}: runs {ids} (seeds {seeds})"
        )
        out.append(f"   {split} {figure} {SeedSpread.of(list(vals)).describe()}")
        if remeasured:  # equal-seed reruns: a determinism check, not extra samples
            out.append(f"   {remeasured}")
    diff = Difference(
        name=figure,
        a=float(values[0].mean()),
        b=float(values[1].mean()),
        diff=float(values[0].mean() - values[1].mean()),
        low=float(interval.low),
        high=float(interval.high),
        p_value=float(test.pvalue),
    )
    out.append(
        f"A - B = {diff.diff:+.2f} {figure}, 95% interval [{diff.low:.2f}, {diff.high:.2f}], "
        f"{_p(diff.p_value)} (Welch's t-test over seeds, {test.df:.1f} degrees of freedom)"
    )
    out.append(f"the spread is the seeds' (training randomness) on the same {split} lines")
    out.append(f"verdict: {verdict(diff, figure)}")
    return out
