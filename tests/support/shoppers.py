"""Shoppers placing orders through the public listener, as browsers do, for failover tests and drills.

Each shopper signs up, then loops: set a cart line, open checkout, post the form with its
idempotency key. A 5xx, a dropped connection or a timeout is retried with the SAME key (honouring
Retry-After) until a definite answer or a deadline. Every order ends ok (an order id), failed (a
definite refusal) or unknown (only errors until the deadline). Used by tests/e2e/test_failover.py
and bench/failover_bench.py; imports nothing of pytest.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from support.web import IDEMPOTENCY, Browser

ORDER_DEADLINE_S = 30.0  # a shopper gives up on an order after retrying it this long
REQUEST_TIMEOUT_S = 15.0  # longer than db.failover_wait_s (5 s): an app instance answers 503 before
ORDER_PATH = re.compile(r"^/orders/(\d+)$")


@dataclass
class Order:
    key: str
    client: int
    product_id: int
    outcome: str = "unknown"  # ok (confirmed: order id), failed (a definite refusal), unknown (only errors)
    order_id: int | None = None
    answer_sent: float | None = None  # time.monotonic() the attempt that got the definite answer was sent
    answered: float | None = None  # and answered
    attempts: list[str] = field(default_factory=list)  # what each POST got: a status or an exception name


@dataclass
class Shoppers:
    """`clients` shoppers placing orders until finish(); every answer they got, counted."""

    base_url: str
    products: list[int]
    clients: int
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    stop: threading.Event = field(default_factory=threading.Event)
    orders: list[Order] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)  # every answer to every request of the run
    problems: list[str] = field(default_factory=list)  # shoppers that could not shop
    lock: threading.Lock = field(default_factory=threading.Lock)
    threads: list[threading.Thread] = field(default_factory=list)

    def email(self, client: int) -> str:
        return f"drill-{self.tag}-{client}@example.com"

    def start(self) -> None:
        for client in range(self.clients):
            thread = threading.Thread(target=self._shop, args=(client,), name=f"shopper-{client}", daemon=True)
            thread.start()
            self.threads.append(thread)

    def finish(self) -> list[str]:
        """Stop the shoppers; returns the names of any still running (stuck)."""
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=ORDER_DEADLINE_S + REQUEST_TIMEOUT_S + 10)
        return [t.name for t in self.threads if t.is_alive()]

    def count(self, client: int, *, outcomes: tuple[str, ...] = ("ok", "failed")) -> int:
        """The client's orders with one of `outcomes` (default: a definite answer)."""
        with self.lock:
            return sum(1 for o in self.orders if o.client == client and o.outcome in outcomes)

    def _retrying(self, send: Callable[[], httpx.Response], deadline: float,
                  attempts: list[str] | None = None) -> httpx.Response | None:
        """Send until an answer below 500 or the deadline; a 5xx or a transport error is retried."""
        backoff = 0.1
        while True:
            try:
                response: httpx.Response | None = send()
                answer = str(response.status_code) if response is not None else "?"
            except httpx.TransportError as exc:
                response, answer = None, type(exc).__name__
            with self.lock:
                self.statuses[answer] += 1
            if attempts is not None:
                attempts.append(answer)
            if response is not None and response.status_code < 500:
                return response
            if time.monotonic() >= deadline:
                return None
            pause = backoff
            if response is not None and (retry_after := response.headers.get("retry-after", "")).isdigit():
                pause = max(pause, min(float(retry_after), 2.0))
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            backoff = min(backoff * 2, 1.0)

    def _shop(self, client: int) -> None:
        browser = Browser(self.base_url)
        browser.http.timeout = httpx.Timeout(REQUEST_TIMEOUT_S)
        product_id = self.products[client % len(self.products)]
        try:
            deadline = time.monotonic() + 60
            page = self._retrying(lambda: browser.get("/signup"), deadline)
            signed = self._retrying(lambda: browser.post("/signup", {
                "email": self.email(client), "name": f"Drill {client}",
                "password": "correct horse battery"}), deadline) if page is not None else None
            if signed is None or signed.status_code != 303:
                raise RuntimeError(f"sign-up failed: {signed.status_code if signed else 'no answer'}")
            while not self.stop.is_set():
                order = self._order(browser, client, product_id)
                if order is not None:
                    with self.lock:
                        self.orders.append(order)
        except Exception as exc:  # reported by the caller: a shopper that could not shop
            with self.lock:
                self.problems.append(f"client {client}: {exc!r}")
        finally:
            browser.close()

    def _order(self, browser: Browser, client: int, product_id: int) -> Order | None:
        """One order: cart, checkout form, then its POST retried with the form's key. None: no key was sent."""
        deadline = time.monotonic() + ORDER_DEADLINE_S
        cart = self._retrying(lambda: browser.get("/cart"), deadline)  # for the session's CSRF token
        if cart is None or cart.status_code != 200:
            return None
        line = self._retrying(lambda: browser.post(f"/cart/items/{product_id}", {"quantity": "1"}), deadline)
        if line is None or line.status_code != 303:
            return None
        form = self._retrying(lambda: browser.get("/checkout"), deadline)
        found = IDEMPOTENCY.search(form.text) if form is not None and form.status_code == 200 else None
        if found is None:
            return None
        order = Order(key=found.group(1), client=client, product_id=product_id)
        sent = 0.0

        def post() -> httpx.Response:
            nonlocal sent
            sent = time.monotonic()
            return browser.post("/checkout", {"idempotency_key": order.key})

        answer = self._retrying(post, time.monotonic() + ORDER_DEADLINE_S, order.attempts)
        if answer is None:
            return order  # unknown: only errors and timeouts until the deadline
        order.answer_sent, order.answered = sent, time.monotonic()
        location = ORDER_PATH.match(answer.headers.get("location", "")) if answer.status_code == 303 else None
        if location:
            order.outcome, order.order_id = "ok", int(location.group(1))
        else:
            order.outcome = "failed"
        return order


def place_order(browser: Browser, product_id: int) -> int:
    """One order of one unit, no retries (the caller expects no failure): returns its id."""
    browser.get("/cart")  # the session's CSRF token
    assert browser.post(f"/cart/items/{product_id}", {"quantity": "1"}).status_code == 303
    found = IDEMPOTENCY.search(browser.get("/checkout").text)
    assert found is not None, "no checkout form"
    placed = browser.post("/checkout", {"idempotency_key": found.group(1)})
    assert placed.status_code == 303, placed.status_code
    location = ORDER_PATH.match(placed.headers["location"])
    assert location is not None, placed.headers["location"]
    return int(location.group(1))
