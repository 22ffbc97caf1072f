"""MMR diversity selection (docs/design.md, Diversity): k = 10, lambda = 0.7, Jaccard similarity.

Start with the highest-scored bundle; then repeatedly take the candidate maximising
``lambda * score - (1 - lambda) * max_jaccard(candidate, selected)``. Ties keep input order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

T = TypeVar("T")
K = 10
LAMBDA = 0.7


def jaccard(a: Iterable[str], b: Iterable[str]) -> float:
    sa, sb = set(a), set(b)
    u = sa | sb
    return len(sa & sb) / len(u) if u else 0.0


def select_diverse(
    candidates: Sequence[T],
    score: Callable[[T], float],
    products: Callable[[T], Iterable[str]],
    k: int = K,
    lambda_param: float = LAMBDA,
) -> list[T]:
    remaining = list(range(len(candidates)))
    if not remaining or k <= 0:
        return []
    sets = [frozenset(products(c)) for c in candidates]
    scores = [float(score(c)) for c in candidates]
    first = max(remaining, key=lambda i: (scores[i], -i))
    selected = [first]
    remaining.remove(first)
    max_sim = {i: jaccard(sets[i], sets[first]) for i in remaining}
    while len(selected) < k and remaining:
        best = max(
            remaining,
            key=lambda i: (lambda_param * scores[i] - (1 - lambda_param) * max_sim[i], -i),
        )
        selected.append(best)
        remaining.remove(best)
        for i in remaining:
            max_sim[i] = max(max_sim[i], jaccard(sets[i], sets[best]))
    return [candidates[i] for i in selected]
