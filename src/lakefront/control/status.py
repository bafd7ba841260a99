"""`lakefront status`: read the run state, then observe the running system itself.

Every row is an observation (a request through the balancer, a query to the database), not a
repetition of what the state file claims.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from lakefront import topology
from lakefront.control.dataservers import endpoint
from lakefront.control.state import running_state
from lakefront.control.supervisor import healthz
from lakefront.data.endpoints import reader_url
from lakefront.servers.procs import pid_alive
from lakefront.settings import Settings


@dataclass
class Row:
    id: str
    name: str
    status: str
    """ok, degraded, failing, absent (not in this profile), planned, or info (nothing to check)."""
    detail: str = ""
    instances: list[dict[str, Any]] = field(default_factory=list)
    nodes: list[dict[str, Any]] = field(default_factory=list)
    """Cache cluster nodes: port, role, slots, keys, hits, misses, hit_rate."""


def _get_ok(url: str) -> tuple[bool, str]:
    try:
        response = httpx.get(url, timeout=2.0)
    except httpx.HTTPError as exc:
        return False, f"{url}: {type(exc).__name__}"
    return response.status_code == 200, f"GET {url} -> {response.status_code}"


def _human(size: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    return str(size)


def _upstreams(admin_url: str) -> tuple[dict[str, dict[str, Any]], str | None]:
    try:
        response = httpx.get(f"{admin_url}/reverse_proxy/upstreams", timeout=2.0)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        return {}, f"admin API: {type(exc).__name__}"
    return {u["address"]: u for u in response.json()}, None


def _tier_row(comp: topology.Component, state: dict[str, Any], host: str, ups: dict[str, Any]) -> Row:
    rows = []
    for inst in state.get("instances", []):
        if inst["tier"] != comp.id:
            continue
        address = f"{host}:{inst['port']}"
        up = ups.get(address)
        rows.append(inst | {
            "healthy": healthz(host, inst["port"]),
            "registered": up is not None,
            "num_requests": up["num_requests"] if up else None,
            "fails": up["fails"] if up else None,
        })
    # Instances leaving the balancer on purpose (a scale-in, a deployment's drain) do not count.
    counted = [r for r in rows if r.get("state") not in ("draining", "terminating")]
    healthy = bool(counted) and all(r["healthy"] and r["registered"] for r in counted)
    detail = f"{sum(r['healthy'] for r in counted)}/{len(counted)} healthy"
    group = (state.get("groups") or {}).get(comp.id)
    if group:
        detail += "; " + scaling_detail(group)
    versions = sorted({str(r.get("version", "installed")) for r in counted})
    detail += f"; version {', '.join(versions)}"
    deployment = state.get("deployment") or {}
    if comp.id in deployment.get("tiers", []):
        # The last deployment's outcome, as Beanstalk's environment events say it ("rolled back: <reason>").
        detail += f"; deploy {deployment['version']}: {deployment['message']}"
    return Row(comp.id, comp.name, "ok" if healthy else "failing", detail, rows)


def scaling_detail(group: dict[str, Any]) -> str:
    """`size 2/desired 3 (min 2, max 4), target 4 in flight; last 18:20:01 2->3: in-flight 7.5 ...`"""
    unit = "% CPU" if group["metric_name"] == "cpu" else " in flight"
    target = f"target {group['target']:g}{unit} (now {group['metric']:g})" if group["target"] else "target tracking off"
    text = f"size {group['size']}/desired {group['desired']} (min {group['min']}, max {group['max']}), {target}"
    if group.get("backoff"):
        text += f"; crash loop, backing off: {', '.join(group['backoff'])}"
    if group.get("activities"):
        last = group["activities"][-1]
        text += f"; last {last['time'][11:19]} {last['from']}->{last['to']}: {last['cause']}"
    return text


def _database_row(comp: topology.Component, settings: Settings) -> Row:
    from lakefront.control.prepare import product_count

    where = endpoint(settings, "database")
    try:
        count = product_count(reader_url(settings), settings.db.busy_timeout_ms)
    except Exception as exc:  # any failure to query is what status must report
        return Row(comp.id, comp.name, "failing", f"{where}: query failed: {str(exc).splitlines()[0][:120]}")
    return Row(comp.id, comp.name, "ok", f"{count} products; {where}")


def _replication_rows(settings: Settings, state: dict[str, Any], database: Row) -> Row:
    """Roles, the last failover (on the database row) and the standby's replication, observed live."""
    from lakefront.servers.managed import node_server
    from lakefront.servers.mariadb import MariaDBError
    from lakefront.servers.replication import Replication

    cluster = state["database"]
    comp = topology.component("standby")
    nodes = {n["name"]: n for n in cluster["nodes"]}
    primary, standby = nodes[cluster["primary"]], nodes[cluster["standby"]]
    database.detail += f"; primary {primary['name']} (port {primary['port']})"
    events = cluster.get("failovers") or []
    if events:
        last = events[-1]
        database.detail += (f"; last {last['kind']} {last['old_primary']} -> {last['new_primary']} at "
                            f"{last['promoted_at']} in {last['duration_s']:.2f}s")
    refused = cluster.get("failover_refused")
    if refused and (not events or refused["at"] >= events[-1]["promoted_at"]):  # both now_iso(): UTC, sortable
        database.detail += f"; failover refused at {refused['at']} ({refused['reason']}), {refused['primary']} " \
                           "restarted in place"
    try:
        status = Replication(node_server(settings.var_dir, standby["name"], int(standby["port"]))).role_status()
    except MariaDBError as exc:
        return Row(comp.id, comp.name, "failing", f"{standby['name']} (port {standby['port']}): {exc}")
    lag = _heartbeat_lag_ms(settings, standby["port"])
    lag_text = "lag unknown (no heartbeat)" if lag is None else f"lag {lag:.0f} ms"
    replicating = status["io_running"] == "Yes" and status["sql_running"] == "Yes"
    routed = "serving catalog reads" if (lag is not None and lag <= settings.db.max_replica_lag_ms
                                          and standby["name"] in cluster.get("readers", [])) else "not serving reads"
    detail = (f"{standby['name']} (port {standby['port']}) replicating from {primary['name']}: IO "
              f"{status['io_running']}, SQL {status['sql_running']}, {lag_text} (bound "
              f"{settings.db.max_replica_lag_ms} ms), {routed}; semi-sync "
              f"{'in sync' if cluster.get('standby_in_sync') else 'NOT in sync'} (standby_loss="
              f"{cluster.get('standby_loss')})")
    if status["last_error"]:
        detail += f"; error: {status['last_error'][:120]}"
    if standby.get("rejoining"):
        detail += "; rejoining"
    return Row(comp.id, comp.name, "ok" if replicating else "failing", detail)


