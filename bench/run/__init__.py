"""The conductor of one run: its plan, its folder, the runner, the failures it reports, a stored run restored."""
