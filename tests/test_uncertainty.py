"""Perplexity with error bars: bootstrap intervals, paired comparisons, seed groups."""

import io
import math

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from bench.api.model import EvalProtocol, ScoredTokens
from bench.cli import cli
from bench.errors import BenchError
from bench.scoring.compare import compare_groups, paired_bootstrap, verdict
from bench.scoring.exactly_once import Evaluation, evaluate
from bench.scoring.metrics import SplitMetrics
from bench.scoring.seeds import (
    SeedSpread,
    aggregate_seed_groups,
    command_for_seed,
    other_seeds,
    parse_seeds,
)
from bench.scoring.uncertainty import LineScores, perplexity_interval, resampled_sums
from bench.store import Store
from bench.tokenization.tokens import TokenizedSplit, UnitCounts


def synthetic_lines(rng, n_lines, mean_nll):
    """Lines of 1..40 tokens whose per-token NLL is Gamma(2, mean/2): true ppl exp(mean)."""
    tokens = rng.integers(1, 41, size=n_lines)
    nll = rng.gamma(2.0 * tokens, mean_nll / 2.0)  # a sum of t Gamma(2) is Gamma(2t)
    return LineScores(nll=nll, tokens=tokens)


def test_interval_covers_the_true_perplexity_95_percent_of_the_time():
    # 400 trials: a correct 95% interval covers ~380 (sd 4.4; a percentile bootstrap over
    # 200 lines is a little short of 95%, ~93.5% in 2,000 trials). An interval half as wide
    # as it should be covers ~67% (~268 of 400), one twice as wide ~99.99% (~400): both fail.
    rng = np.random.default_rng(7)
    mean_nll = 4.6
    trials, covered = 400, 0
    for trial in range(trials):
        scores = synthetic_lines(rng, 200, mean_nll)
        interval = perplexity_interval(scores, resamples=500, seed=trial)
        covered += interval.low <= math.exp(mean_nll) <= interval.high
    assert 350 <= covered <= 395, covered


def test_interval_brackets_the_point_estimate_and_is_reproducible():
    scores = synthetic_lines(np.random.default_rng(0), 300, 4.0)
    ppl = math.exp(scores.nll.sum() / scores.tokens.sum())
    first, again = perplexity_interval(scores), perplexity_interval(scores)
    assert first == again  # fixed seed
    assert first.low < ppl < first.high
    assert (first.resamples, first.seed, first.level) == (2000, 0, 0.95)
    assert perplexity_interval(scores, seed=1) != first


def test_resampled_sums_draw_whole_lines_with_replacement():
    columns = np.column_stack([np.arange(5.0), np.ones(5)])
    sums = resampled_sums(columns, resamples=300, seed=3)
    assert sums.shape == (300, 2)
    assert np.all(sums[:, 1] == 5)  # every resample holds as many lines as the split
    assert sums[:, 0].min() >= 0 and sums[:, 0].max() <= 20
    assert abs(sums[:, 0].mean() - 10) < 0.5  # unbiased for the total


def test_per_line_scores_come_from_the_core_for_any_scorer():
    lines = ["a b", "c", "d e f"]
    split = TokenizedSplit.from_lines("test", [[1, 2], [3], [4, 5, 6]], eos_id=0, text_lines=lines)
    logprobs = -np.arange(1, len(split) + 1, dtype=float)

    def score(split, protocol):  # out of order, in two chunks
        yield ScoredTokens.of([4, 5, 6, 7, 8], logprobs[4:])
        yield ScoredTokens.of([0, 1, 2, 3], logprobs[:4])

    result = evaluate(split, EvalProtocol("stream", 2), score)
    assert result.lines.nll.tolist() == [1 + 2 + 3, 4 + 5, 6 + 7 + 8 + 9]
    assert result.lines.tokens.tolist() == [3, 2, 4]
    assert result.lines.words.tolist() == [3, 2, 4]
    assert result.lines.bytes.tolist() == [4, 2, 6]
    assert result.lines.nll.sum() == pytest.approx(result.metrics.nll)
    assert result.lines.bytes.sum() == result.counts.bytes
    assert result.ppl_interval.low <= result.ppl <= result.ppl_interval.high
    round_trip = LineScores.from_bytes(result.lines.to_bytes())
    assert np.array_equal(round_trip.nll, result.lines.nll)
    assert np.array_equal(round_trip.bytes, result.lines.bytes)


