"""Key format, hashing and scopes: pure rules, no broker."""

from __future__ import annotations

import pytest

from models.keys import ApiKeyRecord
from security import (
    ScopeError,
    bearer_token,
    generate_key,
    hash_key,
    hash_matches,
    parse_key,
    parse_scope,
    valid_store_id,
)


def test_generated_keys_are_unique_parseable_and_stored_only_as_their_hash() -> None:
    keys = [generate_key() for _ in range(200)]
    assert len({k.secret_key for k in keys}) == 200
    assert len({k.key_id for k in keys}) == 200
    for key in keys[:20]:
        parsed = parse_key(key.secret_key)
        assert parsed is not None and parsed.key_id == key.key_id
        assert key.secret_key.startswith(f"bsk_{key.key_id}_")
        assert key.key_hash == hash_key(key.secret_key) and len(key.key_hash) == 64
        assert key.secret_key not in key.key_hash
        assert hash_matches(key.secret_key, key.key_hash)


def test_a_changed_secret_or_id_does_not_match_the_stored_hash() -> None:
    key = generate_key()
    last = key.secret_key[-1]
    tampered = key.secret_key[:-1] + ("A" if last != "A" else "B")
    assert not hash_matches(tampered, key.key_hash)
    other = generate_key()
    swapped = f"bsk_{other.key_id}_{key.secret_key.rsplit('_', 1)[1]}"
    assert not hash_matches(swapped, key.key_hash)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "bsk_",
        "bsk_abc_def",
        "Bearer x",
        "bsk_0123456789ab_short",
        "xsk_0123456789ab_" + "a" * 43,
        "bsk_0123456789AB_" + "a" * 43,
    ],
)
def test_malformed_keys_do_not_parse(text: str) -> None:
    assert parse_key(text) is None


@pytest.mark.parametrize(
    "header,token",
    [
        (None, None),
        ("", None),
        ("Bearer", None),
        ("Bearer   ", None),
        ("Basic abc", None),
        ("Bearer abc", "abc"),
        ("bearer abc", "abc"),
        ("  Bearer  abc  ", "abc"),
    ],
)
def test_bearer_token_reads_only_the_bearer_scheme(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


def test_scopes_parse_to_their_kind_and_round_trip() -> None:
    assert parse_scope("admin").is_admin
    assert parse_scope("gateway").is_gateway
    store = parse_scope("store:shop-1.myshopify.com")
    assert (store.kind, store.store_id) == ("store", "shop-1.myshopify.com")
    for text in ("admin", "gateway", "store:a", "store:with:colons"):
        assert str(parse_scope(text)) == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "root",
        "Admin",
        "store:",
        "store:a/b",
        "store:a\nb",
        "store: a",
        "store:" + "x" * 201,
        "gateway:x",
    ],
)
def test_bad_scopes_are_refused_with_a_reason(text: str) -> None:
    with pytest.raises(ScopeError) as info:
        parse_scope(text)
    assert str(info.value)


def test_store_ids_follow_the_upload_forms_rules() -> None:
    assert valid_store_id("default") and valid_store_id("x" * 200)
    assert not valid_store_id("") and not valid_store_id("a/b") and not valid_store_id("x" * 201)
    assert not valid_store_id("a\x00b") and not valid_store_id(" a")


def test_key_record_validates_scope_and_never_lists_its_hash() -> None:
    key = generate_key()
    record = ApiKeyRecord(key_id=key.key_id, name="shop", scope="store:s1", key_hash=key.key_hash)
    assert record.active and record.public()["scope"] == "store:s1"
    assert key.key_hash not in str(record.public()) and "key_hash" not in record.public()
    with pytest.raises(ValueError):
        ApiKeyRecord(key_id=key.key_id, scope="store:", key_hash=key.key_hash)
    with pytest.raises(ValueError):
        ApiKeyRecord(key_id="nothex", scope="admin", key_hash=key.key_hash)
    assert ApiKeyRecord.model_validate_json(record.to_bytes()) == record
