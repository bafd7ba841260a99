"""MariaDB's own backup tools, run as processes: a consistent dump, binary-log copies, a replay.

All three talk to a node as root over its unix socket (the control plane's way in, see servers/mariadb.py);
the orchestration (where the files go, manifests, checksums) is control/backup's.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from lakefront.servers.mariadb import MariaDBError, MariaDBServer, find_tool, one_line


def _tool(name: str) -> str:
    found = find_tool((name, name.replace("mariadb-", "mysql")))
    if found is None:
        raise MariaDBError(f"{name} not found on PATH, /usr/sbin or /usr/bin; "
                           "install it with: apt-get install mariadb-client")
    return str(found)


def _root_args(server: MariaDBServer) -> list[str]:
    return ["--no-defaults", "--user=root", f"--socket={server.socket_path}"]


def dump(server: MariaDBServer, database: str, out_gz: Path) -> None:
    """A consistent dump of `database` (one InnoDB snapshot, with the GTID position it stands at), gzipped."""
    argv = [_tool("mariadb-dump"), *_root_args(server), "--single-transaction", "--gtid", "--master-data=2",
            "--routines", "--triggers", "--events", "--hex-blob", "--databases", database]
    with tempfile.TemporaryFile() as errors, gzip.open(out_gz, "wb", compresslevel=6) as sink, \
            subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errors) as proc:  # nosec B603
        assert proc.stdout is not None
        shutil.copyfileobj(proc.stdout, sink, 1 << 20)
        proc.wait()
        errors.seek(0)
        err = errors.read()
    if proc.returncode != 0:
        raise MariaDBError(f"mariadb-dump failed: {one_line(err.decode(errors='replace'))}")


def binlogs(server: MariaDBServer) -> list[str]:
    with server.connect_root() as conn, conn.cursor() as cur:
        cur.execute("SHOW BINARY LOGS")
        return [str(row[0]) for row in cur.fetchall()]


def flush_binlogs(server: MariaDBServer) -> None:
    """Close the current binary log so that everything committed so far is in a closed file."""
    with server.connect_root() as conn, conn.cursor() as cur:
        cur.execute("FLUSH BINARY LOGS")


def fetch_binlog(server: MariaDBServer, name: str, out_dir: Path) -> Path:
    """A raw copy of one binary log, read through the replication protocol (works on a remote node too)."""
    argv = [_tool("mariadb-binlog"), *_root_args(server), "--read-from-remote-server", "--raw",
            f"--result-file={out_dir}/", name]
    done = subprocess.run(argv, capture_output=True, check=False)  # nosec B603
    if done.returncode != 0:
        raise MariaDBError(f"mariadb-binlog could not copy {name}: {one_line(done.stderr.decode(errors='replace'))}")
    return out_dir / name


def load_dump(server: MariaDBServer, dump_gz: Path) -> None:
    """Run a gzipped dump into `server` (not written to its binary log: the copy starts a history of its own)."""
    argv = [_tool("mariadb"), *_root_args(server), "--init-command=SET SESSION sql_log_bin=0"]
    with tempfile.TemporaryFile() as errors, \
            subprocess.Popen(argv, stdin=subprocess.PIPE, stderr=errors) as proc:  # nosec B603
        assert proc.stdin is not None
        with gzip.open(dump_gz, "rb") as source:
            shutil.copyfileobj(source, proc.stdin, 1 << 20)
        proc.stdin.close()
        proc.wait()
        errors.seek(0)
        err = errors.read()
    if proc.returncode != 0:
        raise MariaDBError(f"loading the dump failed: {one_line(err.decode(errors='replace'))}")


_GTID_EVENT = re.compile(rb"\bGTID (\d+)-(\d+)-(\d+)\b")


def _positions(gtids: str) -> dict[int, int]:
    """A GTID position ("0-1-6,1-2-3") as each domain's sequence number."""
    found: dict[int, int] = {}
    for part in filter(None, (p.strip() for p in gtids.split(","))):
        domain, _server, seq = part.split("-")
        found[int(domain)] = int(seq)
    return found


def newer_than(files: Sequence[Path], gtid: str) -> bool:
    """Whether `files` hold a transaction after position `gtid` (mariadb-binlog refuses a start position
    that no event of the files reaches, which is what an archive holding nothing newer looks like)."""
    base = _positions(gtid)
    argv = [_tool("mariadb-binlog"), "--no-defaults", *(str(f) for f in files)]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as decoder:  # nosec B603
        assert decoder.stdout is not None
        for line in decoder.stdout:
            if line.startswith(b"#"):
                event = _GTID_EVENT.search(line)
                if event is not None and int(event.group(3)) > base.get(int(event.group(1)), -1):
                    decoder.kill()
                    return True
    return False


def replay(server: MariaDBServer, files: Sequence[Path], *, after_gtid: str, stop: datetime | None) -> None:
    """Apply the transactions of `files` that come after `after_gtid` and (if given) before `stop` (UTC)."""
    if not files or (after_gtid and not newer_than(files, after_gtid)):
        return
    argv = [_tool("mariadb-binlog"), "--no-defaults"]
    if after_gtid:
        argv.append(f"--start-position={after_gtid}")
    if stop is not None:
        argv.append(f"--stop-datetime={stop.strftime('%Y-%m-%d %H:%M:%S')}")
    argv += [str(f) for f in files]
    # --stop-datetime is read in the local time zone: make it UTC for this process.
    env = {**os.environ, "TZ": "UTC"}
    client_argv = [_tool("mariadb"), *_root_args(server), "--init-command=SET SESSION sql_log_bin=0"]
    with tempfile.TemporaryFile() as decoder_err, \
            subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=decoder_err, env=env) as decoder:  # nosec B603
        with subprocess.Popen(client_argv, stdin=decoder.stdout, stderr=subprocess.PIPE) as client:  # nosec B603
            assert decoder.stdout is not None
            decoder.stdout.close()
            _, client_err = client.communicate()
        decoder.wait()
        decoder_err.seek(0)
        detail = one_line(decoder_err.read().decode(errors="replace"))
    if decoder.returncode != 0:
        raise MariaDBError(f"mariadb-binlog could not read the archive: {detail}")
    if client.returncode != 0:
        raise MariaDBError(f"replaying the binary logs failed: {one_line(client_err.decode(errors='replace'))}")
