"""Settings from the environment: defaults, normalising, and errors that name the variable."""

from __future__ import annotations

import pytest

from bot.cli import main
from bot.settings import DEFAULT_DATABASE_URL, Settings, SettingsError


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.is_sqlite
    assert settings.timezone == "Europe/London"
    assert settings.min_group == 5
    assert settings.team_lens_hours == 24
    assert (settings.host, settings.port) == ("127.0.0.1", 3978)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:///data/bot.db", "sqlite+aiosqlite:///data/bot.db"),
        (
            "postgresql://postgres@127.0.0.1:5432/test",
            "postgresql+asyncpg://postgres@127.0.0.1:5432/test",
        ),
        ("postgres://u:p@db/x", "postgresql+asyncpg://u:p@db/x"),
    ],
)
def test_database_urls_get_the_async_driver(given: str, expected: str) -> None:
    key = {"VALUESBOT_ANSWER_KEY": "k" * 32}
    assert Settings.from_env({"DATABASE_URL": given, **key}).database_url == expected


def test_postgresql_needs_an_answer_key_kept_out_of_the_database() -> None:
    postgresql = {"DATABASE_URL": "postgresql://valuesbot@db/valuesbot"}
    with pytest.raises(SettingsError) as problem:
        Settings.from_env(postgresql)
    assert str(problem.value).startswith(
        "bad setting: VALUESBOT_ANSWER_KEY is needed with PostgreSQL: the key that seals "
        "barometer answers waiting for their batch"
    )
    assert "\n" not in str(problem.value)
    # Any of the three ways gives one; SQLite needs none (a key file is made beside it).
    for given in (
        {"VALUESBOT_ANSWER_KEY": "k" * 32},
        {"VALUESBOT_ANSWER_KEY_FILE": "/run/secrets/valuesbot-answer-key"},
        {"VALUESBOT_PSEUDONYM_SECRET": "p" * 16},
    ):
        Settings.from_env({**postgresql, **given})
    assert Settings.from_env({}).answer_key is None


def test_a_short_answer_key_is_refused_and_never_echoed() -> None:
    with pytest.raises(SettingsError) as problem:
        Settings.from_env({"VALUESBOT_ANSWER_KEY": "short-answer-key"})
    assert "VALUESBOT_ANSWER_KEY: needs at least 32 characters" in str(problem.value)
    assert "short-answer-key" not in str(problem.value)


