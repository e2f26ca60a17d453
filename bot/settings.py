"""Settings, read once from the environment (a ``.env`` file is loaded by the CLI).

Platform settings keep the platforms' own names (``SLACK_BOT_TOKEN``...); the bot's own start with
``VALUESBOT_``. A missing or malformed value raises ``SettingsError`` naming the variable, so the
bot stops at start-up instead of failing later.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit
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
PLATFORMS = ("console", "slack", "teams")

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


class WebAccess(StrEnum):
    """Who may see the web pages (``VALUESBOT_WEB_ACCESS``)."""

    PUBLIC = "public"
    """Everyone: the pages show only what people agreed to publish."""
    SIGNED_IN = "signed-in"
    """The hub needs sign-in; the pages published for all to see (barometer results) do not."""
    SIGNED_IN_ALL = "signed-in-all"
    """Every page needs sign-in."""


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _web_address(value: str, example: str) -> str:
    """An https:// address (http:// only on this machine, for trying it out and tests)."""
    url = value.strip()
    parts = urlsplit(url)
    secure = parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK)
    if not (secure and parts.hostname) or parts.query or parts.fragment or " " in url:
        raise ValueError(f"an https:// address, e.g. {example}")
    return url


class SettingsError(Exception):
    """A setting is missing or malformed; the message names the environment variable."""


def _split(value: object) -> object:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


MemberList = Annotated[tuple[str, ...], Field(default=())]

PLATFORMS = ("console", "slack", "teams")


