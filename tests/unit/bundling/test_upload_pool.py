"""The upload process pool: hard deadline, recovery after a kill, and the upload job itself."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time

import pytest

from bundling.upload_pool import DeadlineExceeded, DeadlinePool, UploadJob, probe, run_upload
from ingest.limits import Limits
from models import Product, UploadEvent, UploadFile

CATALOG = "product_id,title,price,category\n" + "".join(
    f"p{i},Item {i},{i + 1}.50,cat{i % 3}\n" for i in range(12)
)
ORDERS = "order_id,product_id,quantity,price,created_at\n" + "".join(
    f"o{k},p{k % 12},1,2.0,2024-01-0{1 + k % 9}\no{k},p{(k + 1) % 12},1,3.0,2024-01-0{1 + k % 9}\n"
    for k in range(60)
)


def _job(catalog: str = CATALOG, limits: Limits | None = None, tmp_path=None) -> UploadJob:
    upload = UploadEvent(
        upload_id="u1",
        store_id="s1",
        files=[
            UploadFile(kind="catalog", format="generic", inline_text=catalog),
            UploadFile(kind="orders", format="generic", inline_text=ORDERS),
        ],
    )
    return UploadJob(
        upload=upload.to_bytes(),
        tallies={},
        rolling_costs=None,
        limits=limits or Limits(),
        upload_store_dir=str(tmp_path or "."),
    )


@pytest.fixture(scope="module")
def pool():
    pool = DeadlinePool(1, 5.0)
    for future in pool.start():
        future.result(timeout=60)
    yield pool
    pool.close()


async def test_a_task_past_the_deadline_is_killed_and_the_pool_keeps_working(
    pool: DeadlinePool,
) -> None:
    first = await pool.run(probe)
    started = time.perf_counter()
    with pytest.raises(DeadlineExceeded) as info:
        await pool.run(probe, 30.0, deadline_s=0.5)
    assert time.perf_counter() - started < 5  # killed at the deadline, not after the 30 s task
    assert "upload_deadline_s=0.5" in str(info.value)
    replacement = await pool.run(probe)
    assert replacement != first  # the overrunning child was replaced by a fresh one
    assert await pool.run(probe) == replacement


async def test_the_event_loop_stays_free_while_a_child_works(pool: DeadlinePool) -> None:
    task = asyncio.ensure_future(pool.run(probe, 1.0))
    ticks = 0
    while not task.done():
        await asyncio.sleep(0.01)
        ticks += 1
    await task
    assert ticks > 20


async def test_run_upload_in_the_pool_returns_bundles_costs_and_the_catalog(
    pool: DeadlinePool, tmp_path
) -> None:
    outcome = await pool.run(run_upload, _job(tmp_path=tmp_path))
    assert outcome.dead_letter is None, outcome.dead_letter
    assert outcome.bundle_set.status == "ok" and outcome.bundle_set.upload_id == "u1"
    assert outcome.rolling_costs is not None
    products = await outcome.products()
    assert [p.product_id for p in products] == [f"p{i}" for i in range(12)]
    assert all(isinstance(p, Product) for p in products)
    assert outcome.catalog_summary == {
        "products": 12,
        "categories": ["cat0", "cat1", "cat2"],
        "currency": "USD",
    }


def test_run_upload_past_a_limit_is_an_error_naming_it(tmp_path) -> None:
    outcome = run_upload(_job(limits=Limits(max_catalog_products=5), tmp_path=tmp_path))
    assert outcome.bundle_set.status == "error"
    code, reason, errors = outcome.dead_letter
    assert code == "limit_exceeded" and "max_catalog_products=5" in reason
    assert errors[0]["limit"] == "max_catalog_products" and errors[0]["value"] == 5
    assert "max_catalog_products=5" in outcome.bundle_set.error


def test_run_upload_of_an_unusable_catalog_is_an_unusable_upload(tmp_path) -> None:
    outcome = run_upload(_job(catalog="sku,name\nx,y\n", tmp_path=tmp_path))
    assert outcome.dead_letter[0] == "unusable_upload" and outcome.bundle_set.status == "error"


async def test_a_stored_catalog_is_reparsed_in_the_pool(pool: DeadlinePool, tmp_path) -> None:
    from bundling.upload_pool import parse_catalog_job, unpickle_chunks

    path = tmp_path / "catalog.csv"
    path.write_text(CATALOG)
    upload_file = UploadFile(
        kind="catalog", format="generic", filename="catalog.csv", uri=path.as_uri()
    )
    chunks = await pool.run(
        parse_catalog_job, upload_file.model_dump_json().encode(), Limits(), str(tmp_path)
    )
    products = await unpickle_chunks(chunks)
    assert [p.product_id for p in products] == [f"p{i}" for i in range(12)]
    outside = UploadFile(kind="catalog", format="generic", uri="file:///etc/passwd")
    from ingest.errors import IngestError

    with pytest.raises(IngestError, match="refusing"):
        await pool.run(
            parse_catalog_job, outside.model_dump_json().encode(), Limits(), str(tmp_path)
        )


async def test_a_closed_pool_starts_again_on_the_next_task() -> None:
    pool = DeadlinePool(1, 5.0)
    try:
        first = await pool.run(probe)
        pool._pool.stop()  # as if the pool had died under us
        pool._pool.join(timeout=5)
        assert await pool.run(probe) != first
    finally:
        pool.close()


async def test_a_stuck_pool_is_replaced_and_the_task_runs_on_a_fresh_one() -> None:
    # a frozen child never picks the task up, so pebble's own deadline never starts counting
    pool = DeadlinePool(1, 1.0, stuck_after_s=1.0)
    frozen = await pool.run(probe)
    os.kill(frozen, signal.SIGSTOP)
    try:
        started = time.monotonic()
        answered_by = await pool.run(probe)
        assert answered_by != frozen
        assert time.monotonic() - started < 30
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(frozen, signal.SIGKILL)
        pool.close()


async def test_warm_replaces_a_pool_whose_children_do_not_answer() -> None:
    pool = DeadlinePool(1, 1.0, stuck_after_s=1.0)
    frozen = await pool.run(probe)
    os.kill(frozen, signal.SIGSTOP)
    try:
        assert await pool.warm(bound_s=1.0) == 1
        assert await pool.run(probe) != frozen
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(frozen, signal.SIGKILL)
        pool.close()


def test_long_lived_allocation_pauses_the_cyclic_gc_then_freezes_what_was_built() -> None:
    import gc

    from bundling.upload_pool import long_lived_allocation

    assert gc.isenabled()
    frozen_before = gc.get_freeze_count()
    try:
        with long_lived_allocation():
            assert not gc.isenabled()
            with (
                long_lived_allocation()
            ):  # re-entrant: an inner exit neither freezes nor re-enables
                built = [[i] for i in range(1000)]
            assert not gc.isenabled() and gc.get_freeze_count() == frozen_before
        assert gc.isenabled()
        assert gc.get_freeze_count() >= frozen_before + len(
            built
        )  # the lists are out of every collection
        with pytest.raises(RuntimeError), long_lived_allocation():
            raise RuntimeError("decode failed")
        assert gc.isenabled()  # an error never leaves the collector off
        gc.disable()
        with long_lived_allocation():
            pass
        assert not gc.isenabled()  # a collector that was off stays off
    finally:
        gc.enable()
        gc.unfreeze()
