"""The diagram as plain text, in the manner of the seed's box diagrams, at most 100 columns wide."""

from __future__ import annotations

import textwrap

from lakefront.diagram.layout import Layout, Link, Node, marker
from lakefront.topology import TIER_TITLES

WIDTH = 100
BOX_MAX = 56
"""Widest box for a single component: wide enough for every local name on two lines, narrow
enough that the flow still reads as a column down the middle."""


def centers(count: int) -> list[int]:
    """Centre column of each of `count` boxes side by side; odd counts keep one box in the middle,
    so a single box below lines up with the middle one above."""
    return [round(WIDTH * (2 * i + 1) / (2 * count)) for i in range(count)]


def box_width(node: Node, count: int) -> int:
    column = WIDTH // count
    return column - 2 if node.instances else min(column - 2, BOX_MAX)


def box_content(layout: Layout, node: Node, width: int) -> list[str]:
    """The lines inside a box: the AWS role, [what plays it locally], and the not-running marker."""
    inner = width - 4
    lines: list[str] = []
    for text in (node.title, layout.local(node), marker(layout.impl(node))):
        lines += textwrap.wrap(text, inner)
    lines = [line.center(inner) for line in lines]
    if node.instances:
        lines += _instance_grid(layout.members(node), inner, layout.not_running(node))
    return lines


def _instance_grid(titles: list[str], inner: int, dotted: bool) -> list[str]:
    width = max(len(title) for title in titles) + 4
    per_line = max(1, (inner + 2) // (width + 2))
    grid: list[str] = []
    for start in range(0, len(titles), per_line):
        boxes = [_frame([title.center(width - 4)], width, dotted) for title in titles[start:start + per_line]]
        grid += ["  ".join(parts) for parts in zip(*boxes, strict=True)]
    span = max(len(line) for line in grid)
    # Pad every grid line to the same length first, so centring keeps the boxes in columns.
    return [line.ljust(span).center(inner) for line in grid]


def _frame(lines: list[str], width: int, dotted: bool, top_mark: bool = False,
           bottom_mark: bool = False) -> list[str]:
    horizontal, vertical = (".", ":") if dotted else ("-", "|")
    top = list("+" + horizontal * (width - 2) + "+")
    bottom = top.copy()
    if top_mark:
        top[width // 2] = "v"
    if bottom_mark:
        bottom[width // 2] = "+"
    body = [f"{vertical} {line.ljust(width - 4)} {vertical}" for line in lines]
    return ["".join(top), *body, "".join(bottom)]


def _band(title: str) -> str:
    return f" {title} ".center(WIDTH, "=")


def _blank() -> list[str]:
    return [" "] * WIDTH


def _put(line: list[str], x: int, text: str) -> None:
    for offset, char in enumerate(text):
        if 0 <= x + offset < WIDTH:
            line[x + offset] = char


def _pipe(links: list[Link]) -> str:
    """Request links draw as '|', the analytics data flow as ':'."""
    return ":" if all(link.kind == "data" for link in links) else "|"


def _connector(links: list[Link], upper: dict[str, int], lower: dict[str, int],
               band: str | None) -> list[list[str]]:
    """Lines from the boxes of one row down to the boxes of the next, labelled, through a band."""
    from_x: dict[int, list[Link]] = {}
    to_x: dict[int, list[Link]] = {}
    for link in links:
        from_x.setdefault(upper[link.source], []).append(link)
        to_x.setdefault(lower[link.target], []).append(link)
    lines: list[list[str]] = []
    stub = _blank()
    for x, out in from_x.items():
        _put(stub, x, _pipe(out))
    lines.append(stub)
    everywhere = sorted(set(from_x) | set(to_x))
    if len(everywhere) > 1:
        bus = _blank()
        _put(bus, everywhere[0], "-" * (everywhere[-1] - everywhere[0]))
        for x in everywhere:
            _put(bus, x, "+")
        lines.append(bus)
    labelled = _blank()
    targets = sorted(to_x)
    for index, x in enumerate(targets):
        limit = (targets[index + 1] - 1 if index + 1 < len(targets) else WIDTH) - (x + 2)
        label = ", ".join(dict.fromkeys(link.label for link in to_x[x]))
        if len(label) > limit:
            label = label[:max(limit - 2, 0)] + ".."
        _put(labelled, x, _pipe(to_x[x]))
        _put(labelled, x + 2, label)
    lines.append(labelled)
    if band is not None:
        lines.append(list(band))
        through = _blank()
        for x in targets:
            _put(through, x, _pipe(to_x[x]))
        lines.append(through)
    return lines


def render_text(layout: Layout) -> str:
    """The whole diagram: tier bands, boxes, labelled arrows, other links, and a legend."""
    positions: list[dict[str, int]] = [
        dict(zip((node.key for node in row), centers(len(row)), strict=True)) for row in layout.rows
    ]
    row_of = {node.key: index for index, row in enumerate(layout.rows) for node in row}
    between: dict[int, list[Link]] = {}
    elsewhere: list[Link] = []
    for link in layout.links:
        upper = row_of[link.source]
        if row_of[link.target] == upper + 1:
            between.setdefault(upper, []).append(link)
        else:
            elsewhere.append(link)
    sends = {link.source for links in between.values() for link in links}
    receives = {link.target for links in between.values() for link in links}

    out: list[str] = [f"Lakefront architecture, profile {layout.profile}", ""]
    tier = None
    for index, row in enumerate(layout.rows):
        band = _band(TIER_TITLES[row[0].tier]) if row[0].tier != tier else None
        if index == 0 and band is not None:
            out.append(band)
        elif index > 0:
            links = between.get(index - 1, [])
            if links:
                out += ["".join(line).rstrip() for line in _connector(links, positions[index - 1],
                                                                      positions[index], band)]
            else:
                out += [""] + ([band] if band else [])
        tier = row[0].tier
        out += _row_lines(layout, row, positions[index], sends, receives)
    by_key = {node.key: node for node in layout.nodes()}
    for link in elsewhere:
        text = f"also: {by_key[link.source].title} -> {by_key[link.target].title}: {link.label}"
        out += textwrap.wrap(text, WIDTH, subsequent_indent="      ")
    out += ["", *textwrap.wrap(_legend(layout), WIDTH, subsequent_indent="        ")]
    return "\n".join(out) + "\n"


def _row_lines(layout: Layout, row: tuple[Node, ...], positions: dict[str, int], sends: set[str],
               receives: set[str]) -> list[str]:
    widths = {node.key: box_width(node, len(row)) for node in row}
    contents = {node.key: box_content(layout, node, widths[node.key]) for node in row}
    height = max(len(lines) for lines in contents.values())
    canvas = [_blank() for _ in range(height + 2)]
    for node in row:
        width = widths[node.key]
        lines = contents[node.key] + [""] * (height - len(contents[node.key]))
        block = _frame(lines, width, layout.not_running(node), node.key in receives, node.key in sends)
        for line, text in zip(canvas, block, strict=True):
            _put(line, positions[node.key] - width // 2, text)
    return ["".join(line).rstrip() for line in canvas]


def _legend(layout: Layout) -> str:
    groups = ", ".join(f"{node.component.id} x {node.instances}" for node in layout.nodes() if node.instances)
    sized = f"; instance groups sized by settings ({groups})" if groups else ""
    return (f"Legend: box = AWS role [what plays it locally in profile {layout.profile}]; dotted box "
            f"'(not in this profile)' = the role has no part here, the box says what plays none; "
            f"| request path, : data flow{sized}.")
