"""`make bench`: parse throughput per core, then the whole pipeline on generated documents.

Figures, not assertions: the goals are in the issues (≥1,000 docs/s/core parsing; 10,000 documents into
DuckDB < 60 s and PostgreSQL < 90 s, peak memory < 2 GB; 10 new files on top of those < 10 s; checks
< 20% of the pipeline). Sizes can be lowered for a quick look: PIFU_BENCH_DOCS=2000 make bench.
"""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
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
        print(f"generated {n} documents in {time.perf_counter() - t:.1f} s")
        bench_parse(root / "inbox")
        bench_checks(root / "inbox", min(n, 10000))
        for name, url in (("duckdb", f"duckdb:///{root / 'bench.duckdb'}"), ("postgresql", PG_URL)):
            if name == "postgresql":
                _reset_pg(url)
            env = {**os.environ, "PIFU_DATA_DIR": str(root / f"data-{name}"), "DAGSTER_HOME": "",
                   "PIFU_LAKE_DIR": str(root / f"lake-{name}")}
            env.pop("DAGSTER_HOME")
            first = _timed_run([str(root / "inbox")], url, env)
            print(f"pipeline {name}: {n} documents in {first[0]:.1f} s, peak memory {first[1]:.0f} MB")
            second = _timed_run([str(root / "inbox"), str(root / "extra")], url, env)
            print(f"pipeline {name}: +10 new files on top in {second[0]:.1f} s, peak memory {second[1]:.0f} MB")
            if name == "postgresql":
                _reset_pg(url)


def bench_parse(inbox: Path) -> None:
    from pifu.api import parse_bytes

    files = sorted(p for p in inbox.iterdir() if p.suffix == ".txt")
    blobs = [(p.read_bytes(), str(p)) for p in files]
    t = time.process_time()
    for data, name in blobs:
        parse_bytes(data, name)
    cpu = time.process_time() - t
    print(f"parse: {len(blobs)} text documents in {cpu:.2f} CPU s = {len(blobs) / cpu:,.0f} documents/s/core")


def bench_checks(inbox: Path, n: int) -> None:
    from datetime import datetime, timezone

    from expectations import run_checks
    from pifu.api import parse
    from pifu.normalize import normalize

    files = sorted(p for p in inbox.iterdir() if p.suffix == ".txt")[:n]
    now = datetime.now(timezone.utc)
    t = time.perf_counter()
    tables = normalize([parse(p) for p in files], now)
    t_norm = time.perf_counter() - t
    t = time.perf_counter()
    dq = run_checks(tables, run_id="bench", checked_at=now)
    t_dq = time.perf_counter() - t
    print(f"checks: {len(files)} documents, {dq.num_rows} results in {t_dq:.1f} s "
          f"(parse+normalize of the same: {t_norm:.1f} s)")


def _timed_run(sources: list[str], url: str, env: dict) -> tuple[float, float]:
    t = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    p = subprocess.run([sys.executable, "-m", "pifu.cli", "run", *sources, "--warehouse", url], env=env,
                       capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    if p.returncode:
        print(p.stdout[-3000:], p.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"pifu run failed with {p.returncode}")
    peak = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    return elapsed, peak


def _reset_pg(url: str) -> None:
    from sqlalchemy import create_engine, text

    from warehouse.schema import drop_all

    engine = create_engine(url)
    drop_all(engine)
    engine.dispose()
    del text


if __name__ == "__main__":
    main()
