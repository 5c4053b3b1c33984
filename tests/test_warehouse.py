"""The warehouse on a real DuckDB file and a real PostgreSQL schema (each test runs on both)."""
import os
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pyarrow as pa
import pytest
import sqlalchemy as sa

from factories import document, funding, indicator, synthetic
from pifu.model import ANNUAL, LONG_TERM, FundingLine
from pifu.normalize import department_id, indicator_id, normalize, quarantine_table
from pifu.schema import SCHEMAS
from storage_fixtures import _drop_session_schemas, engine, warehouse_url  # noqa: F401  (fixtures)
from warehouse.load import known_sha256, load, table_counts
from warehouse.schema import TABLES, create_all, tables
from warehouse.views import VIEWS

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=timezone.utc)


def dump(engine) -> dict[str, list[tuple]]:
    """Every table's rows, sorted: two equal dumps are two identical warehouses."""
    with engine.connect() as conn:
        return {
            name: sorted(tuple(map(repr, r)) for r in conn.execute(sa.select(tables[name])))
            for name in TABLES
        }


def query(engine, sql: str) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.exec_driver_sql(sql)]


def test_schema_and_views_are_created_once(engine):
    create_all(engine)
    create_all(engine)  # a second time is a no-op, not an error
    inspector = sa.inspect(engine)
    assert set(TABLES) <= set(inspector.get_table_names())
    assert set(VIEWS) <= set(inspector.get_view_names())
    # information_schema rather than the inspector: duckdb-engine 0.17 cannot reflect columns or keys
    # under SQLAlchemy 2.1 (its pg_catalog lacks pg_collation and REGCLASS).
    columns = {r["column_name"]: (r["numeric_precision"], r["numeric_scale"]) for r in query(engine, """
        SELECT column_name, numeric_precision, numeric_scale FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name IN ('fact_funding', 'fact_indicator_value')""")}
    assert (columns["amount"], columns["share_pct"], columns["value"]) == ((18, 2), (9, 4), (24, 6))
    assert [r["column_name"] for r in query(engine, """
        SELECT column_name FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name = 'fact_funding' ORDER BY ordinal_position""")
    ] == SCHEMAS["fact_funding"].names
    keys = {}
    for r in query(engine, """
            SELECT tc.table_name, kcu.column_name FROM information_schema.table_constraints tc
            JOIN information_schema.key_column_usage kcu
                ON kcu.constraint_name = tc.constraint_name AND kcu.table_name = tc.table_name
                AND kcu.table_schema = tc.table_schema
            WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = current_schema()
            ORDER BY tc.table_name, kcu.ordinal_position"""):
        keys.setdefault(r["table_name"], []).append(r["column_name"])
    assert keys["fact_document"] == ["document_id"]
    assert keys["quarantine"] == ["sha256"]
    assert keys["dim_department"] == ["department_id"]
    assert keys["dim_indicator"] == ["indicator_id"]
    # the document facts' keys: the loader's check on DuckDB (test_a_repeated_key_fails_the_load_and_changes_nothing)
    assert keys.get("fact_funding") == (None if engine.dialect.name == "duckdb" else
                                        ["document_id", "flow", "item", "year"])


def test_keys_on_both_secondary_indexes_on_postgresql_only(engine):
    """DuckDB's ART indexes hold a load's new entries in memory until the commit: it keeps the keys but the
    document facts' and drops the lookup indexes, also those an earlier pifu created there."""
    duck = engine.dialect.name == "duckdb"
    create_all(engine)
    with engine.begin() as conn:  # as an earlier pifu left the warehouse
        if duck:
            conn.exec_driver_sql("CREATE INDEX ix_fact_indicator_value_indicator_id ON fact_indicator_value "
                                 "(indicator_id)")
            conn.exec_driver_sql("CREATE UNIQUE INDEX ux_fact_indicator_value_document_id_value_no "
                                 "ON fact_indicator_value (document_id, value_no)")
        # Retired on both: the unique key (document_id, value_no) answers its lookups.
        conn.exec_driver_sql("CREATE INDEX IF NOT EXISTS ix_fact_indicator_value_document_id "
                             "ON fact_indicator_value (document_id)")
    create_all(engine)
    sql = ("SELECT index_name FROM duckdb_indexes() WHERE schema_name = current_schema()" if duck else
           "SELECT indexname AS index_name FROM pg_indexes WHERE schemaname = current_schema()")
    names = {r["index_name"] for r in query(engine, sql)}
    assert {"ux_dq_result_run_id_result_no", "ux_fact_document_current_key"} <= names
    assert ("ux_fact_indicator_value_document_id_value_no" in names) == (not duck)
    secondary = {n for n in names if n.startswith("ix_")}
    assert secondary == (set() if duck else {
        "ix_fact_document_department_id_fiscal_year", "ix_fact_indicator_value_indicator_id",
        "ix_dq_result_document_id"})


