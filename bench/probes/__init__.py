"""Probes: measurements that look inside a model rather than score it.

Each probe is a module of its own (``gradients``: how far back the training signal
reaches in a recurrent network); ``bench probe NAME`` runs one, and its numbers are stored
in the database's ``probe_results`` table.
"""
