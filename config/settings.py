"""All runtime configuration, read from environment variables prefixed `DMFREC_`.

Defaults are the embedded ones: a SQLite file under ./var and a local Redis, so a fresh
checkout runs without any configuration.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from config.secrets import MIN_SECRET_BYTES, webhook_key

DEFAULT_VAR = Path("var")
DEFAULT_GUEST_SALT = "dmfrec"  # public: a service refuses to hash guests' emails with it


class Settings(BaseSettings):
    # hide_input_in_errors: a refused secret must not be echoed into logs.
    model_config = SettingsConfigDict(env_prefix="DMFREC_", extra="ignore",
                                      hide_input_in_errors=True)

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
    guest_salt: str = DEFAULT_GUEST_SALT  # services refuse the default (service_settings)
    sku_level: str = "simple"  # "simple" or "parent"
    import_chunk_size: int = 500  # orders per transaction in `dmfrec import magento`

    # Training window and model defaults.
    window_days: int = 92
    value_scheme: str = "log1p"
    top_n: int = 20

    # Web service and live loop (webhook/, worker/).
    demo: bool = False  # set only by `dmfrec demo` (SQLite, embedded Redis); never in production
    demo_page: bool = False  # serve /demo (a live demo storefront); needs DMFREC_DEMO
    cors_origins: str = ""  # comma-separated storefront origins, e.g. https://shop.example
    max_body_bytes: int = 1_000_000  # larger webhook bodies are answered 413
    webhook_tolerance_s: int = 300  # accepted clock skew of webhook-timestamp, both ways
    token_max_ttl_s: int = 3600  # storefront tokens expiring later than this are refused
    adobe_public_key: str = ""  # PEM; verifies x-adobe-commerce-webhook-signature
    # Adobe events received while the database was down AND Redis too (worker.spool).
    spool_dir: Path = DEFAULT_VAR / "spool"
    publish_n: int = 100  # SKUs stored per list, so read-time filtering leaves enough
    exclude_purchased: bool = True  # leave out what the customer already bought
    version_ttl_s: int = 7 * 86400  # how long a replaced model version's lists stay readable
    versions_kept: int = 2  # ...for the last N replaced versions only; older ones expire at once
    pending_ttl_s: int = 2 * 86400  # lists of a version published but never activated
    # A Celery worker serves its Prometheus metrics here (worker.metrics; 0: not served).
    worker_metrics_port: int = Field(0, ge=0, le=65535)
    worker_metrics_addr: str = "127.0.0.1"
    popular_refresh_s: int = 60  # at most one popular-list recomputation per this many seconds
    # Pending events one ingest task applies in one transaction, each customer refreshed once.
    ingest_batch: int = Field(64, ge=1, le=1000)
    pending_after_s: int = 60  # events still pending this long are enqueued again...
    resend_after_s: int = 900  # ...unless they were sent within this many seconds
    pending_sweep_s: int = 60  # how often beat looks for pending events
    train_visibility_timeout_s: int = 12 * 3600  # broker redelivers unacked tasks after this
    train_epochs: int = 0  # nightly retrain epochs (0: the model's default)
    train_members: int = 0  # most networks in the nightly model's ensemble (0: the model's
    # default); fewer when one brings no validation gain
    train_warm_start: bool = True  # nightly retrain starts from the active model's weights
    train_patience: int = 0  # epochs without a validation gain before a member stops (0: 2)
    # Training's matrix products: bf16 where the hardware has it (auto), or forced.
    train_precision: Literal["auto", "fp32", "bf16"] = "auto"
    # Data lifecycle and recovery (issue 16: bad events, training lock, retention).
    event_max_attempts: int = 3  # failed applications (not outages) before an event is `failed`
    train_lock_ttl_s: int = 300  # training lock TTL, renewed by a heartbeat while a run lives
    event_retention_days: int = 30  # processed events (compact rows, failed payloads) kept
    artifacts_kept: int = 5  # newest model artifacts kept on disk (the active one always)
    fine_tune_epochs: int = 3  # epochs of each fine-tuning run on the active model
    fine_tune_after_events: int = 500  # fine-tune once this many events were applied (0: off)
    fine_tune_after_minutes: int = 240  # ...or this long after the last run, if any came (0: off)
    gate_holdout_days: int = 7  # nightly candidates are judged on the last days' purchases
    gate_tolerance: float = 0.05  # promoted unless Recall@top_n < active x (1 - tolerance)
    # issue 18 (storefront analytics, A/B, dashboard): begin
    attribution_days: int = Field(7, ge=1)  # a click counts for orders up to this many days later
    analytics_raw_days: int = Field(30, ge=1)  # raw impressions/clicks kept, then per day/arm/SKU
    analytics_max_body_bytes: int = Field(16_384, ge=1024)  # larger beacons are answered 413
    admin_token: str = ""  # bearer token of /dashboard (at least 24 bytes; empty: dashboard off)
    experiment_refresh_s: float = 5.0  # a web process rereads the A/B config this often
    # issue 18: end

    @field_validator("webhook_secrets")
    @classmethod
    def _strong_webhook_secrets(cls, value: str) -> str:
        for n, secret in enumerate(_split(value), 1):
            try:
                size = len(webhook_key(secret))
            except ValueError as exc:
                raise ValueError(f"DMFREC_WEBHOOK_SECRETS: secret {n}: {exc}") from None
            if size < MIN_SECRET_BYTES:
                raise ValueError(f"DMFREC_WEBHOOK_SECRETS: secret {n} decodes to {size} bytes; "
                                 f"at least {MIN_SECRET_BYTES} random bytes are required")
        return value

    @field_validator("token_secret")
    @classmethod
    def _strong_token_secret(cls, value: str) -> str:
        if value and len(value.encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"DMFREC_TOKEN_SECRET: {len(value.encode())} bytes; at least "
                             f"{MIN_SECRET_BYTES} are required (or leave it empty to turn "
                             "storefront tokens off)")
        return value

    @field_validator("admin_token")
    @classmethod
    def _strong_admin_token(cls, value: str) -> str:  # issue 18
        if value and len(value.encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"DMFREC_ADMIN_TOKEN: at least {MIN_SECRET_BYTES} bytes are "
                             "required (or leave it empty to turn the dashboard off)")
        return value

    @model_validator(mode="after")
    def _demo_only_in_the_demo(self) -> Settings:
        # The demo page places unsigned orders and mints tokens for any customer.
        if self.demo_page and not self.demo:
            raise ValueError("DMFREC_DEMO_PAGE opens unsigned order writes and tokens for any "
                             "customer: only `dmfrec demo` may turn it on (with DMFREC_DEMO)")
        if self.demo and not self.database_url.startswith("sqlite"):
            raise ValueError("DMFREC_DEMO is set only by `dmfrec demo`, which runs on SQLite; "
                             "unset it for a real database")
        return self

    def service_problems(self) -> list[str]:
        """What a long-running service (web app, worker, beat) must not start with, beyond
        what the validators refuse everywhere."""
        problems = []
        if self.guest_policy == "hash" and self.guest_salt in ("", DEFAULT_GUEST_SALT):
            problems.append("DMFREC_GUEST_SALT: the default (or an empty) salt makes guest "
                            "keys a public function of the email; set a random secret salt "
                            "(or DMFREC_GUEST_POLICY=skip)")
        return problems

    @property
    def webhook_secret_list(self) -> list[str]:
        return _split(self.webhook_secrets)

    @property
    def cors_origin_list(self) -> list[str]:
        return _split(self.cors_origins)

    @property
    def uncounted_state_set(self) -> frozenset[str]:
        return frozenset(_split(self.uncounted_states))


def _split(value: str) -> list[str]:
    return [s.strip() for s in value.split(",") if s.strip()]


class UnsafeSettingsError(RuntimeError):
    """Settings a service refuses to start with; the message names every variable at fault."""


def describe(exc: ValidationError) -> str:
    """One line per refused setting, each naming its environment variable (never its value)."""
    lines = []
    for error in exc.errors():
        message = error["msg"].removeprefix("Value error, ")
        if error["loc"] and not message.startswith("DMFREC_"):
            message = f"DMFREC_{'_'.join(map(str, error['loc'])).upper()}: {message}"
        lines.append(message)
    return "\n".join(lines)


def service_settings(settings: Settings | None = None) -> Settings:
    """`settings` (default: the environment's) if a service may start with them; otherwise
    raise UnsafeSettingsError naming each weak or unsafe variable."""
    try:
        if settings is None:
            settings = get_settings()
        else:  # validated again: model_copy(update=...) skips the validators
            type(settings).model_validate(settings.model_dump())
    except ValidationError as exc:
        raise UnsafeSettingsError(describe(exc)) from None
    if problems := settings.service_problems():
        raise UnsafeSettingsError("\n".join(problems))
    return settings


@lru_cache
def get_settings() -> Settings:
    return Settings()