def _heartbeat_lag_ms(settings: Settings, port: int) -> float | None:
    import pymysql

    try:
        conn = pymysql.connect(host="127.0.0.1", port=port, user=settings.db.user, connect_timeout=2,
                               password=settings.db.password.get_secret_value(), database=settings.db.name)
        with conn, conn.cursor() as cur:
            cur.execute("SELECT TIMESTAMPDIFF(MICROSECOND, beat_at, UTC_TIMESTAMP(6)) FROM lf_heartbeat WHERE id = 1")
            row = cur.fetchone()
    except pymysql.MySQLError:
        return None
    return None if not row or row[0] is None else float(row[0]) / 1000


def _metrics(host: str, port: int) -> dict[str, float]:
    """One app instance's Prometheus counters, summed over labels."""
    try:
        text = httpx.get(f"http://{host}:{port}/metrics", timeout=2.0).text
    except httpx.HTTPError:
        return {}
    totals: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.partition("{")[0].split(" ")[0], line.rsplit(" ", 1)[-1]
            totals[name] = totals.get(name, 0.0) + float(value)
    return totals


def cache_counters(state: dict[str, Any], host: str) -> dict[str, int]:
    """Cache hits, misses and fallbacks summed over every app instance."""
    totals = {"hits": 0, "misses": 0, "fallbacks": 0}
    for inst in state.get("instances", []):
        if inst["tier"] == "app":
            metrics = _metrics(host, inst["port"])
            for key in totals:
                totals[key] += int(metrics.get(f"lakefront_cache_{key}_total", 0))
    return totals


