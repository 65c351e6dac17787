"""Configuration of a run: the run's settings and their hash, validated options, named recipes."""
