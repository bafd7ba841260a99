"""The diagram as a Mermaid flowchart: a subgraph per tier, one node per component.

Mermaid draws cycles and back edges itself, so this works from the topology's own components
and edges, not from the text layout's references.
"""

from __future__ import annotations

from lakefront.diagram.layout import Layout, Node, marker
from lakefront.topology import TIER_TITLES, Tier

# Words Mermaid's flowchart grammar reserves; an id equal to one would break the chart.
_RESERVED = {"end", "graph", "subgraph", "flowchart", "style", "class", "classdef", "click", "direction"}


def mermaid_id(key: str) -> str:
    clean = "".join(char if char.isalnum() or char == "_" else "_" for char in key)
    return f"{clean}_" if clean.lower() in _RESERVED else clean


def tier_id(tier: Tier) -> str:
    """Tier subgraphs get their own prefix: tier names (web, app) are also component ids."""
    return f"tier_{tier.value}"


def _label(*parts: str) -> str:
    text = "<br/>".join(part for part in parts if part)
    return '"' + text.replace('"', "#quot;") + '"'


def render_mermaid(layout: Layout) -> str:
    primaries: list[Node] = [node for node in layout.nodes() if not node.is_reference]
    out = ["flowchart TD"]
    absent: list[str] = []
    for tier in Tier:
        members = [node for node in primaries if node.tier == tier]
        if not members:
            continue
        out.append(f"  subgraph {tier_id(tier)}[{_label(TIER_TITLES[tier])}]")
        for node in members:
            impl = layout.impl(node)
            local = layout.local(node)
            node_id = mermaid_id(node.key)
            if layout.not_running(node):
                absent.append(node_id)
            if node.instances:
                # An instance group is a subgraph of its instances, so edges to the group reach them all.
                title = _label(node.component.name, local, marker(impl))
                out.append(f"    subgraph {node_id}[{title}]")
                for index, member in enumerate(layout.members(node), start=1):
                    instance = f"{node_id}_{index}"
                    out.append(f"      {instance}[{_label(member)}]")
                    if layout.not_running(node):
                        absent.append(instance)
                out.append("    end")
            else:
                out.append(f"    {node_id}[{_label(node.title, local, marker(impl))}]")
        out.append("  end")
    for comp_link in _component_links(layout):
        source, target, label, kind = comp_link
        arrow = "-.->" if kind == "data" else "-->"
        out.append(f"  {mermaid_id(source)} {arrow}|{_label(label)}| {mermaid_id(target)}")
    out.append("  classDef absent stroke-dasharray: 5 5,stroke:#888,color:#555,fill:#f6f6f6")
    if absent:
        out.append(f"  class {','.join(absent)} absent")
    return "\n".join(out) + "\n"


def _component_links(layout: Layout) -> list[tuple[str, str, str, str]]:
    """The layout's links with references folded back into the components they stand for."""
    owner = {node.key: node.component.id for node in layout.nodes()}
    return [(owner[link.source], owner[link.target], link.label, link.kind) for link in layout.links]
