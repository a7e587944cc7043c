"""Signed unsubscribe tokens and the links built from them.

A token names the client, the contact and the message (its idempotency key
``<enrollment>:<step>``), and whether the message belonged to a test run (a test-run
token verifies, but unsubscribes nobody). It is signed with HMAC-SHA256 (itsdangerous,
``key_derivation="hmac"``) by the keys in ``CAMPAIGN_GITOPS_SIGNING_KEY``: several keys
separated by commas, the first signs, all verify, so a key is rotated by putting the new
one first and dropping the old one once its links no longer matter.

Links are ``{publicUrl}/u/{token}``; the mail fallback of ``List-Unsubscribe`` is
``mailto:{mailbox address}?subject=unsubscribe%20{token}`` (the inbound fetch honours it).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from itsdangerous import BadData, URLSafeSerializer

from campaign_gitops.config.project import ProjectConfig
from campaign_gitops.findings import CampaignGitopsError

SIGNING_KEY_ENV = "CAMPAIGN_GITOPS_SIGNING_KEY"
_SALT = "campaign-gitops/unsubscribe/v1"
UNSUBSCRIBE_PATH = "/u/"
MAILTO_SUBJECT = "unsubscribe"


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    """What a verified token says."""

    client: str
    contact: str
    message: str
    test: bool = False


class Signer:
    """Signs with the first key, verifies with any of them."""

    def __init__(self, keys: list[str]) -> None:
        keys = [k.strip() for k in keys if k.strip()]
        if not keys:
            raise CampaignGitopsError(
                f"no signing key: {SIGNING_KEY_ENV} is empty",
                hint=f"set {SIGNING_KEY_ENV} to a long random string (e.g. `openssl rand "
                     "-hex 32`); several keys separated by commas rotate: the first signs")
        # itsdangerous signs with the last key of the list and verifies with all.
        self._serializer = URLSafeSerializer(
            list(reversed(keys)), salt=_SALT,
            signer_kwargs={"digest_method": hashlib.sha256, "key_derivation": "hmac"})

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Signer | None:
        value = (os.environ if environ is None else environ).get(SIGNING_KEY_ENV, "")
        return cls(value.split(",")) if value.strip() else None

    def sign(self, what: Unsubscribe) -> str:
        payload: dict[str, Any] = {"c": what.client, "t": what.contact, "m": what.message}
        if what.test:
            payload["x"] = 1
        return str(self._serializer.dumps(payload))

    def verify(self, token: str) -> Unsubscribe | None:
        """The token's content, or None when no key signed it (or it is malformed)."""
        try:
            data = self._serializer.loads(token)
        except (BadData, ValueError, TypeError):
            return None
        if not isinstance(data, dict) or not all(isinstance(data.get(k), str)
                                                 for k in ("c", "t", "m")):
            return None
        return Unsubscribe(data["c"], data["t"], data["m"], bool(data.get("x")))


@dataclass(frozen=True, slots=True)
class Links:
    """Where recipients reach us: ``publicUrl`` and the signer (and a mailbox address)."""

    public_url: str
    signer: Signer
    mailto: str | None = None

    def unsubscribe_url(self, what: Unsubscribe) -> str:
        return f"{self.public_url.rstrip('/')}{UNSUBSCRIBE_PATH}{self.signer.sign(what)}"


def token_of(url: str) -> str | None:
    """The token of an unsubscribe link built by ``Links`` (None for other links)."""
    head, sep, token = url.rpartition(UNSUBSCRIBE_PATH)
    return token if sep and head and token and "/" not in token else None


def mailto(address: str, token: str) -> str:
    return f"mailto:{address}?subject={quote(f'{MAILTO_SUBJECT} {token}')}"


def links_for(config: ProjectConfig, environ: Mapping[str, str] | None = None) -> Links | None:
    """The links of ``config`` (None without ``publicUrl``: the legacy link stays)."""
    if not config.public_url:
        return None
    signer = Signer.from_env(environ)
    if signer is None:
        raise CampaignGitopsError(
            f"publicUrl is set but {SIGNING_KEY_ENV} is not: unsubscribe links cannot be signed",
            hint=f"set {SIGNING_KEY_ENV} to a long random string (e.g. `openssl rand -hex 32`)")
    address = next((m.address for m in config.inbound.mailboxes if m.address), None)
    return Links(config.public_url, signer, address)
