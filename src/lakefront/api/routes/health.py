"""Health (what the load balancer and the control plane check) and metrics."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from lakefront.api.bootstrap import AppServices
from lakefront.api.deps import services
from lakefront.api.schemas import HealthPublic

router = APIRouter(tags=["operations"])
Services = Annotated[AppServices, Depends(services)]


@router.get("/healthz", response_model=HealthPublic)
def healthz(app: Services) -> object:
    """Healthy when this instance serves requests. Shallow on purpose: the database is shared, so a
    database outage or failover is no reason for the balancer to drop, or the control plane to
    replace, every app instance at once; requests then answer 503 with Retry-After instead."""
    return {"status": "ok", "instance": app.instance, "tier": "app", "database": app.engines.dialect}


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
def metrics(app: Services) -> Response:
    """Prometheus text format: this instance's cache counters and database statements."""
    c = app.ctx.cache.counters
    labels = f'instance="{app.instance}",backend="{app.ctx.cache.backend.name}"'
    lines = []
    for name, value, help_text in (
        ("lakefront_cache_hits_total", c.hits, "Cached reads served from the cache."),
        ("lakefront_cache_misses_total", c.misses, "Cached reads loaded from the database."),
        ("lakefront_cache_fallbacks_total", c.fallbacks, "Cache operations that failed; the database answered."),
        ("lakefront_cache_invalidations_total", c.invalidations, "Invalidations after committed writes."),
        ("lakefront_cache_discarded_total", c.discarded, "Fills taken back: loaded before a concurrent invalidation."),
        ("lakefront_cache_replayed_total", c.replayed, "Keys, namespaces and marks told to the cache after an outage."),
    ):
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} counter", f"{name}{{{labels}}} {value}"]
    name = "lakefront_db_queries_total"
    lines += [f"# HELP {name} SQL statements sent to the database, by endpoint role.", f"# TYPE {name} counter"]
    lines += [f'{name}{{instance="{app.instance}",role="{role}"}} {count}'
              for role, count in app.engines.queries.counts.items()]
    routing = app.engines.describe()
    if "reads_routed" in routing:  # following a primary and a standby (services profile)
        name = "lakefront_db_reads_routed_total"
        lines += [f"# HELP {name} Reads that could go to the standby, by where they went (lag bound).",
                  f"# TYPE {name} counter"]
        lines += [f'{name}{{instance="{app.instance}",to="{to}"}} {count}'
                  for to, count in routing["reads_routed"].items()]
        name = "lakefront_db_reader_lag_ms"
        lag = routing["reader_lag_ms"]
        lines += [f"# HELP {name} The standby's replication lag at the last check (heartbeat age); NaN: unknown.",
                  f"# TYPE {name} gauge", f'{name}{{instance="{app.instance}"}} {"NaN" if lag is None else lag}']
    return Response("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")
