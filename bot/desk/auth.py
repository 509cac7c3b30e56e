"""Sign-in to the desk: one-time links sent in chat, a signed session cookie, and CSRF tokens.

A link carries [person key, nonce, expiry, where to go] signed with the instance secret; it is valid
for LINK_MINUTES and is spent the first time it is used (its nonce is recorded in the store, so a
second instance refuses it too). Opening the link only shows a button: chat apps fetch links to
preview them, and a preview must not spend the link. The session cookie carries [person key, expiry,
session id]; the person's role and unit are read from the store on every request, so a removed
liaison loses access at once. The CSRF token of a form is an HMAC of the session cookie.
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import secrets
from dataclasses import dataclass

from bot.config import Settings, secret_for
from bot.core.clock import Clock
from bot.core.views import PersonView
from bot.handlers.desk import HOME, LINK_MINUTES
from bot.signing import Signer
from bot.store.chats import ChatRepo

SESSION_HOURS = 10  # a working day
COOKIE = "duban_desk"


@dataclass(frozen=True)
class LinkGrant:
    """What a genuine, unexpired sign-in link says."""

    person_key: str
    nonce: str
    expires: dt.datetime
    next_path: str

    @property
    def seen_key(self) -> str:
        """Return the key recording that this link was used."""
        return f"desk-link:{self.nonce}"


class DeskAuth:
    """Make and check sign-in links, session cookies and CSRF tokens."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        secret = secret_for(settings)
        self.settings = settings
        self.clock = clock
        self._links = Signer(secret, b"duban-desk-link\x00")
        self._sessions = Signer(secret, b"duban-desk-session\x00")
        self._csrf = Signer(secret, b"duban-desk-csrf\x00")

    # ---- one-time links -------------------------------------------------------------------------
    def link(self, person: PersonView, next_path: str = HOME) -> str:
        """Return a sign-in link for this person, valid for LINK_MINUTES and usable once."""
        expires = int((self.clock.real_utcnow() + dt.timedelta(minutes=LINK_MINUTES)).timestamp())
        token = self._links.sign([person.key, secrets.token_urlsafe(12), expires, safe_next(next_path)])
        return f"{self.settings.public_url.rstrip('/')}/desk/login/{token}"

    def read_link(self, token: str) -> LinkGrant | None:
        """Return the grant of a genuine, unexpired link, else None (whether it was used is the store's to say)."""
        values = self._links.verify(token)
        if values is None:
            return None
        try:
            key, nonce, expires, next_path = values
            grant = LinkGrant(str(key), str(nonce), dt.datetime.fromtimestamp(int(expires), dt.UTC),
                              safe_next(str(next_path)))
        except (ValueError, TypeError):
            return None
        return grant if self.clock.real_utcnow() < grant.expires else None

    async def spend(self, grant: LinkGrant, chats: ChatRepo) -> bool:
        """Record the link as used; return False when it already was."""
        return await chats.first_time(grant.seen_key, self.clock.utcnow())

    # ---- sessions -------------------------------------------------------------------------------
    def session(self, person_key: str) -> tuple[str, int]:
        """Return a session cookie value for the person and its lifetime in seconds."""
        seconds = SESSION_HOURS * 3600
        expires = int(self.clock.real_utcnow().timestamp()) + seconds
        return self._sessions.sign([person_key, expires, secrets.token_urlsafe(9)]), seconds

    def read_session(self, value: str) -> str | None:
        """Return the person key of a genuine, unexpired session cookie."""
        values = self._sessions.verify(value)
        if values is None:
            return None
        try:
            key, expires, _ = values
            if self.clock.real_utcnow().timestamp() >= int(expires):
                return None
        except (ValueError, TypeError):
            return None
        return str(key)

    @property
    def secure_cookie(self) -> bool:
        """Tell whether the cookie may only travel over HTTPS (the public URL is https)."""
        return self.settings.public_url.startswith("https://")

    # ---- CSRF -----------------------------------------------------------------------------------
    def csrf(self, session_value: str) -> str:
        """Return the CSRF token forms of this session carry."""
        return base64.urlsafe_b64encode(self._csrf.mac(session_value.encode())).rstrip(b"=").decode()

    def csrf_ok(self, session_value: str, given: str) -> bool:
        """Tell whether a form's CSRF token belongs to this session."""
        return bool(given) and hmac.compare_digest(self.csrf(session_value), given)


def safe_next(path: str) -> str:
    """Keep a redirect target inside the desk (no other site, no scheme-relative //host)."""
    if path.startswith(HOME) and not path.startswith("//") and "\\" not in path and "//" not in path:
        return path
    return HOME
