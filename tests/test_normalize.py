import hashlib
from pathlib import Path
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pyarrow as pa
import pytest

from factories import document, funding, indicator, synthetic
from pifu.model import ANNUAL, LONG_TERM, FundingLine, Problem
from pifu.normalize import (
    combine, department_id, document_id, indicator_id, normalize, quarantine_table, unfit_reason,
)
from pifu.schema import SCHEMAS

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=timezone.utc)


def ezhou():
    return document(
        "/in/ezhou.txt", "鄂州市总工会", 2025,
        funding_lines=funding(2025, {"财政拨款": "998.71", "财政专户管理资金": "0", "单位资金": "0"},
                              {"人员类项目支出": "491.42", "运转类项目支出": "92.99", "特定目标类项目支出": "399.3"},
                              {"income:财政拨款": "100", "expenditure:人员类项目支出": "49.96"})
        + [FundingLine("income", "合计", 2023, Decimal("1058.85"), line=7)],
        indicators=[
            indicator(LONG_TERM, None, "市级生活困难劳模帮扶人数", "≥23人", ">=", "23", "人"),
            indicator(ANNUAL, 2023, "市级生活困难劳模帮扶人数", "≥20人", ">=", "20", "人"),
            indicator(ANNUAL, 2024, "市级生活困难劳模帮扶人数", "≥21人", ">=", "21", "人"),
            indicator(ANNUAL, 2025, "市级生活困难劳模帮扶人数", "≥23人", ">=", "23", "人"),
            indicator(ANNUAL, 2025, "制度健全性", "健全", None, None, None, lv2="质量指标"),
        ],
        texts={"functions": ["领导全市工人运动", "维护职工权益"], "annual_tasks": ["强化引领"],
               "long_term_goal": [], "annual_goal": ["完成任务"]},
        problems=[Problem("label_completed", "info", "line 40", "三级指标补全"),
                  Problem("row_shifted", "warning", "line 12", "行左移")],
    )


def test_every_table_has_exactly_the_schema_columns_and_types():
    tables = normalize([ezhou()], T0)
    assert set(tables) == {"dim_department", "dim_indicator", "fact_document", "fact_funding",
                           "fact_indicator_value", "fact_text_item", "fact_problem", "fact_duty_target"}
    for name, table in tables.items():
        assert table.schema.equals(SCHEMAS[name]), name


def test_ids_derive_from_content_and_ignore_width_and_spacing():
    assert department_id("鄂州市总工会") == hashlib.sha256("鄂州市总工会".encode()).hexdigest()[:16]
    assert department_id(" 鄂州市　总工会 ") == department_id("鄂州市总工会")
    assert department_id("鄂州市（总工会）") == department_id("鄂州市(总工会)")
    assert department_id("鄂州市总工会") != department_id("鄂州市教育局")
    assert indicator_id("产出指标", "数量指标", "人数") == hashlib.sha256("产出指标|数量指标|人数".encode()).hexdigest()[:16]
    assert indicator_id("产出指标", "数量指标", "人数") != indicator_id("产出指标", "质量指标", "人数")
    doc = ezhou()
    facts = normalize([doc], T0)["fact_document"].to_pylist()
    assert facts[0]["document_id"] == doc.source.sha256[:16] == document_id(doc.source.sha256)
    assert facts[0]["department_id"] == department_id("鄂州市总工会")


def test_document_row():
    (row,) = normalize([ezhou()], T0)["fact_document"].to_pylist()
    assert row["fiscal_year"] == 2025
    assert row["source_path"] == "/in/ezhou.txt"
    assert row["format"] == "text" and row["encoding"] == "utf-8"
    assert row["is_current"] is True
    assert row["loaded_at"] == T0
    assert row["problem_count"] == 2


