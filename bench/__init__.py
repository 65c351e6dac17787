"""bench: re-measure language-model perplexity tables on your own hardware."""

__version__ = "0.1.0"

from bench.hookspecs import hookimpl  # noqa: E402  (plugins write @bench.hookimpl)

__all__ = ["__version__", "hookimpl"]
