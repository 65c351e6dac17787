"""Package discovery, which pyproject.toml cannot express: the folder plugins/ installs as
`bench_plugins` (never as a generic top-level `plugins`), its family folders as
`bench_plugins.kn`, `bench_plugins.recurrent`, ... Everything else is in pyproject.toml."""

from setuptools import find_packages, setup

plugins = ["bench_plugins", *(f"bench_plugins.{name}" for name in find_packages("plugins"))]
setup(packages=[*find_packages(include=["bench", "bench.*"]), *plugins])
