"""The registry of Redis key families: every family bounded, every writer's key registered."""

from __future__ import annotations

import re

import pytest

from agents import redis_keys
from agents.redis_keys import REGISTRY, Members, Per, family_of, key_parts, spec_named
from core.settings import REPO_ROOT


def test_every_family_expires_or_has_a_documented_bound() -> None:
    assert len({spec.name for spec in REGISTRY}) == len(REGISTRY)
    for spec in REGISTRY:
        if spec.ttl_s is None:
            assert spec.per in (Per.STORE, Per.STORE_CATEGORY, Per.SINGLE), spec
            assert spec.members is not None and spec.rebuilt_from, spec
        else:
            assert spec.per is Per.EXPIRING and 0 < spec.ttl_s <= 31 * 24 * 3600, spec
        if spec.members is Members.LIST_CAP:
            assert spec.max_entries and spec.ttl_s, spec


def test_keys_are_built_with_the_declared_parts_only() -> None:
    assert redis_keys.POPULARITY.key("bs", "s1") == "bs:pop:s1"
    assert redis_keys.KEYS_LAST_USED.key("bs") == "bs:keys-last-used"
    with pytest.raises(ValueError, match="takes 1 parts"):
        redis_keys.POPULARITY.key("bs", "s1", "extra")
    with pytest.raises(ValueError, match=r"not in agents\.redis_keys\.REGISTRY"):
        spec_named("leaky-cache")


def test_keys_found_in_redis_are_told_apart_and_unknown_ones_are_none() -> None:
    key = redis_keys.POPULARITY_BY_CATEGORY.key("bs", "s1", "home:garden")
    assert family_of("bs", key) is redis_keys.POPULARITY_BY_CATEGORY
    assert key_parts("bs", key, redis_keys.POPULARITY_BY_CATEGORY) == ["s1", "home:garden"]
    assert family_of("bs", "bs:keys-last-used") is redis_keys.KEYS_LAST_USED
    assert family_of("bs", "bs:keys-last-used:x") is None
    assert family_of("bs", "bs:popx:s1") is None
    assert family_of("bs", "bs:pop") is None  # a store part is missing
    assert family_of("bs", "other:pop:s1") is None


def test_every_key_written_in_the_code_names_a_registered_family() -> None:
    """``rkey("name", ...)`` with a literal name: the name must be in the registry (and it
    raises at run time otherwise); a hand-built ``f"{prefix}:..."`` key is not allowed."""
    literal = re.compile(r'rkey\(\s*"([^"]+)"')
    hand_built = re.compile(r'f"\{[a-z_.]*topic_prefix\}:')
    names: set[str] = set()
    for path in [
        *REPO_ROOT.glob("agents/**/*.py"),
        *REPO_ROOT.glob("bundlestream/*.py"),
        *REPO_ROOT.glob("bundling/*.py"),
        *REPO_ROOT.glob("security/*.py"),
    ]:
        text = path.read_text()
        names.update(literal.findall(text))
        if path.name != "readmodel.py":
            assert not hand_built.search(text), (
                f"{path}: build Redis keys with readmodel.rkey / RedisKey.key"
            )
    assert names, "no rkey(...) call found: the scan is looking in the wrong place"
    unknown = names - {spec.name for spec in REGISTRY}
    assert not unknown, unknown


def test_the_readme_table_lists_every_family() -> None:
    table = redis_keys.keys_table()
    for spec in REGISTRY:
        assert f"`{spec.pattern}`" in table
    assert "attach_stats_max_per_store" in table
