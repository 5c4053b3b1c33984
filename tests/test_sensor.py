"""The inbox sensor and the daily schedule, evaluated against a real (temporary) Dagster instance."""
import json
import os
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
import sqlalchemy as sa

from pifu.generate import generate
from pipelines.definitions import defs
from pipelines.partitions import RANGE_END, RANGE_START, fiscal_years
from pipelines.sensors import daily_inbox_run, inbox_sensor, new_files

T0 = 4_000_000_000 * 10**9  # explicit mtimes (ns), later than any ctime: the tests never depend on the clock


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("PIFU_INBOX", str(tmp_path / "inbox"))
    monkeypatch.setenv("PIFU_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PIFU_LAKE_DIR", str(tmp_path / "lake"))
    monkeypatch.setenv("PIFU_WAREHOUSE_URL", f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    monkeypatch.setenv("PIFU_WORKERS", "1")
    return tmp_path


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


def year_of(path: Path) -> str:
    return str(json.loads(path.with_name(path.stem + ".truth.json").read_text(encoding="utf-8"))["fiscal_year"])


def put(count: int, folder: Path, seed: int, mtime_ns: int) -> dict[str, str]:
    """`count` generated documents in `folder`, all with the given mtime; path -> fiscal year."""
    paths = generate(count, folder, seed=seed)
    for p in paths:
        os.utime(p, ns=(mtime_ns, mtime_ns))
    return {str(p): year_of(p) for p in paths}


def tick(instance, cursor=None):
    return inbox_sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs))


def sources(request: dg.RunRequest) -> list[str]:
    return request.run_config["ops"]["raw_files"]["config"]["sources"]


def years_in_range(instance, request: dg.RunRequest) -> list[str]:
    keys = fiscal_years.get_partition_keys(dynamic_partitions_store=instance)
    return keys[keys.index(request.tags[RANGE_START]):keys.index(request.tags[RANGE_END]) + 1]


def test_new_files_make_one_run_over_their_years_and_only_new_or_touched_files_make_another(env, instance):
    inbox = env / "inbox"
    first = put(3, inbox, seed=3, mtime_ns=T0)
    assert len(set(first.values())) >= 2  # a range worth the name

    data = tick(instance)
    assert data.skip_message is None and len(data.run_requests) == 1
    run = data.run_requests[0]
    assert sorted(sources(run)) == sorted(first)
    assert run.run_config["ops"]["raw_files"]["config"]["force"] is False
    assert set(instance.get_dynamic_partitions("fiscal_year")) == set(first.values())
    span = years_in_range(instance, run)
    assert set(span) == set(first.values())  # covers them all, nothing else exists yet
    assert {run.tags[RANGE_START], run.tags[RANGE_END]} <= set(first.values())
    assert run.tags["pifu/trigger"] == "inbox_sensor" and run.tags["pifu/files"] == "3"
    assert run.run_key

    again = tick(instance, data.cursor)
    assert again.run_requests == [] and "no new files" in again.skip_message
    assert again.cursor == data.cursor

    later = put(1, inbox / "later", seed=11, mtime_ns=T0 + 10**9)
    touched = sorted(first)[1]
    os.utime(touched, ns=(T0 + 2 * 10**9, T0 + 2 * 10**9))
    third = tick(instance, again.cursor)
    assert len(third.run_requests) == 1
    run2 = third.run_requests[0]
    assert sorted(sources(run2)) == sorted([*later, touched])
    assert run2.tags["pifu/files"] == "2" and run2.run_key != run.run_key
    wanted = {*later.values(), first[touched]}
    assert set(instance.get_dynamic_partitions("fiscal_year")) == set(first.values()) | wanted
    span2 = years_in_range(instance, run2)
    assert wanted <= set(span2) and {span2[0], span2[-1]} <= wanted  # the smallest span holding them

    assert tick(instance, third.cursor).run_requests == []


