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
    dq = run_checks(tables, run_id=context.run_id, checked_at=datetime.now(timezone.utc), reference=reference)
    checks_seconds = time.perf_counter() - started
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
    })
    yield from check_results(dq)
    in_tables = tables["fact_document"].num_rows + tables["quarantine"].num_rows
    yield dg.AssetCheckResult(
        check_name=ACCOUNTED, passed=in_tables == parsed["inputs"] == parsed["parsed"] + parsed["quarantined"],
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"inputs": parsed["inputs"], "documents": tables["fact_document"].num_rows,
                  "quarantined": tables["quarantine"].num_rows})


def check_results(dq):
    """One AssetCheckResult per check: pass rate over documents, and what is off, by how much."""
    rows = dq.select(["check_name", "document_id", "row_ref", "passed", "observed", "expected", "message"]).to_pylist()
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
                "failures": md_table([(r["document_id"], r["row_ref"], r["observed"], r["expected"], r["message"])
                                      for r in failed],
                                     ["document", "where", "observed", "expected", "message"], limit=30),
            },
        )
