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
from lakefront.control import static_site
from lakefront.control.database import DatabaseCluster
from lakefront.control.dataservers import SERVERS, DataServers, endpoint
from lakefront.control.lb import LoadBalancer, LoadBalancerError
from lakefront.control.legacy_objects import migrate_legacy_objects
from lakefront.control.scheduler import Job
from lakefront.control.state import remove_state, running_state, write_state
from lakefront.control.supervisor import InstanceGroup, SupervisorError, now_iso
from lakefront.data.endpoints import writer_url
from lakefront.servers import managed
from lakefront.servers.caddy import CaddyError, CaddyServer
from lakefront.servers.procs import pid_alive
from lakefront.settings import SETTINGS_JSON_ENV, Settings

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


def product_count(url: str, busy_timeout_ms: int = 15000) -> int:
    import sqlalchemy as sa

    from lakefront.data.engines import make_engine

    engine = make_engine(url, write=False, busy_timeout_ms=busy_timeout_ms, pool_size=1)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT count(*) FROM products")).scalar_one())
    finally:
        engine.dispose()


def prepare_data(settings: Settings, *, seed: bool) -> None:
    """Move a one-store var/'s objects into their buckets, migrate the database, then load demo data into an
    empty one."""
    migrate_legacy_objects(settings)
    # Alembic narrates its plugins at INFO when imported; `up` logs one line for the migration instead.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from lakefront.data.engines import make_engine
    from lakefront.data.migrations import migrate

    engine = make_engine(writer_url(settings), write=True, busy_timeout_ms=settings.db.busy_timeout_ms)
    try:
        migrate(engine)
    finally:
        engine.dispose()
    log.info("database migrated: %s", endpoint(settings, "database"))
    if not (seed and settings.demo.load_on_first_run):
        return
    count = product_count(writer_url(settings), settings.db.busy_timeout_ms)
    if count:
        log.info("demo data: database has %d products; not loading", count)
        return
    import lakefront.demo as demo

    seed_fn = getattr(demo, "seed", None)
    if seed_fn is None:
        log.info("demo data: lakefront.demo.seed not available yet; skipping")
        return
    log.info("demo data: loading scale=%s seed=%s", settings.demo.scale, settings.demo.seed)
    seed_fn(settings, scale=settings.demo.scale, seed=settings.demo.seed, progress=False)
    log.info("demo data: loaded")


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
        self.caddy: CaddyServer | None = None
        self.lb: LoadBalancer | None = None
        self.groups: dict[str, InstanceGroup] = {}
        self.stopping = False
        self.data = DataServers(settings)
        self.db = DatabaseCluster(settings, on_change=self.save) if settings.replicated else None
        self._save_lock = threading.Lock()
        self._listeners: list[tuple[str, str]] = []
        """(listener, tier) in the order they were opened: what a replacement balancer must serve."""
        self.balancer_restarts = 0
        self.jobs: list[Job] = []
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
        if self.db is None:
            self.data.start("database")
            return
        self.db.start()
        roles, db = self.db.roles, self.settings.db
        log.info("database: primary %s, standby %s, monitor probing every %.2fs (failover after %d failures)",
                 roles.primary, roles.standby, db.probe_interval_s, db.probe_failures)

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

    def request_cache_change(self) -> None:
        """SIGUSR2 from `lakefront cache add-node/remove-node`: the request is in var/run/cache-request."""
        try:
            request = json.loads((self.settings.run_dir / "cache-request").read_text())
        except (OSError, ValueError) as exc:
            log.warning("cache: unreadable request: %s", exc)
            return
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
        self._schedule()

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

    def _start_group(self, tier: str) -> None:
        tier_settings = self.settings.app if tier == "app" else self.settings.web
        group = InstanceGroup(tier, tier_settings.instances, serve_command(tier, self.settings.lb.host),
                              host=self.settings.lb.host, log_dir=self.settings.log_dir, env=self._env,
                              health_interval_s=self.settings.lb.health_interval_s)
        self.groups[tier] = group
        group.start(should_stop=lambda: self.stopping)

    def _ensure_caddy(self) -> LoadBalancer:
        if self.lb is None:
            lb = self.settings.lb
            self.caddy = managed.balancer(self.settings)
            self.caddy.start_ready(self.settings.log_dir / "caddy.log")
            log.info("caddy: started pid=%s admin=%s", self.caddy.pid, self.caddy.admin_url)
            self.lb = LoadBalancer(lb, self.access_log)
        return self.lb

    def _open_listener(self, listener: str, tier: str) -> None:
        lb = self._ensure_caddy()
        group = self.groups[tier]
        static = None
        if listener == "public":
            # The balancer serves the web tier's static files itself, compressed (control/static_site.py).
            static = static_site.publish(self.settings.run_dir / "static")
        lb.open_listener(listener, group.ports(), static)
        group.on_targets = lambda ports: lb.set_targets(listener, ports)
        if (listener, tier) not in self._listeners:
            self._listeners.append((listener, tier))
        log.info("caddy: %s listener on %s:%d -> %s %s", listener, self.settings.lb.host,
                 lb.listeners[listener].port, tier, group.ports())

    def replace_balancer(self) -> None:
        """The one balancer node died: start a new Caddy and open every listener again, with today's targets.

        Requests in flight die with it and new ones are refused until the replacement listens (well
        under a second here): one node is a single point of failure. Issue #12's redundant balancers
        replace this hook; `lakefront load --chaos` kills the node through it (load/faults.py).
        """
        assert self.caddy is not None and self.caddy.proc is not None
        log.warning("caddy: pid=%d exited with status %s; starting a replacement", self.caddy.pid,
                    self.caddy.proc.returncode)
        if self.lb is not None:
            self.lb.close()
        self.lb, self.caddy = None, None
        try:
            for listener, tier in self._listeners:
                self._open_listener(listener, tier)
        except (CaddyError, LoadBalancerError) as exc:
            raise SupervisorError(f"caddy could not be replaced: {exc}; "
                                  f"see {self.settings.log_dir / 'caddy.log'}") from None
        self.balancer_restarts += 1
        log.info("caddy: replacement pid=%d serving %s", self.caddy.pid if self.caddy else 0,
                 ", ".join(name for name, _ in self._listeners))

    def describe(self) -> dict[str, Any]:
        lb = self.settings.lb
        return {
            "pid": os.getpid(),
            "profile": self.settings.profile.value,
            "started_at": self.started_at,
            "var_dir": str(self.settings.var_dir),
            "caddy": {"pid": self.caddy.pid if self.caddy else None, "restarts": self.balancer_restarts,
                      "host": lb.host,
                      "admin_port": lb.admin_port, "public_port": lb.public_port,
                      "internal_port": lb.internal_port},
            "instances": [i.describe() for g in self.groups.values() for i in g.instances],
            "servers": self.data.describe() + (self._db_servers() if self.db else []),
            "database": self.db.describe() if self.db else None,
            "cache_cluster": self.data.describe_cache(),
            "jobs": [job.describe() for job in self.jobs],
            # The exact settings `up` runs with, so `status` and `down` observe the same system.
            "settings": json.loads(self.settings.child_env()[SETTINGS_JSON_ENV]),
        }

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
            for group in self.groups.values():
                changed |= group.tick()
            for job in self.jobs:
                changed |= job.tick()
            if self.caddy is not None and self.caddy.proc is not None and self.caddy.proc.poll() is not None:
                self.replace_balancer()
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
        if self.lb is not None:
            self.lb.close()
        if self.caddy is not None:
            pid = self.caddy.pid
            self.caddy.stop()
            log.info("caddy: stopped pid=%s", pid)
        if self.db is not None:
            self.db.stop()
        self.data.stop()
        remove_state(self.settings.state_file)


