"""Per-category discovery: search, ranking policy, sponsorship, product mix.

Weights, defaults and the mix are tabulated in docs/design.md, Composite flow.

Pure: takes the store's catalog (or a prebuilt ``CatalogIndex``) and the live sold counts,
returns ``CategoryListing``s. The same ``apply_product_mix`` serves composite and single-category
discovery; with no mix configured the plain ranking is returned.

Hot path: ``discover_category`` -> ``rank_pool`` scores every candidate of the category with
numpy over the index's row arrays (exactly ``rank_candidates``' arithmetic), keeps the top
``CANDIDATE_POOL`` and only those become ``Candidate``s for the product mix. ``search`` and
``rank_candidates`` are the list-based statement of the same policy (and the tests' reference).
Build the ``CatalogIndex`` once per catalog version (see ``build_index``).

Ranking policy (``rank_candidates``), every component in [0, 1]:

    score = 0.30 * price_value       # 1 - (price - min) / (max - min) over the candidates (cheaper = better)
          + 0.30 * rating            # product rating / 5; missing -> 0.5 (neutral)
          + 0.15 * commission        # partner commission_rate / max commission among candidates
          + 0.25 * trust             # partner trust_score; no partner -> 0.5
          + 0.20 * relevance         # text match of the query (1.0 when the catalog category matches)
          + boost                    # +sponsorship.boost (default 0.5) when sponsorship_enabled, active,
                                     # and among the max_sponsored_per_query best sponsored candidates
"""

from __future__ import annotations

import math
import operator
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import lru_cache
from itertools import chain, repeat
from operator import attrgetter
from typing import TYPE_CHECKING

import numpy as np

from models.catalog import Product
from models.chat import Budget, CategoryListing, DiscoveredProduct
from models.config import CompositeDiscoveryConfig, PlatformConfig, ProductMixSlice

from .defaults import CATEGORY_KEYWORDS, DEFAULT_CATEGORY_ALIASES

if TYPE_CHECKING:
    from .learned import CategorySpace

W_PRICE, W_RATING, W_COMMISSION, W_TRUST, W_RELEVANCE = 0.30, 0.30, 0.15, 0.25, 0.20
NEUTRAL = 0.5
CANDIDATE_POOL = 50  # ranked products the mix's slices re-sort and pick from

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# Bytes outside [a-z0-9] -> space: ``text.lower()`` encoded as UTF-8 and translated with this table
# splits into exactly ``re.findall(r"[a-z0-9]+", text.lower())`` (multi-byte UTF-8 sequences
# contain no ASCII bytes), several times faster than the regex on a whole catalog.
_NON_TOKEN = bytes(b if (0x61 <= b <= 0x7A or 0x30 <= b <= 0x39) else 0x20 for b in range(256))


def _raw_tokens(text: str) -> list[str]:
    return (
        text.lower().encode("utf-8", "surrogatepass").translate(_NON_TOKEN).decode("ascii").split()
    )


def _strip_plural(t: str) -> str:
    return t[:-1] if len(t) > 3 and t.endswith("s") and not t.endswith("ss") else t


@lru_cache(maxsize=4096)
def _tokens(text: str) -> tuple[str, ...]:
    return tuple(_strip_plural(t) for t in _raw_tokens(text))


def tokenize(text: str) -> list[str]:
    """Lowercase word tokens with a crude plural strip (roses -> rose) so queries meet titles."""
    return list(_tokens(text))


@lru_cache(maxsize=4096)
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
        """What the rating slice sorts by: product rating if present, else the partner's trust."""
        p = self.product
        if p.rating is not None:
            return p.rating / 5.0
        if p.partner is not None:
            return p.partner.trust_score
        return NEUTRAL


