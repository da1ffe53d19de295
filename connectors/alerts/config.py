"""Alert configuration for the command line: flags -> a frozen :class:`AlertConfig` -> hooks.

:func:`add_alert_arguments` adds the ``--alert-*`` flags to an argparse parser,
:meth:`AlertConfig.from_args` reads them back once, at the CLI edge, and
:meth:`AlertConfig.build` makes the :class:`~connectors.alerts.base.AlertDispatcher`. The
configuration holds where secrets are (an environment variable's name, a file's path),
never a secret: it can be printed and logged.

Examples
--------
>>> import argparse
>>> parser = argparse.ArgumentParser()
>>> add_alert_arguments(parser)
>>> args = parser.parse_args(["--alert-command", "notify --to ops", "--alert-cooldown", "30"])
>>> cfg = AlertConfig.from_args(args)
>>> cfg.command, cfg.cooldown_seconds, cfg.enabled
(('notify', '--to', 'ops'), 30.0, True)
>>> AlertConfig().enabled
False
"""

from __future__ import annotations

import argparse
import shlex
from dataclasses import dataclass

from connectors.alerts.base import AlertDispatcher

__all__ = ["DEFAULT_ALERT_KINDS", "AlertConfig", "add_alert_arguments"]

DEFAULT_ALERT_KINDS = ("drift", "restructure", "replacement")


@dataclass(frozen=True)
class AlertConfig:
    """Where drift alerts go, and how often.

    Parameters
    ----------
    webhook_url
        POST signed events here (:class:`~connectors.alerts.webhook.WebhookHook`).
    secret_env, secret_file
        Where the webhook secret is: an environment variable's name or a file's path.
    webhook_timeout, webhook_retries
        Per-attempt timeout (seconds) and retries after the first attempt.
    command
        argv of a program that gets each event's JSON on stdin
        (:class:`~connectors.alerts.command.CommandHook`); no shell.
    command_timeout
        Seconds before the program is killed.
    file
        Append events to this JSON Lines file.
    topic, bootstrap_servers
        Produce events to this Kafka topic on these brokers.
    cooldown_seconds, cooldown_records
        One alert per detector (and level, learner, kind) per window; see
        :class:`~connectors.alerts.base.AlertDispatcher`.
    kinds
        Event kinds that alert; warnings are left out by default.
    max_queue
        Events waiting per background hook before new ones are dropped.
    """

    webhook_url: str | None = None
    secret_env: str | None = None
    secret_file: str | None = None
    webhook_timeout: float = 5.0
    webhook_retries: int = 5
    command: tuple | None = None
    command_timeout: float = 10.0
    file: str | None = None
    topic: str | None = None
    bootstrap_servers: str | None = None
    cooldown_seconds: float = 60.0
    cooldown_records: int = 0
    kinds: tuple = DEFAULT_ALERT_KINDS
    max_queue: int = 1000

    def __post_init__(self):
        if self.secret_env and self.secret_file:
            raise ValueError("give the webhook secret one way: --alert-secret-env or "
                             "--alert-secret-file")
        if (self.secret_env or self.secret_file) and not self.webhook_url:
            raise ValueError("a webhook secret was given without --alert-webhook")
        if self.command is not None:
            if isinstance(self.command, str):
                object.__setattr__(self, "command", tuple(shlex.split(self.command)))
            else:
                object.__setattr__(self, "command", tuple(self.command))
            if not self.command:
                raise ValueError("--alert-command is empty")
        if self.cooldown_seconds < 0 or self.cooldown_records < 0:
            raise ValueError("alert cooldowns must be >= 0")
        if self.webhook_timeout <= 0 or self.command_timeout <= 0:
            raise ValueError("alert timeouts must be > 0")
        if self.webhook_retries < 0:
            raise ValueError("--alert-retries must be >= 0")
        if self.max_queue < 1:
            raise ValueError("the alert queue needs room for at least one event")
        object.__setattr__(self, "kinds", tuple(self.kinds))

    @property
    def enabled(self) -> bool:
        """Whether any hook is configured."""
        return bool(self.webhook_url or self.command or self.file or self.topic)

    def hooks(self) -> list:
        """Build the configured hooks (reads the webhook secret now)."""
        hooks = []
        if self.webhook_url:
            from connectors.alerts.webhook import WebhookHook

            hooks.append(WebhookHook(self.webhook_url, secret_env=self.secret_env,
                                     secret_file=self.secret_file,
                                     timeout=self.webhook_timeout,
                                     max_retries=self.webhook_retries))
        if self.command:
            from connectors.alerts.command import CommandHook

            hooks.append(CommandHook(list(self.command), timeout=self.command_timeout))
        if self.file:
            from connectors.alerts.jsonl_file import JsonlFileHook

            hooks.append(JsonlFileHook(self.file))
        if self.topic:
            if not self.bootstrap_servers:
                raise ValueError("--alert-topic needs Kafka brokers (--alert-bootstrap-servers)")
            from connectors.alerts.kafka_topic import KafkaTopicHook

            hooks.append(KafkaTopicHook(self.topic, bootstrap_servers=self.bootstrap_servers))
        return hooks

    def build(self, extra_hooks=()) -> AlertDispatcher:
        """The dispatcher with the configured hooks and ``extra_hooks`` (e.g. callables)."""
        return AlertDispatcher([*self.hooks(), *extra_hooks],
                               cooldown_seconds=self.cooldown_seconds,
                               cooldown_records=self.cooldown_records, kinds=self.kinds,
                               max_queue=self.max_queue)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> AlertConfig:
        """Read the flags of :func:`add_alert_arguments` (``ValueError`` on a bad mix).

        Kafka brokers default to the namespace's ``bootstrap_servers`` (the worker's own
        flag) when ``--alert-bootstrap-servers`` is not given.
        """
        def get(name, default=None):
            value = getattr(args, name, None)
            return default if value is None else value

        command = get("alert_command")
        kinds = DEFAULT_ALERT_KINDS + (("warning",) if get("alert_warnings", False) else ())
        timeout = get("alert_timeout")
        return cls(
            webhook_url=get("alert_webhook"), secret_env=get("alert_secret_env"),
            secret_file=get("alert_secret_file"),
            webhook_timeout=timeout if timeout is not None else 5.0,
            webhook_retries=get("alert_retries", 5),
            command=tuple(shlex.split(command)) if command else None,
            command_timeout=timeout if timeout is not None else 10.0,
            file=get("alert_file"), topic=get("alert_topic"),
            bootstrap_servers=get("alert_bootstrap_servers", get("bootstrap_servers")),
            cooldown_seconds=get("alert_cooldown", 60.0),
            cooldown_records=get("alert_cooldown_records", 0), kinds=kinds,
        )


