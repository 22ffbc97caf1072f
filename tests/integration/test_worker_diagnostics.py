"""A worker asked why it stopped committing answers: SIGUSR1 prints every thread's and task's
stack (mode's Worker), SIGUSR2 logs Faust's offset-commit bookkeeping per partition. The test
harness sends both when a wait for offsets times out; this checks they say something useful."""

from __future__ import annotations

import ast

import pytest
from harness import Workers, online_retail_orders, orders_topic, produce_orders, wait_consumed

from core.settings import Settings


@pytest.mark.timeout(180)
async def test_stacks_and_commit_state_on_signals(
    isolated_settings: Settings, workers: Workers
) -> None:
    settings = isolated_settings
    worker = workers.start(settings, name="diagnostics")
    await worker.wait_ready(timeout_s=90)
    produced = await produce_orders(settings, online_retail_orders(40))
    await wait_consumed(settings, timeout_s=90, workers=[worker])

    dump = await worker.stack_dump()
    assert "THREAD MainThread" in dump and "orders_agent" in dump, dump[-3000:]
    line = next(x for x in dump.splitlines() if "consumer commit state:" in x)
    state = ast.literal_eval(line.split("consumer commit state:", 1)[1].strip())
    topic = orders_topic(settings)
    used = {where.partition for where in produced}
    last_offsets = {p: max(w.offset for w in produced if w.partition == p) for p in used}
    for partition in used:
        entry = state[f"{topic}[{partition}]"]
        last = max(w.offset for w in produced if w.partition == partition)
        # everything read was acked and committed: nothing waits
        assert entry["committed"] == last + 1 and entry["read"] == last, entry
        assert entry["in_flight"] is None and entry["acked"] is None, entry
    assert state["channels_per_topic"] == {}
    # and every stream partition is fetched: active in Faust, not held, not paused in aiokafka
    fetch = state["fetch"]
    assert fetch["flow_active"] and not fetch["streams_await_seek"], fetch
    for partition in used:
        entry = fetch["partitions"][f"{topic}[{partition}]"]
        assert entry["active"] and not entry["held"] and not entry["paused"], entry
        assert entry["kafka_paused"] is False and entry["position"] == last_offsets[partition] + 1