def test_a_run_compared_with_itself_differs_by_zero_with_p_one():
    scores = synthetic_lines(np.random.default_rng(1), 300, 4.0)
    for difference in paired_bootstrap(scores, scores):
        assert difference.diff == 0 and difference.low == 0 and difference.high == 0
        assert difference.p_value == 1.0
    assert verdict(paired_bootstrap(scores, scores)[0], "ppl").startswith("no clear difference")


def test_models_differing_by_a_constant_per_token_give_that_constant():
    a = synthetic_lines(np.random.default_rng(2), 300, 4.0)
    c = 0.05  # B pays 0.05 nats more on every token of every line
    b = LineScores(nll=a.nll + c * a.tokens, tokens=a.tokens)
    ppl, bits = paired_bootstrap(a, b, resamples=1000)
    assert bits.diff == pytest.approx(-c / math.log(2), rel=1e-9)
    assert bits.low == pytest.approx(-c / math.log(2), rel=1e-9)
    assert bits.high == pytest.approx(-c / math.log(2), rel=1e-9)
    assert bits.p_value == 1 / 1001  # never as extreme under the null
    assert ppl.b / ppl.a == pytest.approx(math.exp(c), rel=1e-12)
    assert ppl.high < 0 and verdict(ppl, "ppl").startswith("A is better by")


def test_paired_bootstrap_is_tighter_than_two_separate_intervals():
    # a shared hard/easy structure cancels in the paired difference
    a = synthetic_lines(np.random.default_rng(3), 400, 4.0)
    noise = np.random.default_rng(4).normal(0, 0.2, size=len(a)) * np.sqrt(a.tokens)
    b = LineScores(nll=a.nll - 0.02 * a.tokens + noise, tokens=a.tokens)
    ppl, _ = paired_bootstrap(a, b)
    ia, ib = perplexity_interval(a), perplexity_interval(b)
    assert ppl.high - ppl.low < 0.5 * ((ia.high - ia.low) + (ib.high - ib.low))
    assert ppl.low > 0 and verdict(ppl, "ppl").startswith("B is better by")


def test_seed_spread_of_three_seeds_by_hand():
    spread = SeedSpread.of([113.0, 114.5, 112.0])
    mean = (113.0 + 114.5 + 112.0) / 3
    std = math.sqrt(((113.0 - mean) ** 2 + (114.5 - mean) ** 2 + (112.0 - mean) ** 2) / 2)
    assert spread.mean == pytest.approx(mean) and spread.std == pytest.approx(std)
    assert spread.n == 3 and spread.describe() == f"{mean:.2f} ± {std:.2f} (n=3)"


def test_leaderboard_rows_of_runs_equal_but_for_the_seed_are_aggregated():
    def config(seed, hidden=200):
        return {"plugin": "lstm", "corpus": "ptb", "seed": seed, "options": {"hidden": hidden}}

    sha = {"test": "abc"}
    frame = pd.DataFrame(
        {
            "run_id": [1, 2, 3, 4],
            "seed": [1, 2, 3, 1],
            "config": [config(1), config(2), config(3), config(1, hidden=650)],
            "corpus_sha256": [sha] * 4,
            "valid_ppl": [120.0, 121.0, 125.0, 90.0],
            "test_ppl": [113.0, 114.5, 112.0, 85.0],
        }
    )
    rows = aggregate_seed_groups(frame).set_index("run_id")
    assert rows.loc[1, "seed_n"] == 3 and rows.loc[1, "seed_runs"] == [1, 2, 3]
    assert rows.loc[1, "test_ppl"] == pytest.approx(SeedSpread.of([113.0, 114.5, 112.0]).mean)
    assert rows.loc[1, "test_ppl_std"] == pytest.approx(SeedSpread.of([113.0, 114.5, 112.0]).std)
    assert rows.loc[4, "seed_n"] == 1 and rows.loc[4, "test_ppl"] == 85.0


