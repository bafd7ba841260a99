"""Page views for the analytics funnel, sent to the app tier in batches rather than one call per page.

A product page used to cost two app-tier calls: the product, and afterwards the page view. The second
was as much of a web instance's CPU as the page itself (py-spy, bench/RESULTS.md). Views now wait in
memory for at most `flush_s` and leave together in one request; the app tier checks each distinct
shopper token once and writes the batch in one transaction.

What it costs: an instance that is killed loses the views of its last `flush_s`, and while the app
tier is unreachable views beyond `MAX_PENDING` are dropped (counted in one log line). Analytics
never costs the shopper anything, as before: a failed batch is logged and forgotten.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from lakefront.web.client import ApiError, AppClient, AppUnavailable

log = logging.getLogger("lakefront.web")

MAX_BATCH = 500  # the app tier's limit per request (api/schemas.py MAX_BATCH)
MAX_PENDING = 20_000


class PageViewBatcher:
    def __init__(self, client: AppClient, flush_s: float) -> None:
        self.client = client
        self.flush_s = flush_s
        self._pending: list[dict[str, object]] = []
        self._dropped = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def add(self, session_id: str, product_id: int | None, token: str | None) -> None:
        if len(self._pending) >= MAX_PENDING:
            self._dropped += 1
            return
        view: dict[str, object] = {"session_id": session_id, "product_id": product_id}
        if token:
            view["token"] = token
        self._pending.append(view)
        if len(self._pending) >= MAX_BATCH:
            self._wake.set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.flush_s)
            self._wake.clear()
            await self.flush()

    async def flush(self) -> None:
        if self._dropped:
            log.warning("page views dropped: %d (app tier unreachable, %d waiting)", self._dropped,
                        len(self._pending))
            self._dropped = 0
        while self._pending:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            try:
                await self.client.bind("page-views", None).page_views(batch)
            except (AppUnavailable, ApiError) as exc:
                log.warning("page views not recorded: %d: %s", len(batch), exc)

    async def close(self) -> None:
        """Stop the timer and send what is waiting (a graceful stop loses nothing)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()
