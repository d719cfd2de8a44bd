"""All runtime configuration, read from environment variables prefixed `DMFREC_`.

Defaults are the embedded ones: a SQLite file under ./var and a local Redis, so a fresh
checkout runs without any configuration.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_VAR = Path("var")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DMFREC_", extra="ignore")

    database_url: str = Field(default=f"sqlite:///{DEFAULT_VAR / 'dmfrec.db'}")
    redis_url: str = "redis://127.0.0.1:6379/0"
    broker_url: str = "redis://127.0.0.1:6379/1"
    # Comma-separated; several are accepted at once so secrets can be rotated.
    webhook_secrets: str = ""
    token_secret: str = ""
    model_dir: Path = DEFAULT_VAR / "models"

    # Ingestion policy (see shared docs: Magento order states).
    uncounted_states: str = "pending_payment,payment_review,holded"
    guest_policy: str = "hash"  # "hash" (salted email hash) or "skip"
    guest_salt: str = "dmfrec"
    sku_level: str = "simple"  # "simple" or "parent"
    import_chunk_size: int = 500  # orders per transaction in `dmfrec import magento`

    # Training window and model defaults.
    window_days: int = 92
    value_scheme: str = "log1p"
    top_n: int = 20

    # Web service and live loop (webhook/, worker/).
    demo_page: bool = False  # serve /demo (a live demo storefront); `dmfrec demo` turns it on
    cors_origins: str = ""  # comma-separated storefront origins, e.g. https://shop.example
    max_body_bytes: int = 1_000_000  # larger webhook bodies are answered 413
    webhook_tolerance_s: int = 300  # accepted clock skew of webhook-timestamp, both ways
    token_max_ttl_s: int = 3600  # storefront tokens expiring later than this are refused
    adobe_public_key: str = ""  # PEM; verifies x-adobe-commerce-webhook-signature
    publish_n: int = 100  # SKUs stored per list, so read-time filtering leaves enough
    exclude_purchased: bool = True  # leave out what the customer already bought
    version_ttl_s: int = 7 * 86400  # how long a replaced model version's lists stay readable
    versions_kept: int = 2  # ...for the last N replaced versions only; older ones expire at once
    pending_ttl_s: int = 2 * 86400  # lists of a version published but never activated
    popular_refresh_s: int = 60  # at most one popular-list recomputation per this many seconds
    pending_after_s: int = 60  # events still pending this long are enqueued again...
    resend_after_s: int = 900  # ...unless they were sent within this many seconds
    pending_sweep_s: int = 60  # how often beat looks for pending events
    train_visibility_timeout_s: int = 12 * 3600  # broker redelivers unacked tasks after this
    train_epochs: int = 0  # nightly retrain epochs (0: the model's default)
    train_members: int = 0  # networks in the nightly model's ensemble (0: the model's default)
    fine_tune_epochs: int = 3  # epochs of each fine-tuning run on the active model
    fine_tune_after_events: int = 500  # fine-tune once this many events were applied (0: off)
    fine_tune_after_minutes: int = 240  # ...or this long after the last run, if any came (0: off)
    gate_holdout_days: int = 7  # nightly candidates are judged on the last days' purchases
    gate_tolerance: float = 0.05  # promoted unless Recall@top_n < active x (1 - tolerance)

    # Data lifecycle and recovery (issue 16: bad events, training lock, retention).
    event_max_attempts: int = 3  # failed applications (not outages) before an event is `failed`
    train_lock_ttl_s: int = 300  # training lock TTL, renewed by a heartbeat while a run lives
    event_retention_days: int = 30  # processed events (compact rows, failed payloads) kept
    artifacts_kept: int = 5  # newest model artifacts kept on disk (the active one always)

    @property
    def webhook_secret_list(self) -> list[str]:
        return [s.strip() for s in self.webhook_secrets.split(",") if s.strip()]

    @property
    def cors_origin_list(self) -> list[str]:
        return [s.strip() for s in self.cors_origins.split(",") if s.strip()]

    @property
    def uncounted_state_set(self) -> frozenset[str]:
        return frozenset(s.strip() for s in self.uncounted_states.split(",") if s.strip())


@lru_cache
def get_settings() -> Settings:
    return Settings()