def _cache_row(comp: topology.Component, settings: Settings, counters: dict[str, int]) -> Row:
    from lakefront.data.cache import make_backend

    where = endpoint(settings, "cache")
    reads = counters["hits"] + counters["misses"]
    ratio = f" ({counters['hits'] / reads:.0%} hits)" if reads else ""
    summary = f"hits {counters['hits']}, misses {counters['misses']}, fallbacks {counters['fallbacks']}{ratio}"
    if settings.cache_backend == "redis" and settings.cache_mode == "cluster":
        return _cache_cluster_row(comp, settings, summary)
    backend = make_backend(settings.cache_backend, settings.cache_path, settings.redis_url, 1.0)
    try:
        backend.ping()
    except Exception as exc:  # a dead cache is exactly what status must show
        return Row(comp.id, comp.name, "failing", f"{where}: {type(exc).__name__}; {summary}")
    finally:
        backend.close()
    return Row(comp.id, comp.name, "ok", f"{settings.cache_backend} {where}; {summary}")


def cache_nodes(settings: Settings) -> list[dict[str, Any]]:
    """One entry per cluster node: port, role, slots, keys, hits and misses (INFO stats keyspace_hits/misses)."""
    from lakefront.data.cache_redis import cluster_nodes_of
    from lakefront.servers.redis_cluster import cluster_nodes

    seeds = cluster_nodes_of(settings.redis_url)
    return [{"port": n.port, "role": n.role, "slots": n.slots, "keys": n.keys, "hits": n.hits, "misses": n.misses,
             "hit_rate": n.hit_rate} for n in cluster_nodes([s.port for s in seeds], seeds[0].host)]


def node_line(node: dict[str, Any]) -> str:
    rate = f" ({node['hit_rate']:.0%})" if node["hit_rate"] is not None else ""
    return (f"{node['role']}, {node['slots']} slots, {node['keys']} keys, hits {node['hits']}, "
            f"misses {node['misses']}{rate}")


def _cache_cluster_row(comp: topology.Component, settings: Settings, summary: str) -> Row:
    try:
        nodes = cache_nodes(settings)
    except Exception as exc:  # a dead cache is exactly what status must show
        return Row(comp.id, comp.name, "failing", f"redis cluster: {type(exc).__name__}: {exc}; {summary}")
    covered = sum(n["slots"] for n in nodes if n["role"] == "primary")
    primaries = sum(1 for n in nodes if n["role"] == "primary")
    ok = covered == 16384 and not any(n["role"] == "failed" for n in nodes)
    detail = f"redis cluster, {primaries} primaries, {len(nodes)} nodes, {covered}/16384 slots; {summary}"
    return Row(comp.id, comp.name, "ok" if ok else "failing", detail, nodes=nodes)


def _object_store_row(comp: topology.Component, settings: Settings) -> Row:
    """Objects and bytes in each area's bucket; failing if any bucket cannot be listed."""
    from lakefront.data.objects import AREAS, make_object_store

    counts = []
    for area in AREAS:
        store = make_object_store(settings, area)
        try:
            objects = list(store.list())
        except Exception as exc:
            return Row(comp.id, comp.name, "failing",
                       f"{area} bucket {settings.objects.buckets[area]}: {exc}; {endpoint(settings, 'object_store')}")
        finally:
            close = getattr(store, "close", None)
            if close is not None:
                close()
        counts.append(f"{area} {len(objects)} objects, {_human(sum(o.size for o in objects))}")
    return Row(comp.id, comp.name, "ok", f"{'; '.join(counts)}; {endpoint(settings, 'object_store')}")


