"""The extractor against a real database, object store and catalog: SQLite -> directory + SQLite catalog,
MariaDB -> SeaweedFS S3 + a catalog in MariaDB.

Each test writes to a lake prefix of its own (a catalog of its own in the same database) over the module's one
seeded database. What the lake holds is read three ways: the lake's own reader, pyiceberg's scan and DuckDB's
iceberg_scan, the last two being what any third-party engine would do.
"""

from __future__ import annotations

import itertools
import random
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import sqlalchemy as sa

from lakefront.analytics.extract import PAUSE_ENV, parse_iso, run_extract
from lakefront.analytics.formats import FORMATS, read_bytes
from lakefront.analytics.lake import Lake, raw_name
from lakefront.analytics.sql import LakeSQL
from lakefront.data import tables as t
from lakefront.data.endpoints import writer_url
from lakefront.demo import seed
from lakefront.settings import ExtractSettings, LakeSettings, Settings
from support import LAKEFRONT, lakefront_env, profile_settings, run_cli

_prefixes = itertools.count(1)


def settings_for(var_dir: Path, env: dict[str, str], prefix: str, **extract: Any) -> Settings:
    """The settings a process started with `env` (the profile's variables) would load."""
    return profile_settings(var_dir, env, lake=LakeSettings(prefix=prefix), extract=ExtractSettings(**extract))


@dataclass
class Source:
    """The module's seeded database, and how to reach it and the lakes from a process or in this one."""

    var_dir: Path
    env: dict[str, str]
    engine: sa.Engine

    def settings(self, prefix: str, **extract: Any) -> Settings:
        return settings_for(self.var_dir, self.env, prefix, **extract)

    def cli_env(self, prefix: str, **extra: str) -> dict[str, str]:
        return lakefront_env(self.var_dir, **self.env, LAKEFRONT_LAKE__PREFIX=prefix, **extra)

    def read(self, prefix: str, table: str) -> pa.Table:
        with Lake(self.settings(prefix)) as lake:
            return lake.read(raw_name(table))

    def rows(self, sql: str) -> list[sa.Row[Any]]:
        with self.engine.connect() as conn:
            return list(conn.execute(sa.text(sql)).all())

    def add_orders(self, count: int, rng: random.Random, at: datetime | None = None) -> list[int]:
        """New orders with lines, stamped `at` (default: now), as checkout would write them."""
        ids = []
        with self.engine.begin() as conn:
            customers = [r[0] for r in conn.execute(sa.select(t.customers.c.id).limit(20))]
            products = [r[0] for r in conn.execute(sa.select(t.products.c.id).limit(5))]
            for _ in range(count):
                stamp = at or datetime.now(UTC)
                lines = [(rng.choice(products), rng.randint(1, 3), rng.randint(100, 9999)) for _ in range(2)]
                total = sum(q * p for _, q, p in lines)
                order_id = conn.execute(t.orders.insert().values(
                    customer_id=rng.choice(customers), status="placed", total_cents=total, item_count=2,
                    placed_at=stamp, created_at=stamp, updated_at=stamp)).inserted_primary_key[0]
                for product, quantity, price in lines:
                    conn.execute(t.order_lines.insert().values(
                        order_id=order_id, product_id=product, quantity=quantity, unit_price_cents=price,
                        line_total_cents=quantity * price, created_at=stamp, updated_at=stamp))
                ids.append(int(order_id))
        return ids

    def cancel_orders(self, count: int, rng: random.Random) -> None:
        """Cancel some orders: an update, so the lake gets a new version of each."""
        with self.engine.begin() as conn:
            ids = [r[0] for r in conn.execute(sa.select(t.orders.c.id).where(t.orders.c.status != "cancelled"))]
            for order_id in rng.sample(ids, count):
                conn.execute(t.orders.update().where(t.orders.c.id == order_id).values(
                    status="cancelled", updated_at=datetime.now(UTC)))


@pytest.fixture(scope="module")
def source(profile_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Source]:
    var_dir = tmp_path_factory.mktemp("extract")
    settings = settings_for(var_dir, profile_env, "lake")
    # History ends two days ago, so no seeded row is younger than any safety lag a test uses.
    seed(settings, scale=0.01, seed=1, until=date.today() - timedelta(days=2), progress=False)
    src = Source(var_dir, profile_env, sa.create_engine(writer_url(settings), poolclass=sa.pool.NullPool))
    yield src
    src.engine.dispose()


def _prefix() -> str:
    return f"lake{next(_prefixes)}"


