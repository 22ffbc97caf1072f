"""Pure helpers of the upload pipeline: tallies by store, rolling-cost table round trip,
error answers, the catalog LRU/reference, and the multipart form checks."""

from __future__ import annotations

import asyncio

import pytest

from agents.catalogs import CatalogView, _Lru, majority_currency, make_ref, products_sha256
from agents.http.common import HttpError
from agents.http.uploads import FilePart, check_form, read_part
from bundling.budget import RollingCosts, combo_cost, cost_per_combo
from bundling.uploads import UnusableUpload, error_bundle_set, fold_rolling_costs, tallies_for_store
from models import BadRow, ComboRun, Product, UploadEvent, UploadFile
from models.bundles import BundleType, Objective
from popularity import key_of
from popularity.aggregate import SEP


def _upload() -> UploadEvent:
    return UploadEvent(
        upload_id="u1",
        store_id="s1",
        files=[
            UploadFile(
                kind="catalog", format="generic", inline_text="product_id,title,price\np1,A,1\n"
            )
        ],
    )


def test_tallies_only_for_the_store_and_prefix_safe() -> None:
    items = [
        (key_of("s1", "mugs"), [40, 0, 10]),
        (key_of("s1", "tea"), [3, 0, 11]),
        (key_of("s10", "mugs"), [999, 1, 1]),  # "s1" is a prefix of "s10": must not leak
        (key_of("s2", "mugs"), [7, 2, 3]),
        (key_of("s1", "gone"), None),
    ]
    assert tallies_for_store(items, "s1", SEP) == {"mugs": 40, "tea": 3}
    assert tallies_for_store(items, "nobody", SEP) == {}


def _table_round_trip(state: RollingCosts) -> RollingCosts:
    """What the agent stores per store (a JSON dict) and reads back."""
    import orjson

    return RollingCosts.from_json(orjson.loads(state.to_json()))


def test_rolling_costs_per_store_round_trip_through_the_table_value() -> None:
    empty = RollingCosts.from_json(None)
    assert cost_per_combo(empty) == 3000.0  # cold default
    runs = [
        ComboRun(
            objective=Objective.INCREASE_AOV, type=BundleType.FBT, candidates=3, duration_ms=10.0
        ),
        ComboRun(
            objective=Objective.INCREASE_AOV, type=BundleType.FBT, candidates=3, duration_ms=20.0
        ),
        ComboRun(
            objective=Objective.GIFT_BOX, type=BundleType.GIFT_BOX, candidates=1, duration_ms=30.0
        ),
    ]
    state = _table_round_trip(fold_rolling_costs(empty, runs))
    fbt = state.combos["increase_aov:FBT"]
    assert list(fbt.recent) == [10.0, 20.0] and fbt.runs == 2
    assert fbt.ema == pytest.approx(0.2 * 20 + 0.8 * 10)
    assert cost_per_combo(state) == pytest.approx(20.0)
    assert combo_cost(state, (Objective.GIFT_BOX, BundleType.GIFT_BOX)) == 30.0
    # a second upload folds onto the stored state
    more = _table_round_trip(fold_rolling_costs(state, [runs[2]]))
    assert list(more.recent) == [10.0, 20.0, 30.0, 30.0]
    assert more.combos["gift_box:GIFT_BOX"].runs == 2 and more.combos["increase_aov:FBT"].runs == 2
    assert fold_rolling_costs(state, []) is state


def test_rolling_window_is_capped_at_50() -> None:
    runs = [
        ComboRun(
            objective=Objective.MARGIN_GUARD,
            type=BundleType.FIXED,
            candidates=0,
            duration_ms=float(i),
        )
        for i in range(60)
    ]
    state = _table_round_trip(fold_rolling_costs(RollingCosts.from_json(None), runs))
    assert len(state.combos["margin_guard:FIXED"].recent) == 50
    assert state.combos["margin_guard:FIXED"].recent[0] == 10.0
    assert len(state.recent) == 50


def test_error_bundle_set_names_the_reason_and_keeps_bad_rows() -> None:
    exc = UnusableUpload(
        "catalog c.csv: missing required column(s): price",
        bad_rows=[BadRow(file="c.csv", line=3, reason="bad_price")],
        bad_row_count=7,
        parse_ms=1.5,
    )
    bs = error_bundle_set(_upload(), exc)
    assert bs.status == "error" and "price" in (bs.error or "")
    assert bs.bundles == [] and bs.store_id == "s1" and bs.upload_id == "u1"
    assert bs.metrics.bad_row_count == 7 and bs.metrics.bad_rows[0].line == 3
    plain = error_bundle_set(_upload(), "engine exploded")
    assert plain.error == "engine exploded" and plain.metrics.bad_row_count == 0


def _p(pid: str, currency: str = "USD") -> Product:
    return Product(product_id=pid, title=pid, price=1.0, currency=currency)


