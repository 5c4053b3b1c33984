"""The lake: one Delta Lake table per star-schema table, on local disk or S3-compatible object storage.

    lake/fact_funding/_delta_log/00000000000000000004.json    (Delta's own log: any Delta reader)
    lake/fact_funding/fiscal_year=2025/part-v000005-1a2b3c4d-0.parquet
    lake/dim_department/part-v000005-1a2b3c4d-0.parquet
    lake/_pifu_runs/_delta_log/…                               (the run log, a Delta table too)
    lake/_pifu_pending/v000005-1a2b3c4d.json                   (a run's written, unpublished files)

The lake root is a path or an `s3://bucket/prefix` URL (credentials and endpoint from the usual AWS_*
environment variables); files go through pyarrow's file systems, commits through delta-rs.

Two phases, as the warehouse needs them. `write_lake(..., publish=False)` writes the run's Parquet
files into the tables' folders and lists them (as Delta add actions) in a pending manifest; no Delta
log names them yet, so no reader sees them. `publish` commits them, one Delta commit per table (each
records the pifu run id and snapshot in its commitInfo), and then appends one row to the run log
`_pifu_runs`: the snapshot's number, its run id, and the Delta version of every table. The pipeline
publishes only after the warehouse committed the same rows. A run killed before publishing leaves
only unreferenced files (removed by the next writer); one killed inside `publish` leaves some tables
committed but no run-log row, and publishing again (`roll_forward`) finishes it (tables already
committed are recognised by their commitInfo).

Readers never see half a run: `read_lake` resolves the run log's last row (or `as_of`, a snapshot
number or a run id) and reads every table at the Delta version that row names (time travel). An
external reader that reads a table's latest version sees whole runs of that table; to see several
tables at one consistent point it reads their versions from `_pifu_runs`, e.g. in DuckDB:

    SELECT * FROM delta_scan('lake/fact_funding')                      -- latest committed version
    SELECT * FROM read_parquet('…')  -- or Spark: spark.read.format("delta").option("versionAsOf", v)

Fact tables are partitioned by the fiscal year of their document (the partition value lives in the
Delta log and the path, as Spark, Trino and DuckDB expect), so fact_text_item and fact_problem gain a
fiscal_year column in the lake. `read_lake` returns exactly the columns of `pifu.schema.SCHEMAS`.

One writer at a time: a lock file serialises writers of one lake (beside the lake on local disk; in
the data directory, keyed by the URL, for an object-store lake) and `publish` refuses a snapshot built
on a run log head that is no longer the head. Any number of readers.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from pifu.normalize import KEYS, first_by_key, mark_current
from pifu.schema import SCHEMAS

from pifu.faults import LakeError, os_fault, pause_at

YEAR = "fiscal_year"
RUNS = "_pifu_runs"
PENDING = "_pifu_pending"
# Small tables, rewritten whole each run. Dimensions take the newest spelling; documents and
# quarantine keep the first record of a key (a version, once stored, does not change).
REWRITTEN = ("dim_department", "dim_indicator", "fact_document", "quarantine")
NEWEST_WINS = frozenset({"dim_department", "dim_indicator"})
# Large tables: each run appends the rows of the documents it added.
APPENDED = ("fact_funding", "fact_indicator_value", "fact_text_item", "fact_problem", "dq_result", "fact_duty_target")
PARTITIONED = frozenset({"fact_document", "fact_funding", "fact_indicator_value", "fact_text_item", "fact_problem",
                         "fact_duty_target"})
WRITER_THREADS = 2  # a chunk's tables written at once (RunWriter)
_RUNS_SCHEMA = pa.schema([("version", pa.int64()), ("snapshot", pa.string()), ("run_id", pa.string()),
                          ("published_at", pa.timestamp("us", tz="UTC")), ("base", pa.int64()),
                          ("tables", pa.string())])  # JSON {table: Delta version}


# ---- where the lake is: a local folder or an object-store prefix ----

@dataclass(frozen=True)
class Root:
    uri: str  # what delta-rs is given: an absolute path or s3://bucket/prefix
    fs: pafs.FileSystem
    path: str  # the root inside `fs`

    @property
    def remote(self) -> bool:
        return "://" in self.uri

    def table_uri(self, name: str) -> str:
        return f"{self.uri}/{name}"

    def table_path(self, name: str) -> str:
        return f"{self.path}/{name}"

    def storage_options(self) -> dict[str, str] | None:
        return storage_options(self.uri)


def root_of(lake: str | os.PathLike) -> Root:
    text = str(lake)
    url = _S3_URL.match(text)  # s3://b/p, and s3:/b/p as pathlib.Path(…) spells it
    if url:
        bucket_path = url.group(1).rstrip("/")
        return Root(f"s3://{bucket_path}", _s3_filesystem(), bucket_path)
    if "://" in text and not text.startswith("file://"):
        raise LakeError(text, "only local paths and s3:// URLs are supported as lakes", "lake_unwritable")
    path = os.path.abspath(text.removeprefix("file://"))
    return Root(path, pafs.LocalFileSystem(), path)


_S3_URL = re.compile(r"^s3a?:/+(.+)$")


def is_remote(lake: str | os.PathLike) -> bool:
    return bool(_S3_URL.match(str(lake)))


def storage_options(uri: str) -> dict[str, str] | None:
    """delta-rs options for an s3:// lake from the usual AWS_* variables (delta-rs reads the keys itself)."""
    if "://" not in uri:
        return None
    env = os.environ
    opts: dict[str, str] = {}
    endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    if endpoint:
        opts["AWS_ENDPOINT_URL"] = endpoint
        if endpoint.startswith("http://"):
            opts["AWS_ALLOW_HTTP"] = "true"
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if region:
        opts["AWS_REGION"] = region
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        if env.get(key):
            opts[key] = env[key]
    # pifu serialises its writers itself (the lake lock, pifu.locks); without a DynamoDB locking provider
    # delta-rs needs to be told so. Set PIFU_LAKE_S3_LOCKING=dynamodb (and delta-rs' DynamoDB variables)
    # when writers outside pifu write the same tables.
    if env.get("PIFU_LAKE_S3_LOCKING", "").lower() == "dynamodb":
        opts["AWS_S3_LOCKING_PROVIDER"] = "dynamodb"
    else:
        opts["AWS_S3_ALLOW_UNSAFE_RENAME"] = "true"
    return opts


