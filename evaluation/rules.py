"""mlxtend association rules as an eval-only baseline (the ``eval`` extra).

mlxtend is imported lazily: without it the baseline is skipped and the report says so, instead
of the whole evaluation failing.
"""

from __future__ import annotations

import itertools
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from bundling.mining import BasketMatrix

from .split import Basket

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_MIN_SUPPORT = 0.005
MIN_SUPPORT_COUNT = 5  # never mine itemsets seen in fewer baskets than this


class MissingDependency(RuntimeError):
    """An optional package needed by a baseline is not installed."""


def sparse_onehot(baskets: Sequence[Sequence[str]], min_count: int = 1) -> pd.DataFrame:
    """Sparse boolean DataFrame (baskets x items) for mlxtend, keeping items seen min_count+ times.

    A dense frame of Olist (80k baskets x 33k items) would need ~2.6 GB; the sparse one does not,
    and dropping items below the support threshold cannot change any frequent itemset.
    """
    import pandas as pd

    matrix = BasketMatrix.from_baskets(baskets, sorted_items=True)
    baskets_per_item = np.diff(matrix.X.tocsc().indptr)
    keep = np.flatnonzero(baskets_per_item >= min_count)
    onehot = matrix.X[:, keep].astype(bool)
    # pandas-stubs leave the ``.sparse`` accessor untyped (Ellipsis)
    frame = pd.DataFrame.sparse.from_spmatrix(  # type: ignore[attr-defined]
        onehot, columns=list(matrix.items[keep])
    )
    return frame


class AssociationRulesRecommender:
    """Rules X -> y (|X| <= 2) from fpgrowth (max_len 3); score y by max confidence, then lift."""

    def __init__(
        self, min_support: float = DEFAULT_MIN_SUPPORT, min_confidence: float = 0.0
    ) -> None:
        self.name = "mlxtend_rules"
        self.min_support = min_support
        self.min_confidence = min_confidence
        self.rules: dict[frozenset[str], list[tuple[str, float, float]]] = {}
        self.pair_items: set[str] = set()
        self.popular: list[str] = []
        self.fit_seconds = 0.0
        self.n_rules = 0
        self._bundles: list[tuple[float, tuple[str, ...]]] = []

    def fit(self, train: Sequence[Basket]) -> AssociationRulesRecommender:
        try:
            from mlxtend.frequent_patterns import association_rules, fpgrowth
        except ImportError as exc:
            raise MissingDependency(
                "mlxtend is not installed (pip install 'bundlestream[eval]')"
            ) from exc
        started = time.perf_counter()
        baskets = [b.items for b in train]
        n = len(baskets)
        support = max(self.min_support, MIN_SUPPORT_COUNT / max(n, 1))
        df = sparse_onehot(baskets, min_count=int(np.ceil(support * n - 1e-9)))
        # pandas-stubs leave the ``.sparse`` accessor untyped (Ellipsis)
        counts = np.asarray(df.sparse.to_coo().sum(axis=0)).ravel()  # type: ignore[attr-defined]
        self.popular = [df.columns[i] for i in np.argsort(-counts, kind="stable")]
        # popularity of items below the threshold still matters for the fallback order
        seen = set(self.popular)
        tail: dict[str, int] = defaultdict(int)
        for b in baskets:
            for item in b:
                if item not in seen:
                    tail[item] += 1
        self.popular += sorted(tail, key=lambda i: (-tail[i], i))
        self.rules = {}
        self.pair_items = set()
        self._bundles = []
        if df.shape[1] >= 2:
            itemsets = fpgrowth(df, min_support=support, max_len=3, use_colnames=True)
            multi = itemsets[itemsets["itemsets"].map(len) >= 2]
            if len(multi):
                rules = association_rules(
                    itemsets, metric="confidence", min_threshold=self.min_confidence
                )
                rules = rules[rules["consequents"].map(len) == 1]
                self.n_rules = len(rules)
                table: dict[frozenset[str], list[tuple[str, float, float]]] = defaultdict(list)
                for ante, cons, conf, lift in zip(
                    rules["antecedents"], rules["consequents"], rules["confidence"], rules["lift"]
                ):
                    table[frozenset(ante)].append((next(iter(cons)), float(conf), float(lift)))
                    if len(ante) == 2:
                        self.pair_items.update(ante)
                self.rules = dict(table)
                best: dict[frozenset[str], float] = {}
                for ante, cons, lift in zip(
                    rules["antecedents"], rules["consequents"], rules["lift"]
                ):
                    key = frozenset(ante) | frozenset(cons)
                    best[key] = max(best.get(key, 0.0), float(lift))
                self._bundles = sorted(
                    ((v, tuple(sorted(k))) for k, v in best.items()), key=lambda t: (-t[0], t[1])
                )
        self.fit_seconds = time.perf_counter() - started
        return self

    def recommend(self, basket: Sequence[str], k: int) -> list[str]:
        have = set(basket)
        best: dict[str, tuple[float, float]] = {}
        antecedents: list[frozenset[str]] = [frozenset([i]) for i in have]
        paired = sorted(have & self.pair_items)
        antecedents += [frozenset(p) for p in itertools.combinations(paired, 2)]
        for ante in antecedents:
            for item, conf, lift in self.rules.get(ante, ()):
                if item in have:
                    continue
                if (conf, lift) > best.get(item, (-1.0, -1.0)):
                    best[item] = (conf, lift)
        ranked = sorted(best, key=lambda i: (-best[i][0], -best[i][1], i))[:k]
        if len(ranked) < k:
            chosen = set(ranked)
            for item in self.popular:
                if item not in have and item not in chosen:
                    ranked.append(item)
                    if len(ranked) == k:
                        break
        return ranked

    def recommend_batch(self, baskets: Sequence[Sequence[str]], k: int) -> list[list[str]]:
        return [self.recommend(b, k) for b in baskets]

    def bundles(self, n: int = 10) -> list[tuple[str, ...]]:
        """The n itemsets (pairs and triples) with the highest rule lift."""
        return [items for _, items in self._bundles[:n]]
