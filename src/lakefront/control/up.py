"""`lakefront up` and `lakefront down`: bring the whole system up in topology order, supervise it,
and take it down cleanly.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lakefront import topology
from lakefront.control import requests, static_site
from lakefront.control.autoscale import Policy
from lakefront.control.balancers import Balancers
from lakefront.control.database import DatabaseCluster
from lakefront.control.dataservers import SERVERS, DataServers
from lakefront.control.deploy import Deployment, DeployRefused, Request
from lakefront.control.nlb import WriterEndpoint, nlb_for
from lakefront.control.prepare import prepare_data
from lakefront.control.scheduler import Job
from lakefront.control.state import remove_state, running_state, write_state
from lakefront.control.supervisor import InstanceGroup, SupervisorError, now_iso
from lakefront.control.versions import VersionStore
from lakefront.servers import managed
from lakefront.servers.caddy import CaddyError
from lakefront.servers.haproxy import HAProxyError, haproxy_binary
from lakefront.servers.powerdns import PowerDNSError, PowerDNSServer, pdns_binary
from lakefront.servers.procs import pid_alive
from lakefront.settings import SETTINGS_JSON_ENV, Profile, Settings

log = logging.getLogger("lakefront.control")

DATA_COMPONENTS = ("cache", "database", "object_store")
DEMO_SIGN_INS = (("admin", "admin@lakefront.local", "lakefront-admin"),
                 ("customer", "customer@lakefront.local", "lakefront-demo"))
TICK_S = 0.25


class Refused(Exception):
    """`up` or `down` cannot proceed because of something the user can fix; one line."""


def check_profile(settings: Settings, components: tuple[topology.Component, ...] = topology.COMPONENTS) -> None:
    """Refuse a profile whose data tier is not built: the system would start with nothing to serve."""
    for comp in components:
        if comp.id not in DATA_COMPONENTS:
            continue
        impl = comp.impl(settings.profile)
        if impl.status == "planned":
            raise Refused(f"profile {settings.profile.value}: {comp.name} ({impl.name}) is not built yet; "
                          f"issue #{impl.issue} brings it")


def check_not_running(settings: Settings) -> None:
    state = running_state(settings.state_file)
    if state is not None:
        raise Refused(f"already running (pid {state['pid']}, {settings.state_file}); "
                      "stop it with `lakefront down`")


def serve_command(tier: str, host: str) -> Callable[[str, int], list[str]]:
    def argv(name: str, port: int) -> list[str]:
        return [sys.executable, "-m", "lakefront", "serve", tier, "--port", str(port), "--name", name,
                "--host", host]

    return argv


class Stack:
    """Everything `up` started, in start order."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.started_at = now_iso()
        self.balancers: Balancers | None = None
        self.dns: PowerDNSServer | None = None
        self.dns_restarts = 0
        self.nlb: WriterEndpoint | None = None
        self.groups: dict[str, InstanceGroup] = {}
        self.stopping = False
        self.data = DataServers(settings)
        self.db = DatabaseCluster(settings, on_change=self.save) if settings.replicated else None
        self._save_lock = threading.Lock()
        self.scale_requests: dict[str, str] = {}
        """The last `lakefront scale` request applied, per group (for the command to see it done)."""
        self.jobs: list[Job] = []
        self.versions = VersionStore(settings.var_dir / "versions")
        self.deployment: Deployment | None = None
        self.deploy_refused: dict[str, str] | None = None
        self.requests_pending = False
        """Set by SIGUSR2 from `lakefront scale` or `lakefront deploy`; the supervision loop takes the requests up."""
        self.seed = True
        self._prepared = False
        self._env = os.environ | settings.child_env()
        self._starters: dict[str, Callable[[], None]] = {
            **{cid: (lambda cid=cid: self.data.start(cid)) for cid in SERVERS},  # type: ignore[misc]
            "database": self._start_database,
            "standby": lambda: log.info("standby: %s", "attached by the failover monitor" if self.db else "off"),
            "app": lambda: self._start_group("app"),
            "internal_alb": lambda: self._open_listener("internal", "app"),
            "web": lambda: self._start_group("web"),
            "alb": lambda: self._open_listener("public", "web"),
        }

    def _start_database(self) -> None:
        if self.settings.nlb_enabled:
            self.nlb = nlb_for(self.settings, self.db)  # follows every writer the pair publishes from now on
        if self.db is None:
            self.data.start("database")
        else:
            self.db.start()
            roles, db = self.db.roles, self.settings.db
            log.info("database: primary %s, standby %s, monitor probing every %.2fs (failover after %d failures)",
                     roles.primary, roles.standby, db.probe_interval_s, db.probe_failures)
        if self.nlb is not None:
            self.nlb.start()

    def request_switchover(self) -> None:
        """SIGUSR1 from `lakefront failover`: the request's id is in var/run/failover-request."""
        if self.db is None:
            log.warning("failover requested, but this system runs no standby")
            return
        try:
            request_id = (self.settings.run_dir / "failover-request").read_text().strip()[:40]
        except OSError:
            request_id = ""
        self.db.request_switchover(request_id or None)
        log.info("database: switchover %s requested", request_id or "(no id)")

    def take_requests(self) -> None:
        """Each request `lakefront scale`, `deploy` or `cache add-node/remove-node` left in var/run, taken once."""
        self.requests_pending = False
        handlers = {requests.SCALE: self.request_scale, requests.DEPLOY: self.start_deployment,
                    requests.CACHE: self.request_cache_change}
        for kind, handler in handlers.items():
            try:
                request = requests.claim(self.settings.run_dir, kind)
                if request is not None:
                    handler(request)
            except requests.UnreadableRequest as exc:
                log.warning("unreadable request: %s", exc)
            except Exception as exc:  # a request must never take the system down
                log.error("%s failed: %s: %s", kind, type(exc).__name__, exc)

    def start_deployment(self, raw: dict[str, Any]) -> None:
        """The request `lakefront deploy` left (control/deploy.py)."""
        try:
            request = Request.from_json(raw)
        except (ValueError, KeyError, TypeError) as exc:
            log.error("deploy: unreadable request: %s", exc)
            return
        try:
            if self.deployment is not None and not self.deployment.done:
                raise DeployRefused(f"deployment {self.deployment.request.id} of {self.deployment.request.version} "
                                    "is still running")
            if self.versions.get(request.version) is None and request.version != "installed":
                raise DeployRefused(f"no version {request.version!r} in {self.versions.file}")
            self.deployment = Deployment(request, self.groups, self.versions)
            self.deploy_refused = None
        except DeployRefused as exc:
            log.warning("deploy %s: refused: %s", request.id, exc)
            self.deploy_refused = {"id": request.id, "reason": str(exc)}
        self.save()

    def _in_flight(self, address: str) -> int | None:
        """Requests the balancer nodes have in flight on `address`. One Caddy no longer lists has none: its
        upstream entry lives as long as a config naming it (the one a reload replaced finishes its requests
        first, then releases it)."""
        if self.balancers is None:
            return None
        try:
            upstream = next((u for u in self.balancers.upstream_status() if u.get("address") == address), None)
        except Exception:  # the balancer cannot tell: the drain waits its full delay instead
            return None
        return int(upstream.get("num_requests", 0)) if upstream else 0

    def request_cache_change(self, request: dict[str, Any]) -> None:
        """`lakefront cache add-node/remove-node`."""
        log.info("cache: %s requested (%s)", request.get("op"), request.get("id"))
        self.data.change_cache(request, self.save)

    @property
    def access_log(self) -> Path:
        return self.settings.log_dir / "caddy-access.log"

    def start(self) -> None:
        self.save()  # from the first moment, `down` can find this process
        for comp in topology.start_order(self.settings.profile):
            starter = self._starters.get(comp.id)
            if starter is None:
                raise SupervisorError(f"no starter for component {comp.id!r} ({comp.name})")
            if self.stopping:
                raise SupervisorError("start interrupted")
            if comp.tier is not topology.Tier.data and not self._prepared:
                # The data tier is up: migrate and seed before any instance may serve a request.
                prepare_data(self.settings, seed=self.seed)
                self._prepared = True
            log.info("starting %s (%s)", comp.id, comp.impl(self.settings.profile).name)
            starter()
            self.save()
        if self.settings.dns_enabled:
            self._start_dns()
        self._schedule()

    def _start_dns(self) -> None:
        """The Route 53 role: the store's name answers the balancer nodes that pass their health check."""
        self.dns = managed.dns_server(self.settings)
        self.dns.start_ready(self.settings.log_dir / "pdns.log")
        dns = self.settings.dns
        log.info("dns: %s on %s:%d answers %s (%s, ttl %ds, checked every %ds)", dns.name, self.dns.host,
                 dns.port, ", ".join(self.settings.lb.nodes), dns.policy, dns.ttl_s, dns.check_interval_s)
        self.save()

    def _schedule(self) -> None:
        """Scheduled jobs of components that run in this profile (the analytics pipeline)."""
        extract = self.settings.extract
        if extract.interval_s and topology.component("extract").runs_in(self.settings.profile):
            # The pipeline: extract into the lake, then process the marts (lakefront pipeline).
            self.jobs.append(Job("pipeline", [sys.executable, "-m", "lakefront", "pipeline"], extract.interval_s,
                                 self.settings.log_dir / "pipeline.log", env=self._env))
            log.info("pipeline: extract + process (%s, %s) scheduled every %ds", self.settings.process_engine,
                     self.settings.spark_master if self.settings.process_engine == "spark" else "in process",
                     extract.interval_s)
            maintain_s = self.settings.lake.maintain_interval_s
            if maintain_s:
                # Snapshots past the retention and the files nothing names (killed runs' orphans) go daily.
                self.jobs.append(Job("lake-maintain", [sys.executable, "-m", "lakefront", "lake", "maintain"],
                                     maintain_s, self.settings.log_dir / "lake-maintain.log", env=self._env,
                                     first_delay_s=min(600.0, float(maintain_s))))

        backup = self.settings.backup
        if backup.interval_s and self.settings.profile is not Profile.aws and not self.settings.db.writer_url:
            # A full backup (and retention) on its own schedule; in the services profile the primary's binary
            # logs are archived every few seconds by a long-running child the schedule restarts if it dies.
            self.jobs.append(Job("backup", [sys.executable, "-m", "lakefront", "backup"], backup.interval_s,
                                 self.settings.log_dir / "backup.log", env=self._env, first_delay_s=10.0))
            log.info("backup: full backup every %ds into bucket %s, kept %g days", backup.interval_s,
                     self.settings.objects.buckets["backups"], backup.retention_days)
            if self.settings.profile is Profile.services:
                self.jobs.append(Job("archive-binlogs", [sys.executable, "-m", "lakefront", "archive-binlogs",
                                                         "--every", str(backup.binlog_interval_s)],
                                     backup.binlog_interval_s, self.settings.log_dir / "archive-binlogs.log",
                                     env=self._env, first_delay_s=1.0))
                log.info("backup: binary logs archived every %gs (the recovery point)", backup.binlog_interval_s)

    def _start_group(self, tier: str) -> None:
        tier_settings = self.settings.app if tier == "app" else self.settings.web
        group = InstanceGroup(tier, tier_settings.instances, serve_command(tier, self.settings.lb.host),
                              host=self.settings.lb.host, log_dir=self.settings.log_dir, env=self._env,
                              health_interval_s=self.settings.lb.health_interval_s)
        scaling = tier_settings.scaling
        group.configure_scaling(Policy.from_settings(tier_settings),
                                deregistration_delay_s=scaling.deregistration_delay_s,
                                restart_backoff_s=scaling.restart_backoff_s,
                                restart_backoff_max_s=scaling.restart_backoff_max_s, stable_s=scaling.stable_s)
        # The version last deployed to this group, not the one installed (control/versions.py).
        group.version = self.versions.running(tier)
        group.version_env = self.versions.env(group.version)
        self.groups[tier] = group
        group.start(should_stop=lambda: self.stopping)
        log.info("%s: group min %d, desired %d, max %d; %s", tier, group.policy.min_size, group.desired,
                 group.policy.max_size, f"target {group.policy.target:g} requests in flight per instance"
                 if group.policy.target else "target tracking off (lakefront scale only)")

    def request_scale(self, request: dict[str, Any]) -> None:
        """SIGUSR2 from `lakefront scale`: the request is (id, tier, desired)."""
        try:
            tier, desired, request_id = str(request["tier"]), int(request["desired"]), str(request["id"])[:40]
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("scale request unreadable: %s", exc)
            return
        group = self.groups.get(tier)
        if group is None:
            log.warning("scale request %s: no group %r", request_id, tier)
            return
        group.set_desired(desired, f"set by hand to {desired} (lakefront scale, request {request_id})")
        self.scale_requests[tier] = request_id
        self.save()

    def _observe_load(self) -> None:
        """One metric sample to every group with a target-tracking policy: Caddy's requests in flight per
        upstream, or (metric cpu) the group reads its instances' CPU itself."""
        groups = [g for g in self.groups.values() if g.policy.target and g.on_targets is not None]
        by_port: dict[int, int] = {}
        if any(g.policy.metric == "in_flight" for g in groups):
            if self.balancers is None:
                return
            try:
                status = self.balancers.upstream_status()
            except Exception as exc:  # a balancer being replaced: skip one sample
                log.debug("upstream status unavailable: %s", exc)
                return
            for up in status:
                _, _, port = str(up.get("address", "")).rpartition(":")
                if port.isdigit():
                    by_port[int(port)] = int(up.get("num_requests", 0))
        for group in groups:
            group.observe_load(by_port)

    def _ensure_balancers(self) -> Balancers:
        if self.balancers is None:
            self.balancers = Balancers(self.settings.lb, self.access_log,
                                       lambda name, host: managed.balancer(self.settings, name, host),
                                       self.settings.log_dir)
            self.balancers.start()
        return self.balancers

    def _open_listener(self, listener: str, tier: str) -> None:
        balancers = self._ensure_balancers()
        group = self.groups[tier]
        static = None
        if listener == "public":
            # The balancer serves the web tier's static files itself, compressed (control/static_site.py).
            static = static_site.publish(self.settings.run_dir / "static")
        # A node restarted later is given the group's targets of that moment (balancers.py).
        balancers.open_listener(listener, group.ports, static)
        group.on_targets = lambda ports: balancers.set_targets(listener, ports)
        group.in_flight = self._in_flight  # a drain stops an instance once nothing is in flight on it
        lb = self.settings.lb
        log.info("caddy: %s listener on %s port %d -> %s %s", listener, ", ".join(lb.nodes),
                 lb.public_port if listener == "public" else lb.internal_port, tier, group.ports())

    def describe(self) -> dict[str, Any]:
        lb = self.settings.lb
        nodes = self.balancers.describe() if self.balancers else []
        return {
            "pid": os.getpid(),
            "profile": self.settings.profile.value,
            "started_at": self.started_at,
            "var_dir": str(self.settings.var_dir),
            # The first node, as before there were several; every node is in "balancers".
            "caddy": {"pid": nodes[0]["pid"] if nodes else None, "restarts": nodes[0]["restarts"] if nodes else 0,
                      "host": lb.host,
                      "admin_port": lb.admin_port, "public_port": lb.public_port,
                      "internal_port": lb.internal_port},
            "balancers": nodes,
            "instances": [i.describe() for g in self.groups.values() for i in g.instances],
            "groups": {tier: g.describe_scaling() | {"last_request": self.scale_requests.get(tier)}
                       for tier, g in self.groups.items()},
            "servers": self.data.describe() + (self._db_servers() if self.db else []) + self._dns_servers()
            + ([self.nlb.server_entry()] if self.nlb else []),
            "database": self.db.describe() if self.db else None,
            "cache_cluster": self.data.describe_cache(),
            "nlb": self.nlb.describe() if self.nlb else None,
            "jobs": [job.describe() for job in self.jobs],
            "deployment": self.deployment.describe() if self.deployment else None,
            "deploy_refused": self.deploy_refused,
            # The exact settings `up` runs with, so `status` and `down` observe the same system.
            "settings": json.loads(self.settings.child_env()[SETTINGS_JSON_ENV]),
        }

    def _dns_servers(self) -> list[dict[str, Any]]:
        if self.dns is None:
            return []
        return [{"name": f"powerdns {self.settings.dns.name}", "component": "dns", "pid": self.dns.pid,
                 "port": self.dns.port, "restarts": self.dns_restarts}]

    def _db_servers(self) -> list[dict[str, Any]]:
        assert self.db is not None
        return [{"name": f"mariadb {n['name']} ({n['role']})", "component": "database" if n["role"] == "primary"
                 else "standby", "pid": n["pid"], "port": n["port"], "restarts": n["restarts"]}
                for n in self.db.describe()["nodes"]]

    def save(self) -> None:
        with self._save_lock:  # the failover monitor saves from its own thread
            write_state(self.settings.state_file, self.describe())

    def supervise(self) -> None:
        """Watch every instance until asked to stop."""
        while not self.stopping:
            changed = self.data.tick()
            if self.requests_pending:
                self.take_requests()
            self._observe_load()
            for group in self.groups.values():
                changed |= group.tick()
            if self.deployment is not None:
                for tier in self.deployment.request.tiers:
                    if tier in self.groups:
                        self.groups[tier].hold = not self.deployment.done
                changed |= self.deployment.tick()
            for job in self.jobs:
                changed |= job.tick()
            if self.balancers is not None:
                changed |= self.balancers.tick()
            if self.nlb is not None:
                changed |= self.nlb.tick()
            if self.dns is not None and not self.dns.running:
                log.warning("dns: pid=%s exited; restarting it", self.dns.pid)
                self.dns.restart()
                self.dns_restarts += 1
                changed = True
            if changed:
                self.save()
            time.sleep(TICK_S)

    def shutdown(self) -> None:
        for job in self.jobs:
            job.stop()
        # Deregister first, so the balancer stops sending before the instances stop answering;
        # the public side first, so no request enters a tier that is being emptied.
        for group in reversed(list(self.groups.values())):
            if group.on_targets is not None:
                try:
                    group.on_targets([])
                    log.info("%s: deregistered every instance", group.tier)
                except Exception as exc:  # Caddy may already be gone; stopping must go on
                    log.info("%s: could not deregister: %s", group.tier, exc)
                group.on_targets = None
        for tier in reversed(list(self.groups)):
            self.groups[tier].stop(timeout=10.0)
        if self.dns is not None:
            self.dns.stop()
        if self.nlb is not None:
            self.nlb.stop()
        if self.balancers is not None:
            self.balancers.stop()
        if self.db is not None:
            self.db.stop()
        self.data.stop()
        remove_state(self.settings.state_file)


