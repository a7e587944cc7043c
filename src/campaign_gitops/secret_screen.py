"""Whether a text could hold a secret: the cheap screen in front of PF016's detectors.

``could_hold_secret`` is False when no detector of ``preflight/secret_detectors.py``
can match a text and no word a secret is written beside appears in it; only the rare
texts it lets through go to detect-secrets. ``holds_no_secret`` answers it for a whole
YAML file once, as the loader reads it, so PF016 can skip every document and comment
of a file that cannot hold one. Imports nothing of the project: any layer may use it.
"""

from __future__ import annotations

import re

# Everything a detector can match contains one of these: a run of 23 or more
# characters of the base64 alphabet (the shortest that can pass the 4.5-bit entropy
# limit, and every token format of 24 characters or more: a PEM key's body, a JWT's
# header, AIza…, xapp-…), a URL with credentials, or a shorter format (an AWS key id,
# a Slack token). Tested with bytes.translate, ``in`` and a regex that starts with a
# literal (a regex with a leading character class costs several times more on every
# scalar of a repo).
_BASE64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_-"
_RUNS = bytes(0x61 if i in _BASE64 else 0x20 for i in range(256))
_LONG_RUN = b"a" * 23
_AWS_KEY_ID = re.compile(r"(?:A3T[A-Z0-9]|ABIA|ACCA|AKIA|ASIA)[0-9A-Z]{16}")
_USERINFO = re.compile(r"://[^\s/@]*@")


def keyword_in(lowered: str) -> bool:
    """A word near which a secret is written (``password: …``, a key named ``apiKey``), as
    they read lowercased ("key" covers apiKey, accessKey, privateKey; not "api" alone:
    every document has an ``apiVersion``). Five ``in`` tests cost half of one
    alternation regex on a document's text."""
    return ("key" in lowered or "token" in lowered or "secret" in lowered
            or "passw" in lowered or "pwd" in lowered)


def detectable(text: str) -> bool:
    """Whether detect-secrets' detectors could find anything in ``text``."""
    return (_LONG_RUN in text.encode("utf-8", "surrogatepass").translate(_RUNS)
            or "xox" in text or _AWS_KEY_ID.search(text) is not None
            or ("://" in text and _USERINFO.search(text) is not None))


def could_hold_secret(text: str) -> bool:
    """Cheap test: False means nothing in ``text`` looks like a secret (no detector
    can match, no word a secret is written beside)."""
    return detectable(text) or keyword_in(text.lower())


def holds_no_secret(yaml_text: str) -> bool:
    """True when no key, value or comment parsed from this YAML text can hold a secret.

    Without a backslash, every key and string YAML gives is pieces of the text joined by
    a space or a line break (folding), with ``''`` read as ``'``: nothing a detector or
    a keyword test matches can form across a join that is not already in the text. An
    escape could spell one out of other characters (``\\x41KIA…``), so a text with a
    backslash is never cleared here.
    """
    return "\\" not in yaml_text and not could_hold_secret(yaml_text)


__all__ = ["could_hold_secret", "detectable", "holds_no_secret", "keyword_in"]
