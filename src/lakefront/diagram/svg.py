"""The diagram as a self-contained SVG, drawn from the same rows as the text diagram.

No external tools and no fonts or stylesheets fetched from anywhere: the file opens as it is.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

# Escaping our own output; nothing is parsed.
from xml.sax.saxutils import escape, quoteattr  # nosec B406

from lakefront.diagram.layout import Layout, Node, marker
from lakefront.topology import TIER_TITLES, Tier

WIDTH = 1000
LINE = 16
PAD = 10
ROW_GAP = 64
"""Room between rows for the elbow of an arrow and its label."""
BAND_HEAD = 30
CHAR = 7.0
"""Approximate advance of one character at the font size used, to wrap text inside boxes."""
INSTANCE_W, INSTANCE_H, INSTANCE_GAP = 120, 28, 10


@dataclass(frozen=True)
class _Box:
    node: Node
    x: float
    y: float
    w: float
    h: float
    lines: tuple[str, ...]

    @property
    def cx(self) -> float:
        return self.x + self.w / 2


def _lines(layout: Layout, node: Node, width: float) -> list[str]:
    chars = max(int((width - 2 * PAD) / CHAR), 10)
    out: list[str] = []
    for text in (node.title, layout.local(node), marker(layout.impl(node))):
        out += textwrap.wrap(text, chars)
    return out


def _grid(width: float, count: int) -> tuple[int, int]:
    per_line = max(1, int((width - 2 * PAD + INSTANCE_GAP) // (INSTANCE_W + INSTANCE_GAP)))
    return per_line, -(-count // per_line)


def _place(layout: Layout) -> tuple[list[_Box], dict[Tier, tuple[float, float]], float]:
    boxes: list[_Box] = []
    bands: dict[Tier, tuple[float, float]] = {}
    y = 20.0
    tier: Tier | None = None
    for row in layout.rows:
        if row[0].tier != tier:
            if tier is not None:
                y += BAND_HEAD
            tier = row[0].tier
            bands[tier] = (y, y)
            y += BAND_HEAD
        column = WIDTH / len(row)
        sized: list[tuple[Node, float, list[str], float]] = []
        for node in row:
            w = column - 40 if node.instances else min(column - 24, 420)
            lines = _lines(layout, node, w)
            h = 2 * PAD + LINE * len(lines)
            if node.instances:
                h += _grid(w, node.instances)[1] * (INSTANCE_H + INSTANCE_GAP)
            sized.append((node, w, lines, h))
        height = max(h for *_, h in sized)
        for index, (node, w, lines, _) in enumerate(sized):
            cx = column * (index + 0.5)
            boxes.append(_Box(node, cx - w / 2, y, w, height, tuple(lines)))
        y += height
        bands[tier] = (bands[tier][0], y + PAD)
        y += ROW_GAP
    return boxes, bands, y - ROW_GAP + 2 * PAD + BAND_HEAD


def _text(x: float, y: float, text: str, extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="middle"{extra}>{escape(text)}</text>'


def _box_svg(layout: Layout, box: _Box) -> list[str]:
    cls = "box absent" if layout.not_running(box.node) else "box"
    out = [f'<g class={quoteattr(cls)} data-component={quoteattr(box.node.component.id)}>',
           f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{box.w:.1f}" height="{box.h:.1f}" rx="6"/>']
    for index, line in enumerate(box.lines):
        weight = ' font-weight="bold"' if index == 0 else ""
        out.append(_text(box.cx, box.y + PAD + LINE * (index + 1) - 4, line, weight))
    if box.node.instances:
        per_line, _ = _grid(box.w, box.node.instances)
        top = box.y + PAD + LINE * len(box.lines) + INSTANCE_GAP / 2
        for i, title in enumerate(layout.members(box.node)):
            row, col = divmod(i, per_line)
            in_row = min(per_line, box.node.instances - row * per_line)
            left = box.cx - (in_row * INSTANCE_W + (in_row - 1) * INSTANCE_GAP) / 2
            x = left + col * (INSTANCE_W + INSTANCE_GAP)
            y = top + row * (INSTANCE_H + INSTANCE_GAP)
            out.append(f'<rect class="instance" x="{x:.1f}" y="{y:.1f}" width="{INSTANCE_W}" '
                       f'height="{INSTANCE_H}" rx="4"/>')
            out.append(_text(x + INSTANCE_W / 2, y + INSTANCE_H / 2 + 4, title))
    out.append("</g>")
    return out


_STYLE = """
text { font-family: DejaVu Sans, Helvetica, Arial, sans-serif; font-size: 12px; fill: #1d2733; }
.band { fill: #eef3f8; stroke: #b8c7d6; }
.band-title { font-weight: bold; fill: #44607d; }
.box rect { fill: #ffffff; stroke: #2f5d8a; stroke-width: 1.5; }
.box rect.instance { fill: #e6f0fa; }
.absent rect { fill: #f6f6f6; stroke: #8a8a8a; stroke-dasharray: 6 4; }
.absent text { fill: #666666; }
.link { fill: none; stroke: #2f5d8a; stroke-width: 1.4; }
.link.data { stroke: #8a5a2f; stroke-dasharray: 3 3; }
.link-label { font-size: 11px; fill: #44607d; }
"""


def _route(source: _Box, target: _Box) -> tuple[str, float, float]:
    """An orthogonal path from source to target that stays out of boxes, and where its label goes.

    Down to a later row: through the gap just above the target, into its top. Up to an earlier row:
    out of the source's top, into the target's bottom a quarter of the box towards the source (its
    middle is where links down leave). Along a row: out of and into the facing ends of the bottoms.
    """
    if target.y >= source.y + source.h:
        sy, ty = source.y + source.h, target.y
        mid = ty - ROW_GAP / 2
        return f"M{source.cx:.1f},{sy:.1f} V{mid:.1f} H{target.cx:.1f} V{ty:.1f}", target.cx + 6, ty - 8
    towards = 1 if source.cx > target.cx else -1
    ty = target.y + target.h
    if target.y + target.h <= source.y:  # up from a later row: out of the source's top, labelled there
        tx = target.cx + towards * target.w / 4
        path = f"M{source.cx:.1f},{source.y:.1f} V{ty + ROW_GAP / 3:.1f} H{tx:.1f} V{ty:.1f}"
        return path, source.cx + 6, source.y - 8
    # Along the row: between the facing ends of the two boxes' bottoms, under them.
    sx, tx = source.cx - towards * source.w * 3 / 8, target.cx + towards * target.w * 3 / 8
    sy = source.y + source.h
    return f"M{sx:.1f},{sy:.1f} V{max(sy, ty) + ROW_GAP / 5:.1f} H{tx:.1f} V{ty:.1f}", tx + 6, ty + 14


def render_svg(layout: Layout) -> str:
    boxes, bands, height = _place(layout)
    by_key = {box.node.key: box for box in boxes}
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0f}" '
           f'viewBox="0 0 {WIDTH} {height:.0f}">',
           f"<title>Lakefront architecture, profile {escape(str(layout.profile))}</title>",
           f"<style>{_STYLE}</style>",
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
           'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#2f5d8a"/></marker></defs>']
    for tier, (top, bottom) in bands.items():
        out.append(f'<rect class="band" x="6" y="{top:.1f}" width="{WIDTH - 12}" '
                   f'height="{bottom - top:.1f}" rx="8"/>')
        out.append(f'<text class="band-title" x="18" y="{top + 20:.1f}">{escape(TIER_TITLES[tier])}</text>')
    for link in layout.links:
        path, label_x, label_y = _route(by_key[link.source], by_key[link.target])
        cls = "link data" if link.kind == "data" else "link"
        out.append(f'<path class="{cls}" marker-end="url(#arrow)" d="{path}"/>')
        out.append(f'<text class="link-label" x="{label_x:.1f}" y="{label_y:.1f}">{escape(link.label)}</text>')
    for box in boxes:
        out += _box_svg(layout, box)
    legend = (f"Box: AWS role [what plays it locally in profile {layout.profile}]; dashed: not in this profile "
              "(the box says what plays no part); solid arrows: request path; dotted arrows: data flow.")
    out.append(f'<text x="18" y="{height - 12:.1f}">{escape(legend)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
