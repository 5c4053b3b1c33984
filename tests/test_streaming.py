"""A long run streams: parse batches are staged as they come back, the checks, the lake and the
warehouse go chunk by chunk; the result is the run's result whatever the batch and chunk sizes."""
import io
import shutil

import pytest
import sqlalchemy as sa

from pifu import lake, staging
from pifu.generate import generate
from pifu.progress import Progress
from warehouse.engine import make_engine

BAD = {"empty.txt": b"", "notes.txt": "会议纪要\n今天开会\n".encode("gb18030")}


def facts(url: str) -> dict:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            q = lambda sql: sorted(conn.execute(sa.text(sql)).all())  # noqa: E731
            return {
                "documents": q("select document_id, is_current, current_key from fact_document"),
                "funding": q("select document_id, flow, item, year, amount from fact_funding"),
                "indicators": q("select count(*), count(distinct document_id) from fact_indicator_value"),
                "texts": q("select count(*) from fact_text_item"),
                "quarantine": q("select source_path, reason from quarantine"),
                "findings": q("select check_name, document_id, row_ref from dq_result where not passed"),
                "checks": q("select check_name, count(distinct document_id) from dq_result group by 1"),
            }
    finally:
        engine.dispose()


def run_into(tmp_path, name, sources, monkeypatch, **env):
    from pipelines.run import run_pipeline

    for key, value in {"PIFU_DATA_DIR": str(tmp_path / name / "data"), "DAGSTER_HOME": str(tmp_path / name / "dg"),
                       "PIFU_WAREHOUSE_URL": f"duckdb:///{tmp_path / name / 'wh.duckdb'}",
                       "PIFU_LAKE_DIR": str(tmp_path / name / "lake"), "PIFU_WORKERS": "1", **env}.items():
        monkeypatch.setenv(key, value)
    out = io.StringIO()
    code = run_pipeline([str(s) for s in sources], out=out)
    assert code == 0, out.getvalue()
    return f"duckdb:///{tmp_path / name / 'wh.duckdb'}", tmp_path / name / "lake", out.getvalue()


def test_small_batches_and_chunks_give_the_same_warehouse_and_lake(tmp_path, monkeypatch, sample_path):
    import assets.lake

    box = tmp_path / "inbox"
    generate(14, box / "gen", seed=11, errors=0.5)
    generate(3, box / "older", seed=12)
    shutil.copy(sample_path, box / sample_path.name)
    for name, data in BAD.items():
        (box / name).write_bytes(data)
    whole_url, whole_lake, _ = run_into(tmp_path, "whole", [box], monkeypatch)
    monkeypatch.setattr(assets.lake, "CHUNK_DOCUMENTS", 3)
    seen = []
    real_chunks = staging.chunks

    def counting(*args, **kwargs):
        for chunk in real_chunks(*args, **kwargs):
            seen.append(chunk)
            yield chunk
    monkeypatch.setattr(staging, "chunks", counting)
    chunked_url, chunked_lake, out = run_into(tmp_path, "chunked", [box], monkeypatch, PIFU_PARSE_BATCH="2")
    assert len(seen) >= 8  # the lake step and the warehouse step each went through several chunks
    assert facts(chunked_url) == facts(whole_url)
    for name in ("fact_document", "fact_funding", "fact_indicator_value", "quarantine", "dim_department"):
        a, b = lake.read_lake(whole_lake, name), lake.read_lake(chunked_lake, name)
        key = [c for c in a.column_names if c not in ("loaded_at", "quarantined_at")]
        assert sorted(map(repr, a.select(key).to_pylist())) == sorted(map(repr, b.select(key).to_pylist())), name
    assert len(lake.snapshots(chunked_lake)) == 1  # one run, one snapshot


def test_the_progress_line_has_rate_and_eta(monkeypatch):
    now = [100.0]
    lines = []
    p = Progress("parsed", 1000, log=lines.append, every_s=5, clock=lambda: now[0])
    now[0] = 102.0
    p.update(100)  # too soon after the start: not logged
    now[0] = 110.0
    p.update(250)
    assert lines == ["parsed 250/1,000 files · 25/s · ETA 30s"]
    now[0] = 140.0
    p.update(1000)  # the end is always logged
    assert lines[-1] == "parsed 1,000/1,000 files · 25/s · 40s"