def _s3_filesystem() -> pafs.S3FileSystem:
    env = os.environ
    endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    kwargs = {}
    if endpoint:
        scheme, _, host = endpoint.partition("://")
        kwargs.update(endpoint_override=host.rstrip("/"), scheme=scheme or "https")
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if region:
        kwargs["region"] = region
    if env.get("AWS_ACCESS_KEY_ID"):
        kwargs.update(access_key=env["AWS_ACCESS_KEY_ID"], secret_key=env.get("AWS_SECRET_ACCESS_KEY", ""),
                      session_token=env.get("AWS_SESSION_TOKEN"))
    return pafs.S3FileSystem(**kwargs)


# ---- snapshots: a run's files, pending until published; the run log ----

class Snapshot(str):
    """A snapshot's handle: `<lake>/v000005-1a2b3c4d` (a str, so it goes into JSON and the warehouse as is).
    Its number is the run log version it becomes when published."""

    @property
    def name(self) -> str:
        return self.rstrip("/").rsplit("/", 1)[-1]

    @property
    def lake(self) -> str:
        return self.rstrip("/").rsplit("/", 1)[0]

    @property
    def version(self) -> int:
        return int(self.name[1:].split("-", 1)[0])

    def is_dir(self) -> bool:  # kept for callers of the folder-per-snapshot lake: "does it still exist"
        root = root_of(self.lake)
        return _exists(root, _pending_path(root, self.name)) or any(
            r["snapshot"] == self.name for r in _run_log(root))


def current_snapshot(lake_dir: str | os.PathLike) -> Snapshot | None:
    """The snapshot readers see now (the run log's last row); None for an empty lake."""
    root = root_of(lake_dir)
    head = _head(root)
    return Snapshot(f"{_display(lake_dir)}/{head['snapshot']}") if head else None