def test_duckdb_loads_under_its_memory_limit(engine):
    from warehouse.load import DUCKDB_MEMORY_MB

    if engine.dialect.name != "duckdb":
        pytest.skip("a DuckDB setting")
    load(engine, normalize(synthetic(1), T0))
    [limit] = [r["value"] for r in query(engine, "SELECT current_setting('memory_limit') AS value")]
    assert limit.endswith("MiB") and abs(float(limit.split()[0]) - DUCKDB_MEMORY_MB * 1e6 / 2**20) < 1, limit


def test_duckdb_loads_on_one_thread_and_gives_its_threads_back(engine, monkeypatch):
    import warehouse.load

    if engine.dialect.name != "duckdb":
        pytest.skip("a DuckDB setting")
    threads = "SELECT current_setting('threads') AS value"
    [before] = [r["value"] for r in query(engine, threads)]
    seen = []
    append = warehouse.load._append

    def spy(conn, raw, duck, name, table):
        seen.append(raw.execute(threads).fetchone()[0])
        append(conn, raw, duck, name, table)

    monkeypatch.setattr(warehouse.load, "_append", spy)
    load(engine, normalize(synthetic(1), T0))
    with pytest.raises(sa.exc.IntegrityError):
        load(engine, _with_a_duplicate(normalize(synthetic(1, start=5), T0), "fact_funding"))
    assert seen and set(seen) == {1}
    assert [r["value"] for r in query(engine, threads)] == [before]

    def unreachable(engine):
        raise sa.exc.OperationalError("RESET threads", None, OSError("the database is gone"))

    monkeypatch.setattr(warehouse.load, "_reset_threads", unreachable)  # the load's own error still shows
    with pytest.raises(sa.exc.IntegrityError):
        load(engine, _with_a_duplicate(normalize(synthetic(1, start=6), T0), "fact_funding"))


def test_decimals_round_trip_exactly(engine):
    doc = document("/in/exact.txt", "鄂州市总工会", 2025, funding_lines=[
        FundingLine("income", "财政拨款", 2025, Decimal("1058.85"), Decimal("49.96")),
        FundingLine("income", "单位资金", 2025, Decimal("0.01"), Decimal("0.0001")),
        FundingLine("income", "合计", 2025, Decimal("9999999999999999.99"), Decimal("99999.9999")),
        FundingLine("expenditure", "合计", 2025, Decimal("-0.01")),
    ], indicators=[
        indicator(ANNUAL, 2025, "小", "≤0.000001%", "<=", "0.000001", "%"),
        indicator(ANNUAL, 2025, "大", "≥999999999999999999.999999人", ">=", "999999999999999999.999999", "人"),
    ])
    load(engine, normalize([doc], T0))
    with engine.connect() as conn:
        got = {r.item: (r.amount, r.share_pct) for r in conn.execute(sa.select(tables["fact_funding"]))
               if r.flow == "income"}
        raw = {r[0]: r[1] for r in conn.exec_driver_sql(
            "SELECT item, CAST(amount AS VARCHAR(40)) FROM fact_funding WHERE flow = 'income'")}
        values = sorted(r.value for r in conn.execute(sa.select(tables["fact_indicator_value"])))
    assert got == {
        "财政拨款": (Decimal("1058.85"), Decimal("49.9600")),
        "单位资金": (Decimal("0.01"), Decimal("0.0001")),
        "合计": (Decimal("9999999999999999.99"), Decimal("99999.9999")),
    }
    assert raw == {"财政拨款": "1058.85", "单位资金": "0.01", "合计": "9999999999999999.99"}
    assert values == [Decimal("0.000001"), Decimal("999999999999999999.999999")]


