from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lakefront import topology
from lakefront.cli.main import app
from lakefront.diagram import build_layout, instance_counts, render, render_mermaid, render_text
from lakefront.diagram.text import box_content
from lakefront.settings import AppTierSettings, Profile, Settings, TierSettings
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
def test_planned_boxes_are_marked_and_running_boxes_are_not(profile: Profile) -> None:
    layout = build_layout(profile, TWO)
    for node in layout.nodes():
        content = " ".join(box_content(layout, node, 40))
        impl = node.component.impl(profile)
        if node.component.runs_in(profile):
            assert "planned" not in content, node.key
        else:
            assert f"(planned, issue #{impl.issue})" in " ".join(content.split()), node.key
    planned = sum(1 for node in layout.nodes() if layout.planned(node))
    body = render_text(layout).split("Legend:")[0]
    assert body.count("(planned, issue #") == planned


@pytest.mark.parametrize("profile", list(Profile))
def test_each_profile_marks_exactly_its_planned_components(profile: Profile) -> None:
    planned = [c for c in topology.COMPONENTS if not c.runs_in(profile)]
    text = render("text", profile, TWO)
    assert len(re.findall(r"\(planned, issue #\d+\)", text)) == len(planned)
    for comp in planned:
        assert f"(planned, issue #{comp.impl(profile).issue})" in text


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
def test_planned_mermaid_nodes_get_the_planned_class_and_running_ones_do_not(profile: Profile) -> None:
    chart = render("mermaid", profile, TWO)
    assert "classDef planned stroke-dasharray" in chart
    found = re.search(r"^\s+class (\S+) planned$", chart, re.M)
    classed = set(found[1].split(",")) if found else set()  # the services profile runs everything now
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
    assert result.output == render("text", Profile.embedded, instance_counts(Settings()))


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
    planned = {g.get("data-component") for g in groups if "planned" in (g.get("class") or "")}
    assert planned == {n.component.id for n in layout.nodes() if layout.planned(n)}
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
