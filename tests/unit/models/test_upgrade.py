"""Schema evolution: every committed sample decodes with the current models, older ones upcast.

The samples under ``tests/data/payloads/v<n>/`` are what the code of version n wrote (generated
by ``tests/data/payloads/generate.py``). A worker must read all of them: the current version as
is, every older one through the registered upgrade steps, in order.
"""

from __future__ import annotations

import orjson
import pytest

from models import SCHEMA_VERSION, ApiKeyRecord, ChatTurn, OrderEvent
from models.codec import Decoded, Rejected, decode
from models.upgrade import PATH, PRE_VERSIONED, STEPS, Step, UpgradeError, UpgradePath
from tests.data.payloads.samples import MODELS, records, sample_files, versions

ORDER = {
    "order_id": "o1",
    "store_id": "s1",
    "lines": [{"product_id": "p1", "quantity": 2, "price": 3.5}],
}


def _decoded(model: type, raw: bytes, path: UpgradePath = PATH) -> Decoded:
    result = decode(model, raw, path)
    assert isinstance(result, Decoded), f"{model.__name__}: {result}"
    return result


# ------------------------------------------------------------------------------------------
# The committed samples
# ------------------------------------------------------------------------------------------


def test_every_topic_value_type_has_a_sample_at_the_current_version() -> None:
    files = sample_files(SCHEMA_VERSION)
    assert set(files) == set(MODELS), "run tests/data/payloads/generate.py"
    for name, path in files.items():
        assert records(path), f"{name}: no records"


def test_the_previous_version_samples_are_committed() -> None:
    assert versions()[0] == PRE_VERSIONED and SCHEMA_VERSION in versions()
    assert set(sample_files(PRE_VERSIONED)) == set(MODELS)
    for path in sample_files(PRE_VERSIONED).values():
        for raw in records(path):
            assert b'"schema_version"' not in raw, (
                f"{path.name}: the v0 envelope has no schema_version"
            )


@pytest.mark.parametrize("version", versions())
def test_every_committed_sample_decodes_with_the_current_models(version: int) -> None:
    for name, path in sample_files(version).items():
        for line, raw in enumerate(records(path), start=1):
            result = decode(MODELS[name], raw)
            assert isinstance(result, Decoded), f"v{version}/{path.name}:{line}: {result}"
            assert result.written_at == version
            assert result.value.schema_version == SCHEMA_VERSION


def test_current_samples_are_exactly_what_the_current_models_write() -> None:
    """A model change that alters the bytes we write shows here: regenerate, and bump if readers
    of the previous version could not read the new bytes (see the README's schema rules)."""
    for name, path in sample_files(SCHEMA_VERSION).items():
        for line, raw in enumerate(records(path), start=1):
            assert _decoded(MODELS[name], raw).value.to_bytes() == raw, (
                f"{path.name}:{line} does not round-trip"
            )


@pytest.mark.parametrize("version", [v for v in versions() if v != SCHEMA_VERSION])
def test_older_samples_upcast_to_the_same_values_as_the_current_ones(version: int) -> None:
    """v0 was generated from the same records as v1 (the envelope without the field), so upcast
    they must be equal field by field. A later version's samples come from a later run of the
    generator, whose measured durations differ: the order events, built from the same history
    rows, must still upcast to exactly the current ones."""
    if version == PRE_VERSIONED:
        current = sample_files(PRE_VERSIONED + 1)
        names = list(sample_files(version))
    else:
        current = sample_files(SCHEMA_VERSION)
        names = ["OrderEvent"]
    for name, path in sample_files(version).items():
        if name not in names:
            continue
        old, new = records(path), records(current[name])
        assert len(old) == len(new)
        for raw_old, raw_new in zip(old, new):
            assert _decoded(MODELS[name], raw_old).value == _decoded(MODELS[name], raw_new).value


def test_sample_orders_cover_several_stores_and_real_lines() -> None:
    orders = [
        _decoded(OrderEvent, raw).value
        for raw in records(sample_files(PRE_VERSIONED)["OrderEvent"])
    ]
    assert len({o.store_id for o in orders}) >= 3
    assert sum(len(o.lines) for o in orders) > len(orders)


# ------------------------------------------------------------------------------------------
# The upgrade path
# ------------------------------------------------------------------------------------------


def test_the_registered_path_reaches_the_current_version() -> None:
    assert PATH.current == SCHEMA_VERSION
    assert sorted(s.from_version for s in STEPS) == list(range(PRE_VERSIONED, SCHEMA_VERSION))


def test_a_record_without_schema_version_is_the_pre_versioned_envelope() -> None:
    result = _decoded(OrderEvent, orjson.dumps(ORDER))
    assert result.written_at == PRE_VERSIONED and result.value.schema_version == SCHEMA_VERSION