def ready_lines(settings: Settings) -> list[str]:
    lb = settings.lb
    lines = [
        f"store            {settings.public_url}/",
        f"app API docs     {settings.internal_url}/docs",
        *(f"balancer node    {url}/  (caddy admin http://{host}:{lb.admin_port}/config/)"
          for host, url in zip(lb.nodes, settings.public_urls, strict=True)),
        f"logs             {settings.log_dir}",
    ]
    if settings.dns_enabled:
        dns = settings.dns
        lines.append(f"dns              {dns.name} ({dns.policy}): dig @{lb.host} -p {dns.port} {dns.name}")
    if settings.nlb_enabled:
        lines.append(f"db writer (nlb)  mariadb -h {lb.host} -P {settings.nlb.port} -u {settings.db.user} -p "
                     f"{settings.db.name}")
    lines += [f"sign in ({role:8}) {email} / {password}" for role, email, password in DEMO_SIGN_INS]
    return lines


def up(settings: Settings, *, seed: bool, echo: Callable[[str], None]) -> int:
    """Run the system until SIGTERM or Ctrl-C. Raises Refused for a user's mistake."""
    check_profile(settings)
    check_not_running(settings)
    if settings.dns_enabled:
        try:
            pdns_binary()
        except PowerDNSError as exc:
            raise Refused(f"{exc}; or set dns.enabled = false") from None
    if settings.nlb_enabled:
        try:
            haproxy_binary()
        except HAProxyError as exc:
            raise Refused(f"{exc}; or set nlb.enabled = false") from None
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    stack = Stack(settings)
    stack.seed = seed

    def on_signal(signum: int, _frame: Any) -> None:
        if not stack.stopping:
            log.info("received %s; stopping", signal.Signals(signum).name)
        stack.stopping = True

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}

    def on_failover(_signum: int, _frame: Any) -> None:
        try:
            stack.request_switchover()
        except Exception as exc:  # a request must never take the system down
            log.error("failover request failed: %s: %s", type(exc).__name__, exc)

    previous[signal.SIGUSR1] = signal.signal(signal.SIGUSR1, on_failover)

    def on_request(_signum: int, _frame: Any) -> None:
        # `lakefront scale`, `deploy` and `cache` leave a request file in var/run and send SIGUSR2; the
        # supervision loop takes it up between two steps (a handler runs between any two bytecodes, mid-tick
        # or holding the state file's lock).
        stack.requests_pending = True

    previous[signal.SIGUSR2] = signal.signal(signal.SIGUSR2, on_request)
    status = 0
    try:
        stack.start()
        log.info("ready: %d web, %d app instance(s)", settings.web.instances, settings.app.instances)
        for line in ready_lines(settings):
            echo(line)
        stack.supervise()
    except (SupervisorError, CaddyError, PowerDNSError, HAProxyError) as exc:
        if not stack.stopping:
            log.error("%s", exc)
            status = 1
    except Exception as exc:
        log.error("%s: %s", type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
        status = 1
    finally:
        stack.shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        log.info("stopped")
    return status


def down(settings: Settings, *, echo: Callable[[str], None], timeout: float = 30.0) -> int:
    state = running_state(settings.state_file)
    if state is None:
        echo("lakefront is not running")
        return 0
    pid = int(state["pid"])
    instances = state.get("instances", [])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if pid_alive(pid):
        # The kernel then kills every child (PR_SET_PDEATHSIG), so nothing is left behind.
        os.kill(pid, signal.SIGKILL)
        echo(f"lakefront (pid {pid}) did not stop within {timeout:.0f}s; killed")
    nodes = state.get("balancers") or [{"name": "caddy", **(state.get("caddy") or {})}]
    caddies = ", ".join(f"caddy {n.get('name')} (pid {n.get('pid')})" for n in nodes)
    names = ", ".join(f"{i['name']} (pid {i['pid']})" for i in [*instances, *state.get("servers", [])])
    echo(f"stopped lakefront pid {pid}: {caddies}, {names or 'no instances'}")
    return 0


_VAR_MARKERS = ("run", "db", "log", "secret_key", "mariadb", "objects", "cache")


def purge_var(settings: Settings, *, echo: Callable[[str], None]) -> None:
    """Delete var/ after `down`: every database, cached value, object and log of this system."""
    import shutil

    var_dir = settings.var_dir.resolve()
    if not var_dir.exists():
        echo(f"nothing to purge: {var_dir} does not exist")
        return
    if running_state(settings.state_file) is not None:
        raise Refused("still running; not purging")
    # Refuse anything that does not look like a Lakefront var dir (a mistyped LAKEFRONT_VAR_DIR=/ ...).
    if var_dir == Path(var_dir.anchor) or var_dir == Path.home() or not any(
            (var_dir / marker).exists() for marker in _VAR_MARKERS):
        raise Refused(f"{var_dir} does not look like a Lakefront var directory; not deleting it")
    shutil.rmtree(var_dir)
    echo(f"purged {var_dir}")
