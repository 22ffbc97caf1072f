"""Small closed-form statistics shared by the objective scorer and the budget (no scipy needed)."""

from __future__ import annotations

import math

Z_95 = 1.96  # two-sided 95% normal quantile used for every Wilson interval in this package


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion; (0, 1) when n == 0 (no information).

    centre = (p + z^2/2n) / (1 + z^2/n); half = z sqrt(p(1-p)/n + z^2/4n^2) / (1 + z^2/n).
    """
    if n <= 0:
        return 0.0, 1.0
    k = min(max(successes, 0), n)
    p = k / n
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def wilson_ci_width(successes: int, n: int, z: float = Z_95) -> float:
    """Width (upper - lower) of the Wilson interval; 1.0 when n == 0 so confidence = 1 - width = 0."""
    lo, hi = wilson_interval(successes, n, z)
    return hi - lo


def clamp(x: float, lo: float, hi: float) -> float:
    return lo if x < lo else hi if x > hi else x
