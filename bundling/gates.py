"""The five policy gates (docs/design.md, Gates) with rejection counts by reason.

1. in stock: every product in the catalog and ``Product.in_stock`` (active, inventory None or > 0,
   and enough units for the line's quantity when inventory is tracked).
2. margin: bundle margin (bundle_price - cost) / bundle_price >= 15%. Unknown unit costs are
   estimated at ``price * (1 - assumed_margin)`` (default 35%), see ``pricing``.
3. support: ``generation_method == 'association_rules'`` needs support >= 1%.
4. price ladder: ``pricing.validate_price_ladder``.
5. category compatibility (FBT and FIXED only): every pair of categories in the bundle must be
   the same category, or a pair co-purchased in >= 2 baskets of this store (learned), or not on
   the incompatible list below. Learned pairs win over the list: if this store's customers buy
   them together, they are compatible here.

Incompatible families (keyword match on the lower-cased category): apparel/footwear vs
electronics, food/grocery vs automotive/chemicals, pets vs baby.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Sequence
from itertools import combinations

import numpy as np
import scipy.sparse as sp

from models.bundles import BundleType, PolicyGateCounts

from .candidates import Draft
from .context import StoreContext
from .pricing import bundle_margin, validate_price_ladder

MIN_MARGIN = 0.15
MIN_SUPPORT = 0.01
LEARNED_MIN_BASKETS = 2

FAMILIES: dict[str, tuple[str, ...]] = {
    "apparel": (
        "apparel",
        "clothing",
        "shirt",
        "dress",
        "fashion",
        "shoe",
        "footwear",
        "jacket",
        "pants",
        "men",
        "women",
        "moda",
        "roupa",
        "calcados",
    ),
    "electronics": (
        "electronic",
        "computer",
        "phone",
        "telefonia",
        "informatica",
        "eletron",
        "audio",
        "tv",
        "camera",
        "console",
    ),
    "food": ("food", "grocery", "alimento", "bebida", "drink", "snack", "beverage"),
    "automotive": ("auto", "car ", "automotivo", "motor"),
    "chemicals": ("chemical", "cleaning", "limpeza", "pesticide"),
    "pets": ("pet",),
    "baby": ("baby", "bebe", "infant"),
}
INCOMPATIBLE: frozenset[frozenset[str]] = frozenset(
    frozenset(p)
    for p in [
        ("apparel", "electronics"),
        ("food", "automotive"),
        ("food", "chemicals"),
        ("pets", "baby"),
    ]
)


def family(category: str) -> str | None:
    c = category.lower()
    for fam, kws in FAMILIES.items():
        if any(k in c for k in kws):
            return fam
    return None


def learned_category_pairs(ctx: StoreContext) -> set[frozenset[str]]:
    """Category pairs of catalog products co-bought in >= 2 orders (orders with 2-20 categories),
    from the orders x categories matrix B: the off-diagonal of B.T @ B."""
    arrays = ctx.arrays
    if arrays is None or not arrays.n_orders:
        return set()
    pc = [
        (p.category if (p := ctx.products.get(pid)) is not None else None)
        for pid in arrays.product_ids.tolist()
    ]
    B, names = arrays.category_matrix(pc)
    k = np.diff(B.indptr)
    B = B[np.flatnonzero((k >= 2) & (k <= 20))]
    G = sp.triu(B.T.tocsr() @ B, k=1).tocoo()
    m = G.data >= LEARNED_MIN_BASKETS
    return {frozenset((names[a], names[b])) for a, b in zip(G.row[m].tolist(), G.col[m].tolist())}


def categories_compatible(
    categories: Iterable[str], learned: Container[frozenset[str]] | None = None
) -> bool:
    cats = sorted(set(categories))
    for a, b in combinations(cats, 2):
        fa, fb = family(a), family(b)
        if fa and fb and fa != fb and frozenset((fa, fb)) in INCOMPATIBLE:
            # consulted only for an incompatible pair, so a lazy ``learned`` is built only then
            if learned and frozenset((a, b)) in learned:
                continue
            return False
    return True


class _LazyLearned:
    """``learned_category_pairs(ctx)``, computed on the first membership/truth test: most
    uploads' FBT/FIXED drafts never pair two incompatible families, so never need it."""

    __slots__ = ("_pairs", "ctx")
    ctx: StoreContext
    _pairs: set[frozenset[str]] | None

    def __init__(self, ctx: StoreContext) -> None:
        self.ctx, self._pairs = ctx, None

    def _get(self) -> set[frozenset[str]]:
        if self._pairs is None:
            self._pairs = learned_category_pairs(self.ctx)
        return self._pairs

    def __bool__(self) -> bool:
        return bool(self._get())

    def __contains__(self, pair: object) -> bool:
        return pair in self._get()


def check(
    ctx: StoreContext, d: Draft, learned: Container[frozenset[str]] | None = None
) -> str | None:
    """Reason the draft is rejected (a PolicyGateCounts field suffix), or None when it passes."""
    prods = [ctx.products.get(pid) for pid in d.product_ids]
    if any(
        p is None or not p.in_stock or (p.inventory is not None and p.inventory < q)
        for p, (_, q, _) in zip(prods, d.lines)
    ):
        return "out_of_stock"
    if (
        d.pricing is None
        or bundle_margin(d.pricing, d.lines, ctx.products, ctx.assumed_margin).margin < MIN_MARGIN
    ):
        return "low_margin"
    if d.generation_method == "association_rules" and (d.support or 0.0) < MIN_SUPPORT:
        return "low_support"
    if not validate_price_ladder(
        d.pricing, d.lines, ctx.products, assumed_margin=ctx.assumed_margin
    )[0]:
        return "price_invalid"
    if d.bundle_type in (BundleType.FBT, BundleType.FIXED):
        # no product is None here (a missing one is "out_of_stock" above); the filter says so
        if not categories_compatible([p.category for p in prods if p is not None], learned):
            return "incompatible_categories"
    return None


def apply_policy_gates(
    ctx: StoreContext, drafts: Sequence[Draft]
) -> tuple[list[Draft], PolicyGateCounts]:
    learned: Container[frozenset[str]] = (
        _LazyLearned(ctx)
        if any(d.bundle_type in (BundleType.FBT, BundleType.FIXED) for d in drafts)
        else set()
    )
    counts = {
        "out_of_stock": 0,
        "low_margin": 0,
        "low_support": 0,
        "price_invalid": 0,
        "incompatible_categories": 0,
    }
    ok: list[Draft] = []
    for d in drafts:
        r = check(ctx, d, learned)
        if r is None:
            ok.append(d)
        else:
            counts[r] += 1
    return ok, PolicyGateCounts(
        total_candidates=len(drafts),
        rejected_out_of_stock=counts["out_of_stock"],
        rejected_low_margin=counts["low_margin"],
        rejected_low_support=counts["low_support"],
        rejected_price_invalid=counts["price_invalid"],
        rejected_incompatible_categories=counts["incompatible_categories"],
        passed=len(ok),
    )
