"""A 500 answers one request and harms nothing else: not the kept-alive connection it came on, not the
load balancer's view of the instance, not anybody else's requests.

Each instance here is the real app (or web) tier under uvicorn, as `lakefront serve` runs it, plus one
route that raises, as an unforeseen bug would.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from lakefront.control.lb import LoadBalancer
from lakefront.servers.caddy import start_caddy
from lakefront.settings import LoadBalancerSettings
from support import Api, Database, free_port, lakefront_env, run_cli, wait_http

SERVE_WITH_A_FAILING_ROUTE = """
import sys
import uvicorn
from lakefront import logs
from lakefront.settings import load_settings

tier, port = sys.argv[1], int(sys.argv[2])
settings = load_settings()
logs.configure(f"{tier}-1")
if tier == "app":
    from lakefront.api.app import create_app

    app = create_app(settings, instance="app-1")

    def boom() -> None:
        raise RuntimeError("an unforeseen bug")

    app.add_api_route("/boom", boom, methods=["GET", "POST"])
else:
    from starlette.routing import Route
    from lakefront.web.app import create_app

    app = create_app(settings, "web-1")

    async def boom(request):
        raise RuntimeError("an unforeseen bug")

    app.router.routes.append(Route("/boom", boom, methods=["GET", "POST"]))
uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False, server_header=False,
            lifespan="on")
"""


@contextmanager
def serving(tier: str, var_dir: Path) -> Iterator[tuple[int, Path]]:
    """One instance of `tier` with GET/POST /boom raising; yields its port and log file."""
    env = lakefront_env(var_dir, LAKEFRONT_LB__INTERNAL_PORT=str(free_port()),
                        LAKEFRONT_LB__PUBLIC_PORT=str(free_port()), LAKEFRONT_LB__ADMIN_PORT=str(free_port()))
    assert run_cli(var_dir, "db", "migrate", env=env).returncode == 0
    port = free_port()
    log = var_dir / f"{tier}.log"
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-c", SERVE_WITH_A_FAILING_ROUTE, tier, str(port)], env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", proc=proc)
        yield port, log
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize("tier", ["app", "web"])
def test_a_500_leaves_the_kept_alive_connection_usable(tier: str, tmp_path: Path) -> None:
    with serving(tier, tmp_path) as (port, log):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            for method in ("GET", "POST"):
                conn.request(method, "/boom", body=b"{}" if method == "POST" else None,
                             headers={"Content-Type": "application/json"})
                failed = conn.getresponse()
                body = failed.read().decode()
                assert failed.status == 500
                assert failed.getheader("X-Request-Id")
                if tier == "app":
                    assert failed.getheader("Content-Type") == "application/problem+json"
                    assert json.loads(body)["status"] == 500
                    assert failed.getheader("X-Content-Type-Options") == "nosniff"
                else:
                    assert "Something went wrong" in body
                assert "unforeseen" not in body  # nothing internal reaches the client
                # The same connection: http.client raises RemoteDisconnected if the server dropped it.
                conn.request("GET", "/healthz")
                after = conn.getresponse()
                assert after.status == 200
                assert json.loads(after.read())["tier"] == tier
        finally:
            conn.close()
    text = log.read_text()
    assert "GET /boom 500" in text and "POST /boom 500" in text  # the request line names the real status
    assert "RuntimeError: an unforeseen bug" in text  # and the bug is logged where operators look
    assert "Exception in ASGI application" not in text  # not re-raised into uvicorn


def test_one_clients_errors_through_the_balancer_fail_nobody_elses_writes(tmp_path: Path) -> None:
    """An anonymous client hammers a failing route through the internal listener (the same Caddy
    config `lakefront up` loads) while customers write: every write succeeds, the instance is never
    counted as failed by the passive health check, and it stays registered and healthy."""
    lb = LoadBalancerSettings(public_port=free_port(), internal_port=free_port(), admin_port=free_port(),
                              health_interval_s=0.5, fail_duration_s=3.0, try_duration_s=2.0)
    caddy = start_caddy(host=lb.host, admin_port=lb.admin_port, work_dir=tmp_path / "caddy",
                        log_path=tmp_path / "caddy.log")
    balancer = LoadBalancer(lb, tmp_path / "access.log")
    try:
        with serving("app", tmp_path) as (port, _):
            db = Database(f"sqlite:///{tmp_path / 'db' / 'lakefront.sqlite3'}")
            try:
                category = db.add_category()
                tokens = db.add_customers("writer", 2)
                admin_email = "boss@example.com"
                boss_token = _sign_up(f"http://127.0.0.1:{port}", admin_email)
                db.make_admin(admin_email)
            finally:
                db.close()
            product = httpx.post(f"http://127.0.0.1:{port}/api/admin/products",
                                 headers={"Authorization": f"Bearer {boss_token}"},
                                 json={"sku": "MUG-1", "name": "Mug", "category_id": category,
                                       "price_cents": 900, "stock": 1000}).json()["id"]
            balancer.open_listener("internal", [port])
            url = f"http://127.0.0.1:{lb.internal_port}"
            stop = threading.Event()
            hammered: list[int] = []

            def hammer() -> None:
                with httpx.Client(base_url=url, timeout=10) as client:  # keep-alive, as an attacker would
                    while not stop.is_set():
                        hammered.append(client.get("/boom").status_code)

            attacker = threading.Thread(target=hammer)
            attacker.start()
            failures: list[str] = []
            try:
                for token in tokens:
                    with httpx.Client(base_url=url, timeout=10,
                                      headers={"Authorization": f"Bearer {token}"}) as client:
                        for i in range(60):
                            for method, path, body in (
                                    ("PUT", f"/api/cart/items/{product}", {"quantity": 1 + i % 5}),
                                    ("POST", "/api/events", {"kind": "page_view", "session_id": "s1",
                                                             "product_id": product})):
                                try:
                                    status = client.request(method, path, json=body).status_code
                                except httpx.TransportError as exc:
                                    failures.append(f"{method} {path}: {exc!r}")
                                    continue
                                if status >= 300:
                                    failures.append(f"{method} {path}: {status}")
            finally:
                stop.set()
                attacker.join()
            assert failures == []
            assert len(hammered) > 100 and set(hammered) == {500}
            assert balancer.targets("internal") == [f"127.0.0.1:{port}"]
            [upstream] = [u for u in balancer.upstream_status() if u["address"] == f"127.0.0.1:{port}"]
            assert upstream["fails"] == 0
            assert httpx.get(f"{url}/healthz").json()["instance"] == "app-1"
    finally:
        balancer.close()
        caddy.stop()


def _sign_up(base_url: str, email: str) -> str:
    return str(Api(base_url).sign_up(email, name="Boss").token)
