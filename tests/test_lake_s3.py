"""The lake on S3-compatible object storage (a local moto server): the same code as on local disk."""
import io
from datetime import datetime, timezone

import boto3
import pytest

from factories import synthetic
from pifu import lake
from pifu.generate import generate
from pifu.normalize import normalize
from s3_fixtures import s3_lake, s3_server  # noqa: F401  (fixtures)

T0 = datetime(2025, 3, 1, tzinfo=timezone.utc)


def keys(url: str) -> list[str]:
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    s3 = boto3.client("s3")
    return [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for o in page.get("Contents", [])]


def test_write_publish_read_and_time_travel_on_s3(s3_lake, tmp_path, monkeypatch):
    monkeypatch.setenv("PIFU_DATA_DIR", str(tmp_path / "data"))
    tables = normalize(synthetic(4) + synthetic(2, start=100, fiscal_year=2024), T0)
    first = lake.write_lake(s3_lake, tables, run_id="run-a")
    assert first.startswith(s3_lake + "/v000001-") and lake.current_snapshot(s3_lake) == first
    pending = lake.write_lake(s3_lake, normalize(synthetic(3, start=10), T0), run_id="run-b", publish=False)
    assert lake.read_lake(s3_lake, "fact_document").num_rows == 6  # not published: not seen
    lake.publish(pending)
    assert lake.read_lake(s3_lake, "fact_document").num_rows == 9
    assert lake.read_lake(s3_lake, "fact_funding", fiscal_years=[2024]).num_rows == 2 * 40
    assert lake.read_lake(s3_lake, "fact_funding", as_of="run-a").num_rows == 6 * 40
    assert lake.known_sha256(s3_lake) == set(lake.read_lake(s3_lake, "fact_document")["sha256"].to_pylist())
    stored = keys(s3_lake)
    assert any(k.endswith("fact_funding/_delta_log/00000000000000000001.json") for k in stored)
    assert any("fact_funding/fiscal_year=2024/part-" in k for k in stored)
    # the writer lock of an object-store lake lives in the data directory, keyed by the URL
    assert lake.lock_path(s3_lake).parent == tmp_path / "data" / "locks"
    # and any Delta reader reads it without pifu
    from deltalake import DeltaTable

    dt = DeltaTable(f"{s3_lake}/fact_indicator_value", storage_options=lake.storage_options(s3_lake))
    assert dt.to_pyarrow_table().num_rows == 9 * 152


def test_the_pipeline_runs_against_an_s3_lake(s3_lake, tmp_path, monkeypatch):
    from pipelines.run import run_pipeline
    from warehouse.engine import make_engine
    import sqlalchemy as sa

    monkeypatch.setenv("PIFU_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    monkeypatch.setenv("PIFU_WAREHOUSE_URL", f"duckdb:///{tmp_path / 'wh.duckdb'}")
    monkeypatch.setenv("PIFU_WORKERS", "1")
    box = tmp_path / "inbox"
    generate(6, box, seed=3, errors=0)
    out = io.StringIO()
    code = run_pipeline([str(box)], lake_dir=s3_lake, out=out)
    assert code == 0, out.getvalue()
    engine = make_engine(f"duckdb:///{tmp_path / 'wh.duckdb'}")
    with engine.connect() as conn:
        in_warehouse = set(conn.execute(sa.text("select document_id from fact_document")).scalars())
    engine.dispose()
    assert len(in_warehouse) == 6
    assert set(lake.read_lake(s3_lake, "fact_document")["document_id"].to_pylist()) == in_warehouse
    assert not (tmp_path / "s3:").exists() and not list(tmp_path.glob("**/s3:"))  # nothing local named s3:
    out = io.StringIO()
    assert run_pipeline([str(box)], lake_dir=s3_lake, out=out) == 0
    assert "nothing to do" in out.getvalue(), out.getvalue()
    assert len(lake.snapshots(s3_lake)) == 1
