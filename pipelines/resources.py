"""Each outside system behind a resource: the settings (paths), the lake, the warehouse."""
# No `from __future__ import annotations`: Dagster must see the nested resources' types to resolve
# a resource configured at launch (PifuSettings) inside the resources that nest it.

from contextlib import contextmanager
from pathlib import Path

import dagster as dg

from pipelines import instance


class PifuSettings(dg.ConfigurableResource):
    """Paths a run works with. Defaults come from PIFU_DATA_DIR / PIFU_INBOX / PIFU_LAKE_DIR / PIFU_REGION.
    With a region (pifu.regions) the lake, the warehouse and the run's own files are the region's."""

    data_dir: str = ""
    inbox: str = ""
    lake_dir: str = ""
    workers: int = 0
    region: str = ""

    def region_slug(self) -> str:
        return instance.region_slug(self.region)

    def data_path(self) -> Path:
        return instance.data_path(self.data_dir, self.region)

    def inbox_path(self) -> Path:
        base = Path(self.inbox or instance.inbox())
        region = self.region or instance.region()
        return base / region if region and instance.inbox_regions() else base

    def lake_path(self) -> Path:
        return instance.lake_path(self.lake_dir, self.region)

    def staging_root(self) -> Path:
        return self.data_path() / "staging"


class WarehouseResource(dg.ConfigurableResource):
    """The SQL warehouse: DuckDB file by default, PostgreSQL in production (PIFU_WAREHOUSE_URL)."""

    url: str = ""
    settings: PifuSettings  # its region: a region's runs load the region's warehouse

    def resolved_url(self) -> str:
        return instance.region_warehouse_url(self.url, self.settings.region)

    @contextmanager
    def engine(self):
        """An engine for one step, disposed after it: DuckDB allows one writing process per file, and a
        long-lived process (the UI, the daemon) must not keep it locked between runs."""
        from warehouse.engine import engine_for

        with engine_for(self.resolved_url()) as engine:
            yield engine

    def display_url(self) -> str:
        from sqlalchemy.engine import make_url

        return make_url(self.resolved_url()).render_as_string(hide_password=True)


class RunLockResource(dg.ConfigurableResource):
    """The lake's and the warehouse's run locks (pifu.locks), held from the run's first step to its last:
    runs the sensor, the schedule or the UI start never overlap each other or a `pifu run`. Under
    `pifu run` the CLI holds them already and this only takes them again (reentrant in a process).
    A run that has to wait says whom it waits for in its log."""

    settings: PifuSettings
    warehouse: WarehouseResource

    @contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext):
        from pifu.locks import run_lock

        run = context.dagster_run
        holder = {"trigger": run.tags.get("pifu/trigger", "dagster") if run else "dagster",
                  "run_id": run.run_id if run else None}
        url = self.warehouse.resolved_url()
        with run_lock(self.settings.lake_path(), url, holder=holder,
                      notify=context.log.warning if context.log else None):
            if self.settings.region_slug():
                from pifu.regions import ensure_schema

                ensure_schema(url)
            yield self
