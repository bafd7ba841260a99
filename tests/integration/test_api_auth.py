"""Accounts on real app instances, in both profiles: sign-in throttling shared by the instances,
sign-up that does not tell who is registered, and bearer tokens with idle and absolute lifetimes.

Each test signs in "from" addresses of its own (X-Forwarded-For, which the app tier believes from
loopback), so the per-address windows of one test never fill another's.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa

from lakefront.data import tables
from support import Api, AppStack, app_stack

WINDOW_S = 600
"""Long enough for every test's attempts to land in one window, however slow the machine."""
SHORT_WINDOW_S = 8
"""The window of the one test that waits for a window to pass: its five failures take well under this."""
ACCOUNT_LIMIT = 5
ADDRESS_LIMIT = 8
SIGNUP_LIMIT = 4
IDLE = timedelta(hours=12)
ABSOLUTE = timedelta(days=7)
RENEW_AFTER = timedelta(minutes=15)
PASSWORD = "correct-horse"
_addresses = (f"198.51.100.{n}" for n in itertools.count(1))


def _stack(tmp_path_factory: pytest.TempPathFactory, profile_env: dict[str, str], window_s: int,
           count: int) -> Iterator[AppStack]:
    env = profile_env | {
        "LAKEFRONT_AUTH__SIGNIN_WINDOW_S": str(window_s),
        "LAKEFRONT_AUTH__SIGNIN_ADDRESS_LIMIT": str(ADDRESS_LIMIT),
        "LAKEFRONT_AUTH__SIGNUP_ADDRESS_LIMIT": str(SIGNUP_LIMIT),
    }
    with app_stack(tmp_path_factory.mktemp("auth"), count=count, profile_env=env) as app:
        yield app


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, profile_env: dict[str, str]) -> Iterator[AppStack]:
    yield from _stack(tmp_path_factory, profile_env, WINDOW_S, count=2)


@pytest.fixture(scope="module")
def short_window(tmp_path_factory: pytest.TempPathFactory, profile_env: dict[str, str]) -> Iterator[AppStack]:
    yield from _stack(tmp_path_factory, profile_env, SHORT_WINDOW_S, count=2)


def address() -> str:
    return next(_addresses)


def sign_up(url: str, email: str, password: str = PASSWORD, name: str = "Ada", *,
            source: str | None = None) -> httpx.Response:
    return httpx.post(f"{url}/api/auth/signup", json={"email": email, "name": name, "password": password},
                      headers={"X-Forwarded-For": source or address()}, timeout=30)


def sign_in(url: str, email: str, password: str, source: str) -> httpx.Response:
    return httpx.post(f"{url}/api/auth/signin", json={"email": email, "password": password},
                      headers={"X-Forwarded-For": source}, timeout=30)


def customer(app: AppStack, email: str) -> str:
    """A new account (sign-ups from an address of their own: the sign-up limit here is tiny); its token."""
    assert sign_up(app.instances[0].url, email).status_code == 202
    response = sign_in(app.instances[0].url, email, PASSWORD, address())
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


def test_thirty_wrong_sign_ins_then_the_right_password_is_429_with_retry_after(stack: AppStack) -> None:
    customer(stack, "brute@example.com")
    source = address()
    statuses = [sign_in(stack.instances[0].url, "brute@example.com", f"guess-{i}", source).status_code
                for i in range(30)]
    right = sign_in(stack.instances[0].url, "brute@example.com", PASSWORD, source)

    assert statuses == [401] * ACCOUNT_LIMIT + [429] * (30 - ACCOUNT_LIMIT)
    assert right.status_code == 429
    assert "token" not in right.json()
    assert right.headers["content-type"] == "application/problem+json"
    assert 1 <= int(right.headers["retry-after"]) <= WINDOW_S
    # Nor from another address: the account's own window is full.
    assert sign_in(stack.instances[1].url, "brute@example.com", PASSWORD, address()).status_code == 429


