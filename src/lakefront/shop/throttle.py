"""Sign-in and sign-up throttling: sliding windows per account and per client address.

The windows live in the cache every app instance shares (data/windows.py), so a limit holds for
the whole tier, however many instances the balancer spreads the attempts over. A sign-in takes a
slot in its account's window and in its address's window BEFORE the password is checked: a
throttled attempt costs no password hash, the right password does not get past a full window, and
concurrent attempts cannot all slip through between a check and a count. The verdict then settles
the slots: a failure keeps them, a success empties the account's window and gives back the
address slot, an attempt that never reached a verdict (database down) gives back both.

When the shared cache cannot be reached, the windows fall back to this process's memory (logged
once per burst): the limits then hold per instance, which is weaker but never lets sign-in depend
on the cache being up.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import threading
import time
import uuid
from dataclasses import dataclass

from lakefront.data.cache import CacheBackend
from lakefront.data.windows import LocalWindows
from lakefront.shop.errors import Throttled

log = logging.getLogger("lakefront.auth")


@dataclass(frozen=True)
class Window:
    limit: int
    seconds: float


@dataclass(frozen=True)
class ThrottlePolicy:
    """The limits; the composition root fills them from settings.auth (defaults documented there)."""

    signin_account: Window = Window(5, 900)
    signin_address: Window = Window(50, 900)
    signup_address: Window = Window(20, 3600)


def mask_email(email: str) -> str:
    """For logs: enough to tell accounts apart while investigating, not the address itself."""
    local, at, domain = email.strip().lower().partition("@")
    return f"{local[:1]}***@{domain}" if at and local else "***"


def _account_key(email: str) -> str:
    # Hashed: the shared cache holds no email addresses.
    return "throttle:signin:account:" + hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


def address_scope(address: str) -> str:
    """What an address limit counts: the address, or its /64 for IPv6, which one subscriber gets whole."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64] or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _retry_after(wait_s: float) -> int:
    return max(1, math.ceil(wait_s))


class Throttle:
    """The limits over a backend's sliding windows; one per app process."""

    RETRY_SHARED_AFTER_S = 1.0
    """After a failure of the shared cache, windows stay local this long before it is tried again."""

    def __init__(self, backend: CacheBackend, policy: ThrottlePolicy) -> None:
        self.backend = backend
        self.policy = policy
        self._local = LocalWindows()
        self._shared_down_until = 0.0
        self._last_warning = 0.0
        self._guard = threading.Lock()
        if backend.name == "off":
            log.warning("throttle windows are per instance: the cache is off, so N app instances allow "
                        "N times each sign-in limit")

    def _unavailable(self, op: str, exc: Exception) -> None:
        now = time.monotonic()
        with self._guard:
            self._shared_down_until = now + self.RETRY_SHARED_AFTER_S
            if now - self._last_warning < 5:  # one line per burst, not one per attempt
                return
            self._last_warning = now
        log.warning("throttle windows counted in this instance: the shared cache failed on %s: %s: %s",
                    op, type(exc).__name__, str(exc)[:200])

    def _add(self, key: str, member: str, window: Window) -> float:
        if time.monotonic() >= self._shared_down_until:
            try:
                return self.backend.window_add(key, member, window.seconds, window.limit)
            except Exception as exc:
                self._unavailable("window_add", exc)
        return self._local.add(key, member, window.seconds, window.limit)

    def remove(self, key: str, member: str | None = None) -> None:
        """Take an entry (or the whole window) out, locally and in the shared cache."""
        self._local.remove(key, member)
        if time.monotonic() >= self._shared_down_until:
            try:
                self.backend.window_remove(key, member)
            except Exception as exc:  # the entries expire with their window anyway
                self._unavailable("window_remove", exc)

    def _refuse(self, what: str, scope: str, window: Window, wait_s: float, account: str, address: str) -> None:
        retry = _retry_after(wait_s)
        log.warning("throttled %s scope=%s account=%s address=%s limit=%d/%gs retry_after=%ds",
                    what, scope, account, address, window.limit, window.seconds, retry)
        raise Throttled(f"too many attempts; retry in {retry} seconds", retry)

    def sign_in(self, email: str, address: str) -> SignInAttempt:
        """Take a slot for one sign-in, or raise Throttled (nothing counted) when a window is full."""
        member = uuid.uuid4().hex
        account, scope = _account_key(email), f"throttle:signin:address:{address_scope(address)}"
        masked = mask_email(email)
        wait = self._add(account, member, self.policy.signin_account)
        if wait > 0:
            self._refuse("sign-in", "account", self.policy.signin_account, wait, masked, address)
        wait = self._add(scope, member, self.policy.signin_address)
        if wait > 0:
            self.remove(account, member)
            self._refuse("sign-in", "address", self.policy.signin_address, wait, masked, address)
        return SignInAttempt(self, account, scope, member, masked, address)

    def sign_up(self, email: str, address: str) -> None:
        """Count one sign-up from the address, or raise Throttled."""
        key = f"throttle:signup:address:{address_scope(address)}"
        wait = self._add(key, uuid.uuid4().hex, self.policy.signup_address)
        if wait > 0:
            self._refuse("sign-up", "address", self.policy.signup_address, wait, mask_email(email), address)


@dataclass
class SignInAttempt:
    """The slots one sign-in holds until its verdict settles them."""

    throttle: Throttle
    account_key: str
    address_key: str
    member: str
    account: str
    """The masked email, for log lines."""
    address: str

    def failed(self) -> None:
        # The slots stay taken: they are the failures the windows count.
        log.info("sign-in failed account=%s address=%s", self.account, self.address)

    def succeeded(self, customer_id: int) -> None:
        self.throttle.remove(self.account_key)
        self.throttle.remove(self.address_key, self.member)
        log.info("sign-in customer=%d address=%s", customer_id, self.address)

    def abandoned(self) -> None:
        """No verdict (the database failed): this attempt does not count either way."""
        self.throttle.remove(self.account_key, self.member)
        self.throttle.remove(self.address_key, self.member)
