"""The real approval (鄂州市总工会 2025), read to the last figure."""
from decimal import Decimal as D

import pytest

import pifu
from pifu.model import ANNUAL, LONG_TERM


@pytest.fixture(scope="module")
def doc(sample_path):
    return pifu.parse(sample_path)


def test_header(doc):
    assert (doc.department, doc.fiscal_year, doc.region) == ("鄂州市总工会", 2025, "鄂州市")
    assert doc.source.format == "text" and doc.source.encoding == "utf-8"
    assert len(doc.source.sha256) == 64


def test_funding_current_year_amounts_and_stated_shares(doc):
    current = {(f.flow, f.item): (f.amount, f.share_pct) for f in doc.funding if f.year == 2025}
    assert current == {
        ("income", "财政拨款"): (D("998.71"), D("100")),
        ("income", "财政专户管理资金"): (D("0"), D("0")),
        ("income", "单位资金"): (D("0"), D("0")),
        ("income", "合计"): (D("998.71"), D("100")),
        ("expenditure", "人员类项目支出"): (D("491.42"), D("49.96")),
        ("expenditure", "运转类项目支出"): (D("92.99"), D("9.45")),
        ("expenditure", "特定目标类项目支出"): (D("399.3"), D("40.95")),
        ("expenditure", "合计"): (D("983.71"), D("100")),
    }


def test_funding_history_is_every_amount_the_file_holds(doc):
    history = {(f.flow, f.item, f.year): f.amount for f in doc.funding if f.year != 2025}
    assert history == {
        ("income", "财政专户管理资金", 2023): D("0"), ("income", "财政专户管理资金", 2024): D("0"),
        ("income", "单位资金", 2023): D("0"), ("income", "单位资金", 2024): D("0"),
        ("income", "合计", 2023): D("1058.85"), ("income", "合计", 2024): D("998.71"),
        ("expenditure", "人员类项目支出", 2023): D("700.24"), ("expenditure", "人员类项目支出", 2024): D("491.42"),
        ("expenditure", "运转类项目支出", 2023): D("78.58"), ("expenditure", "运转类项目支出", 2024): D("92.99"),
        ("expenditure", "特定目标类项目支出", 2023): D("280.02"),
        ("expenditure", "特定目标类项目支出", 2024): D("399.3"),
        ("expenditure", "合计", 2023): D("1058.85"), ("expenditure", "合计", 2024): D("983.71"),
    }
    assert all(f.share_pct is None for f in doc.funding if f.year != 2025)
    # 财政拨款's row carries the year header instead of history: said, not invented
    assert any(p.code == "year_header_in_row" and "财政拨款" in p.message for p in doc.problems)


def test_indicator_counts(doc):
    long_term = [i for i in doc.indicators if i.horizon == LONG_TERM]
    annual = {(i.lv1, i.lv2, i.lv3) for i in doc.indicators if i.horizon == ANNUAL}
    assert len(long_term) == 39 and all(i.year is None for i in long_term)
    assert len(annual) == 40
    # every annual indicator has its three years, but 改善困难职工生活水平 whose history is blank
    per_year = {}
    for i in doc.indicators:
        if i.horizon == ANNUAL:
            per_year.setdefault(i.lv3, []).append(i.year)
    assert per_year.pop("改善困难职工生活水平") == [2025]
    assert all(years == [2023, 2024, 2025] for years in per_year.values())


@pytest.mark.parametrize("horizon,lv3,lv1,lv2", [
    (LONG_TERM, "会计核算规范性", "管理效率", "财务管理"),
    (LONG_TERM, "信息化建设情况", "可持续发展能力", "科技支撑"),
    (ANNUAL, "信息化建设情况", "可持续发展能力", "科技支撑"),
    (LONG_TERM, "财务管理制度健全性", "管理效率", "财务管理"),  # label printed on the next row
    (ANNUAL, "财务管理制度健全性", "管理效率", "财务管理"),
    (LONG_TERM, "非税收入预算完成率", "管理效率", "绩效管理"),  # shifted row, label on the next row
    (LONG_TERM, "绩效监控开展率", "管理效率", "绩效管理"),  # after the page break
    (ANNUAL, "资产管理制度健全性", "管理效率", "资产管理"),  # after the page break, shifted
    (LONG_TERM, "市级生活困难劳模帮扶人数", "履职效能", "劳模帮扶"),  # shifted right, cut short
    (LONG_TERM, "特殊困难劳模帮扶人数", "履职效能", "劳模帮扶"),
    (ANNUAL, "事前绩效评估完成率", "管理效率", "绩效管理"),
    (ANNUAL, "改善困难职工生活水平", "社会效应", "社会效益"),
    (LONG_TERM, "劳模和困难职工对工会组", "满意度", "服务对象满意度"),  # lv2 completed; lv3 has no match
    (LONG_TERM, "业务及时办结", "满意度", "联系部门满意度"),
    (ANNUAL, "工会各项业务及时办结", "满意度", "联系部门满意度"),
])
def test_hierarchy(doc, horizon, lv3, lv1, lv2):
    found = {(i.lv1, i.lv2) for i in doc.indicators if i.horizon == horizon and i.lv3 == lv3}
    assert found == {(lv1, lv2)}


