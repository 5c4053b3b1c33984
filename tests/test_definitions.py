"""The code location an operator loads: what `dagster dev` / the UI finds in pipelines.definitions."""
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from expectations import CHECKS
from pipelines.definitions import defs
from pipelines.partitions import fiscal_years

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ["raw_files", "parsed_documents", "lake_tables", "warehouse_tables", "bi_views", "report"]
CONTRACT_CHECKS = {"funding_components_sum_to_total", "funding_share_matches_amount", "funding_shares_sum_to_100",
                   "income_equals_expenditure", "indicator_value_in_range"}


def test_the_definitions_load_and_resolve():
    dg.Definitions.validate_loadable(defs)
    assert "pifu_job" in {job.name for job in defs.resolve_all_job_defs()}


def test_the_job_runs_the_five_assets_in_order_as_one_process():
    job = defs.resolve_job_def("pifu_job")
    graph = defs.resolve_asset_graph()
    assert sorted(k.to_user_string() for k in job.asset_layer.executable_asset_keys) == sorted(ASSETS)
    assert job.executor_def is dg.in_process_executor
    upstream = {k.to_user_string(): sorted(p.to_user_string() for p in graph.get(k).parent_keys)
                for k in graph.get_all_asset_keys()}
    assert upstream == {"raw_files": [], "parsed_documents": ["raw_files"], "lake_tables": ["parsed_documents"],
                        "warehouse_tables": ["lake_tables"], "bi_views": ["warehouse_tables"], "report": ["bi_views"]}


def test_every_asset_but_the_views_is_a_fiscal_year_partition_run_as_one_range():
    for name in ASSETS:
        node = defs.resolve_asset_graph().get(dg.AssetKey(name))
        assert node.group_name == "pifu"
        if name in ("bi_views", "report"):
            assert node.partitions_def is None
            continue
        assert node.partitions_def == fiscal_years and fiscal_years.name == "fiscal_year"
        assert node.backfill_policy == dg.BackfillPolicy.single_run()


def test_lake_tables_carries_every_check_of_the_registry_and_the_accounting_check():
    keys = defs.resolve_asset_graph().asset_check_keys
    by_asset = {}
    for key in keys:
        by_asset.setdefault(key.asset_key.to_user_string(), set()).add(key.name)
    assert set(by_asset) == {"lake_tables"}
    names = by_asset["lake_tables"]
    assert CONTRACT_CHECKS <= names
    assert names == set(CHECKS) | {"every_input_accounted_for"}
    # errors (broken pipeline invariants) block the warehouse load; findings in the source data do not
    checks = {spec.name: spec for spec in defs.resolve_assets_def("lake_tables").check_specs}
    assert not any(checks[name].blocking for name in CONTRACT_CHECKS)
    assert checks["every_input_accounted_for"].blocking
    assert all(checks[name].blocking == (spec.severity == "error") for name, spec in CHECKS.items())


def test_the_sensor_and_the_schedule_start_the_job():
    sensor = defs.resolve_sensor_def("inbox_sensor")
    assert sensor.job_name == "pifu_job"
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    schedule = defs.resolve_schedule_def("daily_inbox_run")
    assert schedule.job_name == "pifu_job"
    assert schedule.cron_schedule == "0 6 * * *" and schedule.execution_timezone == "Asia/Shanghai"


def test_dagster_definitions_validate_finds_the_code_location_from_pyproject(tmp_path):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "PIFU_DATA_DIR": str(tmp_path / "data")}
    (tmp_path / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    dagster = Path(sys.executable).with_name("dagster")
    done = subprocess.run([str(dagster), "definitions", "validate"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log
    assert "Validation successful for code location pifu" in log
