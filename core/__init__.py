"""Foundations every other package may import: typed settings, production checks on them, and
the pure health verdicts. Nothing here imports another project package."""