def parse_place(value: str) -> tuple[str, str, str]:
    """``slack:T0123:C0456`` as (platform, tenant, conversation). Teams conversation ids have
    colons of their own (``19:abc@thread.tacv2``), so only the first two colons split."""
    parts = value.split(":", 2)
    if len(parts) != 3 or not all(p.strip() for p in parts):
        raise ValueError(f"{value!r} is not platform:tenant:conversation")
    platform, tenant, conversation = (p.strip() for p in parts)
    if platform not in PLATFORMS:
        raise ValueError(f"{value!r}: the platform must be one of {', '.join(PLATFORMS)}")
    return platform, tenant, conversation


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
    answer_key: SecretStr | None = Field(None, alias="VALUESBOT_ANSWER_KEY")
    answer_key_file: Path | None = Field(None, alias="VALUESBOT_ANSWER_KEY_FILE")
    admins: MemberList = Field((), alias="VALUESBOT_ADMINS")
    comms: MemberList = Field((), alias="VALUESBOT_COMMS")
    team_lens_hours: float = Field(24, gt=0, le=24 * 14, alias="VALUESBOT_TEAM_LENS_HOURS")
    team_lens_min: int = Field(2, ge=2, le=100, alias="VALUESBOT_TEAM_LENS_MIN")
    barometer_auto: bool = Field(True, alias="VALUESBOT_BAROMETER_AUTO")
    barometer_open_day: int = Field(1, ge=1, le=15, alias="VALUESBOT_BAROMETER_OPEN_DAY")
    barometer_open_time: str = Field("10:00", alias="VALUESBOT_BAROMETER_OPEN_TIME")
    barometer_days: int = Field(10, ge=1, le=27, alias="VALUESBOT_BAROMETER_DAYS")
    barometer_reminders: tuple[int, ...] = Field((3, 7), alias="VALUESBOT_BAROMETER_REMINDERS")
    barometer_channels: MemberList = Field((), alias="VALUESBOT_BAROMETER_CHANNELS")
    barometer_open_to_all: bool = Field(False, alias="VALUESBOT_BAROMETER_OPEN_TO_ALL")
    barometer_results: MemberList = Field((), alias="VALUESBOT_BAROMETER_RESULTS")
    values_channels: MemberList = Field((), alias="VALUESBOT_VALUES_CHANNEL")
    digest_empty: str = Field("message", alias="VALUESBOT_DIGEST_EMPTY")
    public_url: str | None = Field(None, alias="VALUESBOT_PUBLIC_URL")
    web_access: WebAccess = Field(WebAccess.PUBLIC, alias="VALUESBOT_WEB_ACCESS")
    oidc_issuer: str | None = Field(None, alias="VALUESBOT_OIDC_ISSUER")
    oidc_client_id: str | None = Field(None, alias="VALUESBOT_OIDC_CLIENT_ID")
    oidc_client_secret: SecretStr | None = Field(None, alias="VALUESBOT_OIDC_CLIENT_SECRET")
    oidc_allowed: MemberList = Field((), alias="VALUESBOT_OIDC_ALLOWED")
    """Who may sign in: Entra ID tenant ids (the ID token's ``tid``) or Slack workspace ids
    (``https://slack.com/team_id``)."""
    web_secret: SecretStr | None = Field(None, alias="VALUESBOT_WEB_SECRET")
    """Signs the session cookies of people signed in to the web pages."""
    web_session_hours: float = Field(8.0, gt=0, le=24 * 7, alias="VALUESBOT_WEB_SESSION_HOURS")
    content: Path | None = Field(None, alias="VALUESBOT_CONTENT")
    nhsuk_frontend: Path | None = Field(None, alias="VALUESBOT_NHSUK_FRONTEND")
    """The folder of the npm package ``nhsuk-frontend`` (``.../node_modules/nhsuk-frontend``),
    when the deployment installed it: its compiled CSS styles the pages."""
    host: str = Field("127.0.0.1", alias="VALUESBOT_HOST")
    port: int = Field(3978, ge=1, le=65535, alias="VALUESBOT_PORT")
    log_level: str = Field("INFO", alias="VALUESBOT_LOG_LEVEL")
    log_format: str = Field("text", alias="VALUESBOT_LOG_FORMAT")
    # Below Kubernetes' default terminationGracePeriodSeconds (30), with room for a preStop
    # pause and the process's own exit.
    shutdown_grace: float = Field(20.0, gt=0, le=3600, alias="VALUESBOT_SHUTDOWN_GRACE")

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

    # People's data: how long each kind of row is kept (README "What is kept, for how long").
    leaver_grace_days: int = Field(30, ge=0, le=365, alias="VALUESBOT_LEAVER_GRACE_DAYS")
    retain_checkins_days: int = Field(730, ge=1, le=3650, alias="VALUESBOT_RETAIN_CHECKINS_DAYS")
    retain_team_ratings_days: int = Field(
        90, ge=1, le=3650, alias="VALUESBOT_RETAIN_TEAM_RATINGS_DAYS"
    )
    retain_dialogs_days: int = Field(30, ge=1, le=365, alias="VALUESBOT_RETAIN_DIALOGS_DAYS")
    retain_events_days: int = Field(7, ge=1, le=365, alias="VALUESBOT_RETAIN_EVENTS_DAYS")
    retain_outbox_days: int = Field(90, ge=1, le=3650, alias="VALUESBOT_RETAIN_OUTBOX_DAYS")
    retain_audit_days: int = Field(365, ge=30, le=3650, alias="VALUESBOT_RETAIN_AUDIT_DAYS")
    retain_identifiers_days: int = Field(
        365, ge=1, le=3650, alias="VALUESBOT_RETAIN_IDENTIFIERS_DAYS"
    )

    @field_validator(
        "admins",
        "comms",
        "barometer_reminders",
        "barometer_channels",
        "barometer_results",
        "oidc_allowed",
        mode="before",
    )
    @classmethod
    def _members(cls, value: object) -> object:
        return _split(value)

    @field_validator("barometer_channels", "barometer_results")
    @classmethod
    def _places(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for place in value:
            parse_place(place)
        return value

    @field_validator("barometer_open_time")
    @classmethod
    def _open_time(cls, value: str) -> str:
        try:
            time.fromisoformat(value.strip())
        except ValueError as error:
            raise ValueError("a time of day like 10:00") from error
        return value.strip()

    @field_validator("values_channels", mode="before")
    @classmethod
    def _channels(cls, value: object) -> object:
        return _split(value)

    @field_validator("values_channels")
    @classmethod
    def _channel_places(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        seen = set()
        for entry in value:
            platform, _, conversation = entry.partition(":")
            if platform not in PLATFORMS or not conversation.strip():
                raise ValueError(
                    "each entry is platform:conversation, e.g. slack:C0123ABC or "
                    "teams:19:abc@thread.tacv2 or console:values"
                )
            if platform in seen:
                raise ValueError(f"{platform} is named twice")
            seen.add(platform)
        return value

    @field_validator("digest_empty")
    @classmethod
    def _digest_empty(cls, value: str) -> str:
        policy = value.strip().lower()
        if policy not in {"message", "skip"}:
            raise ValueError("message (send a short note) or skip")
        return policy

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        url = value.strip().rstrip("/")
        if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", url):
            raise ValueError("an http:// or https:// address, e.g. https://valuesbot.example.org")
        return url

    @field_validator("web_access", mode="before")
    @classmethod
    def _web_access(cls, value: object) -> object:
        if isinstance(value, str):
            chosen = value.strip().lower()
            if chosen not in {w.value for w in WebAccess}:
                raise ValueError(
                    "public (no sign-in), signed-in (the hub needs sign-in) or signed-in-all "
                    "(every page does)"
                )
            return chosen
        return value

    @field_validator("oidc_issuer")
    @classmethod
    def _oidc_issuer(cls, value: str | None) -> str | None:
        # Exactly as the provider writes it: the ID token's "iss" must equal it.
        if value is None:
            return None
        return _web_address(value, "https://login.microsoftonline.com/<tenant id>/v2.0")

    @field_validator("web_secret")
    @classmethod
    def _web_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().strip()) < 32:
            raise ValueError("needs at least 32 characters (e.g. `openssl rand -base64 32`)")
        return value

    @model_validator(mode="after")
    def _sign_in_complete(self) -> Settings:
        if self.web_access is WebAccess.PUBLIC:
            return self
        needed = {
            "VALUESBOT_OIDC_ISSUER": self.oidc_issuer,
            "VALUESBOT_OIDC_CLIENT_ID": self.oidc_client_id,
            "VALUESBOT_OIDC_CLIENT_SECRET": self.oidc_client_secret,
            "VALUESBOT_OIDC_ALLOWED": self.oidc_allowed,
            "VALUESBOT_WEB_SECRET": self.web_secret,
            "VALUESBOT_PUBLIC_URL": self.public_url,
        }
        missing = [name for name, value in needed.items() if not value]
        if missing:
            raise ValueError(
                f"VALUESBOT_WEB_ACCESS={self.web_access} needs {', '.join(missing)} (sign-in "
                "with OpenID Connect: the provider, this app's registration with it, the "
                "tenants or workspaces allowed in, the key of the session cookies and the "
                "address people reach the pages at)"
            )
        try:
            _web_address(self.public_url or "", "https://values.example.org")
        except ValueError as error:
            raise ValueError(
                f"VALUESBOT_PUBLIC_URL: {error} (sign-in cookies are sent over HTTPS only)"
            ) from error
        return self

    @field_validator("nhsuk_frontend")
    @classmethod
    def _nhsuk_frontend(cls, value: Path | None) -> Path | None:
        if value is not None and not (value / "dist/nhsuk/nhsuk-frontend.min.css").is_file():
            raise ValueError(
                "the folder of the npm package nhsuk-frontend (it holds "
                "dist/nhsuk/nhsuk-frontend.min.css), e.g. /app/node_modules/nhsuk-frontend"
            )
        return value

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

    @field_validator("log_format")
    @classmethod
    def _log_format(cls, value: str) -> str:
        chosen = value.strip().lower()
        if chosen not in {"text", "json"}:
            raise ValueError("text (one line a record, for people) or json (one object a line)")
        return chosen

    @field_validator("pseudonym_secret")
    @classmethod
    def _secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("needs at least 16 characters")
        return value

    @field_validator("answer_key")
    @classmethod
    def _answer_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().strip()) < 32:
            raise ValueError("needs at least 32 characters (e.g. `openssl rand -base64 32`)")
        return value

    @model_validator(mode="after")
    def _answer_key_for_postgresql(self) -> Settings:
        # Several instances share a PostgreSQL database: each must seal the barometer's waiting
        # answers with the same key, and the key must not be in the database.
        if self.is_sqlite or self.answer_key or self.answer_key_file or self.pseudonym_secret:
            return self
        raise ValueError(
            "VALUESBOT_ANSWER_KEY is needed with PostgreSQL: the key that seals barometer "
            "answers waiting for their batch, the same on every instance and kept out of the "
            "database (at least 32 random characters; or VALUESBOT_ANSWER_KEY_FILE naming a "
            "file that holds it)"
        )

    @field_validator("slack_bot_token")
    @classmethod
    def _slack_bot_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xoxb-"):
            raise ValueError("a bot token starts with xoxb- (OAuth & Permissions page)")
        return value

    @field_validator("slack_app_token")
    @classmethod
    def _slack_app_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xapp-"):
            raise ValueError("an app-level token starts with xapp- (Basic Information page)")
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _slack_api_url(cls, value: str) -> str:
        value = value.strip()
        if not value.startswith(("https://", "http://")):
            raise ValueError("the Slack Web API base URL, e.g. https://slack.com/api/")
        # The SDK joins method names onto the base URL, which needs its trailing slash.
        return value if value.endswith("/") else value + "/"

    @model_validator(mode="after")
    def _slack_complete(self) -> Settings:
        if bool(self.slack_client_id) != bool(self.slack_client_secret):
            raise ValueError("SLACK_CLIENT_ID and SLACK_CLIENT_SECRET go together")
        if not self.slack_enabled:
            return self
        if self.slack_bot_token is None and not self.slack_oauth:
            raise ValueError(
                "Slack needs SLACK_BOT_TOKEN (one workspace) or SLACK_CLIENT_ID and "
                "SLACK_CLIENT_SECRET (installable in many workspaces)"
            )
        if self.slack_signing_secret is None and self.slack_app_token is None:
            raise ValueError(
                "Slack needs SLACK_SIGNING_SECRET (events over HTTP) or SLACK_APP_TOKEN "
                "(Socket Mode)"
            )
        return self

    @model_validator(mode="after")
    def _reminders_inside_the_round(self) -> Settings:
        reminders = self.barometer_reminders
        if len(reminders) > 2:
            raise ValueError("VALUESBOT_BAROMETER_REMINDERS: at most two reminders a round")
        if any(not 1 <= day < self.barometer_days for day in reminders) or len(
            set(reminders)
        ) != len(reminders):
            raise ValueError(
                "VALUESBOT_BAROMETER_REMINDERS: different days after opening, each before the "
                f"round closes (1 to {self.barometer_days - 1})"
            )
        return self

    @property
    def barometer_time(self) -> time:
        """The time of day barometer rounds open, in the organisation's time zone."""
        return time.fromisoformat(self.barometer_open_time)

    @property
    def slack_enabled(self) -> bool:
        """True when any Slack credential is set: the Slack adapter then runs."""
        return any(
            (
                self.slack_bot_token,
                self.slack_signing_secret,
                self.slack_app_token,
                self.slack_client_id,
            )
        )

    @property
    def slack_oauth(self) -> bool:
        """True when Slack is installed through OAuth (many workspaces)."""
        return bool(self.slack_client_id and self.slack_client_secret)

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

    @model_validator(mode="after")
    def _teams_places(self) -> Settings:
        # Teams channel ids start with "19:", so "teams:19:abc@thread.tacv2" names a channel of
        # the bot's own tenant: the tenant is filled in from the Teams settings.
        tenant = self.teams_connection.get("TENANTID", "").strip()
        for name, alias in (
            ("barometer_channels", "VALUESBOT_BAROMETER_CHANNELS"),
            ("barometer_results", "VALUESBOT_BAROMETER_RESULTS"),
        ):
            places = []
            for place in getattr(self, name):
                if place.startswith("teams:19:"):
                    if not tenant:
                        raise ValueError(
                            f"{alias}: write a Teams channel as teams:<tenant id>:{place[6:]} "
                            f"(or set {TEAMS_PREFIX}TENANTID)"
                        )
                    place = f"teams:{tenant}:{place[6:]}"
                places.append(place)
            # Settings are frozen once made; this is still their making.
            object.__setattr__(self, name, tuple(places))
        return self

    @property
    def sign_in(self) -> bool:
        """True when any web page needs sign-in (``VALUESBOT_WEB_ACCESS`` is not public)."""
        return self.web_access is not WebAccess.PUBLIC

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

    def is_admin(self, platform: str, member: str, aliases: Sequence[str] = ()) -> bool:
        """True when the member is listed in VALUESBOT_ADMINS: by their id on the platform, or
        by one of ``aliases``, the names their organisation's directory gives them
        (``Actor.aliases``: on Teams the Entra object id, user principal name and email),
        which are compared without regard to case."""
        return _listed(self.admins, platform, member, aliases)

    def is_comms(self, platform: str, member: str, aliases: Sequence[str] = ()) -> bool:
        """True when the member is listed in VALUESBOT_COMMS (admins count as comms), by id or
        by a directory name (see ``is_admin``)."""
        return _listed(self.comms, platform, member, aliases) or self.is_admin(
            platform, member, aliases
        )

    def comms_on(self, platform: str) -> tuple[str, ...]:
        """The comms members to message on a platform as listed (an id there, or on Teams a
        directory name to find the person by): VALUESBOT_COMMS, or VALUESBOT_ADMINS when no
        comms members are listed."""
        return _members_on(self.comms or self.admins, platform)

    def values_channel(self, platform: str) -> str | None:
        """The conversation on ``platform`` where shared commitments are posted
        (VALUESBOT_VALUES_CHANNEL), if one is set."""
        for entry in self.values_channels:
            named, _, conversation = entry.partition(":")
            if named == platform:
                return conversation.strip()
        return None

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


