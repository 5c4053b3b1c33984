"""The Dagster instance `pifu run` and the UI share: its dagster.yaml, on SQLite and on a real PostgreSQL."""
import io
import json
import os
import uuid
from pathlib import Path

import dagster as dg
import psycopg
import pytest
import yaml

from pifu.generate import generate
from pipelines.instance import ROOT, ensure_dagster_home

ADMIN_URL = os.environ.get("PIFU_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("PIFU_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    # run_pipeline writes these two into os.environ: set here, monkeypatch puts them back afterwards
    monkeypatch.setenv("PIFU_LAKE_DIR", str(tmp_path / "lake"))
    monkeypatch.setenv("PIFU_WAREHOUSE_URL", f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    monkeypatch.setenv("PIFU_WORKERS", "1")
    monkeypatch.delenv("PIFU_DAGSTER_STORAGE", raising=False)
    return tmp_path


def test_a_fresh_home_gets_the_projects_dagster_yaml_and_keeps_an_edited_one(env):
    home = ensure_dagster_home()
    assert home == env / "dagster"
    written = (home / "dagster.yaml").read_text(encoding="utf-8")
    assert written == (ROOT / "dagster.yaml").read_text(encoding="utf-8")
    assert "storage" not in yaml.safe_load(written)  # SQLite under DAGSTER_HOME
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    ensure_dagster_home()
    assert (home / "dagster.yaml").read_text(encoding="utf-8") == "telemetry:\n  enabled: false\n"


def test_without_dagster_home_the_instance_lives_in_the_data_dir(env, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", "set-so-that-monkeypatch-restores-it")
    monkeypatch.delenv("DAGSTER_HOME")
    assert ensure_dagster_home() == env / "data" / "dagster"
    assert os.environ["DAGSTER_HOME"] == str(env / "data" / "dagster")
    assert (env / "data" / "dagster" / "dagster.yaml").exists()


def test_postgres_storage_is_written_as_a_block_reading_the_url_from_the_environment(env, monkeypatch):
    monkeypatch.setenv("PIFU_DAGSTER_STORAGE", "postgres")
    config = yaml.safe_load((ensure_dagster_home() / "dagster.yaml").read_text(encoding="utf-8"))
    assert config["storage"] == {"postgres": {"postgres_url": {"env": "PIFU_DAGSTER_PG_URL"}}}
    assert config["telemetry"] == {"enabled": False}  # the rest of the project's file is kept


def test_a_bare_postgresql_url_is_pinned_to_the_driver_dagster_postgres_is_written_for(env, monkeypatch):
    monkeypatch.setenv("PIFU_DAGSTER_PG_URL", "postgresql://u:p@db:5432/dagster")
    ensure_dagster_home()
    assert os.environ["PIFU_DAGSTER_PG_URL"] == "postgresql+psycopg2://u:p@db:5432/dagster"
    monkeypatch.setenv("PIFU_DAGSTER_PG_URL", "postgresql+pg8000://u@db/dagster")  # a driver chosen stays
    ensure_dagster_home()
    assert os.environ["PIFU_DAGSTER_PG_URL"] == "postgresql+pg8000://u@db/dagster"


@pytest.fixture
def dagster_database():
    """A throwaway PostgreSQL database for the Dagster instance; dropped with whatever still uses it."""
    name = f"pifu_dagster_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield name
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
            admin.execute(f"DROP DATABASE IF EXISTS {name}")


def test_a_run_is_recorded_in_the_postgres_instance(env, monkeypatch, dagster_database):
    from pipelines.run import run_pipeline

    db_url = f"postgresql://postgres@127.0.0.1:5432/{dagster_database}"
    monkeypatch.setenv("PIFU_DAGSTER_STORAGE", "postgres")
    monkeypatch.setenv("PIFU_DAGSTER_PG_URL", db_url)
    doc = generate(1, env / "inbox", seed=21)[0]
    out = io.StringIO()
    code = run_pipeline([str(env / "inbox")], warehouse_url=os.environ["PIFU_WAREHOUSE_URL"],
                        lake_dir=os.environ["PIFU_LAKE_DIR"], out=out)
    assert code == 0, out.getvalue()
    assert "loaded: 1 documents" in out.getvalue()

    home = Path(os.environ["DAGSTER_HOME"])
    assert not list(home.rglob("*.db"))  # nothing went to SQLite
    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        runs = instance.get_runs()
        assert len(runs) == 1
        run = runs[0]
        assert run.job_name == "pifu_job" and run.status == dg.DagsterRunStatus.SUCCESS
        assert run.tags["pifu/trigger"] == "cli"
        year = run.tags["dagster/asset_partition_range_start"]
        assert year == run.tags["dagster/asset_partition_range_end"]
        assert year == str(json.loads(doc.with_name(f"{doc.stem}.truth.json").read_text("utf-8"))["fiscal_year"])
        assert instance.get_dynamic_partitions("fiscal_year") == [year]
        mat = instance.get_latest_materialization_event(dg.AssetKey("warehouse_tables"))
        assert mat is not None and mat.run_id == run.run_id
        assert mat.asset_materialization.partition == year

    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM runs WHERE status = 'SUCCESS'").fetchone()[0] == 1
        assert conn.execute("SELECT count(*) FROM event_logs WHERE run_id = %s AND dagster_event_type = "
                            "'ASSET_CHECK_EVALUATION'", (run.run_id,)).fetchone()[0] > 0

    # the same file again: nothing to do, and no run recorded for it
    out = io.StringIO()
    assert run_pipeline([str(env / "inbox")], out=out) == 0 and "nothing to do" in out.getvalue()
    with dg.DagsterInstance.get() as instance:
        assert len(instance.get_runs()) == 1
