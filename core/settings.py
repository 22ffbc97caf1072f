"""The one typed settings object. Every knob is read from the environment (prefix ``BUNDLESTREAM_``).

The README's configuration table is generated from this class (``bundlestream docs``), so a field
added here is documented there without a second edit.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
# The development webhook secret: fine on a laptop, refused by a worker bound to a public address.
DEV_WEBHOOK_SECRET = "dev-webhook-secret"


class Settings(BaseSettings):
    # An empty variable means "not set": compose writes `VAR: ${VAR:-}` for optional settings, and an
    # empty secret or JSON map must fall back to the default (which the production checks catch).
    model_config = SettingsConfigDict(
        env_prefix="BUNDLESTREAM_", extra="ignore", env_ignore_empty=True
    )

    # --- infrastructure -----------------------------------------------------------------------
    kafka_bootstrap: str = Field(
        "127.0.0.1:19092", description="Kafka bootstrap servers (host:port[,host:port])."
    )
    redis_url: str = Field(
        "redis://127.0.0.1:16379/0", description="Redis URL for the read model and caches."
    )
    redis_timeout_s: float = Field(
        1.0,
        gt=0,
        le=30,
        description="Connect and reply timeout of every Redis call (one retry on a dropped connection). Past it an HTTP reader answers 503 `redis_unavailable` and agents keep counting into their tables.",
    )
    redis_resync_interval_s: float = Field(
        1.0,
        gt=0,
        description="While the Redis read model is behind (an outage, a restart), how often the worker checks Redis and, once it answers, rewrites the read model from its tables.",
    )
    redis_pending_writes_max: int = Field(
        10_000,
        ge=0,
        description="Read-model writes that no table can rebuild (chat replies, latest bundle set, upload status) kept in memory while Redis is down and replayed when it is back; past it the oldest are dropped (logged).",
    )
    app_id: str = Field(
        "bundlestream", description="Faust app id: consumer group and changelog topic prefix."
    )
    topic_prefix: str = Field(
        "bundlestream", description="Prefix of every topic name (isolates test runs)."
    )
    partitions: int = Field(
        8, ge=1, le=256, description="Partitions of every keyed input topic (max useful workers)."
    )
    replication_factor: int = Field(1, ge=1, description="Replication factor for created topics.")
    min_insync_replicas: int | None = Field(
        None,
        ge=1,
        description="`min.insync.replicas` of every created topic (ours and Faust's changelogs): with acks=all a write needs this many copies, else producers wait. Unset: replication factor - 1, at least 1 (2 of 3 survives one lost broker).",
    )
    table_store: str = Field(
        "rocksdb://",
        description="Faust table store: rocksdb:// (rocksdict; state and its changelog offsets persist in data_dir, so a restart reads only the changelog tail) or memory:// (every restart replays the changelogs from offset 0).",
    )
    table_standby_replicas: int = Field(
        1,
        ge=0,
        description="Standby copies of each table partition kept warm on other workers (from the changelog), so a partition moving after a worker dies does not replay its changelog from 0.",
    )
    data_dir: Path = Field(
        REPO_ROOT / ".cache" / "worker",
        description="Faust worker data directory; each worker keeps its tables in `<data_dir>/<app_id>/port-<web_port>`, so two workers on one machine never share a RocksDB and a restart finds its own.",
    )
    cache_dir: Path = Field(
        REPO_ROOT / ".cache", description="Local stack folder: Kafka jars, data, logs, Redis."
    )

    # --- worker -------------------------------------------------------------------------------
    web_host: str = Field("127.0.0.1", description="Bind address of the worker's HTTP server.")
    web_port: int = Field(6066, description="Port of the worker's HTTP server.")
    batch_size: int = Field(
        2000, ge=1, description="Max events an agent aggregates before writing its tables."
    )
    batch_within_s: float = Field(
        0.25, gt=0, description="Max seconds an agent waits to fill a batch."
    )
    consumer_fetch_max_wait_ms: int = Field(
        50,
        ge=1,
        le=1500,
        description="Longest a consumer fetch waits in the broker; bounds reply latency (Faust's own is 1500).",
    )
    consumer_max_poll_interval_s: float = Field(
        4 * 3600.0,
        ge=60,
        description=(
            "Longest the group consumer may go without a poll before it leaves the group. A worker "
            "recovering a long changelog on an empty disk does not poll its input topics, and past "
            "this it left the group and never finished recovery (Faust's own is 1000 s); a stalled "
            "stream is reported by /healthz long before."
        ),
    )
    max_body_bytes: int = Field(
        256 * 1024, ge=1024, description="Largest accepted webhook body; larger gets 413."
    )
    max_upload_bytes: int = Field(
        64 * 1024 * 1024, ge=1024, description="Largest accepted upload file."
    )
    inline_upload_bytes: int = Field(
        256 * 1024,
        ge=0,
        description="Uploads up to this size travel inline in the event; larger go by reference.",
    )
    upload_store_dir: Path = Field(
        REPO_ROOT / ".cache" / "uploads",
        description="Where large uploads are stored and referenced by URI.",
    )
    shopify_webhook_secret: str = Field(
        DEV_WEBHOOK_SECRET,
        description="Webhook secret (X-Shopify-Hmac-Sha256) of the default store only: deliveries with no X-Shopify-Shop-Domain, or naming `default_store_id`. Refused at startup on a non-loopback bind while it is the development default.",
    )
    shopify_webhook_secrets: dict[str, SecretStr] = Field(
        {},
        description='Webhook secret per shop, as JSON: {"shop.myshopify.com": "secret", ...}. A delivery from a shop that is in neither this map nor the default store is refused with 401.',
    )
    webhook_max_age_s: float = Field(
        6 * 3600,
        gt=0,
        le=24 * 3600,
        description="A webhook whose X-Shopify-Triggered-At is older than this is refused (401). Shopify retries for 4 hours with the original time, so keep it above that; the event-id dedupe (7 days) outlives it, so a replay is deduplicated or refused.",
    )
    admin_token: SecretStr | None = Field(
        None,
        description="Bootstrap admin API key (Authorization: Bearer); required when the worker binds a non-loopback address.",
    )
    default_store_id: str = Field(
        "default",
        description="Store id for webhooks that do not name one (X-Shopify-Shop-Domain wins).",
    )

    # --- bounded state ------------------------------------------------------------------------
    dedupe_retention_s: int = Field(
        7 * 24 * 3600,
        ge=3600,
        description="How long (in order time) an order id is remembered for dedupe: far longer than Shopify's webhook retries (4 hours) and equal to the event-id dedupe. Past it the id is deleted (with a changelog tombstone) and a copy of that order would be counted again.",
    )
    chat_session_ttl_s: int = Field(
        7 * 24 * 3600,
        ge=1,
        description="A chat session with no turn for this long is deleted from the chat-sessions table (with a changelog tombstone); a later turn starts a new session.",
    )
    attach_stats_max_per_store: int = Field(
        1000,
        ge=1,
        description="Attach statistics keep the N most-added products per store (table and Redis attach:<store>); the least-added beyond N are evicted.",
    )

    # --- live bundle performance and feedback ---------------------------------------------------
    performance_days_kept: int = Field(
        30,
        ge=1,
        le=366,
        description="Live bundle performance keeps per-day counts (and the orders a refund may still change) for the newest N UTC days of order time per store; totals since publication are kept whole.",
    )
    performance_orders_kept: int = Field(
        2_000,
        ge=0,
        le=5_000,
        description="At most N orders per store are remembered so a later refund can take them out of the bundle counts (only orders holding at least 2 products of a published bundle); past it the oldest go, down to 90%. The cap keeps the store's record well under Kafka's 1 MB message size.",
    )
    performance_metrics_stores: int = Field(
        100,
        ge=0,
        le=10_000,
        description="Stores whose per-bundle live counts each worker exports on /metrics (the most recently updated); with at most 10 bundles per set this bounds the label sets.",
    )
    feedback_min_days: float = Field(
        7.0,
        ge=0,
        description="Live feedback judges a bundle only after its set was published this many days ago (see docs/design.md, Live feedback).",
    )
    feedback_min_orders: int = Field(
        200,
        ge=1,
        description="Live feedback judges a bundle only once the store had this many orders since publication.",
    )
    feedback_penalty_below: float = Field(
        0.002,
        ge=0,
        le=1,
        description="A bundle whose share of orders holding at least 2 of its products stays below this is penalised in the next generation.",
    )
    feedback_penalty: float = Field(
        0.5, gt=0, le=1, description="Score multiplier of a penalised bundle."
    )
    feedback_boost_at: float = Field(
        0.01,
        gt=0,
        le=1,
        description="A bundle whose share of orders holding all of its products reaches this is boosted in the next generation.",
    )
    feedback_boost: float = Field(
        1.25, ge=1, le=4, description="Score multiplier of a boosted bundle."
    )

    # --- API access ---------------------------------------------------------------------------
    cors_allowed_origins: list[str] = Field(
        default_factory=list,
        description='Origins allowed to call the API from a browser (CORS), JSON list in env, e.g. ["https://chat.example.com"]; empty = closed.',
    )
    rate_limit_uploads_per_min: int = Field(
        30,
        ge=1,
        description="Uploads per minute per API key (all workers together); past it 429 with Retry-After.",
    )
    rate_limit_chat_turns_per_min: int = Field(
        6000,
        ge=1,
        description="Chat turns per minute per API key (a gateway key carries every shopper's turns); past it 429.",
    )
    rate_limit_bulk_add_per_min: int = Field(
        6000, ge=1, description="Bulk adds per minute per API key; past it 429 with Retry-After."
    )
    metrics_public: bool = Field(
        False,
        description="Serve /metrics without a key (for a scraper on a private network); otherwise it needs an admin key.",
    )
    key_last_used_every_s: float = Field(
        60.0,
        gt=0,
        description="How often a worker records a key's last use in Redis (per key; not a write per request).",
    )

    # --- hostile input: expansion limits, the upload pool, stall detection ----------------------
    max_decompressed_bytes: int = Field(
        256 * 1024 * 1024,
        ge=1024,
        description="Largest size one uploaded file may expand to (gzip/zip); past it 413. The full Online Retail history is 45 MB.",
    )
    max_rows: int = Field(
        2_000_000,
        ge=1,
        description="Most data rows per file; past it 413 or an error BundleSet (Online Retail has 541,909).",
    )
    max_columns: int = Field(
        512,
        ge=1,
        description="Most header columns per file; past it 422 (Shopify exports have about 50).",
    )
    max_field_bytes: int = Field(
        128 * 1024,
        ge=1024,
        description="Longest CSV field in characters: a longer header field is a 422, a longer data field a bad row.",
    )
    max_lines_per_order: int = Field(
        10_000,
        ge=1,
        description="Most line items one order may have; past it the orders file is refused (the largest real invoice has about 1,100).",
    )
    max_catalog_products: int = Field(
        100_000,
        ge=1,
        description="Most products per catalog; past it the upload is refused (the Olist catalog has 32,951).",
    )
    upload_prefix_bytes: int = Field(
        256 * 1024,
        ge=4096,
        description="Decompressed prefix of each uploaded file that the HTTP request parses for its format checks.",
    )
    upload_deadline_s: float = Field(
        20.0,
        gt=0,
        description="Hard deadline of parsing + generating one upload in the process pool; past it the child is killed and the upload gets an error BundleSet.",
    )
    upload_processes: int = Field(
        1,
        ge=1,
        le=32,
        description="Processes in the upload pool (parsing and generation run there, off the worker's GIL).",
    )
    stall_after_s: float = Field(
        60.0,
        gt=0,
        description="An agent with input in flight and no progress for this long makes /healthz answer 503; must exceed upload_deadline_s.",
    )
    max_loop_lag_s: float = Field(
        5.0,
        gt=0,
        description="Event-loop lag (time a 0.1 s timer fires late) past which /healthz answers 503.",
    )

    # --- LLM ----------------------------------------------------------------------------------
    anthropic_api_key: str | None = Field(
        None, description="Anthropic API key; unset means every LLM step is deterministic."
    )
    anthropic_base_url: str | None = Field(
        None, description="Override the Messages API base URL (tests use a local server)."
    )
    anthropic_model: str = Field(
        "claude-sonnet-4-5", description="Model used for planner, curation and engagement."
    )
    llm_timeout_s: float = Field(
        4.0,
        gt=0,
        description="Hard deadline of one LLM call; past it the deterministic path answers.",
    )

    @field_validator("shopify_webhook_secrets")
    @classmethod
    def _shop_secrets_not_blank(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        """An empty shop name or secret would silently accept or refuse everything for that shop."""
        for shop, secret in value.items():
            if not shop.strip() or not secret.get_secret_value():
                raise ValueError(
                    f"shop {shop!r}: the shop domain and its secret must both be non-empty"
                )
        return value

    @property
    def effective_min_insync_replicas(self) -> int:
        if self.min_insync_replicas is not None:
            return self.min_insync_replicas
        return max(1, self.replication_factor - 1)

    @model_validator(mode="after")
    def _min_isr_fits_the_replicas(self) -> Settings:
        # More required copies than replicas would refuse every acks=all write.
        if (
            self.min_insync_replicas is not None
            and self.min_insync_replicas > self.replication_factor
        ):
            raise ValueError(
                f"min_insync_replicas ({self.min_insync_replicas}) must not exceed "
                f"replication_factor ({self.replication_factor})"
            )
        return self

    @model_validator(mode="after")
    def _stall_outlasts_the_upload_deadline(self) -> Settings:
        # An upload legitimately busy until its deadline must not be reported as a stall.
        if self.stall_after_s <= self.upload_deadline_s:
            raise ValueError(
                f"stall_after_s ({self.stall_after_s}) must exceed upload_deadline_s ({self.upload_deadline_s})"
            )
        return self

    def worker_data_dir(self) -> Path:
        """This worker's own Faust data dir (RocksDB tables and their persisted changelog offsets).

        RocksDB locks a table partition for one process and stores changelog offsets inside it:
        two workers sharing a folder would block each other, and an app id reading another app's
        offsets would skip or refuse its own changelog. The web port tells workers on one host apart
        and stays the same across restarts, so a restarted worker finds its state.
        """
        return self.data_dir / self.app_id / f"port-{self.web_port}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings are read once per process; tests call ``get_settings.cache_clear()`` after changing env."""
    return Settings()
