"""Turns the topology into rows of boxes, top to bottom, shared by the text and SVG renderers.

Rows follow the tiers in order; inside a tier, a component sits one row below everything in
the same tier that sends to it, unless the tier above sends to it: then it is in the tier's first
row, which is kept for such boxes (one nothing sends to goes to the second). A flow back to an
earlier tier (EMR writing marts to S3) would point upwards and cross everything in between, so it
becomes a second box for the target in the source's tier ("Amazon S3 (storage) lake/marts"): the
analytics flow then reads straight
down, as in the seed's diagrams.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from lakefront.settings import Profile
from lakefront.topology import COMPONENTS, EDGES, Component, Edge, Implementation, Tier

TIER_ORDER: dict[Tier, int] = {tier: index for index, tier in enumerate(Tier)}


@dataclass(frozen=True)
class Node:
    """One box: a component, or a second appearance of one (a reference) in a later tier."""

    key: str
    component: Component
    tier: Tier
    qualifier: str = ""
    """For a reference: the label of the edge that created it, naming the part meant (lake/raw)."""
    instances: int = 0
    """For an instance group: how many instance boxes to draw inside it."""
    bounds: tuple[int, int] | None = None
    """For an Auto Scaling group: the fewest and most instances it scales between."""

    @property
    def is_reference(self) -> bool:
        return self.key != self.component.id

    @property
    def title(self) -> str:
        return f"{self.component.name} {self.qualifier}".strip()


@dataclass(frozen=True)
class Link:
    source: str
    target: str
    label: str
    kind: str


@dataclass(frozen=True)
class Layout:
    profile: Profile
    rows: tuple[tuple[Node, ...], ...]
    links: tuple[Link, ...]

    def nodes(self) -> list[Node]:
        return [node for row in self.rows for node in row]

    def row_of(self, key: str) -> int:
        for index, row in enumerate(self.rows):
            if any(node.key == key for node in row):
                return index
        raise KeyError(key)

    def impl(self, node: Node) -> Implementation:
        return node.component.impl(self.profile)

    def not_running(self, node: Node) -> bool:
        """Drawn dotted: the component is absent from this profile, or planned."""
        return not node.component.runs_in(self.profile)

    def local(self, node: Node) -> str:
        """[what plays the role], with a group's size and, for an Auto Scaling group, its bounds."""
        text = f"[{self.impl(node).name}]"
        if node.instances:
            text += f" x {node.instances}"
        if node.bounds:
            text += f", scales {node.bounds[0]}..{node.bounds[1]}"
        return text

    @staticmethod
    def members(node: Node) -> list[str]:
        """The titles of a group's member boxes: web instance 1, alb node 1, ..."""
        return [f"{node.component.id} {node.component.unit} {i}" for i in range(1, node.instances + 1)]


def marker(impl: Implementation) -> str:
    """How a box says its component does not run in this profile."""
    if impl.status == "runs":
        return ""
    if impl.status == "absent":
        return "(not in this profile)"
    return f"(planned, issue #{impl.issue})" if impl.issue is not None else "(planned)"


def build_layout(
    profile: Profile,
    instances: Mapping[str, int],
    components: Iterable[Component] = COMPONENTS,
    edges: Iterable[Edge] = EDGES,
    bounds: Mapping[str, tuple[int, int]] | None = None,
) -> Layout:
    """Rows of nodes for `profile`; `instances` gives the size of each group by component id, `bounds`
    each Auto Scaling group's (min, max)."""
    by_id = {comp.id: comp for comp in components}
    bounds = bounds or {}
    nodes: dict[str, Node] = {
        comp.id: Node(comp.id, comp, comp.tier, instances=instances.get(comp.id, 1) if comp.instances else 0,
                      bounds=bounds.get(comp.id) if comp.instances else None)
        for comp in by_id.values()
    }
    # EDGES lists the analytics flow in order, so an edge leaving a component that already has a
    # reference in the target's tier leaves from the latest one (S3 lake/raw -> EMR).
    latest_ref: dict[tuple[str, Tier], str] = {}
    links: list[Link] = []
    for edge in edges:
        source, target = by_id[edge.source], by_id[edge.target]
        source_key = latest_ref.get((source.id, target.tier), source.id)
        target_key = target.id
        if TIER_ORDER[target.tier] < TIER_ORDER[source.tier]:
            target_key = f"{target.id}~{len(nodes)}"
            nodes[target_key] = Node(target_key, target, source.tier, qualifier=edge.label)
            latest_ref[(target.id, source.tier)] = target_key
        links.append(Link(source_key, target_key, edge.label, edge.kind))

    # A box the tier above sends to sits in its tier's first row, so that arrow is drawn straight down.
    entered = {link.target for link in links if nodes[link.source].tier != nodes[link.target].tier}
    rows: list[tuple[Node, ...]] = []
    for tier in Tier:
        in_tier = [node for node in nodes.values() if node.tier == tier]
        ranks = _ranks([node.key for node in in_tier], [link for link in links if link.target not in entered])
        if entered & set(ranks):
            # The first row is kept for what the tier above reaches; a box nothing sends to (the writer
            # endpoint, for clients outside the picture) goes below it.
            targets = {link.target for link in links}
            ranks |= {key: max(rank, 1) for key, rank in ranks.items() if key not in targets}
        for rank in sorted(set(ranks.values())):
            rows.append(tuple(node for node in in_tier if ranks[node.key] == rank))
    return Layout(profile, tuple(rows), tuple(links))


def _ranks(keys: list[str], links: Iterable[Link]) -> dict[str, int]:
    """Longest-path rank of each key over the links among them.

    Links that close a cycle are left out of the ranking, so a loop inside a tier still draws.
    """
    succ: dict[str, list[str]] = {key: [] for key in keys}
    for link in links:
        if link.source in succ and link.target in succ:
            succ[link.source].append(link.target)
    state: dict[str, int] = {}
    postorder: list[str] = []
    acyclic: dict[str, list[str]] = {key: [] for key in keys}

    def visit(key: str) -> None:
        state[key] = 1
        for target in succ[key]:
            if state.get(target) == 1:
                continue
            acyclic[key].append(target)
            if target not in state:
                visit(target)
        state[key] = 2
        postorder.append(key)

    for key in keys:
        if key not in state:
            visit(key)
    rank = dict.fromkeys(keys, 0)
    for key in reversed(postorder):
        for target in acyclic[key]:
            rank[target] = max(rank[target], rank[key] + 1)
    return rank
