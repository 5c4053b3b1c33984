"""Each outside system behind a resource: the settings (paths), the lake, the warehouse."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import dagster as dg

from pipelines import instance


class PifuSettings(dg.ConfigurableResource):
    """Paths a run works with. Defaults come from PIFU_DATA_DIR / PIFU_INBOX / PIFU_LAKE_DIR."""

    data_dir: str = ""
    inbox: str = ""
    lake_dir: str = ""
    workers: int = 0

    def data_path(self) -> Path:
        return Path(self.data_dir or instance.data_dir())

    def inbox_path(self) -> Path:
        return Path(self.inbox or instance.inbox())

    def lake_path(self) -> Path:
        return Path(self.lake_dir or instance.lake_dir())

    def staging_root(self) -> Path:
        return self.data_path() / "staging"


class WarehouseResource(dg.ConfigurableResource):
    """The SQL warehouse: DuckDB file by default, PostgreSQL in production (PIFU_WAREHOUSE_URL)."""

    url: str = ""

    def resolved_url(self) -> str:
        return self.url or instance.warehouse_url()

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
        with run_lock(self.settings.lake_path(), self.warehouse.resolved_url(), holder=holder,
                      notify=context.log.warning if context.log else None):
            yield self
