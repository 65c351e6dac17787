"""`bench leaderboard --html DIR`: a self-contained site whose tables a real browser sorts.

The browser tests run Chromium headless (`--dump-dom` gives the page after its script
ran) and skip, saying why, where it is not installed (Debian: apt-get install chromium).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from html import unescape
from pathlib import Path
from urllib.parse import quote

import pandas as pd
import pytest
from conftest import unavailable
from picture_runs import PictureRuns, make_picture_runs
from site_browser import measure, screenshot, serve

from bench.report.html_site import write_site
from bench.report.leaderboard import build_tables, corpus_file_stem
from bench.report.plots import parse_count
from bench.report.published import PUBLISHED_COLUMNS
from bench.store.local_paths import shared_run

CHROMIUM = next(
    (path for name in ("chromium", "chromium-browser") if (path := shutil.which(name))), None
)


@pytest.fixture
def chromium() -> str:
    """Chromium's path; skips (or fails, under BENCH_REQUIRE=chromium) where it is missing."""
    if CHROMIUM is None:
        unavailable("chromium", "chromium is not installed (Debian: apt-get install chromium)")
    return CHROMIUM


needs_chromium = pytest.mark.usefixtures("chromium")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> tuple[PictureRuns, Path]:
    folder = tmp_path_factory.mktemp("site")
    runs = make_picture_runs(folder)
    result = runs.invoke(
        "leaderboard", "--corpus", runs.tiny, "--corpus", "ptb", "--html", folder / "html"
    )
    assert result.exit_code == 0, result.output
    return runs, folder / "html"


def corpus_page(runs: PictureRuns, html: Path) -> Path:
    (page,) = [
        p for p in html.glob("*.html") if p.stem not in {"index", "ptb"} and "run-" not in p.stem
    ]
    return page


