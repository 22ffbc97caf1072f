"""Worker subprocess harness for integration tests and the ingest benchmark.

Everything here talks to the real broker and Redis: start a ``bundlestream worker`` with given
Settings as its environment, wait until it serves /healthz with assigned partitions, stop it
gracefully or ``kill -9`` it; produce order events with aiokafka; read the final counts back from
the table changelog topics (latest value per key) or the Redis read model; wait with a bounded
timeout until the orders topic is fully consumed and committed; consume a dead-letter topic.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import functools
import gzip
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

import topics as registry
from core.settings import REPO_ROOT, Settings
from deploy.net import free_port
from deploy.topics_admin import delete_topics, ensure_topics
from models import DeadLetter, OrderEvent
from popularity.aggregate import SEP
from tests.shared_data import shared_data

ONLINE_RETAIL = shared_data("online_retail.csv.gz")
# Every worker a test starts gets this bootstrap admin key unless the test overrides it.
TEST_ADMIN_TOKEN = "bs-test-admin-0123456789abcdef"
SoldCounts = dict[tuple[str, str], tuple[int, int]]
CategoryCounts = dict[tuple[str, str], int]


# --------------------------------------------------------------------------------------------
# Data: a minimal Online Retail reader (the real parsers live in ``ingest``; tests need no more)
# --------------------------------------------------------------------------------------------


def category_of(description: str) -> str:
    """A coarse category from the product description's last word (HOLDER, LANTERN, MUG, ...)."""
    words = [w for w in description.upper().replace(",", " ").split() if w.isalpha()]
    return words[-1].lower() if words else "misc"


@functools.lru_cache(maxsize=4)
def online_retail_orders(
    limit: int, path: Path = ONLINE_RETAIL, store_by_country: bool = True
) -> tuple[OrderEvent, ...]:
    """The first ``limit`` invoices of UCI Online Retail as OrderEvents (store = country).

    Cancellations (invoice ``C...``), non-positive quantities and negative prices are skipped, the
    way a sales feed would never carry them. Rows of one invoice are contiguous in the file.
    """
    orders: list[OrderEvent] = []
    current: str | None = None
    rows: list[dict[str, str]] = []

    def flush() -> None:
        if not rows:
            return
        first = rows[0]
        store = (
            "or-" + first["Country"].lower().replace(" ", "-")
            if store_by_country
            else "online-retail"
        )
        lines = [
            {
                "product_id": r["StockCode"],
                "quantity": int(r["Quantity"]),
                "price": float(r["UnitPrice"]),
                "title": r["Description"][:200] or None,
                "category": category_of(r["Description"]),
            }
            for r in rows
        ]
        orders.append(
            OrderEvent.model_validate(
                {
                    "order_id": first["InvoiceNo"],
                    "store_id": store,
                    "lines": lines[:1000],
                    "currency": "GBP",
                    "created_at": first["InvoiceDate"].replace(" ", "T") + ":00+00:00"
                    if len(first["InvoiceDate"]) == 16
                    else first["InvoiceDate"],
                    "customer_id": first["CustomerID"] or None,
                    "source": "replay",
                }
            )
        )

    with gzip.open(path, "rt", encoding="utf-8", errors="replace", newline="") as handle:
        for row in csv.DictReader(handle):
            invoice = row["InvoiceNo"]
            if invoice.startswith("C") or not row["StockCode"]:
                continue
            try:
                if int(row["Quantity"]) <= 0 or float(row["UnitPrice"]) < 0:
                    continue
            except ValueError:
                continue
            if invoice != current:
                flush()
                rows = []
                current = invoice
                if len(orders) >= limit:
                    break
            rows.append(row)
        else:
            flush()
    return tuple(orders[:limit])