ALERT_EPILOG = """\
alerts:
  Each drift detection becomes an event (JSON). --alert-* flags send alerts to a webhook
  (HTTP POST signed with HMAC-SHA256, Standard Webhooks headers webhook-id,
  webhook-timestamp, webhook-signature; verify with
  connectors.alerts.verify_webhook), a program (event JSON on stdin, no shell), a JSON
  Lines file or a Kafka topic. Secrets come from an environment variable or a file, never
  from the command line. Network and program deliveries run in the background: a slow or
  dead endpoint never slows learning (drops and failures are counted and logged).
"""


def add_alert_arguments(parser) -> None:
    """Add the ``--alert-*`` flags to an argparse parser (or argument group)."""
    group = parser.add_argument_group("alerts") if hasattr(parser,
                                                           "add_argument_group") else parser
    group.add_argument("--alert-webhook", default=None, metavar="URL",
                       help="POST each alert, signed, to this http(s) URL")
    group.add_argument("--alert-secret-env", default=None, metavar="NAME",
                       help="environment variable holding the webhook secret "
                            "(whsec_<base64> or any string)")
    group.add_argument("--alert-secret-file", default=None, metavar="PATH",
                       help="file holding the webhook secret")
    group.add_argument("--alert-command", default=None, metavar="'PROG ARGS'",
                       help="run this program (split like a shell would, but no shell runs "
                            "it) with each alert's JSON on stdin")
    group.add_argument("--alert-file", default=None, metavar="PATH",
                       help="append each alert as one JSON line to PATH")
    group.add_argument("--alert-topic", default=None, metavar="NAME",
                       help="produce each alert to this Kafka topic")
    group.add_argument("--alert-bootstrap-servers", default=None, metavar="HOSTS",
                       help="Kafka brokers for --alert-topic (default: the worker's)")
    group.add_argument("--alert-cooldown", type=float, default=60.0, metavar="SECONDS",
                       help="after an alert, hold further alerts from the same detector "
                            "for SECONDS (suppressed ones are counted in the next alert)")
    group.add_argument("--alert-cooldown-records", type=int, default=0, metavar="N",
                       help="... and for N records of the stream (suits replays)")
    group.add_argument("--alert-timeout", type=float, default=None, metavar="SECONDS",
                       help="timeout of a webhook attempt (default 5) or of the alert "
                            "program (default 10)")
    group.add_argument("--alert-retries", type=int, default=5, metavar="N",
                       help="webhook retries after the first attempt (exponential backoff)")
    group.add_argument("--alert-warnings", action="store_true",
                       help="also alert on drift warnings")
