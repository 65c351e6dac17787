"""The site's headline figures and its progress-over-the-years chart, from a table's
records (no database needed): which rows are best, which runs reproduce their paper,
and where the SVG draws each point."""

from __future__ import annotations

import math
import re

import pandas as pd
import pytest

from bench.report.families import COLOURS
from bench.report.html_charts import CHAR_PX, LABEL_PX, YearPoint, state_of_the_art, year_chart
from bench.report.html_site import headline, year_points


def table_of(records: list[dict]) -> pd.DataFrame:
    table = pd.DataFrame({"kind": [r["kind"] for r in records]})
    table.attrs["records"] = records
    return table


def published(model: str, ppl: float, year: int) -> dict:
    return {"kind": "reference", "model": model, "test_ppl": ppl, "year": year}


def measured(model: str, ppl: float, runs: list[int], paper: dict | None = None) -> dict:
    record = {"kind": "measured", "model": model, "plugin": "lstm", "test_ppl": ppl}
    record["run_ids"] = runs
    if paper:
        change = 100 * (ppl - paper["test_ppl"]) / paper["test_ppl"]
        record |= {
            "reproduces": paper["model"],
            "paper_test_ppl": paper["test_ppl"],
            "test_ppl_change_percent": change,
        }
    return record


KN = published("KN5", 141.2, 2011)
RNN = published("RNN LM", 124.7, 2011)
SMALL = published("LSTM small", 114.5, 2014)
AWD = published("AWD-LSTM", 57.3, 2017)
RECORDS = [
    measured("LSTM 2x200", 113.16, [4], SMALL),  # -1.2%: within 2%
    measured("LSTM 2x200 tied", 111.71, [16], published("tied", 110.44, 2017)),  # +1.1%
    measured("RNN-tanh", 149.12, [17, 18], RNN),  # +19.6%: not reproduced
    measured("Unigram", 639.8, [5]),
    KN,
    RNN,
    SMALL,
    AWD,
]


def test_the_headline_names_the_best_rows_and_counts_reproductions_within_two_percent():
    facts = headline(table_of(RECORDS))
    assert facts["measured"]["model"] == "LSTM 2x200 tied"
    assert facts["published"]["model"] == "AWD-LSTM"
    # the tied run's paper row is not in the table, but its comparison still counts
    assert (facts["reproduced"], facts["reproducible"]) == (2, 3)
    assert facts["rows"] == (4, 4)


def test_measured_runs_are_drawn_beside_the_rows_they_reproduce():
    papers, runs = year_points(table_of(RECORDS))
    assert [(p.name, p.year, p.ppl) for p in papers] == [
        ("KN5", 2011, 141.2),
        ("RNN LM", 2011, 124.7),
        ("LSTM small", 2014, 114.5),
        ("AWD-LSTM", 2017, 57.3),
    ]
    # only runs whose paper row is on the chart; the unigram reproduces nothing
    assert [(r.name, r.year, r.ppl, r.href) for r in runs] == [
        ("LSTM 2x200 (run 4)", 2014, 113.16, "run-4.html"),
        ("RNN-tanh (run 17, 18)", 2011, 149.12, "run-17.html"),
    ]
    assert runs[0].reproduces is papers[2] and runs[1].reproduces is papers[1]


def test_the_state_of_the_art_is_each_year_s_new_best():
    points = [
        YearPoint(y, p, str(p), "LSTM")
        for y, p in [(2011, 141), (2011, 125), (2012, 130), (2014, 82), (2016, 90), (2017, 57)]
    ]
    assert [p.ppl for p in state_of_the_art(points)] == [125, 82, 57]


def positions(svg: str, shape: str) -> list[tuple[float, float, str]]:
    """(x, y, tooltip) of each published diamond ("path") or measured circle."""
    if shape == "circle":
        found = re.findall(
            r'<circle class="measured" cx="([\d.]+)" cy="([\d.]+)"[^>]*><title>([^<]*)', svg
        )
        return [(float(x), float(y), t) for x, y, t in found]
    found = re.findall(
        r'<path class="published" d="M([\d.]+),([\d.]+)[^"]*"[^>]*><title>([^<]*)', svg
    )
    return [(float(x), float(y) + 5, t) for x, y, t in found]  # the path starts at the top tip


def test_the_chart_uses_a_log_scale_and_marks_runs_beside_their_paper():
    papers, runs = year_points(table_of(RECORDS))
    svg = year_chart(papers, runs, caption="c")
    diamonds = {t.split(" (")[0]: (x, y) for x, y, t in positions(svg, "path")}
    circles = {t.split(":")[0]: (x, y) for x, y, t in positions(svg, "circle")}
    assert set(diamonds) == {"KN5", "RNN LM", "LSTM small", "AWD-LSTM"}
    assert circles["LSTM 2x200 (run 4)"][0] == pytest.approx(diamonds["LSTM small"][0] + 9)
    # log scale: equal ratios of perplexity are equal distances on screen
    y = {name: position[1] for name, position in diamonds.items()}
    per_log = (y["AWD-LSTM"] - y["KN5"]) / math.log(57.3 / 141.2)
    assert (y["LSTM small"] - y["KN5"]) == pytest.approx(per_log * math.log(114.5 / 141.2), abs=0.2)
    assert (circles["LSTM 2x200 (run 4)"][1] - y["KN5"]) == pytest.approx(
        per_log * math.log(113.16 / 141.2), abs=0.2
    )
    assert 'href="run-4.html"' in svg and f'stroke="{COLOURS["LSTM"]}"' in svg
    assert re.search(r'<text class="tick"[^>]*>100</text>', svg)  # round values on the axis


def test_the_chart_names_never_overlap():
    papers = [
        YearPoint(2010 + i % 3, 100 - i, f"a rather long model name {i}", "LSTM") for i in range(30)
    ]
    svg = year_chart(papers, [], caption="c")
    labels = re.findall(
        r'<text class="label" x="([\d.]+)" y="([\d.]+)" text-anchor="(\w+)">([^<]*)', svg
    )
    assert labels
    boxes = []
    for x, y, anchor, text in labels:
        width = len(text) * CHAR_PX
        left = float(x) - {"start": 0, "middle": width / 2, "end": width}[anchor]
        boxes.append((left, float(y) - LABEL_PX + 1, left + width, float(y) + 2))
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]), (a, b)


def test_no_chart_without_a_history():
    assert year_chart([YearPoint(2017, 57.3, "AWD-LSTM", "LSTM")], [], caption="c") == ""
