"""The suite's own switches: tests marked `slow` run only with --runslow; $BENCH_REQUIRE turns
the skips of missing optional tools into failures."""

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CONFTEST = Path(__file__).with_name("conftest.py")


def test_slow_tests_are_skipped_unless_runslow(pytester):
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makeini("[pytest]\naddopts = --strict-markers\nmarkers =\n    slow: long\n")
    pytester.makepyfile("""
        import pytest

        @pytest.mark.slow
        def test_long():
            pass

        def test_quick():
            pass
    """)
    default = pytester.runpytest_inprocess("-rs")
    default.assert_outcomes(passed=1, skipped=1)
    default.stdout.fnmatch_lines(["*slow: run with --runslow*"])
    pytester.runpytest_inprocess("--runslow").assert_outcomes(passed=2)


REQUIRING = """
    from conftest import unavailable

    def test_needs_postgres():
        unavailable("postgres", "no PostgreSQL server here")
"""


def test_bench_require_turns_a_missing_tool_into_a_failure(pytester, monkeypatch):
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makepyfile(REQUIRING)
    monkeypatch.delenv("BENCH_REQUIRE", raising=False)
    skipped = pytester.runpytest_inprocess("-rs")
    skipped.assert_outcomes(skipped=1)
    skipped.stdout.fnmatch_lines(["SKIPPED*no PostgreSQL server here*"])
    monkeypatch.setenv("BENCH_REQUIRE", "chromium,postgres")
    failed = pytester.runpytest_inprocess()
    failed.assert_outcomes(failed=1)
    failed.stdout.fnmatch_lines(["*no PostgreSQL server here (BENCH_REQUIRE=chromium,postgres)*"])
    monkeypatch.setenv("BENCH_REQUIRE", "kenlm")  # another tool required: this one still skips
    pytester.runpytest_inprocess().assert_outcomes(skipped=1)


def test_bench_require_refuses_a_name_it_does_not_know(pytester, monkeypatch):
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makepyfile(REQUIRING)
    monkeypatch.setenv("BENCH_REQUIRE", "postgresql")
    result = pytester.runpytest_inprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*BENCH_REQUIRE names postgresql; known: postgres, chromium, kenlm*"]
    )
