"""raw_files -> parsed_documents: thin assets over pifu.ingest and pifu.normalize."""

from datetime import datetime, timezone

import dagster as dg

from assets.metadata import counts, md_table
from pifu import ingest, staging
from pifu.normalize import normalize, quarantine_table
from pipelines.partitions import fiscal_years
from pipelines.resources import PifuSettings, WarehouseResource


class SourcesConfig(dg.Config):
    sources: list[str] = []  # files or folders; empty: the inbox
    force: bool = False  # parse files whose content was loaded before (their rows are not loaded twice)


@dg.asset(group_name="pifu", partitions_def=fiscal_years, description="Files of this fiscal year found in the "
          "sources (the inbox unless the run names files), fingerprinted; content already loaded or quarantined "
          "(by sha256) is skipped.")
def raw_files(context: dg.AssetExecutionContext, config: SourcesConfig, settings: PifuSettings,
              warehouse: WarehouseResource) -> dg.Output[list[ingest.InputFile]]:
    from warehouse.load import known_sha256

    sources = config.sources or [str(settings.inbox_path())]
    known = set() if config.force else known_sha256(warehouse.engine())
    by_year, stats = ingest.plan(sources, known)
    new = by_year.get(context.partition_key, [])
    other_years = sum(len(v) for k, v in by_year.items() if k != context.partition_key)
    context.log.info(f"{stats['found']} files found; {len(new)} new for {context.partition_key}, "
                     f"{other_years} new for other years, {stats['already_seen']} already loaded or quarantined")
    return dg.Output(new, metadata={
        "sources": ", ".join(sources)[:500],
        "fiscal_year": context.partition_key,
        "files_found": stats["found"],
        "files_new": len(new),
        "files_new_other_years": other_years,
        "files_already_seen": stats["already_seen"],
        "files_same_content": stats["same_content"],
        "preview": md_table([(f.path, f.size, f.sha256[:16]) for f in new], ["file", "bytes", "sha256"]),
    })


@dg.asset(group_name="pifu", partitions_def=fiscal_years, description="Each new file parsed into the document model and normalized to the "
          "star schema (staged as Arrow for this run); unreadable files quarantined with their reason.")
def parsed_documents(context: dg.AssetExecutionContext, raw_files: list[ingest.InputFile],
                     settings: PifuSettings) -> dg.Output[dict]:
    stage = settings.staging_root() / context.run_id
    staging.prune(settings.staging_root())

    def progress(done: int, total: int) -> None:
        context.log.info(f"parsed {done}/{total} files")

    docs, quarantined = ingest.parse_many(raw_files, workers=settings.workers or None, progress=progress)
    loaded_at = datetime.now(timezone.utc)
    tables = normalize(docs, loaded_at)
    tables["quarantine"] = quarantine_table(quarantined)
    staging.write(stage, tables)
    problems = [p for d in docs for p in d.problems]
    result = {"stage": str(stage), "inputs": len(raw_files), "parsed": len(docs), "quarantined": len(quarantined),
              "document_ids": [d.source.sha256[:16] for d in docs]}
    return dg.Output(result, metadata={
        "files_in": len(raw_files),
        "documents_parsed": len(docs),
        "files_quarantined": len(quarantined),
        "quarantine": md_table([(q["source_path"], q["reason"], q["detail"]) for q in quarantined],
                               ["file", "reason", "detail"], limit=50),
        "problems_by_code": counts(f"{p.code} ({p.severity})" for p in problems),
        "rows": md_table(sorted((k, v.num_rows) for k, v in tables.items()), ["table", "rows"]),
        "preview": md_table([(d.department, d.fiscal_year, d.source.path, len(d.funding), len(d.indicators),
                              len(d.problems)) for d in docs],
                             ["department", "fiscal_year", "file", "funding", "indicators", "problems"]),
        "stage": str(stage),
    })
