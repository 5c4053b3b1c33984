"""The code location: `dagster dev` from the project root finds `defs` through pyproject's [tool.dagster]."""
from __future__ import annotations

import dagster as dg

from assets import ingest, lake, warehouse
from assets import report
from pipelines.resources import PifuSettings, RunLockResource, WarehouseResource
from pipelines.sensors import daily_inbox_run, inbox_sensor
from pipelines.sqlite_sync import install as _sqlite_sync

_sqlite_sync()  # runs the daemon or the UI launch write their events as `pifu run` does (PIFU_DAGSTER_SQLITE_SYNC)

# Configured at launch, so a run's settings (its region above all) reach the resources that nest them.
_settings = PifuSettings.configure_at_launch()
_warehouse = WarehouseResource(settings=_settings)

pifu_job = dg.define_asset_job(
    "pifu_job",
    selection=dg.AssetSelection.groups("pifu"),
    executor_def=dg.in_process_executor,  # parsing fans out in its own pool; steps share one process
    description="Files -> parsed documents -> checked Parquet lake -> warehouse -> BI views -> report.",
)

defs = dg.Definitions(
    assets=dg.load_assets_from_modules([ingest, lake, warehouse, report]),
    jobs=[pifu_job],
    sensors=[inbox_sensor],
    schedules=[daily_inbox_run],
    resources={"settings": _settings, "warehouse": _warehouse,
               "run_lock": RunLockResource(settings=_settings, warehouse=_warehouse)},
)
