"""The simulated shoppers, as Locust users. Runs only inside the Locust process that `lakefront load`
starts (`python -m locust -f this-file --lakefront-plan plan.json`): Locust monkey-patches the
standard library with gevent, so nothing else imports this module.

Each user is one person with a cookie jar, who signs up once (then keeps the session), browses,
searches, puts things in the cart and checks out through the public listener, with the HTML forms'
CSRF tokens and idempotency keys, as a browser would. Every HTTP request is written to samples.jsonl
and every checkout to orders.jsonl (plan.py) for the report and the order account.

Closed loop: each user waits an exponential think time between interactions. Open loop: one
dispatcher draws Poisson arrivals at the plan's rate and any idle user takes the next one; a
sample's latency counts from the arrival's intended start, so a slow system cannot hide its latency
by slowing the load down (coordinated omission).
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from pathlib import Path
from typing import Any

import gevent
from gevent.queue import Empty, Queue
from locust import FastHttpUser, events, task
from locust.env import Environment

from lakefront.load import mixes
from lakefront.load.plan import ORDERS, SAMPLES, LoadPlan

# The simulated shoppers' own accounts, made by the run on a test domain: not a credential of anyone's.
PASSWORD = "load-shopper-password"  # nosec B105
UNKNOWN_RETRIES = 3
"""A checkout whose answer never came (timeout, connection error, 5xx) is sent again with the same
idempotency key, as a person pressing the button again would, up to this many times in all."""

_PRODUCT = re.compile(r'href="(/p/(\d+)/[^"?#]+)"')
_CATEGORY = re.compile(r'href="/c/([a-z0-9-]+)"')
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_KEY = re.compile(r'name="idempotency_key" value="([^"]+)"')

plan: LoadPlan | None = None
arrivals: Queue[float] = Queue()
_lock = threading.Lock()
_buffer: list[str] = []
_next_user = 0


class Catalog:
    """What the shoppers have seen of the store so far: product links, category slugs, search words."""

    products: dict[int, str] = {}
    categories: set[str] = set()
    words: set[str] = set()

    @classmethod
    def learn(cls, html: str) -> None:
        for path, pid in _PRODUCT.findall(html):
            if int(pid) not in cls.products:
                cls.products[int(pid)] = path
                cls.words.update(w for w in path.rsplit("/", 1)[1].split("-") if len(w) > 3)
        cls.categories.update(_CATEGORY.findall(html))


def _options(parser: Any) -> None:
    parser.add_argument("--lakefront-plan", type=str, default="", help="the run's plan.json")


def _init(environment: Environment, **_: Any) -> None:
    global plan
    options = environment.parsed_options
    if options is not None and options.lakefront_plan:
        plan = LoadPlan.read(Path(options.lakefront_plan))


def _record(request_type: str, name: str, response_time: float, response: Any, exception: Any,
            context: dict[str, Any], **_: Any) -> None:
    status = getattr(response, "status_code", 0) or 0
    queued = float(context.get("queued_ms", 0.0)) if context else 0.0
    line = json.dumps({"t": round(time.time(), 3), "n": name, "ms": round(response_time + queued, 2),
                       "svc": round(response_time, 2), "ok": exception is None, "s": status,
                       "e": None if exception is None else str(exception)[:100]})
    with _lock:
        _buffer.append(line)


def _flush() -> None:
    with _lock:
        lines, _buffer[:] = list(_buffer), []
    if lines and plan is not None:
        with open(Path(plan.out_dir) / SAMPLES, "a") as out:
            out.write("\n".join(lines) + "\n")


def _flusher() -> None:
    while True:
        gevent.sleep(0.5)
        _flush()


def _dispatch(rate: float, duration_s: float, seed: int) -> None:
    """Poisson arrivals at `rate` per second for `duration_s`: each an intended start time."""
    # A seeded, reproducible workload: no secret comes from it.
    rng = random.Random(seed)  # nosec B311
    began = time.time()
    due = began
    while due < began + duration_s:
        due += rng.expovariate(rate)
        gevent.sleep(max(0.0, due - time.time()))
        arrivals.put(due)


def _started(environment: Environment, **_: Any) -> None:
    gevent.spawn(_flusher)
    if plan is not None and plan.mode == "open":
        gevent.spawn(_dispatch, plan.rate, plan.duration_s, plan.seed)


def _quitting(environment: Environment, **_: Any) -> None:
    _flush()


def _order_line(record: dict[str, Any]) -> None:
    assert plan is not None
    with open(Path(plan.out_dir) / ORDERS, "a") as out:
        out.write(json.dumps(record) + "\n")


events.init_command_line_parser.add_listener(_options)  # type: ignore[no-untyped-call]
events.init.add_listener(_init)  # type: ignore[no-untyped-call]
events.request.add_listener(_record)  # type: ignore[no-untyped-call]
events.test_start.add_listener(_started)  # type: ignore[no-untyped-call]
events.quitting.add_listener(_quitting)  # type: ignore[no-untyped-call]


class Shopper(FastHttpUser):
    # The web tier gives the app tier 10 s; a page slower than this has failed for the shopper too.
    network_timeout = 15.0
    connection_timeout = 5.0

    def on_start(self) -> None:
        global _next_user
        assert plan is not None, "run through `lakefront load` (--lakefront-plan)"
        self.plan = plan
        self.host = plan.url
        _next_user += 1
        self.n = _next_user
        # Reproducible choices per shopper: no secret comes from them.
        self.rng = random.Random(plan.seed * 100_003 + self.n)  # nosec B311
        self.mix = mixes.MIXES[plan.mix]
        self.state = mixes.ShopperState()
        self.email = plan.email(self.n)
        self.csrf = ""
        self.queued_ms = 0.0
        self._page("home", "/")

    def wait_time(self) -> float:
        return 0.0 if self.plan.mode == "open" else mixes.think_time(self.rng, self.plan.think_s)

    @task
    def step(self) -> None:
        if self.plan.mode == "open":
            try:
                intended = arrivals.get(timeout=1.0)
            except Empty:
                return
            self.queued_ms = max(0.0, (time.time() - intended) * 1000)
        getattr(self, "do_" + mixes.next_interaction(self.rng, self.mix, self.state))()

    # Requests ------------------------------------------------------------------------------------

    def _context(self) -> dict[str, float]:
        # Only the first request of an interaction waited for its arrival.
        queued, self.queued_ms = self.queued_ms, 0.0
        return {"queued_ms": queued}

    def _page(self, name: str, path: str) -> str:
        response = self.client.get(path, name=name, context=self._context())
        html = (response.text or "") if response.status_code == 200 else ""
        Catalog.learn(html)
        self.csrf = next(iter(_CSRF.findall(html)), self.csrf)
        return html

    def _post(self, name: str, path: str, form: dict[str, str], *, ok: tuple[int, ...] = (303,)) -> Any:
        with self.client.post(path, name=name, data=form | {"csrf_token": self.csrf}, allow_redirects=False,
                              context=self._context(), catch_response=True) as response:
            if response.status_code in ok:
                response.success()
            elif response.status_code < 500 and response.status_code:
                response.failure(f"{response.status_code}")
            return response

    # Browse interactions -------------------------------------------------------------------------

    def do_home(self) -> None:
        self._page("home", "/")

    def do_category(self) -> None:
        if not Catalog.categories:
            return self.do_home()
        slug = self.rng.choice(sorted(Catalog.categories))
        page = "" if self.rng.random() < 0.8 else "?page=2"
        self._page("category", f"/c/{slug}{page}")

    def do_search(self) -> None:
        if not Catalog.words:
            return self.do_home()
        self._page("search", f"/search?q={self.rng.choice(sorted(Catalog.words))}")

    def do_product(self) -> None:
        if not Catalog.products:
            return self.do_home()
        pid = self.rng.choice(sorted(Catalog.products))
        if self._page("product", Catalog.products[pid]):
            self.state.viewed = pid

    # Order interactions --------------------------------------------------------------------------

    def do_signup(self) -> None:
        self._page("signup_form", "/signup")
        response = self._post("signup", "/signup", {"email": self.email, "name": f"Load shopper {self.n}",
                                                    "password": PASSWORD, "next": "/"}, ok=(303, 429))
        if response.status_code == 303:
            self.state.has_account = self.state.signed_in = True
            self._page("home", "/")  # where the redirect leads; its forms carry the new CSRF token
        elif response.status_code == 429:
            self.state.may_sign_up = False  # the stack's sign-up limit (auth.signup_address_limit)

    def do_signin(self) -> None:
        self._page("signin_form", "/signin")
        response = self._post("signin", "/signin", {"email": self.email, "password": PASSWORD, "next": "/"})
        if response.status_code == 303:
            self.state.signed_in = True
            self._page("home", "/")

    def do_add_to_cart(self) -> None:
        pid = self.state.viewed
        if pid is None:
            return self.do_product()
        response = self._post("add_to_cart", f"/cart/items/{pid}/add", {"quantity": "1"}, ok=(303, 409))
        if response.status_code == 303:
            if response.headers.get("location", "").startswith("/signin"):
                self.state.signed_in = False  # the session ended (token expired): sign in again
            else:
                self.state.cart.add(pid)

    def do_cart(self) -> None:
        self._page("cart", "/cart")

    def do_orders(self) -> None:
        self._page("orders", "/orders")

    def do_checkout(self) -> None:
        html = self._page("checkout", "/checkout")
        key = next(iter(_KEY.findall(html)), None)
        if key is None:  # the cart was empty after all (another tab, a failed add): start again
            self.state.cart.clear()
            return
        self._place_order(key)

    def _place_order(self, key: str) -> None:
        record: dict[str, Any] = {"key": key, "email": self.email, "outcome": "unknown", "order_id": None,
                                  "status": 0, "tries": 0, "t": round(time.time(), 3)}
        for attempt in range(1, UNKNOWN_RETRIES + 1):
            record["tries"] = attempt
            response = self._post("place_order", "/checkout", {"idempotency_key": key}, ok=(303, 409, 422))
            record["status"] = status = response.status_code or 0
            location = response.headers.get("location", "") if status == 303 else ""
            if status == 303 and location.startswith("/orders/"):
                record |= {"outcome": "ok", "order_id": int(location.rsplit("/", 1)[1])}
                self.state.cart.clear()
                self._page("order", location)
                break
            if status in (303, 400, 403, 409, 422):
                # A definite refusal: out of stock (409), the form expired, the session ended.
                record["outcome"] = "failed"
                if status == 303:
                    self.state.signed_in = False
                break
            gevent.sleep(1.0)  # no answer, or a 5xx: the order may or may not exist; try the same key again
        _order_line(record)
        if record["outcome"] == "failed" and record["status"] == 409:
            for pid in sorted(self.state.cart):  # what could not be bought leaves the cart
                self._post("cart_remove", f"/cart/items/{pid}/remove", {})
            self.state.cart.clear()