def snapshots(lake_dir: str | os.PathLike) -> list[dict]:
    """The run log: one dict per published snapshot (version, snapshot, run_id, published_at, base,
    tables = {table: Delta version}), oldest first."""
    return [{**r, "tables": json.loads(r["tables"])} for r in _run_log(root_of(lake_dir))]


def write_lake(lake_dir: str | os.PathLike, tables: dict[str, pa.Table], run_id: str | None = None,
               publish: bool = True) -> Snapshot:
    """Write the run's files for the snapshot after the current one; returns its handle.

    Rows of documents already in the lake are skipped, so writing the same batch twice adds nothing.
    With `publish=False` the files are written but not committed until `publish(snapshot)`: the pipeline
    publishes only after the warehouse committed the same rows. Raises LakeError (one line: disk full,
    not writable) when the storage refuses. A run too big to hold at once writes through `RunWriter`.
    """
    with RunWriter(lake_dir, run_id) as writer:
        writer.add(tables)
        snapshot = writer.finish(publish=publish)
    return snapshot


class RunWriter:
    """One run's rows, written chunk by chunk into one pending snapshot (memory bounded by the chunk).

        with lake.RunWriter(lake_dir, run_id) as w:
            for chunk in chunks:
                w.add(chunk)            # the fact rows of the chunk's new documents: files written now
            snapshot = w.finish()       # documents, dimensions, quarantine; the manifest; not published

    Fact tables get one file per chunk and fiscal year. fact_document is rewritten only in the fiscal
    years the run touches (is_current is decided per department and year), the dimensions whole (they
    are small), quarantine appended. Leaving the block by an exception removes what was written.
    """

    def __init__(self, lake_dir: str | os.PathLike, run_id: str | None = None):
        self.lake_dir, self.root = lake_dir, root_of(lake_dir)
        root = self.root
        with self._faults("cannot write the lake's next snapshot"):
            if not root.remote:
                os.makedirs(root.path, exist_ok=True)
            with _writer_lock(root):
                _remove_leftovers(root)
                self.head = _head(root)
                self.base = self.head["version"] if self.head else 0
                self.name = f"v{self.base + 1:06d}-{uuid.uuid4().hex[:8]}"
                self.run_id = run_id or self.name
                _claim(root, self.name)
                try:
                    _put_json(root, _pending_path(root, self.name),  # first: a kill mid-write leaves a trace
                              {"snapshot": self.name, "run_id": self.run_id, "base": self.base, "tables": {}})
                except BaseException:
                    _release(root, self.name)
                    raise
        self.versions = json.loads(self.head["tables"]) if self.head else {}
        self.plans: dict[str, dict] = {}
        self.chunks = 0
        self._ids_by_year: dict[int, set] = {}  # documents in the lake (head) and in this run, by year
        self._fresh_docs: list[pa.Table] = []
        self._small: dict[str, list[pa.Table]] = {t: [] for t in REWRITTEN if t != "fact_document"}
        self._quarantined: set | None = None
        self.done = False
        # A chunk's fact files are compressed and written by threads while the caller checks the next
        # chunk (Parquet's writer and fsync release the GIL); one chunk in flight at a time, its tables
        # two at once: one thread was the slower side, and the caller waited for it (docs/performance.md).
        self._writer: ThreadPoolExecutor | None = None
        self._in_flight: list[tuple[str, Future]] | None = None

    def __enter__(self) -> "RunWriter":
        return self

    def __exit__(self, kind, value, tb) -> None:
        if kind is not None and not self.done:
            self.abort()

    @contextmanager
    def _faults(self, doing: str):
        try:
            yield
        except OSError as e:
            raise os_fault(LakeError, str(self.lake_dir), e, doing) from e

    def _current(self, t: str, fiscal_years=None, columns=None) -> pa.Table:
        v = self.versions.get(t)
        if v is None:
            return SCHEMAS[t].empty_table() if columns is None else SCHEMAS[t].empty_table().select(columns)
        return _read(self.root, t, v, fiscal_years, columns)

    def _known_ids(self, year: int) -> set:
        if year not in self._ids_by_year:
            ids = self._current("fact_document", [year], ["document_id"])["document_id"].to_pylist()
            self._ids_by_year[year] = set(ids)
        return self._ids_by_year[year]

    def add(self, tables: dict[str, pa.Table]) -> None:
        """The chunk's rows: fact rows of its documents not in the lake (nor earlier in this run) are
        written now; its documents, dimension rows and quarantine records are kept for `finish`."""
        unknown = set(tables) - set(REWRITTEN) - set(APPENDED)
        if unknown:
            raise ValueError(f"not lake tables: {sorted(unknown)}")
        tables = {k: v.select(SCHEMAS[k].names).cast(SCHEMAS[k]) for k, v in tables.items()}
        self.chunks += 1
        incoming = tables.get("fact_document", SCHEMAS["fact_document"].empty_table())
        keep = []
        for i, (doc, year) in enumerate(zip(incoming["document_id"].to_pylist(), incoming[YEAR].to_pylist())):
            known = self._known_ids(year)
            if doc not in known:
                known.add(doc)
                keep.append(i)
        fresh = incoming.take(pa.array(keep, pa.int64())) if len(keep) < incoming.num_rows else incoming
        if fresh.num_rows:
            self._fresh_docs.append(fresh)
        for t in self._small:
            if tables.get(t) is not None and tables[t].num_rows:
                self._small[t].append(tables[t])
        fresh_ids = fresh["document_id"].combine_chunks()
        years = dict(zip(fresh["document_id"].to_pylist(), fresh[YEAR].to_pylist()))
        files = []
        for t in APPENDED:
            rows = tables.get(t)
            if rows is None or rows.num_rows == 0 or len(fresh_ids) == 0:
                continue
            mine = pc.is_in(rows["document_id"], fresh_ids)
            if t == "dq_result":  # batch-level results (no document) belong to a run that added documents
                mine = pc.or_kleene(mine, pc.is_null(rows["document_id"]))
            mine = pc.fill_null(mine, False)
            files.append((t, rows if pc.all(mine).as_py() else rows.filter(mine)))
        self._settle()  # the previous chunk's files: written, or its error raised here
        if files:
            self._writer = self._writer or ThreadPoolExecutor(WRITER_THREADS, thread_name_prefix="pifu-lake-writer")
            name = f"{self.name}-{self.chunks}"
            self._in_flight = [(t, self._writer.submit(_write, self.root, t, rows, name, years)) for t, rows in files]

    def _settle(self) -> None:
        """Wait for the chunk in flight; its files join the plan in the order the chunks (and, within one,
        its tables) came."""
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is None:
            return
        with self._faults("cannot write the lake's next snapshot"):
            for t, future in in_flight:
                adds = future.result()
                if adds:
                    self.plans.setdefault(t, {"mode": "append", "adds": []})["adds"].extend(adds)

    def _stop_writer(self) -> None:
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None

    def finish(self, publish: bool = False) -> Snapshot:
        """Write the documents, dimensions and quarantine, then the manifest; publish if asked."""
        root, tag = self.root, f"{self.name}-0"
        self._settle()
        self._stop_writer()
        with self._faults("cannot write the lake's next snapshot"):
            fresh = pa.concat_tables(self._fresh_docs) if self._fresh_docs else None
            if fresh is not None:
                touched = sorted(set(fresh[YEAR].to_pylist()))
                merged = mark_current(first_by_key(pa.concat_tables([self._current("fact_document", touched),
                                                                     fresh]), "document_id"))
                years = dict(zip(merged["document_id"].to_pylist(), merged[YEAR].to_pylist()))
                self.plans["fact_document"] = {"mode": "overwrite", "adds": _write(root, "fact_document", merged,
                                                                                   tag, years),
                                               "years": touched}
            for t in NEWEST_WINS:
                if self._small[t]:
                    merged = first_by_key(pa.concat_tables([*self._small[t], self._current(t)]), KEYS[t])
                    self.plans[t] = {"mode": "overwrite", "adds": _write(root, t, merged, tag, {})}
            if self._small["quarantine"]:
                if self._quarantined is None:
                    self._quarantined = set(self._current("quarantine", columns=["sha256"])["sha256"].to_pylist())
                new = first_by_key(pa.concat_tables(self._small["quarantine"]), "sha256")
                mine = pc.invert(pc.is_in(new["sha256"], pa.array(list(self._quarantined), pa.string())))
                new = new.filter(mine)
                if new.num_rows:
                    self.plans["quarantine"] = {"mode": "append", "adds": _write(root, "quarantine", new, tag, {})}
            manifest = {"snapshot": self.name, "run_id": self.run_id, "base": self.base, "tables": self.plans}
            _put_json(root, _pending_path(root, self.name), manifest)
            self.done = True
            snapshot = Snapshot(f"{_display(self.lake_dir)}/{self.name}")
            if publish:
                with _writer_lock(root):
                    _publish(root, self.name)
        pause_at("lake")
        return snapshot

    def abort(self) -> None:
        """Remove what this writer wrote (its snapshot was never published)."""
        self.done = True
        self._stop_writer()  # a file still being written would outlive the removal
        self._in_flight = None
        _delete_named(self.root, f"part-{self.name}-")
        _delete(self.root, _pending_path(self.root, self.name))
        _release(self.root, self.name)


