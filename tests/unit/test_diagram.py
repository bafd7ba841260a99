from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lakefront.cli.main import app
from lakefront.diagram import (
    build_layout,
    instance_counts,
    marker,
    render,
    render_mermaid,
    render_text,
    scaling_bounds,
)
from lakefront.diagram.text import box_content
from lakefront.settings import (
    AppTierSettings,
    LoadBalancerSettings,
    Profile,
    ScalingSettings,
    Settings,
    TierSettings,
)
from lakefront.topology import COMPONENTS, EDGES, TIER_TITLES, Component, Edge, Implementation, Tier

TWO = {"web": 2, "app": 2}
COMPONENTS_BY_ID = {c.id: c for c in COMPONENTS}


def _first_line(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines()) if needle in line)


@pytest.mark.parametrize("profile", list(Profile))
def test_every_component_name_appears_in_the_text_diagram(profile: Profile) -> None:
    text = render("text", profile, TWO)
    missing = [c.name for c in COMPONENTS if c.name not in text]
    assert missing == []


@pytest.mark.parametrize("profile", list(Profile))
def test_boxes_of_what_does_not_run_are_marked_and_running_boxes_are_not(profile: Profile) -> None:
    layout = build_layout(profile, TWO)
    for node in layout.nodes():
        content = " ".join(" ".join(box_content(layout, node, 40)).split())
        impl = node.component.impl(profile)
        if node.component.runs_in(profile):
            assert "(not in this profile)" not in content and "(planned" not in content, node.key
        else:
            assert marker(impl) in content and f"[{impl.name}]" in content, node.key
    dotted = sum(1 for node in layout.nodes() if layout.not_running(node))
    body = render_text(layout).split("Legend:")[0]
    assert body.count("(not in this profile)") == dotted


@pytest.mark.parametrize("profile", list(Profile))
def test_no_shipped_profile_marks_anything_planned(profile: Profile) -> None:
    """Everything the architecture names is built: what a profile lacks says so, not an issue number."""
    assert "(planned" not in render("text", profile, TWO)
    assert [c.id for c in COMPONENTS if c.impl(profile).status == "planned"] == []


def test_the_embedded_profile_says_what_it_lacks_and_where_to_find_it() -> None:
    layout = build_layout(Profile.embedded, TWO)
    boxes = {node.key: " ".join(" ".join(box_content(layout, node, 56)).split()) for node in layout.nodes()}
    assert "[none: one SQLite file, no failover; --profile services runs a MariaDB standby]" in boxes["standby"]
    assert "[no DNS server" in boxes["route53"] and "(not in this profile)" in boxes["route53"]
    services = " ".join(render("text", Profile.services, TWO).split("Legend:")[0].split())
    assert "(not in this profile)" not in services
    for part in ("PowerDNS", "Redis Cluster", "HAProxy TCP endpoint", "MariaDB standby"):
        assert part in services, part


def test_the_new_edges_are_drawn_or_listed() -> None:
    text = render("text", Profile.services, TWO)
    assert "backups, binlogs" in text and "TCP to the writer" in text


def test_the_balancer_nodes_and_scaling_bounds_follow_the_settings() -> None:
    settings = Settings(lb=LoadBalancerSettings(extra_hosts=["127.0.0.2", "127.0.0.3"]),
                        web=TierSettings(instances=2, scaling=ScalingSettings(max_instances=6)))
    text = render("text", Profile.services, instance_counts(settings), scaling_bounds(settings))
    assert len(re.findall(r"\| alb node \d \|", text)) == 3
    assert "[Starlette instances] x 2, scales 2..6" in text
    assert "[FastAPI instances, rolling deploys] x 2, scales 2..4" in text


@pytest.mark.parametrize("profile", list(Profile))
@pytest.mark.parametrize("count", [1, 2, 3, 7, 16])
def test_no_line_of_the_text_diagram_is_over_100_columns(profile: Profile, count: int) -> None:
    text = render("text", profile, {"web": count, "app": count})
    assert max(len(line) for line in text.splitlines()) <= 100


