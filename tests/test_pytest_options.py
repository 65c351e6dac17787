"""The suite's own switch: tests marked `slow` run only with --runslow."""

from pathlib import Path

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
