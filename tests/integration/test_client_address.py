"""The shopper's address reaches the app tier through the whole chain (public listener, web tier,
internal listener), and nobody picks their own by sending X-Forwarded-For.

Shoppers are told apart by connecting from different loopback addresses (127.0.0.2, 127.0.0.3):
Linux routes all of 127.0.0.0/8 to the loopback interface. Sign-in throttling per address is what
the address decides, so it is what the tests observe.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from lakefront.control.lb import LoadBalancer
from lakefront.servers.caddy import start_caddy
from lakefront.settings import LoadBalancerSettings
from support import Api, Instance, Instances, app_stack, free_port, lakefront_env, run_cli, start_instance
from support.web import Browser

ADDRESS_LIMIT = 3
PASSWORD = "correct horse battery"


@dataclass
class Chain:
    public_url: str
    app: Instance


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    """Caddy's two listeners with one web and one app instance behind them, as `lakefront up` wires them."""
    var_dir = tmp_path_factory.mktemp("chain")
    lb = LoadBalancerSettings(public_port=free_port(), internal_port=free_port(), admin_port=free_port(),
                              health_interval_s=0.5)
    env = lakefront_env(var_dir, LAKEFRONT_LB__PUBLIC_PORT=str(lb.public_port),
                        LAKEFRONT_LB__INTERNAL_PORT=str(lb.internal_port), LAKEFRONT_LB__ADMIN_PORT=str(lb.admin_port),
                        LAKEFRONT_AUTH__SIGNIN_ADDRESS_LIMIT=str(ADDRESS_LIMIT))
    assert run_cli(var_dir, "db", "migrate", env=env).returncode == 0
    caddy = start_caddy(host=lb.host, admin_port=lb.admin_port, work_dir=var_dir / "caddy",
                        log_path=var_dir / "caddy.log")
    group = Instances()
    balancer = LoadBalancer(lb, var_dir / "access.log")
    try:
        group.items.append(start_instance("app", "app-1", env, var_dir))
        group.items.append(start_instance("web", "web-1", env, var_dir))
        balancer.open_listener("internal", [group.items[0].port])
        balancer.open_listener("public", [group.items[1].port])
        yield Chain(f"http://127.0.0.1:{lb.public_port}", group.items[0])
    finally:
        balancer.close()
        group.stop()
        caddy.stop()


def _wrong_sign_in(browser: Browser, email: str, spoofed: str) -> int:
    browser.get("/signin")
    response = browser.http.post("/signin", data={"email": email, "password": "not the password",
                                                  "csrf_token": browser.last_csrf},
                                 headers={"X-Forwarded-For": spoofed})
    return response.status_code


def test_a_shopper_cannot_pick_an_address_by_sending_x_forwarded_for(chain: Chain) -> None:
    owner = Browser(chain.public_url, source_address="127.0.0.4")
    sprayer = Browser(chain.public_url, source_address="127.0.0.2")
    neighbour = Browser(chain.public_url, source_address="127.0.0.3")
    try:
        owner.signup("owner@example.com", "Owner", PASSWORD)
        # A new spoofed address on every attempt: had any been believed, no window would ever fill.
        statuses = [_wrong_sign_in(sprayer, f"target{i}@example.com", f"203.0.113.{i}")
                    for i in range(ADDRESS_LIMIT + 1)]
        assert statuses == [401] * ADDRESS_LIMIT + [429]

        throttled = sprayer.submit("/signin", "/signin", {"email": "owner@example.com", "password": PASSWORD})
        assert throttled.status_code == 429
        # Another shopper, on the same public listener, is not throttled by the sprayer's failures.
        assert neighbour.signin("owner@example.com", PASSWORD).status_code == 303
    finally:
        for browser in (owner, sprayer, neighbour):
            browser.close()
    log = chain.app.log.read_text()
    assert re.search(r"throttled sign-in scope=address .*address=127\.0\.0\.2 ", log)
    assert "203.0.113." not in log


def test_the_app_tier_ignores_x_forwarded_for_from_peers_it_does_not_trust(tmp_path: Path) -> None:
    untrusting = {"LAKEFRONT_LB__TRUSTED_PROXIES": '["10.0.0.0/8"]',
                  "LAKEFRONT_AUTH__SIGNIN_ADDRESS_LIMIT": str(ADDRESS_LIMIT)}
    with app_stack(tmp_path, count=1, profile_env=untrusting) as app:
        url = app.instances[0].url
        Api(url).sign_up("direct@example.com")

        def sign_in(email: str, password: str, spoofed: str) -> int:
            return httpx.post(f"{url}/api/auth/signin", json={"email": email, "password": password},
                              headers={"X-Forwarded-For": spoofed}, timeout=30).status_code

        statuses = [sign_in(f"nobody{i}@example.com", "wrong-password", f"203.0.113.{i}")
                    for i in range(ADDRESS_LIMIT)]
        assert statuses == [401] * ADDRESS_LIMIT
        assert sign_in("direct@example.com", "correct-horse", "198.51.100.1") == 429
