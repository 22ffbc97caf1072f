"""The committed AsyncAPI, JSON Schemas and README tables are what the code generates."""

from bundlestream import docs


def test_committed_contract_documents_are_fresh() -> None:
    stale = docs.stale_files()
    assert not stale, f"run `bundlestream docs` and commit: {[str(p) for p in stale]}"


def test_asyncapi_lists_every_topic_with_kafka_bindings() -> None:
    import topics

    doc = docs.asyncapi()
    addresses = {c["address"] for c in doc["channels"].values()}
    assert addresses == {t.name("bundlestream") for t in topics.ALL_TOPICS}
    for channel in doc["channels"].values():
        assert channel["bindings"]["kafka"]["partitions"] >= 1
        for ref in channel["messages"].values():
            message = doc["components"]["messages"][ref["$ref"].rsplit("/", 1)[1]]
            schema_name = message["payload"]["$ref"].rsplit("/", 1)[1]
            assert schema_name in doc["components"]["schemas"]


def test_asyncapi_document_validates_against_the_official_3_0_0_schema() -> None:
    """Schema file: npm @asyncapi/specs 6.11.1, schemas/3.0.0-without-$id.json (Apache-2.0)."""
    import json
    from pathlib import Path

    import jsonschema

    schema = json.loads((Path(__file__).parent / "data" / "asyncapi-3.0.0.schema.json").read_text())
    errors = list(jsonschema.Draft7Validator(schema).iter_errors(docs.asyncapi()))
    assert not errors, [e.message[:200] for e in errors[:5]]


def test_openapi_lists_every_worker_route_and_is_a_valid_3_1_document() -> None:
    from openapi_spec_validator import validate

    from agents.worker import app
    from bundlestream.openapi import openapi

    doc = openapi()
    validate(doc)
    assert set(doc["paths"]) == set(app.web.views)
    add_bulk = doc["paths"]["/api/v1/bundle/add-bulk"]["post"]
    assert add_bulk["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/AddBulkRequest"
    )
    assert "422" in add_bulk["responses"]