def _backups_row(settings: Settings) -> Row:
    """The last backup and the binlog archive's position, from what the backups bucket holds."""
    from lakefront.control.backup import summary
    from lakefront.data.objects import make_object_store

    store = make_object_store(settings, "backups")
    try:
        detail = summary(store)
    except Exception as exc:
        return Row("backups", "Backups (RDS automated backups)", "failing", f"backups bucket: {exc}")
    finally:
        close = getattr(store, "close", None)
        if close is not None:
            close()
    return Row("backups", "Backups (RDS automated backups)", "ok" if "no backup yet" not in detail else "info",
               detail)


def _lake_commits(settings: Settings) -> list[Any]:
    """The current commit of every table of the lake's catalog (what readers see)."""
    from lakefront.analytics.lake import Lake

    with Lake(settings) as lake:
        return list(lake.iter_commits())


def _extract_row(comp: topology.Component, settings: Settings, state: dict[str, Any]) -> Row:
    """The raw tables' current snapshots, and the scheduler's last run."""
    from lakefront.analytics.lake import RAW_PREFIX

    job = next((j for j in state.get("jobs", []) if j["name"] == "pipeline"), None)
    schedule = (f"every {job['interval_s']:.0f}s, {job['runs']} run(s)" if job
                else "not scheduled (extract.interval_s = 0)")
    last = (job or {}).get("last", {})
    try:
        raw = [c for c in _lake_commits(settings) if c.table.startswith(RAW_PREFIX)]
    except Exception as exc:
        return Row(comp.id, comp.name, "failing", f"lake unreadable: {str(exc).splitlines()[0][:120]}")
    if raw:
        newest = max(c.committed_at for c in raw)
        detail = (f"{len(raw)} tables in the lake, last commit {newest}, "
                  f"{sum(c.rows for c in raw):,} row versions; {schedule}")
    else:
        detail = f"nothing committed yet; {schedule}"
    if last.get("ok") is False:
        return Row(comp.id, comp.name, "failing",
                   f"last run exited {last.get('exit_code')} at {last.get('finished_at')}; {detail}")
    return Row(comp.id, comp.name, "ok", detail)


def _marts_row(comp: topology.Component, settings: Settings) -> Row:
    """The marts' current snapshots in the lake (what the dashboards read)."""
    from lakefront.analytics.lake import MART_PREFIX

    try:
        marts = [c for c in _lake_commits(settings) if c.table.startswith(MART_PREFIX)]
    except Exception as exc:
        return Row(comp.id, comp.name, "failing", f"lake unreadable: {str(exc).splitlines()[0][:120]}")
    engine = settings.process_engine
    if engine == "spark":
        engine = f"spark on {settings.spark_master}"
    if not marts:
        return Row(comp.id, comp.name, "ok", f"{engine}: no marts yet")
    newest = max(marts, key=lambda c: c.committed_at)
    return Row(comp.id, comp.name, "ok", f"{engine}: {len(marts)} marts in the lake, last "
                                         f"changed {newest.committed_at} by {newest.properties.get('engine')}")


def _dashboards_row(comp: topology.Component, public_url: str) -> Row:
    from lakefront.analytics.dashboards import DashboardError, load_catalog

    try:
        catalog = load_catalog()
    except DashboardError as exc:
        return Row(comp.id, comp.name, "failing", str(exc))
    return Row(comp.id, comp.name, "ok", f"{len(catalog.dashboards)} dashboards, {len(catalog.datasets)} datasets "
                                         f"at {public_url}/dashboards (admins); data from the marts below")


