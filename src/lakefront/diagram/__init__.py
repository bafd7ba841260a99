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
    """Size of each instance group, from the tier settings that size it (settings.web, settings.app)."""
    tiers = {Tier.web: settings.web, Tier.app: settings.app}
    return {c.id: tiers[c.tier].instances for c in COMPONENTS if c.instances and c.tier in tiers}


def render(fmt: str, profile: Profile, instances: dict[str, int]) -> str:
    """The diagram of `profile` in format `fmt` (one of FORMATS); raises KeyError for another."""
    return FORMATS[fmt](build_layout(profile, instances))


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
]