def test_departments_and_regions():
    tables = normalize([ezhou(), document("/in/b.txt", "武汉市江岸区教育局", 2025)], T0)
    rows = {r["department_name"]: r for r in tables["dim_department"].to_pylist()}
    assert rows["鄂州市总工会"]["region"] == "鄂州市"
    assert rows["鄂州市总工会"]["department_id"] == department_id("鄂州市总工会")
    assert rows["武汉市江岸区教育局"]["region"] is not None


def test_funding_amounts_are_exact_and_digits_are_the_stated_decimals():
    rows = normalize([ezhou()], T0)["fact_funding"].to_pylist()
    by = {(r["flow"], r["item"], r["year"]): r for r in rows}
    r = by[("expenditure", "特定目标类项目支出", 2025)]
    assert r["amount"] == Decimal("399.30") and r["amount_digits"] == 1
    assert r["share_pct"] is None and r["share_digits"] is None
    r = by[("expenditure", "人员类项目支出", 2025)]
    assert r["amount"] == Decimal("491.42") and r["amount_digits"] == 2
    assert r["share_pct"] == Decimal("49.96") and r["share_digits"] == 2
    r = by[("income", "财政拨款", 2025)]
    assert r["share_pct"] == Decimal("100") and r["share_digits"] == 0
    assert by[("income", "财政专户管理资金", 2025)]["amount_digits"] == 0
    r = by[("income", "合计", 2023)]
    assert r["amount"] == Decimal("1058.85") and r["line"] == 7
    assert by[("income", "合计", 2025)]["line"] is None  # 0 means unknown
    assert {r["department_id"] for r in rows} == {department_id("鄂州市总工会")}
    assert {r["fiscal_year"] for r in rows} == {2025}


def test_decimals_beyond_the_column_scale_are_rounded_half_up_and_keep_their_stated_digits():
    doc = document("/in/x.txt", "某市某局", 2025, funding_lines=[
        FundingLine("income", "财政拨款", 2025, Decimal("1.005"), Decimal("33.33335")),
        FundingLine("income", "合计", 2025, Decimal("9999999999999999.99"), Decimal("100.0")),
    ], indicators=[indicator(ANNUAL, 2025, "比例", "≥0.0000005%", ">=", "0.0000005", "%")])
    tables = normalize([doc], T0)
    rows = {r["item"]: r for r in tables["fact_funding"].to_pylist()}
    assert rows["财政拨款"]["amount"] == Decimal("1.01") and rows["财政拨款"]["amount_digits"] == 3
    assert rows["财政拨款"]["share_pct"] == Decimal("33.3334") and rows["财政拨款"]["share_digits"] == 5
    assert rows["合计"]["amount"] == Decimal("9999999999999999.99")
    assert rows["合计"]["share_digits"] == 1
    assert tables["fact_indicator_value"]["value"].to_pylist() == [Decimal("0.000001")]


def test_indicators_are_long_form_one_row_per_year():
    rows = normalize([ezhou()], T0)["fact_indicator_value"].to_pylist()
    helped = [r for r in rows if r["raw"].endswith("人")]
    assert sorted((r["horizon"], r["year"]) for r in helped) == [
        ("annual", 2023), ("annual", 2024), ("annual", 2025), ("long_term", None)]
    assert {r["indicator_id"] for r in helped} == {indicator_id("产出指标", "数量指标", "市级生活困难劳模帮扶人数")}
    long_term = next(r for r in helped if r["horizon"] == "long_term")
    assert (long_term["comparator"], long_term["value"], long_term["unit"]) == (">=", Decimal("23"), "人")
    assert (long_term["basis"], long_term["category"]) == ("计划标准", "绩效基本型")
    qualitative = next(r for r in rows if r["raw"] == "健全")
    assert (qualitative["comparator"], qualitative["value"], qualitative["unit"]) == (None, None, None)


