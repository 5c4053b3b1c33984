"""Storage benchmark: normalize + lake + load of N synthetic documents, timed per stage.

    .venv/bin/python tests/bench_storage.py --docs 10000 --warehouse duckdb:///tmp/bench.duckdb
    .venv/bin/python tests/bench_storage.py --docs 10000 --warehouse postgresql+psycopg://postgres@127.0.0.1:5432/test

Documents are built (not parsed) in chunks and normalized chunk by chunk, as a pipeline would, so
peak memory reflects the Arrow tables rather than 10,000 documents' Python objects at once.
A PostgreSQL run works in a fresh schema it drops afterwards.
"""
from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).parent))

import factories  # noqa: E402
from pifu.lake import write_lake  # noqa: E402
from pifu.normalize import combine, normalize  # noqa: E402
from warehouse.load import load, table_counts  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=10_000)
    ap.add_argument("--chunk", type=int, default=1_000)
    ap.add_argument("--warehouse", default=None, help="URL; default a DuckDB file in a temp dir")
    ap.add_argument("--runs", type=int, default=1, help="successive runs, each adding --docs new documents")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="pifu-bench-"))
    url = args.warehouse or f"duckdb:///{work / 'warehouse.duckdb'}"
    schema = None
    if url.startswith("postgresql"):
        schema = f"pifu_bench_{uuid.uuid4().hex[:8]}"
        url = f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
        with sa.create_engine(url).begin() as c:
            c.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        for run in range(args.runs):
            bench_run(url, work / "lake", run * args.docs, args)
        print(table_counts(url))
    finally:
        if schema:
            with sa.create_engine(url).begin() as c:
                c.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        shutil.rmtree(work, ignore_errors=True)


def bench_run(url: str, lake_dir: Path, first: int, args) -> None:
    """One run. load() gets the URL, so its time includes closing the engine (DuckDB checkpoints then)."""
    loaded_at = datetime.now(timezone.utc)
    build = norm = 0.0
    batches = []
    for start in range(first, first + args.docs, args.chunk):
        t = time.perf_counter()
        docs = factories.synthetic(min(args.chunk, first + args.docs - start), start=start)
        build += time.perf_counter() - t
        t = time.perf_counter()
        batches.append(normalize(docs, loaded_at))
        norm += time.perf_counter() - t
        del docs
    t = time.perf_counter()
    tables = combine(batches)
    del batches
    norm += time.perf_counter() - t
    t = time.perf_counter()
    write_lake(lake_dir, tables)
    lake = time.perf_counter() - t
    t = time.perf_counter()
    result = load(url, tables, run_id="bench")
    loading = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"engine={url.split(':')[0]} docs={args.docs} (from #{first}) inserted={result}")
    print(f"  build documents (outside the total): {build:.1f}s")
    print(f"  normalize {norm:.1f}s  lake {lake:.1f}s  load {loading:.1f}s  "
          f"total {norm + lake + loading:.1f}s  peak RSS so far {peak:.0f} MB")


if __name__ == "__main__":
    main()