def assert_lake_matches_source(src: Source, prefix: str) -> None:
    """Every source row's latest version in the lake exactly once; money sums and counts equal."""
    for table, money in (("orders", "total_cents"), ("order_lines", "line_total_cents")):
        versions = src.read(prefix, table).select(["id", "updated_at", money]).to_pylist()
        keys = [(r["id"], r["updated_at"]) for r in versions]
        assert len(keys) == len(set(keys)), f"{table}: a row version appears twice"
        latest: dict[int, dict[str, Any]] = {}
        for row in sorted(versions, key=lambda r: r["updated_at"]):
            latest[row["id"]] = row
        source_table = t.metadata.tables[table]
        with src.engine.connect() as conn:
            rows = conn.execute(sa.select(source_table.c.id, source_table.c.updated_at, source_table.c[money]))
            expected = {r[0]: (r[1], r[2]) for r in rows}
        assert set(latest) == set(expected)
        assert {k: (v["updated_at"], v[money]) for k, v in latest.items()} == expected
        assert sum(v[money] for v in latest.values()) == sum(v[1] for v in expected.values())


# Where a run is killed: once its staging directory exists (it has started work, nothing committed), or
# with the orders' files stored but not committed (the pause hook holds the run there).
KILL_POINTS = ("staging", "orders")


