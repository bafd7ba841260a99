"""Is the web tier as fast as the app tier behind it? The issue #14 ratios, measured in one run with wrk.

Starts `lakefront up` (embedded profile, 2 web + 2 app instances behind Caddy) on free ports over a
seeded var dir, warms the cache, then drives each target with wrk (16 connections, keep-alive, no
cookies: the visitor wrk plays is anonymous) and prints requests/s, p50/p99 and the ratios:

- cached product page through the public listener / the app tier's JSON for it (internal listener)
- a static asset through the public listener / the public listener's /healthz
- p99 / p50 of the product page at 16 connections

    .venv/bin/python bench/web_bench.py --seconds 10          # needs wrk (Debian: apt-get install wrk)
    .venv/bin/python bench/web_bench.py --url http://127.0.0.1:8080 --internal http://127.0.0.1:8081
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _up import start_up, stop_up

from lakefront.servers.procs import free_port

ROOT = Path(__file__).resolve().parent.parent
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip()).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def wrk(url: str, *, seconds: int, connections: int, threads: int = 2) -> dict[str, Any]:
    """One wrk run; requests/s, p50 and p99 from its --latency distribution, non-2xx/3xx and socket errors."""
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", url],
                         capture_output=True, text=True, check=True).stdout
    pct = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M))
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    errors += sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return {"rps": rps, "p50_ms": _ms(pct["50"]), "p99_ms": _ms(pct["99"]), "errors": errors}


def targets(public: str, internal: str) -> dict[str, str]:
    home = httpx.get(f"{public}/", timeout=10).text
    product = re.search(r'href="(/p/\d+/[^"]+)"', home).group(1)  # type: ignore[union-attr]
    product_id = product.split("/")[2]
    category = re.search(r'href="(/c/[^"]+)"', home).group(1)  # type: ignore[union-attr]
    css = re.search(r'href="(/static/site\.css\?v=[0-9a-f]+)"', home).group(1)  # type: ignore[union-attr]
    return {
        "product page (public)": f"{public}{product}",
        "product JSON (internal)": f"{internal}/api/products/{product_id}",
        "category page (public)": f"{public}{category}",
        "home page (public)": f"{public}/",
        "static site.css (public)": f"{public}{css}",
        "/healthz (public)": f"{public}/healthz",
    }


def run(public: str, internal: str, *, seconds: int, connections: int) -> dict[str, dict[str, Any]]:
    urls = targets(public, internal)
    for url in urls.values():  # fill the cache and every instance's navigation memory
        for _ in range(4):
            httpx.get(url, timeout=10)
    return {name: wrk(url, seconds=seconds, connections=connections) | {"url": url} for name, url in urls.items()}


def report(results: dict[str, dict[str, Any]], argv: list[str]) -> str:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=ROOT, check=False).stdout.strip()
    lines = [f"Run: {os.cpu_count()} cores, Python {platform.python_version()}, commit {commit}, {date.today()}",
             f"Command: .venv/bin/python bench/web_bench.py {' '.join(argv)}", "",
             "| target | req/s | p50 ms | p99 ms | errors |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {name} | {r['rps']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['errors']} |"
              for name, r in results.items()]
    page, json_, static, health = (results[k] for k in ("product page (public)", "product JSON (internal)",
                                                          "static site.css (public)", "/healthz (public)"))
    lines += ["",
              f"- product page / app JSON: {page['rps'] / json_['rps']:.0%} (aim >= 50%)",
              f"- static / /healthz: {static['rps'] / health['rps']:.0%} (aim >= 80%)",
              f"- product page p99 / p50: {page['p99_ms'] / page['p50_ms']:.1f}x (aim < 4x)"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--scale", type=float, default=0.1, help="demo data scale of the stack it starts")
    parser.add_argument("--url", help="a running public listener instead of starting a stack")
    parser.add_argument("--internal", help="that stack's internal listener")
    parser.add_argument("--var-dir", type=Path, help="keep the stack's var dir here (seeded once, reused)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("web_bench: wrk not found (Debian: apt-get install wrk)")
    proc = None
    if args.url:
        public, internal = args.url.rstrip("/"), (args.internal or "").rstrip("/")
        if not internal:
            raise SystemExit("web_bench: --url needs --internal")
    else:
        var_dir = args.var_dir or Path(tempfile.mkdtemp(prefix="lakefront-web-bench-"))
        ports = {name: free_port() for name in ("PUBLIC", "INTERNAL", "ADMIN")}
        env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEFRONT_")} | {
            "LAKEFRONT_VAR_DIR": str(var_dir), "LAKEFRONT_DEMO__SCALE": str(args.scale),
            "LAKEFRONT_EXTRACT__INTERVAL_S": "0", "LAKEFRONT_CONFIG": str(var_dir / "none.toml"),
            **{f"LAKEFRONT_LB__{name}_PORT": str(port) for name, port in ports.items()}}
        proc = start_up(var_dir, env, timeout_s=600)
        public, internal = f"http://127.0.0.1:{ports['PUBLIC']}", f"http://127.0.0.1:{ports['INTERNAL']}"
    try:
        results = run(public, internal, seconds=args.seconds, connections=args.connections)
    finally:
        stop_up(proc)
    print(report(results, sys.argv[1:]))
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
