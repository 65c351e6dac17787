"""Looking at the HTML site in real headless Chromium, as a reader would, at a given screen
size: served over HTTP from its own folder (a page opened from disk hides what it loads
from the Resource Timing API), with every host but the local server unreachable, so a page
that reaches for the network fails instead of quietly loading.

A probe page served beside the site shows the page under test in an iframe of the
screen's size, and once it has loaded writes what it measured into its own DOM, which
``--dump-dom`` returns: the document's scroll width against its visible width, every
resource the page loaded, every link's resolved address, and the rows the table shows
after a filter was chosen.
"""

from __future__ import annotations

import functools
import json
import re
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PROBE = """<!DOCTYPE html><html><body>
<iframe id="page" src="{page}" width="{width}" height="{height}" style="border:0"></iframe>
<pre id="measured">pending</pre>
<script>
document.getElementById("page").addEventListener("load", function () {{
  var w = this.contentWindow, d = w.document, root = d.documentElement;
  var result = {{
    scroll_width: root.scrollWidth, client_width: root.clientWidth,
    boxes_scrolling: Array.prototype.filter.call(
      d.querySelectorAll(".scroll, .chart-box"),
      function (b) {{ return b.scrollWidth > b.clientWidth + 1; }}).length,
    resources: w.performance.getEntriesByType("resource").map(function (e) {{ return e.name; }}),
    links: Array.prototype.map.call(d.querySelectorAll("a[href]"), function (a) {{ return a.href; }}),
    rows: d.querySelectorAll("#leaderboard tbody tr").length
  }};
  var kind = d.getElementById("kind-filter"), family = d.getElementById("family-filter");
  if (kind) {{
    kind.value = {kind}; kind.dispatchEvent(new Event("change"));
    family.value = {family}; family.dispatchEvent(new Event("change"));
    result.shown = Array.prototype.map.call(
      d.querySelectorAll("#leaderboard tbody tr:not([hidden])"),
      function (r) {{ return [r.getAttribute("data-kind"), r.getAttribute("data-family")]; }});
    result.count_text = d.getElementById("shown-count").textContent;
  }}
  document.getElementById("measured").textContent = JSON.stringify(result);
}});
</script></body></html>
"""


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:  # no request lines in the test output
        pass


@contextmanager
def serve(folder: Path) -> Iterator[str]:
    """``folder`` served on a free local port for the duration; yields its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def chromium_args(chromium: str, profile: Path) -> list[str]:
    return [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        f"--user-data-dir={profile}",
        # every host but the local server unreachable: a CDN or web font fails to load
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ]


def measure(
    chromium: str,
    base: str,
    folder: Path,
    page: str,
    size: tuple[int, int],
    profile: Path,
    *,
    kind: str = "",
    family: str = "",
) -> dict:
    """What the probe measured of ``page`` (a file in ``folder``) shown at ``size``."""
    probe = folder / f"probe-{size[0]}.html"
    probe.write_text(
        PROBE.format(
            page=page,
            width=size[0],
            height=size[1],
            kind=json.dumps(kind),
            family=json.dumps(family),
        )
    )
    result = subprocess.run(
        [
            *chromium_args(chromium, profile),
            f"--window-size={size[0] + 40},{size[1] + 200}",
            "--dump-dom",
            base + probe.name,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    probe.unlink()
    assert result.returncode == 0, result.stderr[-2000:]
    found = re.search(r'<pre id="measured">(.*?)</pre>', result.stdout, re.S)
    assert found and found.group(1) != "pending", result.stdout[-2000:]
    return json.loads(
        found.group(1).replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    )


def screenshot(chromium: str, url: str, size: tuple[int, int], path: Path, profile: Path) -> Path:
    """A PNG of ``url`` in a window of ``size``."""
    result = subprocess.run(
        [
            *chromium_args(chromium, profile),
            f"--window-size={size[0]},{size[1]}",
            "--hide-scrollbars",
            f"--screenshot={path}",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return path
