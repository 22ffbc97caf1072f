"""Topic objects of the upload pipeline, declared from the registry (never by name by hand)."""

from __future__ import annotations

import topics as registry

from .topics import faust_topic

uploads_topic = faust_topic(registry.UPLOADS)
uploads_dlq = faust_topic(registry.UPLOADS_DLQ)
bundle_sets_topic = faust_topic(registry.BUNDLE_SETS)
generation_metrics_topic = faust_topic(registry.GENERATION_METRICS)
