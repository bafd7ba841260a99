"""The architecture as data: every component of the seed architecture, its tier, its AWS role,
what plays that role locally in each profile, and the edges between components.

`lakefront up` starts what this says runs in the chosen profile (control.up walks
start_order()); `lakefront diagram` draws it. A component a profile does not run is kept, so the
diagram never hides part of the architecture: "absent" when the profile lacks it by design (its name
then says what plays no part and which profile has it), "planned" when an issue is still to build it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Literal

from lakefront.settings import Profile

Status = Literal["runs", "absent", "planned"]


class Tier(StrEnum):
    edge = "edge"
    web = "web"
    app = "app"
    data = "data"
    analytics = "analytics"


TIER_TITLES: dict[Tier, str] = {
    Tier.edge: "EDGE (public)",
    Tier.web: "WEB TIER (public subnets)",
    Tier.app: "APPLICATION TIER (private subnets)",
    Tier.data: "DATABASE TIER (private subnets)",
    Tier.analytics: "ANALYTICS",
}


@dataclass(frozen=True)
class Implementation:
    """What plays a component's role locally in one profile."""

    name: str
    """What plays the role; for an absent component, what the profile has instead and where the role runs."""
    status: Status = "runs"
    issue: int | None = None
    """The issue that brings a planned component to life."""
    process: bool = False
    """True when `up` starts it through a starter, in start_order(). Settings decide whether the DNS server
    (after the balancers) and the writer endpoint (with the database) run, so they start outside it."""


@dataclass(frozen=True)
class Component:
    id: str
    name: str
    tier: Tier
    aws_role: str
    local: dict[Profile, Implementation]
    instances: str = ""
    """'N' for a group whose size comes from settings (lakefront.diagram.instance_counts); empty for a
    single component."""
    unit: str = "instance"
    """What one member of the group is called in the diagram: web instance 1, alb node 1."""

    def impl(self, profile: Profile) -> Implementation:
        return self.local[profile]

    def runs_in(self, profile: Profile) -> bool:
        return self.local[profile].status == "runs"


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    label: str
    kind: Literal["request", "data"] = "request"
    """request: the online path a customer's request takes; data: the analytics flow."""


def _both(name: str, status: Status = "runs", issue: int | None = None,
          process: bool = False) -> dict[Profile, Implementation]:
    impl = Implementation(name, status, issue, process)
    return {Profile.embedded: impl, Profile.services: impl}


COMPONENTS: tuple[Component, ...] = (
    Component("internet", "Internet", Tier.edge, "Internet", _both("browsers, load generators")),
    Component("route53", "Amazon Route 53", Tier.edge, "Route 53 (DNS)",
              {Profile.embedded: Implementation("no DNS server: clients use the balancer's address "
                                                "(dns.enabled runs PowerDNS here too)", "absent"),
               Profile.services: Implementation("PowerDNS: the store's name answers the balancer nodes passing "
                                                "their health check (weighted or failover)")}),
    Component("alb", "Application Load Balancer", Tier.edge, "Application Load Balancer",
              _both("Caddy, public listener, one node per address; a dead node is restarted", process=True),
              instances="N", unit="node"),
    Component("web", "EC2 Auto Scaling group (frontend instances)", Tier.web, "EC2 Auto Scaling group",
              _both("Starlette instances", process=True), instances="N"),
    Component("internal_alb", "Internal load balancer", Tier.app, "internal Application Load Balancer",
              _both("Caddy, internal listener on the same nodes", process=True)),
    Component("app", "Elastic Beanstalk (backend instances)", Tier.app, "Elastic Beanstalk environment",
              _both("FastAPI instances, rolling deploys", process=True), instances="M"),
    Component("cache", "Amazon ElastiCache", Tier.data, "ElastiCache (Redis)",
              {Profile.embedded: Implementation("embedded shared cache (SQLite file)"),
               Profile.services: Implementation("Redis Cluster, 3 primaries + 3 replicas (or one Redis)",
                                                process=True)}),
    Component("database", "Amazon RDS (MySQL) primary", Tier.data, "RDS for MySQL, Multi-AZ primary",
              {Profile.embedded: Implementation("SQLite (WAL)"),
               Profile.services: Implementation("MariaDB primary", process=True)}),
    Component("standby", "RDS standby / read replica", Tier.data, "Multi-AZ standby + read replica",
              {Profile.embedded: Implementation("none: one SQLite file, no failover; --profile services runs "
                                                "a MariaDB standby", "absent"),
               Profile.services: Implementation("MariaDB standby (GTID, semi-sync AFTER_SYNC, failover monitor)",
                                                process=True)}),
    Component("object_store", "Amazon S3 (storage)", Tier.data, "S3 buckets",
              {Profile.embedded: Implementation("local directory under var/"),
               Profile.services: Implementation("SeaweedFS S3", process=True)}),
    Component("nlb", "Network Load Balancer (writer endpoint)", Tier.data,
              "Network Load Balancer (the RDS writer endpoint role)",
              {Profile.embedded: Implementation("none: one SQLite file, opened by each app instance", "absent"),
               Profile.services: Implementation("HAProxy TCP endpoint for SQL clients, follows failover")}),
    Component("extract", "SQL extraction", Tier.analytics, "extract job (SQL -> S3)",
              _both("lakefront extract -> raw_<table> Iceberg tables in lake/raw, scheduled by up")),
    Component("emr", "Amazon EMR (Spark)", Tier.analytics, "EMR (Spark)",
              {Profile.embedded: Implementation("DuckDB (lakefront process)"),
               Profile.services: Implementation("Spark: local[*], or a standalone master + workers "
                                                "(process.spark_cluster)", process=True)}),
    Component("quicksight", "Amazon QuickSight (dashboards)", Tier.analytics, "QuickSight",
              _both("dashboards as code at /dashboards (web tier; analytics API over the marts)")),
)

