"""Delta Lake (deltalake) against Apache Iceberg (pyiceberg, SQL catalog on SQLite) on pifu's workload.

    .venv/bin/python tests/bench_lake_formats.py [documents per run] [runs]

Each run appends the fact_indicator_value rows (the largest table: 152 rows a document) of new
documents, partitioned by fiscal_year; then a document's rows are replaced (a new version), one fiscal
year is read (partition pruning) and the whole table is read; finally two processes append at once.
Prints one line per measurement; docs/lake.md quotes them.
"""
from __future__ import annotations

import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone

sys.path.insert(0, os.path.dirname(__file__))

import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402

from factories import synthetic  # noqa: E402
from pifu.normalize import normalize  # noqa: E402

T0 = datetime(2025, 3, 1, tzinfo=timezone.utc)
TABLE = "fact_indicator_value"


def run_tables(docs: int, runs: int) -> list[pa.Table]:
    base = normalize(synthetic(docs // 2) + synthetic(docs - docs // 2, start=50_000, fiscal_year=2024), T0)[TABLE]
    out = []
    for r in range(runs):
        ids = pc.binary_join_element_wise(base["document_id"], pa.scalar(f"-r{r}"), "")
        out.append(base.set_column(0, "document_id", ids))
    return out


def timed(label: str, fn):
    started = time.perf_counter()
    result = fn()
    print(f"{label:<48} {time.perf_counter() - started:8.3f} s")
    return result


# ---- Delta ----

def delta(folder: str, tables: list[pa.Table]) -> None:
    from deltalake import DeltaTable, write_deltalake

    uri = f"{folder}/delta"
    for i, t in enumerate(tables):
        timed(f"delta   append run {i + 1} ({t.num_rows} rows)",
              lambda: write_deltalake(uri, t, mode="append", partition_by=["fiscal_year"]))
    doc = tables[0]["document_id"][0].as_py()
    new_rows = tables[0].filter(pc.equal(tables[0]["document_id"], doc))

    def replace():
        dt = DeltaTable(uri)
        dt.delete(f"document_id = '{doc}'")
        write_deltalake(uri, new_rows, mode="append", partition_by=["fiscal_year"])
    timed("delta   replace one document's rows", replace)
    n = timed("delta   read fiscal_year=2024 (pruned)", lambda: DeltaTable(uri).to_pyarrow_dataset(
        file_pruning_predicate=[("fiscal_year", "=", "2024")]).to_table().num_rows)
    m = timed("delta   read all", lambda: DeltaTable(uri).to_pyarrow_table().num_rows)
    print(f"        rows: 2024 {n}, all {m}")
    timed("delta   time travel to version 0", lambda: DeltaTable(uri, version=0).to_pyarrow_table().num_rows)
    concurrent("delta", uri, tables[0])


# ---- Iceberg ----

def iceberg_catalog(folder: str):
    from pyiceberg.catalog.sql import SqlCatalog

    return SqlCatalog("bench", uri=f"sqlite:///{folder}/catalog.db", warehouse=f"file://{folder}/iceberg")


def iceberg(folder: str, tables: list[pa.Table]) -> None:
    from pyiceberg.expressions import EqualTo
    from pyiceberg.partitioning import PartitionField, PartitionSpec
    from pyiceberg.transforms import IdentityTransform

    cat = iceberg_catalog(folder)
    cat.create_namespace("pifu")
    schema = tables[0].schema
    tbl = cat.create_table("pifu.fiv", schema=schema)
    with tbl.update_spec() as spec:
        spec.add_identity("fiscal_year")
    tbl = cat.load_table("pifu.fiv")
    for i, t in enumerate(tables):
        timed(f"iceberg append run {i + 1} ({t.num_rows} rows)", lambda: cat.load_table("pifu.fiv").append(t))
    doc = tables[0]["document_id"][0].as_py()
    new_rows = tables[0].filter(pc.equal(tables[0]["document_id"], doc))
    timed("iceberg replace one document's rows", lambda: cat.load_table("pifu.fiv").overwrite(
        new_rows, overwrite_filter=EqualTo("document_id", doc)))
    n = timed("iceberg read fiscal_year=2024 (pruned)", lambda: cat.load_table("pifu.fiv").scan(
        row_filter=EqualTo("fiscal_year", 2024)).to_arrow().num_rows)
    m = timed("iceberg read all", lambda: cat.load_table("pifu.fiv").scan().to_arrow().num_rows)
    print(f"        rows: 2024 {n}, all {m}")
    first = cat.load_table("pifu.fiv").history()[1].snapshot_id
    timed("iceberg time travel to the first append", lambda: cat.load_table("pifu.fiv").scan(
        snapshot_id=first).to_arrow().num_rows)
    concurrent("iceberg", folder, tables[0])


# ---- two writers at once ----

def _append(kind: str, where: str, table: pa.Table, go, out) -> None:
    go.wait()
    try:
        if kind == "delta":
            from deltalake import write_deltalake

            write_deltalake(where, table, mode="append", partition_by=["fiscal_year"])
        else:
            iceberg_catalog(where).load_table("pifu.fiv").append(table)
        out.put("ok")
    except Exception as e:  # noqa: BLE001
        out.put(f"{type(e).__name__}: {str(e)[:120]}")


def concurrent(kind: str, where: str, table: pa.Table) -> None:
    ctx = multiprocessing.get_context("spawn")
    go, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_append, args=(kind, where, table.slice(0, 1000), go, out)) for _ in range(2)]
    for p in procs:
        p.start()
    time.sleep(3)  # both imported and waiting (a benchmark, not a test)
    go.set()
    for p in procs:
        p.join()
    print(f"{kind:<7} two concurrent appends: {sorted(out.get() for _ in procs)}")


def main() -> None:
    docs = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    tables = run_tables(docs, runs)
    folder = tempfile.mkdtemp(prefix="pifu-lake-bench-")
    try:
        delta(folder, tables)
        iceberg(folder, tables)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