def test_the_account_frees_once_the_window_has_passed_and_success_clears_it(short_window: AppStack) -> None:
    stack = short_window
    customer(stack, "patient@example.com")
    source = address()
    for i in range(ACCOUNT_LIMIT):
        assert sign_in(stack.instances[0].url, "patient@example.com", f"nope-{i}", source).status_code == 401
    assert sign_in(stack.instances[0].url, "patient@example.com", PASSWORD, source).status_code == 429

    deadline = time.monotonic() + SHORT_WINDOW_S + 10
    while (answer := sign_in(stack.instances[0].url, "patient@example.com", PASSWORD, source)).status_code == 429:
        assert time.monotonic() < deadline, "the window never freed"
        time.sleep(0.5)
    assert answer.status_code == 200
    # The success emptied the account's window: a full allowance of mistakes again, not one.
    elsewhere = address()  # the first address's own window may still hold the first failures
    for i in range(ACCOUNT_LIMIT):
        assert sign_in(stack.instances[1].url, "patient@example.com", f"again-{i}", elsewhere).status_code == 401


def test_the_address_limit_counts_failures_across_accounts(stack: AppStack) -> None:
    customer(stack, "sprayed@example.com")
    sprayer = address()
    for i in range(ADDRESS_LIMIT):
        assert sign_in(stack.instances[i % 2].url, f"victim{i}@example.com", "Winter2026!", sprayer).status_code == 401

    refused = sign_in(stack.instances[0].url, "sprayed@example.com", PASSWORD, sprayer)
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert sign_in(stack.instances[0].url, "sprayed@example.com", PASSWORD, address()).status_code == 200


def test_two_instances_share_the_limit_and_concurrent_attempts_cannot_slip_past_it(stack: AppStack) -> None:
    customer(stack, "raced@example.com")
    source = address()

    def attempt(i: int) -> int:
        return sign_in(stack.instances[i % 2].url, "raced@example.com", f"wrong-{i}", source).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = Counter(pool.map(attempt, range(16)))

    assert statuses == Counter({401: ACCOUNT_LIMIT, 429: 16 - ACCOUNT_LIMIT})
    for instance in stack.instances:
        assert sign_in(instance.url, "raced@example.com", PASSWORD, source).status_code == 429


def test_every_throttle_decision_is_logged_without_the_email(stack: AppStack) -> None:
    customer(stack, "logged.person@example.com")
    source = address()
    for i in range(ACCOUNT_LIMIT + 1):
        sign_in(stack.instances[0].url, "logged.person@example.com", f"bad-{i}", source)
    log = stack.instances[0].log.read_text()
    refusals = [line for line in log.splitlines() if "throttled sign-in" in line and source in line]
    assert len(refusals) == 1
    assert "scope=account" in refusals[0] and "account=l***@example.com" in refusals[0]
    assert "retry_after=" in refusals[0]
    assert "logged.person@example.com" not in log


def test_sign_up_of_a_taken_email_answers_like_a_new_one_and_creates_nothing(stack: AppStack) -> None:
    url = stack.instances[0].url
    customer(stack, "dave@example.com")

    new = sign_up(url, "newcomer@example.com", "another-password", "Nina")
    taken = sign_up(url, "DAVE@example.com", "another-password", "Not Dave")

    assert new.status_code == taken.status_code == 202
    assert new.json().keys() == taken.json().keys()
    assert new.json()["detail"] == taken.json()["detail"]
    assert "token" not in taken.json()
    assert stack.db.scalar("SELECT count(*) FROM customers WHERE email = 'dave@example.com'") == 1
    assert stack.db.scalar("SELECT name FROM customers WHERE email = 'dave@example.com'") == "Ada"
    # The newcomer signs in with the password given; the sign-up did not change Dave's.
    assert sign_in(url, "newcomer@example.com", "another-password", address()).status_code == 200
    assert sign_in(url, "dave@example.com", "another-password", address()).status_code == 401
    assert sign_in(url, "dave@example.com", PASSWORD, address()).status_code == 200


