"""raw_files -> parsed_documents: thin assets over pifu.ingest and pifu.normalize.

Every pifu asset is partitioned by fiscal year and runs a whole range of years in one run (single-run
backfill policy): `pifu run`, the sensor and UI backfills all work that way. Steps hand each other the
run's staging folder, not pickled outputs.
"""
import json
import os
import time
from collections import Counter

import dagster as dg

from assets.metadata import counts, md_table, record_seconds, release_memory
from pifu import ingest, lake, staging
from pifu.faults import pause_at
from pifu.progress import Progress
from pifu.normalize import quarantine_table, with_source_mtime
from pipelines.partitions import PARTITIONED, stage_dir
from pipelines.resources import PifuSettings, RunLockResource, WarehouseResource


_PREVIEW = 1000  # documents listed in the step's metadata


class SourcesConfig(dg.Config):
    sources: list[str] = []  # files or folders; empty: the inbox
    force: bool = False  # parse files whose content was loaded before (their rows are not loaded twice)
    plan: str = ""  # a plan `pifu run` made of the same sources (pipelines.run.write_plan): not hashed twice


@dg.asset(**PARTITIONED, description="Files of the run's fiscal years found in the sources (the inbox unless the "
          "run names files), fingerprinted; content already loaded or quarantined (by sha256) is skipped.")
def raw_files(context: dg.AssetExecutionContext, config: SourcesConfig, settings: PifuSettings,
              warehouse: WarehouseResource, run_lock: RunLockResource) -> dg.MaterializeResult:
    from warehouse.load import committed_snapshot, known_sha256

    years = set(context.partition_keys)
    sources = config.sources or [str(settings.inbox_path())]
    # A plan from `pifu run` was made under the run lock this run holds, after pifu run rolled the lake
    # forward: both still hold. Without one (the daemon, the UI, a re-execution) this step does both.
    planned = _read_plan(config, sources)
    if planned is not None:
        by_year, stats, seconds = planned
    else:
        started = time.perf_counter()
        # Under the run lock, before anything writes the lake: finish the publish of a run that died after
        # its warehouse commit (pifu run has done it already; runs the daemon or the UI start have not).
        lake.roll_forward(settings.lake_path(), committed_snapshot(warehouse.resolved_url(), settings.lake_path()))
        known = set() if config.force else (known_sha256(warehouse.resolved_url())
                                            & lake.known_sha256(settings.lake_path()))
        seconds = {"discover": time.perf_counter() - started}  # what is known counts as finding what is new
        hashes = ingest.HashCache(settings.data_path() / "cache" / "sha256.json")  # as pifu run keeps it
        by_year, stats = ingest.plan(sources, known, timings=seconds, cache=hashes)
        hashes.save()
    new = [f for year, files in sorted(by_year.items()) if year in years for f in files]
    other_years = sum(len(v) for k, v in by_year.items() if k not in years)
    stage = stage_dir(context, settings)
    staging.prune(settings.staging_root())
    stage.mkdir(parents=True, exist_ok=True)
    (stage / "files.json").write_text(json.dumps([f.__dict__ for f in new]), encoding="utf-8")
    context.log.info(f"{stats['found']} files found; {len(new)} new for {', '.join(sorted(years))}; "
                     f"{other_years} new for other years; {stats['already_seen']} already loaded or quarantined")
    return dg.MaterializeResult(metadata={
        **record_seconds(stage, seconds),
        "planned_by": "pifu run" if planned is not None else "this step",
        "sources": ", ".join(sources)[:500],
        "fiscal_years": ", ".join(sorted(years)),
        "files_found": stats["found"],
        "files_new": len(new),
        "files_new_other_years": other_years,
        "files_already_seen": stats["already_seen"],
        "files_same_content": stats["same_content"],
        "preview": md_table([(f.path, f.size, f.sha256[:16]) for f in new], ["file", "bytes", "sha256"]),
    })


