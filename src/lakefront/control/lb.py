"""The load balancer driver: Caddy's JSON config for both listeners, and target registration
through its admin API (the roles of ALB listeners and target groups).

One Caddy process serves two listeners: `public` (the ALB, in front of the web instances) and
`internal` (the internal ALB, in front of the app instances). Each listener has one reverse_proxy
handler tagged with an "@id", so registering or deregistering instances is a single PATCH of that
handler's upstream list.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from lakefront.control import static_site
from lakefront.control.static_site import StaticSite
from lakefront.servers.caddy import admin_config
from lakefront.settings import LoadBalancerSettings

ACCESS_LOGGER = "access"
ADMIN_ATTEMPTS = 5


class LoadBalancerError(RuntimeError):
    """Caddy refused a configuration change; the message is one line with Caddy's reason."""


@dataclass(frozen=True)
class Listener:
    name: str
    """Server name in Caddy's config: public or internal."""
    port: int
    upstream_id: str
    """The "@id" of the listener's reverse_proxy handler."""
    assign_request_id: bool
    """The public listener assigns the request id that travels through every tier."""
    trusts_proxies: bool = False
    """Whether X-Forwarded-For from lb.trusted_proxies is passed on (appended to) rather than replaced.
    Never on the public listener: there the header comes from the client, who could pick any address."""


def listeners(lb: LoadBalancerSettings) -> dict[str, Listener]:
    return {
        "internal": Listener("internal", lb.internal_port, "app_upstreams", assign_request_id=False,
                             trusts_proxies=True),
        "public": Listener("public", lb.public_port, "web_upstreams", assign_request_id=True),
    }


def _duration(seconds: float) -> str:
    return f"{round(seconds * 1000)}ms"


def upstreams(host: str, ports: list[int]) -> list[dict[str, str]]:
    return [{"dial": f"{host}:{port}"} for port in ports]


def proxy_handler(listener: Listener, lb: LoadBalancerSettings, ports: list[int],
                  dial_host: str | None = None) -> dict[str, Any]:
    handler: dict[str, Any] = {
        "@id": listener.upstream_id,
        "handler": "reverse_proxy",
        "upstreams": upstreams(dial_host or lb.host, ports),
        "load_balancing": {
            "selection_policy": {"policy": "least_conn"},
            # Retrying other upstreams is what turns a killed instance into zero failed requests.
            "try_duration": _duration(lb.try_duration_s),
            "try_interval": "100ms",
            # Safe to replay even when the upstream died after receiving the request.
            "retry_match": [{"method": ["GET", "HEAD"]}],
        },
        "health_checks": {
            "active": {"uri": "/healthz", "interval": _duration(lb.health_interval_s), "timeout": "1s"},
            # Passive checks count failed connections only. Not 5xx answers: a web instance answering
            # 503 because the app tier blipped is not itself broken, and ejecting it for that would
            # turn one tier's blip into an outage of both (as an ALB, which never ejects on 5xx).
            "passive": {"fail_duration": _duration(lb.fail_duration_s), "max_fails": 1},
        },
    }
    if listener.assign_request_id:
        handler["headers"] = {"request": {"set": {"X-Request-Id": ["{http.request.uuid}"]}},
                              # Which server software an instance runs is nobody's business outside.
                              "response": {"delete": ["Server"]}}
    return handler


def server_config(listener: Listener, lb: LoadBalancerSettings, ports: list[int],
                  static: StaticSite | None = None, dial_host: str | None = None) -> dict[str, Any]:
    """One listener on lb.host; with `static`, it answers /static/* itself from the published copy
    (static_site.py). Instances are dialled on `dial_host` (default lb.host)."""
    request_id = "{http.request.uuid}" if listener.assign_request_id else "{http.request.header.X-Request-Id}"
    routes: list[dict[str, Any]] = [{"handle": [
        # Name the instance that served each request in the access log (evaluated after proxying).
        {"handler": "log_append", "key": "upstream", "value": "{http.reverse_proxy.upstream.hostport}"},
        {"handler": "log_append", "key": "request_id", "value": request_id},
        proxy_handler(listener, lb, ports, dial_host),
    ]}]
    if static is not None:
        # First, and terminal: /static/* never reaches an instance.
        routes.insert(0, static_site.route(static, request_id))
    server: dict[str, Any] = {
        # An explicit host: a bare ":port" would listen on every interface.
        "listen": [f"{lb.host}:{listener.port}"],
        "routes": routes,
        "automatic_https": {"disable": True},
        "logs": {"default_logger_name": ACCESS_LOGGER},
    }
    if listener.trusts_proxies:
        # The web tier forwards the shopper's address; without this Caddy would replace it with the web instance's.
        server["trusted_proxies"] = {"source": "static", "ranges": list(lb.trusted_proxies)}
    return server


