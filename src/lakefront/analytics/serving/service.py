"""The query service (the SPICE role): dataset queries over the latest committed marts, answered from memory.

Each app instance keeps one in-memory DuckDB database holding the marts the pipeline last committed, read through
the lake (each mart table's current Iceberg snapshot), and the results of the dataset queries it ran, keyed by
(dataset, filter values). Filter values are bound as parameters, never formatted into SQL.

Freshness: at most every ``analytics.refresh_s`` seconds, a request asks the lake's catalog for every table's
current metadata file (one query, or one Glue call) and compares each mart's with the one loaded. When any changed,
the changed marts are read at their new snapshots and replaced in one DuckDB transaction (queries already running
keep reading the old rows) and every cached result is dropped. Other
requests do not wait for that check: they answer from what is loaded; only the first request of an instance
waits for the first load. A lake without marts is not an error: the datasets that read them answer empty.

Thread-safe: the app tier runs handlers in a thread pool. Each query runs on its own DuckDB cursor; a result is
cached only if no reload happened while it ran, and concurrent requests for the same uncached key run it once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import duckdb
import pyarrow as pa

from lakefront.analytics.dashboards import Dataset, mart_columns
from lakefront.analytics.dashboards.spec import CATEGORIES_MART
from lakefront.analytics.errors import FilterError, LakeError, LakeUnavailable
from lakefront.analytics.lake import Commit, Lake
from lakefront.analytics.serving.filters import Filters

log = logging.getLogger("lakefront.analytics.serving")


@dataclass(frozen=True)
class Result:
    dataset: str
    columns: list[dict[str, str]]
    rows: list[dict[str, Any]]
    cached: bool
    empty: bool
    """True when a mart the dataset reads has no committed output yet."""
    as_of: str | None
    """The newest committed_at among the marts it read (ISO-8601 UTC), or None."""
    run_id: str | None
    filters: dict[str, str | None]
    """The filter values applied: from, to (YYYY-MM-DD) and category (slug); None where not applied."""


@dataclass
class _Loaded:
    """What the DuckDB database holds: per mart, the commit (snapshot) loaded."""

    commits: dict[str, Commit] = field(default_factory=dict)
    generation: int = 0


def _column_type(kind: pa.DataType) -> str:
    if pa.types.is_integer(kind):
        return "integer"
    if pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return "number"
    if pa.types.is_date(kind):
        return "date"
    if pa.types.is_timestamp(kind):
        return "timestamp"
    if pa.types.is_boolean(kind):
        return "boolean"
    return "string"


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class QueryService:
    """Dataset queries over the lake's latest committed marts, with results kept in memory until marts change."""

    def __init__(self, lake: Lake, *, refresh_s: float = 5.0, cache_entries: int = 1024,
                 memory_limit: str = "1GB", threads: int = 4,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._lake = lake
        self._refresh_s, self._cache_entries, self._clock = refresh_s, cache_entries, clock
        self._conn = duckdb.connect(":memory:", config={"memory_limit": memory_limit, "threads": threads})
        self._conn.execute("SET TimeZone = 'UTC'")
        self._conn_lock = threading.Lock()  # creating cursors and reloading marts
        self._refresh_lock = threading.Lock()
        self._cache_lock = threading.Lock()
        self._loaded = _Loaded()
        self._checked: float | None = None
        self._failing = False  # the last check failed (and said so once)
        self._results: OrderedDict[tuple[Any, ...], tuple[list[dict[str, str]], list[dict[str, Any]]]] = (
            OrderedDict())
        self._inflight: dict[tuple[Any, ...], threading.Event] = {}
        self._expected = mart_columns()  # {mart: the columns its model produces now}
        self._outdated: dict[str, str] = {}  # {mart: metadata file} committed by an older model, not loaded

    # ---- freshness -------------------------------------------------------------------------------------------

    def _reload(self) -> None:
        """Load the marts whose current snapshot is not the one loaded; drop cached results if any was."""
        latest = self._lake.marts()
        loaded = self._loaded.commits
        changed = [mart for mart, location in sorted(latest.items())
                   if (mart not in loaded or loaded[mart].metadata_location != location)
                   and self._outdated.get(mart) != location]
        if not changed:
            return
        commits: dict[str, Commit] = {}
        for mart in changed:
            commit = self._lake.last_commit(mart)
            if commit is None:  # created, never committed
                continue
            # A mart committed by an older version of its model lacks columns the datasets read: leave it
            # out (dashboards show "no data yet") until the next pipeline run commits the current model.
            missing = sorted(set(self._expected.get(mart, ())) - set(commit.schema.names))
            if missing:
                log.warning("analytics: mart %s in the lake lacks %s (an older model); not loading it until "
                            "`lakefront pipeline` commits it again", mart, ", ".join(missing))
                self._outdated[mart] = commit.metadata_location
                continue
            commits[mart] = commit
        if not commits:
            return
        tables = {mart: self._lake.read(mart, commit.snapshot_id) for mart, commit in commits.items()}
        with self._conn_lock:
            cursor = self._conn.cursor()
        try:
            cursor.execute("BEGIN TRANSACTION")
            for mart, table in tables.items():
                cursor.register("_incoming", table)
                # Mart names come from the catalog, quoted as identifiers; no value is formatted in.
                cursor.execute(f"CREATE OR REPLACE TABLE {_quote(mart)} AS SELECT * FROM _incoming")  # nosec B608
                cursor.unregister("_incoming")
            cursor.execute("COMMIT")
        except duckdb.Error:
            cursor.execute("ROLLBACK")
            raise
        finally:
            cursor.close()
        with self._cache_lock:
            self._loaded = _Loaded({**loaded, **commits}, self._loaded.generation + 1)
            self._results.clear()
        log.info("analytics: loaded %s", ", ".join(f"{m} #{commits[m].sequence}" for m in sorted(commits)))

    def refresh(self, *, force: bool = False) -> None:
        """Check the lake for newly committed marts if refresh_s has passed since the last check (or `force`).

        Only the first check of an instance makes others wait; later ones run in one thread while the others
        answer from what is loaded. A failed check keeps what is loaded unless nothing was ever loaded (then
        LakeUnavailable: the API's 503); an outage's first failed check is logged in one line, and its recovery.
        """
        now = self._clock()
        if not force and self._checked is not None and now - self._checked < self._refresh_s:
            return
        first = self._checked is None
        if not self._refresh_lock.acquire(blocking=first or force):
            return
        try:
            if not force and self._checked is not None and self._clock() - self._checked < self._refresh_s:
                return
            try:
                self._reload()
            except (OSError, LakeError, duckdb.Error) as exc:  # object-store errors are OSErrors
                # The catalog's database may have moved (a failover): the next check opens it afresh.
                self._lake.reset()
                if self._checked is None:
                    raise LakeUnavailable(f"cannot read the lake's marts: {exc}") from exc
                # One line per outage, not per check: with refresh_s 0 every request checks, several times.
                if not self._failing:
                    log.warning("analytics: keeping the loaded marts, the lake check failed: %s", exc)
                self._failing = True
            else:
                if self._failing:
                    log.info("analytics: the lake check succeeds again")
                self._failing = False
            self._checked = self._clock()
        finally:
            self._refresh_lock.release()

    def clear(self, *, results_only: bool = False) -> None:
        """Drop every cached result and (unless `results_only`) every loaded mart: the next request starts cold,
        as after a pipeline commit (results only) or in a new instance (benchmarks use it)."""
        if results_only:
            with self._cache_lock:
                self._loaded = _Loaded(self._loaded.commits, self._loaded.generation + 1)
                self._results.clear()
            return
        with self._refresh_lock:
            with self._conn_lock:
                for mart in self._loaded.commits:
                    self._conn.execute(f"DROP TABLE IF EXISTS {_quote(mart)}")
            with self._cache_lock:
                self._loaded = _Loaded(generation=self._loaded.generation + 1)
                self._results.clear()
            self._checked = None

    # ---- lake state ------------------------------------------------------------------------------------------

    def commits(self, marts: Iterable[str]) -> dict[str, Commit]:
        """The loaded commits of those of `marts` that have a committed output."""
        self.refresh()
        loaded = self._loaded.commits
        return {m: loaded[m] for m in marts if m in loaded}

    @staticmethod
    def newest(commits: dict[str, Commit]) -> tuple[str | None, str | None]:
        """(committed_at, run_id) of the newest of `commits`, or (None, None)."""
        if not commits:
            return None, None
        newest = max(commits.values(), key=lambda c: c.committed_at)
        return newest.committed_at, newest.properties.get("run-id")

    def categories(self) -> list[dict[str, Any]]:
        """[{slug, name, id}] of every category in the lake, by name; [] before the first processing run."""
        _, rows, empty = self._run(("_categories",), (CATEGORIES_MART,),
                                   f"SELECT slug, name, category_id AS id FROM {_quote(CATEGORIES_MART)} "  # nosec B608
                                   "ORDER BY name, slug", {})
        return [] if empty else rows

    def category_id(self, slug: str | None) -> int | None:
        """The id of the category with this slug; FilterError('category') if the lake has none."""
        if slug is None:
            return None
        for row in self.categories():
            if row["slug"] == slug:
                return int(row["id"])
        raise FilterError("category", f"unknown category {slug!r}")

    def date_bounds(self, mart: str, column: str) -> dict[str, str] | None:
        """{min, max} (YYYY-MM-DD) of a mart's date column, or None when it has no rows."""
        _, rows, empty = self._run(("_bounds", mart, column), (mart,),
                                   # Identifiers from the dashboards' definitions, quoted; nothing from a request.
                                   f"SELECT MIN({_quote(column)}) AS min, MAX({_quote(column)}) AS max "  # nosec B608
                                   f"FROM {_quote(mart)}", {})
        if empty or not rows or rows[0]["min"] is None:
            return None
        return {"min": str(rows[0]["min"]), "max": str(rows[0]["max"])}

    # ---- queries ---------------------------------------------------------------------------------------------

    def query(self, dataset: Dataset, filters: Filters, applied: Iterable[str] | None = None) -> Result:
        """Run `dataset` with the `applied` filters (default: every filter it takes); others are bound as NULL."""
        wanted = set(dataset.filters if applied is None else applied) & set(dataset.filters)
        category_id = self.category_id(filters.category)  # an unknown slug is refused even where not applied
        values: dict[str, Any] = {"date_from": None, "date_to": None, "category_id": None}
        shown: dict[str, str | None] = {"from": None, "to": None, "category": None}
        if "date" in wanted:
            values["date_from"], values["date_to"] = filters.date_from, filters.date_to
            shown["from"] = filters.date_from.isoformat() if filters.date_from else None
            shown["to"] = filters.date_to.isoformat() if filters.date_to else None
        if "category" in wanted:
            values["category_id"], shown["category"] = category_id, filters.category
        params = {name: values[name] for name in dataset.parameters}
        key = (dataset.name, *(params[p] for p in dataset.parameters))
        columns, rows, empty, cached = self._run_cached(key, dataset.marts, dataset.sql, params)
        if empty:
            columns = [{"name": name, "type": "unknown"} for name in dataset.columns]
        as_of, run_id = self.newest(self.commits(dataset.marts))
        return Result(dataset.name, columns, rows, cached, empty, as_of, run_id, shown)

    def _run(self, key: tuple[Any, ...], marts: Iterable[str], sql: str,
             params: dict[str, Any]) -> tuple[list[dict[str, str]], list[dict[str, Any]], bool]:
        columns, rows, empty, _ = self._run_cached(key, marts, sql, params)
        return columns, rows, empty

    def _run_cached(self, key: tuple[Any, ...], marts: Iterable[str], sql: str,
                    params: dict[str, Any]) -> tuple[list[dict[str, str]], list[dict[str, Any]], bool, bool]:
        self.refresh()
        marts = tuple(marts)
        while True:
            with self._cache_lock:
                loaded = self._loaded
                if any(m not in loaded.commits for m in marts):
                    return [], [], True, False
                hit = self._results.get(key)
                if hit is not None:
                    self._results.move_to_end(key)
                    return hit[0], hit[1], False, True
                waiting = self._inflight.get(key)
                if waiting is None:
                    done = self._inflight[key] = threading.Event()
                    break
            waiting.wait()  # someone else is running this query: take its result
        try:
            columns, rows = self._execute(sql, params)
            with self._cache_lock:
                if self._loaded.generation == loaded.generation and self._cache_entries > 0:
                    self._results[key] = (columns, rows)
                    while len(self._results) > self._cache_entries:
                        self._results.popitem(last=False)
            return columns, rows, False, False
        finally:
            with self._cache_lock:
                del self._inflight[key]
            done.set()

    def _execute(self, sql: str, params: dict[str, Any]) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
        with self._conn_lock:
            cursor = self._conn.cursor()
        try:
            cursor.execute(sql, params)
            table = cursor.to_arrow_table()
        finally:
            cursor.close()
        columns = [{"name": f.name, "type": _column_type(f.type)} for f in table.schema]
        rows = [{k: _json_value(v) for k, v in row.items()} for row in table.to_pylist()]
        return columns, rows

    def close(self) -> None:
        with self._conn_lock:
            self._conn.close()
        self._lake.close()
