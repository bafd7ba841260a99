"""`lakefront up --profile services` with process.spark_cluster: the EMR role as a real cluster.

`up` runs a Spark standalone master and two workers under var/spark, every port set from process.spark_port,
and the scheduled pipeline's `process --engine spark` submits its models to that master.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import pytest

from lakefront.analytics.lake import Lake
from lakefront.analytics.models import load_models
from lakefront.settings import Settings
from support import free_port_block

from .conftest import Stack, services_env, start_stack
from .test_pipeline import wait_for_status

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cluster_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, int]]:
    port = free_port_block(6)
    running = start_stack(tmp_path_factory.mktemp("stack-spark"), **services_env(),
                          LAKEFRONT_DB__STANDBY="false", LAKEFRONT_WEB__INSTANCES="1",
                          LAKEFRONT_APP__INSTANCES="1", LAKEFRONT_PROCESS__ENGINE="spark",
                          LAKEFRONT_PROCESS__SPARK_CLUSTER="true", LAKEFRONT_PROCESS__SPARK_PORT=str(port),
                          LAKEFRONT_EXTRACT__INTERVAL_S="30")
    try:
        yield running, port
    finally:
        running.stop()


# A JVM for the master, one per worker, one for the driver and one executor per worker, on two cores.
@pytest.mark.timeout(900)
def test_up_runs_the_cluster_and_the_scheduled_pipeline_processes_the_marts_on_it(
        cluster_stack: tuple[Stack, int]) -> None:
    stack, port = cluster_stack
    with urllib.request.urlopen(f"http://127.0.0.1:{port + 1}/json/", timeout=5) as answer:  # nosec B310
        master = json.load(answer)
    assert [w["state"] for w in master["workers"]] == ["ALIVE", "ALIVE"]
    assert all(int(w["webuiaddress"].rsplit(":", 1)[1]) in (port + 3, port + 5) for w in master["workers"])

    # Every mart, not the first few: a run commits them one by one as the models finish.
    marts = sum(model.is_mart for model in load_models().values())
    row = wait_for_status(stack, "emr", f"{marts} marts in the lake", timeout=600)
    assert "by spark" in row["detail"] and f"spark://127.0.0.1:{port}" in row["detail"]
    settings = Settings.model_validate(stack.state()["settings"])
    with Lake(settings) as lake:
        commit = lake.last_commit("mart_daily_sales")
        assert commit is not None and commit.properties["engine"] == "spark" and commit.rows > 0
    with urllib.request.urlopen(f"http://127.0.0.1:{port + 1}/json/", timeout=5) as answer:  # nosec B310
        apps = json.load(answer)
    assert "lakefront-process" in {a["name"] for a in apps["completedapps"] + apps["activeapps"]}