def test_instance_boxes_follow_the_settings() -> None:
    settings = Settings(web=TierSettings(instances=3), app=AppTierSettings(instances=5))
    text = render("text", Profile.embedded, instance_counts(settings))
    assert sorted(set(re.findall(r"web instance \d+", text))) == [f"web instance {i}" for i in (1, 2, 3)]
    assert len(re.findall(r"\| web instance \d+ \|", text)) == 3
    assert len(re.findall(r"\| app instance \d+ \|", text)) == 5


def test_sixteen_instances_wrap_onto_several_lines_of_boxes() -> None:
    text = render("text", Profile.embedded, {"web": 16, "app": 1})
    assert len(re.findall(r"\| +web instance \d+ +\|", text)) == 16
    assert len({_first_line(text, f"web instance {i} ") for i in (1, 16)}) == 2


def test_the_text_diagram_reads_down_the_request_path_then_the_analytics_flow() -> None:
    text = render("text", Profile.embedded, TWO)
    rows = [_first_line(text, component.name) for component in (
        COMPONENTS_BY_ID["internet"], COMPONENTS_BY_ID["route53"], COMPONENTS_BY_ID["alb"],
        COMPONENTS_BY_ID["web"], COMPONENTS_BY_ID["app"], COMPONENTS_BY_ID["database"],
    )]
    assert rows == sorted(rows) and len(set(rows)) == len(rows)
    assert _first_line(text, "Amazon ElastiCache") == rows[-1]
    s3 = _first_line(text, "Amazon S3 (storage)")
    assert rows[-1] <= s3 < _first_line(text, "Amazon EMR") < _first_line(text, "Amazon QuickSight")
    assert _first_line(text, "S3 (storage) lake/raw") < _first_line(text, "Amazon EMR")
    assert _first_line(text, "Amazon EMR") < _first_line(text, "S3 (storage) lake/marts")


def test_each_tier_gets_one_band_in_order() -> None:
    text = render("text", Profile.embedded, TWO)
    bands = [_first_line(text, f" {TIER_TITLES[tier]} ") for tier in Tier]
    assert bands == sorted(bands)
    assert all(text.count(f" {title} =") == 1 for title in TIER_TITLES.values())


def test_a_component_added_to_the_topology_appears_without_touching_the_renderer() -> None:
    impl = Implementation("nginx", "planned", 99)
    extra = Component("cdn", "Amazon CloudFront", Tier.edge, "CloudFront", {p: impl for p in Profile})
    layout = build_layout(Profile.embedded, TWO, (*COMPONENTS, extra), (*EDGES, Edge("internet", "cdn", "static")))
    text = render_text(layout)
    assert "Amazon CloudFront" in text and "(planned, issue #99)" in text
    assert 'cdn["Amazon CloudFront' in render_mermaid(layout)


def test_a_link_that_skips_rows_is_listed_rather_than_lost() -> None:
    layout = build_layout(Profile.embedded, TWO, COMPONENTS, (*EDGES, Edge("alb", "quicksight", "shortcut")))
    assert "also: Application Load Balancer -> Amazon QuickSight (dashboards): shortcut" in render_text(layout)


def _mermaid_parts(chart: str) -> tuple[set[str], set[str], list[str]]:
    declared = set(re.findall(r"^\s+(\w+)\[", chart, re.M))
    referenced: set[str] = set()
    for source, target in re.findall(r"^\s+(\w+) -\.?->\|[^|]*\| (\w+)$", chart, re.M):
        referenced |= {source, target}
    subgraphs = re.findall(r"^\s+subgraph (\w+)\[", chart, re.M)
    return declared | set(subgraphs), referenced, subgraphs


@pytest.mark.parametrize("profile", list(Profile))
def test_every_node_a_mermaid_edge_references_is_declared(profile: Profile) -> None:
    chart = render("mermaid", profile, TWO)
    declared, referenced, _ = _mermaid_parts(chart)
    assert chart.startswith("flowchart TD\n")
    assert len(referenced) >= len(COMPONENTS) - 1
    assert referenced <= declared
    assert chart.count("-->|") + chart.count("-.->|") == len(EDGES)


def test_mermaid_has_one_subgraph_per_tier_and_expands_instance_groups() -> None:
    chart = render("mermaid", Profile.embedded, {"web": 3, "app": 2})
    _, _, subgraphs = _mermaid_parts(chart)
    assert sorted(s for s in subgraphs if s.startswith("tier_")) == sorted(f"tier_{t.value}" for t in Tier)
    assert chart.count("subgraph ") == chart.count("\n  end") + chart.count("\n    end")
    assert re.findall(r"^\s+(web_\d+)\[", chart, re.M) == ["web_1", "web_2", "web_3"]