@dataclass(eq=False)
class CatalogIndex:
    """A catalog prepared for discovery: row arrays, category rows and a token -> rows index.

    Build it with ``build_index`` **once per catalog version** and share it across turns: the
    caller caches it by the catalog's identity (``agents.chat`` keys an LRU by the catalog
    view's sha256 / upload id) and builds a new one when the catalog changes; it is never
    patched in place. Everything is read-only after the build except ``_queries``, a bounded
    memo of per-category candidate rows and text relevance (pure functions of the index and the
    query, so a race between two turns only computes the same value twice).

    Row ``i`` is ``rows[i]`` (in-stock products, one per product id, the last one wins); the
    numpy arrays hold each row's ranking inputs so a turn scores a whole category vectorised.
    """

    products: dict[str, Product]  # product_id -> product (in stock)
    rows: list[Product]  # row -> product
    row_of: dict[str, int]  # product_id -> row
    by_category: dict[str, np.ndarray]  # normalised catalog category -> rows (ascending)
    vocab: dict[str, int]  # token -> token number
    posting_rows: np.ndarray  # rows of token t: posting_rows[posting_start[t]:posting_start[t+1]]
    posting_start: np.ndarray  # (ascending rows, each row once per token)
    price: np.ndarray  # float64
    rating: np.ndarray  # rating / 5, missing -> NEUTRAL
    has_partner: np.ndarray  # bool
    commission: np.ndarray  # partner commission_rate, 0 without partner
    trust: np.ndarray  # partner trust_score, missing -> NEUTRAL
    sponsored: np.ndarray  # bool: sponsorship present and active
    boost: np.ndarray  # sponsorship boost (0 when none)
    id_rank: np.ndarray  # rank of product_id in sorted order (tiebreak)
    currency: str = "USD"
    categories: frozenset[str] = field(default_factory=frozenset)
    # the store's categories in the cold-start embedder's space (composite.learned), set by
    # whoever builds the index with an embedder at hand; None: configured experiences only
    learned: CategorySpace | None = field(default=None, repr=False)
    _queries: dict = field(default_factory=dict, repr=False)

    def posting(self, token: str) -> np.ndarray | None:
        """Rows (ascending) whose title, category, tags or description has ``token``."""
        t = self.vocab.get(token)
        return (
            None
            if t is None
            else self.posting_rows[self.posting_start[t] : self.posting_start[t + 1]]
        )

    def idf(self, token: str) -> float:
        """log(1 + N / df); 0 for a token no product has."""
        t = self.vocab.get(token)
        if t is None:
            return 0.0
        return math.log(
            1 + max(len(self.rows), 1) / int(self.posting_start[t + 1] - self.posting_start[t])
        )


_QUERY_CACHE_SIZE = 256
# _NON_TOKEN keeping NUL: documents joined by NUL are tokenised in one pass and split apart again.
_NON_TOKEN_NUL = b"\x00" + _NON_TOKEN[1:]


def _doc_tokens(texts: list[str]) -> list[list[str]]:
    """``_raw_tokens`` of every text, in one lower/encode/translate over the joined texts."""
    if not texts:
        return []
    corpus = "\x00".join(texts)
    if corpus.count("\x00") != len(texts) - 1:  # a text carries NUL itself: one at a time
        return list(map(_raw_tokens, texts))
    low = corpus.lower().encode("utf-8", "surrogatepass").translate(_NON_TOKEN_NUL).decode("ascii")
    return list(map(str.split, low.split("\x00")))


def _build_postings(texts: list[str]) -> tuple[dict[str, int], np.ndarray, np.ndarray]:
    """Token -> rows as one CSR structure: (vocab, rows, start), grouped with a numpy sort.

    The set of (stripped token, row) pairs equals ``{(t, row) for t in tokenize(texts[row])}``.
    """
    n = len(texts)
    docs = _doc_tokens(texts)
    flat = list(chain.from_iterable(docs))
    vocab: dict[str, int] = {}
    raw_id = {
        t: vocab.setdefault(
            t[:-1] if len(t) > 3 and t[-1] == "s" and t[-2] != "s" else t, len(vocab)
        )
        for t in dict.fromkeys(flat)
    }  # _strip_plural inlined (one call per distinct token adds up)
    tok = np.fromiter(map(raw_id.__getitem__, flat), np.int64, len(flat))
    row = np.repeat(np.arange(n, dtype=np.int64), np.fromiter(map(len, docs), np.int64, n))
    pairs = np.sort(tok * max(n, 1) + row)  # by token, then row
    if len(pairs):
        pairs = pairs[
            np.concatenate(([True], pairs[1:] != pairs[:-1]))
        ]  # a token twice in a text: once
    tok_of = pairs // max(n, 1)
    rows = pairs - tok_of * max(n, 1)
    start = np.searchsorted(tok_of, np.arange(len(vocab) + 1, dtype=np.int64))
    return vocab, _frozen(rows), _frozen(start)


