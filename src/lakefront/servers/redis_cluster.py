"""A Redis Cluster (the ElastiCache cluster-mode role): several RedisServers with the lifecycle of one.

Node n listens on `port` + n (its cluster bus on + 10000). `start_ready` starts every node on a fresh
cluster view (the cache holds only copies of database rows, so nothing is lost by starting empty),
then `redis-cli --cluster create` gives the first `primaries` nodes the 16384 slots and makes the
others their replicas. A node that dies is restarted on its directory: nodes.conf keeps its identity,
and a primary whose replica took over meanwhile comes back as that replica's replica.

`add_node` / `remove_node` reshard live (redis-cli --cluster add-node, rebalance, del-node): slots and
their keys move while clients are served, the cluster client following MOVED/ASK redirects.
"""

from __future__ import annotations

import logging
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lakefront.servers.base import HOST
from lakefront.servers.redis import RedisError, RedisServer, redis_binary

log = logging.getLogger("lakefront.servers")

SLOTS = 16384


@dataclass(frozen=True)
class NodeInfo:
    """One node as CLUSTER NODES and INFO show it, for `status` and tests."""

    id: str
    port: int
    role: str
    """primary or replica ("failed" when the cluster marks it so)."""
    primary_id: str | None
    slots: int
    hits: int | None = None
    misses: int | None = None
    keys: int | None = None

    @property
    def hit_rate(self) -> float | None:
        if self.hits is None or self.misses is None or self.hits + self.misses == 0:
            return None
        return self.hits / (self.hits + self.misses)


def _slot_count(fields: list[str]) -> int:
    count = 0
    for spec in fields:
        if spec.startswith("["):  # a slot being migrated or imported, not owned
            continue
        low, _, high = spec.partition("-")
        count += int(high or low) - int(low) + 1
    return count


def parse_cluster_nodes(text: str) -> list[NodeInfo]:
    """CLUSTER NODES output -> one NodeInfo per line (hit counters not filled in)."""
    nodes = []
    for line in text.strip().splitlines():
        parts = line.split()
        if len(parts) < 8:
            continue
        node_id, address, flags = parts[0], parts[1], parts[2].split(",")
        port = int(address.split("@", 1)[0].rsplit(":", 1)[1])
        role = "failed" if "fail" in flags else "primary" if "master" in flags else "replica"
        primary_id = None if parts[3] == "-" else parts[3]
        nodes.append(NodeInfo(node_id, port, role, primary_id, _slot_count(parts[8:])))
    return sorted(nodes, key=lambda n: n.port)


def _raw(client: Any, command: str) -> str:
    """A CLUSTER command's text as the server sent it (redis-py would parse it into its own shape)."""
    client.response_callbacks.pop(command, None)
    raw: Any = client.execute_command(command)
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def cluster_nodes(ports: list[int], host: str = HOST, timeout_s: float = 1.0) -> list[NodeInfo]:
    """The cluster as the first reachable node of `ports` sees it, with each node's hit counters
    (INFO stats keyspace_hits/misses, DBSIZE). Raises RedisError when no node answers."""
    import redis

    view = None
    for port in ports:
        try:
            with redis.Redis(host=host, port=port, socket_timeout=timeout_s, socket_connect_timeout=timeout_s) as c:
                view = _raw(c, "CLUSTER NODES")
                break
        except redis.RedisError:
            continue
    if view is None:
        raise RedisError(f"no redis cluster node answers on {host}:{','.join(map(str, ports))}")
    filled = []
    for node in parse_cluster_nodes(view):
        try:
            with redis.Redis(host=host, port=node.port, socket_timeout=timeout_s,
                             socket_connect_timeout=timeout_s) as c:
                stats: Any = c.info("stats")
                keys = int(c.dbsize())
            node = NodeInfo(node.id, node.port, node.role, node.primary_id, node.slots,
                            int(stats["keyspace_hits"]), int(stats["keyspace_misses"]), keys)
        except redis.RedisError:
            pass
        filled.append(node)
    return filled