def test_dim_indicator_holds_each_label_triple_once():
    docs = [ezhou(), document("/in/b.txt", "鄂州市教育局", 2025, indicators=[
        indicator(ANNUAL, 2025, "市级生活困难劳模帮扶人数", "≥1人", ">=", "1", "人"),
        indicator(ANNUAL, 2025, "市级生活困难劳模帮扶人数 ", "≥2人", ">=", "2", "人"),  # same once folded
    ])]
    tables = normalize(docs, T0)
    dim = tables["dim_indicator"].to_pylist()
    assert sorted(r["lv3"] for r in dim) == ["制度健全性", "市级生活困难劳模帮扶人数"]
    assert set(tables["fact_indicator_value"]["indicator_id"].to_pylist()) == {r["indicator_id"] for r in dim}


def test_texts_and_problems_are_numbered_in_order():
    tables = normalize([ezhou()], T0)
    texts = [(r["section"], r["item_no"], r["text"]) for r in tables["fact_text_item"].to_pylist()]
    assert texts == [("functions", 1, "领导全市工人运动"), ("functions", 2, "维护职工权益"),
                     ("annual_tasks", 1, "强化引领"), ("annual_goal", 1, "完成任务")]
    problems = tables["fact_problem"].to_pylist()
    assert [(p["problem_no"], p["code"], p["severity"], p["location"]) for p in problems] == [
        (1, "label_completed", "info", "line 40"), (2, "row_shifted", "warning", "line 12")]


def test_newest_version_in_a_batch_is_current():
    docs = [
        document("/in/edu-2025-v1.txt", "鄂州市教育局", 2025),
        document("/in/edu-2025-v2.txt", "鄂州市教育局", 2025),
        document("/in/edu-2024.txt", "鄂州市教育局", 2024),
    ]
    rows = {r["source_path"]: r["is_current"] for r in normalize(docs, T0)["fact_document"].to_pylist()}
    assert rows == {"/in/edu-2025-v1.txt": False, "/in/edu-2025-v2.txt": True, "/in/edu-2024.txt": True}


def test_the_same_file_under_two_paths_is_one_document():
    a = document("/in/a.txt", "鄂州市教育局", 2025, content="same bytes")
    b = document("/in/copy/a.txt", "鄂州市教育局", 2025, content="same bytes")
    tables = normalize([b, a], T0)
    assert tables["fact_document"]["source_path"].to_pylist() == ["/in/a.txt"]
    assert tables["fact_text_item"].num_rows == 1


def test_naive_loaded_at_is_utc():
    naive = normalize([ezhou()], datetime(2025, 3, 1, 8, 0))["fact_document"]["loaded_at"][0].as_py()
    assert naive == T0


def test_unfit_documents_are_named_not_half_stored():
    too_big = document("/in/big.txt", "某市某局", 2025,
                       funding_lines=[FundingLine("income", "合计", 2025, Decimal("10000000000000000"))])
    twice = document("/in/twice.txt", "某市某局", 2025, funding_lines=[
        FundingLine("income", "合计", 2025, Decimal(1)), FundingLine("income", "合计", 2025, Decimal(2))])
    assert "does not fit" in unfit_reason(too_big)
    assert "twice" in unfit_reason(twice)
    assert unfit_reason(ezhou()) is None
    with pytest.raises(ValueError, match="/in/big.txt"):
        normalize([ezhou(), too_big], T0)


def test_quarantine_table_is_keyed_by_sha256():
    sha = "ab" * 32
    t = quarantine_table([
        {"source_path": "/in/x.pdf", "sha256": sha, "reason": "not_a_document", "detail": "no title",
         "quarantined_at": T0},
        {"source_path": "/in/y.pdf", "sha256": sha, "reason": "not_a_document", "detail": "no title",
         "quarantined_at": T0},
    ])
    assert t.schema.equals(SCHEMAS["quarantine"])
    assert t.to_pylist() == [{"source_path": "/in/x.pdf", "sha256": sha, "reason": "not_a_document",
                              "detail": "no title", "quarantined_at": T0}]
    assert quarantine_table([]).num_rows == 0


