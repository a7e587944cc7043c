"""The UI's login sessions: signed, expiring cookies naming a session kept in the database.

    sessions = Sessions(db, token, ttl=dt.timedelta(hours=12), clock=now)
    cookie = sessions.create()        # after a good token at /login
    sessions.valid(cookie)            # every request with the cookie
    sessions.revoke(cookie)           # /logout

The cookie is ``itsdangerous``'s timestamped signature of a random session id; the key
is derived from the UI token, so changing the token makes every cookie fail to verify.
The session itself is a ``kv`` row ``ui-session:<token fingerprint>:<sha256 of the id>``
(never the id itself) with its expiry: logout deletes it, so a copied cookie stops
working at once, on every replica that shares the database. A login prunes expired rows
and the rows of any earlier token. The clock is an input (tests move it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Callable

from itsdangerous import BadSignature, TimestampSigner
from sqlalchemy import delete
from sqlalchemy.orm import Session

from campaign_gitops.state import kv
from campaign_gitops.state.db import Database
from campaign_gitops.state.tables import KeyValue

Clock = Callable[[], dt.datetime]
DEFAULT_TTL = dt.timedelta(hours=12)


class _ClockedSigner(TimestampSigner):
    """itsdangerous' timestamp signer reading our clock instead of time.time()."""

    def __init__(self, key: bytes, clock: Clock) -> None:
        super().__init__(key, salt="campaign-gitops-ui-session")
        self._clock = clock

    def get_timestamp(self) -> int:
        return int(self._clock().timestamp())


def _derive(token: str, purpose: bytes) -> str:
    return hmac.new(token.encode(), purpose, hashlib.sha256).hexdigest()


class Sessions:
    """Create, check and revoke the sessions of one UI token."""

    def __init__(self, db: Database, token: str, *, ttl: dt.timedelta = DEFAULT_TTL,
                 clock: Clock) -> None:
        self.db = db
        self.ttl = ttl
        self.clock = clock
        self._signer = _ClockedSigner(_derive(token, b"session-signing-key").encode(), clock)
        self._prefix = f"{kv.UI_SESSION_PREFIX}{_derive(token, b'session-owner')[:16]}:"

    def _key(self, session_id: str) -> str:
        return self._prefix + hashlib.sha256(session_id.encode()).hexdigest()

    def create(self) -> str:
        """A new session; returns the cookie value."""
        now = self.clock()
        session_id = secrets.token_urlsafe(32)
        with self.db.session() as session:
            self._prune(session, now)
            kv.write(session, self._key(session_id),
                     {"expires": (now + self.ttl).isoformat()}, now)
        return self._signer.sign(session_id).decode()

    def _session_id(self, cookie: str) -> str | None:
        # the signer's ages are whole seconds: ``age > int(ttl)`` exactly when ``age > ttl``
        try:
            return self._signer.unsign(cookie, max_age=int(self.ttl.total_seconds())).decode()
        except (BadSignature, UnicodeError):
            return None

    def valid(self, cookie: str) -> bool:
        """The cookie verifies, is not expired, and its session was not revoked."""
        session_id = self._session_id(cookie) if cookie else None
        if session_id is None:
            return False
        with self.db.reading() as session:
            value = kv.read(session, self._key(session_id))
        if value is None:
            return False
        return dt.datetime.fromisoformat(value["expires"]) > self.clock()

    def revoke(self, cookie: str) -> None:
        session_id = self._session_id(cookie) if cookie else None
        if session_id is not None:
            with self.db.session() as session:
                session.execute(delete(KeyValue).where(KeyValue.key == self._key(session_id)))

    def _prune(self, session: Session, now: dt.datetime) -> None:
        """Drop expired sessions and those of any other token."""
        ours = KeyValue.key.startswith(self._prefix, autoescape=True)
        session.execute(delete(KeyValue).where(
            KeyValue.key.startswith(kv.UI_SESSION_PREFIX, autoescape=True),
            ~ours | (KeyValue.updated_at < now - self.ttl)))
