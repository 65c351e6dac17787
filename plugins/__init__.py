"""bench's built-in plugins, installed as ``bench_plugins`` and found through entry points."""

import bench  # noqa: F401  installs the finder that keeps the old bench_plugins.* paths working
