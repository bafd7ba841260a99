from __future__ import annotations

import pytest

from lakefront.settings import Profile
from lakefront.topology import (
    COMPONENTS,
    EDGES,
    Component,
    Edge,
    Implementation,
    Tier,
    component,
    neighbours,
    running,
    start_order,
    validate,
)

SEED_ROLES = {
    "internet": "Internet",
    "route53": "Route 53",
    "alb": "Application Load Balancer",
    "web": "EC2 Auto Scaling group",
    "app": "Elastic Beanstalk",
    "cache": "ElastiCache",
    "database": "RDS for MySQL",
    "standby": "standby",
    "object_store": "S3",
    "emr": "EMR",
    "quicksight": "QuickSight",
}


def _both(name: str, status: str = "runs") -> dict[Profile, Implementation]:
    impl = Implementation(name, "planned", 1) if status == "planned" else Implementation(name)
    return {profile: impl for profile in Profile}


def test_the_shipped_topology_has_no_problems() -> None:
    assert validate() == []


@pytest.mark.parametrize(("component_id", "role"), sorted(SEED_ROLES.items()))
def test_every_seed_component_is_present_with_its_aws_role(component_id: str, role: str) -> None:
    assert role in component(component_id).aws_role


def test_embedded_starts_the_app_tier_first_and_the_public_balancer_last() -> None:
    assert [c.id for c in start_order(Profile.embedded)] == ["app", "internal_alb", "web", "alb"]


@pytest.mark.parametrize("profile", list(Profile))
def test_what_a_profile_lacks_is_absent_by_design_or_planned_with_its_issue(profile: Profile) -> None:
    lacking = [c.impl(profile) for c in COMPONENTS if not c.runs_in(profile)]
    assert all(impl.status == "absent" or isinstance(impl.issue, int) for impl in lacking)
    assert all(impl.name for impl in lacking)


def test_the_embedded_profile_lacks_only_what_one_sqlite_file_and_no_dns_server_imply() -> None:
    assert {c.id for c in COMPONENTS if not c.runs_in(Profile.embedded)} == {"route53", "nlb", "standby"}
    assert all(c.runs_in(Profile.services) for c in COMPONENTS)


def test_running_and_planned_components_partition_the_topology() -> None:
    ran = {c.id for c in running(Profile.embedded)}
    assert "database" in ran
    assert "standby" not in ran
    assert ran | {c.id for c in COMPONENTS if not c.runs_in(Profile.embedded)} == {c.id for c in COMPONENTS}


def test_a_cycle_in_request_edges_is_reported() -> None:
    comps = (
        Component("a", "A", Tier.web, "role a", _both("x")),
        Component("b", "B", Tier.app, "role b", _both("y")),
    )
    problems = validate(comps, (Edge("a", "b", "calls"), Edge("b", "a", "calls back")))
    assert any("cycle" in p and "a -> b -> a" in p for p in problems)


def test_a_loop_in_the_data_flow_is_not_a_cycle() -> None:
    comps = (
        Component("s3", "S3", Tier.data, "S3", _both("dir")),
        Component("emr", "EMR", Tier.analytics, "EMR", _both("duckdb")),
    )
    assert validate(comps, (Edge("s3", "emr", "raw", "data"), Edge("emr", "s3", "marts", "data"))) == []


def test_an_edge_to_an_unknown_component_is_reported() -> None:
    problems = validate(COMPONENTS, (*EDGES, Edge("app", "nowhere", "lost")))
    assert problems == ["edge app->nowhere names an unknown component"]


def test_a_planned_implementation_without_an_issue_is_reported() -> None:
    planned = Implementation("later", "planned")
    comps = (Component("x", "X", Tier.data, "role", {profile: planned for profile in Profile}),)
    assert len(validate(comps, ())) == len(Profile)


def test_duplicate_component_ids_are_reported() -> None:
    assert "duplicate component ids" in validate((COMPONENTS[0], COMPONENTS[0]), ())


def test_neighbours_follows_only_the_requested_kinds_of_edge() -> None:
    assert {e.target for e in neighbours("app")} == {"cache", "database", "object_store"}
    assert neighbours("database", kinds=("request",)) == []