def test_loading_the_same_documents_twice_changes_nothing(engine):
    docs = synthetic(6)
    first = load(engine, normalize(docs, T0), run_id="r1")
    assert first["documents_loaded"] == 6
    assert first["fact_funding"] == 6 * 40
    before = dump(engine)
    again = load(engine, normalize(synthetic(6), T0 + timedelta(days=1)), run_id="r2")
    assert again["documents_loaded"] == 0 and again["documents_skipped"] == 6
    assert all(again[t] == 0 for t in ("fact_document", "fact_funding", "fact_indicator_value",
                                         "fact_text_item", "fact_problem", "dq_result", "quarantine"))
    assert dump(engine) == before


def test_a_documents_rows_are_appended_once_whatever_offers_them_again(engine):
    """What the document facts' keys rest on where the database holds none (DuckDB): only the load that
    inserts a document's fact_document row appends its rows, so a later chunk of the same load and a later
    load offering the document again add nothing."""
    tables = normalize(synthetic(3), T0)
    first = load(engine, [tables, tables, normalize(synthetic(3, start=1), T0)], run_id="r1")
    assert (first["documents_loaded"], first["documents_skipped"]) == (4, 5)
    assert first["fact_indicator_value"] == 4 * 152 and first["fact_funding"] == 4 * 40
    again = load(engine, normalize(synthetic(4), T0 + timedelta(days=1)), run_id="r2")
    assert again["documents_loaded"] == 0 and again["fact_indicator_value"] == again["fact_funding"] == 0
    counts = table_counts(engine)
    assert (counts["fact_indicator_value"], counts["fact_funding"]) == (4 * 152, 4 * 40)


@pytest.mark.parametrize("table", ["fact_funding", "fact_indicator_value", "fact_text_item", "fact_problem"])
def test_a_repeated_key_fails_the_load_and_changes_nothing(engine, table):
    """A fact row repeated within the rows a load appends: the key refuses it on PostgreSQL, the loader's
    check on DuckDB (whose document facts have no key); the transaction is undone either way."""
    import psycopg

    load(engine, normalize(synthetic(2), T0))
    before = dump(engine)
    with pytest.raises((sa.exc.IntegrityError, psycopg.errors.UniqueViolation),
                       match="duplicate key value|could not create unique index"):
        load(engine, _with_a_duplicate(normalize(synthetic(2, start=20), T0), table))
    assert dump(engine) == before


def test_a_duckdb_warehouse_with_the_document_facts_keys_still_loads(engine, tmp_path):
    """A DuckDB warehouse an earlier pifu made, whose document facts have keys (DuckDB cannot drop a primary
    key; the unique index is dropped): it loads as a keyless one does, and still refuses a repeated key."""
    from warehouse.engine import make_engine
    from warehouse.schema import DOCUMENT_FACTS, PRIMARY_KEYS

    if engine.dialect.name != "duckdb":
        pytest.skip("PostgreSQL keeps every key")
    create_all(engine)
    with engine.begin() as conn:
        for name in set(DOCUMENT_FACTS) & set(PRIMARY_KEYS):
            conn.exec_driver_sql(f"ALTER TABLE {name} ADD PRIMARY KEY ({', '.join(PRIMARY_KEYS[name])})")
        conn.exec_driver_sql("CREATE UNIQUE INDEX ux_fact_indicator_value_document_id_value_no "
                             "ON fact_indicator_value (document_id, value_no)")
    fresh = make_engine(f"duckdb:///{tmp_path / 'fresh.duckdb'}")
    try:
        for target in (engine, fresh):
            load(target, normalize(synthetic(3), T0), run_id="r1")
            load(target, normalize(synthetic(4), T0 + timedelta(days=1)), run_id="r2")
            with pytest.raises(sa.exc.IntegrityError, match="duplicate key value"):
                load(target, _with_a_duplicate(normalize(synthetic(1, start=9), T0), "fact_funding"))
        assert dump(engine) == dump(fresh)
    finally:
        fresh.dispose()
    keyed = {r["table_name"] for r in query(engine, "SELECT table_name FROM duckdb_constraints() "
                                                    "WHERE constraint_type = 'PRIMARY KEY'")}
    assert set(DOCUMENT_FACTS) & set(PRIMARY_KEYS) <= keyed
    assert "ux_fact_indicator_value_document_id_value_no" not in {
        r["index_name"] for r in query(engine, "SELECT index_name FROM duckdb_indexes()")}


