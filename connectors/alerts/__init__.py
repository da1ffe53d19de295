"""Alert delivery: drift events to a callable, a JSONL file, a webhook, a program, Kafka.

The loop hands each :class:`~drift.events.DriftEvent` to an :class:`AlertDispatcher`, which
applies a cooldown and passes it to every hook; network and process hooks deliver from a
bounded background queue, so a slow or dead endpoint never slows learning. Webhooks are
signed in the Standard Webhooks style; receivers check them with :func:`verify_webhook`.

Examples
--------
>>> from drift.events import new_event
>>> alerts = AlertDispatcher([print], cooldown_seconds=60)
>>> alerts.emit(new_event("adwin", "global", 10, timestamp=0.0))
DriftEvent(id='evt_...', level='global', detector='adwin', position=10, ...)
True
>>> alerts.emit(new_event("adwin", "global", 30, timestamp=0.0))   # within the cooldown
False
>>> alerts.close()
"""

from connectors.alerts.base import AlertDeliveryError, AlertDispatcher, AlertHook, InlineDelivery
from connectors.alerts.callable import CallableHook
from connectors.alerts.command import CommandHook
from connectors.alerts.config import AlertConfig, add_alert_arguments
from connectors.alerts.jsonl_file import JsonlFileHook
from connectors.alerts.kafka_topic import KafkaTopicHook
from connectors.alerts.queue import BackgroundDelivery
from connectors.alerts.signing import (
    WebhookVerificationError,
    generate_secret,
    sign,
    verify_webhook,
)
from connectors.alerts.webhook import WebhookHook

__all__ = [
    "AlertConfig", "AlertDeliveryError", "AlertDispatcher", "AlertHook", "BackgroundDelivery",
    "CallableHook", "CommandHook", "InlineDelivery", "JsonlFileHook", "KafkaTopicHook",
    "WebhookHook", "WebhookVerificationError", "add_alert_arguments", "generate_secret",
    "sign", "verify_webhook",
]
