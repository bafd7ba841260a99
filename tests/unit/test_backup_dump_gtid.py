"""The GTID position of a dump is found wherever mariadb-dump writes it (10.11: after the data); the base a
restore to a second starts from."""

import gzip
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lakefront.control.backup import BackupError, Manifest, choose_base, dump_gtid


def _dump(path: Path, body: bytes) -> Path:
    with gzip.open(path, "wb") as f:
        f.write(body)
    return path


def test_a_gtid_written_after_megabytes_of_data_is_found(tmp_path: Path) -> None:
    rows = b"INSERT INTO t VALUES (1,'x');\n" * 200_000  # about 6 MB: past any header-sized read
    dump = _dump(tmp_path / "d.sql.gz", b"-- MariaDB dump\n" + rows + b"-- SET GLOBAL gtid_slave_pos='0-1-42';\n")
    assert dump_gtid(dump) == "0-1-42"


def test_a_gtid_line_split_across_reads_is_found(tmp_path: Path) -> None:
    line = b"-- SET GLOBAL gtid_slave_pos='0-1-7';\n"
    pad = b"x" * ((1 << 20) - 20)  # the line straddles the first 1 MiB read
    assert dump_gtid(_dump(tmp_path / "d.sql.gz", pad + line)) == "0-1-7"


def test_a_dump_without_a_gtid_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="no GTID position"):
        dump_gtid(_dump(tmp_path / "d.sql.gz", b"-- MariaDB dump\nCREATE TABLE t (a INT);\n"))


def _manifest(taken_at: str) -> Manifest:
    return Manifest(key=f"base/{taken_at}/db.sql.gz", taken_at=taken_at, profile="services", kind="mariadb-dump",
                    database="shop", size=1, sha256="0" * 64)


def test_restore_to_a_second_may_start_from_a_backup_taken_during_it() -> None:
    early, during = _manifest("2026-12-01T09:00:00+00:00"), _manifest("2026-12-01T10:00:00.400000+00:00")
    assert choose_base([early, during], datetime(2026, 12, 1, 10, 0, 0, tzinfo=UTC)) == during
    assert choose_base([early, during], datetime(2026, 12, 1, 9, 59, 59, tzinfo=UTC)) == early


def test_restore_to_a_second_before_every_backup_is_outside_the_window() -> None:
    with pytest.raises(BackupError, match="outside the window"):
        choose_base([_manifest("2026-12-01T10:00:00.400000+00:00")], datetime(2026, 12, 1, 9, 59, 59, tzinfo=UTC))
