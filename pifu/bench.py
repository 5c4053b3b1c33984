"""`make bench`: parse throughput per core, then the whole pipeline on generated documents.

Figures, not assertions. Goals (from the issues, printed beside each figure): parsing text ≥ 1,500
documents/s/core, xlsx, xls, docx and html ≥ 300, PDF ≥ 20 (each format measured on documents rendered
from the same truths, CPU time, the median of five passes taken round the formats in turn, after one
untimed document); 10,000 documents into DuckDB < 8 s and into PostgreSQL < 12 s, each within 5× of the
floor (reading the same files and bulk-inserting the same rows, measured in the same run); 10 new files
on top of those < 3 s end to end (CLI, from process start); peak memory < 800 MB (each run's largest
VmHWM). Each pipeline line is followed by its seconds per stage (discover, hash, parse, normalize,
expectations, lake, warehouse, other) as `pifu run` prints them. The machine is shared: the load average
is printed with each figure, and CPU seconds (user + system, parse workers included) beside the wall
time; first, the machine's speed at the moment (a 10-million-step Python loop: 0.12-0.27 s on this
machine when quiet, 0.35-0.40 s at its slowest), since the same code's figures here have differed
twofold from hour to hour.
PIFU_BENCH_DOCS=2000 make bench for a quick look; PIFU_BENCH_DOCS=100000 PIFU_BENCH_CACHE=dir make bench for
the scale run, keeping its generated documents in dir for the next one.
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
PIPELINE_GOALS = {"duckdb": 8.0, "postgresql": 12.0}  # seconds for 10,000 documents
FLOOR_RATIO_GOAL = 5.0
INCREMENT_GOAL = 3.0  # seconds for ten new files, CLI from process start
MEMORY_GOAL_MB = 800


SCALE_DOCS = 50_000  # from this many documents on (PIFU_BENCH_DOCS=100000), `make bench` is the scale run


def main() -> None:
    n = int(os.environ.get("PIFU_BENCH_DOCS", "10000"))
    print(machine_speed())
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
        # in a process of their own, as a parse worker is: not in this one, which generated 10,000 files
        subprocess.run([sys.executable, "-m", "pifu.bench", "parse", str(root), str(min(n, 3000))], check=True)
        bench_executors(root / "inbox", min(n, 2000))
        schema = f"pifu_bench_{uuid.uuid4().hex[:8]}"
        targets = [("duckdb", f"duckdb:///{root / 'bench.duckdb'}"),
                   ("postgresql", f"{PG_URL}?options=-csearch_path%3D{schema}")]
        _pg(f"CREATE SCHEMA {schema}")
        try:
            for name, url in targets:
                env = {**os.environ, "PIFU_DATA_DIR": str(root / f"data-{name}"),
                       "DAGSTER_HOME": str(root / f"dagster-{name}"), "PIFU_LAKE_DIR": str(root / f"lake-{name}")}
                bench_pipeline(name, url, env, root, n)
                if name == "postgresql":
                    _pg(f"DROP SCHEMA IF EXISTS {schema}_floor CASCADE")
        finally:
            _pg(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        bench_regions(root, min(n, 200))
        _wait_for_builders()


def machine_speed() -> str:
    """The fastest of three 10-million-step loops, with the load average: what the figures below are
    worth at this moment."""
    loops = []
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(10_000_000):
            pass
        loops.append(time.perf_counter() - t)
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    # The loop's speed depends on the interpreter's build as much as on the machine: Debian's python3.11 (the
    # Makefile's choice) parses ~15% faster than pyenv's source build (docs/performance.md).
    python = f"Python {sys.version.split()[0]} ({os.path.realpath(sys._base_executable)})"
    return (f"machine: a 10-million-step Python loop takes {min(loops):.2f} s under {python} (pyenv's build: "
            f"0.12-0.27 s when this machine is quiet); load {load}")


def bench_regions(root: Path, n: int, rounds: int = 2) -> None:
    """Two regions of n documents each into PostgreSQL, by `pifu run --region`: one run after the other,
    then both at once (pifu.regions: no shared lock), alternately, each pair into fresh regions.
    `python -m pifu.bench regions` runs only this."""
    from pifu.generate import generate

    boxes = [root / "regions" / name for name in ("a", "b")]
    for seed, box in enumerate(boxes):
        generate(n, box, seed=100 + seed)
    schema = f"pifu_bench_{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "PIFU_DATA_DIR": str(root / "data-regions"), "DAGSTER_HOME": str(root / "dagster-regions"),
           "PIFU_LAKE_DIR": str(root / "lake-regions"), "PIFU_PROGRESS": "0",
           "PIFU_WAREHOUSE_URL": f"{PG_URL}?options=-csearch_path%3D{schema}"}
    made = []
    try:
        for k in range(rounds):
            for together in (False, True):
                names = [f"{'together' if together else 'serial'}{k}_{box.name}" for box in boxes]
                made += names
                runs = [[sys.executable, "-m", "pifu.cli", "run", "--region", name, str(box)]
                        for name, box in zip(names, boxes)]
                before, t = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
                if together:
                    started = [subprocess.Popen(r, env=env, stdout=subprocess.DEVNULL) for r in runs]
                    codes = [p.wait() for p in started]
                else:
                    codes = [subprocess.run(r, env=env, stdout=subprocess.DEVNULL).returncode for r in runs]
                wall, after = time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
                load = " ".join(f"{x:.1f}" for x in os.getloadavg())
                print(f"regions {'at once' if together else 'one after the other'}: 2 x {n} documents in "
                      f"{wall:.1f} s, {cpu:.1f} CPU s (exit {codes}); load {load}")
    finally:
        for name in made:
            _pg(f"DROP SCHEMA IF EXISTS {schema}_{name} CASCADE")


PARSE_GOALS = {"text": 1500, "xlsx": 300, "xls": 300, "docx": 300, "html": 300, "pdf": 20}
FORMAT_DOCS = {"xlsx": 300, "xls": 300, "docx": 300, "html": 300, "pdf": 60}
PASSES = 5


def bench_parse(root: Path, n: int) -> None:
    """Parse throughput per format, single process, CPU time (reading the bytes is not counted): text over
    `n` of the inbox's documents, each other format over documents rendered from the same truths."""
    import importlib.util

    from pifu.generate import generate

    files = sorted(p for p in (root / "inbox").iterdir() if p.suffix == ".txt")[:n]
    sets = {"text": [(p.read_bytes(), str(p)) for p in files]}
    for fmt, count in FORMAT_DOCS.items():
        if importlib.util.find_spec(f"pifu.generate.render.{fmt}") is None:
            print(f"parse {fmt}: no renderer yet")
            continue
        paths = generate(count, root / f"formats-{fmt}", seed=7, fmt=fmt)
        sets[fmt] = [(p.read_bytes(), str(p)) for p in paths]
    for fmt, (rate, spread) in _parse_rates(sets).items():
        _print_rate(fmt, rate, spread, len(sets[fmt]))


