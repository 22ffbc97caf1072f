"""The property-test budget: full unless a scale below 1 is set."""

from __future__ import annotations

import pytest

from tests.examples import scaled


@pytest.mark.parametrize(
    ("full", "scale", "want"),
    [(300, 1.0, 300), (300, 0.25, 75), (25, 0.25, 10), (60, 0.5, 30), (8, 0.25, 8), (40, 2.0, 40)],
)
def test_a_share_of_the_examples_never_below_the_minimum(
    full: int, scale: float, want: int
) -> None:
    assert scaled(full, scale) == want
