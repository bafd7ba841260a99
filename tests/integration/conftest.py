"""Fixtures the integration suites share: a real Caddy with the control plane's LoadBalancer over it
(test_control_lb.py, test_autoscaling.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lakefront.control.lb import LoadBalancer
from lakefront.servers.caddy import CaddyServer, start_caddy
from lakefront.servers.procs import free_port
from lakefront.settings import LoadBalancerSettings


@pytest.fixture
def lb_settings() -> LoadBalancerSettings:
    return LoadBalancerSettings(public_port=free_port(), internal_port=free_port(), admin_port=free_port(),
                                health_interval_s=0.5, fail_duration_s=3.0, try_duration_s=2.0)


@pytest.fixture
def caddy(tmp_path: Path, lb_settings: LoadBalancerSettings) -> Iterator[CaddyServer]:
    proc = start_caddy(host=lb_settings.host, admin_port=lb_settings.admin_port, work_dir=tmp_path / "caddy",
                       log_path=tmp_path / "caddy.log")
    yield proc
    proc.stop()


@pytest.fixture
def balancer(tmp_path: Path, lb_settings: LoadBalancerSettings, caddy: CaddyServer) -> Iterator[LoadBalancer]:
    lb = LoadBalancer(lb_settings, tmp_path / "access.log")
    yield lb
    lb.close()
