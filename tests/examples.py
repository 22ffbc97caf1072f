"""How many examples a property test tries: all of them under ``make test`` (what CI runs), a
share of them in the fast broker-free loop (``make unit`` sets the scale), so that loop stays
under a minute while every property still runs in full before a change lands."""

from __future__ import annotations

import os

SCALE = float(os.environ.get("BUNDLESTREAM_TEST_EXAMPLES_SCALE", "1"))
# fewer than this says little about a property, whatever the scale
MIN_EXAMPLES = 10


def scaled(full: int, scale: float) -> int:
    """``full`` at scale 1 or more, else that share of it (at least ``MIN_EXAMPLES``)."""
    return full if scale >= 1 else min(full, max(MIN_EXAMPLES, round(full * scale)))


def examples(full: int) -> int:
    return scaled(full, SCALE)
