"""The UI an operator opens: dagster-webserver started from the project root finds the code location
through pyproject's [tool.dagster] and serves its assets, checks, sensor and schedule over GraphQL."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from expectations import CHECKS

ROOT = Path(__file__).resolve().parents[1]
ASSETS = {"raw_files", "parsed_documents", "lake_tables", "warehouse_tables", "bi_views", "report"}
CONTRACT_CHECKS = {"funding_components_sum_to_total", "funding_share_matches_amount", "funding_shares_sum_to_100",
                   "income_equals_expenditure", "indicator_value_in_range"}
REPO = '{repositoryLocationName: "pifu", repositoryName: "__repository__"}'
STARTUP_DEADLINE = 120  # seconds; a cold start imports dagster twice (server and code server)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, timeout: float = 5) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


def graphql(base: str, query: str) -> dict:
    req = urllib.request.Request(f"{base}/graphql", data=json.dumps({"query": query}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        body = json.loads(r.read())
    assert "errors" not in body, body["errors"]
    return body["data"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("dagster_home")
    data = tmp_path_factory.mktemp("data")
    env = {**os.environ, "DAGSTER_HOME": str(home), "PIFU_DATA_DIR": str(data), "PIFU_INBOX": str(data / "inbox"),
           "PIFU_LAKE_DIR": str(data / "lake"), "PIFU_WAREHOUSE_URL": f"duckdb:///{data / 'warehouse.duckdb'}"}
    env.pop("PIFU_DAGSTER_STORAGE", None)
    code = "from pipelines.instance import ensure_dagster_home; print(ensure_dagster_home())"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True)
    assert (home / "dagster.yaml").exists()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = open(home / "webserver.log", "w+")
    proc = subprocess.Popen([sys.executable, "-m", "dagster_webserver", "-h", "127.0.0.1", "-p", str(port)],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + STARTUP_DEADLINE
        while True:
            try:
                info = json.loads(get(f"{base}/server_info", timeout=2))
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            log.seek(0)
            assert proc.poll() is None, f"webserver exited ({proc.returncode}):\n{log.read()}"
            assert time.monotonic() < deadline, f"no answer on {base} in {STARTUP_DEADLINE}s:\n{log.read()}"
            # the poll's own back-off: a blocking wait on the process, which also notices it dying
            try:
                proc.wait(timeout=0.25)
            except subprocess.TimeoutExpired:
                pass
        assert info["dagster_webserver_version"]
        yield base
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)  # the server and the code server it spawned
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        except ProcessLookupError:
            pass
        log.close()


def test_the_code_location_loads_without_errors(server):
    data = graphql(server, "{ workspaceOrError { __typename ... on Workspace { locationEntries { name "
                           "loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }")
    entries = data["workspaceOrError"]["locationEntries"]
    assert [(e["name"], e["loadStatus"], e["locationOrLoadError"]["__typename"]) for e in entries] == \
        [("pifu", "LOADED", "RepositoryLocation")]


def test_the_asset_graph_and_its_checks_are_served(server):
    data = graphql(server, "{ assetNodes { assetKey { path } groupName isPartitioned "
                           "partitionDefinition { type name } dependencyKeys { path } jobNames "
                           "assetChecksOrError { __typename ... on AssetChecks { checks { name blocking } } } } }")
    nodes = {"/".join(n["assetKey"]["path"]): n for n in data["assetNodes"]}
    assert set(nodes) == ASSETS
    assert all(n["groupName"] == "pifu" and "pifu_job" in n["jobNames"] for n in nodes.values())
    assert [d["path"] for d in nodes["bi_views"]["dependencyKeys"]] == [["warehouse_tables"]]
    assert not nodes["bi_views"]["isPartitioned"]
    assert [d["path"] for d in nodes["report"]["dependencyKeys"]] == [["bi_views"]]
    assert not nodes["report"]["isPartitioned"]
    for name in ASSETS - {"bi_views", "report"}:
        assert nodes[name]["isPartitioned"]
        assert nodes[name]["partitionDefinition"] == {"type": "DYNAMIC", "name": "fiscal_year"}

    checks = {}
    for name, node in nodes.items():
        assert node["assetChecksOrError"]["__typename"] == "AssetChecks", node
        for check in node["assetChecksOrError"]["checks"]:
            checks[check["name"]] = (name, check["blocking"])
    assert CONTRACT_CHECKS <= set(checks)
    assert set(checks) == set(CHECKS) | {"every_input_accounted_for"}
    assert {asset for asset, _ in checks.values()} == {"lake_tables"}
    assert not any(checks[name][1] for name in CONTRACT_CHECKS)
    assert checks["every_input_accounted_for"][1]


def test_the_sensor_and_the_schedule_are_served(server):
    data = graphql(server, f"""{{
      sensorsOrError(repositorySelector: {REPO}) {{ __typename ... on Sensors {{ results {{
        name minIntervalSeconds targets {{ pipelineName }} sensorState {{ status }} }} }} }}
      schedulesOrError(repositorySelector: {REPO}) {{ __typename ... on Schedules {{ results {{
        name cronSchedule executionTimezone pipelineName }} }} }}
    }}""")
    sensors = data["sensorsOrError"]["results"]
    assert [(s["name"], s["minIntervalSeconds"], s["targets"], s["sensorState"]["status"]) for s in sensors] == \
        [("inbox_sensor", 30, [{"pipelineName": "pifu_job"}], "RUNNING")]
    schedules = data["schedulesOrError"]["results"]
    assert schedules == [{"name": "daily_inbox_run", "cronSchedule": "0 6 * * *",
                          "executionTimezone": "Asia/Shanghai", "pipelineName": "pifu_job"}]
