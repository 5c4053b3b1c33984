"""Fiscal years are partitions; they appear as files arrive (the sensor and `pifu run` add them).
Files whose title names no year run in the `unknown` partition.

A run covers a range of years at once (single-run backfill policy), so one `pifu run` is one run."""
import warnings
from pathlib import Path

import dagster as dg

# backfill_policy (single-run ranges of fiscal years) is marked beta; pifu relies on it knowingly.
warnings.filterwarnings("ignore", category=dg.BetaWarning)

fiscal_years = dg.DynamicPartitionsDefinition(name="fiscal_year")

PARTITIONED = {"group_name": "pifu", "partitions_def": fiscal_years,
               "backfill_policy": dg.BackfillPolicy.single_run()}
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def stage_dir(context: dg.AssetExecutionContext, settings) -> Path:
    """The run's staging folder; a re-execution of a failed run finds its parent's (same root run)."""
    return settings.staging_root() / (context.run.root_run_id or context.run_id)


def range_tags(instance: dg.DagsterInstance, years: set[str]) -> dict[str, str]:
    """Tags that make one run cover `years`: the smallest span of the partitions (in the order they
    were added) that holds them all. Adds the years that are not partitions yet."""
    keys = list(instance.get_dynamic_partitions(fiscal_years.name))
    if years - set(keys):
        keys = add_partitions(instance, years)
    positions = [keys.index(y) for y in years]
    return {RANGE_START: keys[min(positions)], RANGE_END: keys[max(positions)]}


def add_partitions(instance: dg.DagsterInstance, years: set[str]) -> list[str]:
    """Add the years that are not partitions yet; all partition keys after. Dagster reads, then inserts:
    the lock keeps two local processes from racing in between, and a key another host added in that
    moment (`UNIQUE constraint failed: dynamic_partitions`) is simply there already."""
    from sqlalchemy.exc import IntegrityError

    from pipelines.instance import home_lock

    with home_lock():
        for _ in range(3):  # the failed insert added none of `missing`: read again, add the rest
            keys = list(instance.get_dynamic_partitions(fiscal_years.name))
            missing = sorted(years - set(keys))
            if not missing:
                break
            try:
                instance.add_dynamic_partitions(fiscal_years.name, missing)
            except IntegrityError:
                continue
        return list(instance.get_dynamic_partitions(fiscal_years.name))
