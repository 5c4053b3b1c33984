"""`pifu run`: the pipeline's job executed in process, one run per fiscal year with new files, recorded
in the same Dagster instance the UI reads."""
from __future__ import annotations

import os
import sys


def run_pipeline(sources: list[str], warehouse_url: str | None = None, lake_dir: str | None = None,
                 workers: int | None = None, force: bool = False, out=sys.stdout) -> int:
    # Flags become the environment the resources read, so a UI started the same way sees the same paths.
    if warehouse_url:
        os.environ["PIFU_WAREHOUSE_URL"] = warehouse_url
    if lake_dir:
        os.environ["PIFU_LAKE_DIR"] = lake_dir
    from pipelines.instance import ensure_dagster_home

    ensure_dagster_home()
    import dagster as dg

    from pifu import ingest
    from pipelines.definitions import defs
    from pipelines.partitions import fiscal_years
    from pipelines.resources import WarehouseResource
    from pipelines.sensors import run_config
    from pipelines.summary import Summary
    from warehouse.load import known_sha256

    sources = [os.path.abspath(s) for s in sources]
    known = set() if force else known_sha256(WarehouseResource().engine())
    by_year, stats = ingest.plan(sources, known)
    print(f"{stats['found']} files found: {sum(map(len, by_year.values()))} new, {stats['already_seen']} already "
          f"loaded or quarantined, {stats['same_content']} same content as another", file=out)
    job = defs.resolve_job_def("pifu_job")
    summary = Summary(out)
    with dg.DagsterInstance.get() as instance:
        missing = sorted(set(by_year) - set(instance.get_dynamic_partitions(fiscal_years.name)))
        if missing:
            instance.add_dynamic_partitions(fiscal_years.name, missing)
        for year, files in sorted(by_year.items()):
            config = run_config([f.path for f in files], force=force)
            config["loggers"] = {"console": {"config": {"log_level": "WARNING"}}}  # the summary says the rest
            if workers:
                config["resources"] = {"settings": {"config": {"workers": workers}}}
            result = job.execute_in_process(run_config=config, instance=instance, partition_key=year,
                                            raise_on_error=False, tags={"pifu/trigger": "cli"})
            summary.add(year, result)
    return summary.finish()