def base_config(lb: LoadBalancerSettings, access_log: Path) -> dict[str, Any]:
    """Caddy's config before any listener: the admin endpoint and the access log."""
    access_logger = f"http.log.access.{ACCESS_LOGGER}"
    return {
        "admin": admin_config(lb.host, lb.admin_port),
        "logging": {
            "logs": {
                "default": {"exclude": [access_logger]},
                # One JSON line per request, apart from Caddy's own log.
                ACCESS_LOGGER: {
                    "writer": {"output": "file", "filename": str(access_log)},
                    "encoder": {"format": "json"},
                    "include": [access_logger],
                },
            }
        },
        "apps": {"http": {"servers": {}}},
    }


def full_config(lb: LoadBalancerSettings, access_log: Path, ports: dict[str, list[int]],
                static: StaticSite | None = None) -> dict[str, Any]:
    """The whole config with every listener open; `ports` maps listener name to instance ports."""
    config = base_config(lb, access_log)
    for name, listener in listeners(lb).items():
        config["apps"]["http"]["servers"][name] = server_config(listener, lb, ports.get(name, []),
                                                                static if name == "public" else None)
    return config


class LoadBalancer:
    """Drives a running Caddy through its admin API."""

    def __init__(self, lb: LoadBalancerSettings, access_log: Path, upstream_host: str | None = None) -> None:
        self.lb = lb
        self.upstream_host = upstream_host or lb.host
        """Where the instances listen; a node on another address still dials them here."""
        self.access_log = access_log
        self.admin_url = f"http://{lb.host}:{lb.admin_port}"
        # A fresh connection per request: Caddy restarts its admin endpoint when a config loads,
        # which resets any kept-alive connection.
        self._client = httpx.Client(base_url=self.admin_url, timeout=10.0, headers={"Connection": "close"})
        self._loaded = False
        self.listeners = listeners(lb)

    def close(self) -> None:
        self._client.close()

    def _send(self, method: str, path: str, body: Any) -> None:
        # Caddy restarts its admin endpoint after loading a config, so the next request can meet a reset
        # connection (seen under load). Every change we send sets a value (load, PUT, PATCH): repeating it
        # is harmless, so a transport error is retried a few times before it counts.
        for attempt in range(ADMIN_ATTEMPTS):
            try:
                response = self._client.request(method, path, json=body)
                break
            except httpx.TransportError as exc:
                if attempt + 1 == ADMIN_ATTEMPTS:
                    raise LoadBalancerError(f"caddy admin API {method} {path} failed: {exc}") from None
                time.sleep(0.1 * (attempt + 1))
        if response.status_code >= 400:
            try:
                reason = response.json().get("error", response.text)
            except ValueError:
                reason = response.text
            raise LoadBalancerError(f"caddy refused {method} {path}: {reason.strip()}".splitlines()[0])

    def open_listener(self, name: str, ports: list[int], static: StaticSite | None = None) -> Listener:
        """Start listening on `name` with `ports` as its targets (and `static` served by the balancer)."""
        listener = self.listeners[name]
        server = server_config(listener, self.lb, ports, static, self.upstream_host)
        if not self._loaded:
            # The first listener comes with the whole base config in one load.
            self.access_log.parent.mkdir(parents=True, exist_ok=True)
            config = base_config(self.lb, self.access_log)
            config["apps"]["http"]["servers"][name] = server
            self._send("POST", "/load", config)
            self._loaded = True
        else:
            self._send("PUT", f"/config/apps/http/servers/{name}", server)
        return listener

    def set_targets(self, name: str, ports: list[int]) -> None:
        """Replace the listener's upstream list: registration and deregistration in one request."""
        listener = self.listeners[name]
        self._send("PATCH", f"/id/{listener.upstream_id}/upstreams", upstreams(self.upstream_host, ports))

    def targets(self, name: str) -> list[str]:
        response = self._client.get(f"/id/{self.listeners[name].upstream_id}/upstreams")
        response.raise_for_status()
        return [u["dial"] for u in response.json()]

    def upstream_status(self) -> list[dict[str, Any]]:
        """Caddy's view of every upstream: address, num_requests, fails."""
        response = self._client.get("/reverse_proxy/upstreams")
        response.raise_for_status()
        result: list[dict[str, Any]] = response.json()
        return result
