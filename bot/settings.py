"""Settings, read once from the environment (a ``.env`` file is loaded by the CLI).

Platform settings keep the platforms' own names (``SLACK_BOT_TOKEN``...); the bot's own start with
``VALUESBOT_``. A missing or malformed value raises ``SettingsError`` naming the variable, so the
bot stops at start-up instead of failing later.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.delivery.hours import WorkingHours

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///valuesbot.db"

_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}


class SettingsError(Exception):
    """A setting is missing or malformed; the message names the environment variable."""


def _split(value: object) -> object:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


MemberList = Annotated[tuple[str, ...], Field(default=())]


class Settings(BaseModel):
    """Everything configurable, with its environment variable as the alias."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    database_url: str = Field(DEFAULT_DATABASE_URL, alias="DATABASE_URL")

    slack_bot_token: SecretStr | None = Field(None, alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = Field(None, alias="SLACK_SIGNING_SECRET")
    slack_app_token: SecretStr | None = Field(None, alias="SLACK_APP_TOKEN")
    slack_api_url: str = Field("https://slack.com/api/", alias="SLACK_API_URL")
    slack_client_id: str | None = Field(None, alias="SLACK_CLIENT_ID")
    slack_client_secret: SecretStr | None = Field(None, alias="SLACK_CLIENT_SECRET")

    timezone: str = Field("Europe/London", alias="VALUESBOT_TIMEZONE")
    min_group: int = Field(5, ge=2, le=1000, alias="VALUESBOT_MIN_GROUP")
    comment_min: int = Field(10, ge=2, le=1000, alias="VALUESBOT_COMMENT_MIN")
    pseudonym_secret: SecretStr | None = Field(None, alias="VALUESBOT_PSEUDONYM_SECRET")
    admins: MemberList = Field((), alias="VALUESBOT_ADMINS")
    comms: MemberList = Field((), alias="VALUESBOT_COMMS")
    team_lens_hours: float = Field(24, gt=0, le=24 * 14, alias="VALUESBOT_TEAM_LENS_HOURS")
    team_lens_min: int = Field(2, ge=2, le=100, alias="VALUESBOT_TEAM_LENS_MIN")
    content: Path | None = Field(None, alias="VALUESBOT_CONTENT")
    host: str = Field("127.0.0.1", alias="VALUESBOT_HOST")
    port: int = Field(3978, ge=1, le=65535, alias="VALUESBOT_PORT")
    log_level: str = Field("INFO", alias="VALUESBOT_LOG_LEVEL")

    # Delivery. Defaults are the platforms' documented limits: Slack chat.postMessage allows
    # about 1 message a second per channel and "several hundred a minute" per workspace (we
    # take 300/min); Teams allows 50 requests a second per app per tenant and 7 a second per
    # conversation. Every instance shares these budgets (they live in the database).
    slack_rate: float = Field(5.0, gt=0, le=1000, alias="VALUESBOT_SLACK_RATE")
    slack_conversation_rate: float = Field(
        1.0, ge=0, le=1000, alias="VALUESBOT_SLACK_CONVERSATION_RATE"
    )
    teams_rate: float = Field(50.0, gt=0, le=1000, alias="VALUESBOT_TEAMS_RATE")
    teams_conversation_rate: float = Field(
        7.0, ge=0, le=1000, alias="VALUESBOT_TEAMS_CONVERSATION_RATE"
    )
    working_hours: str = Field("Mon-Fri 09:00-17:00", alias="VALUESBOT_WORKING_HOURS")
    weekly_cap: int = Field(3, ge=1, le=100, alias="VALUESBOT_WEEKLY_CAP")
    delivery_concurrency: int = Field(8, ge=1, le=256, alias="VALUESBOT_DELIVERY_CONCURRENCY")
    send_timeout: float = Field(30.0, gt=0, le=600, alias="VALUESBOT_SEND_TIMEOUT")
    delivery_max_attempts: int = Field(8, ge=1, le=100, alias="VALUESBOT_DELIVERY_MAX_ATTEMPTS")
    delivery_poll: float = Field(1.0, gt=0, le=300, alias="VALUESBOT_DELIVERY_POLL")
    delivery_lease: float = Field(30.0, gt=0, le=3600, alias="VALUESBOT_DELIVERY_LEASE")
    delivery_backoff: float = Field(2.0, gt=0, le=600, alias="VALUESBOT_DELIVERY_BACKOFF")
    schedule_poll: float = Field(15.0, gt=0, le=3600, alias="VALUESBOT_SCHEDULE_POLL")

    @field_validator("admins", "comms", mode="before")
    @classmethod
    def _members(cls, value: object) -> object:
        return _split(value)

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        try:
            url = make_url(value.strip())
        except ArgumentError as error:
            raise ValueError("not a database URL") from error
        driver = _DRIVERS.get(url.drivername)
        if driver is None:
            raise ValueError(
                "use sqlite:///path/to/file.db or postgresql://user@host:port/database"
            )
        return url.set(drivername=driver).render_as_string(hide_password=False)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError("not a known time zone (e.g. Europe/London)") from error
        return value

    @field_validator("working_hours")
    @classmethod
    def _working_hours(cls, value: str) -> str:
        return str(WorkingHours.parse(value))

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("one of DEBUG, INFO, WARNING, ERROR")
        return level

    @field_validator("pseudonym_secret")
    @classmethod
    def _secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("needs at least 16 characters")
        return value

    @model_validator(mode="after")
    def _slack_oauth_pair(self) -> Settings:
        if bool(self.slack_client_id) != bool(self.slack_client_secret):
            raise ValueError("SLACK_CLIENT_ID and SLACK_CLIENT_SECRET go together")
        return self

    @property
    def zone(self) -> ZoneInfo:
        """The organisation's time zone."""
        return ZoneInfo(self.timezone)

    @property
    def is_sqlite(self) -> bool:
        """True when the database is an embedded SQLite file."""
        return self.database_url.startswith("sqlite")

    def is_admin(self, platform: str, member: str) -> bool:
        """True when the member is listed in VALUESBOT_ADMINS."""
        return _listed(self.admins, platform, member)

    def is_comms(self, platform: str, member: str) -> bool:
        """True when the member is listed in VALUESBOT_COMMS (admins count as comms)."""
        return _listed(self.comms, platform, member) or self.is_admin(platform, member)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Settings from environment variables; ``SettingsError`` names any bad one."""
        aliases = {f.alias for f in cls.model_fields.values() if f.alias}
        picked: dict[str, Any] = {k: v for k, v in environ.items() if k in aliases and v != ""}
        try:
            return cls.model_validate(picked)
        except ValidationError as error:
            raise SettingsError(_explain(error, picked)) from error


def _listed(members: tuple[str, ...], platform: str, member: str) -> bool:
    return member in members or f"{platform}:{member}" in members


def _explain(error: ValidationError, given: Mapping[str, Any]) -> str:
    lines = []
    for problem in error.errors():
        loc = problem.get("loc") or ()
        name = str(loc[0]) if loc else ""
        message = problem.get("msg", "invalid").removeprefix("Value error, ")
        secret = "SECRET" in name or "TOKEN" in name
        if name in given and not secret:
            shown = str(given[name])
            message += f" (got {shown if len(shown) <= 60 else shown[:57] + '...'!r})"
        lines.append(f"{name}: {message}" if name else message)
    return "bad setting: " + "; ".join(lines)
