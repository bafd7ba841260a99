"""The run's report: report.md with three SVG charts beside it (latency, throughput, errors over time,
each fault drawn as a marked vertical line), tables per interaction and per fault, and the order account.
Markdown and SVG so that a report committed to the repository (docs/load-example/) renders as it is.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from lakefront.load.account import OrderAccount
from lakefront.load.plan import LoadPlan
from lakefront.load.stats import Figures

W, H, PAD_L, PAD_R, PAD_T, PAD_B = 900, 260, 60, 20, 30, 40
COLOURS = ("#2563eb", "#dc2626", "#16a34a", "#9333ea")


def _fmt(value: float, digits: int = 1) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:,.{digits}f}"


def svg_chart(title: str, unit: str, series: dict[str, Sequence[tuple[float, float]]], duration_s: float,
              faults: list[dict[str, Any]]) -> str:
    """A line chart of `series` (name -> (t, value) points) over 0..duration_s, faults as vertical lines."""
    values = [v for points in series.values() for _, v in points if not math.isnan(v)]
    top = max(values, default=1.0) * 1.1 or 1.0
    span = max(duration_s, 1.0)

    def x(t: float) -> float:
        return PAD_L + (W - PAD_L - PAD_R) * t / span

    def y(v: float) -> float:
        return H - PAD_B - (H - PAD_T - PAD_B) * v / top

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
             'font-family="sans-serif" font-size="11">',
             f'<rect width="{W}" height="{H}" fill="white"/>',
             f'<text x="{PAD_L}" y="18" font-size="13" font-weight="bold">{escape(title)}</text>',
             f'<line x1="{PAD_L}" y1="{H - PAD_B}" x2="{W - PAD_R}" y2="{H - PAD_B}" stroke="#444"/>',
             f'<line x1="{PAD_L}" y1="{PAD_T}" x2="{PAD_L}" y2="{H - PAD_B}" stroke="#444"/>']
    for i in range(5):
        v = top * i / 4
        parts.append(f'<line x1="{PAD_L}" y1="{y(v):.1f}" x2="{W - PAD_R}" y2="{y(v):.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{PAD_L - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:,.0f}</text>')
    for i in range(7):
        t = span * i / 6
        parts.append(f'<text x="{x(t):.1f}" y="{H - PAD_B + 16}" text-anchor="middle">{t:.0f}s</text>')
    parts.append(f'<text x="{W - PAD_R}" y="{H - 8}" text-anchor="end">{escape(unit)}</text>')
    for fault in faults:
        fx = x(fault["at_s"])
        parts.append(f'<line x1="{fx:.1f}" y1="{PAD_T}" x2="{fx:.1f}" y2="{H - PAD_B}" stroke="#f59e0b" '
                     'stroke-width="2" stroke-dasharray="4 3"/>')
        parts.append(f'<text x="{fx + 3:.1f}" y="{PAD_T + 10}" fill="#b45309">{escape(fault["target"])}</text>')
    for points, colour in zip(series.values(), COLOURS, strict=False):
        coords = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in points if not math.isnan(v))
        if coords:
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{coords}"/>')
    for i, (name, colour) in enumerate(zip(series, COLOURS, strict=False)):
        lx = W - PAD_R - 110 * (len(series) - i)
        parts.append(f'<rect x="{lx}" y="8" width="12" height="3" fill="{colour}"/>'
                     f'<text x="{lx + 16}" y="13">{escape(name)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def fault_windows(figures: Figures, faults: list[dict[str, Any]], attempts: list[dict[str, Any]],
                  duration_s: float) -> list[dict[str, Any]]:
    """Each injected fault with the failed requests and unknown checkouts from it to the next fault."""
    injected = [f for f in faults if not f.get("skipped")]
    rows = []
    for i, fault in enumerate(injected):
        until = injected[i + 1]["at_s"] if i + 1 < len(injected) else duration_s + 60
        window = figures.window(fault["at_s"], until)
        unknown = sum(1 for a in attempts if a["outcome"] == "unknown"
                      and fault["at_s"] <= a["t"] - figures.started < until)
        rows.append(fault | {"until_s": until, "requests": len(window),
                             "failed": sum(not s.ok for s in window), "unknown_orders": unknown})
    return rows


def write(out_dir: Path, plan: LoadPlan, figures: Figures, faults: list[dict[str, Any]],
          attempts: list[dict[str, Any]], orders: OrderAccount | None, *, profile: str) -> Path:
    rows = figures.per_second(1.0 if plan.duration_s <= 120 else 5.0)
    duration = max(plan.duration_s, figures.elapsed)
    charts = {
        "latency.svg": svg_chart("Latency (ms): p50 and p99 per second", "ms",
                                 {"p50": [(r["t"], r["p50"]) for r in rows],
                                  "p99": [(r["t"], r["p99"]) for r in rows]}, duration, faults),
        "throughput.svg": svg_chart("Throughput (requests/s)", "req/s",
                                    {"requests/s": [(r["t"], r["rps"]) for r in rows]}, duration, faults),
        "errors.svg": svg_chart("Errors (failed requests/s)", "errors/s",
                                {"errors/s": [(r["t"], r["eps"]) for r in rows]}, duration, faults),
    }
    for name, svg in charts.items():
        (out_dir / name).write_text(svg)
    total = figures.summary()
    windows = fault_windows(figures, faults, attempts, duration)
    loop = (f"open loop, {plan.rate:g} interactions/s (Poisson), at most {plan.users} in flight"
            if plan.mode == "open" else f"closed loop, {plan.users} shoppers, think time {plan.think_s:g} s (mean)")
    lines = [
        f"# Load run {plan.run_id}", "",
        f"- target: {plan.url} (profile {profile}), mix **{plan.mix}**, {loop}, {plan.duration_s:g} s",
        f"- {total['requests']:,} requests, {total['rps']:.1f} req/s, {total['errors']:,} failed "
        f"({100 * total['errors'] / max(1, total['requests']):.2f} %); latency p50 {_fmt(total['p50'])} ms, "
        f"p90 {_fmt(total['p90'])} ms, p99 {_fmt(total['p99'])} ms"
        + (" (from each arrival's intended start)" if plan.mode == "open" else ""),
    ]
    if orders is not None:
        lines.append(f"- orders: **{orders.verdict}**: {orders.acknowledged} acknowledged, {orders.kept} kept, "
                     f"{len(orders.lost)} lost, {len(orders.duplicates)} duplicates, "
                     f"{len(orders.refused_but_placed)} refused but placed; {orders.refused} refused, "
                     f"{orders.unknown} unknown to the shopper ({orders.unknown_placed} placed, "
                     f"{orders.unknown_not_placed} not placed)")
    lines += ["", "![latency](latency.svg)", "", "![throughput](throughput.svg)", "", "![errors](errors.svg)", "",
              "## Per interaction", "",
              "| interaction | requests | req/s | p50 ms | p90 ms | p99 ms | max ms | failed |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, s in figures.by_interaction().items():
        lines.append(f"| {name} | {s['requests']:,} | {s['rps']:.1f} | {_fmt(s['p50'])} | {_fmt(s['p90'])} | "
                     f"{_fmt(s['p99'])} | {_fmt(s['max'], 0)} | {s['errors']} |")
    if faults:
        lines += ["", "## Faults", "", "| at | target | what | requests until the next | failed | unknown orders |",
                  "|---:|---|---|---:|---:|---:|"]
        fault_rows = [(w["at_s"], f"| {w['at_s']:.1f} s | {w['target']} | {w['detail']} | {w['requests']:,} | "
                                  f"{w['failed']} | {w['unknown_orders']} |") for w in windows]
        fault_rows += [(f["at_s"], f"| {f['at_s']:.1f} s | {f['target']} | skipped: {f['detail']} | | | |")
                       for f in faults if f.get("skipped")]
        lines += [row for _, row in sorted(fault_rows)]
        before = figures.window(0, windows[0]["at_s"]) if windows else []
        lines += ["", f"Before the first fault: {len(before):,} requests, {sum(not s.ok for s in before)} failed."]
    errors = figures.errors_by_kind()
    if errors:
        lines += ["", "## Failed requests", "", "| interaction: status or error | count |", "|---|---:|"]
        lines += [f"| {escape(kind)} | {count} |" for kind, count in list(errors.items())[:20]]
    if orders is not None:
        lines += ["", "## Order account (against the database)", ""]
        if orders.database_error:
            lines.append(f"The database could not be read: {orders.database_error}")
        for label, items in (("Lost", orders.lost), ("Duplicates", orders.duplicates),
                             ("Refused but placed", orders.refused_but_placed)):
            lines.append(f"- {label}: {len(items)}" + (": " + "; ".join(items[:20]) if items else ""))
    (out_dir / "summary.json").write_text(json.dumps({
        "plan": plan.__dict__, "total": total, "interactions": figures.by_interaction(), "faults": windows,
        "orders": orders.as_dict() if orders else None}, indent=2, default=str))
    path = out_dir / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path