def test_a_new_file_for_the_same_department_and_year_becomes_current(engine):
    v1 = document("/in/edu-v1.txt", "鄂州市教育局", 2025,
                  funding_lines=funding(2025, {"财政拨款": "10"}, {"人员类项目支出": "10"}))
    other_year = document("/in/edu-2024.txt", "鄂州市教育局", 2024,
                          funding_lines=funding(2024, {"财政拨款": "5"}, {"人员类项目支出": "5"}))
    v2 = document("/in/edu-v2.txt", "鄂州市教育局", 2025,
                  funding_lines=funding(2025, {"财政拨款": "20"}, {"人员类项目支出": "20"}))
    load(engine, normalize([v1, other_year], T0))
    load(engine, normalize([v2], T0 + timedelta(days=1)))
    current = {r["source_path"]: r["is_current"] for r in query(engine, "SELECT * FROM fact_document")}
    assert current == {"/in/edu-v1.txt": False, "/in/edu-2024.txt": True, "/in/edu-v2.txt": True}
    assert table_counts(engine)["fact_funding"] == 3 * 4  # old versions keep their rows
    by_year = {r["year"]: r["income_total"] for r in query(engine, "SELECT * FROM v_funding_by_department")}
    assert by_year == {2025: Decimal("20.00"), 2024: Decimal("5.00")}
    # Re-offering the old version changes nothing: it stays history.
    load(engine, normalize([v1], T0 + timedelta(days=2)))
    assert {r["source_path"]: r["is_current"] for r in query(engine, "SELECT * FROM fact_document")} == current


def test_two_versions_in_one_batch_larger_path_wins(engine):
    a = document("/in/edu-a.txt", "鄂州市教育局", 2025)
    b = document("/in/edu-b.txt", "鄂州市教育局", 2025)
    load(engine, normalize([b, a], T0))
    assert {r["source_path"]: r["is_current"] for r in query(engine, "SELECT * FROM fact_document")} == {
        "/in/edu-a.txt": False, "/in/edu-b.txt": True}


def test_quarantine_is_keyed_by_sha256_and_counts_as_known(engine):
    docs = synthetic(2)
    bad = [{"source_path": "/in/bad.pdf", "sha256": "cd" * 32, "reason": "not_a_document",
            "detail": "no 部门整体绩效目标 title", "quarantined_at": T0}]
    result = load(engine, {**normalize(docs, T0), "quarantine": quarantine_table(bad)})
    assert result["quarantine"] == 1
    again = load(engine, {"quarantine": quarantine_table([{**bad[0], "source_path": "/in/renamed.pdf"}])})
    assert again["quarantine"] == 0
    assert query(engine, "SELECT source_path, sha256, reason, detail FROM quarantine") == [
        {"source_path": "/in/bad.pdf", "sha256": "cd" * 32, "reason": "not_a_document",
         "detail": "no 部门整体绩效目标 title"}]
    assert known_sha256(engine) == {d.source.sha256 for d in docs} | {"cd" * 32}


def test_known_sha256_of_an_empty_warehouse(engine):
    assert known_sha256(engine) == set()


def test_the_run_start_reads_through_the_one_connection_that_checked_it(warehouse_url, tmp_path, monkeypatch):
    import warehouse.engine as we
    from pifu.faults import WarehouseError
    from warehouse.load import committed_snapshot

    docs = synthetic(2)
    load(warehouse_url, normalize(docs, T0), lake_snapshot=str(tmp_path / "lake" / "snap-1"))
    expected = committed_snapshot(warehouse_url, tmp_path / "lake"), known_sha256(warehouse_url)
    assert expected == (os.path.join(os.path.realpath(tmp_path / "lake"), "snap-1"),
                        {d.source.sha256 for d in docs})
    made = []
    real = we.make_engine
    monkeypatch.setattr(we, "make_engine", lambda url=None: made.append(url) or real(url))
    with we.reachable(warehouse_url) as conn:
        assert (committed_snapshot(conn, tmp_path / "lake"), known_sha256(conn)) == expected
    assert len(made) == 1 and conn.closed
    with pytest.raises(KeyError), we.reachable(warehouse_url):
        raise KeyError("x")  # the caller's error is its own, not "cannot connect"
    with pytest.raises(WarehouseError, match="cannot connect"), we.reachable("postgresql://u@127.0.0.1:9/x"):
        pass