def test_sign_ups_are_throttled_per_address(stack: AppStack) -> None:
    source = address()
    statuses = [sign_up(stack.instances[i % 2].url, f"bulk{i}@example.com", source=source).status_code
                for i in range(SIGNUP_LIMIT + 1)]
    assert statuses == [202] * SIGNUP_LIMIT + [429]
    assert stack.db.scalar("SELECT count(*) FROM customers WHERE email = :e", e=f"bulk{SIGNUP_LIMIT}@example.com") == 0


def _token_row(app: AppStack, token: str) -> dict[str, datetime]:
    digest = hashlib.sha256(token.encode()).hexdigest()
    with app.db.engine.connect() as conn:
        row = conn.execute(sa.select(tables.auth_tokens.c.created_at, tables.auth_tokens.c.expires_at)
                           .where(tables.auth_tokens.c.token_hash == digest)).first()
    return {} if row is None else dict(row._mapping)


def _set_token(app: AppStack, token: str, **times: datetime) -> None:
    """Move a token's timestamps, exactly as if the time between had passed."""
    digest = hashlib.sha256(token.encode()).hexdigest()
    with app.db.engine.begin() as conn:
        conn.execute(tables.auth_tokens.update().where(tables.auth_tokens.c.token_hash == digest).values(**times))


def test_a_token_lives_for_the_idle_timeout_from_sign_in(stack: AppStack) -> None:
    before = datetime.now(UTC)
    token = customer(stack, "fresh@example.com")
    row = _token_row(stack, token)
    assert before + IDLE - timedelta(minutes=1) <= row["expires_at"] <= datetime.now(UTC) + IDLE


def test_an_idle_token_stops_working_and_is_purged(stack: AppStack) -> None:
    token = customer(stack, "idle@example.com")
    api = Api(stack.instances[0].url, token)
    assert api.request("GET", "/api/me").status_code == 200

    _set_token(stack, token, expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert api.request("GET", "/api/me").status_code == 401
    assert _token_row(stack, token) == {}


def test_use_renews_a_token_only_once_its_last_renewal_is_old_enough(stack: AppStack) -> None:
    token = customer(stack, "busy@example.com")
    api = Api(stack.instances[1].url, token)
    issued = _token_row(stack, token)["expires_at"]
    assert api.request("GET", "/api/me").status_code == 200
    assert _token_row(stack, token)["expires_at"] == issued  # renewed at sign-in: no write yet

    stale = datetime.now(UTC) + IDLE - RENEW_AFTER - timedelta(minutes=1)  # last renewed 16 minutes ago
    _set_token(stack, token, expires_at=stale)
    assert api.request("GET", "/api/me").status_code == 200
    assert _token_row(stack, token)["expires_at"] > datetime.now(UTC) + IDLE - timedelta(minutes=1)


def test_no_renewal_goes_past_the_absolute_lifetime(stack: AppStack) -> None:
    token = customer(stack, "veteran@example.com")
    api = Api(stack.instances[0].url, token)
    signed_in = datetime.now(UTC) - ABSOLUTE + timedelta(hours=1)  # an hour of its life left
    _set_token(stack, token, created_at=signed_in, expires_at=datetime.now(UTC) + timedelta(minutes=30))

    assert api.request("GET", "/api/me").status_code == 200
    assert _token_row(stack, token)["expires_at"] == signed_in + ABSOLUTE

    _set_token(stack, token, created_at=datetime.now(UTC) - ABSOLUTE - timedelta(seconds=1))
    assert api.request("GET", "/api/me").status_code == 401


def test_signing_in_again_purges_the_accounts_expired_tokens(stack: AppStack) -> None:
    old = customer(stack, "returning@example.com")
    _set_token(stack, old, expires_at=datetime.now(UTC) - timedelta(hours=1))
    assert sign_in(stack.instances[0].url, "returning@example.com", PASSWORD, address()).status_code == 200
    assert _token_row(stack, old) == {}


def test_sign_out_revokes_the_token_on_every_instance(stack: AppStack) -> None:
    token = customer(stack, "leaving@example.com")
    assert Api(stack.instances[0].url, token).request("POST", "/api/auth/signout").status_code == 204
    assert Api(stack.instances[1].url, token).request("GET", "/api/me").status_code == 401
