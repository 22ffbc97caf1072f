"""Re-gating a published bundle set against live stock (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

from bundling.regate import bundle_ids, components, regate, restate, short_products
from models import BundleSet, GenerationMetrics

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def bundle(bid: str, *lines: tuple[str, int]) -> dict:
    return {
        "bundle_id": bid,
        "bundle_type": "FBT",
        "objective": "increase_aov",
        "products": [{"product_id": p, "unit_price": 10.0, "quantity": q} for p, q in lines],
        "pricing": {"list_price": 20.0, "bundle_price": 18.0, "discount_pct": 10.0},
        "score": 0.5,
        "score_components": {
            "semantic": 0.1,
            "data": 0.2,
            "business": 0.3,
            "alpha": 0.3,
            "beta": 0.3,
            "gamma": 0.4,
        },
        "generation_method": "test",
    }


def bundle_set() -> BundleSet:
    return BundleSet.model_validate(
        {
            "upload_id": "u1",
            "store_id": "s1",
            "bundles": [
                bundle("b1", ("a", 1), ("b", 1)),
                bundle("b2", ("c", 2), ("d", 1)),
                bundle("b3", ("a", 1), ("e", 1)),
            ],
            "metrics": {"csv_upload_id": "u1", "store_id": "s1"},
        }
    )


def test_drops_bundles_with_a_product_out_of_stock_and_keeps_the_rest_unchanged() -> None:
    original = bundle_set()
    gated = regate(original, {"a": 0, "b": 5, "c": 9}, NOW)
    assert bundle_ids(gated) == ["b2"]
    assert gated.bundles[0] == original.bundles[1]
    assert gated.metrics.trigger == "stock" and gated.metrics.stock_outs == ["a"]
    assert gated.upload_id == original.upload_id and gated.generated_at == NOW
    assert original.metrics.trigger == "upload" and len(original.bundles) == 3  # untouched


def test_a_level_below_the_line_quantity_is_out_of_stock() -> None:
    original = bundle_set()
    assert short_products(original.bundles[1], {"c": 1}) == ["c"]
    assert bundle_ids(regate(original, {"c": 1}, NOW)) == ["b1", "b3"]
    assert bundle_ids(regate(original, {"c": 2}, NOW)) == ["b1", "b2", "b3"]


def test_untracked_products_count_as_in_stock() -> None:
    assert bundle_ids(regate(bundle_set(), {"a": None}, NOW)) == ["b1", "b2", "b3"]


def test_restate_only_when_the_bundles_change_and_stock_back_returns_the_bundle() -> None:
    original = bundle_set()
    assert restate(original, original, {"a": 4}, NOW) is None
    out = restate(original, original, {"a": 0}, NOW)
    assert out is not None and bundle_ids(out) == ["b2"]
    assert restate(original, out, {"a": 0, "c": 0}, NOW) is not None  # b2 goes too
    assert restate(original, out, {"a": -3}, NOW) is None  # same bundles: nothing to send
    back = restate(original, out, {"a": 1}, NOW)
    assert back is not None and back.bundles == original.bundles
    assert back.metrics.trigger == "stock" and back.metrics.stock_outs == []


def test_components_and_old_metrics_records_stay_valid() -> None:
    assert components(bundle_set()) == {"a", "b", "c", "d", "e"}
    old = GenerationMetrics.model_validate({"csv_upload_id": "u", "store_id": "s"})
    assert old.trigger == "upload" and old.stock_outs == []