def _listed(
    members: tuple[str, ...], platform: str, member: str, aliases: Sequence[str] = ()
) -> bool:
    if member in members or f"{platform}:{member}" in members:
        return True
    names = {alias.lower() for alias in aliases if alias}
    return bool(names) and any(listed.lower() in names for listed in _members_on(members, platform))


def _members_on(members: tuple[str, ...], platform: str) -> tuple[str, ...]:
    found = []
    for entry in members:
        named, _, member = entry.partition(":")
        if named in PLATFORMS:
            if named == platform and member:
                found.append(member)
        else:  # a bare id: the member is on whichever platform asks
            found.append(entry)
    return tuple(dict.fromkeys(found))


def _explain(error: ValidationError, given: Mapping[str, Any]) -> str:
    lines = []
    for problem in error.errors():
        loc = problem.get("loc") or ()
        name = str(loc[0]) if loc else ""
        message = problem.get("msg", "invalid").removeprefix("Value error, ")
        secret = any(word in name for word in ("SECRET", "TOKEN", "KEY"))
        if name in given and not secret:
            shown = str(given[name])
            message += f" (got {shown if len(shown) <= 60 else shown[:57] + '...'!r})"
        lines.append(f"{name}: {message}" if name else message)
    return "bad setting: " + "; ".join(lines)