def test_a_file_arriving_with_the_newest_mtime_seen_is_picked_once(tmp_path):
    box = tmp_path / "box"
    put(2, box, seed=5, mtime_ns=T0)
    files, cursor = new_files(str(box), None)
    assert len(files) == 2
    extra = put(1, box / "same-second", seed=6, mtime_ns=T0)  # same mtime as the cursor's newest
    files, cursor = new_files(str(box), cursor)
    assert files == list(extra)
    assert new_files(str(box), cursor)[0] == []


def test_a_file_moved_into_the_inbox_with_an_old_mtime_is_new(tmp_path):
    """`mv`, `cp -p`, `rsync -a` and unzip keep a file's mtime: its arrival shows only in its ctime."""
    box, outside = tmp_path / "box", tmp_path / "downloads"
    generate(2, box, seed=5)
    files, cursor = new_files(str(box), None)
    assert len(files) == 2
    old = generate(1, outside, seed=6)[0]
    os.utime(old, ns=(10**18, 10**18))  # 2001: long before anything in the inbox
    (box / "moved").mkdir()
    moved = old.rename(box / "moved" / old.name)
    files, cursor = new_files(str(box), cursor)
    assert files == [str(moved)]
    assert new_files(str(box), cursor)[0] == []


def test_a_missing_inbox_skips(env, instance):
    data = tick(instance)
    assert data.run_requests == [] and str(env / "inbox") in data.skip_message
    assert instance.get_dynamic_partitions("fiscal_year") == []


def schedule_tick(instance, when: datetime):
    context = dg.build_schedule_context(instance=instance, scheduled_execution_time=when)
    return daily_inbox_run.evaluate_tick(context)


def test_the_schedule_skips_an_empty_inbox_and_otherwise_runs_the_whole_inbox_once_a_day(env, instance):
    when = datetime(2026, 3, 2, 6, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    (env / "inbox").mkdir()
    data = schedule_tick(instance, when)
    assert data.run_requests == [] and "empty" in data.skip_message

    docs = put(2, env / "inbox", seed=8, mtime_ns=T0)
    data = schedule_tick(instance, when)
    assert len(data.run_requests) == 1
    run = data.run_requests[0]
    assert run.run_key == "daily-2026-03-02"
    assert sources(run) == [str(env / "inbox")]  # the whole inbox: content already loaded is skipped by raw_files
    assert set(docs.values()) <= set(years_in_range(instance, run))
    assert run.tags["pifu/trigger"] == "daily_inbox_run"


def test_the_sensors_run_request_executes_and_loads_exactly_its_files(env, instance):
    docs = put(3, env / "inbox", seed=3, mtime_ns=T0)
    put(1, env / "elsewhere", seed=4, mtime_ns=T0)  # not in the inbox: must not be loaded
    run = tick(instance).run_requests[0]

    result = defs.resolve_job_def("pifu_job").execute_in_process(
        run_config=run.run_config, tags=run.tags, instance=instance, raise_on_error=False)
    assert result.success
    stored = instance.get_run_by_id(result.run_id)
    assert stored.tags[RANGE_START] == run.tags[RANGE_START] and stored.tags["pifu/trigger"] == "inbox_sensor"
    materialized = {(e.materialization.asset_key.to_user_string(), e.materialization.partition)
                    for e in result.get_asset_materialization_events()}
    for year in set(docs.values()):
        assert ("warehouse_tables", year) in materialized
    assert ("bi_views", None) in materialized
    checks = result.get_asset_check_evaluations()
    assert {c.check_name for c in checks} >= {"funding_components_sum_to_total", "every_input_accounted_for"}
    assert all(c.passed for c in checks)  # clean generated documents

    engine = sa.create_engine(os.environ["PIFU_WAREHOUSE_URL"])
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("select source_path, fiscal_year from fact_document")).all()
    finally:
        engine.dispose()
    assert sorted((p, str(y)) for p, y in rows) == sorted(docs.items())
