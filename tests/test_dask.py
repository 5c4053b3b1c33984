"""The parse executors: a Dask LocalCluster (worker processes) gives what the local pool gives, streams
batches back, and loses no file when a Dask worker is killed mid-run."""
from datetime import datetime, timezone

import pyarrow as pa
import pytest

from pifu import ingest
from pifu.generate import generate

distributed = pytest.importorskip("distributed")

T0 = datetime(2025, 3, 1, tzinfo=timezone.utc)
BAD = {"empty.txt": b"", "notes.txt": "会议纪要\n今天开会\n".encode("gb18030")}


@pytest.fixture(scope="module")
def client():
    import dask

    with dask.config.set({"distributed.scheduler.allowed-failures": 1, "distributed.worker.daemon": True}):
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                      silence_logs=50) as cluster, distributed.Client(cluster) as c:
            yield c


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    box = tmp_path_factory.mktemp("box")
    generate(10, box, seed=5, errors=0.3)
    for name, data in BAD.items():
        (box / name).write_bytes(data)
    by_year, _ = ingest.plan([box], set())
    return sorted((f for fs in by_year.values() for f in fs), key=lambda f: f.path)


def run(files, executor, batch=3, limits=None):
    parts = list(ingest.parse_stream(files, batch=batch, executor=executor, loaded_at=T0,
                                     limits=limits or ingest.Limits()))
    return parts


def outcome(parts) -> dict:
    """Everything a run produced, independent of batch order."""
    from pifu.normalize import combine

    tables = combine([p.tables for p in parts])
    rows = {name: sorted(map(repr, t.to_pylist())) for name, t in tables.items()}
    quarantined = sorted((q["source_path"], q["reason"]) for p in parts for q in p.quarantined)
    return {"tables": rows, "quarantined": quarantined}


def test_a_dask_run_equals_the_local_run_and_streams_batches(client, files):
    local = run(files, ingest.LocalExecutor(1))
    on_dask = run(files, ingest.DaskExecutor(client=client))
    assert outcome(on_dask) == outcome(local)
    assert len(outcome(local)["tables"]["fact_document"]) == 10 and len(outcome(local)["quarantined"]) == 2
    # one Parsed per batch of 3 files, each handed back as it completed
    assert len(on_dask) == -(-len(files) // 3)
    assert all(len(p.documents) + len(p.quarantined) <= 3 for p in on_dask)


def test_a_dask_worker_killed_mid_run_loses_no_file(client, files, tmp_path):
    limits = ingest.Limits(dask_die_once=str(tmp_path / "died"))
    parts = run(files, ingest.DaskExecutor(client=client), limits=limits)
    assert (tmp_path / "died").exists()  # a worker did die, in a task
    assert outcome(parts) == outcome(run(files, ingest.LocalExecutor(1)))  # its batch ran again elsewhere
    client.wait_for_workers(1, timeout=120)


def test_a_file_that_kills_every_dask_worker_is_quarantined_alone(client, files):
    victim = files[0]
    limits = ingest.Limits(dask_die_on=victim.path.rsplit("/", 1)[-1])
    parts = run(files, ingest.DaskExecutor(client=client), limits=limits)
    got = outcome(parts)
    assert (victim.path, "worker_crashed") in got["quarantined"]
    accounted = {d[0] for p in parts for d in p.documents} | {q["source_path"] for p in parts for q in p.quarantined}
    assert accounted == {f.path for f in files}  # every file in exactly one place
    assert sum(len(p.documents) + len(p.quarantined) for p in parts) == len(files)


def test_executor_from_the_environment(monkeypatch):
    monkeypatch.delenv("PIFU_DASK_SCHEDULER", raising=False)
    assert isinstance(ingest.executor_from(None, 2), ingest.LocalExecutor)
    monkeypatch.setenv("PIFU_DASK_SCHEDULER", "tcp://127.0.0.1:1")
    chosen = ingest.executor_from(None)
    assert isinstance(chosen, ingest.DaskExecutor) and chosen.address == "tcp://127.0.0.1:1"
    assert ingest.executor_from("tcp://h:8786").address == "tcp://h:8786"