def publish(snapshot: str | os.PathLike) -> None:
    """Commit a snapshot written with `publish=False`. Refuses (LakeError) when it is gone or when another
    writer published since it was built: it would hide that writer's documents."""
    snapshot = Snapshot(str(snapshot))
    root = root_of(snapshot.lake)
    try:
        with _writer_lock(root):
            _publish(root, snapshot.name)
    except OSError as e:
        raise os_fault(LakeError, str(snapshot), e, "cannot publish the lake's snapshot") from e


def roll_forward(lake_dir: str | os.PathLike, committed: str | os.PathLike | None) -> bool:
    """Publish `committed`, the snapshot whose rows the warehouse committed, if its run died before
    publishing it (it is still pending and built on the current head). Call it under the run lock,
    before anything writes the lake. Returns whether it published."""
    if not committed:
        return False
    name = Snapshot(str(committed)).name
    root = root_of(lake_dir)
    with _writer_lock(root):
        head = _head(root)
        manifest = _get_json(root, _pending_path(root, name))
        if manifest is None or (head and head["snapshot"] == name):
            return False
        if manifest["base"] != (head["version"] if head else 0) or manifest["tables"] is None:
            return False  # the lake moved on since: stale, and the next run fills in instead
        _publish(root, name)
        return True


def _publish(root: Root, name: str) -> None:
    from deltalake import CommitProperties, DeltaTable
    from deltalake.transaction import AddAction, create_table_with_add_actions

    manifest = _get_json(root, _pending_path(root, name))
    head = _head(root)
    if manifest is None:
        raise LakeError(f"{root.uri}/{name}", "this run's lake snapshot was removed by another writer before it "
                        "was published; run again (files the lake lacks are parsed again)")
    if manifest["base"] != (head["version"] if head else 0):
        raise LakeError(f"{root.uri}/{name}", f"built on snapshot {manifest['base']} but {head['version']} is "
                        "current now (another writer published in between); not published, run again "
                        "(files the lake lacks are parsed again)")
    versions = json.loads(head["tables"]) if head else {}
    props = CommitProperties(custom_metadata={"pifu_snapshot": name, "pifu_run_id": manifest["run_id"]})
    opts = root.storage_options()
    for table, plan in manifest["tables"].items():
        adds = [AddAction(a["path"], a["size"], a["partition_values"], a["modification_time"], True, a["stats"])
                for a in plan["adds"]]
        schema = _delta_schema(table)
        partition_by = [YEAR] if table in PARTITIONED else None
        uri = root.table_uri(table)
        if not _exists(root, f"{root.table_path(table)}/_delta_log"):
            create_table_with_add_actions(uri, schema, adds, mode="error", partition_by=partition_by,
                                          storage_options=opts, commit_properties=props)
            versions[table] = DeltaTable(uri, storage_options=opts).version()
            continue
        dt = DeltaTable(uri, storage_options=opts)
        done = _committed_version(dt, name)  # a publish killed after this table's commit, before the log's
        if done is None:
            filters = [(YEAR, "in", [str(y) for y in plan["years"]])] if plan.get("years") else None
            dt.create_write_transaction(adds, plan["mode"], schema, partition_by=partition_by,
                                        partition_filters=filters, commit_properties=props)
            dt.update_incremental()
            done = dt.version()
        versions[table] = done
    pause_at("publish-log")
    row = {"version": manifest["base"] + 1, "snapshot": name, "run_id": manifest["run_id"],
           "published_at": datetime.now(timezone.utc), "base": manifest["base"],
           "tables": json.dumps(versions, sort_keys=True)}
    _append_run(root, row)
    _delete(root, _pending_path(root, name))
    _release(root, name)
    _remove_leftovers(root)  # what killed writers left on the old head can never be published now


