"""Write a list of made-up first names, one per line, the same list on every machine.

The names are built from syllables by a seeded random generator (no download, no real
person's data): a small text to train a character-level model on, as in docs/own-text.md.

    python docs/examples/make_names.py names.txt            # 3,000 names
    python docs/examples/make_names.py names.txt --count 500
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

STARTS = [
    "al",
    "ar",
    "be",
    "bri",
    "ca",
    "da",
    "el",
    "fa",
    "ga",
    "ha",
    "is",
    "jo",
    "ka",
    "la",
    "ma",
    "mi",
    "na",
    "no",
    "or",
    "pa",
    "ra",
    "ro",
    "sa",
    "se",
    "ta",
    "to",
    "va",
    "wi",
    "ya",
    "za",
]
MIDDLES = [
    "",
    "",
    "",
    "b",
    "d",
    "l",
    "li",
    "lo",
    "m",
    "n",
    "na",
    "ne",
    "r",
    "ri",
    "ro",
    "s",
    "th",
    "v",
    "ve",
]
ENDS = [
    "a",
    "an",
    "ana",
    "e",
    "el",
    "ella",
    "en",
    "ia",
    "ie",
    "in",
    "ina",
    "is",
    "o",
    "on",
    "or",
    "us",
    "y",
    "yn",
]


def names(count: int, seed: int = 1) -> list[str]:
    """``count`` distinct names, in the generator's order."""
    rng = random.Random(seed)
    found: dict[str, None] = {}
    while len(found) < count:
        name = rng.choice(STARTS) + rng.choice(MIDDLES) + rng.choice(ENDS)
        found[name.capitalize()] = None
    return list(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--count", type=int, default=3000)
    args = parser.parse_args()
    args.out.write_text("".join(f"{name}\n" for name in names(args.count)), encoding="utf-8")
    print(f"wrote {args.count:,} names to {args.out}")


if __name__ == "__main__":
    main()
