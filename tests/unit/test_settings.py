"""Settings: defaults, sources, and one clear line for a bad value."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lakefront.data.endpoints import reader_url, writer_url
from lakefront.settings import SETTINGS_JSON_ENV, Profile, SettingsError, load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("LAKEFRONT_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


def test_defaults_are_the_embedded_profile_on_loopback() -> None:
    s = load_settings()
    assert s.profile is Profile.embedded
    assert (s.lb.host, s.lb.public_port, s.web.instances, s.app.instances) == ("127.0.0.1", 8080, 2, 2)
    assert writer_url(s) == f"sqlite:///{s.var_dir / 'db' / 'lakefront.sqlite3'}"
    assert reader_url(s) == writer_url(s)
    assert s.var_dir.is_absolute()


def test_environment_overrides_toml_and_toml_overrides_defaults(monkeypatch: pytest.MonkeyPatch,
                                                                tmp_path: Path) -> None:
    (tmp_path / "lakefront.toml").write_text('[web]\ninstances = 3\n[app]\ninstances = 4\n')
    monkeypatch.setenv("LAKEFRONT_APP__INSTANCES", "5")
    s = load_settings()
    assert (s.web.instances, s.app.instances) == (3, 5)


@pytest.mark.parametrize(("env", "value", "named"), [
    ("LAKEFRONT_LB__PUBLIC_PORT", "eighty", "lb.public_port"),
    ("LAKEFRONT_WEB__INSTANCES", "0", "web.instances"),
    ("LAKEFRONT_PROFILE", "cloud", "profile"),
    ("LAKEFRONT_DB__WRITER_URL", "localhost:3306", "db.writer_url"),
])
def test_a_bad_value_is_one_line_naming_the_setting(monkeypatch: pytest.MonkeyPatch, env: str, value: str,
                                                    named: str) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    assert message.startswith(f"invalid setting {named}:")
    assert "\n" not in message


def test_an_unknown_toml_key_is_refused(tmp_path: Path) -> None:
    (tmp_path / "lakefront.toml").write_text("[web]\ninstancez = 3\n")
    with pytest.raises(SettingsError, match=r"web\.instancez"):
        load_settings()


def test_children_receive_exactly_the_parents_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    parent = load_settings(web={"instances": 3}, secret_key="s3cret")
    env = parent.child_env()
    assert json.loads(env[SETTINGS_JSON_ENV])["web"]["instances"] == 3
    monkeypatch.setenv(SETTINGS_JSON_ENV, env[SETTINGS_JSON_ENV])
    monkeypatch.setenv("LAKEFRONT_WEB__INSTANCES", "9")  # ignored: the parent's resolution wins
    child = load_settings()
    assert child == parent
    assert child.secret() == "s3cret"


def test_the_generated_secret_is_shared_through_var(tmp_path: Path) -> None:
    first = load_settings(var_dir=tmp_path / "var").secret()
    assert load_settings(var_dir=tmp_path / "var").secret() == first
    assert len(first) > 40


def test_the_services_profile_runs_its_own_servers_unless_given_endpoints() -> None:
    own = load_settings(profile="services")
    assert own.managed_servers() == ["mariadb", "redis", "seaweedfs"]
    assert writer_url(own).startswith("mysql+pymysql://lakefront:") and ":3307/lakefront" in writer_url(own)
    assert (own.cache_backend, own.objects_backend) == ("redis", "s3")

    given = load_settings(profile="services", db={"writer_url": "mysql+pymysql://u:p@rds.example:3306/shop"},
                          cache={"redis_url": "redis://cache.example:6379/0"},
                          objects={"s3_endpoint": "https://s3.example"})
    assert given.managed_servers() == []
    assert writer_url(given) == "mysql+pymysql://u:p@rds.example:3306/shop"
    assert load_settings().managed_servers() == []


def test_a_web_session_may_not_outlive_the_app_tiers_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEFRONT_AUTH__TOKEN_ABSOLUTE_S", str(2 * 86_400))
    monkeypatch.setenv("LAKEFRONT_SESSION__MAX_AGE_S", str(3 * 86_400))
    with pytest.raises(SettingsError, match=r"session\.max_age_s .* must not exceed auth\.token_absolute_s"):
        load_settings()
    monkeypatch.setenv("LAKEFRONT_SESSION__MAX_AGE_S", str(86_400))
    assert load_settings().session.max_age_s == 86_400


def test_the_lake_catalog_is_a_sqlite_file_the_shops_database_or_glue_by_profile() -> None:
    embedded = load_settings()
    assert (embedded.lake_catalog, embedded.lake_catalog_url) == (
        "sql", f"sqlite:///{embedded.var_dir / 'lake' / 'catalog.sqlite3'}")
    services = load_settings(profile="services")
    # None: the shop's writer database, wherever the primary is at the time (data/endpoints.writer_url).
    assert (services.lake_catalog, services.lake_catalog_url) == ("sql", None)
    assert load_settings(profile="aws", db={"writer_url": "sqlite:///x.sqlite3"}).lake_catalog == "glue"


def test_a_spark_cluster_is_managed_only_when_asked_for_and_named_by_no_master() -> None:
    assert load_settings(profile="services").spark_master == "local[*]"
    cluster = load_settings(profile="services", process={"spark_cluster": True, "spark_port": 7300})
    assert cluster.spark_master == "spark://127.0.0.1:7300" and "spark" in cluster.managed_servers()
    given = load_settings(profile="services", process={"spark_cluster": True, "spark_master": "spark://h:7077"})
    assert given.spark_master == "spark://h:7077" and "spark" not in given.managed_servers()
    assert "spark" not in load_settings(process={"spark_cluster": True}).managed_servers()


def test_the_cache_is_a_cluster_when_up_runs_it_and_single_when_given_or_asked() -> None:
    own = load_settings(profile="services")
    assert own.cache_mode == "cluster"
    assert own.redis_url == "redis://" + ",".join(f"127.0.0.1:{6380 + n}" for n in range(6)) + "/0"
    assert load_settings(profile="services", cache={"mode": "single"}).redis_url == "redis://127.0.0.1:6380/0"
    assert load_settings(profile="services", cache={"redis_url": "redis://c.example:6379/0"}).cache_mode == "single"
    assert load_settings().cache_mode == "single" and load_settings().cache_backend == "embedded"
    assert load_settings(profile="services").cache.window_timeout_s > load_settings().cache.timeout_s


def test_a_cache_cluster_whose_bus_ports_pass_65535_is_refused_naming_the_port() -> None:
    with pytest.raises(SettingsError, match=r"cache.port 60000: a cluster on ports 60000..60005 needs bus ports"):
        load_settings(profile="services", cache={"port": 60000})
    assert load_settings(profile="services", cache={"port": 55530}).cache.port == 55530
    assert load_settings(profile="services", cache={"port": 60000, "mode": "single"}).cache.port == 60000
