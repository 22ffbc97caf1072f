"""Generic catalog rows that skip the model's validator (``ingest.catalog._valid_as_is``) must
give exactly what validating them gives, and rows the validator refuses must never skip it."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ingest.catalog as C
from ingest.catalog import parse_catalog
from models.catalog import Product
from tests.examples import examples

HEADER = ["product_id", "title", "price", "category", "tags", "cost", "inventory", "rating"]
HEADER += ["currency", "status", "subscription", "description", "created_at", "image_url"]
HEADER += ["partner_name"]

# cells near every constraint the fast path relies on, valid and invalid; no NUL byte (the file
# would be binary) and no lone surrogate (a file is UTF-8: its cells never hold one)
CHARS = st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",))
IDS = st.one_of(
    st.text(CHARS, max_size=5),
    st.sampled_from(["a" * 200, "b" * 201, " x ", "\u3000y\u3000", "\x1cz\x1f", "=1+2", "@q"]),
)
NUMBERS = st.sampled_from(["", "0", "-0", "2.5", "-1", "1e9", "1e10", "nan", "inf", "1,000", "x"])
RATINGS = st.sampled_from(["", "0", "5", "5.0001", "-0.1", "4.5", "nan", "1e9"])
CURRENCIES = st.sampled_from(["", "usd", "EUR", "US", "USDX", "ÉUR", "gbp", "E1R", "chf "])
TEXT = st.text(CHARS, max_size=8)


def _row(draw: st.DrawFn) -> list[str]:
    return [
        draw(IDS),
        draw(st.one_of(TEXT, st.just("t" * 600), st.just("=cmd()"))),
        draw(NUMBERS),
        draw(st.one_of(TEXT, st.just("c" * 300))),
        draw(st.one_of(TEXT, st.just(",".join(["t"] * 120)))),
        draw(NUMBERS),
        draw(st.sampled_from(["", "3", "-2", "2.0", "2.5", "9" * 30])),
        draw(RATINGS),
        draw(CURRENCIES),
        draw(st.sampled_from(["", "Active", "draft", "s" * 40])),
        draw(st.sampled_from(["", "yes", "0"])),
        draw(st.sampled_from(["", "<p>Plain</p>", "d" * 30])),
        draw(st.sampled_from(["", "", "2024-01-02", "bad date"])),
        draw(st.sampled_from(["", "", "https://x.test/a.png", "ftp://x"])),
        draw(st.sampled_from(["", "", "", "Acme Ltd"])),
    ]


@st.composite
def catalogs(draw: st.DrawFn) -> bytes:
    rows = draw(st.lists(st.composite(_row)(), min_size=1, max_size=25))
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(HEADER)
    writer.writerows(rows)
    return buf.getvalue().encode()


def _state(product: Product) -> tuple[object, ...]:
    return (
        list(product.__dict__.items()),
        product.__pydantic_fields_set__,
        product.__pydantic_extra__,
        product.__pydantic_private__,
        product.model_dump_json(),
    )


@settings(max_examples=examples(200), deadline=None)
@given(catalogs())
def test_rows_parse_as_if_validated(data):
    fast = parse_catalog(data, "generic")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(C, "MAX_ID", -1)  # no id is short enough: every row goes to the validator
        slow = parse_catalog(data, "generic")
    assert [_state(p) for p in fast.products] == [_state(p) for p in slow.products]
    timing = {"parse_ms"}
    assert {k: v for k, v in vars(fast.report).items() if k not in timing} == {
        k: v for k, v in vars(slow.report).items() if k not in timing
    }
    for product in fast.products:  # and each one is what the validator makes of its fields
        fields = {k: v for k, v in product.__dict__.items() if k in product.model_fields_set}
        assert _state(Product.model_validate(fields)) == _state(product)


def test_the_fast_path_is_taken():
    data = b"product_id,title,price,rating,currency\nA1,Mug,2.5,4,eur\nA2,Cup,1,,\n"
    with pytest.MonkeyPatch.context() as mp:
        calls = []
        real = C._valid_as_is
        mp.setattr(C, "_valid_as_is", lambda d: calls.append(d) or real(d))
        products = parse_catalog(data, "generic").products
    assert len(calls) == 2 and [p.currency for p in products] == ["EUR", "USD"]


def test_the_model_still_has_the_constraints_the_fast_path_checks():
    """A new or changed constraint on ``Product`` must reach ``_valid_as_is``'s checks too."""
    from ingest.cells import MAX_NUMBER

    fields = Product.model_fields
    (product_id,) = fields["product_id"].metadata
    assert (product_id.min_length, product_id.max_length) == (1, C.MAX_ID)
    assert [repr(m) for m in fields["rating"].metadata] == ["Ge(ge=0)", "Le(le=5)"]
    assert [m.pattern for m in fields["currency"].metadata] == ["^[A-Z]{3}$"]
    money = ["Ge(ge=0)", f"Le(le={MAX_NUMBER})", "AllowInfNan(allow_inf_nan=False)"]
    assert [repr(m) for m in fields["price"].metadata] == money
    limits = {k: [repr(m) for m in fields[k].metadata] for k in ("title", "category", "tags")}
    limits |= {k: [repr(m) for m in fields[k].metadata] for k in ("description", "status")}
    assert limits == {
        "title": ["MaxLen(max_length=500)"],
        "category": ["MaxLen(max_length=200)"],
        "tags": ["MaxLen(max_length=100)"],
        "description": ["MaxLen(max_length=20000)"],
        "status": ["MaxLen(max_length=32)"],
    }
    # optional fields (cost, image_url) keep their constraints inside the union, not here
    constrained = {k for k, f in fields.items() if f.metadata}
    assert constrained == {"product_id", "rating", "currency", "price", *limits}
