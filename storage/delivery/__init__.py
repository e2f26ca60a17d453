"""Delivery's storage: the outbox features queue proactive messages in, and the queue the
delivery workers claim them from, with the send budgets and weekly caps they share
(``records`` holds the records and interfaces, ``tables`` the tables, ``sql`` the stores)."""

from storage.delivery.records import (
    ClaimedMessage,
    DeliveryProgress,
    DeliveryQueue,
    OutboxMessage,
    OutboxStatus,
    OutboxStore,
    SendStart,
    SendToStart,
)
from storage.delivery.sql import SqlDeliveryQueue, SqlOutbox

__all__ = [
    "ClaimedMessage",
    "DeliveryProgress",
    "DeliveryQueue",
    "OutboxMessage",
    "OutboxStatus",
    "OutboxStore",
    "SendStart",
    "SendToStart",
    "SqlDeliveryQueue",
    "SqlOutbox",
]
