"""`pifu run` end to end: files -> Dagster job -> lake -> warehouse, on DuckDB and on PostgreSQL."""
import shutil
from decimal import Decimal as D

import pyarrow as pa
import pytest
import sqlalchemy as sa

import pifu
from pifu import lake
from pifu.generate import generate
from storage_fixtures import _drop_session_schemas, dump_warehouse, run_in_process, warehouse_url  # noqa: F401
from warehouse.engine import make_engine

BAD = {
    "empty.txt": b"",
    "binary.txt": bytes(range(256)) * 4,
    "project-table.txt": "2025年项目支出绩效目标表\n项目名称\t道路维修\n".encode(),
    "notes.txt": "会议纪要\n今天开会\n".encode("gb18030"),
}


@pytest.fixture
def inbox(tmp_path, sample_path):
    box = tmp_path / "inbox"
    generate(12, box / "generated", seed=7, errors=0.5)
    shutil.copy(sample_path, box / sample_path.name)
    for name, data in BAD.items():
        (box / name).write_bytes(data)
    return box


@pytest.fixture
def env(tmp_path, monkeypatch, warehouse_url):
    monkeypatch.setenv("PIFU_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    monkeypatch.setenv("PIFU_LAKE_DIR", str(tmp_path / "lake"))
    monkeypatch.setenv("PIFU_WAREHOUSE_URL", warehouse_url)
    monkeypatch.setenv("PIFU_WORKERS", "1")
    return {"url": warehouse_url, "lake": tmp_path / "lake"}


def run(*sources) -> tuple[int, str]:
    return run_in_process(*sources)


def dump(url: str) -> dict[str, list[tuple]]:
    return dump_warehouse(url, skip=("dq_result",))  # dq rows carry their run's id


def scalar(url: str, sql: str):
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql)).scalar()
    finally:
        engine.dispose()


def test_a_folder_is_loaded_or_quarantined_file_by_file_and_a_rerun_changes_nothing(env, inbox):
    code, out = run(inbox)
    assert code == 0, out
    assert "17 files found: 17 new" in out
    assert "loaded: 13 documents" in out and "quarantined: 4 files" in out
    for name in BAD:
        assert str(inbox / name) in out  # each quarantined file named, with its reason
    assert "empty: the file is empty" in out and "not_a_document" in out and "binary" in out
    url = env["url"]
    assert scalar(url, "select count(*) from fact_document") == 13
    assert scalar(url, "select count(*) from quarantine") == 4
    # the real sample, exactly
    assert scalar(url, "select amount from fact_funding where item = '特定目标类项目支出' and year = 2023 "
                       "and department_id = (select department_id from dim_department "
                       "where department_name = '鄂州市总工会')") == D("280.02")
    assert scalar(url, "select count(*) from dq_result where check_name = 'funding_share_matches_amount' "
                       "and not passed and row_ref like '%特定目标类项目支出%'") == 1
    # the lake holds the same documents
    assert lake.read_lake(env["lake"], "fact_document").num_rows == 13

    before = dump(url)
    code, out = run(inbox)
    assert code == 0 and "0 new, 17 already loaded or quarantined" in out and "nothing to do" in out
    assert dump(url) == before


def test_a_new_version_becomes_current_and_the_old_one_stays(env, tmp_path, sample_path):
    first = tmp_path / "v1"
    first.mkdir()
    shutil.copy(sample_path, first / "union.txt")
    assert run(first)[0] == 0
    second = tmp_path / "v2"
    second.mkdir()
    text = sample_path.read_text(encoding="utf-8").replace("合计\t\t998.71", "合计\t\t1,000.00")
    (second / "union-corrected.txt").write_text(text, encoding="utf-8")
    code, out = run(first, second)
    assert code == 0 and "1 new" in out
    url = env["url"]
    assert scalar(url, "select count(*) from fact_document") == 2
    assert scalar(url, "select source_path from fact_document where is_current").endswith("union-corrected.txt")
    assert scalar(url, "select income_total from v_funding_by_department") == D("1000.00")


def test_every_generated_document_lands_with_its_figures(env, tmp_path):
    box = tmp_path / "box"
    paths = generate(30, box, seed=99)
    assert run(box)[0] == 0
    docs = [pifu.parse(p) for p in paths]
    url = env["url"]
    assert scalar(url, "select count(*) from fact_document") == len({d.source.sha256 for d in docs})
    assert scalar(url, "select count(*) from fact_funding") == sum(len(d.funding) for d in docs)
    assert scalar(url, "select count(*) from fact_indicator_value") == sum(len(d.indicators) for d in docs)
    assert scalar(url, "select sum(amount) from fact_funding") == sum(f.amount for d in docs for f in d.funding)
    # clean documents: the checks find nothing
    assert scalar(url, "select count(*) from dq_result where not passed") == 0


# Runs killed at parse, lake write, load and publish, and runs at the same time: tests/test_run_safety.py.


def test_a_repeated_key_within_a_run_is_stopped_before_any_load(env, tmp_path, monkeypatch):
    """The grain the document facts' keys stand for on DuckDB (warehouse.schema.DOCUMENT_FACTS): a funding row
    repeated in a run's staged tables fails the blocking check fact_funding_keys_unique, so the warehouse step
    never runs (the loader's own refusal is not reached) and neither the warehouse nor the lake changes."""
    import assets.lake
    from pifu import staging
    from warehouse.load import table_counts

    box = tmp_path / "box"
    generate(3, box, seed=5)
    with_last = assets.lake._with_last

    def a_row_repeated(chunks):  # in the staged batch too: what the warehouse step would load
        for (dirs, tables), last in with_last(chunks):
            funding = tables["fact_funding"]
            tables["fact_funding"] = pa.concat_tables([funding, funding.slice(0, 1)])
            staged = staging.read(dirs[0], ["fact_funding"])["fact_funding"]
            staging.write(dirs[0], {"fact_funding": pa.concat_tables([staged, staged.slice(0, 1)])})
            yield (dirs, tables), last

    monkeypatch.setattr(assets.lake, "_with_last", a_row_repeated)
    code, out = run(box)
    assert code == 1 and "fact_funding_keys_unique: 1 (error)" in out, out
    assert "step lake_tables failed: DagsterAssetCheckFailedError: 1 blocking asset check failed" in out
    assert "loaded: 0 documents" in out and " warehouse " not in out
    url = env["url"]
    assert not lake.snapshots(env["lake"])
    assert not any(table_counts(url).values())
