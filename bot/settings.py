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

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///valuesbot.db"

# The Microsoft 365 Agents SDK reads its connection from variables with this prefix
# (CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID and so on); valuesbot keeps its names.
TEAMS_PREFIX = "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__"
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}

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

    teams_connection: dict[str, str] = Field(default_factory=dict, repr=False)
    """The Agents SDK's service connection settings (``CLIENTID``, ``CLIENTSECRET``, ``TENANTID``,
    ``AUTHTYPE``, ``ANONYMOUS_ALLOWED``...), by their name after ``TEAMS_PREFIX``."""

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

    @model_validator(mode="after")
    def _teams_connection(self) -> Settings:
        given = self.teams_connection
        if not given:
            return self
        anonymous = given.get("ANONYMOUS_ALLOWED", "false").strip().lower()
        if anonymous not in _TRUE | _FALSE:
            raise ValueError(f"{TEAMS_PREFIX}ANONYMOUS_ALLOWED: use true or false")
        if not given.get("CLIENTID") and anonymous not in _TRUE:
            raise ValueError(
                f"{TEAMS_PREFIX}CLIENTID is needed for Teams (the bot's app id), unless "
                f"{TEAMS_PREFIX}ANONYMOUS_ALLOWED=true for local testing"
            )
        if given.get("CLIENTID") and anonymous in _TRUE:
            raise ValueError(
                f"{TEAMS_PREFIX}ANONYMOUS_ALLOWED=true is for local testing without a bot "
                f"identity: with {TEAMS_PREFIX}CLIENTID set every request must carry a token"
            )
        auth_type = given.get("AUTHTYPE", "ClientSecret").strip().lower()
        if given.get("CLIENTID") and auth_type == "clientsecret" and not given.get("CLIENTSECRET"):
            raise ValueError(
                f"{TEAMS_PREFIX}CLIENTSECRET is needed with {TEAMS_PREFIX}CLIENTID "
                "(or set AUTHTYPE to another way of signing in)"
            )
        return self

    @property
    def zone(self) -> ZoneInfo:
        """The organisation's time zone."""
        return ZoneInfo(self.timezone)

    @property
    def teams_enabled(self) -> bool:
        """True when the Teams adapter is configured (credentials, or anonymous local use)."""
        return bool(self.teams_connection)

    @property
    def teams_app_id(self) -> str | None:
        """The bot's Microsoft app id (``CLIENTID``), when configured."""
        return self.teams_connection.get("CLIENTID") or None

    @property
    def teams_anonymous(self) -> bool:
        """True when the Agents SDK's own ``ANONYMOUS_ALLOWED`` setting lets unauthenticated
        requests in (local testing only)."""
        return self.teams_connection.get("ANONYMOUS_ALLOWED", "").strip().lower() in _TRUE

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
        teams = {
            k.removeprefix(TEAMS_PREFIX).upper(): v.strip()
            for k, v in environ.items()
            if k.startswith(TEAMS_PREFIX) and v.strip() != ""
        }
        if teams:
            picked["teams_connection"] = teams
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