def test_catalog_view_and_lru() -> None:
    view = CatalogView.build(
        "s", "u", [_p("a"), _p("b", "EUR"), _p("a", "EUR"), _p("c", "EUR")], "h"
    )
    assert view.by_id["a"].currency == "USD"  # first row of a repeated id wins
    assert view.currency == "EUR"
    assert majority_currency([]) == "USD"
    other = view.for_store("t", "u2")
    assert other.store_id == "t" and other.products is view.products
    lru = _Lru(size=2)
    lru.put("x", view)
    lru.put("y", view)
    assert lru.get("x") is view  # x is now most recent
    lru.put("z", view)
    assert lru.get("y") is None and lru.get("x") is view and len(lru) == 2
    assert products_sha256([_p("a")]) != products_sha256([_p("b")])


def test_catalog_ref_is_small_and_self_contained() -> None:
    f = UploadFile(
        kind="catalog",
        format="shopify_products",
        uri="file:///x/ab.csv",
        sha256="ab" * 32,
        size_bytes=10**8,
    )
    ref = make_ref("u9", f)
    assert (
        ref["sha256"] == "ab" * 32
        and ref["format"] == "shopify_products"
        and ref["upload_id"] == "u9"
    )
    assert UploadFile.model_validate(ref["file"]) == f
    inline = make_ref("u1", UploadFile(kind="catalog", format="generic", inline_text="a,b\n"))
    assert len(inline["sha256"]) == 64  # hashed from the text when the file carries no sha


class _Part:
    def __init__(self, data: bytes, chunk: int = 5) -> None:
        self.data, self.chunk = data, chunk

    async def read_chunk(self, size: int) -> bytes:
        out, self.data = self.data[: min(size, self.chunk)], self.data[min(size, self.chunk) :]
        return out


def test_read_part_stops_at_the_limit() -> None:
    assert asyncio.run(read_part(_Part(b"x" * 20), 20, "catalog file")) == b"x" * 20
    with pytest.raises(HttpError) as err:
        asyncio.run(read_part(_Part(b"x" * 21), 20, "catalog file"))
    assert err.value.status == 413 and "catalog file" in err.value.reason


@pytest.mark.parametrize(
    "fields,files,reason",
    [
        ({}, {"catalog": FilePart("catalog", "c.csv", b"a\n")}, "store_id"),
        ({"store_id": "a/b"}, {"catalog": FilePart("catalog", "c.csv", b"a\n")}, "store_id"),
        ({"store_id": "s"}, {}, "catalog"),
        ({"store_id": "s"}, {"catalog": FilePart("catalog", "c.csv", b"  \n")}, "empty"),
    ],
)
def test_check_form_refuses(fields: dict, files: dict, reason: str) -> None:
    with pytest.raises(HttpError) as err:
        check_form(fields, files)
    assert err.value.status == 422 and reason in err.value.reason


def test_check_form_takes_explicit_formats() -> None:
    files = {
        "catalog": FilePart("catalog", "c.csv", b"a\n"),
        "orders": FilePart("orders", "o.csv", b"b\n"),
    }
    assert check_form({"store_id": "s", "orders_format": "online_retail"}, files) == "s"
    assert files["orders"].format == "online_retail" and files["catalog"].format is None


async def test_catalog_view_built_a_slice_at_a_time_matches_the_plain_build(monkeypatch) -> None:
    import agents.catalogs as catalogs

    monkeypatch.setattr(catalogs, "BUILD_SLICE", 2)  # several slices, each followed by a yield
    products = [_p("a"), _p("b", "EUR"), _p("a", "EUR"), _p("c", "EUR"), _p("d", "EUR")]
    plain = CatalogView.build("s", "u", products, "h")
    sliced = await CatalogView.build_async("s", "u", products, "h")
    assert sliced == plain and sliced.by_id["a"].currency == "USD" and sliced.currency == "EUR"
    given = await CatalogView.build_async("s", "u", products, "h", currency="JPY")
    assert given.currency == "JPY" and given.by_id == plain.by_id
    assert (await CatalogView.build_async("s", "u", [], "h")).currency == "USD"


def test_upload_status_document_accepted_then_done_or_error() -> None:
    """One builder for both writers (the view: accepted; the agent: done/error), byte for byte."""
    import orjson

    from agents.uploads import upload_status

    assert upload_status("u1", "s1") == '{"upload_id":"u1","store_id":"s1","status":"accepted"}'
    failed = error_bundle_set(_upload(), "no usable rows")
    assert orjson.loads(upload_status("u1", "s1", failed)) == {
        "upload_id": "u1",
        "store_id": "s1",
        "status": "error",
        "error": "no usable rows",
        "bundles": 0,
        "generated_at": failed.generated_at.isoformat(),
    }
    assert list(orjson.loads(upload_status("u1", "s1", failed))) == [
        "upload_id",
        "store_id",
        "status",
        "error",
        "bundles",
        "generated_at",
    ]
    done = failed.model_copy(update={"status": "ok", "error": None})
    assert orjson.loads(upload_status("u1", "s1", done))["status"] == "done"