def table_rows(document: str) -> tuple[list[str], list[dict[str, str]]]:
    """The leaderboard table's headers and rows (cell text by header, and the row's
    ``kind`` and ``family``), in document order."""
    table = re.search(r'<table class="sortable" id="leaderboard">(.*?)</table>', document, re.S)
    assert table, "no leaderboard table"
    headers = [unescape(h) for h in re.findall(r"<th[^>]*>(.*?)</th>", table.group(1), re.S)]
    rows = []
    for attributes, row in re.findall(r"<tr([^>]*)>(.*?)</tr>", table.group(1), re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        if cells:
            texts = [unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in cells]
            marks = dict(re.findall(r'data-(kind|family)="([^"]*)"', attributes))
            rows.append(dict(zip(headers, texts, strict=True)) | marks)
    return headers, rows


PUBLISHED = [  # (model, params, test ppl, year) on the tiny corpus, for the mixed site
    ("KN5 baseline", "2M (estimate)", "141.2", 2011),
    ("RNN LM", "6M", "124.7", 2012),
    ("LSTM medium", "20M", "82.7", 2014),
    ("AWD-LSTM", "24M", "57.3", 2017),
]


@pytest.fixture(scope="module")
def mixed(site, tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    """A site whose corpus has measured runs and published rows (with years) together."""
    runs, _ = site
    rows = [
        dict.fromkeys(PUBLISHED_COLUMNS, "")
        | {"corpus": runs.tiny, "model": m, "params": p, "test_ppl": t, "year": y}
        for m, p, t, y in PUBLISHED
    ]
    published = pd.DataFrame(rows).astype({"year": "Int64"})
    store = runs.store()
    results = store.results_frame()
    tables = build_tables(results, published, corpora=[runs.tiny])
    folder = tmp_path_factory.mktemp("mixed")
    write_site(tables, results, store, folder)
    return folder, tables[runs.tiny]


def browser_dom(page: Path, fragment: str, profile: Path) -> str:
    """The page's DOM after its script ran, as Chromium headless serialises it."""
    url = page.as_uri() + "#" + quote(fragment, safe="=&")
    result = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={profile}",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_site_has_an_index_corpus_pages_and_a_page_per_run(site):
    runs, html = site
    index = (html / "index.html").read_text()
    page = corpus_page(runs, html)
    assert f'href="{page.name}"' in index and 'href="ptb.html"' in index
    text = page.read_text()
    _, rows = table_rows(text)
    store = runs.store()
    measured = store.results_frame(runs.tiny)
    assert sorted(int(r["run"]) for r in rows) == sorted(measured["run_id"])
    for plot in ("params", "speed"):  # the plots, as files beside the page
        name = f"{page.stem}-{plot}.png"
        assert f'src="{name}"' in text and (html / name).read_bytes().startswith(PNG_SIGNATURE)
    for run_id in measured["run_id"]:
        record = store.get_run(int(run_id))
        assert f'href="run-{run_id}.html"' in text
        run_page = (html / f"run-{run_id}.html").read_text()
        assert "bench run --plugin" in unescape(run_page)  # the command
        # the configuration, with local paths as a published page names them (~/..., <path>/...)
        for key, value in shared_run(record)["config"].items():
            if isinstance(value, (int, float, str)) and not isinstance(value, bool):
                assert f"{key} = {value}" in unescape(run_page), key
        assert "<h2>Environment</h2>" in run_page
        curves = f"run-{run_id}-curves.png"
        has_curves = record["plugin"] == "lstm"
        assert (f'src="{curves}"' in run_page) == has_curves
        assert (html / curves).exists() == has_curves
    # self-contained: nothing is fetched from elsewhere when a page is viewed
    for path in html.glob("*.html"):
        assert not re.search(r'(src|href)="(https?:)?//', path.read_text()), path
        assert "<link" not in path.read_text()


def test_every_link_and_image_is_relative_and_resolves(site):
    """The folder can be published as it is (GitHub Pages): no absolute or dangling link."""
    _, html = site
    pages = list(html.glob("*.html"))
    assert len(pages) > 5
    for path in pages:
        for target in re.findall(r"""(?:src|href)\s*=\s*["']?([^"'\s>]*)""", path.read_text()):
            target = unescape(target).split("#")[0]
            assert target and not re.match(r"[a-z]+:|/", target), (path.name, target)
            assert (html / target).is_file(), (path.name, target)


def test_run_pages_round_figures_as_the_tables_do(site):
    runs, html = site
    store = runs.store()
    record = store.get_run(runs.lstm)
    text = (html / f"run-{runs.lstm}.html").read_text()
    shown = text.split("<h2>Configuration</h2>")[0]  # results, command and the run's facts
    assert not re.search(r"\d\.\d{4,}", shown), re.findall(r"\d+\.\d{4,}", shown)
    test = next(e for e in record["evaluations"] if e["split"] == "test")
    assert f'<td class="num">{test["ppl"]:.2f}</td>' in shown
    assert f"[{test['ppl_low']:.1f}, {test['ppl_high']:.1f}]" in shown
    assert f"{record['params']:,}" in shown  # the exact count beside "4.65M"
    assert "<h2>Training curves</h2>" in text and "<h2>Command</h2>" in text
    environment = text.split("<h2>Environment</h2>")[1]
    assert f"<dt>python</dt><dd>{record['environment']['python']}</dd>" in environment


@needs_chromium
def test_the_browser_sorts_the_table_from_the_url_fragment(site, tmp_path):
    runs, html = site
    page = corpus_page(runs, html)
    _, served = table_rows(page.read_text())
    ascending = browser_dom(page, "sort=test ppl", tmp_path / "profile")
    _, rows = table_rows(ascending)
    assert sorted(r["run"] for r in rows) == sorted(r["run"] for r in served)  # all rows
    ppl = [float(r["test ppl"].split()[0]) for r in rows]
    assert ppl == sorted(ppl)
    descending = browser_dom(page, "sort=test ppl&desc", tmp_path / "profile")
    _, rows = table_rows(descending)
    ppl = [float(r["test ppl"].split()[0]) for r in rows]
    assert ppl == sorted(ppl, reverse=True) and ppl[0] > ppl[-1]  # not the order served
    assert 'aria-sort="descending"' in descending


@needs_chromium
def test_the_browser_sorts_counts_by_their_value_not_their_text(site, tmp_path):
    """ "14M" after "2M (estimate)"; rows without a count last, whichever the direction."""
    _, html = site
    _, rows = table_rows(browser_dom(html / "ptb.html", "sort=params", tmp_path / "profile"))
    counts = [parse_count(r["params"]) for r in rows]
    known = [c for c in counts if c == c]
    assert len(known) > 3 and known == sorted(known) and counts[: len(known)] == known
    _, rows = table_rows(browser_dom(html / "ptb.html", "sort=params&desc", tmp_path / "profile"))
    counts = [parse_count(r["params"]) for r in rows]
    known = [c for c in counts if c == c]
    assert known == sorted(known, reverse=True) and counts[: len(known)] == known


def test_the_index_gives_each_corpus_its_headline_and_its_history(mixed):
    html, table = mixed
    index = (html / "index.html").read_text()
    measured = table.attrs["records"][0]  # measured rows first, the best test ppl first
    (row,) = re.findall(r"<tr><td class=\"name\">.*?</tr>", index, re.S)
    assert f"<b>{measured['test_ppl']:.2f}</b>" in row and measured["model"] in unescape(row)
    assert "<b>57.3</b>" in row and "AWD-LSTM (2017)" in row  # the best published row
    # the chart of the published rows by year, on the index and on the corpus's page
    page = (html / f"{corpus_file_stem(table.attrs['corpus'])}.html").read_text()
    for text in (index, page):
        tips = re.findall(r'<path class="published"[^>]*><title>([^<]*)</title>', text)
        assert sorted(tips) == sorted(
            f"{m} ({y}): test ppl {float(t):g}" for m, _, t, y in PUBLISHED
        )


SCREENS = {"laptop": (1366, 768), "phone": (390, 844)}


@needs_chromium
@pytest.mark.parametrize("screen", list(SCREENS))
def test_pages_fit_the_screen_load_nothing_from_the_network_and_links_resolve(
    site, chromium, tmp_path, screen
):
    runs, html = site
    size = SCREENS[screen]
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with serve(html) as base:
        for page in (
            "index.html",
            "ptb.html",
            corpus_page(runs, html).name,
            f"run-{runs.lstm}.html",
        ):
            seen = measure(chromium, base, html, page, size, tmp_path / "profile")
            # no sideways scrolling of the page (on a phone a table may scroll inside its box)
            assert seen["scroll_width"] <= seen["client_width"], (page, seen)
            if screen == "laptop":  # and on a laptop, not the table inside its box either
                assert seen["boxes_scrolling"] == 0, (page, seen)
            assert all(r.startswith(base) for r in seen["resources"]), seen
            assert seen["resources"] or page == "index.html", seen  # PNGs seen: a real check
            for link in seen["links"]:
                assert link.startswith(base), (page, link)
                assert (html / link[len(base) :].split("#")[0]).is_file(), (page, link)
            screenshot(
                chromium,
                base + page,
                size,
                shots / f"{page[:-5]}-{screen}.png",
                tmp_path / "profile",
            )
    for shot in shots.iterdir():
        assert shot.read_bytes().startswith(PNG_SIGNATURE) and shot.stat().st_size > 5000
    print(f"screenshots at {screen} size: {shots}")  # kept by pytest's tmp_path


@needs_chromium
def test_every_run_link_of_the_corpus_page_opens_a_run_page(site, chromium, tmp_path):
    runs, html = site
    page = corpus_page(runs, html)
    with serve(html) as base:
        seen = measure(chromium, base, html, page.name, SCREENS["laptop"], tmp_path / "p")
    run_links = {link[len(base) :] for link in seen["links"] if "run-" in link}
    measured = runs.store().results_frame(runs.tiny)["run_id"]
    assert run_links == {f"run-{int(i)}.html" for i in measured}
    for link in run_links:
        assert f"<h1>Run {link[4:-5]}:" in (html / link).read_text()


@needs_chromium
@pytest.mark.parametrize(
    "kind, family", [("measured", ""), ("reference", ""), ("", "LSTM"), ("measured", "n-gram")]
)
def test_the_filters_show_only_the_rows_asked_for(mixed, chromium, tmp_path, kind, family):
    html, table = mixed
    page = f"{corpus_file_stem(table.attrs['corpus'])}.html"
    with serve(html) as base:
        seen = measure(
            chromium, base, html, page, SCREENS["laptop"], tmp_path / "p", kind=kind, family=family
        )
    _, rows = table_rows((html / page).read_text())
    expected = [
        r for r in rows if (not kind or r["kind"] == kind) and (not family or r["family"] == family)
    ]
    assert len(seen["shown"]) == len(expected) and 0 < len(expected) < seen["rows"]
    assert all((not kind or k == kind) and (not family or f == family) for k, f in seen["shown"])
    assert seen["count_text"] == f"{len(expected)} of {seen['rows']} rows"


@needs_chromium
def test_a_screenshot_of_the_page_is_drawn(site, tmp_path):
    runs, html = site
    shot = tmp_path / "page.png"
    result = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={shot}",
            "--window-size=1200,900",
            corpus_page(runs, html).as_uri() + "#sort=run",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert shot.read_bytes().startswith(PNG_SIGNATURE) and shot.stat().st_size > 5000
