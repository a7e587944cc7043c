"""THE one place a URL is made safe to leave the process (messages, logs, pages, the API).

``redact_url`` hides a URL's password (``scheme://user:***@host``) and the values of
secret-looking query parameters (``?password=***&sslmode=require``); ``redact_text`` does
the same to every URL inside a free text (an exception's message, a log line). Both work
on the text itself, without parsing the URL strictly, so a malformed URL (a bad port, an
unencoded ``@`` or ``/`` in the password) is redacted as well rather than echoed whole.

Used by ``campaign-gitops config``, the ``ui`` start line, ``/api/v1/status`` and the page
footer, the daemon's log (``reconcile.events.EventLog``), database error messages
(``state.db``) and the transport errors stored as a message's ``status_reason``
(``runs.delivery.send_one``). Imports nothing of the project: any layer may use it.
"""

from __future__ import annotations

import re

MASK = "***"
# A query parameter is secret when its name (lower case, without "-" and "_") contains one
# of these, or ends with "key", "sig" or "pass" (api_key, X-Amz-Signature, sig, sslpassword).
_SECRET_WORDS = ("password", "passwd", "pwd", "secret", "token", "signature", "credential",
                 "auth", "session", "cookie", "privatekey", "accesskey", "apikey")
_SECRET_ENDINGS = ("key", "sig", "pass")
# A user name alone (``https://TOKEN@github.com``) is hidden when it looks like a token.
_TOKEN_LIKE = re.compile(r"^[A-Za-z0-9_\-.~%]{20,}$")

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
# A URL inside free text: a scheme, "://", then everything up to whitespace or a quote.
_URL_IN_TEXT = re.compile(r"""[A-Za-z][A-Za-z0-9+.\-]*://[^\s'"<>`]+""")


def is_secret_name(name: str) -> bool:
    """Whether a query parameter (or header, setting) named ``name`` holds a secret."""
    flat = name.lower().replace("-", "").replace("_", "")
    return any(w in flat for w in _SECRET_WORDS) or flat.endswith(_SECRET_ENDINGS)


def redact_url(url: str) -> str:
    """``url`` with its password and secret query values replaced by ``***``."""
    head = _SCHEME.match(url)
    if head is None:
        return _redact_query(url)
    scheme, rest = head.group(0), url[head.end():]
    # The authority may hold an unencoded "/" or "@" in the password: it ends at the last
    # "@" before the query, if there is one.
    cut = min((i for i in (rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    at = rest.rfind("@", 0, cut)
    if at >= 0:
        userinfo, after = rest[:at], rest[at:]
        user, colon, _password = userinfo.partition(":")
        if colon and "/" not in user:
            rest = f"{user}:{MASK}{after}"
        elif not colon and "/" not in user and _TOKEN_LIKE.match(user):
            rest = f"{MASK}{after}"
    return scheme + _redact_query(rest)


def _redact_query(text: str) -> str:
    path, mark, query = text.partition("?")
    if not mark:
        return text
    query, hash_mark, fragment = query.partition("#")
    parts = re.split(r"([&;])", query)
    for i in range(0, len(parts), 2):
        name, eq, value = parts[i].partition("=")
        if eq and value and is_secret_name(_unquote(name)):
            parts[i] = f"{name}={MASK}"
    return f"{path}?{''.join(parts)}{hash_mark}{fragment}"


def _unquote(name: str) -> str:
    from urllib.parse import unquote_plus

    return unquote_plus(name)


def redact_text(text: str) -> str:
    """``text`` with every URL in it redacted (exception messages, log lines)."""
    if "://" not in text:
        return text
    return _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)