def _add_managed_server(row: Row, state: dict[str, Any]) -> None:
    """Name the process `up` runs for this role (services profile), and fail the row if it is gone."""
    for server in state.get("servers", []):
        if server["component"] == row.id:
            alive = isinstance(server.get("pid"), int) and pid_alive(server["pid"])
            row.detail += (f"; {server['name']} pid {server['pid']} port {server['port']}, "
                           f"restarts {server['restarts']}" + ("" if alive else ", NOT RUNNING"))
            if server.get("failed_restarts"):
                row.detail += f", {server['failed_restarts']} failed restarts (retrying): {server.get('last_error')}"
            if not alive:
                row.status = "failing"


def _balancer_row(comp: topology.Component, state: dict[str, Any], settings: Settings,
                  ups_error: str | None) -> Row:
    """One listener on every balancer node: ok while at least one node answers, each node named."""
    caddy = state.get("caddy") or {}
    nodes = state.get("balancers") or [{"name": "lb-1", "host": caddy.get("host", settings.lb.host),
                                        "pid": caddy.get("pid"), "restarts": caddy.get("restarts", 0)}]
    port = caddy.get("public_port" if comp.id == "alb" else "internal_port",
                     settings.lb.public_port if comp.id == "alb" else settings.lb.internal_port)
    parts, answering = [], 0
    for node in nodes:
        ok, detail = _get_ok(f"http://{node['host']}:{port}/healthz")
        answering += ok
        parts.append(f"{node['name']} {node['host']}:{port} pid {node.get('pid')} restarts {node.get('restarts', 0)}: "
                     f"{detail if ok else 'NOT ANSWERING (' + detail + ')'}")
    status = "ok" if answering == len(nodes) else ("degraded" if answering else "failing")
    detail = f"{answering}/{len(nodes)} nodes; " + "; ".join(parts)
    if ups_error:
        status, detail = "failing", f"{detail}; {ups_error}"
    return Row(comp.id, comp.name, status, detail)


def _dns_row(settings: Settings, server: dict[str, Any], host: str) -> Row:
    """The Route 53 role: the zone answers, and which nodes its health-checked record may name."""
    from lakefront.servers.powerdns import soa_answered

    dns = settings.dns
    try:
        ok = soa_answered(host, int(server["port"]), dns.name.split(".", 1)[1], timeout=1.0)
    except OSError as exc:
        ok, why = False, type(exc).__name__
    else:
        why = "answers" if ok else "no SOA answer"
    detail = (f"{dns.name} on {host}:{server['port']} {why}; {dns.policy} over {', '.join(settings.lb.nodes)}, "
              f"ttl {dns.ttl_s}s, checked every {dns.check_interval_s}s; pid {server['pid']}, "
              f"restarts {server['restarts']}")
    return Row("route53", topology.component("route53").name, "ok" if ok else "failing", detail)


def nlb_row(nlb: dict[str, Any]) -> Row:
    """The NLB role: where the writer endpoint points, as HAProxy's runtime API shows it now."""
    from lakefront.servers.haproxy import backend_stats

    endpoint = f"{nlb['host']}:{nlb['port']}"
    try:
        servers = [r for r in backend_stats(Path(nlb["socket"]), timeout=1.0) if r["svname"] != "BACKEND"]
    except OSError as exc:
        return Row("nlb", topology.component("nlb").name, "failing",
                   f"{endpoint}: runtime API unreachable ({type(exc).__name__}); pid {nlb.get('pid')}")
    ready = [r for r in servers if not r["status"].startswith("MAINT")]
    parts = [f"{r['svname']} {r['addr']} {r['status']}" + (f" ({r['check_status']})" if r.get("check_status") else "")
             + f", {r['stot']} connections" for r in servers]
    points = f"-> {ready[0]['svname']} {ready[0]['addr']}" if ready else "-> no writer (a role change in progress)"
    up = bool(ready) and ready[0]["status"].startswith("UP") and ready[0]["svname"] == nlb.get("writer")
    detail = (f"{endpoint} {points}; " + "; ".join(parts) +
              f"; pid {nlb.get('pid')}, restarts {nlb.get('restarts', 0)}, writer changes {nlb.get('changes', 0)}")
    if nlb.get("last_error"):
        detail += f"; last error: {nlb['last_error']}"
    return Row("nlb", topology.component("nlb").name, "ok" if up else "failing", detail)