def test_a_run_stored_before_an_option_existed_joins_its_group_at_the_default():
    def config(seed, **options):
        return {"plugin": "lstm", "corpus": "ptb", "seed": seed, "options": options}

    def with_new_options(plugin, options):  # what the installed plugin would fill in
        assert plugin == "lstm"
        return {"update_freq": 1, **options}

    frame = pd.DataFrame(
        {
            "run_id": [1, 2, 3],
            "seed": [1, 2, 3],
            # run 1 predates update_freq; run 3 sets it to another value
            "config": [config(1, hidden=200), config(2, hidden=200, update_freq=1)]
            + [config(3, hidden=200, update_freq=4)],
            "corpus_sha256": [{"test": "abc"}] * 3,
            "valid_ppl": [120.0, 121.0, 118.0],
            "test_ppl": [113.0, 114.0, 111.0],
        }
    )
    apart = aggregate_seed_groups(frame).set_index("run_id")
    assert apart.loc[1, "seed_n"] == 1 and apart.loc[2, "seed_n"] == 1
    rows = aggregate_seed_groups(frame, with_new_options).set_index("run_id")
    assert rows.loc[1, "seed_runs"] == [1, 2] and rows.loc[1, "test_ppl"] == 113.5
    assert rows.loc[3, "seed_n"] == 1  # another value of the option: another configuration


def test_the_plugin_host_fills_only_the_options_a_stored_run_lacks():
    from bench.api.plugin_host import get_host

    host = get_host()
    full = host.model_options("lstm", {}).model_dump(mode="json")
    stored = {key: value for key, value in full.items() if key != "update_freq"}
    stored["hidden_size"] = full["hidden_size"] + 1
    filled = host.with_new_options("lstm", stored)
    assert filled["update_freq"] == full["update_freq"]  # the missing one, at its default
    assert filled["hidden_size"] == full["hidden_size"] + 1  # stored values win
    assert filled["output_options"] == full["output_options"]  # nested tables too
    no_longer = {**stored, "removed_option": 3}
    assert host.with_new_options("lstm", no_longer) == no_longer  # not valid now: unchanged
    assert host.with_new_options("not-a-plugin", stored) == stored


def test_a_re_measured_seed_is_one_sample_of_its_group_not_two():
    config = {"plugin": "lstm", "corpus": "ptb", "seed": 1}
    frame = pd.DataFrame(
        {
            "run_id": [1, 2, 3, 4],
            "seed": [1, 1, 2, 1],
            "config": [config, config, {**config, "seed": 2}, config],
            "corpus_sha256": [{"test": "abc"}] * 4,
            "valid_ppl": [120.0, 120.0, 124.0, 120.5],
            "test_ppl": [113.0, 113.0, 115.0, 113.25],
        }
    )
    row = aggregate_seed_groups(frame).iloc[0]
    assert row["seed_n"] == 2 and row["seed_list"] == [1, 2]  # distinct seeds only
    assert row["seed_runs"] == [1, 2, 3, 4]  # every run stays listed
    assert row["test_ppl"] == pytest.approx(114.0)  # seed 1's first run, not three of it
    assert row["test_ppl_std"] == pytest.approx(SeedSpread.of([113.0, 115.0]).std)
    assert row["seed_remeasured"] == (
        "seed 1 re-measured ×3 (runs 1, 2, 4), test ppl differs by up to 0.25"
    )
    again = aggregate_seed_groups(frame.iloc[:2]).iloc[0]  # the same command run twice
    assert again["seed_n"] == 1 and again["seed_remeasured"].endswith("(runs 1, 2), equal")


def add_seeded_run(store, seed, test_ppl, hidden, splits=("test",)):
    config = {"plugin": "lstm", "corpus": "ptb", "seed": seed, "options": {"hidden": hidden}}
    run_id = store.create_run(
        plugin="lstm",
        corpus="ptb",
        seed=seed,
        config=config,
        corpus_sha256=dict.fromkeys(splits, "abc"),
    )
    counts = UnitCounts(tokens=1000, words=1000, bytes=5000, lines=40)
    for split in splits:
        store.add_evaluation(
            run_id,
            Evaluation(
                split=split,
                counts=counts,
                protocol=EvalProtocol("stream", 10),
                metrics=SplitMetrics.compute(1000 * math.log(test_ppl), counts),
                seconds=1.0,
            ),
        )
    store.finish_run(run_id, "finished")
    return run_id


