"""warehouse_tables -> bi_views: the run's staged tables loaded in one transaction; the BI views."""

import json
import time

import dagster as dg

from assets.metadata import STAGES, md_table, record_seconds, release_memory, run_seconds
from pifu import lake, staging
from pifu.faults import pause_at
import assets.lake
from assets.lake import lake_tables
from pipelines.partitions import PARTITIONED, stage_dir
from pipelines.resources import PifuSettings, RunLockResource, WarehouseResource


# Warehouse URL -> the run whose warehouse_tables step, in this process, had its load create whatever
# tables, keys and views were missing (warehouse.load.load runs create_all first). bi_views of the same
# run then skips its own create_all (~0.05-0.15 s, every run, however few its files); bi_views run alone
# (the UI), by another run or in another process (a multiprocess executor) finds no entry and runs it.
_SCHEMA_READY: dict[str, str] = {}


@dg.asset(**PARTITIONED, deps=[lake_tables], description="The star schema in the SQL warehouse (DuckDB or "
          "PostgreSQL), loaded in one transaction per run; the same file twice changes nothing.")
def warehouse_tables(context: dg.AssetExecutionContext, settings: PifuSettings,
                     warehouse: WarehouseResource, run_lock: RunLockResource) -> dg.MaterializeResult:
    from warehouse.load import load, table_counts

    started = time.perf_counter()
    release_memory()  # what the lake step freed
    stage = stage_dir(context, settings)
    snapshot = json.loads((stage / "snapshot.json").read_text(encoding="utf-8"))["snapshot"]
    # Chunk by chunk, in one transaction: memory is bounded by the chunk, not the run.
    chunks = staging.chunks(stage, assets.lake.CHUNK_DOCUMENTS) if staging.batches(stage) else staging.read(stage)
    with warehouse.engine() as engine:
        stats = load(engine, chunks, run_id=context.run_id, lake_snapshot=snapshot)
        totals = table_counts(engine)
    _SCHEMA_READY[warehouse.resolved_url()] = context.run_id
    pause_at("publish")
    lake.publish(snapshot)  # after the commit: a run killed in the load leaves the lake as it was too
    seconds_meta = record_seconds(stage, {"warehouse": time.perf_counter() - started})
    stages = run_seconds(stage)
    staging.discard(stage)  # removed while bi_views and report run
    _tag_run(context, stages)
    context.log.info(f"loaded into {warehouse.display_url()}: {stats}")
    return dg.MaterializeResult(metadata={
        **seconds_meta,
        "stage_seconds": dg.MetadataValue.json({k: stages[k] for k in STAGES if k in stages}),
        "warehouse": warehouse.display_url(),
        "lake_snapshot": snapshot,
        "inserted": md_table(sorted(stats.items()), ["table", "rows inserted"]),
        "table_rows": md_table(sorted(totals.items()), ["table", "rows"]),
        **{f"rows_{k}": dg.MetadataValue.int(int(v)) for k, v in totals.items()},
    })


def _tag_run(context, stages: dict) -> None:
    """Seconds per stage as tags of the run: the UI's run page shows them beside the run."""
    try:
        context.instance.add_run_tags(context.run_id, {f"pifu/seconds/{k}": f"{stages[k]:.2f}"
                                                       for k in STAGES if k in stages})
    except Exception as e:  # noqa: BLE001 (figures for people; never fail a loaded run over them)
        context.log.warning(f"stage seconds not tagged: {e}")


# Views whose rows are counted in the step's metadata. The indicator views are left out: each count
# evaluates its window over every indicator value of the warehouse (~1.2 CPU s at 10,000 documents,
# most of a small run's own work), so their size would grow every run's time with the warehouse.
COUNTED_VIEWS = ("v_funding_by_department", "v_funding_by_region", "v_funding_items", "v_findings")
PREVIEW_ROWS = 20


@dg.asset(group_name="pifu", deps=[warehouse_tables], description="Views BI tools query: v_funding_by_department, "
          "v_funding_by_region, v_indicator_targets, v_indicator_usage.")
def bi_views(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    from sqlalchemy import text

    from warehouse.schema import create_all

    meta = {}
    with warehouse.engine() as engine:
        if _SCHEMA_READY.get(warehouse.resolved_url()) != context.run_id:
            create_all(engine)
        with engine.connect() as conn:
            # v_funding_by_region's rows, counted and previewed: the view evaluated once, not twice
            result = conn.execute(text("select * from v_funding_by_region order by region, year"))
            columns, regions = list(result.keys()), result.all()
            for name in COUNTED_VIEWS:
                n = len(regions) if name == "v_funding_by_region" else conn.execute(
                    text(f"select count(*) from {name}")).scalar()
                meta[f"{name}_rows"] = dg.MetadataValue.int(n)
    meta["preview_v_funding_by_region"] = md_table(regions[:PREVIEW_ROWS], columns if regions else ["region"])
    return dg.MaterializeResult(metadata=meta)