def ready_lines(settings: Settings) -> list[str]:
    lb = settings.lb
    lines = [
        f"store            {settings.public_url}/",
        f"app API docs     {settings.internal_url}/docs",
        f"caddy admin      http://{lb.host}:{lb.admin_port}/config/",
        f"logs             {settings.log_dir}",
    ]
    lines += [f"sign in ({role:8}) {email} / {password}" for role, email, password in DEMO_SIGN_INS]
    return lines


def up(settings: Settings, *, seed: bool, echo: Callable[[str], None]) -> int:
    """Run the system until SIGTERM or Ctrl-C. Raises Refused for a user's mistake."""
    check_profile(settings)
    check_not_running(settings)
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

    def on_cache_change(_signum: int, _frame: Any) -> None:
        try:
            stack.request_cache_change()
        except Exception as exc:  # a request must never take the system down
            log.error("cache request failed: %s: %s", type(exc).__name__, exc)

    previous[signal.SIGUSR2] = signal.signal(signal.SIGUSR2, on_cache_change)
    status = 0
    try:
        stack.start()
        log.info("ready: %d web, %d app instance(s)", settings.web.instances, settings.app.instances)
        for line in ready_lines(settings):
            echo(line)
        stack.supervise()
    except (SupervisorError, CaddyError) as exc:
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
    caddy_pid = (state.get("caddy") or {}).get("pid")
    names = ", ".join(f"{i['name']} (pid {i['pid']})" for i in [*instances, *state.get("servers", [])])
    echo(f"stopped lakefront pid {pid}: caddy (pid {caddy_pid}), {names or 'no instances'}")
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