def _replace_row(rows: list[Row], row: Row) -> None:
    at = next(i for i, r in enumerate(rows) if r.id == row.id)
    rows[at] = row


def observe(settings: Settings) -> dict[str, Any] | None:
    """The observed status, or None when nothing runs."""
    state = running_state(settings.state_file)
    if state is None:
        return None
    caddy = state.get("caddy") or {}
    host = caddy.get("host", settings.lb.host)
    admin_url = f"http://{host}:{caddy.get('admin_port', settings.lb.admin_port)}"
    public_url = f"http://{host}:{caddy.get('public_port', settings.lb.public_port)}"
    internal_url = f"http://{host}:{caddy.get('internal_port', settings.lb.internal_port)}"
    ups, ups_error = _upstreams(admin_url)
    for node in (state.get("balancers") or [])[1:]:
        if not ups_error:
            break
        # The first node is down (being restarted): any other node has the same targets.
        ups, ups_error = _upstreams(node["admin_url"])
    profile = settings.profile.__class__(state.get("profile", settings.profile.value))

    counters = cache_counters(state, host)  # every app instance's /metrics, read once
    rows: list[Row] = []
    for comp in topology.COMPONENTS:
        impl = comp.impl(profile)
        if impl.status == "absent":
            rows.append(Row(comp.id, comp.name, "absent", impl.name))
        elif impl.status == "planned":
            rows.append(Row(comp.id, comp.name, "planned", f"{impl.name} (issue #{impl.issue})"))
        elif comp.id in ("web", "app"):
            rows.append(_tier_row(comp, state, host, ups))
        elif comp.id in ("alb", "internal_alb"):
            rows.append(_balancer_row(comp, state, settings, ups_error))
        elif comp.id == "database":
            rows.append(_database_row(comp, settings))
        elif comp.id == "standby" and state.get("database"):
            rows.append(_replication_rows(settings, state, rows[next(i for i, r in enumerate(rows)
                                                                     if r.id == "database")]))
        elif comp.id == "cache":
            rows.append(_cache_row(comp, settings, counters))
        elif comp.id == "object_store":
            rows.append(_object_store_row(comp, settings))
            _add_managed_server(rows[-1], state)
            rows.append(_backups_row(settings))
            continue
        elif comp.id == "extract":
            rows.append(_extract_row(comp, settings, state))
        elif comp.id == "emr":
            rows.append(_marts_row(comp, settings))
        elif comp.id == "quicksight":
            rows.append(_dashboards_row(comp, public_url))
        else:
            rows.append(Row(comp.id, comp.name, "info", impl.name))
        _add_managed_server(rows[-1], state)
    # The DNS server and the writer endpoint run as settings say (dns.enabled, nlb.enabled), whatever the
    # profile's default: what runs replaces the topology's row for the role.
    dns = next((srv for srv in state.get("servers", []) if srv.get("component") == "dns"), None)
    if dns is not None:
        _replace_row(rows, _dns_row(settings, dns, host))
    if state.get("nlb"):
        _replace_row(rows, nlb_row(state["nlb"]))
    healthy = all(r.status != "failing" for r in rows)
    return {
        "running": True,
        "healthy": healthy,
        "pid": state.get("pid"),
        "profile": profile.value,
        "started_at": state.get("started_at"),
        "urls": {"public": public_url, "internal": internal_url, "admin": admin_url},
        "components": [asdict(r) for r in rows],
        "upstreams": list(ups.values()),
        "servers": state.get("servers", []),
        "database": state.get("database"),
        "groups": state.get("groups", {}),
        "cache": counters,
    }
