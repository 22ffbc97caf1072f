"""Offline evaluation: time holdout, basket completion, bundle hit rate (docs/design.md,
Evaluation).

Broker-free: works on lists of ``OrderEvent`` and compares the bundle engine with simple,
well-known baselines in one run so every number has a reference point.
"""
