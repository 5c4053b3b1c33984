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


def main() -> None:
    n = int(os.environ.get("PIFU_BENCH_DOCS", "10000"))
    from pifu.generate import generate

    with tempfile.TemporaryDirectory(prefix="pifu-bench-") as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        generate(n, root / "inbox", seed=1)
        generate(10, root / "extra", seed=999_999)
        print(f"generated {n} + 10 documents in {time.perf_counter() - t:.1f} s")
        bench_parse(root / "inbox", min(n, 3000))
        bench_formats(root)
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


if __name__ == "__main__":
    main()
