"""lake_tables: the run's tables checked by the great-expectations suites and written to the Parquet lake.

The checks are asset checks of this asset, named as in the contract. Source-data findings warn and the
data is kept; broken pipeline invariants (an input neither parsed nor quarantined, a duplicate key) are
errors that block the warehouse load.
"""

import json
import time
from collections import defaultdict
from datetime import datetime, timezone

import dagster as dg

from assets.metadata import md_table
from expectations import CHECKS, run_checks
from pifu import lake, staging
from assets.ingest import parsed_documents
from pipelines.partitions import PARTITIONED, stage_dir
from pipelines.resources import PifuSettings, RunLockResource

ACCOUNTED = "every_input_accounted_for"
_ERROR = {name for name, spec in CHECKS.items() if spec.severity == "error"} | {ACCOUNTED}
CHECK_SPECS = [
    dg.AssetCheckSpec(name, asset="lake_tables", description=spec.description, blocking=name in _ERROR)
    for name, spec in CHECKS.items()
] + [dg.AssetCheckSpec(ACCOUNTED, asset="lake_tables", blocking=True,
                       description="every new input file was parsed or quarantined")]


@dg.asset(**PARTITIONED, deps=[parsed_documents], check_specs=CHECK_SPECS, description="The run's tables, "
          "checked, written as the Parquet lake's next snapshot (hive-partitioned by fiscal_year), made current "
          "once the warehouse has committed the same rows.")
def lake_tables(context: dg.AssetExecutionContext, settings: PifuSettings, run_lock: RunLockResource):
    stage = stage_dir(context, settings)
    parsed = json.loads((stage / "parsed.json").read_text(encoding="utf-8"))
    tables = staging.read(stage)
    started = time.perf_counter()
    reference = lake.earlier_documents(settings.lake_path(), tables)
    checked_at, validations = datetime.now(timezone.utc), []
    dq = run_checks(tables, run_id=context.run_id, checked_at=checked_at, reference=reference,
                    validations=validations)
    checks_seconds = time.perf_counter() - started
    docs = _data_docs(context, settings, validations, checked_at)
    staging.write(stage, {"dq_result": dq})
    tables["dq_result"] = dq
    snapshot = lake.write_lake(settings.lake_path(), tables, run_id=context.run_id, publish=False)
    (stage / "snapshot.json").write_text(json.dumps({"snapshot": str(snapshot)}), encoding="utf-8")
    years = sorted(set(tables["fact_document"].column("fiscal_year").to_pylist()))
    yield dg.MaterializeResult(metadata={
        "snapshot": str(snapshot),
        "fiscal_years": ", ".join(map(str, years)),
        "documents": tables["fact_document"].num_rows,
        "rows": md_table(sorted((k, v.num_rows) for k, v in tables.items()), ["table", "rows"]),
        "dq_findings": int(dq.num_rows - sum(dq.column("passed").to_pylist() or [])),
        "checks_seconds": dg.MetadataValue.float(round(checks_seconds, 3)),
        **_docs_metadata(docs),
    })
    yield from check_results(dq, docs)
    in_tables = tables["fact_document"].num_rows + tables["quarantine"].num_rows
    yield dg.AssetCheckResult(
        check_name=ACCOUNTED, passed=in_tables == parsed["inputs"] == parsed["parsed"] + parsed["quarantined"],
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"inputs": parsed["inputs"], "documents": tables["fact_document"].num_rows,
                  "quarantined": tables["quarantine"].num_rows})


def _data_docs(context, settings: PifuSettings, validations: list, checked_at: datetime):
    """The GX Data Docs with this run's results (expectations.datadocs); None, logged, if GX cannot build
    them: the docs show the checks, they do not decide them."""
    from expectations import datadocs

    try:
        return datadocs.build(settings.data_path(), validations, context.run_id, checked_at)
    except Exception as e:  # noqa: BLE001 (any GX failure; the run's data is fine)
        context.log.warning(f"GX Data Docs not built: {type(e).__name__}: {e}")
        return None


def _docs_metadata(docs) -> dict:
    if docs is None:
        return {}
    return {"data_docs": dg.MetadataValue.url(docs.url), "data_docs_path": dg.MetadataValue.path(str(docs.index)),
            "data_docs_runs": dg.MetadataValue.path(str(docs.runs)),  # the offline list of every run
            "data_docs_seconds": dg.MetadataValue.float(round(docs.seconds, 3))}


def check_results(dq, docs=None):
    """One AssetCheckResult per check: pass rate over documents, and what is off, by how much; a link to
    the GX Data Docs page of the check's suite for this run."""
    rows = dq.select(["check_name", "document_id", "row_ref", "passed", "observed", "expected", "message",
                      "source_path", "source_cell", "attribution", "problem_code"]).to_pylist()
    by_check = defaultdict(list)
    for row in rows:
        by_check[row["check_name"]].append(row)
    for name, spec in CHECKS.items():
        results = by_check.get(name, [])
        failed = [r for r in results if r["passed"] is False]
        documents = {r["document_id"] for r in results}
        bad_documents = {r["document_id"] for r in failed}
        yield dg.AssetCheckResult(
            check_name=name,
            passed=not failed,
            severity=dg.AssetCheckSeverity.ERROR if name in _ERROR else dg.AssetCheckSeverity.WARN,
            metadata={
                "documents_checked": len(documents),
                "documents_failing": len(bad_documents),
                "pass_rate": dg.MetadataValue.float(
                    round(1 - len(bad_documents) / len(documents), 4) if documents else 1.0),
                "failures": md_table([(r["document_id"], r["row_ref"], r["source_path"], r["source_cell"],
                                       " ".join(filter(None, (r["attribution"], r["problem_code"]))),
                                       r["observed"], r["expected"], r["message"]) for r in failed],
                                     ["document", "where", "file", "cells", "attribution", "observed", "expected",
                                      "message"], limit=30),
                **_check_docs(docs, spec.table),
            },
        )


def _check_docs(docs, suite: str) -> dict:
    if docs is None:
        return {}
    return {"data_docs": dg.MetadataValue.url(docs.pages.get(suite, docs.url)),
            "data_docs_index": dg.MetadataValue.path(str(docs.index))}