def _committed_version(dt, name: str) -> int | None:
    for commit in dt.history(limit=5):
        if commit.get("pifu_snapshot") == name or (commit.get("userMetadata") or "").find(name) >= 0:
            return commit.get("version")
    return None


def _append_run(root: Root, row: dict) -> None:
    from deltalake import write_deltalake

    write_deltalake(root.table_uri(RUNS), pa.Table.from_pylist([row], schema=_RUNS_SCHEMA), mode="append",
                    storage_options=root.storage_options())
    _run_log_cache.pop(root.uri, None)


_run_log_cache: dict[str, tuple[int, list[dict]]] = {}


def _run_log(root: Root) -> list[dict]:
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        dt = DeltaTable(root.table_uri(RUNS), storage_options=root.storage_options())
    except TableNotFoundError:
        return []
    cached = _run_log_cache.get(root.uri)
    if cached and cached[0] == dt.version():
        return cached[1]
    rows = sorted(dt.to_pyarrow_table().to_pylist(), key=lambda r: r["version"])
    _run_log_cache[root.uri] = (dt.version(), rows)
    return rows


def _head(root: Root) -> dict | None:
    log = _run_log(root)
    return log[-1] if log else None


def _resolve(root: Root, as_of: int | str | None) -> dict | None:
    log = _run_log(root)
    if as_of is None:
        return log[-1] if log else None
    for r in log:
        if r["version"] == as_of or r["run_id"] == as_of or r["snapshot"] == as_of:
            return r
    raise LakeError(root.uri, f"no snapshot {as_of!r} in the lake's run log", "lake_unwritable")


