"""Regions (pifu.regions): each region's runs load a lake, a warehouse and run locks of their own, so two
regions' runs proceed at the same time; the national roll-up reads every region's lake. Concurrent runs
are real `pifu run` subprocesses against PostgreSQL, stopped on the markers PIFU_TEST_PAUSE_AT prints,
never on a timer."""
import os
import signal
import subprocess
import threading

import dagster as dg
import duckdb
import pytest
import sqlalchemy as sa

from pifu import lake, regions
from pifu.generate import generate
from storage_fixtures import SESSION, _drop_session_schemas, drop_pg_schema, pg_url_for, run_in_process  # noqa: F401
from test_run_safety import (PIFU_RUN, home, lake_documents, read_until, start,  # noqa: F401
                             warehouse_documents, watched)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def root(home, tmp_path, monkeypatch):
    """test_run_safety's `home` (data, instance, lake and a DuckDB warehouse in tmp_path), no region."""
    for name in ("PIFU_REGION", "PIFU_INBOX_REGIONS"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def stop_if_waiting(child: subprocess.Popen) -> list[str]:
    """Collect the run's stderr; a run that says it waits for a lock is stopped there, so the test fails
    at once instead of when the other run lets go."""
    lines: list[str] = []

    def follow():
        for line in child.stderr:
            lines.append(line)
            if "waiting for" in line:
                os.killpg(child.pid, signal.SIGKILL)

    threading.Thread(target=follow, daemon=True).start()
    return lines


def column(url: str, sql: str) -> list:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.exec_driver_sql(sql).scalars())
    finally:
        engine.dispose()


def test_two_regions_runs_at_once_on_postgresql_neither_waits_and_each_keeps_its_own(root, monkeypatch):
    base = f"{SESSION}_regions_{os.getpid()}"  # this test's schema prefix: <base>_<region>
    monkeypatch.setenv("PIFU_WAREHOUSE_URL", pg_url_for(base))
    hubei, hunan = root / "in" / "hubei", root / "in" / "hunan"
    generate(3, hubei, seed=21)
    generate(2, hunan, seed=22)
    try:
        first = start("--region", "hubei", hubei, pause="load")  # holds hubei's locks, mid-transaction
        with watched(first):
            lines = read_until(first.stdout, "PAUSED load")
            assert lines[-1].strip() == "PAUSED load", "".join(lines) + first.stderr.read()
            # hunan reaches its own load while hubei holds its locks: it did not wait for them
            second = start("--region", "hunan", hunan, pause="load")
            with watched(second):
                errors = stop_if_waiting(second)
                lines = read_until(second.stdout, "PAUSED load")
                assert lines and lines[-1].strip() == "PAUSED load", "".join(lines) + "".join(errors)
                for child in (first, second):
                    child.stdin.write("\n")
                    child.stdin.flush()
                for child in (first, second):
                    assert child.wait() == 0, child.stdout.read()
                assert not [line for line in errors + first.stderr.readlines() if "waiting for" in line]

        urls = {r: regions.warehouse_url(pg_url_for(base), r) for r in ("hubei", "hunan")}
        assert urls["hubei"].endswith(f"search_path%3D{base}_hubei")
        for region, folder, count in (("hubei", hubei, 3), ("hunan", hunan, 2)):
            documents = warehouse_documents(urls[region])
            assert len(documents) == count
            assert lake_documents(root / "lake" / "regions" / region) == documents
            assert all(p.startswith(str(folder)) for p in column(urls[region], "SELECT source_path FROM fact_document"))
        assert not warehouse_documents(urls["hubei"]) & warehouse_documents(urls["hunan"])
        assert lake.current_snapshot(root / "lake") is None  # nothing of theirs outside the regions

        national = regions.national(root / "lake", "fact_document")
        assert national.column_names[0] == "region"
        by_region = duckdb.sql("SELECT region, list(document_id) FROM national GROUP BY region").fetchall()
        assert {r: set(ids) for r, ids in by_region} == {r: warehouse_documents(u) for r, u in urls.items()}
        funding = regions.national(root / "lake", "fact_funding")  # docs/scaling.md's query, exact decimals
        totals = duckdb.sql("SELECT region, sum(amount) FROM funding GROUP BY ALL").fetchall()
        assert dict(totals) == {r: column(u, "SELECT sum(amount) FROM fact_funding")[0] for r, u in urls.items()}

        with dg.DagsterInstance.get() as instance:  # the runs are tagged for the queue's per-region limit
            tagged = {run.tags.get("pifu/region") for run in instance.get_runs()}
        assert tagged == {"hubei", "hunan"}

        again = subprocess.run(PIFU_RUN + ["--region", "hubei", str(hubei)], capture_output=True, text=True,
                               timeout=300)
        assert again.returncode == 0 and "nothing to do" in again.stdout, again.stdout + again.stderr
    finally:
        for region in ("hubei", "hunan"):
            drop_pg_schema(f"{base}_{region}")


