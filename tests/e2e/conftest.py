"""Browser tests reuse the integration fixtures (real Kafka + Redis, isolated topics)."""

from tests.integration.conftest import _require_stack, isolated_settings, stack  # noqa: F401 - fixtures shared with the integration suite
