"""bundlestream: an event-driven stream processor for product bundling."""

__version__ = "0.1.0"