def build_index(catalog: Iterable[Product]) -> CatalogIndex:
    """Index the in-stock products: title, category, tags and description (first 500 chars).

    Costly on a large catalog (tens of thousands of products), so it is built **once per
    catalog version** and reused by every turn: the caller caches the index by the catalog's
    sha256 (see ``CatalogIndex``). A turn given a plain product list indexes it on every call.
    """
    latest = {p.product_id: p for p in catalog if p.in_stock}
    rows = list(latest.values())
    ids = list(latest)
    n = len(rows)
    cats = list(map(attrgetter("category"), rows))
    key_no: dict[str, int] = {}
    code_of = {c: key_no.setdefault(norm_category(c), len(key_no)) for c in dict.fromkeys(cats)}
    codes = np.fromiter(map(code_of.__getitem__, cats), np.int64, n)
    by_code = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[by_code], np.arange(len(key_no) + 1))
    by_cat = {k: _frozen(by_code[bounds[i] : bounds[i + 1]]) for k, i in key_no.items()}
    currencies = Counter(map(attrgetter("currency"), rows))
    texts = [f"{p.title} {p.category} {' '.join(p.tags)} {p.description[:500]}" for p in rows]
    vocab, posting_rows, posting_start = _build_postings(texts)
    id_rank = np.empty(n, dtype=np.int64)
    id_rank[sorted(range(n), key=ids.__getitem__)] = np.arange(n, dtype=np.int64)
    rating = np.array(list(map(attrgetter("rating"), rows)), dtype=np.float64).reshape(
        n
    )  # None -> nan
    partners = list(map(attrgetter("partner"), rows))
    has_partner = np.fromiter(map(operator.is_not, partners, repeat(None)), bool, n)
    commission, trust = np.zeros(n), np.full(n, NEUTRAL)
    if has_partner.any():
        got = [q for q in partners if q is not None]
        commission[has_partner] = list(map(attrgetter("commission_rate"), got))
        trust[has_partner] = list(map(attrgetter("trust_score"), got))
    spons = list(map(attrgetter("sponsorship"), rows))
    sponsored, boost = np.zeros(n, dtype=bool), np.zeros(n)
    for i, s in enumerate(spons):
        if s is not None:
            sponsored[i], boost[i] = s.active, s.boost
    cur = max(currencies, key=currencies.__getitem__) if currencies else "USD"
    return CatalogIndex(
        products=latest,
        rows=rows,
        row_of={pid: i for i, pid in enumerate(ids)},
        by_category=by_cat,
        vocab=vocab,
        posting_rows=posting_rows,
        posting_start=posting_start,
        currency=cur,
        categories=frozenset(by_cat),
        # the per-row ranking arrays, read-only like the rest of the index
        price=_frozen(np.fromiter(map(attrgetter("price"), rows), np.float64, n)),
        rating=_frozen(np.where(np.isnan(rating), NEUTRAL, rating / 5.0)),
        has_partner=_frozen(has_partner),
        commission=_frozen(commission),
        trust=_frozen(trust),
        sponsored=_frozen(sponsored),
        boost=_frozen(boost),
        id_rank=_frozen(id_rank),
    )


