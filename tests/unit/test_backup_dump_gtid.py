"""The GTID position of a dump is found wherever mariadb-dump writes it (10.11: after the data)."""

import gzip
from pathlib import Path

import pytest

from lakefront.control.backup import BackupError, dump_gtid


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