def test_seed_groups_are_compared_by_welch_t_on_their_spread(tmp_path):
    a_values, b_values = [113.0, 114.5, 112.0], [110.0, 110.6, 109.1]
    with Store(f"sqlite:///{tmp_path / 'groups.db'}") as store:
        a = [add_seeded_run(store, seed, ppl, 200) for seed, ppl in enumerate(a_values, 1)]
        b = [add_seeded_run(store, seed, ppl, 400) for seed, ppl in enumerate(b_values, 1)]
        rerun = add_seeded_run(store, 1, a_values[0], 200)  # seed 1 again: not a 4th sample
        report = "\n".join(compare_groups(store, a[0], b[2]))
    assert f"seed 1 re-measured ×2 (runs {a[0]}, {rerun}), equal" in report
    sa, sb = SeedSpread.of(a_values), SeedSpread.of(b_values)
    va, vb = sa.std**2 / 3, sb.std**2 / 3  # Welch, by hand
    t = (sa.mean - sb.mean) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / 2 + vb**2 / 2)
    assert f"A - B = {sa.mean - sb.mean:+.2f} ppl" in report
    assert f"{df:.1f} degrees of freedom" in report and t > 3
    assert f"runs {a[0]}, {a[1]}, {a[2]} (seeds 1, 2, 3)" in report
    assert sa.describe() in report and sb.describe() in report
    assert "verdict: B is better by" in report
    assert "the spread is the seeds' (training randomness) on the same test lines" in report


def test_seed_groups_compared_on_valid_say_valid(tmp_path):
    with Store(f"sqlite:///{tmp_path / 'groups.db'}") as store:
        both = ("valid", "test")
        a = [add_seeded_run(store, seed, ppl, 200, both) for seed, ppl in ((1, 113), (2, 114))]
        b = [add_seeded_run(store, seed, ppl, 400, both) for seed, ppl in ((1, 110), (2, 111))]
        report = "\n".join(compare_groups(store, a[0], b[0], "valid"))
    assert "on the same valid lines" in report and "test lines" not in report


@pytest.mark.parametrize(
    ("text", "seeds"), [("3", [7, 8, 9]), ("1,2,3", [1, 2, 3]), ("5, 9", [5, 9]), ("1", [7])]
)
def test_parse_seeds(text, seeds):
    assert parse_seeds(text, base=7) == seeds


@pytest.mark.parametrize("text", ["0", "a", "1,1", "1,x", "1.5"])
def test_parse_seeds_rejects_mistakes(text):
    with pytest.raises(BenchError, match="--seeds"):
        parse_seeds(text, base=1)


def test_commands_that_differ_only_in_their_seed_are_told_by_their_seeds():
    base = "bench reproduce zaremba-small --corpus '<path>/ptb' --no-progress"
    assert other_seeds([f"{base} --seed 1", f"{base} --seed 2", f"{base} --seed=3"]) == ["2", "3"]
    moved = base.replace("--no-progress", "--seed 7 --no-progress")  # where it stands: no matter
    assert other_seeds([moved, f"{base} --seed 8"]) == ["8"]
    assert other_seeds([base, f"{base} --seed 2"]) == ["2"]  # the first ran the default seed
    assert other_seeds([f"{base} --seed 1", f"{base} --seed 2 --set lr=1"]) is None
    assert other_seeds([f"{base} --seed 1", base]) is None  # no seed to tell it by
    assert other_seeds([f"{base} --seed 1"]) is None


def test_each_seed_run_records_a_command_that_reruns_it():
    argv = ["reproduce", "zaremba-small", "--seeds", "3", "--seed=5", "--db", "x"]
    assert command_for_seed(argv, 6) == "bench reproduce zaremba-small --db x --seed 6"


# ---------------------------------------------------------------- through the CLI
def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_rerunning_the_same_seed_is_shown_as_a_re_measurement(tiny_corpus):
    for _ in range(2):  # the same command twice: one seed, measured twice
        again = invoke("run", "--plugin", "unigram", "--corpus", tiny_corpus)
        assert again.exit_code == 0, again.output
    show = invoke("show", "2").output
    assert "seed group:" not in show
    assert "re-measured: seed 1234 re-measured ×2 (runs 1, 2), equal" in show
    board = invoke("leaderboard").output
    assert "(n=2)" not in board and "± 0.00" not in board
    assert "re-measured ×2 (runs 1, 2), equal" in " ".join(board.split())
    csv = invoke("leaderboard", "--format", "csv").output
    row = pd.read_csv(io.StringIO(csv), dtype={"run_ids": str}).iloc[0]
    assert row["seeds_n"] == 1 and row["run_ids"] == "1 2"
    assert row["test_ppl_low"] < row["test_ppl"]  # one sample: its bootstrap interval
    lonely = invoke("compare", "1", "2", "--groups")
    assert lonely.output.startswith("Error: the seed group of run 1 has 1 distinct seed")