# ---- reading ----

def read_lake(lake_dir: str | os.PathLike, table: str, fiscal_years: list[int] | None = None,
              as_of: int | str | None = None) -> pa.Table:
    """`table` as of the current snapshot, or `as_of` (a snapshot number or a run id): empty when the lake
    has none. `fiscal_years` prunes partitions."""
    root = root_of(lake_dir)
    entry = _resolve(root, as_of)
    if entry is None:
        return SCHEMAS[table].empty_table()
    version = json.loads(entry["tables"]).get(table)
    if version is None:
        return SCHEMAS[table].empty_table()
    return _read(root, table, version, fiscal_years)


def _read(root: Root, table: str, version: int, fiscal_years: list[int] | None = None,
          columns: list[str] | None = None) -> pa.Table:
    from deltalake import DeltaTable

    schema = SCHEMAS[table] if columns is None else pa.schema([SCHEMAS[table].field(c) for c in columns])
    dt = DeltaTable(root.table_uri(table), version=version, storage_options=root.storage_options())
    partitions = None
    if fiscal_years is not None and table in PARTITIONED:
        if not fiscal_years:
            return schema.empty_table()
        partitions = [(YEAR, "in", [str(y) for y in fiscal_years])]
    dataset = dt.to_pyarrow_dataset(file_pruning_predicate=partitions)
    data = dataset.to_table(columns=[c for c in schema.names if c in dataset.schema.names])
    columns = [data[n].cast(f.type) if n in data.column_names else pa.nulls(data.num_rows, f.type)
               for n, f in zip(schema.names, schema)]
    return pa.Table.from_arrays(columns, schema=schema)


_HEAD = object()  # earlier_documents: read the run log's last row


