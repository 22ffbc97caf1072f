"""An upload's bundle set is the same whether its history is parsed row by row into
``OrderEvent``s (``read_orders``, the reference) or into columns (``read_order_lines``, the
upload path): Online Retail's first 1,000 invoices and the Shopify sample store."""

from __future__ import annotations

import gzip

import pytest

from bundling.engine import generate_bundle_set
from ingest import parse_catalog, read_orders
from ingest.columnar import read_order_lines

TIMINGS = {"time_budget", "combos_evaluated", "parse_ms", "created_at"}


def _first_invoices(path, n: int) -> bytes:
    out, seen = [], set()
    with gzip.open(path, "rb") as fh:
        out.append(fh.readline())
        for raw in fh:
            invoice = raw.split(b",", 1)[0]
            if invoice not in seen and len(seen) >= n:
                break
            seen.add(invoice)
            out.append(raw)
    return b"".join(out)


def _same_bundle_set(catalog, data: bytes, fmt: str) -> None:
    events, _ = read_orders(data, fmt, store_id="s")
    lines = read_order_lines(data, fmt, store_id="s")
    ref, ref_runs = generate_bundle_set("u", "s", catalog, events)
    got, got_runs = generate_bundle_set("u", "s", catalog, [], order_lines=lines)
    assert (
        got.bundles
        and got.model_dump(mode="json")["bundles"] == ref.model_dump(mode="json")["bundles"]
    )
    assert got.metrics.model_dump(exclude=TIMINGS) == ref.metrics.model_dump(exclude=TIMINGS)
    assert [(r.objective, r.type, r.candidates) for r in got_runs] == [
        (r.objective, r.type, r.candidates) for r in ref_runs
    ]


def test_online_retail_first_invoices_same_bundle_set(data_dir):
    data = _first_invoices(data_dir / "online_retail.csv.gz", 1000)
    _same_bundle_set([], data, "online_retail")  # catalog derived from the orders


@pytest.mark.parametrize("derived", [False, True])
def test_shopify_store_same_bundle_set(data_dir, derived):
    shop = data_dir / "shopify"
    catalog = [] if derived else parse_catalog(shop / "products_export.csv").products
    _same_bundle_set(catalog, (shop / "orders_export.csv").read_bytes(), "shopify_orders")