def test_dimensions_are_upserted(engine):
    load(engine, normalize([document("/in/a.txt", "鄂州市教育局", 2025)], T0))
    load(engine, normalize([document("/in/b.txt", "鄂州市 教育局", 2026)], T0))  # same id, new spelling
    assert query(engine, "SELECT department_id, department_name, region FROM dim_department") == [
        {"department_id": department_id("鄂州市教育局"), "department_name": "鄂州市 教育局", "region": "鄂州市"}]


def test_dq_results_follow_their_documents(engine):
    tables = normalize(synthetic(2), T0)
    ids = tables["fact_document"]["document_id"].to_pylist()
    dq = pa.Table.from_pylist([
        {"check_name": "income_equals_expenditure", "document_id": ids[0], "row_ref": None, "severity": "error",
         "passed": False, "observed": "1.00", "expected": "2.00", "message": "差额", "run_id": "r1",
         "checked_at": T0, "result_no": 1},
        {"check_name": "funding_shares_sum_to_100", "document_id": ids[1], "row_ref": "income", "severity": "warning",
         "passed": True, "observed": "100", "expected": "100", "message": "", "run_id": "r1", "checked_at": T0,
         "result_no": 2},
    ], schema=SCHEMAS["dq_result"])
    assert load(engine, {**tables, "dq_result": dq})["dq_result"] == 2
    assert load(engine, {**tables, "dq_result": dq})["dq_result"] == 0
    got = query(engine, "SELECT check_name, passed, message FROM dq_result ORDER BY check_name")
    assert got == [{"check_name": "funding_shares_sum_to_100", "passed": True, "message": ""},
                   {"check_name": "income_equals_expenditure", "passed": False, "message": "差额"}]


# A small corpus whose view figures were worked out by hand (see the comments).
def corpus():
    hist = [FundingLine("income", "合计", 2024, Decimal("7777.77")),  # other years never count
            FundingLine("expenditure", "合计", 2024, Decimal("7777.77"))]
    union = document("/in/ezhou-union.txt", "鄂州市总工会", 2025, funding_lines=funding(
        2025, {"财政拨款": "998.71", "财政专户管理资金": "0", "单位资金": "0"},
        {"人员类项目支出": "491.42", "运转类项目支出": "92.99", "特定目标类项目支出": "399.30"}) + hist,
        indicators=[
            indicator(LONG_TERM, None, "帮扶人数", "≥90%", ">=", "90", "%"),
            indicator(ANNUAL, 2024, "帮扶人数", "≥99%", ">=", "99", "%"),
            indicator(ANNUAL, 2025, "帮扶人数", "≥95%", ">=", "95", "%"),
            indicator(LONG_TERM, None, "劳模人数", "≥10人", ">=", "10", "人"),
            indicator(ANNUAL, 2025, "劳模人数", "健全", None, None, None),
        ])
    edu_old = document("/in/ezhou-edu-old.txt", "鄂州市教育局", 2025, funding_lines=funding(
        2025, {"财政拨款": "1.00"}, {"人员类项目支出": "1.00"}),
        indicators=[indicator(ANNUAL, 2025, "帮扶人数", "≥1%", ">=", "1", "%")])
    edu = document("/in/ezhou-edu.txt", "鄂州市教育局", 2025, funding_lines=funding(
        2025, {"财政拨款": "1000.00", "单位资金": "200.50"},
        {"人员类项目支出": "600.25", "运转类项目支出": "100.25", "特定目标类项目支出": "500.00"}),
        indicators=[indicator(ANNUAL, 2025, "帮扶人数", "≥80%", ">=", "80", "%")])
    edu_2024 = document("/in/ezhou-edu-2024.txt", "鄂州市教育局", 2024, funding_lines=funding(
        2024, {"财政拨款": "300"}, {"人员类项目支出": "150", "运转类项目支出": "150", "特定目标类项目支出": "0"}))
    wuhan = document("/in/wuhan-finance.txt", "武汉市财政局", 2025, funding_lines=funding(
        2025, {"财政拨款": "5000"},
        {"人员类项目支出": "2500", "运转类项目支出": "1000", "特定目标类项目支出": "1500"}),
        indicators=[indicator(LONG_TERM, None, "帮扶人数", "≥70%", ">=", "70", "%")])
    return edu_old, [union, edu, edu_2024, wuhan]


