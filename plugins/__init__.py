"""bench's built-in plugins, installed as ``bench_plugins`` and found through entry points."""
