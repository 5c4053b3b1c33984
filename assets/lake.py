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
    from expectations.history import REFERENCE_COLUMNS

    docs_mode = datadocs.mode()
    checked_at, phases = datetime.now(timezone.utc), {}
    validations = [] if docs_mode == "inline" else None
    # background Data Docs get the checked frames of the run's last chunk (one chunk below 2,000 documents)
    frames = _pending(context, settings) if docs_mode == "background" else None
    earlier = {name: [] for name in REFERENCE_COLUMNS}  # what the run's chunks so far give the next to look back on
    tally, rows, years, checks_seconds = Tally(), Counter(), set(), 0.0
    progress = Progress("checked and written to the lake", parsed["parsed"], log=context.log.info, unit="documents")
    current = _current_across_the_run(stage)
    # Chunk by chunk (staging.chunks): the checks and the lake's files never hold the whole run.
    with lake.RunWriter(settings.lake_path(), run_id=context.run_id) as writer:
        for (dirs, tables), last in _with_last(staging.chunks(stage, CHUNK_DOCUMENTS, with_dirs=True)):
            checking = time.perf_counter()
            reference = _reference(settings, writer, earlier, tables)
            if not last:
                _keep_for_later(earlier, tables)  # as staged: each batch's own is_current, not the run's
            tables["fact_document"] = _with_current(tables["fact_document"], current)
            # only the last chunk's frames: each chunk's would replace the one before
            dq = run_checks(tables, run_id=context.run_id, checked_at=checked_at, reference=reference,
                            validations=validations, frames=frames if last else None, timings=phases)
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


_NONE = object()


def _with_last(items):
    """Each item with whether it is the last: one read ahead (a staged chunk is memory-mapped, cheap to hold)."""
    items = iter(items)
    item = next(items, _NONE)
    if item is _NONE:
        return
    for following in items:
        yield item, False
        item = following
    yield item, True


def _keep_for_later(earlier: dict, tables) -> None:
    """What later chunks look back on in this one: its documents and their own year's funding rows,
    with the columns the history check reads (expectations.history.REFERENCE_COLUMNS)."""
    import pyarrow.compute as pc

    from expectations.history import REFERENCE_COLUMNS

    funding = tables["fact_funding"]
    own_year = funding.filter(pc.equal(funding["year"], funding["fiscal_year"]))
    earlier["fact_document"].append(tables["fact_document"].select(REFERENCE_COLUMNS["fact_document"]))
    earlier["fact_funding"].append(own_year.select(REFERENCE_COLUMNS["fact_funding"]))


def _reference(settings: PifuSettings, writer, earlier: dict, tables) -> dict:
    """What the chunk's documents look back on: the lake's documents as of the snapshot `writer` builds
    on, and the run's earlier chunks' (`earlier`, from _keep_for_later; only the chunk's departments and
    the years it looks back on are kept), with the columns the history check reads. The earlier chunks'
    rows are kept in memory, not read back from staging and filtered again for every chunk."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from expectations.history import REFERENCE_COLUMNS

    reference = lake.earlier_documents(settings.lake_path(), tables, head=writer.head, columns=REFERENCE_COLUMNS)
    if not earlier["fact_document"]:
        return reference
    departments = pc.unique(tables["fact_document"]["department_id"])
    funding = tables["fact_funding"]
    # the years the chunk's history rows look back on (as lake.earlier_documents prunes the lake's)
    back = pc.unique(funding.filter(pc.less(funding["year"], funding["fiscal_year"]))["year"])
    out = {}
    for name in REFERENCE_COLUMNS:
        parts = [reference[name]]
        for part in earlier[name]:
            parts.append(part.filter(pc.and_(pc.is_in(part["department_id"], departments),
                                             pc.is_in(part["fiscal_year"], back))))
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
        failed = dq.filter(pc.equal(dq["passed"], False))  # a few percent of the rows
        for name, n in _documents_per_check(dq):
            self.checked[name] += n
        for name, n in _documents_per_check(failed):
            self.failing[name] += n
        picked, room = [], {}  # the first failures of each check, in row order
        for i, name in enumerate(failed["check_name"].to_pylist()):
            left = room.setdefault(name, self.LIMIT - len(self.failures[name]))
            if left > 0:
                room[name] = left - 1
                picked.append(i)
        if picked:
            for r in failed.take(picked).select(
                    ["check_name", "document_id", "row_ref", "passed", "observed", "expected", "message",
                     "source_path", "source_cell", "attribution", "problem_code"]).to_pylist():
                self.failures[r["check_name"]].append(r)


def _documents_per_check(dq):
    """(check_name, distinct document_ids, a null one counted too) per check in `dq`."""
    import pyarrow.compute as pc

    counted = dq.select(["check_name", "document_id"]).group_by("check_name").aggregate(
        [("document_id", "count_distinct", pc.CountOptions(mode="all"))])
    return zip(counted["check_name"].to_pylist(), counted["document_id_count_distinct"].to_pylist())


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
