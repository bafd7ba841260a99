"""Read offload never undoes a write its writer has just seen (issue #4).

The standby is allowed to lag by ten minutes here and its SQL thread is stopped, so it keeps
serving catalog reads with old rows. An admin's price change must still show at once on every
page: a cache refill after a catalog write reads the primary, not the standby, for twice the lag
bound. The standby's own rows prove the test could fail: they still hold the old price.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from lakefront.servers.managed import node_server
from lakefront.servers.mariadb import MariaDBServer

from .conftest import Stack, services_env, start_stack

pytestmark = pytest.mark.e2e

ADMIN = {"email": "admin@lakefront.local", "password": "lakefront-admin"}
_READS = re.compile(r'^lakefront_db_reads_routed_total\{instance="[^"]+",to="(reader|writer)"\} (\d+)$', re.M)


@pytest.fixture(scope="module")
def lagging(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(tmp_path_factory.mktemp("ryw"), **services_env(), LAKEFRONT_DEMO__SCALE="0.01",
                          LAKEFRONT_EXTRACT__INTERVAL_S="0", LAKEFRONT_DB__MAX_REPLICA_LAG_MS="600000")
    try:
        yield running
    finally:
        running.stop()


def _standby(stack: Stack) -> MariaDBServer:
    db = stack.state()["database"]
    node = next(n for n in db["nodes"] if n["name"] == db["standby"])
    return node_server(stack.var_dir, node["name"], int(node["port"]))


def _standby_price(stack: Stack, product_id: int) -> int:
    with _standby(stack).connect_root() as conn, conn.cursor() as cur:
        cur.execute("SELECT price_cents FROM lakefront.products WHERE id = %s", (product_id,))
        row = cur.fetchone()
    assert row is not None
    return int(row[0])


def _reads(stack: Stack) -> dict[str, int]:
    totals = {"reader": 0, "writer": 0}
    for inst in stack.state()["instances"]:
        if inst["tier"] == "app":
            for to, count in _READS.findall(httpx.get(f"http://127.0.0.1:{inst['port']}/metrics").text):
                totals[to] += int(count)
    return totals


def _listed_prices(api: httpx.Client, params: dict[str, str], pid: int) -> list[int]:
    """The prices a listing shows for product `pid`, over all its pages (it must not be empty)."""
    prices: list[int] = []
    page, pages = 1, 1
    while page <= pages:
        body = api.get("/api/products", params={**params, "per_page": 100, "page": page}).json()
        assert body["items"], f"an empty listing for {params}"
        prices += [int(p["price_cents"]) for p in body["items"] if int(p["id"]) == pid]
        page, pages = page + 1, int(body["pages"])
    return prices


def test_an_admins_price_change_shows_at_once_while_the_standby_serves_old_rows(lagging: Stack) -> None:
    with httpx.Client(base_url=lagging.internal_url, timeout=30) as api:
        _change_price_with_a_stale_standby(lagging, api)


def _change_price_with_a_stale_standby(lagging: Stack, api: httpx.Client) -> None:
    token = api.post("/api/auth/signin", json=ADMIN).json()["token"]
    admin = {"Authorization": f"Bearer {token}"}
    product = api.get("/api/products", params={"per_page": 1}).json()["items"][0]
    pid, old = int(product["id"]), int(product["price_cents"])
    # Reads go to the standby (the lag bound is generous): searches that miss the cache land there.
    before = _reads(lagging)
    for word in ("zzalpha", "zzbeta", "zzgamma", "zzdelta"):
        assert api.get("/api/products", params={"q": word}).status_code == 200
    assert _reads(lagging)["reader"] > before["reader"]

    with _standby(lagging).connect_root() as conn, conn.cursor() as cur:
        cur.execute("STOP SLAVE SQL_THREAD")
    try:
        new = old + 1234
        changed = api.patch(f"/api/admin/products/{pid}", json={"price_cents": new}, headers=admin)
        assert changed.status_code == 200 and changed.json()["price_cents"] == new
        assert _standby_price(lagging, pid) == old  # the standby still serves the old row

        # Every page, on every app instance, shows the new price at once.
        for _ in range(4):
            assert api.get(f"/api/products/{pid}").json()["price_cents"] == new
        # The product's category listing, every page of it, lists the product once, at the new price.
        assert _listed_prices(api, {"category": product["category_slug"]}, pid) == [new]
        page = httpx.get(f"{lagging.public_url}/p/{pid}", timeout=30, follow_redirects=True)
        assert page.status_code == 200 and f"{new / 100:,.2f}" in page.text
        assert f"{old / 100:,.2f}" not in page.text
    finally:
        with _standby(lagging).connect_root() as conn, conn.cursor() as cur:
            cur.execute("START SLAVE SQL_THREAD")
