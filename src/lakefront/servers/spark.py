"""A Spark standalone cluster (the EMR role's cluster): one master and N workers, from the pyspark wheel, on loopback.

The wheel ships ``bin/spark-class`` and ``sbin/spark-daemon.sh`` (no start-master/start-worker scripts).
spark-daemon.sh only puts spark-class in the background with nohup and a pid file; run in the foreground instead,
each daemon is a servers.base.Server like every other: a child tied to its parent's life, its output in one log,
stopped or restarted through the one lifecycle. Every port is set: Spark's web UIs default to 8080 and 8081, which
are the load balancer's. From settings.process.spark_port P: the master's RPC P and web UI P+1; worker n's RPC
P+2n and web UI P+2n+1. The executors a worker launches bind where SPARK_LOCAL_IP says (127.0.0.1), on ports the
kernel picks.

Ready: the master answers on its web UI (JSON at /json/); a worker once the master lists it ALIVE. A port
already taken stops that daemon (Spark would otherwise move to the next port) and start-up fails naming it.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lakefront.servers.base import HOST, Server, ServerError

log = logging.getLogger("lakefront.servers")

MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"


class SparkClusterError(ServerError):
    """The cluster could not be found or started; the message is one line."""


def spark_home() -> Path:
    import pyspark

    return Path(next(iter(pyspark.__path__)))


def _spark_class() -> str:
    path = spark_home() / "bin" / "spark-class"
    if not path.is_file():
        raise SparkClusterError(f"pyspark at {spark_home()} has no bin/spark-class")
    return str(path)


def master_state(webui_url: str) -> dict[str, Any]:
    # The master's own web UI on loopback, over http: the URL is built here, never taken from input.
    with urllib.request.urlopen(f"{webui_url}/json/", timeout=2) as answer:  # nosec B310
        state: dict[str, Any] = json.load(answer)
    return state


@dataclass
class _SparkDaemon(Server):
    error = SparkClusterError
    ready_timeout_s = 90.0
    poll_s = 0.25

    dir: Path
    port: int

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.port, self.port + 1)  # RPC, web UI

    def env(self) -> dict[str, str]:
        return {**os.environ, "SPARK_HOME": str(spark_home()), "SPARK_LOCAL_IP": HOST,
                "SPARK_LOG_DIR": str(self.dir / "logs"), "SPARK_WORKER_DIR": str(self.dir / "work"),
                "SPARK_NO_DAEMONIZE": "1",
                # The daemons' own heap: small, they only schedule (executors get the worker's memory).
                "SPARK_DAEMON_MEMORY": "256m",
                # A taken port is an error, not a silent move to the next one (Spark's default retries 16):
                # every port here is set, and the readiness probes look where the settings say.
                "SPARK_DAEMON_JAVA_OPTS": "-Dspark.port.maxRetries=0"}

    def prepare(self) -> None:
        for sub in (self.dir / "logs", self.dir / "work"):
            sub.mkdir(parents=True, exist_ok=True)

    def not_ready_errors(self) -> tuple[type[BaseException], ...]:
        return (OSError, ValueError)


@dataclass
class SparkMaster(_SparkDaemon):
    kind = "spark master"

    @property
    def webui_url(self) -> str:
        return f"http://{HOST}:{self.port + 1}"

    def argv(self) -> list[str]:
        return [_spark_class(), MASTER_CLASS, "--host", HOST, "--port", str(self.port),
                "--webui-port", str(self.port + 1)]

    def default_log_path(self) -> Path:
        return self.dir / "logs" / "spark-master.log"

    def ready(self) -> bool:
        return master_state(self.webui_url).get("status") == "ALIVE"


@dataclass
class SparkWorker(_SparkDaemon):
    kind = "spark worker"

    index: int = 1
    master: SparkMaster | None = None
    cores: int = 1
    memory: str = "1g"

    def argv(self) -> list[str]:
        assert self.master is not None
        return [_spark_class(), WORKER_CLASS, "--host", HOST, "--port", str(self.port),
                "--webui-port", str(self.port + 1), "--cores", str(self.cores), "--memory", self.memory,
                "--work-dir", str(self.dir / "work" / f"worker-{self.index}"), f"spark://{HOST}:{self.master.port}"]

    def default_log_path(self) -> Path:
        return self.dir / "logs" / f"spark-worker-{self.index}.log"

    def ready(self) -> bool:
        """Registered: the master lists this worker (its RPC port) ALIVE."""
        assert self.master is not None
        workers = master_state(self.master.webui_url).get("workers", [])
        return any(w.get("port") == self.port and w.get("state") == "ALIVE" for w in workers)


@dataclass
class SparkCluster:
    """A master on 127.0.0.1:`port` and `workers` workers, working under `dir`: several Servers with the
    lifecycle of one (start_ready, stop, kill, restart), so the control plane manages it like any server."""

    dir: Path
    port: int
    workers: int = 2
    worker_cores: int = 1
    worker_memory: str = "1g"
    host: str = HOST
    master: SparkMaster = field(init=False)
    daemons: list[SparkWorker] = field(init=False)

    kind = "spark"

    def __post_init__(self) -> None:
        self.master = SparkMaster(self.dir, self.port)
        self.daemons = [SparkWorker(self.dir, self.port + 2 * n, index=n, master=self.master,
                                    cores=self.worker_cores, memory=self.worker_memory)
                        for n in range(1, self.workers + 1)]

    @property
    def label(self) -> str:
        return f"spark cluster on {self.host}:{self.port}"

    @property
    def master_url(self) -> str:
        return f"spark://{HOST}:{self.port}"

    @property
    def webui_url(self) -> str:
        return self.master.webui_url

    @property
    def pid(self) -> int | None:
        return self.master.pid

    @property
    def running(self) -> bool:
        return self.master.running and all(worker.running for worker in self.daemons)

    def ports(self) -> list[int]:
        return [port for server in (self.master, *self.daemons) for port in server.ports]

    def alive_workers(self) -> int:
        return sum(1 for worker in master_state(self.webui_url).get("workers", []) if worker.get("state") == "ALIVE")

    def start_ready(self, log_dir: Path | None = None, timeout: float | None = None) -> float:
        """Start the master, then every worker, each ready before the next; nothing is left running if one fails."""
        waited = 0.0
        try:
            waited += self.master.start_ready(log_dir / "spark-master.log" if log_dir else None, timeout)
            for worker in self.daemons:
                log_path = log_dir / f"spark-worker-{worker.index}.log" if log_dir else None
                waited += worker.start_ready(log_path, timeout)
        except BaseException:
            self.stop()
            raise
        log.info("%s ready with %d workers after %.1fs", self.label, self.workers, waited)
        return waited

    def stop(self, timeout: float | None = None) -> None:
        """Workers first, then the master."""
        for server in (*reversed(self.daemons), self.master):
            server.stop(timeout)

    def kill(self) -> None:
        for server in (self.master, *self.daemons):
            server.kill()

    def restart(self, timeout: float | None = None) -> float:
        """Start again whatever died (a dead master takes its workers' registrations with it: all restart)."""
        if not self.master.running:
            log_dir = self.master.log_path.parent if self.master.log_path else None
            self.stop()
            return self.start_ready(log_dir, timeout)
        return sum(worker.restart(timeout) for worker in self.daemons if not worker.running)