def with_duplicates(
    orders: Sequence[OrderEvent], every: int = 40, gap: int = 500
) -> list[OrderEvent]:
    """Re-deliver every ``every``-th order ``gap`` positions later (at-least-once webhooks).

    The copy carries changed quantities, so counting it would show, and ignoring it proves dedupe
    is on (store, order id) rather than on content.
    """
    out = list(orders)
    for index in range(0, len(orders), every):
        original = orders[index]
        copy = original.model_copy(
            update={
                "lines": [
                    line.model_copy(update={"quantity": line.quantity + 1})
                    for line in original.lines
                ]
            }
        )
        out.insert(min(len(out), index + gap + index // every), copy)
    return out


@contextlib.contextmanager
def isolated_topics(base: Settings, work_dir: Path, **overrides: Any) -> Iterator[Settings]:
    """``base`` with a unique topic prefix and app id (so its own topics, consumer group and
    changelogs), data and upload dirs under ``work_dir``; topics created, and deleted afterwards."""
    token = uuid.uuid4().hex[:12]
    settings = base.model_copy(
        update={
            "topic_prefix": f"t{token}",
            "app_id": f"app{token}",
            "data_dir": work_dir / "worker",
            "upload_store_dir": work_dir / "uploads",
            **overrides,
        }
    )
    try:
        ensure_topics(settings)
    except Exception as exc:
        pytest.fail(f"creating the test topics failed: {type(exc).__name__}: {exc}", pytrace=False)
    try:
        yield settings
    finally:
        for prefix in (
            settings.topic_prefix,
            settings.app_id,
        ):  # app_id: Faust changelog/repartition
            try:
                delete_topics(settings, prefix)
            except Exception as exc:
                print(f"[stack] deleting topics {prefix}* failed: {exc}")


@dataclass
class Workers:
    """Every worker a test starts; ``close()`` kills the ones still running (test teardown)."""

    started: list[Worker] = field(default_factory=list)

    def start(self, settings: Settings, name: str = "worker", **extra_env: str) -> Worker:
        worker = Worker(settings, name=name, extra_env=dict(extra_env)).start()
        self.started.append(worker)
        return worker

    def close(self) -> None:
        for worker in self.started:
            worker.stop(timeout_s=10)


# --------------------------------------------------------------------------------------------
# Worker subprocess
# --------------------------------------------------------------------------------------------


def _reveal(value: Any) -> Any:
    return value.get_secret_value() if hasattr(value, "get_secret_value") else value


def _env_value(value: Any) -> str:
    """A setting as pydantic-settings reads it back: containers as JSON, secrets revealed."""
    if isinstance(value, dict):
        return json.dumps({str(k): _reveal(v) for k, v in value.items()})
    if isinstance(value, (list, tuple, set)):
        return json.dumps([_reveal(v) for v in value])
    return str(_reveal(value))


def settings_env(settings: Settings, **overrides: Any) -> dict[str, str]:
    """The process environment that makes a worker read exactly ``settings`` (plus overrides)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BUNDLESTREAM_")}
    values = settings.model_dump()
    values.setdefault("admin_token", None)
    if values["admin_token"] is None:
        values["admin_token"] = TEST_ADMIN_TOKEN
    values.update(overrides)
    for name, value in values.items():
        if value is not None:
            env[f"BUNDLESTREAM_{name.upper()}"] = _env_value(value)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def admin_headers(token: str = TEST_ADMIN_TOKEN) -> dict[str, str]:
    """The Authorization header of the bootstrap admin key every test worker starts with."""
    return {"Authorization": f"Bearer {token}"}


def worker_command(loglevel: str = "info") -> list[str]:
    script = Path(sys.executable).with_name("bundlestream")
    if script.exists():
        return [sys.executable, str(script), "worker", "--loglevel", loglevel]
    return [sys.executable, "-m", "bundlestream.cli", "worker", "--loglevel", loglevel]


@dataclass
class Worker:
    """One ``bundlestream worker`` process with its own web port, data dir and log file."""

    settings: Settings
    name: str = "worker"
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    proc: subprocess.Popen | None = None
    log_path: Path | None = None
    data_dir: Path | None = None

    runs: int = 0
    started_at: float = 0.0

    def start(self) -> Worker:
        """Start the process. A second start (after ``stop`` or ``kill``) reuses the same port and
        data dir, so a RocksDB worker restarts on the state it left; each run gets its own log."""
        if self.alive():
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        self.port = self.port or free_port()
        if self.data_dir is None:
            self.data_dir = Path(tempfile.mkdtemp(prefix=f"bs-{self.name}-"))
        self.runs += 1
        self.log_path = self.data_dir / (
            "worker.log" if self.runs == 1 else f"worker-{self.runs}.log"
        )
        env = settings_env(self.settings, web_port=self.port, data_dir=self.data_dir / "faust")
        env.update(self.extra_env)
        log = open(self.log_path, "wb")  # noqa: SIM115 - the child owns it until it exits
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(
            worker_command(),
            cwd=str(REPO_ROOT),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        return self

    def restart(self, kill: bool = False, timeout_s: float = 30.0) -> Worker:
        """Stop cleanly (SIGTERM) or ``kill -9``, then start again on the same data dir and port."""
        if kill:
            self.kill()
        else:
            self.stop(timeout_s=timeout_s)
        return self.start()

    def recoveries(self) -> list[RecoveryRound]:
        """This run's table recoveries (one per rebalance), from Faust's own log tables."""
        assert self.log_path is not None
        return parse_recovery(self.log_path.read_text(errors="replace"))

    def recovery(self, since_round: int = 0) -> RecoveryFigures:
        """This run's recoveries from round ``since_round`` on, together."""
        return RecoveryFigures(self.recoveries()[since_round:])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, chars: int = 4000) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-chars:]

    def log_notable(self, lines: int = 25) -> str:
        """The log's last warnings, errors and upload lines: what a failed wait needs first (the
        plain tail is mostly Faust's recovery tables)."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        keep = [
            line
            for line in self.log_path.read_text(errors="replace").splitlines()
            if "[WARNING]" in line or "[ERROR]" in line or "upload" in line
        ]
        return "\n".join(line[:300] for line in keep[-lines:])

    async def stack_dump(self, wait_s: float = 2.0) -> str:
        """Every thread's and asyncio task's stack, as the worker prints them on SIGUSR1 (mode's
        Worker does), and its offset-commit bookkeeping (SIGUSR2): where a stalled worker waits,
        for a failed wait's message."""
        if self.log_path is None or not self.alive():
            return ""
        before = self.log_path.stat().st_size
        os.kill(self.pid, signal.SIGUSR1)
        os.kill(self.pid, signal.SIGUSR2)  # and Faust's commit bookkeeping (agents.health)
        await asyncio.sleep(wait_s)
        with self.log_path.open("rb") as log:
            log.seek(before)
            return log.read().decode(errors="replace")

    async def health(self) -> dict[str, Any] | None:
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
                async with session.get(self.url + "/healthz") as resp:
                    return await resp.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError, ValueError):
            return None

    async def wait_ready(self, timeout_s: float = 60.0, min_partitions: int = 1) -> dict[str, Any]:
        """Until /healthz answers ok with >= ``min_partitions`` assigned and no rebalance running."""
        deadline = time.monotonic() + timeout_s
        last: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode if self.proc else None}:\n"
                    f"{self.log_tail()}"
                )
            last = await self.health()
            if last and last.get("status") == "ok":
                checks = last.get("checks", {})
                # a topic still without metadata means the assignment is not complete yet
                if (
                    checks.get("assigned_partitions", 0) >= min_partitions
                    and not checks.get("rebalancing")
                    and not checks.get("topics_without_metadata")
                ):
                    return last
            await asyncio.sleep(0.3)
        raise TimeoutError(
            f"{self.name} not ready after {timeout_s:.0f} s (last /healthz: {last}):\n"
            f"{self.log_tail()}"
        )

    def kill(self) -> None:
        """``kill -9``: no shutdown, no flush, no commit."""
        if self.alive():
            os.killpg(self.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self, timeout_s: float = 30.0) -> int | None:
        """SIGTERM and wait; SIGKILL if it does not exit in time. Returns the exit code."""
        if self.proc is None:
            return None
        if self.alive():
            os.killpg(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        return self.proc.returncode

    def rss_bytes(self) -> int:
        """Current resident set size of the worker (from /proc), 0 when gone."""
        return proc_status_kb(self.pid, "VmRSS") * 1024 if self.alive() else 0

    def peak_rss_bytes(self) -> int:
        return proc_status_kb(self.pid, "VmHWM") * 1024 if self.alive() else 0


@dataclass(frozen=True)
class RecoveryRound:
    """One table recovery as Faust logs it: per changelog partition, the highwater (last offset)
    and the offset reading starts at (-1: from the beginning; else the offset the local store
    persisted). ``records_to_read`` is what this recovery had to replay from Kafka."""

    highwaters: dict[tuple[str, int], int]
    starts: dict[tuple[str, int], int]

    @property
    def records_to_read(self) -> int:
        return sum(max(0, hw - self.starts.get(tp, -1)) for tp, hw in self.highwaters.items())

    @property
    def changelog_records(self) -> int:
        """Records in the changelog partitions this round recovered (what a replay from 0 reads)."""
        return sum(hw + 1 for hw in self.highwaters.values() if hw >= 0)

    @property
    def from_zero(self) -> list[tuple[str, int]]:
        """Non-empty changelog partitions this round read from the beginning (no local state)."""
        return sorted(
            tp for tp, hw in self.highwaters.items() if hw >= 0 and self.starts.get(tp, -1) < 0
        )


@dataclass(frozen=True)
class RecoveryFigures:
    """Every recovery of one worker run together (a start can take several rebalances)."""

    rounds: list[RecoveryRound]

    @property
    def records_read(self) -> int:
        return sum(r.records_to_read for r in self.rounds)

    @property
    def changelog_records(self) -> int:
        return max((r.changelog_records for r in self.rounds), default=0)

    @property
    def from_zero(self) -> list[tuple[str, int]]:
        return sorted({tp for r in self.rounds for tp in r.from_zero})


@contextlib.contextmanager
def ready_worker(settings: Settings, name: str) -> Iterator[Worker]:
    """A worker serving at least one partition for the block; on the way out it is stopped and
    its log's tail printed (what a failing module's report needs)."""
    worker = Worker(settings, name=name).start()
    try:
        asyncio.run(worker.wait_ready(timeout_s=90, min_partitions=1))
        yield worker
    finally:
        code = worker.stop()
        print(f"worker exit {code}; log tail:\n{worker.log_tail(3000)}")


def _log_table(lines: list[str], start: int) -> dict[tuple[str, int], int]:
    """Rows of one of Faust's box-drawn log tables (``| topic | partition | n |``, ditto marks)."""
    rows: dict[tuple[str, int], int] = {}
    topic = ""
    for line in lines[start + 1 :]:
        if line.startswith("+") and rows:
            break
        if not line.startswith("|"):
            if line.startswith("+"):
                continue
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[1].lstrip("-").isdigit():
            continue  # the header row
        topic = topic if cells[0] == "\u3003" else cells[0]
        rows[(topic, int(cells[1]))] = int(cells[2])
    return rows


def parse_recovery(log_text: str) -> list[RecoveryRound]:
    """Every active-table recovery in a worker log, in order (see :class:`RecoveryRound`)."""
    lines = log_text.splitlines()
    rounds: list[RecoveryRound] = []
    highwaters: dict[tuple[str, int], int] | None = None
    for index, line in enumerate(lines):
        if line.startswith("+Highwater - Active"):
            highwaters = _log_table(lines, index)
        elif line.startswith("+Reading Starts At - Active") and highwaters is not None:
            rounds.append(RecoveryRound(highwaters, _log_table(lines, index)))
            highwaters = None
    return rounds


def proc_status_kb(pid: int, field_name: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0


# --------------------------------------------------------------------------------------------
# Kafka: produce, read changelogs, wait for consumption, dead letters
# --------------------------------------------------------------------------------------------


def orders_topic(settings: Settings) -> str:
    return registry.ORDERS.name(settings.topic_prefix)


def orders_dlq_topic(settings: Settings) -> str:
    return registry.ORDERS_DLQ.name(settings.topic_prefix)


def changelog_topic(settings: Settings, table: str) -> str:
    return f"{settings.app_id}-{table}-changelog"


@dataclass(frozen=True)
class Produced:
    key: bytes | None
    value: bytes | None
    partition: int
    offset: int


def producer(settings: Settings, **kwargs: Any) -> AIOKafkaProducer:
    # idempotent: a retried batch (leader change, too few in-sync replicas) is written once
    opts: dict[str, Any] = {
        "linger_ms": 5,
        "max_batch_size": 512 * 1024,
        "acks": "all",
        "enable_idempotence": True,
    }
    opts.update(kwargs)
    return AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, **opts)


async def produce_raw(
    settings: Settings,
    records: Iterable[tuple[bytes | None, bytes | None]],
    topic: str | None = None,
    chunk: int = 2000,
) -> list[Produced]:
    """Send (key, value) records in order; returns where each one landed."""
    topic = topic or orders_topic(settings)
    out: list[Produced] = []
    prod = producer(settings)
    await prod.start()
    try:
        pending: list[tuple[bytes | None, bytes | None, asyncio.Future]] = []
        for key, value in records:
            pending.append((key, value, await prod.send(topic, key=key, value=value)))
            if len(pending) >= chunk:
                out.extend(await _settle(pending))
                pending = []
        out.extend(await _settle(pending))
    finally:
        await prod.stop()
    return out


async def _settle(
    pending: list[tuple[bytes | None, bytes | None, asyncio.Future]],
) -> list[Produced]:
    metas = await asyncio.gather(*(fut for _, _, fut in pending))
    return [Produced(k, v, m.partition, m.offset) for (k, v, _), m in zip(pending, metas)]


def order_record(order: OrderEvent) -> tuple[bytes, bytes]:
    return order.store_id.encode(), order.to_bytes()


async def produce_orders(
    settings: Settings,
    orders: Iterable[OrderEvent],
    rate_per_s: float | None = None,
    chunk: int = 500,
) -> list[Produced]:
    """Publish orders keyed by store; with ``rate_per_s``, paced in chunks (for mid-stream crashes)."""
    if rate_per_s is None:
        return await produce_raw(settings, (order_record(o) for o in orders))
    out: list[Produced] = []
    batch: list[tuple[bytes, bytes]] = []
    started = time.monotonic()
    sent = 0
    for order in orders:
        batch.append(order_record(order))
        if len(batch) >= chunk:
            out.extend(await produce_raw(settings, batch))
            sent += len(batch)
            batch = []
            ahead = sent / rate_per_s - (time.monotonic() - started)
            if ahead > 0:
                await asyncio.sleep(ahead)
    if batch:
        out.extend(await produce_raw(settings, batch))
    return out


async def end_offsets(settings: Settings, topic: str) -> dict[int, int]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False
    )
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(topic)
        if parts is None:
            await consumer._client.force_metadata_update()
            parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        ends = await consumer.end_offsets(tps) if tps else {}
        return {tp.partition: off for tp, off in ends.items()}
    finally:
        await consumer.stop()


