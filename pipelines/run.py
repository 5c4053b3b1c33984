"""`pifu run`: the pipeline's job executed in process, one run over the fiscal years that have new files,
recorded in the same Dagster instance the UI reads."""
from __future__ import annotations

import gc
import os
import sys
import time


HASH_CACHE = "cache/sha256.json"  # under the data directory (pifu.ingest.HashCache)


def run_pipeline(sources: list[str], warehouse_url: str | None = None, lake_dir: str | None = None,
                 workers: int | None = None, force: bool = False, wait: bool = True, out=sys.stdout,
                 region: str | None = None) -> int:
    """Run the job over `sources`; the exit status. Holds the lake's and the warehouse's run locks from
    before it decides which files are new until the end (`wait=False`: LockBusy when another run has them).
    With a region, the region's lake, warehouse and locks (pifu.regions)."""
    # Flags become the environment the resources read, so a UI started the same way sees the same paths.
    if warehouse_url:
        os.environ["PIFU_WAREHOUSE_URL"] = warehouse_url
    if lake_dir:
        os.environ["PIFU_LAKE_DIR"] = lake_dir
    if region:
        os.environ["PIFU_REGION"] = region
    from pifu.locks import run_lock
    from pifu.regions import ensure_schema
    from pipelines import instance as where  # no Dagster yet: planning starts before its import (_run)
    from pipelines.sqlite_sync import install

    # as the job's resources resolve them (PifuSettings, WarehouseResource): the region from PIFU_REGION
    lake_dir, url = where.lake_path(), where.region_warehouse_url()
    install()  # before the instance opens its storages
    where.ensure_dagster_home()
    with run_lock(lake_dir, url, wait=wait, holder={"trigger": "cli"}, notify=_say):
        if where.region_slug():
            ensure_schema(url)
        return _run(sources, lake_dir, url, workers, force, out)


def _say(message: str) -> None:
    print(f"pifu: {message}", file=sys.stderr, flush=True)


def _run(sources: list[str], lake_dir, url: str, workers: int | None, force: bool, out) -> int:
    from concurrent.futures import Future, ThreadPoolExecutor
    from contextlib import ExitStack

    from pifu import ingest, staging
    from pipelines import instance as where

    if not os.environ.get("PIFU_DASK_SCHEDULER"):
        # The workers' server imports the parser on the other core while this one looks at the
        # warehouse and the lake.
        ingest.start_workers_early()
    sources = [os.path.abspath(s) for s in sources]
    seconds: dict[str, float] = {}
    hashes = ingest.HashCache(where.data_path() / HASH_CACHE)  # a file unchanged since a run saw it: not read
    known: Future = Future()
    with ExitStack() as stack:
        with ThreadPoolExecutor(1, thread_name_prefix="pifu-plan") as planner:
            # The plan finds, reads and hashes the files in a thread (reading and hashing let go of the GIL)
            # from here on: while this thread reads what is known, imports Dagster and opens its instance
            # (~1 s). It decides what is new only with the known set, read after the roll-forward.
            planning = planner.submit(ingest.plan, sources, known, timings=seconds, cache=hashes)
            try:
                known.set_result(_known(lake_dir, url, force, seconds))
            except BaseException as e:
                known.set_exception(e)
                raise
            from pipelines.definitions import defs
            from pipelines.instance import open_instance
            from pipelines.partitions import range_tags
            from pipelines.sensors import REGION_TAG, run_config
            from pipelines.summary import summarize

            instance = stack.enter_context(open_instance())
            by_year, stats = planning.result()
        seconds["discover"] += seconds.pop("known")  # what is known counts as finding what is new
        hashes.save()
        new = sum(map(len, by_year.values()))
        print(f"{stats['found']} files found: {new} new, {stats['already_seen']} already loaded or quarantined, "
              f"{stats['same_content']} same content as another", file=out)
        if not new:
            print("nothing to do", file=out)
            return 0
        config = run_config(sources, force=force)
        # raw_files takes this plan instead of reading and hashing every file again
        config["ops"]["raw_files"]["config"]["plan"] = write_plan(sources, force, by_year, stats, seconds)
        # The summary says what failed in one line per step; Dagster's console would add pages of traceback
        # (they are in the run's event log, the UI, and the file the summary names).
        config["loggers"] = {"console": {"config": {"log_level": os.environ.get("PIFU_LOG_LEVEL", "CRITICAL")}}}
        if workers:
            config["resources"] = {"settings": {"config": {"workers": workers}}}
        tags = {**range_tags(instance, set(by_year)), "pifu/trigger": "cli"}
        if where.region_slug():
            tags[REGION_TAG] = where.region_slug()
        if not gc.isenabled():  # the CLI's start (pifu.cli): what it imported is kept for good, not collected
            gc.freeze()
            gc.enable()
        started = time.perf_counter()
        result = defs.resolve_job_def("pifu_job").execute_in_process(
            run_config=config, instance=instance, raise_on_error=False, tags=tags)
        status = summarize(result, sorted(by_year), time.perf_counter() - started, out, seconds)
    staging.wait_discarded()  # the CLI exits without teardown: finish removing the run's staging first
    return status


def _known(lake_dir, url: str, force: bool, seconds: dict) -> set[str]:
    """The sha256 of the files the warehouse and the lake both hold (a file one of them lacks, after a
    killed run, is loaded again), after publishing a snapshot the warehouse committed but a killed run
    did not publish. Checks first that the warehouse can be reached; one connection for all of it."""
    from pifu import lake
    from warehouse.engine import reachable
    from warehouse.load import committed_snapshot, known_sha256

    with reachable(url) as conn:
        committed = committed_snapshot(conn, lake_dir)
        started = time.perf_counter()
        in_warehouse = set() if force else known_sha256(conn)
        looked = time.perf_counter() - started
    lake.roll_forward(lake_dir, committed)
    started = time.perf_counter()
    known = set() if force else in_warehouse & lake.known_sha256(lake_dir)
    seconds["known"] = looked + time.perf_counter() - started
    return known


def write_plan(sources: list[str], force: bool, by_year: dict, stats: dict, seconds: dict) -> str:
    """The plan as a file raw_files reads (and removes): under the staging root, so a plan a killed run
    left behind is pruned with its staging folders."""
    import json
    import uuid

    from pipelines.instance import data_dir

    folder = data_dir() / "staging" / "plans"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("plan-*.json"):  # left by runs killed before raw_files took them
        try:
            if time.time() - old.stat().st_mtime > 24 * 3600:
                old.unlink()
        except OSError:
            pass
    path = folder / f"plan-{uuid.uuid4().hex}.json"
    plan = {"sources": sources, "force": force, "stats": stats, "seconds": seconds,
            "by_year": {year: [f.__dict__ for f in files] for year, files in by_year.items()}}
    path.write_text(json.dumps(plan), encoding="utf-8")
    return str(path)
