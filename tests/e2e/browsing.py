"""Shoppers browsing through the public listener while the system changes under them (deployments,
scaling): every answer counted, a connection a balancer reload drops retried once and counted apart."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import httpx


class Browsing:
    """Shoppers reading pages through the public listener until stopped; every answer counted."""

    def __init__(self, url: str, clients: int = 3, *, pages: tuple[str, ...] = ("/", "/healthz"),
                 build_header: str = "x-lakefront-build") -> None:
        self.url = url
        self.pages = pages
        self.build_header = build_header
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.statuses: Counter[str] = Counter()
        self.builds: Counter[str] = Counter()
        self.dropped = 0
        self.threads = [threading.Thread(target=self._run, args=(k,), daemon=True) for k in range(clients)]

    def _run(self, k: int) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            n = k
            while not self.stopping.is_set():
                path = self.pages[n % len(self.pages)]
                n += 1
                try:
                    try:
                        r = client.get(path)
                    except httpx.TransportError:
                        # A dropped connection is retried once, as a browser retries a GET (RFC 9112
                        # 9.3.1): each registration reloads Caddy's config, which closes idle kept-alive
                        # connections, and one a request was just sent on is lost. Counted apart.
                        with self.lock:
                            self.dropped += 1
                        r = client.get(path)
                    outcome, build = str(r.status_code), r.headers.get(self.build_header, "-")
                except httpx.HTTPError as exc:
                    outcome, build = type(exc).__name__, "-"
                with self.lock:
                    self.statuses[outcome] += 1
                    self.builds[build] += 1

    def __enter__(self) -> Browsing:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.stopping.set()
        for t in self.threads:
            t.join(timeout=60)

    @property
    def failed(self) -> dict[str, int]:
        return {k: v for k, v in self.statuses.items() if k != "200"}