async def read_topic(settings: Settings, topic: str, timeout_s: float = 60.0) -> list[Any]:
    """Every record of ``topic`` from the beginning to the end offsets seen at the start."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(topic)
        if not parts:
            await consumer._client.force_metadata_update()
            parts = consumer.partitions_for_topic(topic)
        if not parts:
            return []
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        records: list[Any] = []
        deadline = time.monotonic() + timeout_s
        while True:
            behind = [tp for tp in tps if await consumer.position(tp) < ends[tp]]
            if not behind:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"reading {topic} did not reach its end offsets in {timeout_s:.0f} s"
                )
            batch = await consumer.getmany(*tps, timeout_ms=500, max_records=50_000)
            for msgs in batch.values():
                records.extend(msgs)
        return records
    finally:
        await consumer.stop()


async def read_table(settings: Settings, table: str) -> dict[str, Any]:
    """Latest value per key of a table's changelog (JSON keys and values; tombstones delete)."""
    latest: dict[str, Any] = {}
    for record in await read_topic(settings, changelog_topic(settings, table)):
        key = orjson.loads(record.key)
        if record.value is None:
            latest.pop(key, None)
        else:
            latest[key] = orjson.loads(record.value)
    return latest


async def changelog_counts(settings: Settings) -> tuple[SoldCounts, CategoryCounts]:
    """(store, product) -> (units, orders) and (store, category) -> orders, from the changelogs."""
    sold_raw = await read_table(settings, "sold-counts")
    cats_raw = await read_table(settings, "category-transactions")
    sold = {tuple(k.split(SEP)): (v[0], v[1]) for k, v in sold_raw.items()}
    cats = {tuple(k.split(SEP)): v[0] for k, v in cats_raw.items()}
    return sold, cats  # type: ignore[return-value]


