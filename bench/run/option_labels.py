"""The options text of a leaderboard row: what sets a run apart from the plugin's defaults.

Computed once, when a run is recorded (stored as ``runs.key_options``), and shown in the
leaderboard's "options" column, so that two rows of the same plugin say how they differ.
"""

from __future__ import annotations

from bench.api.output_layers import OutputLayerChoice
from bench.configuration.options import Options

# Shown even at their default: the training budget, so that rows which differ in it
# say so in the leaderboard (a 3-epoch run beside a 13-epoch one).
ALWAYS_SHOWN_OPTIONS = ("epochs",)


def key_options(options: Options) -> str:
    """The options that differ from the plugin's defaults, as ``k=v`` pairs, after the
    training budget (``epochs``), which is always shown where the plugin has one.

    A chosen output layer's options show as ``output.k=v``, and only where they differ
    from that layer's defaults (the stored dict always holds them all).
    """
    defaults = type(options)().model_dump()
    values = options.model_dump()
    changed = {k: values[k] for k in ALWAYS_SHOWN_OPTIONS if k in values}
    changed.update(
        {k: v for k, v in values.items() if defaults.get(k) != v and k != "output_options"}
    )
    if isinstance(options, OutputLayerChoice):
        changed.update({f"output.{k}": v for k, v in options.changed_output_options().items()})
    return " ".join(f"{k}={v}" for k, v in changed.items())
