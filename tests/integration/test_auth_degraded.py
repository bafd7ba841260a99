"""Sign-in throttling without its shared store: with the cache killed or turned off, signing in
still works and each app instance enforces the limits on its own (documented in settings.auth and
docs/design-notes.md); when the cache returns, the instances share their windows again."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from support import Api, AppStack, app_stack
from support.servers import RedisHandle, throwaway_redis

ACCOUNT_LIMIT = 5  # the default
PASSWORD = "correct-horse"


@pytest.fixture
def redis_to_kill(tmp_path: Path) -> Iterator[RedisHandle]:
    with throwaway_redis(tmp_path) as handle:  # ours alone: the test kills it
        yield handle


def sign_in(url: str, email: str, password: str) -> int:
    return httpx.post(f"{url}/api/auth/signin", json={"email": email, "password": password},
                      timeout=30).status_code


def _each_instance_counts_alone(app: AppStack, email: str) -> None:
    for i in range(ACCOUNT_LIMIT):
        assert sign_in(app.instances[0].url, email, f"wrong-{i}") == 401
    assert sign_in(app.instances[0].url, email, PASSWORD) == 429
    # The other instance never heard of those failures: it still checks the password.
    assert sign_in(app.instances[1].url, email, PASSWORD) == 200


def test_with_the_cache_killed_sign_in_works_and_each_instance_counts_on_its_own(
        tmp_path: Path, redis_to_kill: RedisHandle) -> None:
    env = {"LAKEFRONT_CACHE__BACKEND": "redis", "LAKEFRONT_CACHE__REDIS_URL": redis_to_kill.url}
    with app_stack(tmp_path / "var", count=2, profile_env=env) as app:
        for email in ("first@example.com", "second@example.com"):
            Api(app.instances[0].url).sign_up(email)
        redis_to_kill.server.kill()

        assert sign_in(app.instances[0].url, "first@example.com", PASSWORD) == 200
        _each_instance_counts_alone(app, "first@example.com")
        assert "throttle windows counted in this instance" in app.instances[0].log.read_text()

        redis_to_kill.server.start(Path(redis_to_kill.server.dir) / "redis.log")
        redis_to_kill.server.wait_ready()
        # Back to the shared windows once each instance tries the cache again (a second after its
        # last failure): a failure on one instance then shows in Redis, where the other counts it.
        key = "throttle:signin:account:" + hashlib.sha256(b"second@example.com").hexdigest()[:32]
        with redis.Redis.from_url(redis_to_kill.url) as client:
            for instance in (0, 1):
                client.delete(key)
                for _ in range(100):
                    Api(app.instances[instance].url).sign_in("second@example.com")  # a success empties the window
                    sign_in(app.instances[instance].url, "second@example.com", "wrong")
                    if client.zcard(key):
                        break
                else:
                    pytest.fail(f"instance {instance} never went back to the shared windows")
        for i in range(ACCOUNT_LIMIT - 1):  # with the one already there, a full window...
            assert sign_in(app.instances[0].url, "second@example.com", f"wrong-{i}") == 401
        assert sign_in(app.instances[1].url, "second@example.com", PASSWORD) == 429  # ...for both instances


def test_with_the_cache_off_each_instance_enforces_the_limits_on_its_own(tmp_path: Path) -> None:
    with app_stack(tmp_path / "var", count=2, profile_env={"LAKEFRONT_CACHE__BACKEND": "off"}) as app:
        Api(app.instances[0].url).sign_up("uncached@example.com")
        _each_instance_counts_alone(app, "uncached@example.com")
        assert "throttle windows are per instance: the cache is off" in app.instances[1].log.read_text()