async def redis_counts(
    settings: Settings, stores: Iterable[str]
) -> tuple[SoldCounts, CategoryCounts]:
    """The same counts as the Redis read model shows them (what HTTP readers see)."""
    import redis.asyncio as aioredis

    client = aioredis.from_url(settings.redis_url, decode_responses=True)
    sold: SoldCounts = {}
    cats: CategoryCounts = {}
    try:
        for store in stores:
            prefix = settings.topic_prefix
            orders = dict(await client.zrange(f"{prefix}:pop:{store}", 0, -1, withscores=True))
            units = dict(await client.zrange(f"{prefix}:units:{store}", 0, -1, withscores=True))
            for product, n in orders.items():
                sold[(store, product)] = (int(units.get(product, 0)), int(n))
            for category, n in (await client.hgetall(f"{prefix}:cattx:{store}")).items():
                cats[(store, category)] = int(n)
    finally:
        await client.aclose()
    return sold, cats


async def group_committed(settings: Settings, topic: str) -> dict[int, int]:
    """Committed offsets of the worker's consumer group (``app_id``) on ``topic``."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(settings.app_id)
        return {
            tp.partition: meta.offset
            for tp, meta in offsets.items()
            if tp.topic == topic and meta.offset >= 0
        }
    finally:
        await admin.close()


async def wait_consumed(
    settings: Settings,
    timeout_s: float = 90.0,
    topic: str | None = None,
    workers: Sequence[Worker] = (),
) -> float:
    """Until the group committed every partition of ``topic`` to its end offset; seconds waited.

    A Faust commit flushes the producer first, so once the input is committed every table write
    it caused is on the changelog. Fails (with the workers' log tails) on timeout or a dead worker.
    """
    topic = topic or orders_topic(settings)
    started = time.monotonic()
    deadline = started + timeout_s
    ends = {p: off for p, off in (await end_offsets(settings, topic)).items() if off > 0}
    committed: dict[int, int] = {}
    while time.monotonic() < deadline:
        for worker in workers:
            if not worker.alive():
                raise RuntimeError(f"{worker.name} died:\n{worker.log_tail()}")
        committed = await group_committed(settings, topic)
        if all(committed.get(p, 0) >= off for p, off in ends.items()):
            return time.monotonic() - started
        await asyncio.sleep(0.5)
    parts = []
    for w in workers:
        parts.append(f"--- {w.name} ({w.log_path})\n{w.log_notable()}\n{w.log_tail(2000)}")
        parts.append(f"--- {w.name}: stacks\n{await w.stack_dump()}")
    tails = "\n".join(parts)
    raise TimeoutError(
        f"{topic} not consumed in {timeout_s:.0f} s: end {ends}, committed {committed}\n{tails}"
    )


async def dead_letters(settings: Settings) -> list[tuple[Any, DeadLetter]]:
    """Every dead letter on the orders DLQ, with its Kafka record."""
    return [
        (r, DeadLetter.model_validate(orjson.loads(r.value)))
        for r in await read_topic(settings, orders_dlq_topic(settings))
    ]


def diff_counts(actual: dict, expected: dict, limit: int = 10) -> str:
    """A short human-readable difference of two count maps (empty when equal)."""
    lines: list[str] = []
    for key in sorted(set(actual) | set(expected), key=str):
        if actual.get(key) != expected.get(key):
            lines.append(f"{key}: got {actual.get(key)}, want {expected.get(key)}")
    extra = f" (+{len(lines) - limit} more)" if len(lines) > limit else ""
    return f"{len(lines)} keys differ{extra}:\n" + "\n".join(lines[:limit]) if lines else ""
