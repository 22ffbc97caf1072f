"""Chat agent: chat turns in, probing questions or composite bundle options out.

The flow itself is described in docs/design.md, Composite flow.

Thin wiring around ``composite.reply.handle_turn``: decode (or dead-letter), read the session
state, the store's catalog and the live sold counts, call the pure function, write the new state,
publish the reply (key session_id) and append it to the session's Redis list for the demo page.

Why turns are keyed by store_id: the turn then lands on the partition that also holds the
store's orders (sold counts) and catalog reference, so everything the turn needs is local. The
``chat-sessions`` table is keyed by session_id but written inside the turn's event, so its
changelog record lands on the store's partition too and recovers onto the same worker.

Sessions idle for ``chat_session_ttl_s`` are deleted from ``chat-sessions`` (a table delete, so a
changelog tombstone) by a bounded pass after each turn of the same partition; an idle session
that is not deleted yet already reads as expired, so the outcome does not depend on that pass.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import Any

import orjson
from faust.types import EventT

from agents import redis_keys
from bundling.embeddings import fit_reproducibly
from composite.discovery import CatalogIndex, build_index
from composite.learned import build_category_space
from composite.llm import LLMClient
from composite.reply import handle_turn
from models.catalog import Product
from models.chat import ChatTurn, CompositeReply, SessionState
from models.codec import Rejected, decode
from popularity import SoldCount, key_of
from popularity.retention import ExpiryIndex

from . import readmodel
from .app import app, settings
from .catalogs import CatalogView, catalog_for
from .chat_topics import chat_dlq, chat_turns_topic, composite_options_topic
from .config_view import current_config
from .dead_letters import send_dead_letter
from .expiry import active_partitions, delete_expired, rebuild_flag, scan_table
from .tables import sold_counts

log = logging.getLogger(__name__)

REPLIES_KEPT = redis_keys.REPLIES_KEPT
REPLIES_TTL_S = redis_keys.REPLIES_TTL_S
SESSION_TTL_S = redis_keys.SESSION_TTL_S

# session_id -> SessionState JSON (dict). No value_type: Faust decodes a typed value with
# ``typ.from_data``, which dict lacks, so changelog recovery would fail (see agents/tables.py).
# The value also carries EXPIRY_FIELD = [source partition, last turn time (epoch s)] so that the
# expiry index can be rebuilt from the table; values written before it have no such field.
chat_sessions = app.Table(
    "chat-sessions",
    default=None,
    partitions=settings.partitions,
    key_type=str,
    help="Chat session state (entities, turns, probes) per session.",
)
EXPIRY_FIELD = "_expiry"
EXPIRE_PER_TURN = 200  # idle sessions deleted per turn at most: a turn's extra work stays bounded

session_index = ExpiryIndex(settings.chat_session_ttl_s)
_session_flag = rebuild_flag()
_legacy_sessions: dict[str, list[str]] = {}  # store -> session ids stored without EXPIRY_FIELD


def session_value(state: SessionState, partition: int, now_s: int) -> dict[str, Any]:
    return {**state.model_dump(mode="json"), EXPIRY_FIELD: [partition, now_s]}


def split_session_value(
    raw: dict[str, Any] | None,
) -> tuple[SessionState | None, int | None, int | None]:
    """(state, partition, last turn time) from a table value, old (no expiry field) or new."""
    if not raw:
        return None, None, None
    fields = dict(raw)
    expiry = fields.pop(EXPIRY_FIELD, None)
    partition, touched = expiry if expiry else (None, None)
    return SessionState.model_validate(fields), partition, touched


async def rebuild_session_index() -> None:
    actives = active_partitions(chat_sessions)
    session_index.clear()
    _legacy_sessions.clear()
    async for chunk in scan_table(chat_sessions):
        for session_id, raw in chunk:
            expiry = raw.get(EXPIRY_FIELD) if isinstance(raw, dict) else None
            if expiry:
                if expiry[0] in actives:
                    session_index.observe(expiry[0], session_id, expiry[1])
            elif isinstance(raw, dict) and raw.get("store_id"):
                _legacy_sessions.setdefault(raw["store_id"], []).append(session_id)
    _session_flag.rebuilt(actives)
    log.info(
        "chat session index rebuilt: %d sessions on partitions %s",
        session_index.size(),
        sorted(actives),
    )


def _stored_touch_time(raw: Any, indexed_time: int) -> int | None:
    expiry = raw.get(EXPIRY_FIELD) if isinstance(raw, dict) else None
    return int(expiry[1]) if expiry else indexed_time


async def expire_sessions(event: EventT, store_id: str, now_s: int) -> None:
    """Index the turn's session, then delete (with tombstones) sessions idle past the TTL."""
    partition = event.message.partition
    session_index.advance(partition, now_s)
    for session_id in _legacy_sessions.pop(store_id, []):
        session_index.observe(partition, session_id, now_s)  # idle from now: one TTL to come back
    deleted = await delete_expired(
        chat_sessions, session_index, partition, event, EXPIRE_PER_TURN, _stored_touch_time
    )
    if deleted:
        log.info("expired %d idle chat sessions (%d kept)", deleted, session_index.size())


