"""Health (what the load balancer and the control plane check) and metrics."""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Response

from lakefront.api.deps import AppServices, services
from lakefront.api.problems import problem
from lakefront.api.schemas import HealthPublic

router = APIRouter(tags=["operations"])
Services = Annotated[AppServices, Depends(services)]


@router.get("/healthz", response_model=HealthPublic, responses={503: {"description": "Database unreachable"}})
def healthz(app: Services) -> object:
    """Healthy when this instance can query the database."""
    try:
        with app.engines.writer.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as exc:
        return problem(503, f"database unreachable: {type(exc).__name__}")
    return {"status": "ok", "instance": app.instance, "tier": "app", "database": app.engines.writer.dialect.name}


@router.get("/metrics", response_class=Response)
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
    ):
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} counter", f"{name}{{{labels}}} {value}"]
    name = "lakefront_db_queries_total"
    lines += [f"# HELP {name} SQL statements sent to the database, by endpoint role.", f"# TYPE {name} counter"]
    lines += [f'{name}{{instance="{app.instance}",role="{role}"}} {count}'
              for role, count in app.engines.queries.counts.items()]
    return Response("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")
