"""The sealed session cookie, without a server: what opens, and everything that must not."""

from __future__ import annotations

import base64

import pytest

from lakefront.web.sessions import RefusedCookie, SessionCodec

SECRET = "unit-test-secret-0123456789abcdef"
NOW = 1_800_000_000
SESSION = {"token": "p_rjJ9gj94IYXMmhCPYW_ns1uiVYLEFcruVS01c3J9Y", "name": "Ann", "is_admin": True,
           "csrf": "EBF9ndQBm7g2jHiVWeNOQQ2q-6ACdzGNVdC5ngJ_tZE"}


def codec(secret: str = SECRET, max_age_s: int = 3600) -> SessionCodec:
    return SessionCodec(secret, max_age_s)


def test_a_sealed_session_opens_to_what_was_sealed() -> None:
    value = codec().seal(SESSION, NOW)
    assert codec().open(value, NOW + 10) == (SESSION, NOW)


def test_the_same_session_seals_differently_each_time() -> None:
    # A fresh nonce per seal: two cookies never show that they hold the same thing.
    assert codec().seal(SESSION, NOW) != codec().seal(SESSION, NOW)


def test_no_part_of_the_session_can_be_read_from_the_cookie() -> None:
    value = codec().seal(SESSION, NOW)
    decoded = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    for secret_part in (SESSION["token"], SESSION["csrf"], "Ann", "token", "is_admin"):
        assert secret_part not in value
        assert secret_part.encode() not in decoded


def flip(value: str, index: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return value[:index] + alphabet[(alphabet.index(value[index]) + 1) % 64] + value[index + 1:]


def test_a_change_anywhere_in_the_cookie_is_refused() -> None:
    value = codec().seal(SESSION, NOW)
    # The last character carries only some bits of the tag; every other position decodes differently.
    for index in range(len(value) - 1):
        with pytest.raises(RefusedCookie):
            codec().open(flip(value, index), NOW)


@pytest.mark.parametrize("cut", [1, 10, 40, 60])
def test_a_truncated_cookie_is_refused(cut: int) -> None:
    value = codec().seal(SESSION, NOW)
    with pytest.raises(RefusedCookie):
        codec().open(value[:-cut], NOW)


def test_a_cookie_sealed_under_another_secret_is_refused() -> None:
    old = codec(secret="the secret before rotation").seal(SESSION, NOW)
    with pytest.raises(RefusedCookie, match="another secret"):
        codec().open(old, NOW)


def test_a_cookie_past_its_lifetime_is_refused_even_if_the_browser_still_sends_it() -> None:
    value = codec(max_age_s=3600).seal(SESSION, NOW)
    assert codec(max_age_s=3600).open(value, NOW + 3599)[0] == SESSION
    with pytest.raises(RefusedCookie, match="expired"):
        codec(max_age_s=3600).open(value, NOW + 3600)


@pytest.mark.parametrize("value", [
    "", "x", "not base64!!", "%%%%", "A" * 5000,
    # Starlette's signed cookie (the previous format): readable JSON, a timestamp and a signature.
    "eyJ0b2tlbiI6ICJhYmMifQ==.aBcDeF.0123456789abcdef",
    base64.urlsafe_b64encode(b"\x02" + bytes(40)).decode(),  # an unknown format byte
])
def test_anything_else_is_refused_rather_than_raising(value: str) -> None:
    with pytest.raises(RefusedCookie):
        codec().open(value, NOW)
