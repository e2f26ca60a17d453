"""Slack installations (multi-workspace OAuth): installations, bots and OAuth states.

These three tables belong to slack-sdk's async SQLAlchemy installation and state stores, which
read and write them with table definitions of their own (``adapters/slack``); they are declared
here too so that our migrations create them and the migration check covers them.
tests/adapters/slack/test_oauth.py checks that they match the SDK's column for column. The SDK
stores naive UTC timestamps, hence plain DateTime.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Column, DateTime, Index, Integer, String, Table
from sqlmodel import SQLModel


def _slack_bot_columns() -> list[Column[Any]]:
    return [
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("client_id", String(32), nullable=False),
        Column("app_id", String(32), nullable=False),
        Column("enterprise_id", String(32)),
        Column("enterprise_name", String(200)),
    ]


def _slack_token_columns() -> list[Column[Any]]:
    return [
        Column("bot_token", String(200)),
        Column("bot_id", String(32)),
        Column("bot_user_id", String(32)),
        Column("bot_scopes", String(1000)),
        Column("bot_refresh_token", String(200)),
        Column("bot_token_expires_at", DateTime),
    ]


slack_installations = Table(
    "slack_installations",
    SQLModel.metadata,
    *_slack_bot_columns(),
    Column("enterprise_url", String(200)),
    Column("team_id", String(32)),
    Column("team_name", String(200)),
    *_slack_token_columns(),
    Column("user_id", String(32), nullable=False),
    Column("user_token", String(200)),
    Column("user_scopes", String(1000)),
    Column("user_refresh_token", String(200)),
    Column("user_token_expires_at", DateTime),
    Column("incoming_webhook_url", String(200)),
    Column("incoming_webhook_channel", String(200)),
    Column("incoming_webhook_channel_id", String(200)),
    Column("incoming_webhook_configuration_url", String(200)),
    Column("is_enterprise_install", Boolean, nullable=False),
    Column("token_type", String(32)),
    Column("installed_at", DateTime, nullable=False),
    Index(
        "slack_installations_idx",
        "client_id",
        "enterprise_id",
        "team_id",
        "user_id",
        "installed_at",
    ),
)


slack_bots = Table(
    "slack_bots",
    SQLModel.metadata,
    *_slack_bot_columns(),
    Column("team_id", String(32)),
    Column("team_name", String(200)),
    *_slack_token_columns(),
    Column("is_enterprise_install", Boolean, nullable=False),
    Column("installed_at", DateTime, nullable=False),
    Index("slack_bots_idx", "client_id", "enterprise_id", "team_id", "installed_at"),
)


slack_oauth_states = Table(
    "slack_oauth_states",
    SQLModel.metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("state", String(200), nullable=False),
    Column("expire_at", DateTime, nullable=False),
)
