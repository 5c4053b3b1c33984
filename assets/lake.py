"""lake_tables: the run's tables checked by the great-expectations suites and written to the Parquet lake.

The checks are asset checks of this asset, named as in the contract. Source-data findings warn and the
data is kept; broken pipeline invariants (an input neither parsed nor quarantined, a duplicate key) are
errors that block the warehouse load.
"""

import json
import time
from collections import Counter, defaultdict
from datetime import datetime, timezone

import dagster as dg

from assets.metadata import md_table, record_seconds, release_memory
from expectations import CHECKS, run_checks
from pifu import lake, staging
from assets.ingest import parsed_documents
from pifu.progress import Progress
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
    started = time.perf_counter()
    release_memory()  # what the parse step freed
    from expectations import datadocs

    docs_mode = datadocs.mode()
    checked_at, phases = datetime.now(timezone.utc), {}
    validations = [] if docs_mode == "inline" else None
    # background Data Docs get the checked frames of the run's last chunk (one chunk below 2,000 documents)
    frames = _pending(context, settings) if docs_mode == "background" else None
    tally, rows, years, checks_seconds = Tally(), Counter(), set(), 0.0
    progress = Progress("checked and written to the lake", parsed["parsed"], log=context.log.info, unit="documents")
    current = _current_across_the_run(stage)
    # Chunk by chunk (staging.chunks): the checks and the lake's files never hold the whole run.
    with lake.RunWriter(settings.lake_path(), run_id=context.run_id) as writer:
        for dirs, tables in staging.chunks(stage, CHUNK_DOCUMENTS, with_dirs=True):
            checking = time.perf_counter()
            tables["fact_document"] = _with_current(tables["fact_document"], current)
            reference = _reference(settings, stage, dirs, tables)
            dq = run_checks(tables, run_id=context.run_id, checked_at=checked_at, reference=reference,
                            validations=validations, frames=frames, timings=phases)
            checks_seconds += time.perf_counter() - checking
            dq = _numbered_after(dq, rows["dq_result"])  # result_no runs on over the run's chunks
            staging.write(dirs[0], {"dq_result": dq})  # the warehouse step reads it with the chunk's rows
            tables["dq_result"] = dq
            writer.add(tables)
            tally.add(dq)
            rows.update({k: v.num_rows for k, v in tables.items()})
            years.update(tables["fact_document"].column("fiscal_year").to_pylist())
            progress.update(rows["fact_document"])
        snapshot = writer.finish()
    docs = _data_docs(context, settings, docs_mode, validations, frames, checked_at)
    (stage / "snapshot.json").write_text(json.dumps({"snapshot": str(snapshot)}), encoding="utf-8")
    release_memory()  # the chunks' tables and the checks' frames
    seconds = {"expectations": checks_seconds, "lake": time.perf_counter() - started - checks_seconds}
    yield dg.MaterializeResult(metadata={
        "snapshot": str(snapshot),
        "fiscal_years": ", ".join(map(str, sorted(years))),
        "documents": rows["fact_document"],
        "rows": md_table(sorted(rows.items()), ["table", "rows"]),
        "dq_findings": tally.findings,
        "checks_seconds": dg.MetadataValue.float(round(checks_seconds, 3)),
        "checks_phases": dg.MetadataValue.json({k: round(v, 3) for k, v in phases.items()}),
        **record_seconds(stage, seconds),
        **_docs_metadata(docs),
    })
    yield from check_results(tally, docs)
    in_tables = rows["fact_document"] + rows["quarantine"]
    yield dg.AssetCheckResult(
        check_name=ACCOUNTED, passed=in_tables == parsed["inputs"] == parsed["parsed"] + parsed["quarantined"],
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"inputs": parsed["inputs"], "documents": rows["fact_document"],
                  "quarantined": rows["quarantine"]})


def _current_across_the_run(stage):
    """The run's current versions (per department and fiscal year), decided over all its batches: each
    parse batch could only decide among its own documents. fact_document is small: read whole."""
    import pyarrow as pa

    from pifu.normalize import mark_current

    docs = staging.read(stage, ["fact_document"]).get("fact_document")
    if docs is None or docs.num_rows == 0:
        return pa.array([], pa.string())
    marked = mark_current(docs)
    return marked.filter(marked["is_current"])["document_id"]


def _with_current(fact_document, current):
    import pyarrow.compute as pc

    i = fact_document.schema.get_field_index("is_current")
    flags = pc.is_in(fact_document["document_id"], value_set=current)
    return fact_document.set_column(i, fact_document.schema.field(i), flags)


def _numbered_after(dq, offset: int):
    import pyarrow as pa
    import pyarrow.compute as pc

    if not offset or "result_no" not in dq.column_names:
        return dq
    i = dq.schema.get_field_index("result_no")
    return dq.set_column(i, dq.schema.field(i), pc.add(dq["result_no"], pa.scalar(offset, dq.schema.field(i).type)))


CHUNK_DOCUMENTS = 2000  # documents checked and written per chunk: memory is bounded by this, not the run


