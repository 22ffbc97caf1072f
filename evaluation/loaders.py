"""Order-history loading for evaluation.

Prefers the ``ingest`` package (the project's real parsers). Until it exposes a parser for a
format, a minimal local reader for the two evaluation datasets (UCI Online Retail, Olist order
items) is used so evaluation is not blocked; ``LoadResult.loader`` says which one ran.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from models import OrderEvent, OrderLine, Product

MAX_LINES = 1000  # OrderEvent.lines max_length
FORMATS = ("auto", "online_retail", "olist", "shopify", "generic")


@dataclass
class LoadResult:
    orders: list[OrderEvent]
    catalog: list[Product] = field(default_factory=list)
    format: str = ""
    loader: str = ""
    bad_rows: int = 0


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def sniff_format(path: Path) -> str:
    """Guess the order-file format from its header row."""
    with _open_text(path) as fh:
        header = fh.readline()
    if "InvoiceNo" in header and "StockCode" in header:
        return "online_retail"
    if "order_item_id" in header and "product_id" in header:
        return "olist"
    if "Lineitem quantity" in header:
        return "shopify"
    return "generic"


def load_orders(path: str | Path, fmt: str = "auto", store_id: str = "eval",
                catalog: str | Path | None = None) -> LoadResult:
    """Parse an order history (and optional catalog) into OrderEvents, via ingest when possible."""
    path = Path(path)
    if fmt == "auto":
        fmt = sniff_format(path)
    result = _load_with_ingest(path, fmt, store_id)
    if result is None:
        if fmt == "online_retail":
            result = LoadResult(list(_local_online_retail(path, store_id)), format=fmt, loader="evaluation.loaders (local)")
        elif fmt == "olist":
            result = LoadResult(list(_local_olist(path, store_id)), format=fmt, loader="evaluation.loaders (local)")
        else:
            raise RuntimeError(f"format {fmt!r} needs the ingest package, which is not available")
    if catalog is not None:
        result.catalog = _load_catalog(Path(catalog))
    return result


def _load_with_ingest(path: Path, fmt: str, store_id: str) -> LoadResult | None:
    """Use ingest's parser for ``fmt`` if the package provides one; None otherwise."""
    try:
        from . import ingest_bridge
    except ImportError:
        return None
    return ingest_bridge.load_orders(path, fmt, store_id)


def _load_catalog(path: Path) -> list[Product]:
    try:
        from . import ingest_bridge
    except ImportError:
        return []
    return ingest_bridge.load_catalog(path)


def _local_online_retail(path: Path, store_id: str) -> Iterator[OrderEvent]:
    """Non-cancelled invoices with positive quantity and price >= 0, one OrderEvent each."""
    groups: dict[str, list[dict[str, str]]] = {}
    with _open_text(path) as fh:
        for row in csv.DictReader(fh):
            inv = row["InvoiceNo"]
            if inv.startswith(("C", "A")):
                continue
            try:
                qty, price = int(row["Quantity"]), float(row["UnitPrice"])
            except ValueError:
                continue
            if qty <= 0 or price < 0:
                continue
            groups.setdefault(inv, []).append(row)
    for inv, rows in groups.items():
        lines = [OrderLine(product_id=r["StockCode"], quantity=min(int(r["Quantity"]), 1_000_000),
                           price=float(r["UnitPrice"]), title=(r["Description"] or None)) for r in rows]
        # OrderEvent holds at most 1000 lines: a bigger invoice becomes several events that share
        # the order id (evaluation.split.baskets_from_orders merges them back into one basket)
        for start in range(0, len(lines), MAX_LINES):
            yield OrderEvent(
                order_id=inv, store_id=store_id, source="replay", currency="GBP",
                created_at=datetime.fromisoformat(rows[0]["InvoiceDate"]),
                customer_id=rows[0]["CustomerID"] or None, lines=lines[start : start + MAX_LINES],
            )


def _local_olist(path: Path, store_id: str) -> Iterator[OrderEvent]:
    """Olist order items: one OrderEvent per order_id, time = earliest shipping_limit_date.

    The Olist orders file (purchase timestamps) is not in the data set, so the shipping limit
    date, set by the seller a few days after purchase, is the best available order time.
    """
    groups: dict[str, list[dict[str, str]]] = {}
    with _open_text(path) as fh:
        for row in csv.DictReader(fh):
            groups.setdefault(row["order_id"], []).append(row)
    for oid, rows in groups.items():
        yield OrderEvent(
            order_id=oid, store_id=store_id, source="replay", currency="BRL",
            created_at=min(datetime.fromisoformat(r["shipping_limit_date"]) for r in rows),
            lines=[OrderLine(product_id=r["product_id"], quantity=1, price=float(r["price"])) for r in rows],
        )