def _read_plan(config: SourcesConfig, sources: list[str]):
    """The plan `pifu run` made moments ago under the same run lock (by_year, stats, seconds), or None:
    no plan named, gone (a re-execution plans afresh), or made for other sources. Used once: removed."""
    if not config.plan:
        return None
    try:
        with open(config.plan, encoding="utf-8") as f:
            plan = json.load(f)
        os.unlink(config.plan)
    except (OSError, ValueError):
        return None
    if plan.get("sources") != list(sources) or plan.get("force") != config.force:
        return None
    by_year = {year: [ingest.InputFile(**f) for f in files] for year, files in plan["by_year"].items()}
    return by_year, plan["stats"], plan["seconds"]


@dg.asset(**PARTITIONED, deps=[raw_files], description="Each new file parsed into the document model and "
          "normalized to the star schema (staged as Arrow for this run); unreadable files quarantined with "
          "their reason.")
def parsed_documents(context: dg.AssetExecutionContext, settings: PifuSettings,
                     run_lock: RunLockResource) -> dg.MaterializeResult:
    stage = stage_dir(context, settings)
    files = [ingest.InputFile(**f) for f in json.loads((stage / "files.json").read_text(encoding="utf-8"))]

    progress = Progress("parsed", len(files), log=context.log.info)
    mtimes = {f.path: f.mtime_ns for f in files}
    docs, quarantined, problems, rows = [], [], Counter(), Counter()
    # GX is not imported by the run (expectations.fast decides the checks; Data Docs build elsewhere).
    # Batches are staged as they come back, so memory is bounded by the batch, not the run.
    # PIFU_DASK_SCHEDULER: a Dask cluster. Local workers write their batches' tables under the stage.
    executor = ingest.executor_from(None, settings.workers or None, spill=stage / staging.SPILL)
    started, staging_seconds = time.perf_counter(), 0.0
    for number, part in enumerate(ingest.parse_stream(files, executor=executor,
                                                      progress=lambda done, total: progress.update(done)), 1):
        staged = time.perf_counter()
        quarantine = quarantine_table(part.quarantined)
        if part.staged:
            staging.adopt_batch(stage, number, part.staged, {"quarantine": quarantine})
            rows.update(part.rows)
        else:
            tables = dict(part.tables)
            tables["fact_document"] = with_source_mtime(tables["fact_document"], mtimes)
            rows.update({k: v.num_rows for k, v in tables.items()})
            staging.write_batch(stage, number, {**tables, "quarantine": quarantine})
        rows["quarantine"] += quarantine.num_rows
        problems.update(code for d in part.documents for code in d[5])
        docs.extend(part.documents[:max(0, _PREVIEW - len(docs))])
        quarantined.extend(part.quarantined)
        staging_seconds += time.perf_counter() - staged
    parse_seconds = time.perf_counter() - started - staging_seconds
    release_memory()  # the batches' tables, staged and dropped
    pause_at("parse")
    parsed = rows.get("fact_document", 0)
    summary = {"inputs": len(files), "parsed": parsed, "quarantined": len(quarantined)}
    (stage / "parsed.json").write_text(json.dumps(summary), encoding="utf-8")
    # parse: the workers, who normalize and stage each batch too; normalize: adopting the staged batches
    # (or staging the tables a Dask worker sent back) and their quarantine rows
    seconds = {"parse": parse_seconds, "normalize": staging_seconds}
    return dg.MaterializeResult(metadata={
        **record_seconds(stage, seconds),
        "files_in": len(files),
        "documents_parsed": parsed,
        "files_quarantined": len(quarantined),
        "quarantine": md_table([(q["source_path"], q["reason"], q["detail"]) for q in quarantined],
                               ["file", "reason", "detail"], limit=50),
        "quarantine_records": dg.MetadataValue.json(
            [{k: q[k] for k in ("source_path", "reason", "detail")} for q in quarantined[:1000]]),
        "problems_by_code": counts(problems.elements()),
        "rows": md_table(sorted(rows.items()), ["table", "rows"]),
        "preview": md_table([(dep, year, path, f, i, len(codes)) for path, dep, year, f, i, codes in docs],
                            ["department", "fiscal_year", "file", "funding rows", "indicator rows", "problems"]),
        "stage": str(stage),
    })

