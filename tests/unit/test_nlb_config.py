"""The NLB's HAProxy config as rendered (servers/haproxy.py) and its settings: no process is started."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakefront.servers.haproxy import HAProxyError, Target, render_config
from lakefront.settings import SettingsError, load_settings

NODES = [Target("db-1", "127.0.0.1", 3307), Target("db-2", "127.0.0.1", 3308)]


def _server_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip().startswith("server ")]


def test_only_the_writer_starts_ready_and_every_other_node_in_maintenance() -> None:
    text = render_config(port=3310, targets=NODES, writer="db-2", socket_path=Path("/run/x/admin.sock"))
    assert _server_lines(text) == ["server db-1 127.0.0.1:3307 check disabled", "server db-2 127.0.0.1:3308 check"]


def test_with_no_writer_published_no_node_takes_a_connection() -> None:
    text = render_config(port=3310, targets=NODES, writer=None, socket_path=Path("/run/x/admin.sock"))
    assert all(line.endswith(" disabled") for line in _server_lines(text))


def test_the_listener_is_tcp_on_loopback_with_checks_retries_and_an_admin_socket() -> None:
    text = render_config(port=4406, targets=NODES, writer="db-1", socket_path=Path("/run/x/admin.sock"),
                         check_interval_ms=250, idle_timeout_s=60, source="127.0.0.9")
    lines = [line.strip() for line in text.splitlines()]
    for expected in ("mode tcp", "bind 127.0.0.1:4406", "option mysql-check", "retries 3", "option redispatch",
                     "timeout client 60s", "timeout server 60s",
                     "stats socket /run/x/admin.sock mode 600 level admin",
                     "default-server inter 250ms fall 2 rise 1 on-marked-down shutdown-sessions"):
        assert expected in lines, expected
    assert all(" source 127.0.0.9" in line for line in _server_lines(text))


@pytest.mark.parametrize(("targets", "writer"), [
    (NODES, "db-3"),
    ([Target("db-1", "127.0.0.1", 1), Target("db-1", "127.0.0.1", 2)], "db-1"),
    ([Target("db 1", "127.0.0.1", 1)], None),
])
def test_a_writer_outside_the_targets_or_clashing_names_are_refused(targets: list[Target], writer: str | None) -> None:
    with pytest.raises(HAProxyError):
        render_config(port=3310, targets=targets, writer=writer, socket_path=Path("/s"))


def test_the_nlb_runs_by_default_only_where_up_runs_the_database_nodes() -> None:
    assert not load_settings().nlb_enabled
    assert load_settings(profile="services").nlb_enabled
    assert not load_settings(profile="services", db={"writer_url": "mysql+pymysql://u@h/d"}).nlb_enabled
    assert not load_settings(profile="services", nlb={"enabled": False}).nlb_enabled


@pytest.mark.parametrize(("overrides", "field"), [
    ({"nlb": {"enabled": True}}, "nlb.enabled"),
    ({"profile": "services", "nlb": {"port": 3307}}, "nlb.port"),
    ({"profile": "services", "nlb": {"port": 0}}, "nlb.port"),
])
def test_an_nlb_setting_that_cannot_work_is_refused_naming_it(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(SettingsError, match=field.replace(".", r"\.")):
        load_settings(**overrides)