def earlier_documents(lake_dir: str | os.PathLike, tables: dict[str, pa.Table], head=_HEAD,
                      columns: dict[str, list[str]] | None = None) -> dict[str, pa.Table]:
    """fact_document and fact_funding of the lake's documents that the run's documents look back on:
    their departments, the years their history covers (partitions pruned, so cheap on a big lake).
    `head`: the run log's row to read at (RunWriter.head: a writer's lake does not move under it; None
    for an empty lake), instead of reading the log again. `columns`: per table, only these (they must
    hold department_id)."""
    root = root_of(lake_dir)
    head = _head(root) if head is _HEAD else head
    departments, funding = pc.unique(tables["fact_document"]["department_id"]), tables["fact_funding"]
    back = [] if head is None else pc.unique(  # an empty lake: nothing to look back on
        funding.filter(pc.less(funding["year"], funding["fiscal_year"]))["year"]).to_pylist()
    out = {}
    for name in ("fact_document", "fact_funding"):
        version = json.loads(head["tables"]).get(name) if head else None
        wanted = (columns or {}).get(name)
        if version is None:
            earlier = SCHEMAS[name].empty_table()
            earlier = earlier.select(wanted) if wanted else earlier
        else:
            earlier = _read(root, name, version, back, wanted)
        out[name] = earlier.filter(pc.is_in(earlier["department_id"], departments))
    return out


def known_sha256(lake_dir: str | os.PathLike) -> set[str]:
    """Files the lake already holds, loaded or quarantined: a run need not parse them again. The run log
    read once for both tables, and of each table its sha256 column only."""
    root = root_of(lake_dir)
    head = _head(root)
    versions = json.loads(head["tables"]) if head else {}
    return {
        sha
        for table in ("fact_document", "quarantine") if table in versions
        for sha in _read(root, table, versions[table], columns=["sha256"]).column("sha256").to_pylist()
    }


# ---- writing the files ----

def _stored_schema(table: str) -> pa.Schema:
    """The columns in the file: a partition column is in the path (and Delta's log) only."""
    schema = SCHEMAS[table]
    if table in PARTITIONED and YEAR in schema.names:
        return schema.remove(schema.get_field_index(YEAR))
    return schema


def _table_schema(table: str) -> pa.Schema:
    stored = _stored_schema(table)
    return stored.append(pa.field(YEAR, pa.int32())) if table in PARTITIONED else stored


def _delta_schema(table: str):
    from deltalake import Schema

    return Schema.from_arrow(_table_schema(table))


def _write(root: Root, t: str, table: pa.Table, name: str, years: dict[str, int]) -> list[dict]:
    if table.num_rows == 0:
        return []
    folder = root.table_path(t)
    stored = _stored_schema(t)
    if t not in PARTITIONED:
        return [_add(root, folder, f"part-{name}-0.parquet", table.select(stored.names), {})]
    year_column = table[YEAR] if YEAR in table.column_names else pa.array(
        [years[d] for d in table["document_id"].to_pylist()], pa.int32())
    body = table.select(stored.names)
    years_here = pc.unique(year_column).to_pylist()
    adds = []
    for year in years_here:
        # A filter copies the table: skip it in the usual single-year batch.
        part = body if len(years_here) == 1 else body.filter(pc.equal(year_column, year))
        adds.append(_add(root, folder, f"{YEAR}={year}/part-{name}-0.parquet", part, {YEAR: str(year)}))
    return adds


def _add(root: Root, folder: str, rel: str, table: pa.Table, partition_values: dict) -> dict:
    path = f"{folder}/{rel}"
    _write_file(root, path, table)
    size = root.fs.get_file_info(path).size
    return {"path": rel, "size": size, "partition_values": partition_values,
            "modification_time": int(time.time() * 1000), "stats": json.dumps({"numRecords": table.num_rows})}


def _write_file(root: Root, path: str, table: pa.Table) -> None:
    if not root.remote:
        os.makedirs(os.path.dirname(path), exist_ok=True)
    pq.write_table(table, path, filesystem=root.fs, compression="zstd")
    if not root.remote:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# ---- leftovers of killed writers ----

# Unpublished snapshots of writers in this process: name -> the descriptor holding its claim's flock.
# The kernel drops the lock when the writer dies, so another process can tell a live writer's pending
# snapshot (kept) from a dead one's (removed once stale). Claims are local files: beside a local lake,
# in the data directory for an object-store lake (writers on other machines are kept out by the run lock).
_claims: dict[str, int] = {}


