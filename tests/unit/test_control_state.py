from __future__ import annotations

import os
import socket
from dataclasses import replace
from pathlib import Path

import pytest

from lakefront import topology
from lakefront.control.state import read_state, remove_state, running_state, write_state
from lakefront.control.up import Refused, Stack, check_not_running, check_profile, ready_lines
from lakefront.servers.procs import free_port
from lakefront.settings import Profile, Settings


def _settings(tmp_path: Path, profile: Profile = Profile.embedded) -> Settings:
    return Settings(var_dir=tmp_path, profile=profile)


def test_state_file_round_trips_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "run" / "state.json"
    state = {"pid": 123, "profile": "embedded", "instances": [{"name": "web-1", "port": 5000, "restarts": 2}]}
    write_state(path, state)
    assert read_state(path) == state
    assert [p.name for p in path.parent.iterdir()] == ["state.json"]
    remove_state(path)
    assert read_state(path) is None


def test_a_garbled_state_file_reads_as_no_state(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text("{not json")
    assert read_state(path) is None


def test_a_state_file_whose_process_is_gone_means_nothing_runs(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    write_state(settings.state_file, {"pid": 2**22 + 12345})
    assert running_state(settings.state_file) is None
    check_not_running(settings)


def test_up_refuses_when_a_live_up_process_owns_the_state(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    write_state(settings.state_file, {"pid": os.getppid()})
    with pytest.raises(Refused, match="already running"):
        check_not_running(settings)


def test_both_profiles_have_a_data_tier_to_start(tmp_path: Path) -> None:
    for profile in Profile:
        check_profile(_settings(tmp_path, profile))


def test_a_profile_whose_database_is_planned_is_refused_naming_the_issue(tmp_path: Path) -> None:
    planned_db = replace(topology.component("database"), local={
        profile: topology.Implementation("a database from the future", "planned", 99) for profile in Profile})
    components = tuple(planned_db if c.id == "database" else c for c in topology.COMPONENTS)
    with pytest.raises(Refused, match=r"issue #99"):
        check_profile(_settings(tmp_path, Profile.services), components)


def test_every_component_in_start_order_has_a_starter(tmp_path: Path) -> None:
    stack = Stack(_settings(tmp_path))
    for profile in Profile:
        for comp in topology.start_order(profile):
            assert comp.id in stack._starters


def test_free_ports_are_distinct_and_bindable() -> None:
    ports = [free_port() for _ in range(20)]
    assert len(set(ports)) == 20
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", ports[0]))


def test_ready_lines_name_the_store_and_the_demo_sign_ins(tmp_path: Path) -> None:
    text = "\n".join(ready_lines(_settings(tmp_path)))
    assert "http://127.0.0.1:8080/" in text
    assert "http://127.0.0.1:8081/docs" in text
    assert "admin@lakefront.local / lakefront-admin" in text
    assert "customer@lakefront.local / lakefront-demo" in text
