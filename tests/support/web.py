"""Driving the web tier as a browser would, without a browser: cookies, forms and their CSRF tokens."""

from __future__ import annotations

import re

import httpx

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
IDEMPOTENCY = re.compile(r'name="idempotency_key" value="([^"]+)"')


class Browser:
    """A cookie-keeping client that, like a browser, submits forms with the token the page carried."""

    def __init__(self, base_url: str, source_address: str | None = None) -> None:
        """`source_address`: connect from this local address (another 127.x.y.z: a different shopper)."""
        transport = httpx.HTTPTransport(local_address=source_address) if source_address else None
        self.http = httpx.Client(base_url=base_url, follow_redirects=False, timeout=30, transport=transport)
        self.last_csrf = ""

    def close(self) -> None:
        self.http.close()

    def get(self, path: str, **kwargs: object) -> httpx.Response:
        response = self.http.get(path, **kwargs)  # type: ignore[arg-type]
        found = CSRF.search(response.text) if "text/html" in response.headers.get("content-type", "") else None
        if found:
            self.last_csrf = found.group(1)
        return response

    def post(self, path: str, data: dict[str, str] | None = None, *, csrf: bool = True,
             files: dict[str, tuple[str, bytes, str]] | None = None, chunked: bool = False) -> httpx.Response:
        """POST a form; chunked sends it without a Content-Length, as a streaming client may."""
        form = dict(data or {})
        if csrf:
            form["csrf_token"] = self.last_csrf
        if not chunked:
            return self.http.post(path, data=form, files=files)
        encoded = self.http.build_request("POST", path, data=form, files=files)
        body = encoded.read()
        pieces = (body[i:i + 65536] for i in range(0, len(body), 65536))
        return self.http.post(path, content=pieces, headers={"Content-Type": encoded.headers["Content-Type"]})

    def submit(self, page: str, action: str, data: dict[str, str] | None = None,
               files: dict[str, tuple[str, bytes, str]] | None = None, chunked: bool = False) -> httpx.Response:
        """GET the page holding the form (for its fresh CSRF token), then POST the form."""
        response = self.get(page)
        assert response.status_code == 200, (page, response.status_code)
        return self.post(action, data, files=files, chunked=chunked)

    def signup(self, email: str, name: str, password: str = "correct horse battery") -> httpx.Response:
        response = self.submit("/signup", "/signup", {"email": email, "name": name, "password": password})
        assert response.status_code == 303, response.text
        return response

    def signin(self, email: str, password: str = "correct horse battery") -> httpx.Response:
        response = self.submit("/signin", "/signin", {"email": email, "password": password})
        assert response.status_code == 303, response.text
        return response
