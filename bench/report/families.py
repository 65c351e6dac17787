"""Model families for the leaderboard's colours and filters: "LSTM", "RNN", "n-gram", ...

A published row has only its model's name ("AWD-LSTM (3-layer, tied)", "KN5 + cache") and
a measured row its label and plugin, so the family is read from those words. The first
rule that matches wins, which settles mixtures the way a reader would: "RNN LM + KN5" is
an RNN (the n-gram is its helper), "BIG LSTM + CNN inputs" an LSTM.
"""

from __future__ import annotations

import re

# (family, pattern on the lower-cased model name and plugin), first match wins
_RULES = [
    ("Transformer", r"transformer|\bgpt|attention"),
    ("LSTM", r"lstm"),
    ("RNN", r"\brnn|elman|\bgru|qrnn|recurrent"),
    ("CNN", r"cnn|convolution"),
    ("n-gram", r"\bkn\d*\b|kneser|gram|\bsnm\b|unigram|maxent|count"),
]
OTHER = "other"
FAMILIES = [family for family, _ in _RULES] + [OTHER]
# Okabe & Ito's colour-blind-safe palette, one colour per family, the same on every plot
# and page, so a family keeps its colour from the index to a corpus's plots
COLOURS = {
    "Transformer": "#CC79A7",
    "LSTM": "#0072B2",
    "RNN": "#009E73",
    "CNN": "#E69F00",
    "n-gram": "#D55E00",
    OTHER: "#777777",
}


def model_family(model: str, plugin: str = "") -> str:
    """The family of a model from its name (and, for a measured run, its plugin)."""
    text = f"{model} {plugin}".lower().replace("_", " ")
    for family, pattern in _RULES:
        if re.search(pattern, text):
            return family
    return OTHER