@dataclass
class RedisCluster:
    """`primaries` primaries with `replicas` replicas each, under `dir`, on 127.0.0.1:`port`, `port`+1, ..."""

    dir: Path
    port: int
    primaries: int = 3
    replicas: int = 1
    node_timeout_ms: int = 2000
    host: str = HOST
    nodes: list[RedisServer] = field(init=False)

    kind = "redis-cluster"
    ready_timeout_s = 30.0

    def __post_init__(self) -> None:
        self.nodes = [self._node(self.port + n) for n in range(self.primaries * (1 + self.replicas))]

    def _node(self, port: int) -> RedisServer:
        return RedisServer(self.dir / f"node-{port}", port, cluster_node_timeout_ms=self.node_timeout_ms)

    @property
    def label(self) -> str:
        return f"redis cluster on {self.host}:{self.port}"

    @property
    def url(self) -> str:
        """Every node, so that a client finds the cluster through any one that answers."""
        return f"redis://{','.join(f'{self.host}:{n.port}' for n in self.nodes)}/0"

    @property
    def pid(self) -> int | None:
        return self.nodes[0].pid

    @property
    def running(self) -> bool:
        return all(node.running for node in self.nodes)

    def ports(self) -> list[int]:
        return [port for node in self.nodes for port in node.ports]

    def node(self, port: int) -> RedisServer:
        found = next((n for n in self.nodes if n.port == port), None)
        if found is None:
            raise RedisError(f"{self.label} has no node on port {port}")
        return found

    # The lifecycle of one server.

    def start_ready(self, log_dir: Path | None = None, timeout: float | None = None) -> float:
        """Start every node on an empty cluster view, create the cluster, wait until every node says ok."""
        started = time.monotonic()
        try:
            for node in self.nodes:
                (node.dir / "nodes.conf").unlink(missing_ok=True)
                node.start(log_dir / f"redis-{node.port}.log" if log_dir else None)
            for node in self.nodes:
                node.wait_ready(timeout)
            self._cli("--cluster", "create", *(f"{self.host}:{n.port}" for n in self.nodes),
                      "--cluster-replicas", str(self.replicas), "--cluster-yes")
            self.wait_healthy(timeout or self.ready_timeout_s)
        except BaseException:
            self.stop()
            raise
        waited = time.monotonic() - started
        log.info("%s ready: %d primaries, %d replicas each, after %.1fs", self.label, self.primaries,
                 self.replicas, waited)
        return waited

    def stop(self, timeout: float | None = None) -> None:
        for node in reversed(self.nodes):
            node.stop(timeout)

    def kill(self) -> None:
        for node in self.nodes:
            node.kill()

    def restart(self, timeout: float | None = None) -> float:
        """Start again whatever died, on its directory: it rejoins with its identity (as a replica when its
        replica took over meanwhile)."""
        waited = 0.0
        for node in self.nodes:
            if not node.running:
                waited += node.restart(timeout)
                log.info("%s: node %d rejoined", self.label, node.port)
        return waited

    # The cluster's state.

    def view(self) -> list[NodeInfo]:
        return cluster_nodes([n.port for n in self.nodes if n.running] or [self.port], self.host)

    def healthy(self) -> bool:
        """Every running node says cluster_state:ok, sees every slot served and every node of ours, and
        knows which nodes are replicas; every replica has its copy. A replica whose link to its primary
        never came up is refused for a failover (its data is too old), so a cluster is not ready before
        its replicas are in sync and every node has heard so."""
        import redis

        replicas = 0
        seen_replicas = set()
        for node in self.nodes:
            if not node.running:
                return False
            try:
                with redis.Redis(host=self.host, port=node.port, socket_timeout=1, socket_connect_timeout=1) as c:
                    text = _raw(c, "CLUSTER INFO")
                    view = _raw(c, "CLUSTER NODES")
                    replication = c.info("replication")
            except redis.RedisError:
                return False
            fields = dict(line.split(":", 1) for line in text.strip().splitlines() if ":" in line)
            if (fields.get("cluster_state", "").strip() != "ok"
                    or int(fields.get("cluster_slots_ok", 0)) != SLOTS
                    or int(fields.get("cluster_known_nodes", 0)) != len(self.nodes)):
                return False
            if replication.get("role") == "slave":
                if replication.get("master_link_status") != "up":
                    return False
                replicas += 1
            seen_replicas.add(sum("slave" in line.split()[2].split(",") for line in view.strip().splitlines()))
        return seen_replicas == {replicas}

    def wait_healthy(self, timeout: float = 30.0) -> float:
        started = time.monotonic()
        deadline = started + timeout
        while not self.healthy():
            if time.monotonic() > deadline:
                raise RedisError(f"{self.label} not healthy after {timeout:.0f}s; see {self.dir}/node-*/")
            time.sleep(0.05)
        return time.monotonic() - started

    def primary_of(self, replica_port: int) -> int | None:
        nodes = self.view()
        me = next((n for n in nodes if n.port == replica_port), None)
        owner = next((n for n in nodes if me is not None and n.id == me.primary_id), None)
        return owner.port if owner else None

    # Resharding, live.

    def add_node(self, *, replica: bool = True, timeout: float | None = None) -> list[int]:
        """A new primary (and, with `replica`, its replica) joins, then slots move to it until the
        primaries hold equal shares. Returns the new nodes' ports."""
        port = max(n.port for n in self.nodes) + 1
        added = [self._node(port)] + ([self._node(port + 1)] if replica else [])
        log_dir = self.nodes[0].log_path.parent if self.nodes[0].log_path else None
        for node in added:
            (node.dir / "nodes.conf").unlink(missing_ok=True)
            node.start_ready(log_dir / f"redis-{node.port}.log" if log_dir else None, timeout)
        seed = f"{self.host}:{self._seed_port()}"
        log.info("%s: adding primary %d", self.label, added[0].port)
        self._cli("--cluster", "add-node", f"{self.host}:{added[0].port}", seed)
        self.nodes.append(added[0])
        self.wait_healthy(timeout or self.ready_timeout_s)
        if replica:
            primary_id = self._node_id(added[0].port)
            log.info("%s: adding replica %d of %d", self.label, added[1].port, added[0].port)
            self._cli("--cluster", "add-node", f"{self.host}:{added[1].port}", seed, "--cluster-slave",
                      "--cluster-master-id", primary_id)
            self.nodes.append(added[1])
            self.wait_healthy(timeout or self.ready_timeout_s)
        log.info("%s: moving slots to %d", self.label, added[0].port)
        self._cli("--cluster", "rebalance", seed, "--cluster-use-empty-masters")
        self.wait_healthy(timeout or self.ready_timeout_s)
        log.info("%s: %d primaries after adding %d", self.label, self._primaries(), added[0].port)
        return [n.port for n in added]

    def remove_node(self, port: int | None = None, *, timeout: float | None = None) -> list[int]:
        """Move every slot off primary `port` (default: the newest primary), then take it and its
        replicas out of the cluster and stop them. Returns the removed ports."""
        view = self.view()
        primaries = [n for n in view if n.role == "primary"]
        if port is None:
            port = max(n.port for n in primaries)
        target = next((n for n in primaries if n.port == port), None)
        if target is None:
            raise RedisError(f"{self.label}: no primary on port {port}; primaries: "
                             f"{', '.join(str(n.port) for n in primaries)}")
        if len(primaries) <= 3:
            raise RedisError(f"{self.label}: a cluster keeps at least 3 primaries; add one before removing {port}")
        seed = f"{self.host}:{next(n.port for n in primaries if n.port != port)}"
        log.info("%s: moving %d slots off %d", self.label, target.slots, port)
        self._cli("--cluster", "rebalance", seed, "--cluster-weight", f"{target.id}=0")
        removed = [n for n in view if n.primary_id == target.id] + [target]
        for node in removed:
            log.info("%s: removing node %d", self.label, node.port)
            self._cli("--cluster", "del-node", seed, node.id)  # del-node also shuts the node down
            server = self.node(node.port)
            self.nodes.remove(server)
            server.stop(timeout=5)
        self.wait_healthy(timeout or self.ready_timeout_s)
        return [n.port for n in removed]

    def _primaries(self) -> int:
        return sum(1 for n in self.view() if n.role == "primary")

    def _seed_port(self) -> int:
        return next(n.port for n in self.nodes if n.running)

    def _node_id(self, port: int) -> str:
        return next(n.id for n in self.view() if n.port == port)

    def _cli(self, *args: str) -> str:
        argv = [str(redis_binary("redis-cli")), *args]
        # redis-cli by its full path, an argument list of our own ports and node ids, no shell.
        done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)  # nosec B603
        out = done.stdout + done.stderr
        if done.returncode != 0 or "[ERR]" in out:
            lines = [line for line in out.splitlines() if "ERR" in line] or out.strip().splitlines()[-1:] or [""]
            raise RedisError(f"{self.label}: redis-cli {' '.join(args[:2])} failed: {lines[0].strip()[:200]}")
        return out