@pytest.mark.parametrize("profile", list(Profile))
def test_mermaid_nodes_not_running_get_the_absent_class_and_running_ones_do_not(profile: Profile) -> None:
    chart = render("mermaid", profile, TWO)
    assert "classDef absent stroke-dasharray" in chart
    found = re.search(r"^\s+class (\S+) absent$", chart, re.M)
    classed = set(found[1].split(",")) if found else set()  # the services profile runs everything
    for comp in COMPONENTS:
        assert (comp.id in classed) == (not comp.runs_in(profile)), comp.id


def test_the_cli_writes_the_diagram_to_the_output_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "arch.mmd"
    result = CliRunner().invoke(app, ["diagram", "--profile", "services", "--output", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_text().startswith("flowchart TD\n")
    assert "Redis" in target.read_text()


def test_the_cli_prints_the_text_diagram_for_the_chosen_profile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["diagram", "--profile", "embedded", "--format", "text"])
    assert result.exit_code == 0, result.output
    assert result.output == render("text", Profile.embedded, instance_counts(Settings()), scaling_bounds(Settings()))


def test_an_unknown_format_is_one_line_and_exit_status_2(tmp_path: Path) -> None:
    lakefront = Path(sys.executable).parent / "lakefront"
    done = subprocess.run([str(lakefront), "diagram", "--format", "png"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and "unknown diagram format 'png'" in done.stderr



def test_the_svg_is_well_formed_with_a_box_per_node_and_an_arrow_per_link() -> None:
    import xml.etree.ElementTree as ET

    layout = build_layout(Profile.embedded, {"web": 3, "app": 2})
    root = ET.fromstring(render("svg", Profile.embedded, {"web": 3, "app": 2}))
    ns = "{http://www.w3.org/2000/svg}"
    groups = root.findall(f"{ns}g")
    assert len(groups) == len(layout.nodes())
    dotted = {g.get("data-component") for g in groups if "absent" in (g.get("class") or "")}
    assert dotted == {n.component.id for n in layout.nodes() if layout.not_running(n)}
    assert len([p for p in root.iter(f"{ns}path") if "link" in (p.get("class") or "")]) == len(layout.links)
    assert len([r for r in root.iter(f"{ns}rect") if r.get("class") == "band"]) == len(Tier)
    instances = [t.text for t in root.iter(f"{ns}text") if t.text and " instance " in t.text]
    assert instances == ["web instance 1", "web instance 2", "web instance 3", "app instance 1", "app instance 2"]


def test_the_svg_keeps_every_box_inside_the_picture() -> None:
    import xml.etree.ElementTree as ET

    root = ET.fromstring(render("svg", Profile.services, {"web": 16, "app": 16}))
    width, height = float(root.get("width") or 0), float(root.get("height") or 0)
    for rect in root.iter("{http://www.w3.org/2000/svg}rect"):
        x, y = float(rect.get("x") or 0), float(rect.get("y") or 0)
        assert x >= 0 and x + float(rect.get("width") or 0) <= width
        assert y >= 0 and y + float(rect.get("height") or 0) <= height


def test_the_cli_picks_svg_from_the_output_suffix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["diagram", "-o", str(tmp_path / "arch.svg")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "arch.svg").read_text().startswith("<svg ")


ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("path", "profile"), [("docs/architecture.svg", Profile.embedded),
                                               ("docs/architecture-services.svg", Profile.services)])
def test_the_shipped_pictures_are_what_the_code_draws(path: str, profile: Profile) -> None:
    """docs/ is regenerated with `lakefront diagram --profile P -o docs/...` whenever the topology changes."""
    settings = Settings()
    drawn = render("svg", profile, instance_counts(settings), scaling_bounds(settings))
    assert (ROOT / path).read_text() == drawn


def test_the_readme_diagram_is_what_the_code_draws() -> None:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("```text\nLakefront architecture, profile embedded\n") + len("```text\n")
    settings = Settings()
    assert readme[start:readme.index("```", start)] == render(
        "text", Profile.embedded, instance_counts(settings), scaling_bounds(settings))
