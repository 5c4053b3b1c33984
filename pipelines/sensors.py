"""The inbox sensor and the daily schedule."""
from __future__ import annotations

import hashlib
import json
import os

import dagster as dg

from pifu.ingest import discover, sniff_year
from pipelines import instance
from pipelines.partitions import range_tags


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
           description="Starts a run over the fiscal years of files new or changed in PIFU_INBOX.")
def inbox_sensor(context: dg.SensorEvaluationContext):
    inbox = str(instance.inbox())
    files, cursor = new_files(inbox, context.cursor)
    context.update_cursor(cursor)
    if not files:
        return dg.SkipReason(f"no new files in {inbox}")
    years = {sniff_year(p) for p in files}
    tags = {**range_tags(context.instance, years), "pifu/trigger": "inbox_sensor", "pifu/files": str(len(files))}
    key = hashlib.sha256("\n".join([cursor, *files]).encode()).hexdigest()[:32]
    return dg.RunRequest(run_key=key, run_config=run_config(files), tags=tags)


@dg.schedule(job_name="pifu_job", cron_schedule="0 6 * * *", execution_timezone="Asia/Shanghai",
             description="Every morning: a run over the inbox's fiscal years (a safety net for the sensor; "
             "content already loaded is skipped).")
def daily_inbox_run(context: dg.ScheduleEvaluationContext):
    inbox = str(instance.inbox())
    files, _ = new_files(inbox, None)
    if not files:
        return dg.SkipReason(f"the inbox {inbox} is empty")
    tags = {**range_tags(context.instance, {sniff_year(p) for p in files}), "pifu/trigger": "daily_inbox_run"}
    day = context.scheduled_execution_time.strftime("%Y-%m-%d")
    return dg.RunRequest(run_key=f"daily-{day}", run_config=run_config([inbox]), tags=tags)


def run_config(sources: list[str], force: bool = False) -> dict:
    return {"ops": {"raw_files": {"config": {"sources": list(sources), "force": force}}}}
