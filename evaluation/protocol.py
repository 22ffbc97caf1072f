"""The one small interface every recommender in the comparison implements (engine included)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from .split import Basket


@runtime_checkable
class Recommender(Protocol):
    """fit on training baskets, then complete a basket with k items not already in it."""

    name: str

    def fit(self, train: Sequence[Basket]) -> Recommender: ...

    def recommend(self, basket: Sequence[str], k: int) -> list[str]: ...

    def recommend_batch(self, baskets: Sequence[Sequence[str]], k: int) -> list[list[str]]: ...


@runtime_checkable
class BundleSource(Protocol):
    """A recommender that can also propose bundles (product sets) for the bundle hit rate."""

    def bundles(self, n: int = 10) -> list[tuple[str, ...]]: ...