def load_corpus(engine):
    old, docs = corpus()
    load(engine, normalize([old], T0))
    load(engine, normalize(docs, T0 + timedelta(days=1)))


def test_funding_by_department(engine):
    load_corpus(engine)
    got = {(r["department_name"], r["year"]): r for r in query(engine, "SELECT * FROM v_funding_by_department")}
    assert set(got) == {("鄂州市总工会", 2025), ("鄂州市教育局", 2025), ("鄂州市教育局", 2024), ("武汉市财政局", 2025)}
    union = got[("鄂州市总工会", 2025)]
    assert union["region"] == "鄂州市"
    assert union["department_id"] == department_id("鄂州市总工会")
    assert (union["income_total"], union["expenditure_total"]) == (Decimal("998.71"), Decimal("983.71"))
    # 491.42/983.71 = 49.95577…%, 92.99/983.71 = 9.45298…%, 399.30/983.71 = 40.59123…%
    assert (union["personnel_share_pct"], union["operating_share_pct"], union["project_share_pct"]) == (
        Decimal("49.9558"), Decimal("9.4530"), Decimal("40.5912"))
    edu = got[("鄂州市教育局", 2025)]  # the current version, not the old one
    assert (edu["income_total"], edu["expenditure_total"]) == (Decimal("1200.50"), Decimal("1200.50"))
    # 600.25/1200.50 = 50%, 100.25/1200.50 = 8.35068…%, 500/1200.50 = 41.64931…%
    assert (edu["personnel_share_pct"], edu["operating_share_pct"], edu["project_share_pct"]) == (
        Decimal("50.0000"), Decimal("8.3507"), Decimal("41.6493"))
    assert got[("鄂州市教育局", 2024)]["personnel_share_pct"] == Decimal("50.0000")


def test_funding_by_region(engine):
    load_corpus(engine)
    got = {(r["region"], r["year"]): r for r in query(engine, "SELECT * FROM v_funding_by_region")}
    assert set(got) == {("鄂州市", 2025), ("鄂州市", 2024), ("武汉市", 2025)}
    ezhou = got[("鄂州市", 2025)]
    assert ezhou["departments"] == 2
    # income 998.71 + 1200.50; expenditure 983.71 + 1200.50 = 2184.21
    assert (ezhou["income_total"], ezhou["expenditure_total"]) == (Decimal("2199.21"), Decimal("2184.21"))
    # personnel 491.42 + 600.25 = 1091.67 -> 49.98008…%; operating 92.99 + 100.25 = 193.24 -> 8.84713…%;
    # project 399.30 + 500.00 = 899.30 -> 41.17278…%
    assert (ezhou["personnel_share_pct"], ezhou["operating_share_pct"], ezhou["project_share_pct"]) == (
        Decimal("49.9801"), Decimal("8.8471"), Decimal("41.1728"))
    wuhan = got[("武汉市", 2025)]
    assert (wuhan["departments"], wuhan["income_total"], wuhan["personnel_share_pct"],
            wuhan["operating_share_pct"], wuhan["project_share_pct"]) == (
        1, Decimal("5000.00"), Decimal("50.0000"), Decimal("20.0000"), Decimal("30.0000"))


