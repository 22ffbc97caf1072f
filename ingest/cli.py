"""``bundlestream publish orders|upload``: replay order histories and submit uploads to Kafka.

Parsing errors are the user's to fix, so they print plainly with line numbers and exit 2;
bad rows never stop a replay, they are counted and the first ten shown in the summary.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from .errors import IngestError
from .orders import ORDER_FORMATS, OrderStream
from .report import IngestReport


def register(sub: argparse._SubParsersAction) -> None:
    publish = sub.add_parser("publish", help="Publish order histories or store uploads to Kafka.")
    what = publish.add_subparsers(dest="publish_command", required=True)

    orders = what.add_parser(
        "orders", help="Replay an order-history CSV as OrderEvents on the orders topic."
    )
    orders.add_argument(
        "file",
        type=Path,
        help="CSV or CSV.gz (Online Retail, Olist order items, Shopify orders export, generic)",
    )
    orders.add_argument(
        "--format", choices=ORDER_FORMATS, default=None, help="default: detected from the header"
    )
    orders.add_argument(
        "--store", default=None, help="store id (default: settings.default_store_id)"
    )
    orders.add_argument("--limit", type=int, default=None, help="stop after N events")
    orders.add_argument(
        "--rate",
        type=float,
        default=None,
        help="max events per second (default: as fast as possible)",
    )
    orders.add_argument(
        "--compression",
        choices=("lz4", "gzip", "none"),
        default=None,
        help="producer compression (default: lz4 when available, else gzip)",
    )
    orders.add_argument(
        "--olist-products",
        type=Path,
        default=None,
        help="Olist products file for categories (default: olist_products_dataset.csv[.gz] beside FILE)",
    )
    orders.add_argument(
        "--olist-translation",
        type=Path,
        default=None,
        help="category translation file (default: product_category_name_translation.csv[.gz] beside FILE)",
    )
    orders.set_defaults(handler=_publish_orders)

    upload = what.add_parser(
        "upload", help="Submit a store upload (catalog + orders) to the uploads topic."
    )
    upload.add_argument("--store", required=True)
    upload.add_argument("--catalog", type=Path, required=True)
    upload.add_argument("--catalog-format", choices=("generic", "shopify_products"), default=None)
    upload.add_argument("--orders", type=Path, default=None)
    upload.add_argument("--orders-format", choices=ORDER_FORMATS, default=None)
    upload.set_defaults(handler=_publish_upload)


def _sibling(path: Path, stem: str) -> Path | None:
    for name in (f"{stem}.csv.gz", f"{stem}.csv"):
        if (path.parent / name).is_file():
            return path.parent / name
    return None


class _Progress:
    """One stderr line, rewritten at most ~4x a second."""

    def __init__(self, report: IngestReport) -> None:
        self.report = report
        self.tty = sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, stats) -> None:
        now = time.perf_counter()
        if now - self.last < 0.25 and self.last:
            return
        self.last = now
        line = (
            f"sent {stats.sent:,} events  {stats.rate:,.0f} ev/s  "
            f"bad rows {self.report.bad_row_count:,}  skipped rows {self.report.skipped_rows:,}"
        )
        sys.stderr.write(("\r" + line + "   ") if self.tty else line + "\n")
        sys.stderr.flush()


def _publish_orders(args: argparse.Namespace) -> int:
    from core.settings import get_settings

    from .olist import load_categories
    from .publisher import publish_orders

    settings = get_settings()
    store = args.store or settings.default_store_id
    try:
        categories = None
        products = args.olist_products or _sibling(args.file, "olist_products_dataset")
        fmt = args.format
        stream = OrderStream(args.file, fmt, store_id=store, adjustments=True)
        if stream.format == "olist" and products is not None:
            stream.table.close()
            translation = args.olist_translation or _sibling(
                args.file, "product_category_name_translation"
            )
            categories = load_categories(products, translation)
            stream = OrderStream(
                args.file, "olist", store_id=store, categories=categories, adjustments=True
            )
    except IngestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from aiokafka.errors import KafkaError, UnknownTopicOrPartitionError

    progress = _Progress(stream.report)
    try:
        stats = asyncio.run(
            publish_orders(
                settings,
                stream,
                limit=args.limit,
                rate=args.rate,
                progress=progress,
                compression=args.compression,
            )
        )
    except IngestError as exc:
        print(f"\nerror: {exc}", file=sys.stderr)
        return 2
    except UnknownTopicOrPartitionError:
        print(
            f"\nerror: topic {settings.topic_prefix}.orders does not exist (topics are never auto-created; "
            "run `bundlestream topics create`)",
            file=sys.stderr,
        )
        return 1
    except (KafkaError, OSError) as exc:
        print(
            f"\nerror: cannot publish to Kafka at {settings.kafka_bootstrap}: {exc!r}",
            file=sys.stderr,
        )
        return 1
    report = stream.report
    if progress.tty:
        sys.stderr.write("\n")
    print(
        f"{stats.sent:,} events sent to {settings.topic_prefix}.orders (store {store}, format {stream.format}) "
        f"in {stats.seconds:.1f} s, {stats.rate:,.0f} ev/s"
    )
    print(f"events by kind: {stats.kinds}")
    print(
        f"rows {report.rows:,}: in events {report.used_rows:,}, skipped {report.skipped_rows:,} "
        f"{dict(report.skipped)}, bad {report.bad_row_count:,}"
    )
    if report.skipped_orders:
        print(
            f"orders skipped: {dict(report.skipped_orders)}; split (over 1000 lines): {report.split_orders}"
        )
    if report.bad_row_count:
        print(f"bad rows by reason: {dict(report.bad_by_reason)}")
        for bad in report.bad_rows[:10]:
            print(f"  {bad.file}:{bad.line}: {bad.reason}")
    if report.warnings_by_reason:
        print(f"warnings: {dict(report.warnings_by_reason)}")
    return 0


def _publish_upload(args: argparse.Namespace) -> int:
    from aiokafka import AIOKafkaProducer

    from core.settings import get_settings
    from topics import UPLOADS

    from .publisher import producer_config
    from .uploads import build_upload_event

    settings = get_settings()
    try:
        event = build_upload_event(
            args.store, args.catalog, args.catalog_format, args.orders, args.orders_format, settings
        )
    except IngestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    async def send() -> None:
        producer = AIOKafkaProducer(**producer_config(settings))
        await producer.start()
        try:
            await producer.send_and_wait(
                UPLOADS.name(settings.topic_prefix),
                value=event.to_bytes(),
                key=event.store_id.encode("utf-8"),
            )
        finally:
            await producer.stop()

    from aiokafka.errors import KafkaError

    try:
        asyncio.run(send())
    except (KafkaError, OSError) as exc:
        print(
            f"error: cannot publish to Kafka at {settings.kafka_bootstrap}: {exc!r}",
            file=sys.stderr,
        )
        return 1
    for f in event.files:
        where = "inline" if f.inline_text is not None else f.uri
        print(f"{f.kind}: {f.filename} ({f.format}, {f.size_bytes:,} bytes) {where}")
    print(
        f"upload {event.upload_id} for store {event.store_id} sent to {UPLOADS.name(settings.topic_prefix)}"
    )
    return 0