def test_seeds_compare_and_leaderboard_through_the_cli(tiny_corpus):
    seeded = invoke("run", "--plugin", "unigram", "--corpus", tiny_corpus, "--seeds", "1,2")
    assert seeded.exit_code == 0, seeded.output
    assert "seed group (runs 1, 2): test perplexity" in seeded.output
    assert "test 95% interval [" in seeded.output
    other = invoke("run", "--plugin", "unigram", "--corpus", tiny_corpus, "--set", "smoothing=50")
    assert other.exit_code == 0, other.output

    itself = invoke("compare", "1", "1")
    assert itself.exit_code == 0, itself.output
    assert "p = 1.000" in itself.output and "verdict: no clear difference" in itself.output
    against = invoke("compare", "3", "1")
    assert against.exit_code == 0, against.output
    assert "perplexity per token" in against.output and "bits per token" in against.output
    assert "verdict: B is better by" in against.output  # heavy smoothing is worse
    flat = invoke("compare", "1", "2", "--groups")  # a unigram model ignores its seed
    assert flat.exit_code == 1 and "have no spread" in flat.output
    lonely = invoke("compare", "1", "3", "--groups")
    assert lonely.exit_code == 1
    assert lonely.output.startswith("Error: the seed group of run 3 has 1 distinct seed")

    show = invoke("show", "1")
    assert "eval test  ppl" in show.output and "seed group: runs 1, 2" in show.output
    board = invoke("leaderboard", "--format", "csv")
    rows = pd.read_csv(io.StringIO(board.output), dtype={"run_ids": str}).set_index("run_ids")
    group, alone = rows.loc["1 2"], rows.loc["3"]
    assert group["seeds_n"] == 2 and group["seeds"] == "1 2"
    assert group["test_ppl_std"] >= 0 and pd.isna(group["test_ppl_low"])  # spread over seeds
    assert "mean ± std over seeds 1, 2" in group["notes"]
    assert alone["seeds_n"] == 1 and pd.isna(alone["test_ppl_std"])  # run 3 alone:
    assert alone["test_ppl_low"] < alone["test_ppl"] < alone["test_ppl_high"]  # its interval
    assert "(n=2)" in invoke("leaderboard").output  # the markdown's cell: mean ± std (n=2)
    text = " ".join(invoke("leaderboard").output.split())  # markdown, wrapping undone
    assert "- runs 1, 2: `bench run --plugin unigram" in text
    assert "--seed 1` (and the same with `--seed 2`)" in text  # one command, not two
    assert "(command not recorded)" not in text


def test_a_run_stored_before_its_plugin_gained_an_option_stays_in_its_seed_group(
    tiny_corpus, isolated_paths
):
    import sqlite3

    seeded = invoke("run", "--plugin", "unigram", "--corpus", tiny_corpus, "--seeds", "1,2")
    assert seeded.exit_code == 0, seeded.output
    # run 1 as an older bench stored it: its plugin had no "smoothing" option yet
    with sqlite3.connect(isolated_paths / "bench.db") as db:
        db.execute(
            "UPDATE runs SET config = json_remove(config, '$.options.smoothing') WHERE id = 1"
        )
    assert "seed group: runs 1, 2" in invoke("show", "1").output
    board = invoke("leaderboard", "--format", "csv").output
    rows = pd.read_csv(io.StringIO(board), dtype={"run_ids": str})
    assert list(rows["run_ids"]) == ["1 2"] and rows["seeds_n"].iloc[0] == 2
    assert "have no spread" in invoke("compare", "1", "2", "--groups").output  # one group a side
    with sqlite3.connect(isolated_paths / "bench.db") as db:  # another value: another group
        db.execute(
            "UPDATE runs SET config = json_set(config, '$.options.smoothing', 50.0) WHERE id = 1"
        )
    assert "seed group" not in invoke("show", "1").output


