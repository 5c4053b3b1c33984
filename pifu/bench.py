"""`make bench`: parse throughput per core, then the whole pipeline on generated documents.

Figures, not assertions. Goals (from the issues): parsing text ≥ 1,500 documents/s/core, xlsx, xls, docx
and html ≥ 300, PDF ≥ 20 (each format measured on documents rendered from the same truths); 10,000 documents
into DuckDB < 60 s and into PostgreSQL < 90 s with peak memory < 2 GB; 10 new files on top of those
< 10 s; the expectations < 20% of the pipeline's time. PIFU_BENCH_DOCS=2000 make bench for a quick look.
"""
from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

PG_URL = os.environ.get("PIFU_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


SCALE_DOCS = 50_000  # from this many documents on (PIFU_BENCH_DOCS=100000), `make bench` is the scale run


def main() -> None:
    n = int(os.environ.get("PIFU_BENCH_DOCS", "10000"))
    if n >= SCALE_DOCS:
        scale(n)
        return
    from pifu.generate import generate

    with tempfile.TemporaryDirectory(prefix="pifu-bench-") as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        generate(n, root / "inbox", seed=1)
        generate(10, root / "extra", seed=999_999)
        print(f"generated {n} + 10 documents in {time.perf_counter() - t:.1f} s")
        bench_parse(root / "inbox", min(n, 3000))
        bench_formats(root)
        bench_executors(root / "inbox", min(n, 2000))
        schema = f"pifu_bench_{uuid.uuid4().hex[:8]}"
        targets = [("duckdb", f"duckdb:///{root / 'bench.duckdb'}"),
                   ("postgresql", f"{PG_URL}?options=-csearch_path%3D{schema}")]
        _pg(f"CREATE SCHEMA {schema}")
        try:
            for name, url in targets:
                env = {**os.environ, "PIFU_DATA_DIR": str(root / f"data-{name}"),
                       "DAGSTER_HOME": str(root / f"dagster-{name}"), "PIFU_LAKE_DIR": str(root / f"lake-{name}")}
                wall, peak, out = _timed_run([str(root / "inbox")], url, env)
                print(f"pipeline {name}: {n} documents in {wall:.1f} s, peak memory {peak:.0f} MB; {_checks(out)}")
                wall, peak, out = _timed_run([str(root / "inbox"), str(root / "extra")], url, env)
                print(f"pipeline {name}: 10 new files on top of {n} in {wall:.1f} s, peak memory {peak:.0f} MB")
        finally:
            _pg(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def bench_parse(inbox: Path, n: int) -> None:
    from pifu.api import parse_bytes

    files = sorted(p for p in inbox.iterdir() if p.suffix == ".txt")[:n]
    blobs = [(p.read_bytes(), str(p)) for p in files]
    t = time.process_time()
    for data, name in blobs:
        parse_bytes(data, name)
    cpu = time.process_time() - t
    rate = len(blobs) / cpu
    print(f"parse text: {rate:,.0f} documents/s/core over {len(blobs)} documents in {cpu:.2f} CPU s "
          f"(goal ≥ {PARSE_GOALS['text']:,}: {'met' if rate >= PARSE_GOALS['text'] else 'NOT met'})")


PARSE_GOALS = {"text": 1500, "xlsx": 300, "xls": 300, "docx": 300, "html": 300, "pdf": 20}
FORMAT_DOCS = {"xlsx": 300, "xls": 300, "docx": 300, "html": 300, "pdf": 60}


def bench_formats(root: Path) -> None:
    """Parse throughput per format, single process, CPU time (reading the bytes is not counted)."""
    import importlib.util

    from pifu.api import parse_bytes
    from pifu.generate import generate

    for fmt, n in FORMAT_DOCS.items():
        if importlib.util.find_spec(f"pifu.generate.render.{fmt}") is None:
            print(f"parse {fmt}: no renderer yet")
            continue
        paths = generate(n, root / f"formats-{fmt}", seed=7, fmt=fmt)
        blobs = [(p.read_bytes(), str(p)) for p in paths]
        t = time.process_time()
        for data, name in blobs:
            parse_bytes(data, name)
        rate = len(blobs) / (time.process_time() - t)
        print(f"parse {fmt}: {rate:,.0f} documents/s/core over {len(blobs)} documents "
              f"(goal ≥ {PARSE_GOALS[fmt]:,}: {'met' if rate >= PARSE_GOALS[fmt] else 'NOT met'})")


def _timed_run(sources: list[str], url: str, env: dict) -> tuple[float, float, str]:
    """Wall time of `pifu run` and the peak resident memory of its largest process (parse workers included)."""
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "pifu.cli", "run", *sources, "--warehouse", url], env=env,
                       capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    if p.returncode:
        print(p.stdout[-3000:], p.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"pifu run failed with {p.returncode}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return elapsed, peak, p.stdout


def _checks(out: str) -> str:
    m = re.search(r"^time: .*$", out, re.M)
    return m.group(0) if m else "no timing line"


def _pg(sql: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(sql)
    finally:
        engine.dispose()


def bench_executors(inbox: Path, n: int, workers: int = 2) -> dict[str, float]:
    """Parse + normalize throughput of the two executors on the same files: the local pool of `workers`
    processes, and a Dask LocalCluster of `workers` worker processes (one thread each)."""
    from pifu import ingest

    paths = sorted(str(p) for p in inbox.iterdir() if not p.name.endswith(ingest.SKIP_SUFFIXES))[:n]
    by_year, _ = ingest.plan(paths, set())  # the first n files only: planning 100,000 takes minutes
    files = sorted((f for fs in by_year.values() for f in fs), key=lambda f: f.path)
    rates = {}
    t = time.perf_counter()
    docs = sum(len(p.documents) for p in ingest.parse_stream(files, executor=ingest.LocalExecutor(workers)))
    rates["local"] = docs / (time.perf_counter() - t)
    print(f"executor local pool ({workers} processes): {rates['local']:,.0f} documents/s over {docs} documents")
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        print("executor dask: distributed not installed")
        return rates
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=50) as cluster, Client(cluster) as client:
        client.submit(sum, [1]).result()  # the workers are up before the clock starts
        t = time.perf_counter()
        docs = sum(len(p.documents) for p in ingest.parse_stream(files, executor=ingest.DaskExecutor(client=client)))
        rates["dask"] = docs / (time.perf_counter() - t)
    print(f"executor dask LocalCluster ({workers} workers x 1 thread): {rates['dask']:,.0f} documents/s over {docs} "
          "documents")
    return rates


def scale(n: int) -> None:
    """The scale run (PIFU_BENCH_DOCS=100000 make bench): `pifu run` over n generated documents into DuckDB
    and the lake, one run; per-stage time (the Dagster steps), peak memory of the largest process, documents/s.
    Goal: 100,000 documents with peak memory < 1.5 GB on this 2-core machine."""
    from pifu.generate import generate

    with tempfile.TemporaryDirectory(prefix="pifu-scale-") as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        generate(n, root / "inbox", seed=1)
        print(f"generated {n} documents in {time.perf_counter() - t:.1f} s")
        bench_executors(root / "inbox", min(n, 2000))
        env = {**os.environ, "PIFU_DATA_DIR": str(root / "data"), "DAGSTER_HOME": str(root / "dagster"),
               "PIFU_LAKE_DIR": str(root / "lake")}
        wall, peak, out = _timed_run([str(root / "inbox")], f"duckdb:///{root / 'scale.duckdb'}", env)
        loaded = re.search(r"loaded: ([\d,]+) documents", out)
        docs = int(loaded.group(1).replace(",", "")) if loaded else n
        print(f"scale run: {docs:,} documents in {wall:.1f} s ({docs / wall:,.0f} documents/s), peak memory "
              f"{peak:.0f} MB (goal < 1,536 MB: {'met' if peak < 1536 else 'NOT met'}); {_checks(out)}")
        for step, seconds in _step_seconds(root / "dagster").items():
            print(f"  stage {step}: {seconds:.1f} s ({docs / seconds:,.0f} documents/s)" if seconds else
                  f"  stage {step}: {seconds:.1f} s")
        lake_bytes = sum(f.stat().st_size for f in (root / "lake").rglob("*") if f.is_file())
        db_bytes = (root / "scale.duckdb").stat().st_size
        print(f"  lake {lake_bytes / 1e6:,.0f} MB, DuckDB warehouse {db_bytes / 1e6:,.0f} MB")


def _step_seconds(dagster_home: Path) -> dict[str, float]:
    """Each step's wall time in the instance's last run."""
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    from dagster import DagsterInstance

    with DagsterInstance.get() as instance:
        runs = instance.get_runs(limit=1)
        if not runs:
            return {}
        stats = instance.get_run_step_stats(runs[0].run_id)
    return {s.step_key: (s.end_time or 0) - (s.start_time or 0) for s in sorted(stats, key=lambda s: s.start_time or 0)}


if __name__ == "__main__":
    main()