def test_indicator_targets_prefer_this_years_numeric_target(engine):
    load_corpus(engine)
    got = {(r["department_name"], r["lv3"]): r for r in query(
        engine, "SELECT * FROM v_indicator_targets WHERE fiscal_year = 2025")}
    assert set(got) == {("鄂州市总工会", "帮扶人数"), ("鄂州市总工会", "劳模人数"), ("鄂州市教育局", "帮扶人数"),
                        ("武汉市财政局", "帮扶人数")}
    union = got[("鄂州市总工会", "帮扶人数")]  # annual 2025 beats long-term and annual 2024
    assert (union["target_horizon"], union["comparator"], union["value"], union["unit"]) == (
        "annual", ">=", Decimal("95"), "%")
    assert union["indicator_id"] == indicator_id("产出指标", "数量指标", "帮扶人数")
    models = got[("鄂州市总工会", "劳模人数")]  # this year's target is qualitative: the long-term one is numeric
    assert (models["target_horizon"], models["value"], models["unit"]) == ("long_term", Decimal("10"), "人")
    assert got[("鄂州市教育局", "帮扶人数")]["value"] == Decimal("80")  # the current version's, not 1
    assert got[("武汉市财政局", "帮扶人数")]["target_horizon"] == "long_term"


def test_indicator_usage(engine):
    load_corpus(engine)
    got = {(r["lv3"], r["unit"]): r for r in query(engine, "SELECT * FROM v_indicator_usage")}
    assert set(got) == {("帮扶人数", "%"), ("劳模人数", "人")}
    helped = got[("帮扶人数", "%")]
    # targets 95 (union), 80 (education, current version), 70 (Wuhan, long-term)
    assert (helped["departments"], helped["documents"], helped["numeric_targets"]) == (3, 3, 3)
    assert (helped["min_value"], helped["max_value"], helped["avg_value"], helped["median_value"]) == (
        Decimal("70"), Decimal("95"), Decimal("81.666667"), Decimal("80"))
    assert got[("劳模人数", "人")]["departments"] == 1


def test_views_are_empty_on_an_empty_warehouse(engine):
    create_all(engine)
    for view in VIEWS:
        assert query(engine, f"SELECT * FROM {view}") == []


def test_table_counts(engine):
    load(engine, normalize(synthetic(3), T0))
    counts = table_counts(engine)
    assert counts["fact_document"] == 3 and counts["fact_indicator_value"] == 3 * 152
    assert set(counts) == set(TABLES)


def test_text_survives_exactly_including_csv_and_copy_specials(engine):
    # On PostgreSQL these travel as CSV through COPY: quotes, separators, line breaks, backslashes,
    # the end-of-data marker and the empty string (which is not NULL) must all come back unchanged.
    weird = ["\\.", "a\n\\.\nb", '"', "\\", "x\r\ny", "😀", "", " ", "NULL", "\\N", "a,b"]
    doc = document("/in/weird.txt", "某市某局", 2025,
                   texts={"functions": weird, "annual_tasks": [], "long_term_goal": [], "annual_goal": []},
                   indicators=[indicator(ANNUAL, 2025, "制度", "健全", None, None, None)])
    load(engine, normalize([doc], T0))
    assert [r["text"] for r in query(engine, "SELECT text FROM fact_text_item ORDER BY item_no")] == weird
    (row,) = query(engine, "SELECT comparator, value, unit, raw FROM fact_indicator_value")
    assert row == {"comparator": None, "value": None, "unit": None, "raw": "健全"}


def test_drop_all_empties_the_warehouse(engine):
    from warehouse.schema import drop_all

    load(engine, normalize(synthetic(1), T0))
    drop_all(engine)
    assert table_counts(engine) == {}
    assert not set(VIEWS) & set(sa.inspect(engine).get_view_names())
    load(engine, normalize(synthetic(1), T0))
    assert table_counts(engine)["fact_document"] == 1


def test_a_loaded_chunk_is_not_held_until_the_commit(engine):
    """The chunks of one transaction are loaded one at a time, and each is let go once loaded: a 100,000-
    document run is 50 chunks, and holding them all until the commit took 4 GB (DuckDB keeps a view
    unregistered inside a transaction, with its Arrow table, until the commit)."""
    import gc

    held = []

    def chunks():
        for i in range(6):
            gc.collect()
            held.append(pa.total_allocated_bytes())
            yield normalize(synthetic(30, start=30 * i), T0)

    load(engine, chunks())
    one_chunk = sum(t.nbytes for t in normalize(synthetic(30), T0).values())
    assert held[-1] - held[1] < one_chunk, (held, one_chunk)
    assert table_counts(engine)["fact_document"] == 180


