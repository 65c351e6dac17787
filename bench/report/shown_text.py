"""Text that came from a file, made safe to show: in a terminal, in markdown, in a CSV cell.

Model labels, corpus names, error texts and commands are stored with each run, and runs
are shared (``bench export`` / ``bench import``, committed leaderboards). What such text
holds is whatever the file's author wrote: escape sequences that clear a terminal or set
its clipboard, HTML that a markdown viewer runs, line breaks that split a table row, a
formula that a spreadsheet evaluates. Each output escapes it here, through one function
per medium, so the rules live in one place.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

# Control characters (Unicode category Cc) and the line and paragraph separators: every
# character some reader (Python's str.splitlines, editors, markdown viewers) takes as the
# end of a line is among them.
_CONTROL_RUN = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
# Invisible characters that reorder what follows them ("Trojan source"): a label could
# show one text and hold another.
_BIDI = {
    "\u061c",
    "\u200e",
    "\u200f",
    *map(chr, range(0x202A, 0x202F)),
    *map(chr, range(0x2066, 0x206A)),
}
# Markdown punctuation that starts HTML, a code span or a heading (where a note wraps), or
# ends a table cell, and a "]" that would close a link, an image or a link definition
# ("](", "][", "]:"); a backslash before ASCII punctuation shows it as written
# (CommonMark), and brackets elsewhere ("113.2 [112.0, 114.3]") are left alone so the raw
# file stays readable.
_MARKDOWN_SPECIAL = re.compile(r"([\\`<>|#]|\](?=[(\[:]))")
# What a spreadsheet reads as the start of a formula (OWASP's "CSV injection" list).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _unsafe(char: str) -> bool:
    return unicodedata.category(char) in ("Cc", "Zl", "Zp") or char in _BIDI


def for_terminal(text: Any, *, keep_newlines: bool = False) -> str:
    """``text`` with every control character (ESC, CSI, OSC, BEL, C1 codes, line
    separators, bidi overrides) written as its escape (``\\x1b``), so nothing a stored
    label or error holds can drive the terminal; tabs stay, newlines only where asked
    (a multi-line error message)."""
    kept = "\t\n" if keep_newlines else "\t"
    out = []
    for char in str(text):
        if char in kept or not _unsafe(char):
            out.append(char)
        else:
            out.append(char.encode("unicode_escape").decode("ascii"))
    return "".join(out)


def one_line(text: Any) -> str:
    """``text`` on one line: each run of line breaks and other control characters is one
    space and bidi overrides are dropped (for markdown, where a line break starts a new
    block)."""
    shown = "".join(char for char in str(text) if char not in _BIDI)
    return _CONTROL_RUN.sub(" ", shown)


def markdown_text(text: Any) -> str:
    """``text`` as markdown that shows it as written, on one line: no HTML, code span,
    link, image or table cell boundary can come out of it. Used for every table cell,
    heading and note of a leaderboard."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", one_line(text))


def markdown_code(text: Any) -> str:
    """``text`` as one inline code span: the fence is one backtick longer than the longest
    run of backticks inside, padded with spaces when the text starts or ends with one
    (CommonMark), so no backtick in a command can end the span early."""
    body = one_line(text)
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if body.startswith("`") or body.endswith("`") or longest else ""
    return f"{fence}{pad}{body}{pad}{fence}"


def csv_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet shows rather than evaluates: text that starts like a
    formula gets a leading apostrophe; numbers, and text that is a plain number such as
    "-1.5", stay as they are."""
    if not isinstance(value, str) or not value.startswith(_FORMULA_START):
        return value
    try:
        float(value)
    except ValueError:
        return "'" + value
    return value
