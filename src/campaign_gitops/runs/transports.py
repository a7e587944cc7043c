"""Delivery transports: how one channel's messages leave the building.

Chosen per channel by ``transports:`` in campaign-gitops.yaml (``outbox`` by default);
this module makes them (``make_transport``, ``make_named_transport`` for a sender's),
each kind lives in its own module:

- ``outbox`` (runs/transport_outbox.py): tick records the message in the database; with
  ``path`` it is also appended as one JSON line to that file, at most once per
  idempotency key (across processes too).
- ``smtp`` (runs/transport_smtp.py): real SMTP (STARTTLS with ``starttls: true``,
  implicit TLS on port 465, login with credentials read from the environment variables
  the config names). The Message-ID is derived from the idempotency key, so a resend
  after a crash carries the same id, and it is returned so replies (``In-Reply-To``) can
  be matched.
- ``webhook`` (runs/transport_webhook.py): an HTTP POST of a JSON message, signed with
  ``X-Campaign-Gitops-Signature: sha256=<hex HMAC-SHA256 of the raw body>`` keyed by the
  secret in ``secretEnv``, with an ``Idempotency-Key`` header.

Every failure is a DeliveryError. Only failures that prove nothing was accepted are
retried (a refused connection, an SMTP error reply before or in answer to DATA, an HTTP
5xx, 408 or 429 answer); ``permanent`` ones (a refused recipient, an SMTP 5xx, an HTTP
4xx) are not. A timeout or a dropped connection after the message was handed over (SMTP
from DATA on, HTTP once the request was sent) is ``ambiguous``: the server may have
accepted it, so it is never retried by itself (SMTP servers cannot deduplicate; a
webhook receiver should deduplicate on ``Idempotency-Key`` all the same).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from campaign_gitops.config.models import CHANNEL_ALIASES
from campaign_gitops.config.project import ProjectConfig, TransportConfig
from campaign_gitops.findings import CampaignGitopsError
from campaign_gitops.runs.transport_outbox import OutboxTransport
from campaign_gitops.runs.transport_smtp import SmtpTransport
from campaign_gitops.runs.transport_webhook import WebhookTransport
from campaign_gitops.runs.types import Transport


def make_transport(channel: str, config: ProjectConfig, *, root: Path | None = None,
                   env: Mapping[str, str] | None = None) -> Transport:
    """The transport configured for ``channel`` (outbox when none is configured).

    ``root`` resolves a relative outbox ``path`` (default: the current directory);
    ``env`` is where credentials are read from (default: ``os.environ``).
    Raises CampaignGitopsError for a configuration that cannot work.
    """
    settings = _settings_for(channel, config)
    environ = os.environ if env is None else env
    where = f"transports.{channel}"
    if settings.type == "smtp":
        if channel != "email":
            raise CampaignGitopsError(f"{where}: smtp can only deliver email, not {channel}",
                                      hint="use a webhook transport for this channel")
        address = next((m.address for m in config.inbound.mailboxes if m.address), None)
        return SmtpTransport.from_config(settings, environ, where, address)
    if settings.type == "webhook":
        return WebhookTransport.from_config(settings, environ, where)
    path = None
    if settings.path:
        path = Path(settings.path)
        if not path.is_absolute():
            path = (root or Path.cwd()) / path
    return OutboxTransport(path)


def make_named_transport(name: str, config: ProjectConfig, *,
                         env: Mapping[str, str] | None = None) -> Transport:
    """A named transport of campaign-gitops.yaml (SPEC 9) that senders point at: an smtp
    one needs no fromAddress (its senders give From)."""
    settings = config.transports.get(name)
    where = f"transports.{name}"
    if settings is None:
        raise CampaignGitopsError(f"{where} is not defined in campaign-gitops.yaml",
                                  hint=f"add transports: {{{name}: {{type: smtp, host: …}}}}")
    environ = os.environ if env is None else env
    if settings.type == "smtp":
        address = next((m.address for m in config.inbound.mailboxes if m.address), None)
        return SmtpTransport.from_config(settings, environ, where, address, need_from=False)
    if settings.type == "webhook":
        return WebhookTransport.from_config(settings, environ, where)
    raise CampaignGitopsError(f"{where}: an outbox cannot be a sender's transport",
                              hint="use type smtp or webhook")


def _settings_for(channel: str, config: ProjectConfig) -> TransportConfig:
    """The channel's transport settings; ``phone:`` is accepted for ``voice``."""
    if channel in config.transports:
        return config.transports[channel]
    for alias, target in CHANNEL_ALIASES.items():
        if target == channel and alias in config.transports:
            return config.transports[alias]
    return TransportConfig()
