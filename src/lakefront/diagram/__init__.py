"""Renders the architecture from topology data: plain text (like the seed's box diagrams),
Mermaid, and a self-contained SVG. Nothing here lists components: add one to
topology.COMPONENTS and it appears in every format."""

from __future__ import annotations

from collections.abc import Callable

from lakefront.diagram.layout import Layout, Link, Node, build_layout, marker
from lakefront.diagram.mermaid import render_mermaid
from lakefront.diagram.svg import render_svg
from lakefront.diagram.text import WIDTH, render_text
from lakefront.settings import Profile, Settings
from lakefront.topology import COMPONENTS, Tier

FORMATS: dict[str, Callable[[Layout], str]] = {
    "text": render_text,
    "mermaid": render_mermaid,
    "svg": render_svg,
}


def instance_counts(settings: Settings) -> dict[str, int]:
    """Size of each group at start: the tier settings size the instance groups (web.instances,
    app.instances), the balancer's addresses its nodes (lb.host and lb.extra_hosts)."""
    tiers = {Tier.web: settings.web, Tier.app: settings.app}
    counts = {c.id: tiers[c.tier].instances for c in COMPONENTS if c.instances and c.tier in tiers}
    return counts | {c.id: len(settings.lb.nodes) for c in COMPONENTS if c.instances and c.tier is Tier.edge}


def scaling_bounds(settings: Settings) -> dict[str, tuple[int, int]]:
    """Each Auto Scaling group's (min, max) instances: <tier>.scaling.min_instances and max_instances."""
    tiers = {Tier.web: settings.web, Tier.app: settings.app}
    return {c.id: (tiers[c.tier].min_instances, tiers[c.tier].max_instances)
            for c in COMPONENTS if c.instances and c.tier in tiers}


def render(fmt: str, profile: Profile, instances: dict[str, int],
           bounds: dict[str, tuple[int, int]] | None = None) -> str:
    """The diagram of `profile` in format `fmt` (one of FORMATS); raises KeyError for another."""
    return FORMATS[fmt](build_layout(profile, instances, bounds=bounds))


__all__ = [
    "FORMATS",
    "WIDTH",
    "Layout",
    "Link",
    "Node",
    "build_layout",
    "instance_counts",
    "marker",
    "render",
    "render_mermaid",
    "render_svg",
    "render_text",
    "scaling_bounds",
]
