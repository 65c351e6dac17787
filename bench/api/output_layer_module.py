"""Deprecated: the torch half of output layers is :mod:`bench.output_network`.

``OutputModule`` is now ``OutputNetwork`` (``from bench import OutputNetwork``). This
module re-exports the old names and will be removed in bench 1.0.
"""

import warnings

from bench.api.output_network import *  # noqa: F403
from bench.api.output_network import OutputNetwork

warnings.warn(
    "bench.output_layer_module is deprecated: import OutputNetwork (formerly "
    "OutputModule) from bench, and its helpers from bench.output_network",
    DeprecationWarning,
    stacklevel=2,
)

OutputModule = OutputNetwork
