"""The ``webhook`` transport: an HTTP POST of a JSON message per message (SMS, voice, ...).

Signed with ``X-Campaign-Gitops-Signature: sha256=<hex HMAC-SHA256 of the raw body>``
keyed by the secret in ``secretEnv`` (the signature of inbound/webhook.py, which
verifies the provider's events the same way), with an ``Idempotency-Key`` header.
No connection is retried; an HTTP 5xx, 408 or 429 answer is retried, another 4xx is
permanent; a failure once the request was sent is ``ambiguous`` (a receiver should
deduplicate on ``Idempotency-Key``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

import httpx

from campaign_gitops.config.project import TransportConfig
from campaign_gitops.findings import CampaignGitopsError
from campaign_gitops.inbound.webhook import SIGNATURE_HEADER, signature
from campaign_gitops.runs.types import DeliveryError, OutgoingMessage

IDEMPOTENCY_HEADER = "Idempotency-Key"


class WebhookTransport:
    """An HTTP POST per message, signed with HMAC-SHA256 of the body."""

    name = "webhook"

    def __init__(self, *, url: str, secret_env: str | None = None, timeout: float = 10.0,
                 env: Mapping[str, str] | None = None,
                 http_client: httpx.Client | None = None) -> None:
        self.url = url
        self.secret_env = secret_env
        self._env = os.environ if env is None else env
        self._http = http_client or httpx.Client(timeout=timeout)

    @classmethod
    def from_config(cls, settings: TransportConfig, env: Mapping[str, str],
                    where: str) -> WebhookTransport:
        if not settings.url:
            raise CampaignGitopsError(
                f"{where}: a webhook transport needs a url",
                hint="e.g. transports: {sms: {type: webhook, url: https://provider.example/send, "
                     "secretEnv: SMS_WEBHOOK_SECRET}}")
        return cls(url=settings.url, secret_env=settings.secret_env,
                   timeout=settings.timeout_seconds, env=env)

    def send(self, message: OutgoingMessage) -> str:
        body = json.dumps(message.as_json(), ensure_ascii=False, sort_keys=True,
                          separators=(",", ":"), default=str).encode()
        headers = {"Content-Type": "application/json",
                   IDEMPOTENCY_HEADER: message.idempotency_key}
        if self.secret_env:
            secret = self._env.get(self.secret_env)
            if not secret:
                raise DeliveryError(f"webhook secret: environment variable {self.secret_env} "
                                    "is not set (transports secretEnv)")
            headers[SIGNATURE_HEADER] = signature(secret, body)
        try:
            response = self._http.post(self.url, content=body, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            # no connection, so nothing was sent: retried
            raise DeliveryError(f"webhook {self.url} failed to connect: "
                                f"{type(exc).__name__}") from exc
        except httpx.HTTPError as exc:  # the request may have arrived: unknown
            raise DeliveryError(f"webhook {self.url} failed after the request "
                                f"was sent: {type(exc).__name__}", ambiguous=True) from exc
        if 200 <= response.status_code < 300:
            return _provider_id(response) or message.idempotency_key
        status = response.status_code
        permanent = status < 500 and status not in (408, 429)
        snippet = response.text[:200].strip()
        raise DeliveryError(f"webhook {self.url} answered {status}"
                            + (f": {snippet}" if snippet else ""), permanent=permanent)

    def close(self) -> None:
        self._http.close()


def _provider_id(response: httpx.Response) -> str | None:
    """The provider's id from a JSON answer's ``id`` or ``message_id``, if it has one."""
    try:
        data = response.json()
    except ValueError:
        return None
    if isinstance(data, dict):
        for key in ("id", "message_id", "messageId"):
            if isinstance(data.get(key), str | int) and str(data[key]):
                return str(data[key])
    return None