def test_comms_and_admins_may_be_named_by_what_the_directory_calls_them() -> None:
    settings = Settings.from_env(
        {
            "VALUESBOT_COMMS": "teams:Carol.Ng@NHSEngland.example, teams:29:1ab",
            "VALUESBOT_ADMINS": "teams:7A6B5C4D-3E2F-1A0B-9C8D-7E6F5A4B3C2D, dana@example.org",
        }
    )
    carol = ("0c1d2e3f", "carol.ng@nhsengland.example", "carol.ng@nhsengland.example")
    bob = ("7a6b5c4d-3e2f-1a0b-9c8d-7e6f5a4b3c2d", "bob@nhsengland.example")
    # By the user principal name or email, in any case; by the Entra object id.
    assert settings.is_comms("teams", "29:carol", carol)
    assert not settings.is_admin("teams", "29:carol", carol)
    assert settings.is_admin("teams", "29:bob", bob)
    assert settings.is_comms("teams", "29:bob", bob)  # admins count as comms
    # A bare entry names someone on any platform; a Teams entry only on Teams.
    assert settings.is_admin("slack", "U9", ("dana@example.org",))
    assert not settings.is_comms("slack", "U8", ("carol.ng@nhsengland.example",))
    # The Teams id still works, and nothing else matches.
    assert settings.is_comms("teams", "29:1ab")
    assert not settings.is_comms("teams", "29:dave", ("dave@nhsengland.example", "0d0d"))
    assert not settings.is_comms("teams", "29:dave", ("",))
    assert settings.comms_on("teams") == ("Carol.Ng@NHSEngland.example", "29:1ab")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DATABASE_URL": "mysql://x/y"}, "DATABASE_URL: use sqlite:///"),
        ({"VALUESBOT_MIN_GROUP": "abc"}, "VALUESBOT_MIN_GROUP: Input should be a valid integer"),
        (
            {"VALUESBOT_MIN_GROUP": "1"},
            "VALUESBOT_MIN_GROUP: Input should be greater than or equal to 2",
        ),
        ({"VALUESBOT_TIMEZONE": "Mars/Olympus"}, "VALUESBOT_TIMEZONE: not a known time zone"),
        (
            {"VALUESBOT_BAROMETER_OPEN_TO_ALL": "maybe"},
            "VALUESBOT_BAROMETER_OPEN_TO_ALL: Input should be a valid boolean",
        ),
        ({"VALUESBOT_PORT": "70000"}, "VALUESBOT_PORT"),
        (
            {"VALUESBOT_NHSUK_FRONTEND": "/nowhere/nhsuk-frontend"},
            "VALUESBOT_NHSUK_FRONTEND: the folder of the npm package nhsuk-frontend",
        ),
        ({"SLACK_CLIENT_ID": "123"}, "SLACK_CLIENT_ID and SLACK_CLIENT_SECRET go together"),
        ({"SLACK_BOT_TOKEN": "xoxp-1"}, "SLACK_BOT_TOKEN: a bot token starts with xoxb-"),
        ({"SLACK_APP_TOKEN": "xoxb-1"}, "SLACK_APP_TOKEN: an app-level token starts with xapp-"),
        ({"SLACK_API_URL": "slack.com/api"}, "SLACK_API_URL: the Slack Web API base URL"),
        ({"SLACK_BOT_TOKEN": "xoxb-1"}, "Slack needs SLACK_SIGNING_SECRET .* or SLACK_APP_TOKEN"),
        ({"SLACK_SIGNING_SECRET": "s"}, "Slack needs SLACK_BOT_TOKEN .* or SLACK_CLIENT_ID"),
        (
            {"CONNECTIONS__SERVICE_CONNECTION__SETTINGS__TENANTID": "t1"},
            "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID is needed for Teams",
        ),
        (
            {"CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID": "app-1"},
            "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTSECRET is needed",
        ),
        (
            {
                "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID": "app-1",
                "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTSECRET": "s3cret-value",
                "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__ANONYMOUS_ALLOWED": "true",
            },
            "every request must carry a token",
        ),
        (
            {"CONNECTIONS__SERVICE_CONNECTION__SETTINGS__ANONYMOUS_ALLOWED": "perhaps"},
            "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__ANONYMOUS_ALLOWED: use true or false",
        ),
    ],
)
def test_bad_values_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_secrets_are_never_echoed() -> None:
    with pytest.raises(SettingsError) as problem:
        Settings.from_env({"VALUESBOT_PSEUDONYM_SECRET": "short-secret"})
    assert "needs at least 16 characters" in str(problem.value)
    assert "short-secret" not in str(problem.value)


def test_member_lists_and_roles() -> None:
    settings = Settings.from_env(
        {"VALUESBOT_ADMINS": "slack:U1, U9", "VALUESBOT_COMMS": "teams:29:abc"}
    )
    assert settings.admins == ("slack:U1", "U9")
    assert settings.is_admin("slack", "U1")
    assert not settings.is_admin("teams", "U1")
    assert settings.is_admin("teams", "U9")
    assert settings.is_comms("teams", "29:abc")
    assert settings.is_comms("slack", "U1")
    assert not settings.is_comms("slack", "U2")


