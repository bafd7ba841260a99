"""The web session, in an encrypted cookie: the browser carries it but cannot read or change it.

The session holds the app tier's bearer token, so a cookie that is only signed (readable by
base64-decoding it) would hand the token to anything that reads the browser's cookies. This one is
sealed with AES-256-GCM under a key derived from settings.secret() by HKDF, with the cookie's name as
associated data. The web tier stays stateless: any instance opens any instance's cookie, as the
Auto Scaling group needs, and there is no session store to run, share or fail over.

Inside the seal: the session dict and the time it was issued. A cookie is refused (the request has no
session, one log line says why, the response clears the cookie) when it is not ours: truncated,
tampered with, sealed under another key (a rotated secret signs everyone out once), unreadable, or
older than settings.session.max_age_s (checked here, not only by the browser's Max-Age, so a copied
cookie stops working on time too). Nothing in it can make a request fail.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import time
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("lakefront.web")

COOKIE = "lf_session"
_FORMAT = b"\x01"  # first byte of every sealed cookie: lets a later format be told apart
_NONCE_BYTES = 12
_TAG_BYTES = 16
# Browsers keep about 4 KB per cookie; anything longer was not made by us.
MAX_COOKIE_CHARS = 4096


class RefusedCookie(Exception):
    """The cookie cannot be a session of ours; the message says why, for the log line."""


def session_key(secret: str) -> bytes:
    """The cookie key: derived, so the secret itself is never an encryption key for two purposes."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"lakefront web session cookie v1")
    return hkdf.derive(secret.encode())


class SessionCodec:
    """Seals a session dict into a cookie value and opens one again."""

    def __init__(self, secret: str, max_age_s: int) -> None:
        self._aead = AESGCM(session_key(secret))
        self.max_age_s = max_age_s

    def seal(self, data: dict[str, Any], issued: int) -> str:
        plain = json.dumps({"iat": issued, "data": data}, separators=(",", ":")).encode()
        nonce = os.urandom(_NONCE_BYTES)
        sealed = _FORMAT + nonce + self._aead.encrypt(nonce, plain, COOKIE.encode())
        return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode("ascii")

    def open(self, value: str, now: int) -> tuple[dict[str, Any], int]:
        """(session, issued) from a cookie value; RefusedCookie when it is not a live session of ours."""
        if len(value) > MAX_COOKIE_CHARS:
            raise RefusedCookie("too long")
        try:
            sealed = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        except (binascii.Error, ValueError):
            raise RefusedCookie("not base64") from None
        if len(sealed) < 1 + _NONCE_BYTES + _TAG_BYTES or sealed[:1] != _FORMAT:
            raise RefusedCookie("not a sealed session")
        nonce, body = sealed[1:1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES:]
        try:
            plain = self._aead.decrypt(nonce, body, COOKIE.encode())
        except InvalidTag:
            raise RefusedCookie("does not open with this key (tampered, truncated or another secret)") from None
        try:
            content = json.loads(plain)
            issued, data = content["iat"], content["data"]
        except (ValueError, TypeError, KeyError):
            raise RefusedCookie("unreadable content") from None
        if not isinstance(issued, int) or not isinstance(data, dict):
            raise RefusedCookie("unreadable content")
        if now - issued >= self.max_age_s:
            raise RefusedCookie("expired")
        return data, issued


def _cookie_value(scope: Scope) -> str:
    return cookie_parser(Headers(scope=scope).get("cookie", "")).get(COOKIE, "")


def reached_over_tls(scope: Scope) -> bool:
    """The browser's connection was https: to us, or to the balancer (which says so in X-Forwarded-Proto).

    Trusting the header is safe in this direction: a client that forges it only gets a cookie
    its own browser will not send back over plain http.
    """
    if scope.get("scheme") == "https":
        return True
    proto = Headers(scope=scope).get("x-forwarded-proto", "")
    return proto.split(",")[0].strip().lower() == "https"


class EncryptedSessionMiddleware:
    """request.session from the sealed cookie; Set-Cookie only when the session changed."""

    def __init__(self, app: ASGIApp, secret: str, max_age_s: int) -> None:
        self.app = app
        self.codec = SessionCodec(secret, max_age_s)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        now = int(time.time())
        raw = _cookie_value(scope)
        loaded: dict[str, Any] = {}
        issued: int | None = None
        if raw:
            try:
                loaded, issued = self.codec.open(raw, now)
            except RefusedCookie as exc:
                rid = scope.get("state", {}).get("request_id", "")
                log.info("session cookie refused rid=%s: %s", rid, exc)
        session = dict(loaded)
        scope["session"] = session

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                cookie = self._set_cookie(scope, raw, loaded, issued, session, now)
                if cookie:
                    MutableHeaders(scope=message).append("set-cookie", cookie)
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _set_cookie(self, scope: Scope, raw: str, loaded: dict[str, Any], issued: int | None,
                    session: dict[str, Any], now: int) -> str:
        """The Set-Cookie value this response needs, or "" when the browser's cookie is still right."""
        if session == loaded and (loaded or not raw):
            return ""
        attributes = "; Path=/; HttpOnly; SameSite=Lax" + ("; Secure" if reached_over_tls(scope) else "")
        if not session:
            # Signed out, or the cookie was refused: tell the browser to drop it.
            return f"{COOKIE}=; Max-Age=0{attributes}"
        # The lifetime runs from sign-in (a new token), not from the last change: the session
        # may not outlive the token it carries, however often it is written.
        if issued is None or session.get("token") != loaded.get("token"):
            issued = now
        value = self.codec.seal(session, issued)
        return f"{COOKIE}={value}; Max-Age={max(1, issued + self.codec.max_age_s - now)}{attributes}"