def test_combine_deduplicates_keys_and_decides_current_across_batches():
    v1 = document("/in/a-v1.txt", "鄂州市教育局", 2025)
    v2 = document("/in/a-v2.txt", "鄂州市教育局", 2025)
    early = normalize([v1], T0)
    late = normalize([v2], T0 + timedelta(hours=1))
    both = combine([late, early])
    assert both["dim_department"].num_rows == 1
    assert {r["source_path"]: r["is_current"] for r in both["fact_document"].to_pylist()} == {
        "/in/a-v1.txt": False, "/in/a-v2.txt": True}
    again = combine([early, early])
    assert again["fact_document"].num_rows == 1
    for name, table in both.items():
        assert table.schema.equals(SCHEMAS[name])


def test_a_synthetic_batch_has_the_expected_row_counts():
    tables = normalize(synthetic(20), T0)
    assert tables["fact_document"].num_rows == 20
    assert tables["fact_funding"].num_rows == 20 * 40
    assert tables["fact_indicator_value"].num_rows == 20 * 152
    assert pa.compute.all(tables["fact_document"]["is_current"]).as_py()


def test_empty_batch():
    tables = normalize([], T0)
    assert all(t.num_rows == 0 for t in tables.values())


def test_the_reference_sample_normalizes():
    import pifu

    doc = pifu.parse(Path(__file__).parents[1] / "samples" / "ezhou-trade-union-2025.txt")
    tables = normalize([doc], T0)
    assert tables["fact_document"]["document_id"].to_pylist() == [doc.source.sha256[:16]]
    assert tables["dim_department"].to_pylist()[0]["region"] == "鄂州市"
    assert tables["fact_funding"].num_rows == len(doc.funding) > 0
    assert tables["fact_indicator_value"].num_rows == len(doc.indicators) > 0
    assert tables["fact_problem"].num_rows == len(doc.problems)


def _mark_current_by_rank(fact_document):
    """The rule as first written, row by row: the largest (loaded_at, has an mtime, mtime, path, id)."""
    cols = fact_document.select(["department_id", "fiscal_year", "loaded_at", "source_mtime", "source_path",
                                 "document_id"])
    newest = {}
    for dep, fy, ts, mtime, path, doc in zip(*(c.to_pylist() for c in cols.columns)):
        rank = (ts, mtime is not None, mtime or ts, path, doc)
        if newest.get((dep, fy), ()) < rank:
            newest[(dep, fy)] = rank
    winners = {rank[-1] for rank in newest.values()}
    return [d in winners for d in fact_document["document_id"].to_pylist()]


def test_mark_current_in_arrow_chooses_as_the_rank_rule_does():
    """Ties on every key but the last, unknown mtimes, a null department, two runs, repeated ids, UTF-8
    paths (byte order is code point order): 300 seeded tables, each as the row-by-row rule decides."""
    import random

    from pifu.normalize import mark_current

    schema = SCHEMAS["fact_document"]
    base = datetime(2026, 1, 1, tzinfo=timezone.utc)
    for seed in range(300):
        rng = random.Random(seed)
        rows = []
        for _ in range(rng.randint(0, 40)):
            mtime = rng.choice([None, base - timedelta(days=rng.randint(0, 3))])
            rows.append({"document_id": rng.choice("abcdefghij") + str(rng.randint(0, 3)),
                         "department_id": rng.choice(["d1", "d2", None, "部门"]),
                         "fiscal_year": rng.choice([2024, 2025]),
                         "loaded_at": base + timedelta(hours=rng.randint(0, 1)),
                         "source_mtime": mtime,
                         "source_path": rng.choice(["/a/x.txt", "/a/y.txt", "/a/é.txt", "/a/中.txt", "/a/z.txt"]),
                         "sha256": "s", "is_current": False})
        table = pa.Table.from_pylist(rows, schema=schema)
        marked = mark_current(table)
        assert marked["is_current"].to_pylist() == _mark_current_by_rank(table), seed
        assert marked.drop(["is_current"]).equals(table.drop(["is_current"]))


