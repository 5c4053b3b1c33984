"""A load killed with SIGKILL before its commit leaves the warehouse as it was; a rerun then completes.

The child loads a batch big enough for DuckDB to write row groups to the file before commit
(152,000 indicator rows > one 122,880-row group). It stops at load()'s test hook, after every insert
and before the commit, and says PAUSED load: the kill is synchronized on that marker, not on a timer.
"""
import os
import signal
import subprocess
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path


from factories import synthetic
from pifu.normalize import normalize
from storage_fixtures import _drop_session_schemas, dump_warehouse, warehouse_url  # noqa: F401
from warehouse.engine import make_engine
from warehouse.load import load, table_counts

BATCH = 1000
CHILD = """
import sys
from datetime import datetime, timezone
sys.path.insert(0, {tests!r})
from factories import synthetic
from pifu.normalize import normalize
from warehouse.load import load
url, start, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
print(load(url, normalize(synthetic(count, start=start), datetime.now(timezone.utc)))["documents_loaded"], flush=True)
"""


def other_backends_holding_fact_document(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.exec_driver_sql("""
                SELECT COUNT(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
                WHERE c.relname = 'fact_document' AND c.relnamespace = current_schema()::regnamespace
                    AND l.pid <> pg_backend_pid()
                    AND l.mode = 'ShareRowExclusiveLock' AND l.granted""").scalar_one()
    finally:
        engine.dispose()


def test_a_killed_load_changes_nothing_and_a_rerun_completes(warehouse_url):
    baseline = make_engine(warehouse_url)
    load(baseline, normalize(synthetic(20), datetime.now(timezone.utc)))
    baseline.dispose()
    before = dump_warehouse(warehouse_url)

    child = subprocess.Popen(
        [sys.executable, "-c", CHILD.format(tests=str(Path(__file__).parent)), warehouse_url, "100", str(BATCH)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PIFU_TEST_PAUSE_AT": "load"},
    )
    watchdog = threading.Timer(300, child.kill)  # only against a hung test, never for synchronization
    watchdog.start()
    try:
        marker = child.stdout.readline().strip()
        assert marker == "PAUSED load", (marker, child.stderr.read() if child.poll() is not None else "")
        if warehouse_url.startswith("postgresql"):
            assert other_backends_holding_fact_document(warehouse_url) == 1  # mid-transaction, really
        child.send_signal(signal.SIGKILL)
        assert child.wait() == -signal.SIGKILL
    finally:
        watchdog.cancel()
        child.stdout.close()
        child.stderr.close()
        child.stdin.close()

    assert dump_warehouse(warehouse_url) == before

    rerun = subprocess.run(
        [sys.executable, "-c", CHILD.format(tests=str(Path(__file__).parent)), warehouse_url, "100", str(BATCH)],
        capture_output=True, text=True, timeout=300,
    )
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stdout.strip() == str(BATCH)
    counts = table_counts(warehouse_url)
    assert counts["fact_document"] == 20 + BATCH
    assert counts["fact_indicator_value"] == (20 + BATCH) * 152
