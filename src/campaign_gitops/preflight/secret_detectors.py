"""What looks like a secret in a piece of text: detect-secrets' detectors, with positions.

The detectors are detect-secrets' own (https://github.com/Yelp/detect-secrets): its
regex plugins (AWS, basic-auth URLs, Slack tokens and webhooks, GitHub, GitLab, Stripe,
SendGrid, JWTs, private keys, OpenAI, Twilio, ...), its entropy plugins
(``Base64HighEntropyString`` above 4.5 bits, ``HexHighEntropyString`` above 3.0) and its
heuristic filters (sequential strings, UUIDs, ids, templates). A few formats that
detect-secrets 1.5 does not know yet are added as plugins of the same kind
(``RegexBasedDetector``): Anthropic and OpenAI project keys, Slack app tokens
(``xapp-``), GitHub fine-grained tokens (``github_pat_``) and Google API keys (``AIza``).

We do not run detect-secrets' file scanner: a linted repository has tens of thousands
of scalars, so each string is first tested by ``could_hold_secret`` (``secret_screen.py``)
and the plugins, imported on first use, run on the rare strings it lets through. Two
things stay ours because they depend on what a campaign file is: the ``password: …``
inside a text (detect-secrets' keyword plugin reads "Reset your password: click here"
as one) and keys that hold a secret (``rules/secrets.py``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any

from campaign_gitops.secret_screen import detectable

# "password: hunter2" inside a text; the value needs a digit or symbol ("Password: click
# here" in an email body is no secret).
INLINE_PASSWORD = re.compile(
    r"(?i)\b(?:password|passwd|pwd|api[_-]?key|secret)\s*[:=]\s*(?=\S*[0-9!@#$%^&*])(\S{6,})")
# Entropy is measured on runs of the base64 alphabet that lie outside URLs (a URL's
# credentials and known token formats are the regex plugins' job; a document id in a
# link is no secret).
_TOKEN = re.compile(r"[A-Za-z0-9+/=_-]{20,}")
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)
_HEX = re.compile(r"[0-9a-fA-F]+")
_JWT_TAIL = re.compile(r"[A-Za-z0-9_.+/=-]*")

Hit = tuple[str, int, int]  # (what, offset, length)


@functools.cache
def _plugins() -> tuple[list[Any], Any, Any, Any]:
    """The regex plugins, the two entropy plugins and the heuristic filters (imported on
    first use: detect-secrets brings requests along, ~0.1 s)."""
    from detect_secrets.filters import heuristic
    from detect_secrets.plugins.artifactory import ArtifactoryDetector
    from detect_secrets.plugins.aws import AWSKeyDetector
    from detect_secrets.plugins.azure_storage_key import AzureStorageKeyDetector
    from detect_secrets.plugins.base import RegexBasedDetector
    from detect_secrets.plugins.basic_auth import BasicAuthDetector
    from detect_secrets.plugins.cloudant import CloudantDetector
    from detect_secrets.plugins.discord import DiscordBotTokenDetector
    from detect_secrets.plugins.github_token import GitHubTokenDetector
    from detect_secrets.plugins.gitlab_token import GitLabTokenDetector
    from detect_secrets.plugins.high_entropy_strings import (
        Base64HighEntropyString,
        HexHighEntropyString,
    )
    from detect_secrets.plugins.ibm_cloud_iam import IbmCloudIamDetector
    from detect_secrets.plugins.ibm_cos_hmac import IbmCosHmacDetector
    from detect_secrets.plugins.jwt import JwtTokenDetector
    from detect_secrets.plugins.mailchimp import MailchimpDetector
    from detect_secrets.plugins.npm import NpmDetector
    from detect_secrets.plugins.openai import OpenAIDetector
    from detect_secrets.plugins.private_key import PrivateKeyDetector
    from detect_secrets.plugins.pypi_token import PypiTokenDetector
    from detect_secrets.plugins.sendgrid import SendGridDetector
    from detect_secrets.plugins.slack import SlackDetector
    from detect_secrets.plugins.softlayer import SoftlayerDetector
    from detect_secrets.plugins.square_oauth import SquareOAuthDetector
    from detect_secrets.plugins.stripe import StripeDetector
    from detect_secrets.plugins.telegram_token import TelegramBotTokenDetector
    from detect_secrets.plugins.twilio import TwilioKeyDetector

    edge = r"(?<![A-Za-z0-9_-])"

    class AnthropicKeyDetector(RegexBasedDetector):  # type: ignore[misc]
        secret_type = "Anthropic API Key"
        denylist = (re.compile(edge + r"sk-ant-[A-Za-z0-9_-]{20,}"),)

    class OpenAIProjectKeyDetector(RegexBasedDetector):  # type: ignore[misc]
        secret_type = "OpenAI Token"
        denylist = (re.compile(edge + r"sk-(?!ant-)(?:proj-|svcacct-|admin-)?"
                               r"[A-Za-z0-9_-]{20,}"),)

    class SlackAppTokenDetector(RegexBasedDetector):  # type: ignore[misc]
        secret_type = "Slack Token"
        denylist = (re.compile(edge + r"xapp-\d-[A-Z0-9]+-\d+-[a-z0-9]{20,}", re.IGNORECASE),)

    class GitHubFineGrainedTokenDetector(RegexBasedDetector):  # type: ignore[misc]
        secret_type = "GitHub Token"
        denylist = (re.compile(edge + r"github_pat_[A-Za-z0-9_]{50,}"),)

    class GoogleApiKeyDetector(RegexBasedDetector):  # type: ignore[misc]
        secret_type = "Google API Key"
        denylist = (re.compile(edge + r"AIza[0-9A-Za-z_-]{35}"),)

    regex_plugins = [cls() for cls in (
        AnthropicKeyDetector, OpenAIProjectKeyDetector, SlackAppTokenDetector,
        GitHubFineGrainedTokenDetector, GoogleApiKeyDetector,
        ArtifactoryDetector, AWSKeyDetector, AzureStorageKeyDetector, BasicAuthDetector,
        CloudantDetector, DiscordBotTokenDetector, GitHubTokenDetector, GitLabTokenDetector,
        IbmCloudIamDetector, IbmCosHmacDetector, JwtTokenDetector, MailchimpDetector,
        NpmDetector, OpenAIDetector, PrivateKeyDetector, PypiTokenDetector,
        SendGridDetector, SlackDetector, SoftlayerDetector, SquareOAuthDetector,
        StripeDetector, TelegramBotTokenDetector, TwilioKeyDetector)]
    return (regex_plugins, Base64HighEntropyString(limit=4.5),
            HexHighEntropyString(limit=3.0), heuristic)


def _regex_hits(text: str, plugins: list[Any]) -> Iterator[Hit]:
    """Each regex plugin's matches, at the span of the secret: a group that follows
    context (the password of a URL) rather than the whole match, a JWT with its
    signature; a match the plugin then rejects (an invalid JWT) is dropped."""
    for plugin in plugins:
        for pattern in plugin.denylist:
            for m in pattern.finditer(text):
                start, end = m.span()
                for i in range(1, (pattern.groups or 0) + 1):
                    if m.group(i):
                        if m.start(i) > start:  # a group at the start is an alternation
                            start, end = m.span(i)
                        break
                if start == end or next(plugin.analyze_string(m.group()), None) is None:
                    continue
                if plugin.secret_type == "JSON Web Token":  # its pattern stops at the dot
                    end += len(_JWT_TAIL.match(text, end).group())  # type: ignore[union-attr]
                yield plugin.secret_type, start, end - start


def _entropy_hits(text: str, base64: Any, hexa: Any, heuristic: Any,
                  taken: list[tuple[int, int]]) -> Iterator[Hit]:
    """High-entropy runs of the base64 or hex alphabet outside URLs and earlier hits."""
    urls = [m.span() for m in _URL.finditer(text)] if "://" in text else []
    for m in _TOKEN.finditer(text):
        start, end = m.span()
        if any(a < end and start < b for a, b in (*urls, *taken)):
            continue
        token = m.group().strip("=")
        if _HEX.fullmatch(token):
            if not (any(c.isdigit() for c in token) and any(c.isalpha() for c in token)) \
                    or hexa.calculate_shannon_entropy(token) <= hexa.entropy_limit:
                continue
            plugin, what = hexa, "high-entropy hex string"
        else:
            # Generated keys mix cases and digits; prose-like runs (slugs, snake_case
            # names, hyphenated words) do not.
            if not (any(c.isdigit() for c in token) and any(c.isupper() for c in token)
                    and any(c.islower() for c in token)) \
                    or base64.calculate_shannon_entropy(token) <= base64.entropy_limit:
                continue
            plugin, what = base64, "high-entropy string"
        if heuristic.is_sequential_string(token) or heuristic.is_potential_uuid(token) \
                or heuristic.is_templated_secret(token) \
                or heuristic.is_likely_id_string(token, text, plugin):
            continue
        yield what, start + m.group().index(token), len(token)


def find_secrets(text: str) -> list[Hit]:
    """(what, offset, length) of every secret-looking piece of ``text``, in text order,
    none overlapping another."""
    hits: list[Hit] = [("password", m.start(1), len(m.group(1)))
                       for m in INLINE_PASSWORD.finditer(text)]
    if detectable(text):
        regex_plugins, base64, hexa, heuristic = _plugins()
        hits.extend(_regex_hits(text, regex_plugins))
        hits.extend(_entropy_hits(text, base64, hexa, heuristic,
                                  [(o, o + n) for _, o, n in hits]))
    out: list[Hit] = []
    for hit in sorted(hits, key=lambda h: (h[1], -h[2])):
        if not out or hit[1] >= out[-1][1] + out[-1][2]:
            out.append(hit)
    return out


def mask(secret: str) -> str:
    """Enough of a secret to find it again, never enough to use it."""
    return f"{secret[:min(6, len(secret) // 4)]}… ({len(secret)} characters)"


__all__ = ["INLINE_PASSWORD", "find_secrets", "mask"]
