"""Scoring checked exactly once per token, and what follows from it: metrics, intervals, seeds, comparisons."""
