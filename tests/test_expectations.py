"""The data-quality checks (expectations.run_checks) on hand-built tables: the real sample's funding
figures, boundary cases of the tolerances, duplicate keys, and 1,000 synthetic documents with one
planted error of each kind."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal as D

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import dq_synthetic as syn
from expectations import CHECKS, run_checks
from expectations import documents, funding, indicators
from pifu.schema import SCHEMAS

AT = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
DOC, DEP = "doc-ezhou-2025", "dep-ezhou"


# ---------------------------------------------------------------- the real sample, typed in by hand
# shared/samples/ezhou-trade-union-2025.txt, 部门总体资金情况 (file lines 7-14): per item the current
# amount, its share, and the 2023 / 2024 amounts, with the decimals each cell is written with.
# 财政拨款 states no 2023/2024 amounts (the year header shares its row).
SAMPLE_FUNDING = [
    # flow, item, line, (2025 amount, share, 2023, 2024)
    ("income", "财政拨款", 7, ("998.71", "100%", None, None)),
    ("income", "财政专户管理资金", 8, ("0", "0%", "0", "0")),
    ("income", "单位资金", 9, ("0", "0%", "0", "0")),
    ("income", "合计", 10, ("998.71", "100%", "1058.85", "998.71")),
    ("expenditure", "人员类项目支出", 11, ("491.42", "49.96%", "700.24", "491.42")),
    ("expenditure", "运转类项目支出", 12, ("92.99", "9.45%", "78.58", "92.99")),
    ("expenditure", "特定目标类项目支出", 13, ("399.3", "40.95%", "280.02", "399.3")),
    ("expenditure", "合计", 14, ("983.71", "100%", "1058.85", "983.71")),
]


def _digits(text: str) -> int:
    return len(text.rstrip("%").partition(".")[2])


def funding_rows(spec=SAMPLE_FUNDING, document_id=DOC, department_id=DEP) -> list[dict]:
    rows = []
    for flow, item, line, (current, share, y2023, y2024) in spec:
        for year, amount, stated in ((2025, current, share), (2023, y2023, None), (2024, y2024, None)):
            if amount is None:
                continue
            rows.append({
                "document_id": document_id, "department_id": department_id, "fiscal_year": 2025,
                "flow": flow, "item": item, "year": year, "amount": D(amount),
                "share_pct": D(stated.rstrip("%")) if stated else None,
                "amount_digits": _digits(amount), "share_digits": _digits(stated) if stated else None,
                "line": line,
            })
    return rows


def table(name: str, rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=SCHEMAS[name])


def departments(*pairs) -> pa.Table:
    return table("dim_department", [{"department_id": i, "department_name": n, "region": "鄂州市"} for i, n in pairs])


def sample_tables(spec=SAMPLE_FUNDING) -> dict[str, pa.Table]:
    return {"fact_funding": table("fact_funding", funding_rows(spec)), "dim_department": departments((DEP, "鄂州市总工会"))}


def results(out: pa.Table, check: str) -> list[dict]:
    return [r for r in out.to_pylist() if r["check_name"] == check]


def failures(out: pa.Table) -> set[tuple]:
    return {(r["check_name"], r["document_id"], r["row_ref"]) for r in out.to_pylist() if r["passed"] is False}


@pytest.fixture(scope="module")
def sample_out() -> pa.Table:
    return run_checks(sample_tables(), "run-1", AT)


def test_result_is_shaped_as_dq_result(sample_out):
    assert sample_out.schema == SCHEMAS["dq_result"]
    assert set(sample_out["run_id"].to_pylist()) == {"run-1"}
    assert set(sample_out["checked_at"].to_pylist()) == {AT}
    assert set(sample_out["passed"].to_pylist()) <= {True, False}  # never null


def test_sample_components_pass_with_the_2023_rounding_gap(sample_out):
    # 700.24 + 78.58 + 280.02 = 1058.84 against 1058.85: within 3 × 0.005 + 0.005 = 0.02.
    [row] = results(sample_out, "funding_components_sum_to_total")
    assert (row["passed"], row["row_ref"], row["severity"]) == (True, None, "warning")
    # income 2023 and 2024 lack 财政拨款 and are not checkable: 4 groups checked, not 6
    assert row["observed"] == "0 of 4 failing"
    assert "鄂州市总工会 FY2025" in row["message"]

    frame = funding.derive(sample_tables())
    checked = frame[frame["funding_components_sum_to_total"]]
    by_group = {(r.flow, int(r.year)): (r.items_sum_off_by, r.items_sum_tolerance) for r in checked.itertuples()}
    assert set(by_group) == {("income", 2025), ("expenditure", 2025), ("expenditure", 2023), ("expenditure", 2024)}
    assert by_group["expenditure", 2023] == (0.01, 0.02)
    # 399.3 is written with one decimal: its half-unit is 0.05
    assert by_group["expenditure", 2025] == (0.0, 0.065)


@pytest.mark.parametrize("stated_2023_total, passed", [("1058.86", True), ("1058.87", False), ("1058.82", True),
                                                       ("1058.81", False)])
def test_components_tolerance_is_exact_at_its_boundary(stated_2023_total, passed):
    # Σ items 1058.84; tolerance 0.02: off by exactly 0.02 passes, 0.03 fails (no float drift either way).
    spec = [s if (s[0], s[1]) != ("expenditure", "合计") else (s[0], s[1], s[2], ("983.71", "100%", stated_2023_total, "983.71"))
            for s in SAMPLE_FUNDING]
    out = run_checks(sample_tables(spec), "run-1", AT)
    rows = results(out, "funding_components_sum_to_total")
    if passed:
        assert [r["passed"] for r in rows] == [True]
    else:
        [row] = rows
        off = "0.03"
        assert (row["passed"], row["row_ref"], row["observed"], row["expected"]) == (
            False, "expenditure/2023", "1058.84", f"{stated_2023_total} ± 0.02")
        assert f"off by {off}" in row["message"] and "line 14" in row["message"]


def test_digits_beyond_the_stored_scale_widen_the_tolerance():
    # 1.005 and 1.005 add to 2.010 in the file; stored (2 decimals, half-up) they are 1.01 + 1.01 = 2.02
    # against 2.01. Tolerance per value: 0.005 (storage) + 0.0005 (stated): 3 × 0.0055 = 0.0165 ≥ 0.01.
    rows = [{"document_id": DOC, "department_id": DEP, "fiscal_year": 2025, "flow": "income", "item": item,
             "year": 2025, "amount": D(amount), "share_pct": None, "amount_digits": 3, "share_digits": None,
             "line": line} for item, amount, line in (("财政拨款", "1.01", 7), ("单位资金", "1.01", 8), ("合计", "2.01", 9))]
    frame = funding.derive({"fact_funding": table("fact_funding", rows)})
    [total] = frame[frame["funding_components_sum_to_total"]].itertuples()
    assert (total.items_sum_off_by, total.items_sum_tolerance) == (0.01, 0.0165)
    assert failures(run_checks({"fact_funding": table("fact_funding", rows)}, "run-1", AT)) == set()


def test_sample_share_of_special_projects_fails_and_the_others_pass(sample_out):
    rows = results(sample_out, "funding_share_matches_amount")
    [row] = rows  # one failure, and no passed row: the document has a failing share
    assert row["passed"] is False
    assert row["row_ref"] == "expenditure/特定目标类项目支出/2025"
    assert row["observed"] == "40.95"
    assert row["expected"] == "40.5912 (allowed 40.5809 to 40.6016)"
    assert "399.3 / 983.71 × 100 = 40.5912%" in row["message"]
    assert "off by 0.3588 points" in row["message"] and "鄂州市总工会" in row["message"]

    frame = funding.derive(sample_tables())
    checked = frame[frame["funding_share_matches_amount"]]
    assert len(checked) == 8  # 49.96%, 9.45%, 40.95%, 100% twice, 100% 0% 0% of income


def test_sample_expenditure_shares_do_not_add_to_100(sample_out):
    [row] = results(sample_out, "funding_shares_sum_to_100")  # income (100 + 0 + 0) passes: no row of its own
    assert (row["passed"], row["row_ref"], row["observed"], row["expected"]) == (
        False, "expenditure/2025", "100.36", "100 ± 0.015")
    assert "off 100% by 0.36 points" in row["message"]


def test_sample_income_differs_from_expenditure(sample_out):
    [row] = results(sample_out, "income_equals_expenditure")
    assert (row["passed"], row["row_ref"], row["observed"], row["expected"]) == (
        False, "2025", "983.71", "998.71 ± 0.01")
    assert "income exceeds expenditure by 15.00" in row["message"]
    assert "line 14" in row["message"] and "line 10" in row["message"]


def test_sample_has_no_duplicate_keys(sample_out):
    [row] = results(sample_out, "fact_funding_keys_unique")
    assert (row["passed"], row["severity"], row["observed"]) == (True, "error", "0 of 22 failing")


def test_income_shares_pass_when_they_add_to_100():
    spec = [s for s in SAMPLE_FUNDING if s[0] == "income"]
    out = run_checks(sample_tables(spec), "run-1", AT)
    assert failures(out) == set()
    assert {r["check_name"] for r in out.to_pylist()} == {
        "funding_components_sum_to_total", "funding_share_matches_amount", "funding_shares_sum_to_100",
        "fact_funding_keys_unique"}  # no expenditure: the balance is not checkable, so no row


# ---------------------------------------------------------------- indicators

def indicator(horizon, year, ind, raw, comparator, value, unit, line) -> dict:
    return {"document_id": DOC, "department_id": DEP, "fiscal_year": 2025, "indicator_id": ind, "horizon": horizon,
            "year": year, "raw": raw, "comparator": comparator, "value": None if value is None else D(value),
            "unit": unit, "basis": "计划标准", "category": "绩效基本型", "line": line}


def indicator_tables(rows) -> dict[str, pa.Table]:
    names = [("i-talent", "可持续发展能力", "人才支撑", "高学历、高层次人才储备率"),
             ("i-satisfaction", "满意度", "服务对象满意度", "职工群众满意度"),
             ("i-cost", "运行成本", "公用经费控制", "公用经费控制率"),
             ("i-help", "履职效能", "劳模帮扶", "市级生活困难劳模帮扶人数"),
             ("i-plan", "管理效率", "战略管理", "工作计划健全性"),
             ("i-rate", "管理效率", "预算执行", "预算执行率")]
    return {
        "fact_indicator_value": table("fact_indicator_value", rows),
        "dim_indicator": table("dim_indicator", [dict(zip(("indicator_id", "lv1", "lv2", "lv3"), n)) for n in names]),
        "dim_department": departments((DEP, "鄂州市总工会")),
    }


SAMPLE_INDICATORS = [  # as in the sample: all consistent
    indicator("long_term", None, "i-talent", "≥90%", ">=", "90", "%", 37),
    indicator("annual", 2025, "i-talent", "≥90%", ">=", "90", "%", 79),
    indicator("long_term", None, "i-cost", "100%", "=", "100", "%", 22),
    indicator("annual", 2025, "i-cost", "≤100%", "<=", "100", "%", 64),
    indicator("annual", 2023, "i-help", "23人", "=", "23", "人", 70),
    indicator("annual", 2025, "i-help", "≥23人", ">=", "23", "人", 70),
    indicator("long_term", None, "i-plan", "健全", None, None, None, 27),
    indicator("annual", 2025, "i-plan", "健全", None, None, None, 69),
]


def test_sample_indicators_pass():
    out = run_checks(indicator_tables(SAMPLE_INDICATORS), "run-1", AT)
    assert failures(out) == set()
    by_check = {r["check_name"]: r["observed"] for r in out.to_pylist()}
    assert by_check == {
        "indicator_value_in_range": "0 of 6 failing",  # the numeric % and 人 targets
        "annual_contradicts_long_term": "0 of 1 failing",  # 人才储备率; a bare long-term 100% has no direction
        "fact_indicator_value_keys_unique": "0 of 8 failing",
    }


def test_indicator_out_of_range_and_looser_annual_targets_fail():
    rows = SAMPLE_INDICATORS + [
        indicator("long_term", None, "i-satisfaction", "≥95%", ">=", "95", "%", 60),
        indicator("annual", 2025, "i-satisfaction", "≥90%", ">=", "90", "%", 99),
        indicator("long_term", None, "i-rate", "≥95%", ">=", "95", "%", 31),
        indicator("annual", 2025, "i-rate", "90%", "=", "90", "%", 73),  # a bare annual value is looser too
        indicator("annual", 2024, "i-satisfaction", "≥120%", ">=", "120", "%", 98),
        indicator("long_term", None, "i-help", "≥-3人", ">=", "-3", "人", 45),
    ]
    out = run_checks(indicator_tables(rows), "run-1", AT)
    assert failures(out) == {
        ("annual_contradicts_long_term", DOC, "annual/2025/i-satisfaction"),
        ("annual_contradicts_long_term", DOC, "annual/2025/i-rate"),
        ("indicator_value_in_range", DOC, "annual/2024/i-satisfaction"),
        ("indicator_value_in_range", DOC, "long_term/i-help"),
    }
    rows = {(r["check_name"], r["row_ref"]): r for r in out.to_pylist() if r["passed"] is False}
    looser = rows["annual_contradicts_long_term", "annual/2025/i-satisfaction"]
    assert (looser["observed"], looser["expected"], looser["severity"]) == ("≥90%", "no looser than ≥95%", "warning")
    assert "职工群众满意度" in looser["message"] and "by 5%" in looser["message"] and "line 60" in looser["message"]
    over = rows["indicator_value_in_range", "annual/2024/i-satisfaction"]
    assert (over["observed"], over["expected"]) == ("120%", "0% to 100%")
    negative = rows["indicator_value_in_range", "long_term/i-help"]
    assert (negative["observed"], negative["expected"]) == ("-3人", "≥ 0人")
    assert "a negative count" in negative["message"]


# ---------------------------------------------------------------- pipeline invariants

def test_duplicate_keys_are_errors():
    rows = funding_rows()
    funding_dup = rows + [dict(rows[1])]  # 财政专户管理资金 2025 twice
    ind = SAMPLE_INDICATORS + [dict(SAMPLE_INDICATORS[0])]  # a long-term target (year null) twice
    doc = {"document_id": DOC, "department_id": DEP, "fiscal_year": 2025, "source_path": "a.txt", "sha256": "ab",
           "format": "text", "encoding": "utf-8", "is_current": True, "loaded_at": AT, "problem_count": 0}
    other = {**doc, "document_id": "doc-other", "source_path": "b.txt", "sha256": "cd"}
    tables = {**indicator_tables(ind), "fact_funding": table("fact_funding", funding_dup),
              "fact_document": table("fact_document", [doc, doc, other])}
    out = run_checks(tables, "run-1", AT)
    errors = {(r["check_name"], r["document_id"], r["row_ref"]): r for r in out.to_pylist()
              if r["passed"] is False and r["severity"] == "error"}
    assert set(errors) == {
        ("fact_funding_keys_unique", DOC, "income/财政专户管理资金/2025"),
        ("fact_indicator_value_keys_unique", DOC, "long_term/i-talent"),
        ("fact_document_keys_unique", DOC, DOC),
        ("document_single_current", DOC, f"{DEP}/2025"),
        ("document_single_current", "doc-other", f"{DEP}/2025"),
    }
    assert errors["fact_funding_keys_unique", DOC, "income/财政专户管理资金/2025"]["observed"] == "2 rows"
    assert "source lines 8, 8" in errors["fact_funding_keys_unique", DOC, "income/财政专户管理资金/2025"]["message"]
    assert errors["document_single_current", "doc-other", f"{DEP}/2025"]["observed"] == "3 current versions"


def test_every_check_has_an_expectation_and_a_message():
    decided = {}
    for module in (funding, indicators, documents):
        for e in module.suite().expectations:
            decided.setdefault(e.meta["check"], set()).add(module.TABLE)
        assert set(module.DESCRIBE) == {c for c, s in CHECKS.items() if s.table == module.TABLE}
    assert decided == {c: {s.table} for c, s in CHECKS.items()}
    assert {s.severity for s in CHECKS.values()} <= {"warning", "error"}


def test_an_expectation_that_cannot_run_raises_instead_of_passing():
    import great_expectations as gx
    import pandas as pd
    from expectations.gxrun import unexpected_rows

    suite = gx.ExpectationSuite(name="broken", expectations=[gx.expectations.ExpectColumnValuesToBeBetween(
        column="missing", min_value=0, meta={"check": "x"})])
    with pytest.raises(RuntimeError, match="could not run"):
        unexpected_rows(suite, pd.DataFrame({"value": [1.0]}))


def test_empty_and_missing_tables():
    empty = {name: SCHEMAS[name].empty_table() for name in ("fact_funding", "fact_indicator_value", "fact_document")}
    assert run_checks(empty, "run-1", AT).num_rows == 0
    out = run_checks({}, "run-1", AT)
    assert out.num_rows == 0 and out.schema == SCHEMAS["dq_result"]


# ---------------------------------------------------------------- 1,000 synthetic documents

N = 1000


@pytest.fixture(scope="module")
def clean() -> dict[str, pa.Table]:
    return syn.tables(N)


@pytest.fixture(scope="module")
def earlier() -> dict[str, pa.Table]:
    """The departments' FY2023 and FY2024 documents, as the lake would hold them."""
    return syn.previous_documents(N)