def test_compare_across_tokenizers_uses_a_shared_unit_and_refuses_other_text(tiny_corpus, tmp_path):
    assert invoke("run", "--plugin", "unigram", "--corpus", tiny_corpus).exit_code == 0
    assert (
        invoke(
            "run", "--plugin", "unigram", "--corpus", tiny_corpus, "--tokenizer", "char"
        ).exit_code
        == 0
    )
    across = invoke("compare", "1", "2")  # word vs char: both counted the same words
    assert across.exit_code == 0, across.output
    assert "compared per word, a unit both runs share (word vs char" in across.output
    assert "perplexity per word" in across.output and "per token" not in across.output
    assert "verdict:" in across.output and "word ppl [" in across.output
    per_byte = invoke("compare", "1", "2", "--unit", "byte")
    assert per_byte.exit_code == 0, per_byte.output
    assert "bits per byte" in per_byte.output and "bits/byte [" in per_byte.output
    per_token = invoke("compare", "1", "2", "--unit", "token")
    assert per_token.exit_code == 1
    assert per_token.output.startswith(
        "Error: runs 1 and 2 use different tokenizers (word vs char): their per-token "
        "perplexities measure different things and are not compared; compare them with "
        "--unit word or --unit byte"
    )
    assert len(per_token.output.strip().splitlines()) == 1
    same = invoke("compare", "1", "1", "--unit", "token")  # same tokens: allowed
    assert same.exit_code == 0 and "perplexity per token" in same.output

    other = tmp_path / "other"
    other.mkdir()
    for split in ("train", "valid", "test"):
        text = (tiny_corpus / f"{split}.txt").read_text()
        (other / f"{split}.txt").write_text(text if split != "test" else "the cat\n" + text)
    assert invoke("run", "--plugin", "unigram", "--corpus", other).exit_code == 0
    refused = invoke("compare", "1", "3")
    assert refused.exit_code == 1
    assert refused.output.startswith("Error: runs 1 and 3 were scored on different test text")
    assert len(refused.output.strip().splitlines()) == 1


def test_database_before_intervals_is_upgraded_and_old_runs_say_why_they_cannot_compare(tmp_path):
    from sqlalchemy import inspect, text

    from bench.scoring.compare import compare_runs
    from bench.store import migrations
    from bench.store.engine import make_engine, writer

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = writer(make_engine(url))
    migrations.migrate(engine, migrations.MIGRATIONS[:3])  # before m004_evaluation_intervals
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO runs (id, status, plugin, started_at) "
                "VALUES (1, 'finished', 'lstm', '2020-01-02 03:04:05')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO evaluations (run_id, split, mode, batch_size, tokens, words, bytes, "
                "lines, oov, nll, ppl, word_ppl, bits_per_token, bits_per_byte, seconds, created_at) "
                "VALUES (1, 'test', 'stream', 10, 100, 100, 500, 10, 0, 460.5, 100.0, 100.0, 6.6, "
                "1.3, 1.0, '2020-01-02 03:04:05')"
            )
        )
    engine.dispose()
    with Store(url) as store:
        assert "line_scores" in inspect(store.engine).get_table_names()
        old = store.get_run(1)["evaluations"][0]
        assert old["ppl"] == 100.0 and old["ppl_low"] is None and old["ppl_high"] is None
        assert store.line_scores(old["id"]) is None
        with pytest.raises(BenchError, match="scored before bench kept per-line scores"):
            compare_runs(store, 1, 1)
        new_run = add_seeded_run(store, 1, 120.0, 200)  # new evaluations work beside old ones
        assert store.results_frame()["run_id"].tolist() == [1, new_run]


def test_line_scores_go_with_their_run(tmp_path):
    scores = synthetic_lines(np.random.default_rng(5), 50, 4.0)
    tokens = int(scores.tokens.sum())
    counts = UnitCounts(tokens=tokens, words=tokens, bytes=5 * tokens, lines=50)
    evaluation = Evaluation(
        split="test",
        counts=counts,
        protocol=EvalProtocol("stream", 10),
        metrics=SplitMetrics.compute(float(scores.nll.sum()), counts),
        seconds=1.0,
        lines=scores,
    )
    with Store(f"sqlite:///{tmp_path / 'b.db'}") as store:
        run_id = store.create_run(plugin="lstm")
        row = store.add_evaluation(run_id, evaluation)
        stored = store.get_run(run_id)["evaluations"][0]
        assert (stored["ppl_low"], stored["ppl_high"]) == (
            evaluation.ppl_interval.low,
            evaluation.ppl_interval.high,
        )
        assert (stored["interval_resamples"], stored["interval_seed"]) == (2000, 0)
        assert np.array_equal(store.line_scores(row).nll, scores.nll)
        store.delete_run(run_id)
        assert store.line_scores(row) is None
