"""Settings, read only from the environment (and an optional .env file)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_SQLITE_URL = "sqlite+aiosqlite:///data/xueyong.sqlite3"
TELEGRAM_API_BASE = "https://api.telegram.org"


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
    delivery_max_attempts: int = Field(default=5, ge=1, alias="DELIVERY_MAX_ATTEMPTS")
    sweep_interval: float = Field(default=2.0, gt=0, alias="SWEEP_INTERVAL")
    # Pushes due in this daily window (cohort's local time) wait for its end. "off" disables.
    quiet_hours: str = Field(default="21:00-08:00", alias="QUIET_HOURS")
    # A broadcast with a "received" button reminds those who have not pressed it after this.
    broadcast_reminder_hours: int = Field(default=24, ge=1, alias="BROADCAST_REMINDER_HOURS")

    @field_validator("organiser_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p.strip() for p in value.replace(";", ",").split(",")]
            return frozenset(int(p) for p in parts if p)
        if isinstance(value, int):
            return frozenset({value})
        return value

    @field_validator("redis_url", "bot_token", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("quiet_hours")
    @classmethod
    def _check_quiet_hours(cls, value: str) -> str:
        from bot.domain.schedule import QuietHours

        QuietHours.parse(value)  # raises ValueError with the reason
        return value

    @property
    def token(self) -> str | None:
        return self.bot_token.get_secret_value() if self.bot_token else None


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment; keyword overrides (by alias) win."""
    return Settings(**overrides)  # type: ignore[arg-type]
