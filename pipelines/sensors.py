"""The inbox sensor and the daily schedule. With PIFU_INBOX_REGIONS=1 the inbox holds a folder per region
(inbox/<region>/...): each region with new files gets a run of its own, tagged `pifu/region`."""
from __future__ import annotations

import hashlib
import json
import os

import dagster as dg

from pifu.ingest import discover, sniff_year
from pifu.regions import RegionError, slug
from pipelines import instance
from pipelines.partitions import range_tags

REGION_TAG = "pifu/region"  # docs/dagster-cluster.yaml limits runs to one per value


def new_files(inbox: str, cursor: str | None) -> tuple[list[str], str]:
    """Files under `inbox` new or changed since `cursor`; the cursor is the newest time seen and the
    files that carry it, so a file is never picked twice and a touched file is picked again.

    A file's time is the later of its mtime and ctime: `mv`, `cp -p`, `rsync -a` and unzip keep an old
    mtime, and only the ctime shows that the file arrived."""
    state = json.loads(cursor) if cursor else {"mtime": 0, "at": []}  # key kept: cursors already stored
    last, at_last = state["mtime"], set(state["at"])
    fresh: list[tuple[int, str]] = []
    for path in discover([inbox]) if os.path.isdir(inbox) else []:
        try:
            st = os.stat(path)
        except OSError:
            continue
        stamp = max(st.st_mtime_ns, st.st_ctime_ns)
        if stamp > last or (stamp == last and str(path) not in at_last):
            fresh.append((stamp, str(path)))
    if not fresh:
        return [], json.dumps(state)
    newest = max(m for m, _ in fresh)
    at = sorted({p for m, p in fresh if m == newest} | (at_last if newest == last else set()))
    return sorted(p for _, p in fresh), json.dumps({"mtime": newest, "at": at})


@dg.sensor(job_name="pifu_job", minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Starts a run over the fiscal years of files new or changed in PIFU_INBOX "
           "(with PIFU_INBOX_REGIONS=1, one run per region folder with new files).")
def inbox_sensor(context: dg.SensorEvaluationContext):
    inbox = str(instance.inbox())
    files, cursor = new_files(inbox, context.cursor)
    context.update_cursor(cursor)
    if not files:
        return dg.SkipReason(f"no new files in {inbox}")
    requests = []
    for region, found in by_region(inbox, files, context.log).items():
        tags = {**range_tags(context.instance, {sniff_year(p) for p in found}), "pifu/trigger": "inbox_sensor",
                "pifu/files": str(len(found))}
        key = hashlib.sha256("\n".join([cursor, *found]).encode()).hexdigest()[:32]
        requests.append(dg.RunRequest(run_key=f"{region}-{key}" if region else key, tags=_region_tags(tags, region),
                                      run_config=run_config(found, region=region)))
    return requests or dg.SkipReason(f"no new files in a region folder of {inbox}")


@dg.schedule(job_name="pifu_job", cron_schedule="0 6 * * *", execution_timezone="Asia/Shanghai",
             description="Every morning: a run over the inbox's fiscal years (a safety net for the sensor; "
             "content already loaded is skipped); one per region folder with PIFU_INBOX_REGIONS=1.")
def daily_inbox_run(context: dg.ScheduleEvaluationContext):
    inbox = str(instance.inbox())
    files, _ = new_files(inbox, None)
    if not files:
        return dg.SkipReason(f"the inbox {inbox} is empty")
    day = context.scheduled_execution_time.strftime("%Y-%m-%d")
    requests = []
    for region, found in by_region(inbox, files, context.log).items():
        tags = {**range_tags(context.instance, {sniff_year(p) for p in found}), "pifu/trigger": "daily_inbox_run"}
        folders = sorted({os.path.join(inbox, os.path.relpath(p, inbox).split(os.sep)[0]) for p in found})
        requests.append(dg.RunRequest(run_key=f"daily-{day}-{region}" if region else f"daily-{day}",
                                      run_config=run_config(folders if region else [inbox], region=region),
                                      tags=_region_tags(tags, region)))
    return requests or dg.SkipReason(f"no files in a region folder of {inbox}")


def by_region(inbox: str, files: list[str], log=None) -> dict[str, list[str]]:
    """{"": files} unless PIFU_INBOX_REGIONS is set; then {region slug: its files}, from the first folder
    under the inbox. A file outside a region folder, or in one whose name cannot be a region, is logged
    and left alone (it belongs to no region's lake); moved into a region folder, the sensor sees it."""
    if not instance.inbox_regions():
        return {"": files}
    out: dict[str, list[str]] = {}
    for path in files:
        parts = os.path.relpath(path, inbox).split(os.sep)
        try:
            region = slug(parts[0]) if len(parts) > 1 else None
        except RegionError as e:
            region = None
            if log:
                log.warning(f"{path}: not loaded: {e}")
        if region is None:
            if log and len(parts) == 1:
                log.warning(f"{path}: not loaded: with PIFU_INBOX_REGIONS=1 a file goes in inbox/<region>/")
            continue
        out.setdefault(region, []).append(path)
    return out


def _region_tags(tags: dict, region: str) -> dict:
    return {**tags, REGION_TAG: region} if region else tags


def run_config(sources: list[str], force: bool = False, region: str = "") -> dict:
    config = {"ops": {"raw_files": {"config": {"sources": list(sources), "force": force}}}}
    if region:
        config["resources"] = {"settings": {"config": {"region": region}}}
    return config
