"""Who may change runs: a bearer token, or the page's session cookie with its CSRF token.

Reading is open to whoever reaches the server (it binds to 127.0.0.1 unless told
otherwise); every request that changes a run needs either ``Authorization: Bearer
<token>`` (the token given, ``$AGENTGRAPH_API_TOKEN``, or one generated at start) or the
session cookie a one-time login link sets together with the ``X-CSRF-Token`` header of
that session. The cookie is ``HttpOnly`` and ``SameSite=Strict``, so another site can
neither read it nor make the browser send it; the CSRF token is read from
``/api/session``, which no other origin can read. A read-only server refuses every change
(403), whoever asks.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import Request

from framework.server.replies import ApiError

__all__ = ["CSRF_HEADER", "SESSION_COOKIE", "Auth"]

SESSION_COOKIE = "agentgraph_session"
CSRF_HEADER = "X-CSRF-Token"


class Auth:
    """The token and the page's sessions of one server process."""

    def __init__(self, token: str | None = None, *, read_only: bool = False) -> None:
        self.token = token or secrets.token_urlsafe(32)
        self.read_only = read_only
        self.login_code = secrets.token_urlsafe(24)
        """The code of the one-time login link; used once, it is gone."""
        self._sessions: dict[str, str] = {}

    def log_in(self, code: str) -> str | None:
        """A new session id for the login link's ``code`` (``None``: wrong or used)."""
        if not self.login_code or not hmac.compare_digest(code, self.login_code):
            return None
        self.login_code = ""
        session = secrets.token_urlsafe(32)
        self._sessions[session] = secrets.token_urlsafe(32)
        return session

    def csrf_token(self, request: Request) -> str | None:
        """The CSRF token of the session ``request``'s cookie names (``None``: no session)."""
        session = request.cookies.get(SESSION_COOKIE)
        return None if session is None else self._sessions.get(session)

    def check_writer(self, request: Request) -> None:
        """Refuse ``request`` (an :class:`ApiError`) unless it may change runs."""
        if self.read_only:
            raise ApiError(403, "this server is read-only (agentgraph serve --read-only)")
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and given:
            if hmac.compare_digest(given.strip(), self.token):
                return
            raise ApiError(401, "wrong bearer token: give the token agentgraph serve printed")
        expected = self.csrf_token(request)
        if expected is None:
            raise ApiError(
                401,
                "changing a run needs 'Authorization: Bearer <token>' (printed by agentgraph "
                "serve, or $AGENTGRAPH_API_TOKEN) or the page's login",
            )
        sent = request.headers.get(CSRF_HEADER, "")
        if not sent or not hmac.compare_digest(sent, expected):
            raise ApiError(403, f"missing or wrong {CSRF_HEADER} header for this session")