def _indicator_ids_row_by_row(docs):
    """The rule `_indicator_ids` implements, one row at a time."""
    ids, column = {}, []
    for doc in docs:
        for i in doc.indicators:
            key = (i.lv1, i.lv2, i.lv3)
            if key not in ids:
                ids[key] = indicator_id(*key)
            column.append(ids[key])
    return ids, column


def test_indicator_ids_agree_with_the_row_by_row_rule():
    import random

    from pifu.normalize import _indicator_ids

    # Labels repeat within a document and across documents, and differ only in width or spacing (one id,
    # two keys): every document sees known keys, new keys, and new keys twice.
    labels = ["合格率", "满意度", "ＡＢＣ", "ABC", "A B C", "完成率", "覆盖率"]
    rng = random.Random(12)
    docs = [document(f"/in/{k}.txt", "鄂州市总工会", 2025, indicators=[
        indicator(ANNUAL, 2025, rng.choice(labels), "1", None, "1", None, lv2=rng.choice(["质量指标", "数量指标"]))
        for _ in range(rng.randrange(0, 12))]) for k in range(60)]
    ids, column = _indicator_ids(docs)
    expected_ids, expected_column = _indicator_ids_row_by_row(docs)
    assert column == expected_column
    assert list(ids.items()) == list(expected_ids.items())  # first appearance order names dim_indicator


@pytest.mark.parametrize("values", [[], [None], [None] * 5, [None, ""], [None, 0], [None, None, "a"], ["", None],
                                    [0, None], [None, False]])
@pytest.mark.parametrize("type_", [pa.string(), pa.int32(), pa.int8(), pa.decimal128(9, 4), pa.bool_()])
def test_columns_without_values_are_made_as_by_conversion(values, type_):
    from pifu.normalize import _array

    try:
        expected = pa.array(values, type=type_)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError)):
            _array(values, type_)
        return
    got = _array(values, type_)
    assert got.type == expected.type and got.equals(expected) and got.null_count == expected.null_count


def test_unfit_reason_judges_as_one_by_one_would(monkeypatch):
    """unfit_reason decides most documents' lists in one pass; on any value it must say what the
    value-by-value rule (`first_misfit`) says: the first problem in the document's order, named; edges,
    non-finite values and duplicated funding keys too."""
    import dataclasses

    from pifu.model import DutyTarget
    from pifu.normalize import first_misfit

    special = ["0", "-0", "1", "-1", "999999999999999999.999999", "999999999999999999.9999995",
               "-999999999999999999.9999994", "1e18", "-1e18", "99999.9999", "99999.99995", "1e5", "-99999.99996",
               "9999999999999999.99", "9999999999999999.995", "-1e16", "NaN", "-NaN", "sNaN", "Infinity",
               "-Infinity", "0E-30", "1E+17"]
    base = dataclasses.replace(ezhou(), duty_targets=[DutyTarget("职能", None, f"项目{n}", Decimal(n)) for n in range(3)])
    lists = {"funding": ("amount", "share_pct"), "indicators": ("value", "weight"), "duty_targets": ("amount",)}
    seen = set()
    for name, fields in lists.items():
        for field in fields:
            for at in (0, 2):
                for text in special:
                    for twice in (False, True):  # a funding key repeated after the value: which comes first
                        rows = {k: list(getattr(base, k)) for k in lists}
                        rows[name][at] = dataclasses.replace(rows[name][at], **{field: Decimal(text)})
                        if twice:
                            rows["funding"].append(rows["funding"][1])
                        doc = dataclasses.replace(base, **rows)
                        expected = first_misfit(doc)
                        assert unfit_reason(doc) == expected, (name, field, at, text, twice)
                        seen.add(expected is None)
    assert seen == {True, False}
