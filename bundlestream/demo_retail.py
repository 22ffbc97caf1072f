"""The demo's gift shop: UCI Online Retail (a real UK online gift retailer, 2010-2011) as a store.

Pure parts of the demo and of ``bench/live_hit_rate_bench.py``, tested without a broker:

- the store's catalog, derived from its order lines (the data set ships no catalog): one product
  per merchandise StockCode, its most frequent description as title and its most frequent unit
  price as list price, in GBP;
- the slice: the newest N orders of the history (or all of them), split 80/20 by time with the
  evaluation's own split, so the demo uploads the past and replays the future;
- the training part written back as an Online Retail export, for the upload;
- bundles and live performance as text a merchant reads.
"""

from __future__ import annotations

import csv
import gzip
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from evaluation.split import Split, baskets_from_orders, time_split
from models.bundles import Bundle, BundleSet
from models.orders import OrderEvent
from models.performance import StorePerformance

CATALOG_HEADER = ["product_id", "title", "category", "description", "price", "currency"]
SYMBOLS = {"GBP": "£", "USD": "$", "EUR": "€", "BRL": "R$"}


def is_merchandise(stock_code: str) -> bool:
    """Online Retail's products have numeric StockCodes (85123A, 22423); the rest are postage
    (POST, DOT, C2), fees (AMAZONFEE, BANK CHARGES), manual lines (M, D, S) and vouchers."""
    return stock_code[:1].isdigit()


def category_of(description: str) -> str:
    """A coarse category: the description's last word (HOLDER, LANTERN, MUG, ...), lower case."""
    words = [w for w in description.lower().replace(",", " ").split() if w.isalpha()]
    return words[-1] if words else "misc"


@dataclass(frozen=True, slots=True)
class CatalogRow:
    product_id: str
    title: str
    category: str
    description: str
    price: float


def derive_catalog(orders: Iterable[OrderEvent]) -> list[CatalogRow]:
    """One product per merchandise StockCode sold in ``orders`` (the parser has already dropped
    cancellations and lines with a quantity or price <= 0): the most frequent description
    (title-cased as the title) and the most frequent unit price. Products are in first-sale
    order; ties go to the first seen."""
    descriptions: dict[str, Counter[str]] = {}
    prices: dict[str, Counter[float]] = {}
    for order in orders:
        for line in order.lines:
            code, description = line.product_id, (line.title or "").strip()
            if not is_merchandise(code) or not description or line.price <= 0:
                continue
            descriptions.setdefault(code, Counter())[description] += 1
            prices.setdefault(code, Counter())[line.price] += 1
    catalog = []
    for code, counts in descriptions.items():
        description = counts.most_common(1)[0][0]
        catalog.append(
            CatalogRow(
                code,
                description.title(),
                category_of(description),
                description,
                prices[code].most_common(1)[0][0],
            )
        )
    return catalog


def write_catalog(catalog: Sequence[CatalogRow], target: Path) -> Path:
    """The catalog as the generic upload CSV (any store can send this format)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(CATALOG_HEADER)
        for p in catalog:
            writer.writerow([p.product_id, p.title, p.category, p.description, p.price, "GBP"])
    return target


def pick_slice(orders: Sequence[OrderEvent], max_orders: int | None) -> list[OrderEvent]:
    """The newest ``max_orders`` orders by (time, order id), all of them for None: a recent,
    contiguous stretch of the shop's history, in time order."""
    ordered = sorted(orders, key=lambda o: (o.created_at.timestamp(), o.order_id))
    if max_orders is None or max_orders >= len(ordered):
        return ordered
    if max_orders <= 0:
        raise ValueError("max_orders must be positive")
    return ordered[len(ordered) - max_orders :]


@dataclass(frozen=True, slots=True)
class StoreSlice:
    train: list[OrderEvent]
    holdout: list[OrderEvent]
    split: Split


def split_slice(orders: Sequence[OrderEvent]) -> StoreSlice:
    """The evaluation's 80/20 time split, mapped back from baskets to the order events."""
    split = time_split(baskets_from_orders(orders))
    train_ids = {b.order_id for b in split.train}
    test_ids = {b.order_id for b in split.test}
    return StoreSlice(
        [o for o in orders if o.order_id in train_ids],
        [o for o in orders if o.order_id in test_ids],
        split,
    )