def test_clean_documents_pass_every_check(clean, earlier):
    out = run_checks(clean, "run-1", AT, reference=earlier)
    assert failures(out) == set()
    per_check = out.group_by("check_name").aggregate([("document_id", "count_distinct"), ([], "count_all")])
    assert {c: (d, n) for c, d, n in zip(*(col.to_pylist() for col in per_check.columns))} == {
        c: (N, N) for c in CHECKS}


def _set(t: pa.Table, where: dict, column: str, value) -> pa.Table:
    mask = np.ones(t.num_rows, dtype=bool)
    for k, v in where.items():
        mask &= pc.fill_null(pc.equal(t[k], v), False).to_numpy(zero_copy_only=False)
    assert mask.sum() == 1, where
    values = t[column].to_pylist()
    values[int(np.nonzero(mask)[0][0])] = value
    return t.set_column(t.schema.get_field_index(column), column, pa.array(values, t.schema.field(column).type))


def _row(t: pa.Table, where: dict) -> dict:
    mask = np.ones(t.num_rows, dtype=bool)
    for k, v in where.items():
        mask &= pc.fill_null(pc.equal(t[k], v), False).to_numpy(zero_copy_only=False)
    return t.filter(pa.array(mask)).to_pylist()[0]


def test_one_planted_error_of_each_kind_is_caught(clean, earlier):
    f, i, d = clean["fact_funding"], clean["fact_indicator_value"], clean["fact_document"]
    doc = syn.doc_id
    exp = {"flow": "expenditure", "year": 2025}

    # components: an expenditure item of 2023 off by 1.00 (2023 states no shares)
    r = _row(f, {"document_id": doc(1), "flow": "expenditure", "item": "运转类项目支出", "year": 2023})
    f = _set(f, {"document_id": doc(1), "flow": "expenditure", "item": "运转类项目支出", "year": 2023}, "amount",
             r["amount"] + 1)
    # shares: two items' shares swapped (their sum still 100)
    a = _row(f, {"document_id": doc(2), "item": "人员类项目支出", **exp})["share_pct"]
    b = _row(f, {"document_id": doc(2), "item": "特定目标类项目支出", **exp})["share_pct"]
    f = _set(f, {"document_id": doc(2), "item": "人员类项目支出", **exp}, "share_pct", b)
    f = _set(f, {"document_id": doc(2), "item": "特定目标类项目支出", **exp}, "share_pct", a)
    # one share off by a point: the share and the sum of shares fail
    s = _row(f, {"document_id": doc(3), "item": "其他支出", **exp})["share_pct"]
    f = _set(f, {"document_id": doc(3), "item": "其他支出", **exp}, "share_pct", s + 1)
    # expenditure 合计 of the fiscal year off by 1.00: its components and the balance fail
    t = _row(f, {"document_id": doc(4), "item": "合计", **exp})["amount"]
    f = _set(f, {"document_id": doc(4), "item": "合计", **exp}, "amount", t + 1)
    # a funding row loaded twice (a zero item of 2023, so no sum moves)
    dup = f.filter(pc.and_(pc.equal(f["document_id"], doc(8)), pc.and_(pc.equal(f["item"], "财政专户管理资金"),
                                                                       pc.equal(f["year"], 2023))))
    f = pa.concat_tables([f, dup])

    # a percentage over 100 (annual 2024), a negative count (long-term), an annual target looser than long-term
    i = _set(i, {"document_id": doc(5), "indicator_id": "ind000", "year": 2024}, "value", D("120"))
    i = _set(i, {"document_id": doc(6), "indicator_id": "ind001", "horizon": "long_term"}, "value", D("-5"))
    lt = _row(i, {"document_id": doc(7), "indicator_id": "ind004", "horizon": "long_term"})["value"]
    i = _set(i, {"document_id": doc(7), "indicator_id": "ind004", "year": 2025}, "value", lt - 5)
    i = pa.concat_tables([i, i.filter(pc.and_(pc.equal(i["document_id"], doc(9)),
                                              pc.equal(i["indicator_id"], "ind002"))).slice(0, 1)])

    # a document loaded twice; a second current version of another department-year
    twice = d.filter(pc.equal(d["document_id"], doc(10)))
    second = _set(d.filter(pc.equal(d["document_id"], doc(11))), {}, "document_id", "doc000011-v2")
    d = pa.concat_tables([d, twice, second])

    # the FY2024 document of doc(12)'s department states another 单位资金 for 2024 than doc(12) does
    ref_f = earlier["fact_funding"]
    where = {"document_id": "doc000012-2024", "flow": "income", "item": "单位资金", "year": 2024}
    reference = {**earlier, "fact_funding": _set(ref_f, where, "amount", _row(ref_f, where)["amount"] + D("0.02"))}

    out = run_checks({**clean, "fact_funding": f, "fact_indicator_value": i, "fact_document": d}, "run-2", AT,
                     reference=reference)
    assert failures(out) == {
        ("funding_components_sum_to_total", doc(1), "expenditure/2023"),
        # the item changed in doc(1) no longer matches what its department's FY2023 document states
        ("funding_history_matches_previous_document", doc(1), "expenditure/运转类项目支出/2023"),
        ("funding_history_matches_previous_document", doc(12), "income/单位资金/2024"),
        ("funding_share_matches_amount", doc(2), "expenditure/人员类项目支出/2025"),
        ("funding_share_matches_amount", doc(2), "expenditure/特定目标类项目支出/2025"),
        ("funding_share_matches_amount", doc(3), "expenditure/其他支出/2025"),
        ("funding_shares_sum_to_100", doc(3), "expenditure/2025"),
        ("funding_components_sum_to_total", doc(4), "expenditure/2025"),
        ("income_equals_expenditure", doc(4), "2025"),
        ("fact_funding_keys_unique", doc(8), "income/财政专户管理资金/2023"),
        ("indicator_value_in_range", doc(5), "annual/2024/ind000"),
        ("indicator_value_in_range", doc(6), "long_term/ind001"),
        ("annual_contradicts_long_term", doc(7), "annual/2025/ind004"),
        ("fact_indicator_value_keys_unique", doc(9), "long_term/ind002"),
        ("fact_document_keys_unique", doc(10), doc(10)),
        ("document_single_current", doc(10), "dep000010/2025"),
        ("document_single_current", doc(11), "dep000011/2025"),
        ("document_single_current", "doc000011-v2", "dep000011/2025"),
    }
    # every other document still has its passed row for every check
    passed = out.filter(out["passed"]).group_by("check_name").aggregate([([], "count_all")])
    failed_docs = {}
    for check, document_id, _ in failures(out):
        failed_docs.setdefault(check, set()).add(document_id)
    documents_checked = {c: N + (spec.table == "fact_document") for c, spec in CHECKS.items()}  # + doc000011-v2
    assert dict(zip(*(c.to_pylist() for c in passed.columns))) == {
        c: documents_checked[c] - len(failed_docs.get(c, ())) for c in CHECKS}
    by_check = {r["check_name"]: r for r in out.to_pylist() if r["passed"] is False}
    assert by_check["funding_components_sum_to_total"]["message"].startswith("测试市第")
    assert all(r["severity"] == CHECKS[r["check_name"]].severity for r in out.to_pylist())
