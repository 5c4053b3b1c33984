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
    # SQLite under DAGSTER_HOME, through the pooled storage (pipelines/dagster_storage.py)
    assert yaml.safe_load(written)["storage"] == {"custom": {
        "module": "pipelines.dagster_storage", "class": "PooledSqliteStorage",
        "config": {"base_dir": {"env": "DAGSTER_HOME"}}}}
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
    text = (ensure_dagster_home() / "dagster.yaml").read_text(encoding="utf-8")
    config = yaml.safe_load(text)
    assert config["storage"] == {"postgres": {"postgres_url": {"env": "PIFU_DAGSTER_PG_URL"}}}
    assert "PooledSqliteStorage" not in text  # the local block is replaced, not followed by a second one
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


def test_a_run_on_sqlite_opens_few_connections_and_the_ui_sees_all_its_events(env):
    """Dagster's own SQLite storages build an engine and a connection per event (~200 in a small run);
    the pooled storage reuses one per database file. The files are the default storage's."""
    import sqlalchemy as sa

    from pipelines.run import run_pipeline

    generate(2, env / "inbox", seed=22)
    opened = []

    def count(dbapi_connection, _record):
        if type(dbapi_connection).__module__ == "sqlite3":
            opened.append(dbapi_connection)

    sa.event.listen(sa.engine.Engine, "connect", count)
    try:
        out = io.StringIO()
        assert run_pipeline([str(env / "inbox")], out=out) == 0, out.getvalue()
    finally:
        sa.event.remove(sa.engine.Engine, "connect", count)
    home = Path(os.environ["DAGSTER_HOME"])
    assert (home / "history" / "runs.db").exists() and (home / "history" / "runs" / "index.db").exists()
    assert len(opened) < 60, len(opened)  # 23 here; 411 through Dagster's own storages
    # another process's view of the instance (the UI's): Dagster's default storage over the same files
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    with dg.DagsterInstance.get() as instance:
        assert type(instance.event_log_storage).__name__ == "SqliteEventLogStorage"
        [run] = instance.get_runs()
        assert run.status == dg.DagsterRunStatus.SUCCESS
        events = instance.all_logs(run.run_id)
        assert sum(e.dagster_event_type == dg.DagsterEventType.ASSET_MATERIALIZATION for e in events
                   if e.is_dagster_event) >= 6
        assert instance.get_latest_materialization_event(dg.AssetKey("report")) is not None


def test_dagster_storages_share_one_alembic_script_directory_with_alembics_own_head(env):
    """pipelines.dagster_storage builds alembic's ScriptDirectory once for all of Dagster's SQLite
    storages: the same object for each storage's config, the head a directory built afresh gives, and a
    new home's databases (runs, schedules, the event index shard) stamped with that head."""
    import sqlite3

    import dagster._core.storage.event_log.sqlite.sqlite_event_log as event_log
    import dagster._core.storage.runs.sqlite.sqlite_run_storage as runs
    import dagster._core.storage.schedules.sqlite.sqlite_schedule_storage as schedules
    from alembic.script import ScriptDirectory
    from alembic.util import coerce_resource_to_filename
    from dagster._core.storage.sql import get_alembic_config

    from pipelines.instance import open_instance

    with open_instance():  # a new home: its storages are created and stamped through the shared directory
        pass
    shared = [ScriptDirectory.from_config(get_alembic_config(m.__file__)) for m in (runs, event_log, schedules)]
    assert shared[0] is shared[1] is shared[2]
    head = ScriptDirectory(coerce_resource_to_filename("dagster:_core/storage/alembic")).get_current_head()
    assert shared[0].get_current_head() == head
    home = env / "dagster"
    for db in (home / "history" / "runs.db", home / "history" / "runs" / "index.db", home / "schedules" / "schedules.db"):
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(head,)], db