def write_training_export(source: Path, order_ids: set[str], target: Path) -> int:
    """The rows of ``order_ids`` from the Online Retail export, in its own format (gzip), so the
    upload parses them exactly as it parses the shop's file. Returns the rows written."""
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with (
        gzip.open(source, "rt", encoding="utf-8", newline="") as src,
        gzip.open(target, "wt", encoding="utf-8", newline="") as out,
    ):
        header = src.readline()
        out.write(header)
        for line in src:
            if line.split(",", 1)[0].strip() in order_ids:
                out.write(line)
                written += 1
    return written


# -- text for the terminal --------------------------------------------------------------------


def money(amount: float, currency: str) -> str:
    symbol = SYMBOLS.get(currency)
    return f"{symbol}{amount:,.2f}" if symbol else f"{amount:,.2f} {currency}"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def format_bundle(index: int, bundle: Bundle, width: int = 100) -> list[str]:
    """A bundle as a merchant reads it: what is in it at which price, and why it was chosen."""
    pricing = bundle.pricing
    cur = pricing.currency
    head = f"{index:>2}. {bundle.bundle_type.value} bundle for {bundle.objective.value}"
    stats = [f"score {bundle.score:.2f}"]
    if bundle.lift:
        stats.append(f"lift {bundle.lift:.1f}")
    if bundle.confidence is not None:
        stats.append(f"confidence {bundle.confidence:.2f}")
    lines = [f"{head}  ({', '.join(stats)})"]
    for p in bundle.products:
        quantity = f"{p.quantity} x " if p.quantity > 1 else ""
        role = f" [{p.role}]" if p.role not in ("member", "anchor") else ""
        lines.append(
            f"      {quantity}{_clip(p.title or p.product_id, 48):<48} {money(p.unit_price, cur):>10}{role}"
        )
    discount = f"-{pricing.discount_pct:.0f}%" if pricing.discount_pct else "no discount"
    lines.append(
        f"      list {money(pricing.list_price, cur)}  ->  bundle {money(pricing.bundle_price, cur)}"
        f"  ({discount})"
    )
    for tier in pricing.volume_tiers:
        lines.append(f"      buy {tier.min_quantity}+: -{tier.discount_pct:.0f}%")
    if bundle.rationale:
        lines.append(f"      why: {_clip(bundle.rationale, width - 11)}")
    return lines


def format_bundle_set(bundle_set: BundleSet) -> list[str]:
    metrics = bundle_set.metrics
    budget = metrics.time_budget
    engine = f", engine {budget.actual_duration_ms:.0f} ms" if budget else ""
    lines = [
        f"{len(bundle_set.bundles)} bundles from {metrics.transactions:,} orders and "
        f"{metrics.catalog_size:,} products{engine}",
        f"objectives chosen: {', '.join(o.value for o in metrics.selected_objectives) or 'none'}",
    ]
    for i, bundle in enumerate(bundle_set.bundles, 1):
        lines.append("")
        lines += format_bundle(i, bundle)
    return lines


def bundle_label(bundle: Bundle, width: int = 46) -> str:
    return _clip(" + ".join(p.title or p.product_id for p in bundle.products), width)


def format_performance(performance: StorePerformance, bundle_set: BundleSet | None) -> list[str]:
    """Each bundle's orders since publication: with 2+ of its products (a one-product bundle: with
    its product), with all of it, and the revenue of its products in the first ones."""
    names = {b.bundle_id: bundle_label(b) for b in (bundle_set.bundles if bundle_set else [])}
    currency = bundle_set.bundles[0].pricing.currency if bundle_set and bundle_set.bundles else ""
    total = performance.orders_since_published
    lines = [
        f"{total:,} orders since the bundles were published "
        f"({performance.published_at:%Y-%m-%d %H:%M:%S} UTC)",
        f"    {'bundle':<46} {'2+ items':>9} {'whole':>7} {'revenue (2+)':>14}",
    ]
    for i, b in enumerate(performance.bundles, 1):
        name = names.get(b.bundle_id) or _clip(" + ".join(b.product_ids), 46)
        share = f"{100 * b.orders_partial / total:.1f}%" if total else "-"
        revenue = money(b.revenue_partial, currency) if currency else f"{b.revenue_partial:,.2f}"
        note = "" if len(set(b.product_ids)) > 1 else "; one product: orders holding it"
        lines.append(
            f"{i:>2}. {name:<46} {b.orders_partial:>9,} {b.orders_whole:>7,} {revenue:>14}"
            f"  ({share} of orders{note})"
        )
    return lines
