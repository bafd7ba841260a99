"""`lakefront load` end to end, against a private services-profile stack (MariaDB primary + standby,
Redis, SeaweedFS): an open-loop run writes its report, and a chaos run kills a web instance, an app
instance, Redis, the primary database and the balancer while shoppers buy, then accounts for every
order against the database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from lakefront.data.endpoints import writer_url
from lakefront.settings import Settings

from .conftest import Stack, services_env, start_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(tmp_path_factory.mktemp("load-stack"), **services_env())
    running.profile = "services"
    yield running
    running.stop()


def _jsonl(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_an_open_loop_run_writes_a_report_with_every_interaction_it_made(shop: Stack, tmp_path: Path) -> None:
    out = tmp_path / "open"
    done = shop.lakefront("load", "--mix", "browsing", "--rate", "15", "--users", "8", "--duration", "8",
                          "--out", str(out), timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads((out / "summary.json").read_text())
    samples = _jsonl(out / "samples.jsonl")
    assert summary["plan"]["mode"] == "open"
    assert summary["total"]["requests"] == len(samples) > 50
    assert set(summary["interactions"]) == {s["n"] for s in samples}
    assert {"home", "product"} <= set(summary["interactions"])
    report = (out / "report.md").read_text()
    assert "from each arrival's intended start" in report
    for chart in ("latency.svg", "throughput.svg", "errors.svg"):
        assert (out / chart).read_text().startswith("<svg") and f"]({chart})" in report


def test_a_chaos_run_loses_no_acknowledged_order_and_duplicates_none(shop: Stack, tmp_path: Path) -> None:
    out = tmp_path / "chaos"
    done = shop.lakefront("load", "--mix", "ordering", "--users", "6", "--think", "0.3", "--duration", "45",
                          "--chaos", "--targets", "web,app,cache,database,balancer", "--at", "5,10,15,20,30",
                          "--out", str(out), timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads((out / "summary.json").read_text())
    faults = summary["faults"]
    assert [f["target"] for f in faults] == ["web", "app", "cache", "database", "balancer"]
    assert all("SIGKILL" in f["detail"] for f in faults)
    orders = summary["orders"]
    assert orders["verdict"] == "ok", orders
    assert orders["acknowledged"] > 5
    assert orders["lost"] == [] and orders["duplicates"] == [] and orders["refused_but_placed"] == []

    # The account checked independently: every acknowledged order is in the database once, and the
    # database holds nothing for the run's shoppers that no checkout asked for.
    attempts = _jsonl(out / "orders.jsonl")
    acknowledged = {a["order_id"] for a in attempts if a["outcome"] == "ok"}
    settings = Settings.model_validate(shop.state()["settings"])
    engine = sa.create_engine(writer_url(settings), poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT o.id, o.idempotency_key FROM orders o JOIN customers c ON c.id = o.customer_id "
            "WHERE c.email LIKE :p"), {"p": f"load-{summary['plan']['run_id']}-%"}).all()
    engine.dispose()
    assert acknowledged <= {r[0] for r in rows}
    assert len({r[1] for r in rows}) == len(rows)
    assert {r[1] for r in rows} <= {a["key"] for a in attempts}

    report = (out / "report.md").read_text()
    assert "## Faults" in report and "| balancer |" in report
    # The balancer came back (a replacement node), and the store answers through it.
    assert shop.state()["caddy"]["restarts"] == 1
    assert shop.lakefront("status").returncode == 0
