"""When the app tier is gone, the web tier stays up and says so politely."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from webstack import Browser, Stack, running_stack


@pytest.fixture
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("web-outage"), [("books", "Books")]) as s:
        yield s


def test_app_tier_down_shows_the_503_page_and_web_health_stays_ok(stack: Stack) -> None:
    b = Browser(stack.web_url)
    try:
        assert b.get("/c/books").status_code == 200
        stack.stop("app")
        for path in ("/", "/c/books", "/p/1", "/search?q=x",
                     "/media/products/ab/ab0123456789abcdef0123456789abcd.jpg"):
            response = b.get(path)
            assert response.status_code == 503, path
            assert "The store is temporarily unavailable" in response.text
            assert "Traceback" not in response.text
        # The load balancer checks the instance itself, which is fine.
        assert b.get("/healthz").json()["status"] == "ok"
        # Sign-in pages render without the app tier; submitting them explains the outage.
        assert b.get("/signin").status_code == 200
        assert b.post("/signin", {"email": "a@example.com", "password": "whatever"}).status_code == 503

        stack.start_app()
        assert b.get("/c/books").status_code == 200
    finally:
        b.close()
    assert "app tier unreachable" in stack.log_text("web")