def _kill_mid_run(command: list[str], env: dict[str, str], tmp: Path, point: str) -> None:
    """Run the extract and SIGKILL it at `point`, asserting it was still running and had started work."""
    tmp.mkdir()
    proc = subprocess.Popen(command, env=env | {PAUSE_ENV: "120", "TMPDIR": str(tmp)}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    try:
        if point == "staging":
            deadline = time.monotonic() + 60
            while not list(tmp.glob("lakefront-extract-*")):
                assert proc.poll() is None and time.monotonic() < deadline, f"no staging directory: {point}"
                time.sleep(0.01)
        else:
            for line in proc.stderr:
                if f"paused before committing {point} " in line:
                    break
            else:
                raise AssertionError(f"the run ended before pausing at {point}")
        assert proc.poll() is None, f"the run had finished before the kill at {point}"
        proc.kill()
        assert proc.wait() == -signal.SIGKILL
    finally:
        proc.stderr.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # A killed run leaves its staging directory behind: the run was under way when it died.
    assert list(tmp.glob("lakefront-extract-*")), point


def test_runs_killed_at_random_points_and_before_commit_leave_every_row_once(source: Source, tmp_path: Path) -> None:
    prefix = _prefix()
    env = source.cli_env(prefix, LAKEFRONT_EXTRACT__SAFETY_LAG_S="0")
    rng = random.Random(20261127)
    command = [LAKEFRONT, "extract", "--tables", "orders,order_lines"]
    points = [*KILL_POINTS, *(rng.choice(KILL_POINTS) for _ in range(5))]
    for i, point in enumerate(points):
        source.add_orders(rng.randint(1, 20), rng)
        source.cancel_orders(rng.randint(1, 5), rng)
        _kill_mid_run(command, env, tmp_path / f"run{i}", point)
    # Deterministically between storing a table's data files and committing its manifest.
    source.add_orders(5, rng)
    paused = subprocess.Popen(command, env=env | {PAUSE_ENV: "120"}, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    assert paused.stderr is not None
    with paused.stderr:
        for line in paused.stderr:
            if "paused before committing" in line:
                break
        paused.kill()
        paused.wait()
    with Lake(source.settings(prefix)) as lake:
        stored = {info.key for info in lake.bucket.list(lake.table_prefix(raw_name("orders")) + "data/")}
        committed = set((lake.scan_keys(raw_name("orders")) or ([], None))[0])
    assert stored - committed, "the paused run stored data files that no snapshot names"

    source.add_orders(3, rng)
    final = run_cli(source.var_dir, *command[1:], env=env)
    assert final.returncode == 0, final.stderr
    assert_lake_matches_source(source, prefix)
    assert_third_party_readers_see_the_committed_rows(source, prefix, ["orders", "order_lines"])


def assert_third_party_readers_see_the_committed_rows(src: Source, prefix: str, tables: list[str]) -> None:
    """pyiceberg's scan and DuckDB's iceberg_scan give exactly the rows the commits added, nothing of orphans."""
    settings = src.settings(prefix)
    with Lake(settings) as lake, LakeSQL(settings, lake) as sql:
        for table in tables:
            name = raw_name(table)
            iceberg = lake.load(name)
            assert iceberg is not None
            ours = lake.read(name).sort_by([("id", "ascending"), ("updated_at", "ascending")])
            theirs = iceberg.scan().to_arrow().sort_by([("id", "ascending"), ("updated_at", "ascending")])
            duck = sql.query(f"SELECT * FROM {name} ORDER BY id, updated_at").table
            committed = lake.last_commit(name)
            assert committed is not None and ours.num_rows == committed.rows
            assert theirs.cast(ours.schema).equals(ours), table
            assert duck.column_names == ours.column_names
            for column in ours.column_names:
                assert duck[column].to_pylist() == ours[column].to_pylist(), (table, column)


def test_rows_at_the_watermark_and_rows_held_back_by_the_lag_arrive_once(source: Source) -> None:
    prefix = _prefix()
    held = source.settings(prefix, safety_lag_s=3600)
    first = run_extract(held, tables=["orders"])[0]
    assert first.mode == "full" and first.watermark_after is not None
    rng = random.Random(3)
    at_mark = source.add_orders(2, rng, at=parse_iso(first.watermark_after.updated_at))
    young = source.add_orders(1, rng, at=datetime.now(UTC) - timedelta(seconds=60))

    second = run_extract(held, tables=["orders"])[0]
    assert (second.mode, second.rows) == ("incremental", 2)
    ids = source.read(prefix, "orders")["id"].to_pylist()
    assert sorted(i for i in ids if i in at_mark + young) == sorted(at_mark)

    unheld = source.settings(prefix, safety_lag_s=0)
    assert run_extract(unheld, tables=["orders"])[0].rows >= 1
    assert not run_extract(unheld, tables=["orders"])[0].committed
    ids = source.read(prefix, "orders")["id"].to_pylist()
    assert len(ids) == len(set(ids))
    assert set(at_mark + young) <= set(ids)
    assert len(ids) == source.rows("SELECT count(*) FROM orders")[0][0]


def test_a_full_run_replaces_what_readers_see_instead_of_adding_to_it(source: Source) -> None:
    prefix = _prefix()
    settings = source.settings(prefix, safety_lag_s=0)
    run_extract(settings, tables=["products"])
    again = run_extract(settings, tables=["products"], full=True)[0]
    assert (again.mode, again.rows) == ("full", source.rows("SELECT count(*) FROM products")[0][0])
    table = source.read(prefix, "products")
    assert table.num_rows == again.rows
    with Lake(settings) as lake:
        history = lake.history(raw_name("products"))
    # The full run is two snapshots committed together: its delete of every row, then its files.
    assert [c.properties.get("mode") for c in history] == ["full", None, "full"]
    assert [c.rows for c in history] == [again.rows, 0, again.rows]


def test_a_column_added_to_the_source_appears_in_later_extracts_and_reads_as_null_before(source: Source) -> None:
    prefix = _prefix()
    settings = source.settings(prefix, safety_lag_s=0)
    before = run_extract(settings, tables=["categories"])[0].rows
    with source.engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE categories ADD COLUMN note VARCHAR(40) NULL"))
        now = datetime.now(UTC)
        conn.execute(t.categories.insert().values(slug="added", name="Added", description="", created_at=now,
                                                  updated_at=now))
        conn.execute(sa.text("UPDATE categories SET note = 'añadido ✓' WHERE slug = 'added'"))
    later = run_extract(settings, tables=["categories"])[0]
    assert later.rows == 1
    table = source.read(prefix, "categories")
    notes = dict(zip(table["slug"].to_pylist(), table["note"].to_pylist(), strict=True))
    assert notes.pop("added") == "añadido ✓"
    assert len(notes) == before and set(notes.values()) == {None}
    with Lake(settings) as lake:
        schemas = [c.schema.names for c in lake.history(raw_name("categories"))]
    assert "note" not in schemas[0] and "note" in schemas[1]
    assert_third_party_readers_see_the_committed_rows(source, prefix, ["categories"])


def test_both_readers_take_the_same_rows_and_sql_exports_them_alike_in_every_format(source: Source,
                                                                                    tmp_path: Path) -> None:
    tables = ["customers", "products"]
    stamp = datetime.now(UTC) - timedelta(minutes=20, microseconds=123457)
    with source.engine.begin() as conn:
        category = conn.execute(sa.select(t.categories.c.id).limit(1)).scalar_one()
        conn.execute(t.products.insert().values(
            sku=f"UNI-{_prefix()}", slug="the-cafe", name='Thé & Café ☕ — 東京, "quoted"\nline', description="",
            category_id=category, price_cents=2_147_483_647, stock=0, image_key=None, is_active=False,
            popularity=0, created_at=stamp, updated_at=stamp))
    arrow_prefix = _prefix()
    # A long lag gives every run the same cutoff: rows other tests add meanwhile are held back alike.
    run_extract(source.settings(arrow_prefix, safety_lag_s=600), tables=tables)
    expected = {table: source.read(arrow_prefix, table).sort_by("id") for table in tables}
    columns = ["id", "updated_at", "price_cents", "is_active", "name", "description", "image_key"]
    with source.engine.connect() as conn:
        current = {r.id: tuple(r) for r in conn.execute(sa.select(*(t.products.c[c] for c in columns)))}
    extracted = expected["products"].select(columns).to_pylist()
    assert stamp in [r["updated_at"] for r in extracted]
    assert [tuple(r.values()) for r in extracted] == [current[r["id"]] for r in extracted]
    customers = expected["customers"]
    assert "password_hash" not in customers.column_names
    assert customers.schema.field("is_admin").type == "bool"
    # The other reader (the driver's streaming cursor) takes the same rows.
    prefix = _prefix()
    run_extract(source.settings(prefix, safety_lag_s=600, reader="sqlalchemy"), tables=tables)
    for table in tables:
        assert source.read(prefix, table).sort_by("id").equals(expected[table]), table
    # `lakefront sql --output` writes any table in every format the lake speaks, with the same rows.
    env = source.cli_env(arrow_prefix)
    for fmt in FORMATS:
        out = tmp_path / f"products.{fmt}"
        done = run_cli(source.var_dir, "sql", "SELECT * FROM raw_products ORDER BY id", "--format", fmt,
                       "--output", str(out), env=env)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"{expected['products'].num_rows:,} rows written to {out} ({fmt})"
        assert read_bytes(fmt, out.read_bytes(), expected["products"].schema).equals(expected["products"]), fmt


def test_a_concurrent_reader_only_ever_sees_whole_runs(source: Source) -> None:
    prefix = _prefix()
    # Small batches and files: every run stores several files, so a reader could catch one half stored.
    settings = source.settings(prefix, safety_lag_s=0, batch_rows=30, file_rows=30)
    seen: list[int] = []
    stop = threading.Event()
    errors: list[BaseException] = []

    def read_loop() -> None:
        try:
            with Lake(settings) as lake:
                while not stop.is_set():
                    seen.append(lake.read(raw_name("categories")).num_rows)
        except BaseException as exc:  # reported by the test below
            errors.append(exc)

    reader = threading.Thread(target=read_loop)
    reader.start()
    try:
        base = datetime.now(UTC) - timedelta(days=30)
        for round_, full in enumerate((False, False, True, False, True)):
            # Each round's rows span a few days (so a run writes several files), after the last round's.
            with source.engine.begin() as conn:
                for i in range(150):
                    stamp = base + timedelta(days=3 * round_, minutes=20 * i)
                    conn.execute(t.categories.insert().values(slug=f"{prefix}-{round_}-{i}", name="Round",
                                                              description="", created_at=stamp, updated_at=stamp))
            run_extract(settings, tables=["categories"], full=full)
    finally:
        stop.set()
        reader.join()
    assert not errors
    with Lake(settings) as lake:
        committed = lake.history(raw_name("categories"))
    # Rows older than the watermark wait for a full run: at least the three full runs committed, each of 150 rows
    # or more in files of 30 (so at least five files a commit, which a reader could have caught half stored).
    added = [c for c in committed if int(c.properties.get("rows", 0))]
    assert len(added) >= 3 and all(int(c.properties["rows"]) >= 150 for c in added)
    # Every count a reader saw is the whole of one commit: a full run's delete and files land together.
    whole = {0} | {c.rows for c in committed}
    assert seen and set(seen) <= whole


def test_the_cli_prints_a_line_per_table_and_refuses_bad_input_in_one_line(source: Source) -> None:
    prefix = _prefix()
    env = source.cli_env(prefix)
    ok = run_cli(source.var_dir, "extract", "--tables", "categories,products", env=env)
    assert ok.returncode == 0, ok.stderr
    lines = ok.stdout.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == ["categories", "products"]
    assert all("rows" in line and "bytes" in line and " s," in line for line in lines)
    tables = run_cli(source.var_dir, "lake", "tables", env=env)
    assert [line.split(":")[0] for line in tables.stdout.splitlines()] == ["raw_categories", "raw_products"]
    products = source.rows("SELECT count(*) FROM products")[0][0]
    assert f"raw_products: {products:,} rows, 1 files" in tables.stdout
    for args, message in ((["--tables", "nope"], "unknown table 'nope'"),
                          (["--tables", "auth_tokens"], "never extracted")):
        bad = run_cli(source.var_dir, "extract", *args, env=env)
        assert bad.returncode == 2
        assert message in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
        assert "Traceback" not in bad.stderr