def test_full_hierarchy_is_consistent_between_sections(doc):
    tree = {}
    for i in doc.indicators:
        tree.setdefault(i.lv3, set()).add((i.lv1, i.lv2))
    assert all(len(parents) == 1 for parents in tree.values()), {k: v for k, v in tree.items() if len(v) > 1}
    assert {i.lv1 for i in doc.indicators} == {"运行成本", "管理效率", "履职效能", "社会效应", "可持续发展能力", "满意度"}


def test_cut_labels_completed_and_listed(doc):
    lv3 = {i.lv3 for i in doc.indicators if i.horizon == LONG_TERM}
    for full in ("市级生活困难劳模帮扶人数", "发放离退休劳模荣誉津贴补助人数", "省级生活困难劳模帮扶人数",
                 "干部队伍体系建设规划情况", "高学历、高层次人才储备率"):
        assert full in lv3
    completed = [p for p in doc.problems if p.code == "label_completed"]
    assert len(completed) == 7
    assert {p.message.split("'")[1] for p in completed} >= {"服务对象满", "联系部门满", "干部队伍体系建设规划情"}


def test_values(doc):
    def one(horizon, lv3, year=None):
        (i,) = [i for i in doc.indicators if i.horizon == horizon and i.lv3 == lv3 and i.year == year]
        return i.raw, i.comparator, i.value, i.unit, i.basis, i.category

    assert one(LONG_TERM, "市级生活困难劳模帮扶人数") == ("≥23人", ">=", D(23), "人", "计划标准", "绩效基本型")
    assert one(ANNUAL, "公用经费控制率", 2025) == ("≤100%", "<=", D(100), "%", "计划标准", "绩效基本型")
    assert one(ANNUAL, "公用经费控制率", 2023) == ("100%", "=", D(100), "%", "计划标准", "绩效基本型")
    assert one(ANNUAL, "中长期规划相符性", 2024) == ("完全相符", None, None, None, "计划标准", "绩效基本型")
    assert one(ANNUAL, "结转结余率", 2024)[:4] == ("0", "=", D(0), None)
    assert one(ANNUAL, "改善困难职工生活水平", 2025)[:4] == ("改善", None, None, None)


def test_texts(doc):
    assert len(doc.texts["functions"]) == 5 and len(doc.texts["annual_tasks"]) == 4
    assert doc.texts["functions"][0] == ("领导全市工人运动和工会工作；组织和指导全市各级工会把握工会工作正确政治方向，"
                                         "引导职工听党话、跟党走")
    assert doc.texts["annual_tasks"][3].startswith("持续加强工会自身建设。") and doc.texts["annual_tasks"][3].endswith("。")
    assert len(doc.texts["long_term_goal"]) == 1 and doc.texts["long_term_goal"][0].startswith("通过履行工会部门职能")
    assert doc.texts["annual_goal"] == []
    assert not any("<" in t or "&" in t for items in doc.texts.values() for t in items)


def test_every_repair_is_listed(doc):
    codes = {p.code for p in doc.problems}
    assert {"page_break", "row_shifted", "label_completed", "hierarchy_reassigned", "year_header_in_row",
            "missing_values"} <= codes
    assert sum(p.code == "page_break" for p in doc.problems) == 2
    assert all(p.where for p in doc.problems) and all(p.severity in ("info", "warning", "error") for p in doc.problems)
    assert not [p for p in doc.problems if p.severity == "error"]


@pytest.mark.parametrize("fmt", ["xlsx", "xls", "html", "docx", "pdf"])
def test_each_bundled_sample_gives_the_facts_of_the_text_export(sample_path, fmt):
    """samples/ holds the real approval in every format (written by LibreOffice); `make run` loads them all."""
    from test_roundtrip import canonical as _canonical

    want = _canonical(pifu.parse(sample_path).to_dict())
    doc = pifu.parse(sample_path.with_suffix(f".{fmt}"))
    assert doc.source.format == fmt
    assert _canonical(doc.to_dict()) == want
