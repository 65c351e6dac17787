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

import pytest
from conftest import unavailable
from picture_runs import PictureRuns, make_picture_runs

from bench.report.plots import parse_count
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
    """The leaderboard table's headers and rows (cell text by header), in document order."""
    table = re.search(r'<table class="sortable" id="leaderboard">(.*?)</table>', document, re.S)
    assert table, "no leaderboard table"
    headers = [unescape(h) for h in re.findall(r"<th[^>]*>(.*?)</th>", table.group(1), re.S)]
    rows = []
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table.group(1), re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        if cells:
            texts = [unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in cells]
            rows.append(dict(zip(headers, texts, strict=True)))
    return headers, rows


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