def test_without_a_region_nothing_moves_and_a_region_on_duckdb_sits_beside(root):
    box, hubei = root / "box", root / "hubei"
    generate(2, box, seed=31)
    generate(1, hubei, seed=32)
    code, out = run_in_process(box)
    assert code == 0, out
    url = os.environ["PIFU_WAREHOUSE_URL"]
    assert len(warehouse_documents(url)) == 2 == len(lake_documents(root / "lake"))
    assert not (root / "lake" / "regions").exists() and not (root / "data" / "regions").exists()
    assert regions.national(root / "lake", "fact_document").num_rows == 0  # no region lake yet

    from pipelines.run import run_pipeline

    try:
        assert run_pipeline([str(hubei)], region="Hubei", out=open(os.devnull, "w")) == 0
    finally:
        os.environ.pop("PIFU_REGION", None)  # run_pipeline sets it, as the CLI flag does
    regional = f"duckdb:///{root / 'warehouse_hubei.duckdb'}"
    assert len(warehouse_documents(regional)) == 1 == len(lake_documents(root / "lake" / "regions" / "hubei"))
    assert len(warehouse_documents(url)) == 2 == len(lake_documents(root / "lake"))  # untouched
    assert (root / "data" / "regions" / "hubei" / "report" / "report.html").exists()
    national = regions.national(root / "lake", "fact_document")
    assert set(national["region"].to_pylist()) == {"hubei"} and national.num_rows == 1


def test_the_sensor_starts_one_run_per_region_folder_that_loads_that_region(root, monkeypatch):
    from pipelines.definitions import defs
    from pipelines.sensors import inbox_sensor

    inbox = root / "inbox"
    monkeypatch.setenv("PIFU_INBOX", str(inbox))
    monkeypatch.setenv("PIFU_INBOX_REGIONS", "1")
    generate(1, inbox / "Hubei", seed=41)
    generate(1, inbox / "湖南", seed=42)
    stray = generate(1, inbox, seed=43)[0]  # in no region's folder: left alone
    with dg.instance_for_test() as instance:
        tick = inbox_sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs))
        requests = {r.tags["pifu/region"]: r for r in tick.run_requests}
        assert set(requests) == {"hubei", "湖南"}
        for region, request in requests.items():
            files = request.run_config["ops"]["raw_files"]["config"]["sources"]
            assert len(files) == 1 and str(stray) not in files
            assert request.run_config["resources"]["settings"]["config"]["region"] == region
            assert request.run_key.startswith(f"{region}-")
        # A run launched with that config, as the daemon launches it, loads the region's lake and warehouse.
        result = defs.resolve_job_def("pifu_job").execute_in_process(
            run_config=requests["湖南"].run_config, instance=instance, tags=requests["湖南"].tags)
        assert result.success
    assert len(warehouse_documents(f"duckdb:///{root / 'warehouse_湖南.duckdb'}")) == 1
    assert len(lake_documents(root / "lake" / "regions" / "湖南")) == 1
    assert not (root / "warehouse.duckdb").exists() and lake.current_snapshot(root / "lake") is None

    from datetime import datetime
    from zoneinfo import ZoneInfo

    from pipelines.sensors import daily_inbox_run

    when = datetime(2026, 3, 2, 6, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    with dg.instance_for_test() as instance:
        daily = daily_inbox_run.evaluate_tick(dg.build_schedule_context(instance=instance,
                                                                         scheduled_execution_time=when))
    assert {r.run_key: r.run_config["ops"]["raw_files"]["config"]["sources"] for r in daily.run_requests} == {
        "daily-2026-03-02-hubei": [str(inbox / "Hubei")], "daily-2026-03-02-湖南": [str(inbox / "湖南")]}


def test_region_names_become_safe_slugs_or_are_refused():
    assert regions.slug(" Hubei ") == "hubei" and regions.slug("hu-bei east") == "hu_bei_east"
    assert regions.slug("湖北") == "湖北"
    for bad in ("a/b", "..", "a.b", "1st", "", "x'y", "a\\b", "x" * 41, "湖" * 14):
        with pytest.raises(regions.RegionError):
            regions.slug(bad)
    assert regions.lake("s3://bucket/prod/", "Hubei") == "s3://bucket/prod/regions/hubei"
    assert regions.warehouse_url("duckdb:////srv/pifu/warehouse.duckdb", "hubei") == \
        "duckdb:////srv/pifu/warehouse_hubei.duckdb"
    pg = "postgresql+psycopg://u@h:5432/db"
    assert regions.warehouse_url(pg, "hubei") == f"{pg}?options=-csearch_path%3Dpifu_hubei"
    other = regions.warehouse_url(f"{pg}?options=-c%20statement_timeout%3D0%20-csearch_path%3Dbudget,public", "hb")
    assert sa.make_url(other).query["options"] == "-c statement_timeout=0 -csearch_path=budget_hb"


def test_the_documented_cluster_instance_limits_one_run_per_region():
    from dagster._core.instance.config import dagster_instance_config

    config, _ = dagster_instance_config(os.path.join(ROOT, "docs"), "dagster-cluster.yaml")
    runs = config["concurrency"]["runs"]
    assert runs["max_concurrent_runs"] >= 2
    assert {"key": "pifu/region", "value": {"applyLimitPerUniqueValue": True}, "limit": 1} in \
        runs["tag_concurrency_limits"]
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
