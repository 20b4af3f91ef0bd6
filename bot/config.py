"""Settings, read only from the environment (and an optional .env file)."""

from __future__ import annotations

import hashlib
import os
import re
import socket
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_SQLITE_URL = "sqlite+aiosqlite:///data/xueyong.sqlite3"
TELEGRAM_API_BASE = "https://api.telegram.org"
# What Telegram accepts as a webhook's secret_token.
_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")


def _default_replica_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class Settings(BaseSettings):
    """Everything configurable. The variable names are a contract other tools rely on."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    bot_token: SecretStr | None = Field(default=None, alias="BOT_TOKEN")
    telegram_api_base: str = Field(default=TELEGRAM_API_BASE, alias="TELEGRAM_API_BASE")
    database_url: str = Field(default=DEFAULT_SQLITE_URL, alias="DATABASE_URL")
    redis_url: str | None = Field(default=None, alias="REDIS_URL")
    tz_name: str = Field(default="Asia/Shanghai", alias="TZ_NAME")
    organiser_ids: Annotated[frozenset[int], NoDecode] = Field(
        default=frozenset(), alias="ORGANISER_IDS"
    )
    default_locale: str = Field(default="zh-CN", alias="DEFAULT_LOCALE")
    content_dir: Path = Field(
        default=Path(__file__).resolve().parent.parent / "content", alias="CONTENT_DIR"
    )
    # Invite codes stay valid this many days after the cohort's end date unless the
    # organiser sets an explicit expiry.
    invite_valid_days_after_end: int = Field(default=14, alias="INVITE_VALID_DAYS_AFTER_END")
    polling_timeout: int = Field(default=10, alias="POLLING_TIMEOUT")
    # The offline sandbox's web chat (xueyong sandbox, or xueyong run without a token).
    sandbox_port: int = Field(default=8080, ge=0, le=65535, alias="SANDBOX_PORT")

    # Delivery: Telegram allows about 30 messages a second; stay under it by default.
    delivery_rate: float = Field(default=25.0, gt=0, alias="DELIVERY_RATE")
    delivery_concurrency: int = Field(default=16, ge=1, alias="DELIVERY_CONCURRENCY")
    # Updates handled at once; more wait in memory. Keeps a burst from exhausting the
    # database pool (DB_POOL_SIZE) and from stretching every transaction on a busy loop.
    handler_concurrency: int = Field(default=16, ge=1, alias="HANDLER_CONCURRENCY")
    db_pool_size: int = Field(default=24, ge=2, alias="DB_POOL_SIZE")
    # Per-person flood control (handlers/throttle.py): a token bucket of THROTTLE_BURST
    # updates refilled at THROTTLE_RATE a second; beyond it updates are dropped with one
    # polite notice. THROTTLE_RATE=0 switches it off.
    throttle_rate: float = Field(default=10.0, ge=0, alias="THROTTLE_RATE")
    throttle_burst: int = Field(default=40, ge=1, alias="THROTTLE_BURST")
    delivery_max_attempts: int = Field(default=5, ge=1, alias="DELIVERY_MAX_ATTEMPTS")
    sweep_interval: float = Field(default=2.0, gt=0, alias="SWEEP_INTERVAL")
    # Pushes due in this daily window (cohort's local time) wait for its end. "off" disables.
    quiet_hours: str = Field(default="21:00-08:00", alias="QUIET_HOURS")
    # A broadcast with a "received" button reminds those who have not pressed it after this.
    broadcast_reminder_hours: int = Field(default=24, ge=1, alias="BROADCAST_REMINDER_HOURS")
    # Mentor matching: points per kind of fit (bot.domain.matching.Weights.parse), and
    # whether /match first leaves nobody unmatched ("coverage") or maximises the score.
    match_weights: str = Field(
        default="area=5,district=3,barrier=2,unit_type=1", alias="MATCH_WEIGHTS"
    )
    match_prefer: str = Field(default="coverage", alias="MATCH_PREFER")

    # Production (webhook, replicas, observability).
    # Public https URL Telegram posts updates to; set, the bot runs in webhook mode. A URL
    # without a path gets WEBHOOK_PATH appended.
    webhook_url: str | None = Field(default=None, alias="WEBHOOK_URL")
    # Sent by Telegram in X-Telegram-Bot-Api-Secret-Token; derived from the token by default,
    # so that every replica agrees without configuring it.
    webhook_secret: SecretStr | None = Field(default=None, alias="WEBHOOK_SECRET")
    webhook_path: str = Field(default="/telegram/webhook", alias="WEBHOOK_PATH")
    # The bot's HTTP server: the webhook, /healthz, /readyz, /metrics. In polling mode it
    # runs only when HTTP_PORT is set explicitly.
    http_host: str = Field(default="0.0.0.0", alias="HTTP_HOST")
    http_port: int = Field(default=8081, ge=0, le=65535, alias="HTTP_PORT")
    log_format: Literal["text", "json"] = Field(default="text", alias="LOG_FORMAT")
    # This process's name in logs and in the leader election; hostname-pid by default.
    replica_id: str = Field(default_factory=_default_replica_id, alias="REPLICA_ID")
    # How often a standby replica tries to take over the sweeper and the delivery worker.
    leader_retry_seconds: float = Field(default=2.0, gt=0, alias="LEADER_RETRY_SECONDS")

    @field_validator("organiser_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p.strip() for p in value.replace(";", ",").split(",")]
            return frozenset(int(p) for p in parts if p)
        if isinstance(value, int):
            return frozenset({value})
        return value

    @field_validator("redis_url", "bot_token", "webhook_url", "webhook_secret", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("quiet_hours")
    @classmethod
    def _check_quiet_hours(cls, value: str) -> str:
        from bot.domain.schedule import QuietHours

        QuietHours.parse(value)  # raises ValueError with the reason
        return value

    @field_validator("match_weights")
    @classmethod
    def _check_match_weights(cls, value: str) -> str:
        from bot.domain.matching import Weights

        Weights.parse(value)  # raises ValueError with the reason
        return value

    @field_validator("match_prefer")
    @classmethod
    def _check_match_prefer(cls, value: str) -> str:
        from bot.domain.matching import Prefer

        value = value.strip().lower()
        if value not in {p.value for p in Prefer}:
            raise ValueError(f"MATCH_PREFER must be one of {', '.join(p.value for p in Prefer)}")
        return value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("webhook_path")
    @classmethod
    def _check_webhook_path(cls, value: str) -> str:
        value = value.strip()
        if not value.startswith("/"):
            raise ValueError("WEBHOOK_PATH must start with /")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _check_webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _SECRET_RE.fullmatch(value.get_secret_value()):
            raise ValueError("WEBHOOK_SECRET: 1-256 characters A-Z, a-z, 0-9, _ and - only")
        return value

    @property
    def token(self) -> str | None:
        return self.bot_token.get_secret_value() if self.bot_token else None

    @property
    def webhook_secret_token(self) -> str:
        """WEBHOOK_SECRET, or one derived from the token (the same on every replica)."""
        if self.webhook_secret is not None:
            return self.webhook_secret.get_secret_value()
        if not self.token:
            raise ValueError("BOT_TOKEN is not set")
        return hashlib.sha256(self.token.encode()).hexdigest()[:48]

    @property
    def webhook_endpoint(self) -> str | None:
        """The URL given to setWebhook: WEBHOOK_URL, with WEBHOOK_PATH when it has no path."""
        if not self.webhook_url:
            return None
        parts = urlsplit(self.webhook_url)
        if parts.path in ("", "/"):
            return urlunsplit(parts._replace(path=self.webhook_path))
        return self.webhook_url

    @property
    def http_port_set(self) -> bool:
        """Whether HTTP_PORT was given (polling mode then serves /healthz and /metrics)."""
        return "http_port" in self.model_fields_set


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment; keyword overrides (by alias) win."""
    return Settings(**overrides)  # type: ignore[arg-type]
