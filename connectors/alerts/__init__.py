"""Alert delivery: drift events to a callable, a JSONL file, a webhook, a program, Kafka.

The loop hands each :class:`~drift.events.DriftEvent` to an :class:`AlertDispatcher`, which
applies a cooldown and passes it to every hook; network and process hooks deliver from a
bounded background queue, so a slow or dead endpoint never slows learning. Webhooks are
signed in the Standard Webhooks style; receivers check them with :func:`verify_webhook`.

Examples
--------
>>> from connectors.alerts import AlertDispatcher
>>> from drift.events import new_event
>>> alerts = AlertDispatcher([print], cooldown_seconds=60)
>>> alerts.emit(new_event("adwin", "global", 10, timestamp=0.0))
DriftEvent(id='evt_...', level='global', detector='adwin', position=10, ...)
True
>>> alerts.emit(new_event("adwin", "global", 30, timestamp=0.0))   # within the cooldown
False
>>> alerts.close()
"""

from stream.lazy_exports import lazy_exports

__all__ = [
    "AlertConfig", "AlertDeliveryError", "AlertDispatcher", "AlertHook", "BackgroundDelivery",
    "CallableHook", "CommandHook", "InlineDelivery", "JsonlFileHook", "KafkaTopicHook",
    "WebhookHook", "WebhookVerificationError", "add_alert_arguments", "generate_secret",
    "sign", "verify_webhook",
]


# loaded on first use: the command line imports only what it runs
__getattr__, __dir__ = lazy_exports(__name__, {
    "AlertDeliveryError": "connectors.alerts.base",
    "AlertDispatcher": "connectors.alerts.base",
    "AlertHook": "connectors.alerts.base",
    "InlineDelivery": "connectors.alerts.base",
    "CallableHook": "connectors.alerts.callable",
    "CommandHook": "connectors.alerts.command",
    "AlertConfig": "connectors.alerts.config",
    "add_alert_arguments": "connectors.alerts.config",
    "JsonlFileHook": "connectors.alerts.jsonl_file",
    "KafkaTopicHook": "connectors.alerts.kafka_topic",
    "BackgroundDelivery": "connectors.alerts.queue",
    "WebhookVerificationError": "connectors.alerts.signing",
    "generate_secret": "connectors.alerts.signing",
    "sign": "connectors.alerts.signing",
    "verify_webhook": "connectors.alerts.signing",
    "WebhookHook": "connectors.alerts.webhook",
})
