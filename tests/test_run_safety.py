"""`pifu run` against crashes, a second run at the same time, and a faulty environment, on DuckDB and
PostgreSQL. Runs are real subprocesses; they are stopped on the markers PIFU_TEST_PAUSE_AT prints
(and on the "waiting for" line a blocked run prints), never on a timer."""
import errno
import os
import signal
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from pifu import lake
from pifu.generate import generate
from storage_fixtures import _drop_session_schemas, dump_warehouse, run_in_process, warehouse_url  # noqa: F401
from warehouse.engine import make_engine

PIFU_RUN = [sys.executable, "-m", "pifu.cli", "run"]


@pytest.fixture
def home(tmp_path, monkeypatch):
    """Data, instance and lake in tmp_path; a DuckDB warehouse there too unless `env` sets another."""
    monkeypatch.setenv("PIFU_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    monkeypatch.setenv("PIFU_LAKE_DIR", str(tmp_path / "lake"))
    monkeypatch.setenv("PIFU_WAREHOUSE_URL", f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    monkeypatch.setenv("PIFU_WORKERS", "1")
    monkeypatch.delenv("PIFU_TEST_PAUSE_AT", raising=False)
    return {"url": os.environ["PIFU_WAREHOUSE_URL"], "lake": tmp_path / "lake"}


@pytest.fixture
def env(home, monkeypatch, warehouse_url):
    """`home` on each warehouse: DuckDB and PostgreSQL."""
    monkeypatch.setenv("PIFU_WAREHOUSE_URL", warehouse_url)
    return {**home, "url": warehouse_url}


def warehouse_documents(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return set(conn.exec_driver_sql("SELECT document_id FROM fact_document").scalars())
    finally:
        engine.dispose()


def current_versions(url: str) -> set[tuple]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return set(map(tuple, conn.exec_driver_sql(
                "SELECT document_id, loaded_at FROM fact_document WHERE is_current").all()))
    finally:
        engine.dispose()


def lake_current_versions(lake_dir: Path) -> set[tuple]:
    return {(r["document_id"], r["loaded_at"]) for r in lake.read_lake(lake_dir, "fact_document").to_pylist()
            if r["is_current"]}


def lake_documents(lake_dir: Path) -> set[str]:
    return set(lake.read_lake(lake_dir, "fact_document")["document_id"].to_pylist())


def start(*args, pause: str | None = None) -> subprocess.Popen:
    env = {**os.environ, **({"PIFU_TEST_PAUSE_AT": pause} if pause else {})}
    return subprocess.Popen(PIFU_RUN + [str(a) for a in args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, env=env)


@contextmanager
def watched(*children: subprocess.Popen):
    """Kill whatever still runs when the test ends; the timer only guards against a hung test."""
    timers = [threading.Timer(300, c.kill) for c in children]
    for t in timers:
        t.start()
    try:
        yield
    finally:
        for t, c in zip(timers, children):
            t.cancel()
            if c.poll() is None:
                os.killpg(c.pid, signal.SIGKILL)
                c.wait()
            for f in (c.stdout, c.stderr, c.stdin):
                if f:
                    f.close()


def read_until(stream, wanted: str) -> list[str]:
    lines = []
    for line in stream:
        lines.append(line)
        if wanted in line:
            break
    return lines


@pytest.mark.parametrize("point", ["parse", "lake", "load", "publish"])
def test_a_run_killed_at_any_point_leaves_a_state_the_next_run_completes(env, tmp_path, point):
    first, second = tmp_path / "first", tmp_path / "second"
    generate(5, first, seed=1)
    generate(40, second, seed=2)
    assert run_in_process(first)[0] == 0
    before, current = dump_warehouse(env["url"]), lake.current_snapshot(env["lake"])

    child = start(first, second, pause=point)
    with watched(child):
        lines = read_until(child.stdout, f"PAUSED {point}")
        assert lines and lines[-1].strip() == f"PAUSED {point}", "".join(lines) + child.stderr.read()
        os.killpg(child.pid, signal.SIGKILL)  # the run and its parse workers
        child.wait()

    assert lake.current_snapshot(env["lake"]) == current  # the lake as it was
    if point == "publish":
        # Committed, not yet published: the commit decided, and the next run publishes the snapshot
        # the warehouse recorded in that commit before it plans anything.
        assert len(warehouse_documents(env["url"])) == 45
    else:
        assert dump_warehouse(env["url"]) == before
    code, out = run_in_process(first, second)
    assert code == 0, out
    assert ("0 new" in out and "nothing to do" in out) if point == "publish" else "40 new" in out, out
    assert warehouse_documents(env["url"]) == lake_documents(env["lake"])
    assert len(lake_documents(env["lake"])) == 45
    assert current_versions(env["url"]) == lake_current_versions(env["lake"])
    assert not list((env["lake"] / lake.PENDING).glob("*.json"))  # no unpublished snapshot left
    published = {r["snapshot"] for r in lake.snapshots(env["lake"])}
    assert lake.snapshots(env["lake"])[-1]["snapshot"] == lake.current_snapshot(env["lake"]).name
    files = {p.name.split("-")[1] + "-" + p.name.split("-")[2] for p in env["lake"].glob("*/**/part-v*.parquet")}
    assert files <= published, files - published  # no orphan file of a killed writer


def test_two_runs_at_once_one_waits_and_no_wait_names_the_holder(env, tmp_path):
    a_only, shared, b_only = tmp_path / "a", tmp_path / "shared", tmp_path / "b"
    generate(6, a_only, seed=11)
    generate(6, shared, seed=12)
    generate(6, b_only, seed=13)

    first = start(a_only, shared, pause="load")  # holds both locks, mid-transaction
    with watched(first):
        lines = read_until(first.stdout, "PAUSED load")
        assert lines[-1].strip() == "PAUSED load", "".join(lines) + first.stderr.read()

        busy = subprocess.run(PIFU_RUN + ["--no-wait", str(shared)], capture_output=True, text=True, timeout=300)
        assert busy.returncode == 3, busy.stderr
        assert busy.stderr.count("\n") == 1 and "Traceback" not in busy.stderr
        assert f"pid {first.pid} " in busy.stderr and "cli run" in busy.stderr and "busy" in busy.stderr

        second = start(shared, b_only)
        with watched(second):
            waiting = second.stderr.readline()
            assert "waiting for the lake" in waiting and f"pid {first.pid} " in waiting, waiting
            first.stdin.write("\n")
            first.stdin.flush()
            assert first.wait() == 0, first.stdout.read() + first.stderr.read()
            assert second.wait() == 0, second.stdout.read() + second.stderr.read()
            out = second.stdout.read()
    assert "6 already loaded" in out  # the shared files: the second run planned after the first loaded

    documents = warehouse_documents(env["url"])
    assert len(documents) == 18
    assert lake_documents(env["lake"]) == documents
    code, out = run_in_process(a_only, shared, b_only)
    assert code == 0 and "nothing to do" in out


def test_a_job_launched_by_dagster_waits_for_the_lock_of_a_cli_run(env, tmp_path):
    """The sensor, the schedule and the UI launch the job without the CLI: its run_lock resource waits."""
    box = tmp_path / "box"
    generate(2, box, seed=5)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCKS, str(env["lake"]), env["url"]],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    job = None
    try:
        assert holder.stdout.readline().strip() == "HELD", holder.stderr.read()
        job = subprocess.Popen([sys.executable, "-c", LAUNCH_JOB, str(box)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
        with watched(job):
            lines = read_until(job.stderr, "waiting for the lake")
            assert "waiting for the lake" in lines[-1] and f"pid {holder.pid} " in lines[-1], "".join(lines)
            holder.stdin.write("\n")
            holder.stdin.flush()
            assert holder.wait() == 0
            assert job.wait() == 0, job.stdout.read() + job.stderr.read()
            assert job.stdout.read().strip().endswith("True")
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    assert len(lake_documents(env["lake"])) == 2 == len(warehouse_documents(env["url"]))


HOLD_LOCKS = """
import sys
from pifu.locks import run_lock
with run_lock(sys.argv[1], sys.argv[2], holder={"trigger": "cli", "run_id": "test"}):
    print("HELD", flush=True)
    sys.stdin.readline()
"""

LAUNCH_JOB = """
import sys
from pipelines.instance import open_instance
from pipelines.definitions import defs
from pipelines.partitions import range_tags
from pipelines.sensors import run_config
from pifu.ingest import discover, sniff_year
config = run_config([sys.argv[1]])
config["loggers"] = {"console": {"config": {"log_level": "WARNING"}}}
with open_instance() as instance:
    tags = {**range_tags(instance, {sniff_year(p) for p in discover([sys.argv[1]])}), "pifu/trigger": "test"}
    result = defs.resolve_job_def("pifu_job").execute_in_process(run_config=config, instance=instance, tags=tags,
                                                                 raise_on_error=False)
print(result.success)
"""


def test_an_unreachable_warehouse_is_one_line_and_exit_4(home, tmp_path):
    box = tmp_path / "box"
    generate(1, box, seed=3)
    p = subprocess.run(PIFU_RUN + [str(box), "--warehouse", "postgresql+psycopg://postgres@127.0.0.1:9/test"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 4 and p.stderr.count("\n") == 1, p.stderr
    assert "warehouse_unreachable" in p.stderr and "127.0.0.1:9" in p.stderr and "Traceback" not in p.stderr
    assert lake.current_snapshot(home["lake"]) is None  # refused before anything was written


def test_a_lake_that_cannot_be_created_is_one_line_and_exit_4(home, tmp_path):
    box = tmp_path / "box"
    generate(1, box, seed=3)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    p = subprocess.run(PIFU_RUN + [str(box), "--lake", str(blocker / "lake")], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 4 and p.stderr.count("\n") == 1, p.stderr
    assert "lake_unwritable" in p.stderr and str(blocker) in p.stderr and "Traceback" not in p.stderr


def test_a_full_disk_fails_the_step_in_one_line_and_a_rerun_completes(env, tmp_path, monkeypatch):
    box = tmp_path / "box"
    generate(3, box, seed=4)
    real_write = lake._write_file

    def no_space(root, path, table):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(lake, "_write_file", no_space)  # the file system's answer, short of filling a disk
    code, out = run_in_process(box)
    assert code == 4, out
    failed = [line for line in out.splitlines() if "step " in line and " failed:" in line]
    assert len(failed) == 1 and "step lake_tables failed: LakeError:" in failed[0] and "disk is full" in failed[0]
    assert "details in" in failed[0] and "Traceback" not in out
    assert lake.current_snapshot(env["lake"]) is None and not warehouse_documents_or_empty(env["url"])

    monkeypatch.setattr(lake, "_write_file", real_write)
    code, out = run_in_process(box)
    assert code == 0 and "3 new" in out, out
    assert len(lake_documents(env["lake"])) == 3 == len(warehouse_documents(env["url"]))


def warehouse_documents_or_empty(url: str) -> set[str]:
    try:
        return warehouse_documents(url)
    except sa.exc.SQLAlchemyError:
        return set()


def test_an_internal_error_is_one_line_naming_the_saved_traceback(home, tmp_path, monkeypatch, capsys):
    from pifu import cli

    def broken(args):
        raise KeyError("something pifu did not expect")

    monkeypatch.setattr(cli, "_cmd_run", broken)
    assert cli.main(["run", str(tmp_path)]) == 70
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("pifu: internal error: KeyError:")
    saved = Path(err.split("traceback in ")[1].rstrip(")\n"))
    assert saved.is_file() and "Traceback" in saved.read_text() and saved.parent == tmp_path / "data" / "logs"


def test_two_first_runs_at_once_create_the_instance_once(home, tmp_path):
    """Different lakes and warehouses, so no run lock orders them: only the instance lock does."""
    runs = []
    for i in range(2):
        box = tmp_path / f"box{i}"
        generate(1, box, seed=30 + i)
        runs.append(subprocess.Popen(
            PIFU_RUN + [str(box), "--lake", str(tmp_path / f"lake{i}"),
                        "--warehouse", f"duckdb:///{tmp_path / f'w{i}.duckdb'}"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for p in runs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, out + err
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        assert len(instance.get_runs()) == 2
        assert len(instance.get_dynamic_partitions("fiscal_year")) >= 1