def _claim_path(root: Root, name: str) -> Path:
    if root.remote:
        return lock_path(root.uri).with_name(lock_path(root.uri).stem + f"-{name}.claim")
    return Path(root.path) / PENDING / f"{name}.claim"


def _claim(root: Root, name: str) -> None:
    path = _claim_path(root, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    _claims[f"{root.uri}/{name}"] = fd


def _release(root: Root, name: str) -> None:
    fd = _claims.pop(f"{root.uri}/{name}", None)
    _claim_path(root, name).unlink(missing_ok=True)
    if fd is not None:
        os.close(fd)


def _claimed_by_a_live_writer(root: Root, name: str) -> bool:
    if f"{root.uri}/{name}" in _claims:
        return True
    try:
        fd = os.open(_claim_path(root, name), os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False  # its writer died (the kernel dropped its lock)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def _remove_leftovers(root: Root) -> None:
    """Pending snapshots that can no longer be published (built on an older head) and their files.
    A pending snapshot built on the current head stays: its run may still publish it (roll_forward).
    A writer killed while writing files has not listed them yet: they are found by their name."""
    head = _head(root)
    base = head["version"] if head else 0
    selector = pafs.FileSelector(f"{root.path}/{PENDING}", allow_not_found=True)
    for info in root.fs.get_file_info(selector):
        if not info.path.endswith(".json"):
            continue
        manifest = _get_json(root, info.path)
        if manifest is None or manifest["base"] >= base or _claimed_by_a_live_writer(root, manifest["snapshot"]):
            continue  # a live writer publishes its own, or learns why it cannot
        if manifest.get("tables"):
            for t, plan in manifest["tables"].items():
                for a in plan["adds"]:
                    _delete(root, f"{root.table_path(t)}/{a['path']}")
        else:
            _delete_named(root, f"part-{manifest['snapshot']}-")
        _delete(root, info.path)
        _claim_path(root, manifest["snapshot"]).unlink(missing_ok=True)


def _delete_named(root: Root, prefix: str) -> None:
    for t in (*REWRITTEN, *APPENDED):
        selector = pafs.FileSelector(root.table_path(t), allow_not_found=True, recursive=True)
        for info in root.fs.get_file_info(selector):
            if info.base_name.startswith(prefix):
                _delete(root, info.path)


# ---- small file helpers ----

def _pending_path(root: Root, name: str) -> str:
    return f"{root.path}/{PENDING}/{name}.json"


def _display(lake_dir) -> str:
    root = root_of(lake_dir)
    return root.uri


def _exists(root: Root, path: str) -> bool:
    return root.fs.get_file_info(path).type != pafs.FileType.NotFound


def _put_json(root: Root, path: str, obj: dict) -> None:
    data = json.dumps(obj).encode()
    if root.remote:
        with root.fs.open_output_stream(path) as f:
            f.write(data)
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{uuid.uuid4().hex[:8]}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _get_json(root: Root, path: str) -> dict | None:
    try:
        with root.fs.open_input_stream(path) as f:
            return json.loads(f.read())
    except (FileNotFoundError, OSError) as e:
        if isinstance(e, FileNotFoundError) or "not exist" in str(e) or "NoSuchKey" in str(e) \
                or "Path does not exist" in str(e):
            return None
        raise


def _delete(root: Root, path: str) -> None:
    try:
        root.fs.delete_file(path)
    except (FileNotFoundError, OSError):
        pass


def lock_path(lake: str | os.PathLike) -> Path:
    """The writer lock file of a lake: beside it on local disk; for an object-store lake, in the data
    directory (PIFU_DATA_DIR, else ./data) under locks/, keyed by the lake's URL."""
    root = root_of(lake)
    if not root.remote:
        return Path(root.path) / ".lock"
    data = Path(os.environ.get("PIFU_DATA_DIR") or "data")
    return data / "locks" / f"lake-{hashlib.sha256(root.uri.encode()).hexdigest()[:16]}.lock"


@contextmanager
def _writer_lock(root: Root):
    path = lock_path(root.uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
