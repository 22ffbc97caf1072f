"""Upload events (inline vs by reference, traversal refused) and the publisher with a fake producer."""

from __future__ import annotations

import asyncio
import gzip
import itertools
from pathlib import Path

import pytest

from bundlestream.cli import build_parser, main
from core.settings import Settings
from ingest import IngestError, read_orders
from ingest.publisher import producer_config, publish_orders
from ingest.uploads import build_upload_event, resolve_upload_file
from models import UploadEvent, UploadFile


@pytest.fixture
def settings(tmp_path):
    return Settings(
        upload_store_dir=tmp_path / "store", inline_upload_bytes=10_000, topic_prefix="t"
    )


def online_retail_sample(data_dir, folder, rows: int) -> Path:
    """The header and first ``rows`` rows of UCI Online Retail, gzipped under its own name: real
    data, far above the inline limit, and quick to parse."""
    with gzip.open(data_dir / "online_retail.csv.gz", "rb") as full:
        head = b"".join(itertools.islice(full, rows + 1))
    sample = folder / "online_retail.csv.gz"
    sample.write_bytes(gzip.compress(head))
    return sample


def test_small_files_inline_large_by_reference(data_dir, settings, tmp_path):
    large = online_retail_sample(data_dir, tmp_path, rows=2_000)
    assert large.stat().st_size > settings.inline_upload_bytes
    event = build_upload_event(
        "s1",
        data_dir / "shopify" / "apparel.csv",
        None,
        large,
        None,
        settings,
    )
    catalog, orders = event.files
    assert (catalog.kind, catalog.format, catalog.uri) == ("catalog", "shopify_products", None)
    assert catalog.inline_text.startswith("Handle,Title")
    assert (orders.kind, orders.format, orders.inline_text) == ("orders", "online_retail", None)
    assert orders.uri.startswith("file://") and orders.uri.endswith(f"{orders.sha256}.csv.gz")
    assert resolve_upload_file(orders, settings) == large.read_bytes()
    assert (
        resolve_upload_file(catalog, settings)
        == (data_dir / "shopify" / "apparel.csv").read_bytes()
    )
    again = UploadEvent.from_bytes(event.to_bytes())  # survives the topic round trip
    assert again.files[1].uri == orders.uri
    events, report = read_orders(
        resolve_upload_file(orders, settings), orders.format, name=orders.filename
    )
    assert report.rows == 2_000 and report.accounted
    assert events == read_orders(large, "online_retail")[0] and len(events) > 50


def test_unusable_upload_refused_before_any_topic(tmp_path, settings):
    junk = tmp_path / "junk.csv"
    junk.write_text("a,b\n1,2\n")
    with pytest.raises(IngestError, match="unrecognised catalog"):
        build_upload_event("s1", junk, None, None, None, settings)
    with pytest.raises(IngestError, match="no such file"):
        build_upload_event("s1", tmp_path / "nope.csv", None, None, None, settings)


@pytest.mark.parametrize(
    "uri",
    [
        "file:///etc/passwd",
        "http://example.com/x.csv",
        "file://evil.host/x.csv",
        "STORE/../outside.csv",
    ],
)
def test_resolve_refuses_uris_outside_the_store(tmp_path, settings, uri):
    (tmp_path / "outside.csv").write_text("secret")
    uri = uri.replace("STORE", (settings.upload_store_dir).as_uri())
    with pytest.raises(IngestError, match="refusing"):
        resolve_upload_file(UploadFile(kind="orders", format="generic", uri=uri), settings)


def test_resolve_checks_sha256(data_dir, settings):
    # publishing now checks the header against the format, so the orders file must be one
    event = build_upload_event(
        "s1",
        data_dir / "shopify" / "apparel.csv",
        None,
        data_dir / "olist" / "olist_order_items_dataset.csv.gz",
        "olist",
        settings,
    )
    ref = event.files[1]
    tampered = ref.model_copy(update={"sha256": "0" * 64})
    with pytest.raises(IngestError, match="sha256"):
        resolve_upload_file(tampered, settings)


class FakeProducer:
    def __init__(self):
        self.sent: list[tuple[str, bytes, bytes]] = []
        self.flushed = False

    async def send(self, topic, value, key):
        self.sent.append((topic, key, value))
        fut = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return fut

    async def flush(self):
        self.flushed = True


async def test_publish_orders_keys_values_limit_and_progress(data_dir, settings):
    events, _ = read_orders(data_dir / "shopify" / "orders_export.csv", store_id="snow")
    producer, seen = FakeProducer(), []
    stats = await publish_orders(
        settings, events, producer=producer, limit=10, progress=seen.append
    )
    assert stats.sent == 10 and producer.flushed
    assert {t for t, _, _ in producer.sent} == {"t.orders"}
    assert {k for _, k, _ in producer.sent} == {b"snow"}
    assert producer.sent[0][2] == events[0].to_bytes()
    assert seen and seen[-1].sent == 10


def test_producer_config_is_safe_and_batched(settings):
    cfg = producer_config(settings)
    assert cfg["acks"] == "all" and cfg["enable_idempotence"] is True and cfg["linger_ms"] == 20
    assert cfg["compression_type"] in {"lz4", "gzip"}


def test_cli_registers_publish_and_reports_unusable_files(tmp_path, capsys):
    args = build_parser().parse_args(
        ["publish", "orders", "x.csv", "--format", "olist", "--limit", "5"]
    )
    assert args.format == "olist" and args.limit == 5 and callable(args.handler)
    args = build_parser().parse_args(
        ["publish", "upload", "--store", "s", "--catalog", "c.csv", "--orders", "o.csv"]
    )
    assert args.store == "s" and callable(args.handler)
    bad = tmp_path / "bad.csv"
    bad.write_text("hello,world\n1,2\n")
    assert main(["publish", "orders", str(bad)]) == 2
    assert "unrecognised orders CSV" in capsys.readouterr().err
