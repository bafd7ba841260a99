"""A Spark standalone cluster (the EMR role's cluster): one master and N workers, from the pyspark wheel, on loopback.

The wheel ships ``bin/spark-class`` and ``sbin/spark-daemon.sh`` (no start-master/start-worker scripts).
spark-daemon.sh only puts spark-class in the background with nohup and a pid file; run in the foreground instead,
each daemon is a child this process owns, like every other server here: tied to its parent's life, its output in
one log, stopped or restarted through its Popen. Every port is set: Spark's web UIs default to 8080 and 8081, which
are the load balancer's. From settings.process.spark_port P: the master's RPC P and web UI P+1; worker n's RPC
P+2n and web UI P+2n+1. The executors a worker launches bind where SPARK_LOCAL_IP says (127.0.0.1), on ports the
kernel picks.

Ready: the master's web UI (JSON at /json/) lists every worker ALIVE. A port already taken stops that daemon
(Spark would otherwise move to the next port) and start-up fails naming it.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lakefront.servers.procs import port_open, spawn, terminate, wait_until_ready

if TYPE_CHECKING:
    from lakefront.settings import Settings

log = logging.getLogger("lakefront.servers")

HOST = "127.0.0.1"
MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"


class SparkClusterError(RuntimeError):
    """The cluster could not be found or started; the message is one line."""


def spark_home() -> Path:
    import pyspark

    return Path(next(iter(pyspark.__path__)))


@dataclass
class SparkCluster:
    """A master on 127.0.0.1:`port` and `workers` workers, working under `dir`."""

    dir: Path
    port: int
    workers: int = 2
    worker_cores: int = 1
    worker_memory: str = "1g"
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list, init=False, repr=False)

    @property
    def master_url(self) -> str:
        return f"spark://{HOST}:{self.port}"

    @property
    def webui_url(self) -> str:
        return f"http://{HOST}:{self.port + 1}"

    @property
    def pid(self) -> int | None:
        return self.procs[0].pid if self.procs else None

    @property
    def running(self) -> bool:
        return bool(self.procs) and all(proc.poll() is None for proc in self.procs)

    def ports(self) -> list[int]:
        return [self.port + i for i in range(2 + 2 * self.workers)]

    def _env(self) -> dict[str, str]:
        return {**os.environ, "SPARK_HOME": str(spark_home()), "SPARK_LOCAL_IP": HOST,
                "SPARK_LOG_DIR": str(self.dir / "logs"), "SPARK_WORKER_DIR": str(self.dir / "work"),
                "SPARK_NO_DAEMONIZE": "1",
                # The daemons' own heap: small, they only schedule (executors get worker_memory).
                "SPARK_DAEMON_MEMORY": "256m",
                # A taken port is an error, not a silent move to the next one (Spark's default retries 16):
                # every port here is set, and the readiness probe looks where the settings say.
                "SPARK_DAEMON_JAVA_OPTS": "-Dspark.port.maxRetries=0"}

    def argv(self, role: str, index: int = 0) -> list[str]:
        spark_class = str(spark_home() / "bin" / "spark-class")
        if role == "master":
            return [spark_class, MASTER_CLASS, "--host", HOST, "--port", str(self.port),
                    "--webui-port", str(self.port + 1)]
        return [spark_class, WORKER_CLASS, "--host", HOST, "--port", str(self.port + 2 * index),
                "--webui-port", str(self.port + 2 * index + 1), "--cores", str(self.worker_cores),
                "--memory", self.worker_memory, "--work-dir", str(self.dir / "work" / f"worker-{index}"),
                self.master_url]

    def start(self, log_dir: Path | None = None) -> None:
        """Start the master and the workers (tied to this process's life); returns at once, see wait_ready()."""
        if self.procs:
            raise SparkClusterError(f"the spark cluster on port {self.port} is already running")
        busy = [port for port in self.ports() if port_open(HOST, port, timeout=0.2)]
        if busy:
            raise SparkClusterError(f"ports {busy} on {HOST} are already in use; choose another process.spark_port")
        if not (spark_home() / "bin" / "spark-class").is_file():
            raise SparkClusterError(f"pyspark at {spark_home()} has no bin/spark-class")
        logs = log_dir or self.dir / "logs"
        for sub in (self.dir / "logs", self.dir / "work", logs):
            sub.mkdir(parents=True, exist_ok=True)
        env = self._env()
        self.procs.append(spawn(self.argv("master"), log_path=logs / "spark-master.log", env=env))
        for index in range(1, self.workers + 1):
            self.procs.append(spawn(self.argv("worker", index), log_path=logs / f"spark-worker-{index}.log",
                                    env=env))
        log.info("spark cluster started: master %s (pid %d), %d workers", self.master_url, self.procs[0].pid,
                 self.workers)

    def alive_workers(self) -> int:
        # The master's own web UI on loopback, over http: the URL is built here, never taken from input.
        with urllib.request.urlopen(f"{self.webui_url}/json/", timeout=2) as answer:  # nosec B310
            state = json.load(answer)
        return sum(1 for worker in state.get("workers", []) if worker.get("state") == "ALIVE")

    def wait_ready(self, timeout: float = 90.0) -> float:
        """Block until the master lists every worker ALIVE; returns the seconds waited."""
        def ready() -> bool:
            for proc in self.procs[1:]:
                if proc.poll() is not None:
                    raise SparkClusterError(f"a spark worker of the cluster on port {self.port} exited with status "
                                            f"{proc.returncode} at start (see its log: a port taken?)")
            return self.alive_workers() >= self.workers

        waited = wait_until_ready(self.procs[0] if self.procs else None, ready,
                                  what=f"spark cluster on port {self.port}", error=SparkClusterError,
                                  timeout=timeout, interval=0.25, retry_on=(OSError, ValueError))
        log.info("spark cluster %s ready with %d workers after %.1fs", self.master_url, self.workers, waited)
        return waited

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM every daemon (workers first), SIGKILL after `timeout`."""
        procs, self.procs = self.procs, []
        for proc in reversed(procs):
            terminate(proc, timeout)
        if procs:
            log.info("spark cluster on port %d stopped", self.port)


def managed_spark(settings: Settings, *, timeout: float = 90.0) -> SparkCluster:
    """The services profile's Spark cluster under var/spark, started with every worker registered."""
    process = settings.process
    cluster = SparkCluster(settings.var_dir / "spark", process.spark_port, process.spark_workers,
                           process.spark_worker_cores, process.spark_worker_memory)
    cluster.start(settings.log_dir)
    try:
        cluster.wait_ready(timeout)
    except BaseException:
        cluster.stop()
        raise
    return cluster