def _frozen(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def as_index(catalog: Sequence[Product] | CatalogIndex) -> CatalogIndex:
    return catalog if isinstance(catalog, CatalogIndex) else build_index(catalog)


def aliases_for(category: str, config: PlatformConfig) -> list[str]:
    """Catalog categories serving an experience category: config first, then the Olist default."""
    key = norm_category(category)
    configured = {norm_category(k): v for k, v in config.category_aliases.items()}
    names = configured.get(key, DEFAULT_CATEGORY_ALIASES.get(key, []))
    return [key] + [norm_category(n) for n in names if norm_category(n) != key]


def query_tokens(category: str) -> set[str]:
    """The category's own words plus its ``CATEGORY_KEYWORDS``."""
    key = norm_category(category)
    return set(tokenize(category)) | {
        t for w in CATEGORY_KEYWORDS.get(key, []) for t in tokenize(w)
    }


def _relevance(
    index: CatalogIndex, category: str, config: PlatformConfig, extra_terms: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """(rows, relevance) of the candidates for one experience category.

    Catalog-category membership (the category itself or an alias) gives raw relevance 1.0;
    otherwise a product qualifies by TF-IDF token match of the category's keywords:
    ``min(0.9, matched idf / query idf + 0.3)``. Each ``extra_terms`` token a candidate has adds
    ``0.5 * idf / extra idf``; relevance is ``min(raw, 1.5) / 1.5``. The candidate rows and raw
    relevance are memoised on the index per alias list (bounded by the configured categories);
    the extra terms, free text on the LLM path, are applied per call and never cached.
    """
    aliases = tuple(aliases_for(category, config))
    got = index._queries.get(aliases)
    if got is None:
        got = _category_rows(index, aliases)
        if len(index._queries) >= _QUERY_CACHE_SIZE:
            index._queries.clear()
        index._queries[aliases] = got
    rows, raw, relevance = got
    extra = sorted({t for term in extra_terms for t in tokenize(term)})
    if not extra:
        return rows, relevance
    etotal = sum(index.idf(t) for t in extra) or 1.0
    raw = raw.copy()
    mark = np.zeros(len(index.rows), dtype=bool)
    for t in extra:
        post = index.posting(t)
        if post is not None:
            mark[:] = False
            mark[post] = True
            m = mark[rows]
            raw[m] = raw[m] + 0.5 * index.idf(t) / etotal
    return rows, np.minimum(raw, 1.5) / 1.5


def _category_rows(
    index: CatalogIndex, aliases: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, raw relevance, relevance) before extra terms; ``aliases[0]`` is the category key."""
    n = len(index.rows)
    member = np.zeros(n, dtype=bool)
    for cat in aliases:
        r = index.by_category.get(cat)
        if r is not None:
            member[r] = True
    query = sorted(query_tokens(aliases[0]))
    total = sum(index.idf(t) for t in query) or 1.0
    weight = np.zeros(n)
    hit = np.zeros(n, dtype=bool)
    for t in query:
        post = index.posting(t)
        if post is not None:
            weight[post] += index.idf(t)  # rows in a posting list are distinct
            hit[post] = True
    rows = np.flatnonzero(member | hit)
    kw = ~member[rows]
    raw = np.ones(len(rows))
    raw[kw] = np.minimum(0.9, weight[rows[kw]] / total + 0.3)  # below any category match
    return _frozen(rows), _frozen(raw), _frozen(np.minimum(raw, 1.5) / 1.5)


def search(
    index: CatalogIndex, category: str, config: PlatformConfig, extra_terms: Sequence[str] = ()
) -> list[Candidate]:
    """Candidates for one experience category (all of them, unranked; see ``_relevance``).

    ``extra_terms`` (dietary words, occasion) only add relevance, they never exclude.
    """
    rows, relevance = _relevance(index, category, config, extra_terms)
    return [
        Candidate(product=index.rows[r], relevance=x)
        for r, x in zip(rows.tolist(), relevance.tolist())
    ]


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
    max_comm = max(
        (c.product.partner.commission_rate for c in candidates if c.product.partner), default=0.0
    )
    for c in candidates:
        p = c.product
        c.sold = int(sold_counts.get(p.product_id, 0))
        price_value = 1.0 - (p.price - lo) / (hi - lo) if hi > lo else NEUTRAL
        rating = p.rating / 5.0 if p.rating is not None else NEUTRAL
        commission = (p.partner.commission_rate / max_comm) if (p.partner and max_comm > 0) else 0.0
        trust = p.partner.trust_score if p.partner else NEUTRAL
        c.score = (
            W_PRICE * price_value
            + W_RATING * rating
            + W_COMMISSION * commission
            + W_TRUST * trust
            + W_RELEVANCE * c.relevance
        )
        c.sponsored = False
    if cfg.sponsorship_enabled and cfg.max_sponsored_per_query > 0:
        eligible = [
            (c, sponsorship)
            for c in candidates
            if (sponsorship := c.product.sponsorship) is not None and sponsorship.active
        ]
        eligible.sort(key=lambda cs: (-cs[0].score, cs[0].product.product_id))
        for c, sponsorship in eligible[: cfg.max_sponsored_per_query]:
            c.score += sponsorship.boost
            c.sponsored = True
    return sorted(candidates, key=lambda c: (-c.score, c.product.price, c.product.product_id))


def rank_pool(
    index: CatalogIndex,
    category: str,
    sold_counts: Mapping[str, int],
    config: PlatformConfig,
    k: int,
    *,
    extra_terms: Sequence[str] = (),
    budget: Budget | None = None,
    exclude: Iterable[str] = (),
) -> list[Candidate]:
    """The top ``k`` of ``rank_candidates(search(...))`` (after the budget and exclude filters),
    computed on the index's arrays: the same policy, the same float operations in the same
    order, the same sponsorship cap and the same (-score, price, product_id) order, but only
    the ``k`` returned products become ``Candidate``s and look up their live sold count."""
    rows, relevance = _relevance(index, category, config, extra_terms)
    keep = None
    if budget is not None:
        keep = index.price[rows] <= budget.amount
    skip = [index.row_of[pid] for pid in set(exclude) if pid in index.row_of]
    if skip:
        mark = np.zeros(len(index.rows), dtype=bool)
        mark[skip] = True
        keep = ~mark[rows] if keep is None else keep & ~mark[rows]
    if keep is not None:
        rows, relevance = rows[keep], relevance[keep]
    m = len(rows)
    if m == 0 or k <= 0:
        return []
    price = index.price[rows]
    lo, hi = price.min(), price.max()
    price_value = 1.0 - (price - lo) / (hi - lo) if hi > lo else NEUTRAL
    has_partner = index.has_partner[rows]
    max_comm = index.commission[rows][has_partner].max() if has_partner.any() else 0.0
    commission = (
        np.where(has_partner, index.commission[rows] / max_comm, 0.0) if max_comm > 0 else 0.0
    )
    score = (
        W_PRICE * price_value
        + W_RATING * index.rating[rows]
        + W_COMMISSION * commission
        + W_TRUST * index.trust[rows]
        + W_RELEVANCE * relevance
    )
    sponsored = np.zeros(m, dtype=bool)
    cfg = config.composite_discovery_config
    if cfg.sponsorship_enabled and cfg.max_sponsored_per_query > 0:
        eligible = np.flatnonzero(index.sponsored[rows])
        if len(eligible):
            by_score = np.lexsort(
                (index.id_rank[rows[eligible]], -score[eligible])
            )  # (-score, product_id)
            best = eligible[by_score][: cfg.max_sponsored_per_query]
            score[best] += index.boost[rows[best]]
            sponsored[best] = True
    if m > k:  # everything scoring at least the k-th best score, ties at the cut included
        kth = np.partition(score, m - k)[m - k]
        sel = np.flatnonzero(score >= kth)
    else:
        sel = np.arange(m)
    order = sel[np.lexsort((index.id_rank[rows[sel]], price[sel], -score[sel]))][:k]
    out = []
    for r, s, rel, sp in zip(
        rows[order].tolist(),
        score[order].tolist(),
        relevance[order].tolist(),
        sponsored[order].tolist(),
    ):
        p = index.rows[r]
        out.append(
            Candidate(
                product=p,
                sold=int(sold_counts.get(p.product_id, 0)),
                relevance=rel,
                score=s,
                sponsored=sp,
            )
        )
    return out


def slot_counts(mix: Sequence[ProductMixSlice], n: int) -> list[int]:
    """Slots per slice: pct normalised to 100, then largest-remainder (Hamilton) rounding.

    Quotas ``n * pct / sum(pct)`` are floored; the leftover slots go to the largest fractional
    parts, ties to the earlier slice. 5 slots at 50/20/10/10/10 -> quotas 2.5/1/.5/.5/.5 ->
    3, 1, 1, 0, 0. All-zero pct -> equal shares.
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
    """Compose n products from the slices (docs/design.md, Composite flow).

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
    ranked = rank_pool(
        index,
        category,
        sold_counts,
        config,
        max(CANDIDATE_POOL, size),
        extra_terms=extra_terms,
        budget=budget,
        exclude=exclude,
    )
    picked = apply_product_mix(ranked, cfg.product_mix, size)
    return CategoryListing(
        category=category,
        query=" ".join([category, *extra_terms]).strip(),
        products=[to_discovered(c) for c in picked],
    )


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
        listing = discover_category(
            index, cat, sold_counts, config, extra_terms=extra_terms, budget=budget, exclude=seen
        )
        seen.update(p.product_id for p in listing.products)
        out.append(listing)
    return out