class LiveSoldCounts(Mapping[str, int]):
    """product_id -> units sold, read lazily from the sold-counts table for the candidates only."""

    def __init__(self, store_id: str) -> None:
        self.store_id = store_id

    def __getitem__(self, product_id: str) -> int:
        got = SoldCount.from_json(sold_counts.get(key_of(self.store_id, product_id)))
        if got is None:
            raise KeyError(product_id)
        return got.units

    def get(self, product_id: str, default: Any = 0) -> Any:
        got = SoldCount.from_json(sold_counts.get(key_of(self.store_id, product_id)))
        return default if got is None else got.units

    def __iter__(self) -> Iterator[str]:  # not enumerable: the table is keyed by (store, product)
        return iter(())

    def __len__(self) -> int:
        return 0


def index_catalog(products: list[Product]) -> CatalogIndex:
    """The discovery index plus the categories in the cold-start embedder's space (learned
    experiences). A failure of the latter costs only the learned experiences, never the chat."""
    index = build_index(products)
    try:
        index.learned = build_category_space(index.rows, fit_reproducibly)
    except Exception:
        log.exception("learned experiences unavailable for this catalog")
    return index


class _IndexCache:
    """CatalogIndex per catalog version (sha256/upload), small LRU: indexing a catalog per turn is slow."""

    def __init__(self, size: int = 16) -> None:
        self.size = size
        self._d: OrderedDict[tuple[str, str], CatalogIndex] = OrderedDict()

    async def get(self, view: CatalogView) -> CatalogIndex:
        """Built once per catalog version, in a thread: ~2 s of CPU on Olist must not stall the loop."""
        key = (view.sha256 or view.store_id, view.upload_id)
        index = self._d.get(key)
        if index is None:
            index = await asyncio.to_thread(index_catalog, view.products)
            self._d[key] = index
            while len(self._d) > self.size:
                self._d.popitem(last=False)
        self._d.move_to_end(key)
        return index


_indexes = _IndexCache()
_llm: LLMClient | None = None
_llm_built = False


def llm_client() -> LLMClient | None:
    """One client per worker, and only when a key is configured (else the deterministic path)."""
    global _llm, _llm_built
    if not _llm_built:
        _llm, _llm_built = LLMClient.from_settings(settings), True
    return _llm


def no_catalog_reply(turn: ChatTurn) -> CompositeReply:
    return CompositeReply(
        reply_id=f"{turn.session_id}/{turn.turn_id}",
        turn_id=turn.turn_id,
        session_id=turn.session_id,
        store_id=turn.store_id,
        kind="message",
        intent="smalltalk",
        message=f"Store {turn.store_id!r} has no catalog yet, so there is nothing to suggest. "
        "Upload a catalog and ask again.",
        fallback_reason="no_catalog",
    )


async def publish_reply(reply: CompositeReply) -> None:
    """Output topic first (the gateway's contract), then the demo page's capped Redis list."""
    raw = reply.to_bytes()
    # force=True: sent now, not attached to the input event's commit (up to a commit interval later)
    await composite_options_topic.send(key=reply.session_id.encode(), value=raw, force=True)

    async def store_reply() -> None:
        r = readmodel.redis_client()
        seq = await r.incr(readmodel.rkey("replies-seq", reply.session_id))
        entry = orjson.dumps({"seq": seq, "reply": orjson.loads(raw)}).decode()
        key = readmodel.rkey("replies", reply.session_id)
        pipe = r.pipeline(transaction=False)
        pipe.rpush(key, entry)
        pipe.ltrim(key, -REPLIES_KEPT, -1)
        pipe.expire(key, REPLIES_TTL_S)
        pipe.expire(readmodel.rkey("replies-seq", reply.session_id), REPLIES_TTL_S)
        pipe.set(
            readmodel.rkey("session-store", reply.session_id), reply.store_id, ex=SESSION_TTL_S
        )
        await pipe.execute()

    await readmodel.write_or_defer("chat reply", store_reply)


async def process_turn(event: EventT) -> None:
    result = decode(ChatTurn, event.message.value)
    if isinstance(result, Rejected):
        await send_dead_letter(chat_dlq, event, result)
        return
    turn = result.value
    if _session_flag.needs_rebuild(active_partitions(chat_sessions)):
        await rebuild_session_index()
    now_s = int(time.time())
    partition = event.message.partition
    state, _partition, touched = split_session_value(chat_sessions.get(turn.session_id))
    if state is not None and touched is not None and touched < now_s - settings.chat_session_ttl_s:
        state = None  # idle past the TTL: a new session, whether or not the entry is deleted yet
    if state is not None and state.store_id != turn.store_id:
        state = (
            None  # a session that moved store starts over: its entities were about another catalog
        )
    catalog = await catalog_for(turn.store_id)
    if catalog is None:
        await publish_reply(no_catalog_reply(turn))
        await expire_sessions(event, turn.store_id, now_s)
        return
    new_state, reply = await handle_turn(
        state,
        turn,
        await _indexes.get(catalog),
        LiveSoldCounts(turn.store_id),
        current_config(turn.store_id),
        llm_client(),
        None,
    )
    chat_sessions[turn.session_id] = session_value(new_state, partition, now_s)
    session_index.observe(partition, turn.session_id, now_s)
    await publish_reply(reply)
    await expire_sessions(event, turn.store_id, now_s)


@app.agent(chat_turns_topic, name="chat")
async def chat_agent(stream) -> None:
    async for event in stream.events():
        try:
            await process_turn(event)
        except Exception as exc:
            log.exception("chat turn @%s[%s] failed", event.message.partition, event.message.offset)
            await send_dead_letter(
                chat_dlq,
                event,
                Rejected("processing_error", f"{type(exc).__name__}: {exc}"[:500], []),
            )