AWS_DEPLOYMENT: dict[str, str] = {
    "internet": "browsers, load generators",
    "route53": "Route 53 alias record + ACM certificate",
    "alb": "internet-facing ALB: HTTPS (TLS 1.3), HTTP redirected",
    "web": "EC2 Auto Scaling group (launch template, lakefront serve web)",
    "internal_alb": "the Beanstalk environment's internal ALB",
    "app": "Elastic Beanstalk, Python platform (Procfile: lakefront serve app)",
    "cache": "ElastiCache Redis, Multi-AZ, TLS + AUTH",
    "nlb": "the RDS endpoint: a DNS name that follows a Multi-AZ failover",
    "database": "RDS MySQL, Multi-AZ primary",
    "standby": "RDS Multi-AZ standby + a read replica (the reader)",
    "object_store": "S3 buckets: images, lake, backups, logs",
    "extract": "EMR Serverless job (lakefront extract), scheduled through Step Functions",
    "emr": "EMR Serverless Spark (lakefront process --engine spark)",
    "quicksight": "QuickSight datasets over Athena and Glue tables on the marts",
}
"""What plays each role in the aws profile: the CDK app in lakefront.deploy.aws deploys it; nothing runs here."""

COMPONENTS = tuple(replace(c, local=c.local | {Profile.aws: Implementation(AWS_DEPLOYMENT[c.id])})
                   for c in COMPONENTS)

EDGES: tuple[Edge, ...] = (
    Edge("internet", "route53", "DNS lookup"),
    Edge("route53", "alb", "alias record"),
    Edge("alb", "web", "HTTP, health-checked"),
    Edge("web", "internal_alb", "HTTP/JSON"),
    Edge("internal_alb", "app", "HTTP, health-checked"),
    Edge("app", "cache", "cache-aside reads"),
    Edge("app", "database", "SQL (writer, reader)"),
    Edge("nlb", "database", "TCP to the writer"),
    Edge("database", "standby", "replication", "data"),
    Edge("database", "object_store", "backups, binlogs", "data"),
    Edge("app", "object_store", "product images"),
    Edge("standby", "extract", "SQL extraction", "data"),
    Edge("extract", "object_store", "lake/raw", "data"),
    Edge("object_store", "emr", "raw extracts", "data"),
    Edge("emr", "object_store", "lake/marts", "data"),
    Edge("object_store", "quicksight", "marts", "data"),
)


def component(component_id: str) -> Component:
    for comp in COMPONENTS:
        if comp.id == component_id:
            return comp
    raise KeyError(component_id)


def running(profile: Profile) -> list[Component]:
    return [c for c in COMPONENTS if c.runs_in(profile)]


def start_order(profile: Profile) -> list[Component]:
    """Components with processes that run in `profile`, each after everything it sends requests to.

    Dependencies first: the app tier before the internal balancer that fronts it, the web tier
    after that, the public balancer last, so no listener ever opens onto nothing.
    """
    request_edges = [e for e in EDGES if e.kind == "request"]
    order: list[str] = []
    seen: set[str] = set()

    def visit(cid: str, stack: tuple[str, ...] = ()) -> None:
        if cid in stack:
            raise ValueError(f"cycle in topology: {' -> '.join((*stack, cid))}")
        if cid in seen:
            return
        for edge in request_edges:
            if edge.source == cid:
                visit(edge.target, (*stack, cid))
        seen.add(cid)
        order.append(cid)

    for comp in COMPONENTS:
        visit(comp.id)
    chosen = [component(cid) for cid in order]
    return [c for c in chosen if c.runs_in(profile) and c.impl(profile).process]


def neighbours(component_id: str, kinds: Iterable[str] = ("request", "data")) -> list[Edge]:
    return [e for e in EDGES if e.source == component_id and e.kind in kinds]


def _request_cycle(edges: Iterable[Edge]) -> list[str]:
    """The first cycle along request edges, as a path of ids, or [] when there is none.

    Data edges may loop (analytics reads from S3 and writes back to it); a request loop would
    leave start_order() no valid order, so only request edges count.
    """
    succ: dict[str, list[str]] = {}
    for edge in edges:
        if edge.kind == "request":
            succ.setdefault(edge.source, []).append(edge.target)
    done: set[str] = set()

    def visit(cid: str, stack: tuple[str, ...]) -> list[str]:
        if cid in stack:
            return [*stack[stack.index(cid):], cid]
        if cid in done:
            return []
        for target in succ.get(cid, []):
            found = visit(target, (*stack, cid))
            if found:
                return found
        done.add(cid)
        return []

    for source in list(succ):
        found = visit(source, ())
        if found:
            return found
    return []


def validate(components: Iterable[Component] = COMPONENTS, edges: Iterable[Edge] = EDGES) -> list[str]:
    """Every edge joins known components; every component appears in every profile; a planned
    implementation names the issue that brings it; request edges have no cycle."""
    components, edges = tuple(components), tuple(edges)
    ids = {c.id for c in components}
    problems = [f"edge {e.source}->{e.target} names an unknown component"
                for e in edges if e.source not in ids or e.target not in ids]
    problems += [f"component {c.id} lacks profile {p}" for c in components for p in Profile if p not in c.local]
    problems += [f"component {c.id} is planned in profile {p} without an issue number"
                 for c in components for p, impl in c.local.items()
                 if impl.status == "planned" and impl.issue is None]
    if len(ids) != len(components):
        problems.append("duplicate component ids")
    cycle = _request_cycle(edges)
    if cycle:
        problems.append(f"cycle in request edges: {' -> '.join(cycle)}")
    return problems