def test_the_cli_stops_with_the_setting_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VALUESBOT_TEAM_LENS_HOURS", "forever")
    assert main(["db", "current"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("valuesbot: bad setting: VALUESBOT_TEAM_LENS_HOURS")


def test_the_cli_will_not_start_on_postgresql_without_an_answer_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("VALUESBOT_ANSWER_KEY", "VALUESBOT_ANSWER_KEY_FILE", "VALUESBOT_PSEUDONYM_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgresql://valuesbot@127.0.0.1:1/valuesbot")
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("valuesbot: bad setting: VALUESBOT_ANSWER_KEY is needed with PostgreSQL")
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_slack_settings_that_work() -> None:
    http = Settings.from_env({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"})
    assert http.slack_enabled
    assert not http.slack_oauth
    assert http.slack_api_url == "https://slack.com/api/"
    socket = Settings.from_env({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"})
    assert socket.slack_enabled
    oauth = Settings.from_env(
        {
            "SLACK_CLIENT_ID": "1.2",
            "SLACK_CLIENT_SECRET": "c",
            "SLACK_SIGNING_SECRET": "s",
            "SLACK_API_URL": "http://127.0.0.1:9/api",
        }
    )
    assert oauth.slack_oauth
    assert oauth.slack_api_url == "http://127.0.0.1:9/api/"
    assert not Settings.from_env({}).slack_enabled


def test_slack_tokens_are_never_echoed() -> None:
    with pytest.raises(SettingsError) as problem:
        Settings.from_env({"SLACK_BOT_TOKEN": "xoxp-very-secret"})
    assert "xoxp-very-secret" not in str(problem.value)


def test_teams_is_off_until_its_connection_is_configured() -> None:
    assert not Settings.from_env({}).teams_enabled
    settings = Settings.from_env(
        {
            "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID": "app-1",
            "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTSECRET": "s3cret-value",
            "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__TENANTID": "tenant-1",
        }
    )
    assert settings.teams_enabled
    assert settings.teams_app_id == "app-1"
    assert not settings.teams_anonymous
    assert "s3cret-value" not in repr(settings)
    local = Settings.from_env(
        {"CONNECTIONS__SERVICE_CONNECTION__SETTINGS__ANONYMOUS_ALLOWED": "True"}
    )
    assert local.teams_enabled
    assert local.teams_anonymous
    assert local.teams_app_id is None


def test_values_channels_comms_and_digest_settings() -> None:
    settings = Settings.from_env(
        {
            "VALUESBOT_VALUES_CHANNEL": "slack:C0VALUES, teams:19:abc@thread.tacv2",
            "VALUESBOT_COMMS": "slack:U1,teams:29:1ab,U7",
            "VALUESBOT_DIGEST_EMPTY": "Skip",
            "VALUESBOT_PUBLIC_URL": "https://values.example.org/bot/",
        }
    )
    assert settings.values_channel("slack") == "C0VALUES"
    assert settings.values_channel("teams") == "19:abc@thread.tacv2"
    assert settings.values_channel("console") is None
    assert settings.comms_on("slack") == ("U1", "U7")
    assert settings.comms_on("teams") == ("29:1ab", "U7")
    assert settings.digest_empty == "skip"
    assert settings.public_url == "https://values.example.org/bot"
    admins_only = Settings.from_env({"VALUESBOT_ADMINS": "console:boss"})
    assert admins_only.comms_on("console") == ("boss",)
    assert Settings.from_env({}).digest_empty == "message"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"VALUESBOT_VALUES_CHANNEL": "C0123"}, "VALUESBOT_VALUES_CHANNEL: each entry is"),
        ({"VALUESBOT_VALUES_CHANNEL": "slack:A,slack:B"}, "slack is named twice"),
        ({"VALUESBOT_DIGEST_EMPTY": "never"}, "VALUESBOT_DIGEST_EMPTY: message"),
        ({"VALUESBOT_PUBLIC_URL": "ftp://x"}, "VALUESBOT_PUBLIC_URL: an http"),
    ],
)
def test_bad_digest_and_channel_settings_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_a_teams_channel_without_its_tenant_is_in_the_bots_tenant() -> None:
    teams = {
        "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID": "app",
        "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTSECRET": "secret",
        "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__TENANTID": "tenant-1",
    }
    settings = Settings.from_env(
        {
            **teams,
            "VALUESBOT_BAROMETER_CHANNELS": "teams:19:abc@thread.tacv2,slack:T1:C2",
            "VALUESBOT_BAROMETER_RESULTS": "teams:other-tenant:19:def@thread.tacv2",
        }
    )
    assert settings.barometer_channels == ("teams:tenant-1:19:abc@thread.tacv2", "slack:T1:C2")
    assert settings.barometer_results == ("teams:other-tenant:19:def@thread.tacv2",)
    with pytest.raises(SettingsError, match=r"teams:<tenant id>:19:abc@thread.tacv2"):
        Settings.from_env(
            {
                "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__ANONYMOUS_ALLOWED": "true",
                "VALUESBOT_BAROMETER_CHANNELS": "teams:19:abc@thread.tacv2",
            }
        )


SIGN_IN = {
    "VALUESBOT_WEB_ACCESS": "signed-in",
    "VALUESBOT_OIDC_ISSUER": "https://login.microsoftonline.com/tenant-1/v2.0",
    "VALUESBOT_OIDC_CLIENT_ID": "client-1",
    "VALUESBOT_OIDC_CLIENT_SECRET": "secret-1",
    "VALUESBOT_OIDC_ALLOWED": "tenant-1, T0SLACK",
    "VALUESBOT_WEB_SECRET": "w" * 32,
    "VALUESBOT_PUBLIC_URL": "https://values.example.org",
}


def test_sign_in_settings() -> None:
    assert Settings.from_env({}).web_access == "public"
    assert not Settings.from_env({}).sign_in
    settings = Settings.from_env({**SIGN_IN, "VALUESBOT_WEB_ACCESS": " Signed-In-All "})
    assert settings.web_access == "signed-in-all"
    assert settings.sign_in
    assert settings.oidc_allowed == ("tenant-1", "T0SLACK")
    assert settings.web_session_hours == 8
    # On this machine only, plain HTTP (trying it out, tests).
    local = {"VALUESBOT_PUBLIC_URL": "http://127.0.0.1:3978"}
    assert Settings.from_env({**SIGN_IN, **local}).public_url == "http://127.0.0.1:3978"


@pytest.mark.parametrize("missing", sorted(SIGN_IN.keys() - {"VALUESBOT_WEB_ACCESS"}))
def test_sign_in_without_its_settings_stops_start_up_naming_them(missing: str) -> None:
    given = {k: v for k, v in SIGN_IN.items() if k != missing}
    with pytest.raises(SettingsError) as problem:
        Settings.from_env(given)
    message = str(problem.value)
    assert "\n" not in message
    assert f"VALUESBOT_WEB_ACCESS=signed-in needs {missing} " in message


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("VALUESBOT_WEB_ACCESS", "everyone", "public (no sign-in), signed-in"),
        ("VALUESBOT_OIDC_ISSUER", "http://login.example.org", "an https:// address"),
        ("VALUESBOT_OIDC_ISSUER", "login.example.org", "an https:// address"),
        ("VALUESBOT_WEB_SECRET", "too short", "needs at least 32 characters"),
        ("VALUESBOT_PUBLIC_URL", "http://values.example.org", "sent over HTTPS only"),
        ("VALUESBOT_WEB_SESSION_HOURS", "0", "VALUESBOT_WEB_SESSION_HOURS"),
    ],
)
def test_malformed_sign_in_settings_are_named(name: str, value: str, said: str) -> None:
    with pytest.raises(SettingsError) as problem:
        Settings.from_env({**SIGN_IN, name: value})
    assert said in str(problem.value)
    assert name in str(problem.value)
    if "SECRET" in name:
        assert value not in str(problem.value)
