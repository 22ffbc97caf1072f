"""The vectorised discovery path against a brute-force reference on random catalogs.

The reference is written here from the documented policy (composite/discovery.py's module
docstring), sharing no ranking code with production: regex tokens per product, document
frequencies counted product by product, category or keyword relevance, the budget and exclude
filters, then every candidate scored with the documented weights, the best sponsored ones
boosted and the whole list sorted. The optimised path (numpy index, memoised relevance,
partition at the k-th score) must return the same products in the same order, with the same
scores, sponsored flags and slices.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from composite.defaults import CATEGORY_KEYWORDS
from composite.discovery import (
    CANDIDATE_POOL,
    Candidate,
    _raw_tokens,
    aliases_for,
    apply_product_mix,
    build_index,
    discover_category,
    norm_category,
    rank_pool,
    tokenize,
)
from models.catalog import Partner, Product, Sponsorship
from models.chat import Budget
from models.config import CompositeDiscoveryConfig, PlatformConfig, ProductMixSlice
from tests.examples import examples

WORDS = [
    "rose",
    "roses",
    "bouquet",
    "tulip",
    "watch",
    "watches",
    "gift",
    "gifts",
    "present",
    "perfume",
    "vegan",
    "chocolate",
    "cake",
    "dinner",
    "pasta",
    "blu",
    "ray",
    "dvd",
    "glass",
    "class",
    "Café",
    "ÉTÉ",
    "\u212a",
    "x",
    "10",
    "birthday",
    "candle",
    "towel",
    "_under_",
    "Flor-de-lis",
]
CATEGORIES = [
    "flowers",
    "food",
    "food_drink",
    "watches_gifts",
    "cool_stuff",
    "perfumery",
    "misc",
    "tools",
    "bed_bath_table",
    "Flores Ñ",
    "dvds_blu_ray",
]
QUERIES = [
    "flowers",
    "gift",
    "dinner",
    "movie",
    "bath",
    "cake",
    "jewelry",
    "Flores Ñ",
    "unknown thing",
]
_REGEX = re.compile(r"[a-z0-9]+")


def ref_tokens(text: str) -> set[str]:
    out = set()
    for t in _REGEX.findall(text.lower().replace("_", " ")):
        if len(t) > 3 and t.endswith("s") and not t.endswith("ss"):
            t = t[:-1]
        out.add(t)
    return out


def random_catalog(rnd: random.Random) -> list[Product]:
    base = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
    out = []
    for i in range(rnd.randint(0, 400)):
        words = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(0, 4)))
        partner = (
            None
            if rnd.random() < 0.2
            else Partner(
                partner_id=f"s{rnd.randint(0, 9)}",
                trust_score=rnd.choice([0.1, 0.5, 0.5, 0.9, 1.0]),
                commission_rate=rnd.choice([0.0, 0.0, 0.05, 0.1, 0.2]),
            )
        )
        spons = (
            None
            if rnd.random() < 0.8
            else Sponsorship(active=rnd.random() < 0.8, boost=rnd.choice([0.5, 0.5, 1.0]))
        )
        out.append(
            Product(
                product_id=f"p{rnd.randint(0, 10**6):07d}-{i}",
                title=words,
                category=rnd.choice(CATEGORIES),
                tags=[rnd.choice(WORDS)] if rnd.random() < 0.2 else [],
                description=" ".join(rnd.choice(WORDS) for _ in range(rnd.randint(0, 3))),
                price=rnd.choice([5.0, 9.99, 10.0, 10.0, 25.5, 40.0, 99.0, 150.0, 0.0]),
                rating=None if rnd.random() < 0.5 else rnd.choice([1.0, 3.0, 4.5, 5.0]),
                partner=partner,
                sponsorship=spons,
                created_at=None
                if rnd.random() < 0.1
                else base + dt.timedelta(days=rnd.randint(0, 30)),
                inventory=None if rnd.random() < 0.9 else rnd.randint(0, 2),
            )
        )
    return out


def reference_pool(products, category, config, sold, extra_terms=(), budget=None, exclude=()):
    """Every candidate ranked by ``reference_rank``, computed from the product list alone."""
    live = [p for p in products if p.in_stock]
    toks = {
        p.product_id: ref_tokens(
            " ".join([p.title, p.category, " ".join(p.tags), p.description[:500]])
        )
        for p in live
    }
    df: dict[str, int] = {}
    for ts in toks.values():
        for t in ts:
            df[t] = df.get(t, 0) + 1
    n = max(len(live), 1)

    def idf(t: str) -> float:
        return math.log(1 + n / df[t]) if t in df else 0.0

    aliases = set(aliases_for(category, config))
    query = sorted(
        ref_tokens(category)
        | {t for w in CATEGORY_KEYWORDS.get(norm_category(category), []) for t in ref_tokens(w)}
    )
    total = sum(idf(t) for t in query) or 1.0
    extra = sorted({t for term in extra_terms for t in ref_tokens(term)})
    etotal = sum(idf(t) for t in extra) or 1.0
    cands = []
    for p in live:
        if norm_category(p.category) in aliases:
            rel = 1.0
        else:
            w = 0.0
            hit = False
            for t in query:
                if t in toks[p.product_id]:
                    w += idf(t)
                    hit = True
            if not hit:
                continue
            rel = min(0.9, w / total + 0.3)
        for t in extra:
            if t in toks[p.product_id]:
                rel = rel + 0.5 * idf(t) / etotal
        if p.product_id in set(exclude) or (budget is not None and p.price > budget.amount):
            continue
        cands.append(Candidate(product=p, relevance=min(rel, 1.5) / 1.5))
    return reference_rank(cands, sold, config.composite_discovery_config)


# The ranking policy's weights and neutral value, copied from the documentation on purpose.
W_PRICE, W_RATING, W_COMMISSION, W_TRUST, W_RELEVANCE = 0.30, 0.30, 0.15, 0.25, 0.20
NEUTRAL = 0.5


def reference_rank(
    candidates: list[Candidate], sold: dict[str, int], cfg: CompositeDiscoveryConfig
) -> list[Candidate]:
    """Brute force over every candidate: the documented score (each component in [0, 1]), the
    sponsorship boost for the ``max_sponsored_per_query`` best-scoring active sponsored products,
    then (-score, price, product_id) order. New ``Candidate``s: the input is left untouched."""
    if not candidates:
        return []
    lowest = min(c.product.price for c in candidates)
    highest = max(c.product.price for c in candidates)
    top_commission = max(
        (c.product.partner.commission_rate for c in candidates if c.product.partner is not None),
        default=0.0,
    )
    ranked = []
    for c in candidates:
        p = c.product
        price_value = 1.0 - (p.price - lowest) / (highest - lowest) if highest > lowest else NEUTRAL
        rating = p.rating / 5.0 if p.rating is not None else NEUTRAL
        has_commission = p.partner is not None and top_commission > 0
        commission = p.partner.commission_rate / top_commission if has_commission else 0.0
        trust = p.partner.trust_score if p.partner is not None else NEUTRAL
        score = (
            W_PRICE * price_value
            + W_RATING * rating
            + W_COMMISSION * commission
            + W_TRUST * trust
            + W_RELEVANCE * c.relevance
        )
        ranked.append(
            Candidate(product=p, sold=sold.get(p.product_id, 0), relevance=c.relevance, score=score)
        )
    if cfg.sponsorship_enabled:
        active = [c for c in ranked if c.product.sponsorship and c.product.sponsorship.active]
        active.sort(key=lambda c: (-c.score, c.product.product_id))
        for c in active[: cfg.max_sponsored_per_query]:
            c.score += c.product.sponsorship.boost
            c.sponsored = True
    return sorted(ranked, key=lambda c: (-c.score, c.product.price, c.product.product_id))


def key(cs):
    return [(c.product.product_id, c.score, c.sponsored, c.sold, c.slice) for c in cs]


def random_config(rnd: random.Random) -> PlatformConfig:
    sorts = ["price_desc", "price_asc", "rating", "popularity", "sponsored", "recent"]
    mix_kind = rnd.random()
    if mix_kind < 0.4:
        mix = None  # the default mix
    elif mix_kind < 0.6:
        mix = []
    else:
        chosen = rnd.sample(sorts, rnd.randint(1, 4))
        raw = [rnd.randint(0, 10) for _ in chosen]
        raw[0] += 1
        pcts = [100 * r / sum(raw) for r in raw]
        pcts[-1] = 100 - sum(pcts[:-1])
        mix = [
            ProductMixSlice(sort=s, limit=rnd.randint(1, 12), pct=max(p, 0.0))
            for s, p in zip(chosen, pcts)
        ]
    cfg = dict(
        products_per_category=rnd.randint(1, 10),
        sponsorship_enabled=rnd.random() < 0.8,
        max_sponsored_per_query=rnd.choice([0, 1, 1, 2, 3]),
    )
    if mix is not None:
        cfg["product_mix"] = mix
    aliases = {"flowers": ["misc"]} if rnd.random() < 0.2 else {}
    return PlatformConfig(
        composite_discovery_config=CompositeDiscoveryConfig(**cfg), category_aliases=aliases
    )


@settings(max_examples=examples(120), deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_optimised_discovery_matches_brute_force(seed: int) -> None:
    rnd = random.Random(seed)
    products = random_catalog(rnd)
    index = build_index(products)
    sold = {p.product_id: rnd.randint(0, 5) for p in products if rnd.random() < 0.5}
    for _ in range(4):
        config = random_config(rnd)
        category = rnd.choice(QUERIES)
        extra = rnd.sample(["vegan", "rose", "birthday", "Café", ""], rnd.randint(0, 2))
        budget = Budget(amount=rnd.choice([5.0, 10.0, 30.0, 100.0])) if rnd.random() < 0.4 else None
        exclude = {p.product_id for p in products if rnd.random() < 0.1}
        full = reference_pool(products, category, config, sold, extra, budget, exclude)
        for k in (
            1,
            3,
            7,
            CANDIDATE_POOL,
        ):  # small k: ties at the cut must be broken like the full sort
            got = rank_pool(
                index, category, sold, config, k, extra_terms=extra, budget=budget, exclude=exclude
            )
            assert key(got) == key(full[:k])
            assert [c.relevance for c in got] == [c.relevance for c in full[:k]]
        size = config.composite_discovery_config.products_per_category
        want = apply_product_mix(
            full[: max(CANDIDATE_POOL, size)], config.composite_discovery_config.product_mix, size
        )
        listing = discover_category(
            index, category, sold, config, extra_terms=extra, budget=budget, exclude=exclude
        )
        assert [
            (p.product_id, p.slice, p.sponsored, p.sold_count, p.score) for p in listing.products
        ] == [(c.product.product_id, c.slice, c.sponsored, c.sold, round(c.score, 4)) for c in want]


def test_large_category_pool_matches_brute_force() -> None:
    """Thousands of candidates with heavy score ties (few distinct prices, trusts, ratings)."""
    rnd = random.Random(20240612)
    products = [
        Product(
            product_id=f"w{rnd.randint(0, 10**9):010d}",
            title="watch",
            category="watches_gifts",
            price=rnd.choice([10.0, 20.0, 30.0]),
            rating=rnd.choice([None, 4.0]),
            partner=Partner(partner_id="s", trust_score=rnd.choice([0.5, 0.9])),
            sponsorship=Sponsorship() if rnd.random() < 0.05 else None,
        )
        for _ in range(3000)
    ]
    index = build_index(products)
    config = PlatformConfig(
        composite_discovery_config=CompositeDiscoveryConfig(max_sponsored_per_query=3)
    )
    full = reference_pool(products, "gift", config, {})
    for k in (1, 5, 50, 400):
        assert key(rank_pool(index, "gift", {}, config, k)) == key(full[:k])


@settings(max_examples=examples(300), deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=60))
def test_index_tokenizer_equals_the_regex(text: str) -> None:
    assert _raw_tokens(text) == _REGEX.findall(text.lower())
    assert set(tokenize(text)) == ref_tokens(text)


def test_index_postings_equal_per_product_tokens() -> None:
    rnd = random.Random(7)
    products = [*random_catalog(rnd), Product(product_id="nul", title="rose\x00bouquet", price=1.0)]
    index = build_index(products)
    live = {p.product_id: p for p in products if p.in_stock}
    for pid, p in live.items():
        row = index.row_of[pid]
        want = ref_tokens(" ".join([p.title, p.category, " ".join(p.tags), p.description[:500]]))
        got = {t for t in index.vocab if row in set(index.posting(t).tolist())}
        assert got == want, pid