def _parse_rates(sets: dict[str, list[tuple[bytes, str]]]) -> dict[str, tuple[float, tuple[float, float]]]:
    """Steady-state documents per CPU second of each set: the median of PASSES passes over its documents,
    after one untimed document (a reader's first call pays its lazy imports once per process, not per
    document). The passes go round the formats in turn, so that a slow spell of this shared machine (its
    speed has changed by half within minutes) falls on every format alike instead of on one format's
    consecutive passes. Each file's sha256 is computed outside the clock: a parse worker takes it from the
    run's plan, whose hashing the run reports as its own stage ("hash")."""
    import hashlib

    from pifu.api import parse_bytes

    hashed = {fmt: [(data, name, hashlib.sha256(data).hexdigest()) for data, name in blobs]
              for fmt, blobs in sets.items()}
    for docs in hashed.values():
        parse_bytes(*docs[-1])
    rates: dict[str, list[float]] = {fmt: [] for fmt in hashed}
    for _ in range(PASSES):
        for fmt, docs in hashed.items():
            t = time.process_time()
            for data, name, sha256 in docs:
                parse_bytes(data, name, sha256)
            rates[fmt].append(len(docs) / (time.process_time() - t))
    return {fmt: (sorted(r)[len(r) // 2], (min(r), max(r))) for fmt, r in rates.items()}


def _print_rate(fmt: str, rate: float, spread: tuple[float, float], n: int) -> None:
    passes = f"median of {PASSES} passes, {spread[0]:,.0f}-{spread[1]:,.0f}" if spread[0] != spread[1] else "one pass"
    print(f"parse {fmt}: {rate:,.0f} documents/s/core over {n} documents, {passes} "
          f"(goal ≥ {PARSE_GOALS[fmt]:,}: {'met' if rate >= PARSE_GOALS[fmt] else 'NOT met'})")


def bench_pipeline(name: str, url: str, env: dict, root: Path, n: int) -> None:
    """n documents, then ten new files on top, each `pifu run` timed from process start; then the floor
    for the same files and rows, and the ratio."""
    wall, peak, out, cpu, load = _timed_run([str(root / "inbox")], url, env)
    goal = PIPELINE_GOALS[name]
    verdict = _met(wall < goal) if n == 10_000 else "the goal is for 10,000 documents"
    print(f"pipeline {name}: {n} documents in {wall:.1f} s (goal < {goal:g} s: {verdict}), "
          f"{cpu:.1f} CPU s, peak memory {peak:.0f} MB (goal < {MEMORY_GOAL_MB}: {_met(peak < MEMORY_GOAL_MB)}); "
          f"load {load}; {_checks(out)}")
    print(f"  {_stages(out)}")
    _settle(env)
    floor = measure_floor(root / "inbox", env["PIFU_LAKE_DIR"], name, url, root)
    ratio = wall / floor["total"]
    print(f"  floor {name}: {floor['total']:.2f} s (read {floor['read']:.2f} s of files, bulk insert "
          f"{floor['insert']:.2f} s of {floor['rows']:,} rows); ratio {ratio:.1f} (goal < {FLOOR_RATIO_GOAL:g}: "
          f"{_met(ratio < FLOOR_RATIO_GOAL)})")
    _settle(env)
    wall, peak, out, cpu, load = _timed_run([str(root / "inbox"), str(root / "extra")], url, env)
    print(f"pipeline {name}: 10 new files on top of {n} in {wall:.1f} s (goal < {INCREMENT_GOAL:g} s: "
          f"{_met(wall < INCREMENT_GOAL)}), {cpu:.1f} CPU s, peak memory {peak:.0f} MB; load {load}")
    print(f"  {_stages(out)}")


def _settle(env: dict, limit: float = 600.0) -> None:
    """Wait for the last run's background Data Docs build (expectations.datadocs, adopted by
    _become_subreaper) to finish, so the next figure is that run's own and not shared with the CPU of
    the one before."""
    pending = Path(env["PIFU_DATA_DIR"]) / "gx" / "pending"
    started = time.perf_counter()
    _wait_for_builders(limit, lambda: [d for d in pending.glob("*") if d.is_dir() and not (d / "error.log").exists()])
    if time.perf_counter() - started >= 0.5:
        print(f"  (waited {time.perf_counter() - started:.1f} s for the last run's Data Docs to be built)")


def _wait_for_builders(limit: float = 600.0, busy=lambda: []) -> None:
    """Until no Data Docs builder this bench adopted is running (nor `busy()` says otherwise): they
    write into the bench's folders, which must not be removed under them."""
    started = time.perf_counter()
    while time.perf_counter() - started < limit:
        while _reap_finished():
            pass
        if not any(b"expectations.datadocs" in _cmdline(pid) for pid in _children()) and not busy():
            return
        time.sleep(0.2)


def _reap_finished() -> bool:
    """Reap one finished child (a Data Docs builder adopted by _become_subreaper) if there is one."""
    try:
        return os.waitpid(-1, os.WNOHANG)[0] != 0
    except ChildProcessError:
        return False


def measure_floor(inbox: Path, lake_dir: str, name: str, url: str, root: Path) -> dict:
    """The least any pipeline must do: read every file once, and bulk-insert the rows the run produced
    (read back from its lake) into empty tables of a fresh database in one transaction: DuckDB from Arrow,
    PostgreSQL by COPY. No parsing, no checks, no bookkeeping."""
    from pifu import lake
    from pifu.schema import SCHEMAS

    files = sorted(p for p in inbox.iterdir() if not p.name.endswith(".truth.json"))
    t = time.perf_counter()
    size = sum(len(p.read_bytes()) for p in files)
    read = time.perf_counter() - t
    tables = {k: lake.read_lake(lake_dir, k) for k in SCHEMAS if k in lake.REWRITTEN + lake.APPENDED}
    rows = sum(t.num_rows for t in tables.values())
    t = time.perf_counter()
    if name == "duckdb":
        import duckdb

        con = duckdb.connect(str(root / "floor.duckdb"))
        con.execute("BEGIN")
        for k, table in tables.items():
            con.register("src", table)
            con.execute(f"CREATE TABLE {k} AS SELECT * FROM src")
            con.unregister("src")
        con.execute("COMMIT")
        con.close()
    else:
        import io

        import psycopg
        import pyarrow.csv as pcsv

        schema = _schema_of(url) + "_floor"
        with psycopg.connect(PG_URL.replace("postgresql+psycopg://", "postgresql://")) as conn:
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            for k, table in tables.items():
                cols = ", ".join(f'"{c}" {_pg_type(f.type)}' for c, f in zip(table.column_names, table.schema))
                conn.execute(f"CREATE TABLE {schema}.{k} ({cols})")
                buf = io.BytesIO()
                pcsv.write_csv(table, buf, pcsv.WriteOptions(include_header=False))
                with conn.cursor() as cur, cur.copy(f"COPY {schema}.{k} FROM STDIN (FORMAT csv)") as copy:
                    copy.write(buf.getbuffer())
            conn.commit()
    insert = time.perf_counter() - t
    return {"read": read, "insert": insert, "total": read + insert, "rows": rows, "bytes": size}


def _schema_of(url: str) -> str:
    m = re.search(r"search_path%3D(\w+)", url)
    return m.group(1) if m else "public"


def _pg_type(t) -> str:
    import pyarrow as pa

    if pa.types.is_integer(t):
        return "bigint"
    if pa.types.is_floating(t):
        return "double precision"
    if pa.types.is_decimal(t):
        return f"numeric({t.precision},{t.scale})"
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_timestamp(t):
        return "timestamptz" if t.tz else "timestamp"
    if pa.types.is_date(t):
        return "date"
    return "text"


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def _stages(out: str) -> str:
    m = re.search(r"^stages \(s\): .*$", out, re.M)
    return m.group(0) if m else "no stage line"


def _timed_run(sources: list[str], url: str, env: dict) -> tuple[float, float, str, float, str]:
    """Wall time of `pifu run` (from process start), the peak resident memory of its largest process
    (parse workers included), its output, the CPU seconds of it and its workers, the load average."""
    _become_subreaper()
    before = set(_children())  # the bench's own (the executors' resource tracker): not this run's
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t = time.perf_counter()
        p = subprocess.Popen([sys.executable, "-m", "pifu.cli", "run", *sources, "--warehouse", url], env=env,
                             stdout=out, stderr=err, text=True)
        peaks = _PeakWatch(p.pid)
        # wait4, not wait: this run's own CPU, where RUSAGE_CHILDREN would add up every run so far
        _, status, usage = os.wait4(p.pid, 0)
        elapsed = time.perf_counter() - t
        usages = [usage, *_reap_orphans(before)]
        peak = peaks.stop()
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    if p.returncode:
        print(stdout[-3000:], stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"pifu run failed with {p.returncode}")
    cpu = sum(u.ru_utime + u.ru_stime for u in usages)
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    return elapsed, peak, stdout, cpu, load


class _PeakWatch:
    """The largest VmHWM (peak resident memory) among a process and its descendants, read from /proc
    every 50 ms while it runs. Not ru_maxrss: a child started by vfork/exec inherits its parent's high
    water mark there (this bench holds the DuckDB floor's 1.4 million rows in memory)."""

    def __init__(self, pid: int):
        import threading

        self.root, self.peak_kb, self.done = pid, 0, threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        while not self.done.is_set():
            self._sample()
            self.done.wait(0.05)

    def _sample(self) -> None:
        pending, seen = [self.root], set()
        while pending:  # the process and its descendants, however deep (the fork server's workers)
            pid = pending.pop()
            seen.add(pid)
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            pending += [c for c in _children(pid) if c not in seen]
            at = status.find("VmHWM:")
            if at >= 0:
                self.peak_kb = max(self.peak_kb, int(status[at + 6:status.index("kB", at)]))

    def stop(self) -> float:
        self.done.set()
        self.thread.join()
        return self.peak_kb / 1024


def _become_subreaper() -> None:
    """Adopt the run's orphans: `pifu run` exits without waiting for its parse workers' fork server (and
    the workers), so their usage would reach no one's wait4."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


def _reap_orphans(before: set[int]) -> list:
    """Wait for the processes the run left behind (they exit once it has: their pipes to it close) and
    return their usage; the detached Data Docs builder is not the run's (see _settle), nor are the
    bench's own children (`before`)."""
    usages = []
    while pids := [p for p in _children() if p not in before and b"expectations.datadocs" not in _cmdline(p)]:
        for pid in pids:
            try:
                usages.append(os.wait4(pid, 0)[2])
            except ChildProcessError:
                pass
    return usages


def _children(pid: int | None = None) -> list[int]:
    """The direct children of `pid` (this process by default), whichever of its threads started them."""
    pids = []
    try:
        for task in Path(f"/proc/{pid or os.getpid()}/task").iterdir():
            pids += map(int, (task / "children").read_text().split())
    except OSError:  # it has exited
        pass
    return pids


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


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
    with tempfile.TemporaryDirectory(prefix="pifu-scale-") as tmp:
        root = Path(tmp)
        inbox = scale_inbox(n, root)
        bench_executors(inbox, min(n, 2000))
        env = {**os.environ, "PIFU_DATA_DIR": str(root / "data"), "DAGSTER_HOME": str(root / "dagster"),
               "PIFU_LAKE_DIR": str(root / "lake")}
        wall, peak, out, cpu, load = _timed_run([str(inbox)], f"duckdb:///{root / 'scale.duckdb'}", env)
        loaded = re.search(r"loaded: ([\d,]+) documents", out)
        docs = int(loaded.group(1).replace(",", "")) if loaded else n
        print(f"scale run: {docs:,} documents in {wall:.1f} s ({docs / wall:,.0f} documents/s), {cpu:.0f} CPU s, "
              f"peak memory {peak:.0f} MB (goal < 1,536 MB: {'met' if peak < 1536 else 'NOT met'}); load {load}; "
              f"{_checks(out)}")
        print(f"  {out.strip().splitlines()[0] if out.strip() else 'no output'}")
        for step, seconds in _step_seconds(root / "dagster").items():
            print(f"  stage {step}: {seconds:.1f} s ({docs / seconds:,.0f} documents/s)" if seconds else
                  f"  stage {step}: {seconds:.1f} s")
        from warehouse.load import table_counts

        counts = table_counts(f"duckdb:///{root / 'scale.duckdb'}")
        print("  rows: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
        lake_bytes = sum(f.stat().st_size for f in (root / "lake").rglob("*") if f.is_file())
        db_bytes = (root / "scale.duckdb").stat().st_size
        print(f"  lake {lake_bytes / 1e6:,.0f} MB, DuckDB warehouse {db_bytes / 1e6:,.0f} MB")


def scale_inbox(n: int, root: Path) -> Path:
    """The scale run's n documents (seed 1), generated on every core. With PIFU_BENCH_CACHE set they are
    kept there and reused by the next scale run of the same size: generating 100,000 takes ~15 minutes
    on two cores, longer than the run it feeds. The cache directory appears whole or not at all (renamed
    into place once written), so an interrupted generation is never mistaken for a finished one."""
    from pifu.generate import generate

    cache = os.environ.get("PIFU_BENCH_CACHE")
    inbox = Path(cache) / f"inbox-{n}-seed1" if cache else root / "inbox"
    if inbox.is_dir():
        print(f"reusing {n} generated documents from {inbox}")
        return inbox
    partial = inbox.with_name(f".{inbox.name}.{os.getpid()}.partial")
    t = time.perf_counter()
    generate(n, partial, seed=1, workers=os.cpu_count() or 1)
    partial.rename(inbox)
    print(f"generated {n} documents in {time.perf_counter() - t:.1f} s on {os.cpu_count()} processes")
    return inbox


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
    if sys.argv[1:2] == ["parse"]:  # python -m pifu.bench parse ROOT N: the parse rates of main()'s documents
        from pifu.ingest import worker_collector

        worker_collector()  # as a parse worker runs
        bench_parse(Path(sys.argv[2]), int(sys.argv[3]))
    elif sys.argv[1:] == ["regions"]:
        _become_subreaper()
        with tempfile.TemporaryDirectory(prefix="pifu-bench-") as tmp:
            bench_regions(Path(tmp), int(os.environ.get("PIFU_BENCH_DOCS", "200")))
            _wait_for_builders()
    else:
        main()