def _reference(settings: PifuSettings, stage, dirs, tables) -> dict:
    """What the chunk's documents look back on: the lake's documents, and the run's earlier chunks'
    (staged, memory-mapped; only the chunk's departments are kept)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    reference = lake.earlier_documents(settings.lake_path(), tables)
    first = dirs[0].name
    earlier = [b for b in staging.batches(stage) if b.name < first]
    if not earlier:
        return reference
    departments = pc.unique(tables["fact_document"]["department_id"])
    funding = tables["fact_funding"]
    # the years the chunk's history rows look back on (as lake.earlier_documents prunes the lake's)
    back = pc.unique(funding.filter(pc.less(funding["year"], funding["fiscal_year"]))["year"])
    out = {}
    for name in ("fact_document", "fact_funding"):
        parts = [reference[name]]
        for b in earlier:
            part = staging.read(b, [name]).get(name)
            if part is None or part.num_rows == 0:
                continue
            keep = pc.and_(pc.is_in(part["department_id"], departments), pc.is_in(part["fiscal_year"], back))
            if name == "fact_funding":  # a document's own year is what later documents look back on
                keep = pc.and_(keep, pc.equal(part["year"], part["fiscal_year"]))
            parts.append(part.filter(keep))
        out[name] = pa.concat_tables(parts)
    return out


def _pending(context, settings: PifuSettings):
    """Where the checks hand their frames for the background Data Docs build; None, logged, if it cannot be
    made (the docs show the checks, they do not decide them)."""
    from expectations import datadocs
    from pifu.locks import lake_lock_path

    try:  # built once this run has let go of the lake
        return datadocs.Pending(settings.data_path(), context.run_id, after=lake_lock_path(settings.lake_path()))
    except OSError as e:
        context.log.warning(f"GX Data Docs not built: {e}")
        return None


def _data_docs(context, settings: PifuSettings, mode: str, validations, frames, checked_at: datetime):
    """The GX Data Docs with this run's results (expectations.datadocs): built here (`inline`) or handed
    to a background process (`background`, the default); None, logged, if GX cannot build them: the
    docs show the checks, they do not decide them."""
    from expectations import datadocs

    if mode == "off" or (mode == "background" and frames is None):
        return None
    try:
        if mode == "background":
            return frames.start(checked_at)
        return datadocs.build(settings.data_path(), validations, context.run_id, checked_at)
    except Exception as e:  # noqa: BLE001 (any GX failure; the run's data is fine)
        context.log.warning(f"GX Data Docs not built: {type(e).__name__}: {e}")
        return None


def _docs_metadata(docs) -> dict:
    if docs is None:
        return {}
    return {"data_docs": dg.MetadataValue.url(docs.url), "data_docs_path": dg.MetadataValue.path(str(docs.index)),
            "data_docs_runs": dg.MetadataValue.path(str(docs.runs)),  # the offline list of every run
            "data_docs_seconds": dg.MetadataValue.float(round(docs.seconds, 3)),
            "data_docs_status": "building in the background" if docs.pending else "built"}


class Tally:
    """Check results over a run's chunks: per check, documents checked and failing (a document is in one
    chunk, so counts add up), and the first failures for the step's metadata."""

    LIMIT = 30

    def __init__(self):
        self.checked, self.failing, self.failures = Counter(), Counter(), defaultdict(list)
        self.findings = 0

    def add(self, dq) -> None:
        import pyarrow.compute as pc

        self.findings += int(dq.num_rows - pc.sum(dq["passed"]).as_py() if dq.num_rows else 0)
        small = dq.select(["check_name", "document_id", "passed"]).to_pydict()
        docs, bad = defaultdict(set), defaultdict(set)
        failed_rows = []
        for i, (name, doc, ok) in enumerate(zip(small["check_name"], small["document_id"], small["passed"])):
            docs[name].add(doc)
            if ok is False:
                bad[name].add(doc)
                if len(self.failures[name]) + sum(1 for r in failed_rows if r[0] == name) < self.LIMIT:
                    failed_rows.append((name, i))
        for name in docs:
            self.checked[name] += len(docs[name])
            self.failing[name] += len(bad[name])
        if failed_rows:
            picked = dq.take([i for _, i in failed_rows]).select(
                ["check_name", "document_id", "row_ref", "passed", "observed", "expected", "message", "source_path",
                 "source_cell", "attribution", "problem_code"]).to_pylist()
            for r in picked:
                self.failures[r["check_name"]].append(r)


def check_results(dq, docs=None):
    """One AssetCheckResult per check: pass rate over documents, and what is off, by how much; a link to
    the GX Data Docs page of the check's suite for this run. `dq`: the run's dq_result table or a Tally."""
    tally = dq
    if not isinstance(dq, Tally):
        tally = Tally()
        tally.add(dq)
    for name, spec in CHECKS.items():
        failed = tally.failures.get(name, [])
        checked, failing = tally.checked.get(name, 0), tally.failing.get(name, 0)
        yield dg.AssetCheckResult(
            check_name=name,
            passed=failing == 0,
            severity=dg.AssetCheckSeverity.ERROR if name in _ERROR else dg.AssetCheckSeverity.WARN,
            metadata={
                "documents_checked": checked,
                "documents_failing": failing,
                "pass_rate": dg.MetadataValue.float(round(1 - failing / checked, 4) if checked else 1.0),
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
