from __future__ import annotations

from pathlib import Path

from lakefront.control.lb import full_config, listeners
from lakefront.settings import LoadBalancerSettings

LB = LoadBalancerSettings(host="127.0.0.1", public_port=18001, internal_port=18002, admin_port=18003,
                          try_duration_s=2.0, health_interval_s=0.5, fail_duration_s=3.0)


def _proxy(config: dict, server: str) -> dict:
    handlers = config["apps"]["http"]["servers"][server]["routes"][0]["handle"]
    return next(h for h in handlers if h["handler"] == "reverse_proxy")


def test_each_listener_binds_the_configured_host_and_port_explicitly() -> None:
    config = full_config(LB, Path("/tmp/access.log"), {"public": [1], "internal": [2]})
    servers = config["apps"]["http"]["servers"]
    assert servers["public"]["listen"] == ["127.0.0.1:18001"]
    assert servers["internal"]["listen"] == ["127.0.0.1:18002"]
    assert config["admin"] == {"listen": "127.0.0.1:18003", "origins": ["127.0.0.1:18003"],
                               "config": {"persist": False}}


def test_upstreams_are_the_given_ports_under_an_addressable_id() -> None:
    config = full_config(LB, Path("/tmp/access.log"), {"public": [5001, 5002], "internal": [6001]})
    web, app = _proxy(config, "public"), _proxy(config, "internal")
    assert web["@id"] == listeners(LB)["public"].upstream_id == "web_upstreams"
    assert app["@id"] == "app_upstreams"
    assert web["upstreams"] == [{"dial": "127.0.0.1:5001"}, {"dial": "127.0.0.1:5002"}]
    assert app["upstreams"] == [{"dial": "127.0.0.1:6001"}]


def test_only_the_public_listener_assigns_the_request_id() -> None:
    config = full_config(LB, Path("/tmp/access.log"), {})
    assert _proxy(config, "public")["headers"]["request"]["set"]["X-Request-Id"] == ["{http.request.uuid}"]
    assert "headers" not in _proxy(config, "internal")


def test_health_checks_and_retries_follow_the_settings() -> None:
    proxy = _proxy(full_config(LB, Path("/tmp/access.log"), {}), "internal")
    assert proxy["health_checks"]["active"] == {"uri": "/healthz", "interval": "500ms", "timeout": "1s"}
    assert proxy["health_checks"]["passive"]["fail_duration"] == "3000ms"
    assert proxy["health_checks"]["passive"]["max_fails"] == 1
    assert proxy["load_balancing"]["try_duration"] == "2000ms"
    assert proxy["load_balancing"]["selection_policy"]["policy"] in {"least_conn", "round_robin"}


def test_access_log_goes_to_its_own_json_file() -> None:
    config = full_config(LB, Path("/var/x/caddy-access.log"), {})
    access = config["logging"]["logs"]["access"]
    assert access["writer"] == {"output": "file", "filename": "/var/x/caddy-access.log"}
    assert access["encoder"] == {"format": "json"}
    assert config["apps"]["http"]["servers"]["public"]["logs"]["default_logger_name"] == "access"
    assert access["include"] == config["logging"]["logs"]["default"]["exclude"]
