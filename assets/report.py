"""report: the static HTML page of the warehouse (pifu.report) after each run's views."""

import dagster as dg

from assets.warehouse import bi_views
from pipelines.resources import PifuSettings, WarehouseResource


@dg.asset(group_name="pifu", deps=[bi_views], description="One static HTML page (no server, no network): funding "
          "by department, region and year, the indicators most departments share, and the findings with their "
          "file and cells; from the warehouse views. Also `pifu report`.")
def report(settings: PifuSettings, warehouse: WarehouseResource) -> dg.MaterializeResult:
    from pifu.report import build_report

    built = build_report(warehouse.resolved_url(), settings.data_path() / "report")
    return dg.MaterializeResult(metadata={
        "report": dg.MetadataValue.url(built.path.as_uri()),
        "report_path": dg.MetadataValue.path(str(built.path)),
        "findings": dg.MetadataValue.int(built.findings),
        "report_seconds": dg.MetadataValue.float(round(built.seconds, 3)),
    })
