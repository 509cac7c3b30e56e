"""Sign-in to the desk: one-time links sent in chat, server-side sessions, and CSRF tokens.

A link carries [person key, nonce, expiry, where to go] signed with the instance secret; it is valid
for LINK_MINUTES and is spent the first time it is used (its nonce is recorded in the store, so a
second instance refuses it too). Opening the link only shows a button: chat apps fetch links to
preview them, and a preview must not spend the link. The session lives in the store (`desksession`);
the cookie carries only its id, signed. Logout, `/remove`, a role change, DUBAN_DESK_IDLE_MINUTES
without a page and SESSION_HOURS after sign-in end it, so a copy of the cookie stops working too.
The person's role and unit are read from the store on every request. The CSRF token of a form is an
HMAC of the session cookie.
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
from bot.store.sessions import DeskSessionRepo, DeskSessionView

SESSION_HOURS = 10  # a working day: the cap however busy the session
COOKIE = "duban_desk"


@dataclass(frozen=True)
class SignInGrant:
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

    def read_link(self, token: str) -> SignInGrant | None:
        """Return the grant of a genuine, unexpired link, else None (whether it was used is the store's to say)."""
        values = self._links.verify(token)
        if values is None:
            return None
        try:
            key, nonce, expires, next_path = values
            grant = SignInGrant(str(key), str(nonce), dt.datetime.fromtimestamp(int(expires), dt.UTC),
                              safe_next(str(next_path)))
        except (ValueError, TypeError):
            return None
        return grant if self.clock.real_utcnow() < grant.expires else None

    async def spend(self, grant: SignInGrant, chats: ChatRepo) -> bool:
        """Record the link as used; return False when it already was."""
        return await chats.first_time(grant.seen_key, self.clock.utcnow())

    # ---- sessions -------------------------------------------------------------------------------
    @property
    def idle(self) -> dt.timedelta:
        """Return how long a session may go unused."""
        return dt.timedelta(minutes=self.settings.desk_idle_minutes)

    @property
    def idle_text(self) -> str:
        """Say the idle time in Chinese (2小时, 90分钟)."""
        minutes = self.settings.desk_idle_minutes
        return f"{minutes // 60}小时" if minutes % 60 == 0 else f"{minutes}分钟"

    @property
    def cap(self) -> dt.timedelta:
        """Return how long a session lasts at most, however busy."""
        return dt.timedelta(hours=SESSION_HOURS)

    async def session(self, person_key: str, sessions: DeskSessionRepo) -> tuple[str, int]:
        """Open a session for the person; return the cookie value naming it and the cookie's lifetime in seconds."""
        sid = await sessions.open(person_key, self.clock.real_utcnow())
        return self._sessions.sign([sid]), int(self.cap.total_seconds())

    async def resume(self, value: str, sessions: DeskSessionRepo) -> str | None:
        """Return the person key of the open session a genuine cookie names, else None."""
        sid = self.session_id(value)
        if sid is None:
            return None
        return await sessions.resume(sid, self.clock.real_utcnow(), idle=self.idle, cap=self.cap)

    async def end(self, value: str, why: str, sessions: DeskSessionRepo) -> None:
        """End the session a cookie names (logout)."""
        if (sid := self.session_id(value)) is not None:
            await sessions.end(sid, why, self.clock.real_utcnow())

    async def open_sessions(self, sessions: DeskSessionRepo) -> list[DeskSessionView]:
        """Return the sessions open now."""
        return await sessions.open_sessions(self.clock.real_utcnow(), idle=self.idle, cap=self.cap)

    def session_id(self, value: str) -> str | None:
        """Return the session id of a genuine cookie."""
        values = self._sessions.verify(value) if value else None
        if values is None or len(values) != 1 or not isinstance(values[0], str):
            return None
        return values[0]

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
        # as bytes: compare_digest refuses str with non-ASCII characters, and a form can post any
        return bool(given) and hmac.compare_digest(self.csrf(session_value).encode(), given.encode())


def safe_next(path: str) -> str:
    """Keep a redirect target inside the desk (no other site, no scheme-relative //host)."""
    if path.startswith(HOME) and not path.startswith("//") and "\\" not in path and "//" not in path:
        return path
    return HOME
