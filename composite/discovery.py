"""Per-category discovery (seed 004 part 2b/2c): search, ranking policy, sponsorship, product mix.

Pure: takes the store's catalog (or a prebuilt ``CatalogIndex``) and the live sold counts,
returns ``CategoryListing``s. The same ``apply_product_mix`` serves composite and single-category
discovery; with no mix configured the plain ranking is returned.

Ranking policy (``rank_candidates``), every component in [0, 1]:

    score = 0.30 * price_value       # 1 - (price - min) / (max - min) over the candidates (cheaper = better)
          + 0.30 * rating            # product rating / 5; missing -> 0.5 (neutral)
          + 0.15 * commission        # partner commission_rate / max commission among candidates
          + 0.25 * trust             # partner trust_score; no partner -> 0.5
          + 0.20 * relevance         # text match of the query (1.0 when the catalog category matches)
          + boost                    # +sponsorship.boost (seed: 0.5) when sponsorship_enabled, active,
                                     # and among the max_sponsored_per_query best sponsored candidates
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

from models.catalog import Product
from models.chat import Budget, CategoryListing, DiscoveredProduct
from models.config import CompositeDiscoveryConfig, PlatformConfig, ProductMixSlice

from .defaults import CATEGORY_KEYWORDS, DEFAULT_CATEGORY_ALIASES

W_PRICE, W_RATING, W_COMMISSION, W_TRUST, W_RELEVANCE = 0.30, 0.30, 0.15, 0.25, 0.20
NEUTRAL = 0.5
CANDIDATE_POOL = 50  # seed: "fetch more products (e.g. 50), apply each sort"

_TOKEN = re.compile(r"[a-z0-9]+")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def tokenize(text: str) -> list[str]:
    """Lowercase word tokens with a crude plural strip (roses -> rose) so queries meet titles."""
    out = []
    for t in _TOKEN.findall(text.lower().replace("_", " ")):
        if len(t) > 3 and t.endswith("s") and not t.endswith("ss"):
            t = t[:-1]
        out.append(t)
    return out


def norm_category(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


@dataclass
class Candidate:
    """A product under consideration plus the numbers every slice sorts by."""

    product: Product
    sold: int = 0
    relevance: float = 0.0
    score: float = 0.0
    sponsored: bool = False  # received the sponsorship boost in this query
    slice: str | None = None

    @property
    def rating_value(self) -> float:
        """Seed's rating slice: product rating if present, else the partner's trust score."""
        p = self.product
        if p.rating is not None:
            return p.rating / 5.0
        if p.partner is not None:
            return p.partner.trust_score
        return NEUTRAL


@dataclass
class CatalogIndex:
    """Catalog prepared once per catalog version (tokenising 30k products per turn is too slow)."""

    products: dict[str, Product]
    by_category: dict[str, list[str]]
    postings: dict[str, set[str]]
    idf: dict[str, float]
    currency: str = "USD"
    categories: frozenset[str] = field(default_factory=frozenset)


def build_index(catalog: Iterable[Product]) -> CatalogIndex:
    """Inverted index over title, category, tags and description (in-stock products only)."""
    products: dict[str, Product] = {}
    by_cat: dict[str, list[str]] = defaultdict(list)
    postings: dict[str, set[str]] = defaultdict(set)
    currencies: dict[str, int] = defaultdict(int)
    for p in catalog:
        if not p.in_stock:
            continue
        products[p.product_id] = p
        by_cat[norm_category(p.category)].append(p.product_id)
        currencies[p.currency] += 1
        text = " ".join([p.title, p.category, " ".join(p.tags), p.description[:500]])
        for tok in set(tokenize(text)):
            postings[tok].add(p.product_id)
    n = max(len(products), 1)
    idf = {t: math.log(1 + n / len(ids)) for t, ids in postings.items()}
    cur = max(currencies, key=currencies.get) if currencies else "USD"
    return CatalogIndex(products, dict(by_cat), dict(postings), idf, cur, frozenset(by_cat))


def as_index(catalog: Sequence[Product] | CatalogIndex) -> CatalogIndex:
    return catalog if isinstance(catalog, CatalogIndex) else build_index(catalog)


def aliases_for(category: str, config: PlatformConfig) -> list[str]:
    """Catalog categories serving an experience category: config first, then the Olist default."""
    key = norm_category(category)
    configured = {norm_category(k): v for k, v in config.category_aliases.items()}
    names = configured.get(key, DEFAULT_CATEGORY_ALIASES.get(key, []))
    return [key] + [norm_category(n) for n in names if norm_category(n) != key]


def search(
    index: CatalogIndex, category: str, config: PlatformConfig, extra_terms: Sequence[str] = ()
) -> list[Candidate]:
    """Candidates for one experience category.

    Catalog-category membership (the category itself or an alias) gives relevance 1.0; otherwise
    a product qualifies by TF-IDF token match of the category's keywords. ``extra_terms``
    (dietary words, occasion) only add relevance, they never exclude.
    """
    rel: dict[str, float] = {}
    for cat in aliases_for(category, config):
        for pid in index.by_category.get(cat, ()):
            rel[pid] = 1.0
    key = norm_category(category)
    query = set(tokenize(category)) | {t for w in CATEGORY_KEYWORDS.get(key, []) for t in tokenize(w)}
    total = sum(index.idf.get(t, 0.0) for t in query) or 1.0
    hits: dict[str, float] = defaultdict(float)
    for t in query:
        for pid in index.postings.get(t, ()):
            hits[pid] += index.idf[t]
    for pid, w in hits.items():
        if pid not in rel:
            rel[pid] = min(0.9, w / total + 0.3)  # any keyword hit is a real candidate, below a category match
    extra = {t for term in extra_terms for t in tokenize(term)}
    if extra:
        etotal = sum(index.idf.get(t, 0.0) for t in extra) or 1.0
        for t in extra:
            for pid in index.postings.get(t, ()):
                if pid in rel:
                    rel[pid] = rel[pid] + 0.5 * index.idf[t] / etotal
    return [Candidate(product=index.products[pid], relevance=min(r, 1.5) / 1.5) for pid, r in rel.items()]


def rank_candidates(
    candidates: list[Candidate],
    sold_counts: Mapping[str, int],
    cfg: CompositeDiscoveryConfig,
) -> list[Candidate]:
    """Score by the documented policy, boost at most ``max_sponsored_per_query`` sponsored ones."""
    if not candidates:
        return []
    prices = [c.product.price for c in candidates]
    lo, hi = min(prices), max(prices)
    max_comm = max((c.product.partner.commission_rate for c in candidates if c.product.partner), default=0.0)
    for c in candidates:
        p = c.product
        c.sold = int(sold_counts.get(p.product_id, 0))
        price_value = 1.0 - (p.price - lo) / (hi - lo) if hi > lo else NEUTRAL
        rating = p.rating / 5.0 if p.rating is not None else NEUTRAL
        commission = (p.partner.commission_rate / max_comm) if (p.partner and max_comm > 0) else 0.0
        trust = p.partner.trust_score if p.partner else NEUTRAL
        c.score = (
            W_PRICE * price_value + W_RATING * rating + W_COMMISSION * commission
            + W_TRUST * trust + W_RELEVANCE * c.relevance
        )
        c.sponsored = False
    if cfg.sponsorship_enabled and cfg.max_sponsored_per_query > 0:
        eligible = [c for c in candidates if c.product.sponsorship is not None and c.product.sponsorship.active]
        eligible.sort(key=lambda c: (-c.score, c.product.product_id))
        for c in eligible[: cfg.max_sponsored_per_query]:
            c.score += c.product.sponsorship.boost  # type: ignore[union-attr]
            c.sponsored = True
    return sorted(candidates, key=lambda c: (-c.score, c.product.price, c.product.product_id))


def slot_counts(mix: Sequence[ProductMixSlice], n: int) -> list[int]:
    """Slots per slice: pct normalised to 100, then largest-remainder (Hamilton) rounding.

    Quotas ``n * pct / sum(pct)`` are floored; the leftover slots go to the largest fractional
    parts, ties to the earlier slice. 5 slots at 50/20/10/10/10 -> quotas 2.5/1/.5/.5/.5 ->
    3, 1, 1, 0, 0 (the seed's '2-3, 1, 0-1, 0-1, 0-1'). All-zero pct -> equal shares.
    """
    if not mix or n <= 0:
        return [0] * len(mix)
    pcts = [max(s.pct, 0.0) for s in mix]
    total = sum(pcts)
    if total <= 0:
        pcts, total = [1.0] * len(mix), float(len(mix))
    quotas = [n * p / total for p in pcts]
    counts = [math.floor(q + 1e-9) for q in quotas]
    left = n - sum(counts)
    order = sorted(range(len(mix)), key=lambda i: (-(quotas[i] - counts[i]), i))
    for i in order[:left]:
        counts[i] += 1
    return counts


def _slice_order(sort: str, ranked: list[Candidate]) -> list[Candidate]:
    """Each slice re-sorts the ranked list; Python's stable sort keeps the ranking as tiebreak."""
    if sort == "price_desc":
        return sorted(ranked, key=lambda c: -c.product.price)
    if sort == "price_asc":
        return sorted(ranked, key=lambda c: c.product.price)
    if sort == "rating":
        return sorted(ranked, key=lambda c: -c.rating_value)
    if sort == "popularity":
        return sorted(ranked, key=lambda c: -c.sold)
    if sort == "sponsored":
        return [c for c in ranked if c.sponsored]  # only what the sponsorship policy boosted
    if sort == "recent":
        return sorted(ranked, key=lambda c: -(c.product.created_at or _EPOCH).timestamp())
    raise ValueError(f"unknown product_mix sort {sort!r}")


def apply_product_mix(
    candidates: Sequence[Candidate], mix: Sequence[ProductMixSlice], n: int
) -> list[Candidate]:
    """Compose n products from the slices (seed part 2c).

    Slices are visited in config order; each takes its slot count from its top ``limit``
    products, skipping ones an earlier slice took (first occurrence wins). A slice that runs out
    passes its unfilled slots on to the next slice; slots still open after the last slice are
    offered to every slice again (within limits), then to the plain ranking, so the list is
    only shorter than n when the candidates are. ``candidates`` must be ranked; no mix -> top n.
    """
    ranked = list(candidates)
    if not mix:
        return [replace(c, slice="ranking") for c in ranked[:n]]
    counts = slot_counts(mix, n)
    views = [_slice_order(s.sort, ranked)[: s.limit] for s in mix]
    taken: dict[str, Candidate] = {}
    carry = 0
    for s, view, count in zip(mix, views, counts):
        want = count + carry
        for c in view:
            if want <= 0:
                break
            if c.product.product_id not in taken:
                taken[c.product.product_id] = replace(c, slice=s.sort)
                want -= 1
        carry = want
    for s, view in zip(mix, views):  # second pass: leftovers from any slice
        for c in view:
            if len(taken) >= n:
                break
            if c.product.product_id not in taken:
                taken[c.product.product_id] = replace(c, slice=s.sort)
    for c in ranked:
        if len(taken) >= n:
            break
        if c.product.product_id not in taken:
            taken[c.product.product_id] = replace(c, slice="ranking")
    return list(taken.values())[:n]


def to_discovered(c: Candidate) -> DiscoveredProduct:
    p = c.product
    return DiscoveredProduct(
        product_id=p.product_id,
        name=p.title or f"{p.category.replace('_', ' ')} {p.product_id[:8]}",
        category=p.category,
        price=round(p.price, 2),
        currency=p.currency,
        rating=p.rating,
        sold_count=c.sold,
        sponsored=c.sponsored,
        partner_name=(p.partner.name or p.partner.partner_id) if p.partner else None,
        score=round(c.score, 4),
        slice=c.slice,
    )


def discover_category(
    catalog: Sequence[Product] | CatalogIndex,
    category: str,
    sold_counts: Mapping[str, int],
    config: PlatformConfig,
    *,
    extra_terms: Sequence[str] = (),
    budget: Budget | None = None,
    exclude: Iterable[str] = (),
    n: int | None = None,
) -> CategoryListing:
    """One category: search -> rank -> product mix -> ``products_per_category`` products.

    Products priced above the whole budget can never be in a within-budget option, so they are
    dropped before the mix spends slots on them.
    """
    index = as_index(catalog)
    cfg = config.composite_discovery_config
    size = n if n is not None else cfg.products_per_category
    skip = set(exclude)
    cands = [c for c in search(index, category, config, extra_terms) if c.product.product_id not in skip]
    if budget is not None:
        cands = [c for c in cands if c.product.price <= budget.amount]
    ranked = rank_candidates(cands, sold_counts, cfg)[: max(CANDIDATE_POOL, size)]
    picked = apply_product_mix(ranked, cfg.product_mix, size)
    return CategoryListing(category=category, query=" ".join([category, *extra_terms]).strip(),
                           products=[to_discovered(c) for c in picked])


def discover_composite(
    catalog: Sequence[Product] | CatalogIndex,
    categories: Sequence[str],
    sold_counts: Mapping[str, int],
    config: PlatformConfig,
    *,
    extra_terms: Sequence[str] = (),
    budget: Budget | None = None,
) -> list[CategoryListing]:
    """One listing per experience category; a product lands in at most one listing (the first),
    so an option's 'one product per category' can never use the same product twice."""
    index = as_index(catalog)
    seen: set[str] = set()
    out = []
    for cat in categories:
        listing = discover_category(index, cat, sold_counts, config, extra_terms=extra_terms,
                                    budget=budget, exclude=seen)
        seen.update(p.product_id for p in listing.products)
        out.append(listing)
    return out
