"""The JSON-body helper every JSON view uses: body -> JSON -> pydantic model, or a 422 whose
reason and error list are the same whichever view asks."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from pydantic import BaseModel, Field

from agents.http.common import HttpError, parse_json, parse_model, read_model


class Thing(BaseModel):
    name: str = Field(min_length=1)
    count: int = Field(ge=0)


def answer(exc: HttpError) -> tuple[int, bytes]:
    """What ``error_response`` sends for the error."""
    payload: dict[str, Any] = {"error": exc.reason}
    if exc.errors:
        payload["errors"] = exc.errors
    return exc.status, orjson.dumps(payload)


def refused(body: bytes, **kw: Any) -> tuple[int, bytes]:
    with pytest.raises(HttpError) as caught:
        parse_model(body, Thing, "thing", **kw)
    return answer(caught.value)


def test_valid_body_becomes_the_model() -> None:
    assert parse_model(b'{"name": "a", "count": 2}', Thing, "thing") == Thing(name="a", count=2)


def test_not_json_is_422_with_the_decoder_message() -> None:
    status, body = refused(b"{")
    assert status == 422
    assert orjson.loads(body)["error"].startswith("body is not JSON: ")
    assert list(orjson.loads(body)) == ["error"]


def test_invalid_fields_are_named_first_five_in_the_reason_all_in_errors() -> None:
    status, body = refused(b'{"name": "", "count": -1}')
    assert status == 422
    assert orjson.loads(body) == {
        "error": "invalid thing: name: String should have at least 1 character; "
        "count: Input should be greater than or equal to 0",
        "errors": [
            {"loc": "name", "msg": "String should have at least 1 character"},
            {"loc": "count", "msg": "Input should be greater than or equal to 0"},
        ],
    }


def test_without_prepare_the_model_refuses_a_non_object() -> None:
    assert orjson.loads(refused(b"[1]")[1]) == {
        "error": "invalid thing: : Input should be a valid dictionary or instance of Thing",
        "errors": [{"loc": "", "msg": "Input should be a valid dictionary or instance of Thing"}],
    }


def test_with_prepare_a_non_object_is_refused_first_and_prepare_shapes_the_input() -> None:
    def defaults(data: dict[str, Any]) -> dict[str, Any]:
        data.setdefault("count", 0)
        return data

    assert refused(b"[1]", prepare=defaults) == (422, b'{"error":"body must be a JSON object"}')
    assert parse_model(b'{"name": "a"}', Thing, "thing", defaults) == Thing(name="a", count=0)


def test_parse_json_object_rule() -> None:
    assert parse_json(b"[1]") == [1]
    with pytest.raises(HttpError):
        parse_json(b"[1]", object_required=True)


class _Content:
    def __init__(self, body: bytes) -> None:
        self.body = body

    async def read(self, n: int) -> bytes:
        chunk, self.body = self.body[:n], self.body[n:]
        return chunk


class _Request:
    def __init__(self, body: bytes) -> None:
        self.content_length = len(body)
        self.content = _Content(body)


def test_read_model_reads_the_body_then_validates() -> None:
    request: Any = _Request(b'{"name": "a", "count": 1}')
    assert asyncio.run(read_model(request, Thing, "thing")) == Thing(name="a", count=1)
    big: Any = _Request(b" " * 10_000_000)
    with pytest.raises(HttpError) as caught:
        asyncio.run(read_model(big, Thing, "thing"))
    assert caught.value.status == 413