@pytest.mark.parametrize(
    ("version", "reason_code"),
    [
        (SCHEMA_VERSION + 1, "unsupported_version"),
        (99, "unsupported_version"),
        ("1", "invalid_schema"),  # pydantic would coerce "2" to 2 and let a newer record through
        (str(SCHEMA_VERSION + 1), "invalid_schema"),
        (1.0, "invalid_schema"),
        (True, "invalid_schema"),
        (None, "invalid_schema"),
        (-1, "invalid_schema"),
    ],
)
def test_a_newer_or_malformed_version_is_a_rejection(version: object, reason_code: str) -> None:
    result = decode(OrderEvent, orjson.dumps({**ORDER, "schema_version": version}))
    assert isinstance(result, Rejected)
    assert result.reason_code == reason_code, result.reason
    assert "schema_version" in result.reason


def _renamed_shop(data: dict) -> dict:
    """A made-up v1 -> v2 change for the tests: field ``shop`` became ``store_id``."""
    out = {k: v for k, v in data.items() if k != "shop"}
    out["store_id"] = data["shop"]
    return out


def test_steps_apply_in_order_from_the_written_version() -> None:
    calls: list[str] = []

    def step(name: str):
        def upcast(data: dict) -> dict:
            calls.append(f"{name}@{data.get('schema_version', PRE_VERSIONED)}")
            return data

        return upcast

    path = UpgradePath(
        3,
        [
            Step(2, "c", {OrderEvent: step("2->3")}),
            Step(0, "a", {OrderEvent: step("0->1")}),
            Step(1, "b", {OrderEvent: step("1->2"), ChatTurn: step("chat")}),
        ],
    )
    for written_at, expected in [
        (None, ["0->1@0", "1->2@1", "2->3@2"]),
        (1, ["1->2@1", "2->3@2"]),
        (2, ["2->3@2"]),
        (3, []),
    ]:
        calls.clear()
        data = dict(ORDER) if written_at is None else {**ORDER, "schema_version": written_at}
        upgraded, seen_at = path.upgrade(OrderEvent, data)
        assert calls == expected
        assert upgraded["schema_version"] == 3 and seen_at == (written_at or PRE_VERSIONED)
    with pytest.raises(UpgradeError) as exc:
        path.upgrade(OrderEvent, {**ORDER, "schema_version": 4})
    assert exc.value.reason_code == "unsupported_version"


def test_a_shape_change_is_read_through_its_upcaster() -> None:
    path = UpgradePath(
        2, [Step(0, "explicit version"), Step(1, "shop -> store_id", {OrderEvent: _renamed_shop})]
    )
    old = {k: v for k, v in ORDER.items() if k != "store_id"} | {"shop": "s9", "schema_version": 1}
    result = _decoded(OrderEvent, orjson.dumps(old), path)
    assert (
        result.value.store_id == "s9"
        and result.written_at == 1
        and result.value.schema_version == 2
    )
    assert "shop" in old, "the caller's dict is not modified"
    # a model the step does not name is unchanged: only its version is stamped
    key = {"key_id": "0123456789ab", "scope": "admin", "key_hash": "a" * 64, "schema_version": 1}
    assert _decoded(ApiKeyRecord, orjson.dumps(key), path).value.schema_version == 2
    # without the step, the same old record is invalid for the current model: the upcaster did the work
    assert isinstance(decode(OrderEvent, orjson.dumps(old)), Rejected)


def test_a_failing_upcaster_is_a_rejection_not_a_crash() -> None:
    path = UpgradePath(
        2, [Step(0, "explicit version"), Step(1, "shop -> store_id", {OrderEvent: _renamed_shop})]
    )
    result = decode(OrderEvent, orjson.dumps({**ORDER, "schema_version": 1}), path)  # no "shop"
    assert isinstance(result, Rejected) and result.reason_code == "invalid_schema"
    assert "from schema_version 1 to 2" in result.reason and "KeyError" in result.reason


@pytest.mark.parametrize(
    "steps",
    [
        [Step(0, "a")],  # a bump to 2 without its step
        [Step(1, "b")],  # a gap at the start
        [Step(0, "a"), Step(0, "a again"), Step(1, "b")],  # two steps from one version
        [Step(0, "a"), Step(1, "b"), Step(2, "past it")],  # a step past the current version
    ],
)
def test_a_path_with_a_gap_or_duplicate_is_refused(steps: list[Step]) -> None:
    with pytest.raises(ValueError):
        UpgradePath(2, steps)


def test_from_bytes_reads_older_records_and_refuses_newer_ones() -> None:
    assert OrderEvent.from_bytes(orjson.dumps(ORDER)).schema_version == SCHEMA_VERSION
    with pytest.raises(UpgradeError):
        OrderEvent.from_bytes(orjson.dumps({**ORDER, "schema_version": SCHEMA_VERSION + 1}))


def test_an_old_record_nested_thousands_deep_upgrades_without_walking_it_all() -> None:
    raw = orjson.dumps({"turn_id": "t", "session_id": "s", "store_id": "st", "text": "hi"})
    payload = raw[:-1] + b',"x":' + b"[" * 1000 + b"]" * 1000 + b"}"
    result = decode(ChatTurn, payload)  # no schema_version: the oldest layout, upgraded
    assert isinstance(result, Decoded), result
    assert result.value.text == "hi"
