"""Editing the suggest_composite_bundle prompt changes the curation style (no restart).

The worker talks to a local Messages API server (tests/fakes) through the real ``anthropic``
client. The fake curates by the system prompt it receives: a prompt that says BUDGET CURATOR
gets the cheapest "Thrifty" options, any other prompt "Classic" ones. Changing the prompt via
PUT /api/v1/config (no restart) must change the labels of the next reply's options.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import pytest

from tests.e2e.support import Api, register_catalog, start_worker
from tests.fakes.anthropic_server import Behaviour, FakeAnthropic, dynamic, status, text, tool

pytestmark = pytest.mark.timeout(300)
STORE = "prompt-shop"


def _system(body: dict[str, Any]) -> str:
    system = body.get("system") or ""
    return system if isinstance(system, str) else " ".join(b.get("text", "") for b in system)


def _listing(body: dict[str, Any]) -> dict[str, Any]:
    content = body["messages"][0]["content"]
    content = content if isinstance(content, str) else " ".join(b.get("text", "") for b in content)
    start = content.index("<untrusted_data>") + len("<untrusted_data>")
    return orjson.loads(content[start : content.index("</untrusted_data>")])


def curator(body: dict[str, Any]) -> Behaviour:
    name = (body.get("tool_choice") or {}).get("name")
    if name == "plan_next_action":
        return status(500)  # the planner falls back to the deterministic one (tested elsewhere)
    if name != "propose_bundle_options":
        return text("Here are a few ideas for your evening.")
    thrifty = "BUDGET CURATOR" in _system(body)
    data = _listing(body)
    by_cat = [sorted(c["products"], key=lambda p: p["price"]) for c in data["categories"]]
    options = []
    for i in range(2):
        picks = [ps[min(i, len(ps) - 1)] for ps in by_cat]
        label = f"Thrifty {i + 1}" if thrifty else f"Classic {i + 1}"
        options.append(
            {
                "label": label,
                "description": " + ".join(p["name"] for p in picks),
                "product_ids": [p["id"] for p in picks],
                "total_price": sum(p["price"] for p in picks),
            }
        )
    return tool({"options": options})


@pytest.fixture
async def llm_api(isolated_settings):
    fake = FakeAnthropic(default=dynamic(curator)).start()
    worker = await start_worker(
        isolated_settings,
        "llm-worker",
        BUNDLESTREAM_ANTHROPIC_API_KEY="test",
        BUNDLESTREAM_ANTHROPIC_BASE_URL=fake.base_url,
        BUNDLESTREAM_LLM_TIMEOUT_S="3",
    )
    client = Api(worker.url)
    try:
        await register_catalog(isolated_settings, STORE, worker=worker)
        yield client, fake
    finally:
        await client.close()
        worker.stop()
        fake.stop()


async def _options_for(api: Api) -> dict[str, Any]:
    session = f"s-{uuid.uuid4().hex[:10]}"
    return await api.say(session, STORE, "date night on Saturday for $100, vegetarian", after=0)


async def test_prompt_change_changes_curation(llm_api) -> None:
    api, fake = llm_api
    before = await _options_for(api)
    assert before["kind"] == "options", before
    assert [o["label"] for o in before["options"]] == ["Classic 1", "Classic 2"], before

    doc = await api.config()
    doc["prompts"]["prompts"]["suggest_composite_bundle"]["system_prompt"] = (
        "You are a BUDGET CURATOR. Suggest 2 options with the cheapest product of every category. "
        "ONLY use product IDs from the list."
    )
    code, body = await api.put_config(doc)
    assert code == 200, body

    after = await _options_for(api)
    assert after["kind"] == "options", after
    assert [o["label"] for o in after["options"]] == ["Thrifty 1", "Thrifty 2"], after
    assert any("BUDGET CURATOR" in _system(r) for r in fake.requests)
    # every id in the reply is from the listing, whatever the model said
    listed = {p["product_id"] for lst in after["categories"] for p in lst["products"]}
    assert all(set(o["product_ids"]) <= listed for o in after["options"])


async def test_llm_failures_still_answer(llm_api) -> None:
    api, fake = llm_api
    for behaviour in (
        status(500),
        text("I refuse."),
        tool({"options": [{"label": "x", "product_ids": ["nope"]}]}),
    ):
        fake.reset(default=dynamic(lambda body, b=behaviour: b))
        reply = await _options_for(api)
        assert reply["kind"] == "options" and 2 <= len(reply["options"]) <= 4, reply
        assert reply["generated_by"] == "deterministic" and reply["fallback_reason"], reply
