"""Bounded checks of the upload request path: a prefix is parsed, the rest only counted."""

from __future__ import annotations

import gzip
import time

import pytest

from ingest import uploads
from ingest.errors import IngestError
from ingest.limits import LimitExceeded, Limits
from ingest.uploads import check_upload_file, decompressed_prefix

PREFIX = 64 * 1024
HEADER = b"product_id,title,price\n"


def check(
    data: bytes, kind: str = "catalog", fmt: str | None = None, limits: Limits | None = None
) -> str:
    return check_upload_file(data, kind, fmt, name="f.csv", prefix_bytes=PREFIX, limits=limits)


def test_prefix_is_cut_after_the_last_full_line() -> None:
    data = HEADER + b"".join(b"p%d,title,1\n" % i for i in range(20_000))
    head = decompressed_prefix(data, "f.csv", 1000)
    assert len(head) <= 1000 and head.endswith(b"\n") and head.startswith(HEADER)
    assert decompressed_prefix(gzip.compress(data), "f.csv.gz", 1000) == head
    assert decompressed_prefix(b"a,b\n1,2\n", "f.csv", 1000) == b"a,b\n1,2\n"


def test_a_big_catalog_is_checked_without_parsing_it_all(monkeypatch: pytest.MonkeyPatch) -> None:
    data = HEADER + b"".join(b"p%d,a fine title,1.50\n" % i for i in range(400_000))
    parsed: list[int] = []
    real = uploads.parse_catalog

    def spy(head: bytes, *args: object, **kwargs: object) -> object:
        parsed.append(len(head))
        return real(head, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(uploads, "parse_catalog", spy)
    assert check(data) == "generic"
    # only the prefix is parsed; the rest is only counted (a full parse takes seconds)
    assert parsed and max(parsed) <= PREFIX < len(data)


def test_gzip_bomb_of_valid_rows_is_a_413_naming_the_limit_within_seconds() -> None:
    body = HEADER + b"p1,a title,1.00\n" * (4 * 1024 * 1024)  # 64 MiB of valid rows
    bomb = gzip.compress(body, 9)
    started = time.perf_counter()
    with pytest.raises(LimitExceeded) as info:
        check(bomb, limits=Limits(max_decompressed_bytes=16 * 1024 * 1024))
    assert time.perf_counter() - started < 5
    assert info.value.limit == "max_decompressed_bytes" and info.value.http_status == 413


def test_a_million_column_header_is_refused_from_the_prefix() -> None:
    header = b",".join(b"column%d" % i for i in range(1_000_000)) + b"\n"
    with pytest.raises(LimitExceeded) as info:
        check(header + b"1,2,3\n")
    assert info.value.limit == "max_columns" and info.value.http_status == 422


def test_a_single_100mb_line_is_a_clear_refusal() -> None:
    line = b"9" * (100 * 1024 * 1024) + b"\n"
    orders = b"order_id,product_id,quantity,price,created_at\n"
    for kind, data in (("catalog", HEADER + b"p1,t," + line), ("orders", orders + b"o1," + line)):
        started = time.perf_counter()
        with pytest.raises(IngestError, match="line 2 is longer than upload_prefix_bytes=65536"):
            check(gzip.compress(data, 1), kind)
        assert time.perf_counter() - started < 10


def test_orders_get_a_header_check_only() -> None:
    orders = b"order_id,product_id,quantity,price,created_at\n" + b"o1,p1,1,2,2024-01-01\n" * 10
    assert check(orders, "orders") == "generic"
    with pytest.raises(IngestError, match="unrecognised orders"):
        check(b"when,what\nx,y\n", "orders")


def test_explicit_format_with_missing_columns_is_refused() -> None:
    with pytest.raises(IngestError, match="missing required column"):
        check(b"Handle,Title\nh,t\n", fmt="generic")


def test_binary_and_corrupt_gzip_are_refused() -> None:
    with pytest.raises(IngestError, match="binary content"):
        check(b"\x89PNG\r\n\x1a\n\x00\x00" + bytes(range(256)))
    with pytest.raises(IngestError):
        check(gzip.compress(HEADER + b"p1,t,1\n" * 100_000)[:-5000])
