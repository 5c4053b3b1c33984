"""The bi_views asset: its views and their counts, after the load of the same run and materialized alone."""
import dagster as dg
import pytest
import sqlalchemy as sa

import warehouse.load  # noqa: F401  (binds the real create_all before the fixture wraps the module's)
import warehouse.schema
from assets.metadata import md_table
from pifu.generate import generate
from pipelines.definitions import defs
from storage_fixtures import _drop_session_schemas, warehouse_url  # noqa: F401  (fixtures)
from test_sensor import env, instance, tick  # noqa: F401  (fixtures)
from warehouse.engine import engine_for
from warehouse.views import VIEWS


@pytest.fixture
def create_all_calls(monkeypatch) -> list:
    """bi_views' own create_all calls (it imports the function when it runs; the load holds its own name)."""
    calls = []
    real = warehouse.schema.create_all

    def counted(engine, *args, **kwargs):
        calls.append(engine.url)
        return real(engine, *args, **kwargs)

    monkeypatch.setattr(warehouse.schema, "create_all", counted)
    return calls


def views_meta(result) -> dict:
    [event] = [e for e in result.get_asset_materialization_events()
               if e.materialization.asset_key == dg.AssetKey("bi_views")]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def expected_meta(url: str) -> dict:
    """bi_views' metadata as one query a figure computes it."""
    with engine_for(url) as engine, engine.connect() as conn:
        counts = {f"{name}_rows": conn.execute(sa.text(f"select count(*) from {name}")).scalar()
                  for name in ("v_funding_by_department", "v_funding_by_region", "v_funding_items", "v_findings")}
        rows = conn.execute(sa.text("select * from v_funding_by_region order by region, year limit 20")).all()
    return {**counts, "preview_v_funding_by_region": md_table(rows, list(rows[0]._fields)).value}


def view_names(url: str) -> set[str]:
    with engine_for(url) as engine, engine.connect() as conn:
        return set(sa.inspect(conn).get_view_names())


def test_bi_views_after_the_runs_load_and_alone(env, instance, create_all_calls, warehouse_url, monkeypatch):
    monkeypatch.setenv("PIFU_WAREHOUSE_URL", warehouse_url)
    url = warehouse_url
    generate(3, env / "inbox", seed=21)
    job = defs.resolve_job_def("pifu_job")
    [run] = tick(instance).run_requests
    result = job.execute_in_process(run_config=run.run_config, tags=run.tags, instance=instance, raise_on_error=False)
    assert result.success
    # the load of this run created the views; bi_views did not do it again
    assert create_all_calls == []
    assert set(VIEWS) <= view_names(url)
    meta = views_meta(result)
    assert meta == expected_meta(url)
    assert meta["v_funding_by_department_rows"] == 3

    # materialized alone (the UI), on a warehouse that lost a view: bi_views creates it
    with engine_for(url) as engine, engine.begin() as conn:
        conn.exec_driver_sql("DROP VIEW v_funding_by_region")
    alone = job.execute_in_process(instance=instance, asset_selection=[dg.AssetKey("bi_views")], raise_on_error=False)
    assert alone.success
    assert len(create_all_calls) == 1
    assert set(VIEWS) <= view_names(url)
    assert views_meta(alone) == meta