def _keys_and_indexes(engine) -> set[tuple]:
    """PostgreSQL: every constraint and index of the warehouse tables, as the server defines them."""
    return {tuple(r.values()) for r in query(engine, """
        SELECT conrelid::regclass::text AS owner, conname AS name, pg_get_constraintdef(oid) AS definition
        FROM pg_constraint WHERE connamespace = current_schema()::regnamespace
        UNION ALL SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()""")}


def _with_a_duplicate(tables: dict[str, pa.Table], name: str) -> dict[str, pa.Table]:
    return {**tables, name: pa.concat_tables([tables[name], tables[name].slice(0, 1)])}


@pytest.fixture
def postgresql(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's keys are rebuilt around a big load")
    return engine


@pytest.mark.parametrize("small", [False, True], ids=["rebuilt", "row-by-row"])
def test_a_load_leaves_the_keys_as_they_were_either_way(postgresql, small, monkeypatch):
    """A chunk big against its table (a first load) drops the fact tables' keys and indexes and builds
    them again before the commit; a small one keeps them. The warehouse ends the same either way."""
    import warehouse.load

    create_all(postgresql)
    keys = _keys_and_indexes(postgresql)
    if small:
        load(postgresql, normalize(synthetic(20), T0))
    dropped = []
    drop = warehouse.load._drop_constraints
    monkeypatch.setattr(warehouse.load, "_drop_constraints", lambda conn, name: dropped.append(name) or drop(conn, name))
    result = load(postgresql, normalize(synthetic(2, start=20), T0))
    assert result["fact_indicator_value"] == 2 * 152
    assert dropped == ([] if small else ["fact_funding", "fact_indicator_value", "fact_text_item", "fact_problem"])
    assert _keys_and_indexes(postgresql) == keys


@pytest.mark.parametrize("small", [False, True], ids=["rebuilt", "row-by-row"])
@pytest.mark.parametrize("table", ["fact_indicator_value", "fact_funding"])
def test_a_duplicate_key_fails_the_load_and_changes_nothing(postgresql, small, table):
    """Row by row the COPY fails (psycopg's error, raised through the raw cursor); rebuilt, the index build
    does (SQLAlchemy's, around the same psycopg UniqueViolation). Either way the transaction is undone."""
    import psycopg

    if small:
        load(postgresql, normalize(synthetic(20), T0))
    create_all(postgresql)
    before, keys = dump(postgresql), _keys_and_indexes(postgresql)
    with pytest.raises((sa.exc.IntegrityError, psycopg.errors.UniqueViolation),
                       match="duplicate key value|could not create unique index"):
        load(postgresql, _with_a_duplicate(normalize(synthetic(2, start=20), T0), table))
    assert dump(postgresql) == before
    assert _keys_and_indexes(postgresql) == keys


def test_a_reader_holding_a_table_keeps_its_keys_and_the_load_goes_on(postgresql, monkeypatch):
    """A BI tool's open transaction on fact_funding: the drop gives up after its short lock wait, that table
    is loaded with its keys in place, the others are rebuilt; nothing waits on the reader."""
    import threading

    import warehouse.load

    create_all(postgresql)
    keys = _keys_and_indexes(postgresql)
    monkeypatch.setattr(warehouse.load, "REBUILD_LOCK_WAIT_MS", 100)
    dropped = []
    drop = warehouse.load._drop_constraints
    monkeypatch.setattr(warehouse.load, "_drop_constraints", lambda conn, name: dropped.append(name) or drop(conn, name))
    result = {}
    with postgresql.connect() as reader:
        reader.execute(sa.text("SELECT count(*) FROM fact_funding")).scalar()  # its lock held till the rollback
        loading = threading.Thread(target=lambda: result.update(load(postgresql, normalize(synthetic(2), T0))))
        loading.start()
        loading.join(timeout=120)  # a deadline for a load that would wait on the reader, not a timing
        stalled = loading.is_alive()
        reader.rollback()
    loading.join()
    assert not stalled, "the load waited for the reader's transaction"
    assert result["fact_indicator_value"] == 2 * 152
    assert dropped == ["fact_indicator_value", "fact_text_item", "fact_problem"]
    assert _keys_and_indexes(postgresql) == keys
