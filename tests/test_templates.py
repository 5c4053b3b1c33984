"""Forms of the other template families that pifu has never seen, written by hand with their real quirks
(issue 10), parse to the right facts; personal contact data is kept nowhere; BI compares the templates."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pyarrow as pa
import pytest

import pifu
from pifu import jsonio
from pifu.texts import items
from pifu.values import comparator_of, split_basis

T = "\t"


def text(*rows) -> bytes:
    return "\n".join(T.join(r) if isinstance(r, (list, tuple)) else r for r in rows).encode("utf-8")


HUNAN = text(
    "2023年度部门整体支出绩效目标表",
    ["部门(单位)名称", "长沙市岳麓区园林绿化中心"],
    ["*部门(单位)职责", "1.负责辖区园林绿化建设；2.负责公园游园管理。"],
    ["*年度总体绩效目标", "完成全年绿化养护任务，提升群众满意度。"],
    ["一级指标", "二级指标", "三级指标", "指标值类型", "*指标值", "计量单位", "*指标解释", "*评(扣)分标准", "备注", "考核方式"],
    ["产出指标", "数量指标", "绿化养护面积", "定量", "≥120", "万平方米", "反映养护面积", "达到得满分", "", "现场查验"],
    ["", "", "养护资金", "定量", "28.8万元", "%", "反映资金投入", "超支不得分", "", ""],
    ["", "质量指标", "困难群众救助覆盖率", "定性", "应保尽保", "%", "反映救助覆盖", "未做到不得分", "", ""],
    ["效益指标", "社会效益指标", "群众满意度", "定量", "95", "%", "反映群众评价", "每低1%扣1分", "无", "问卷"],
)

FUJIAN = text(
    "部门整体支出绩效目标表",
    "（2019年度）",
    ["部门名称", "福州市鼓楼区档案馆", "", "部门预算编码", "301007"],
    ["年度预算安排（万元）", "资金总额", "", "356.8"],
    ["", "基本支出", "", "300.5"],
    ["", "项目支出", "", "56.3"],
    ["年度总体目标", "目标1：做好档案收集；目标2:推进档案数字化。"],
    ["年度履职目标", "部门职能", "年度目标任务", "支出项目名称", "", "预算金额（万元）"],
    ["", "档案管理", "档案数字化", "档案数字化加工", "", "40.00"],
    ["", "", "", "档案库房运维", "", "16.3"],
    ["", "综合保障", "机关运转", "一般行政管理事务", "", "300.5"],
    ["年度绩效指标", "一级指标", "二级指标", "三级指标", "指标解释", "目标值"],
    ["", "产出指标", "数量指标", "档案数字化数量", "反映数字化数量", "≥20000卷(计划标准)"],
    ["", "", "质量指标", "档案完好率", "反映完好情况", "1"],
    ["", "效益指标", "社会效益指标", "档案利用满意度", "反映利用者满意程度", "90%（行业标准）"],
    ["", "满意度指标", "服务对象满意度指标", "查档群众满意度", "反映查档群众评价", "90%(计划标准)"],
)

PERSON, PHONE = "李建国", "13912345678"
HUBEI_2021 = text(
    "部门整体支出绩效目标申报表",
    "（2021年度）",
    f"填报日期：2020年12月15日",
    ["部门（单位）名称", "", "鄂州市人民政府办公室", "", "填报人", PERSON, "联系电话", PHONE],
    ["部门总体资金情况", "总体资金情况", "", "", "当年金额", "占比", "近两年收支金额", ""],
    ["", "", "", "", "", "", "年", "年"],
    ["", "收入构成", "财政拨款", "", "500", "83.33%", "", ""],
    ["", "", "其他资金", "", "100", "16.67%", "", ""],
    ["", "", "合计", "", "600", "100%", "", ""],
    ["", "支出构成", "基本支出", "", "450", "75%", "", ""],
    ["", "", "项目支出", "", "150", "25%", "", ""],
    ["", "", "合计", "", "600", "100%", "", ""],
    ["部门职能概述", "1. 负责市政府日常事务；2. 负责督查督办。"],
    ["年度工作任务", "1. 服务市政府决策；2. 做好政务公开。"],
    ["长期目标", "提升政务服务水平。"],
    ["长期绩效指标", "一级指标", "二级指标", "三级指标", "指标值", "指标值确定依据", "指标分类"],
    ["", "产出指标", "数量指标", "公文办理数量", "≥3000件", "计划标准", "绩效基本型"],
    ["", "满意度指标", "服务对象满意度指标", "服务对象满意度", "≥90%", "计划标准", "绩效基本型"],
    ["年度目标", "按时办理各类公文。"],
    ["年度绩效指标", "一级指标", "二级指标", "三级指标", "指标值", "", "", "指标值确定依据", "指标分类"],
    ["", "", "", "", "近两年指标值", "", "预期当年实现值", "", ""],
    ["", "", "", "", "年", "年", "", "", ""],
    ["", "产出指标", "数量指标", "公文办理数量", "", "", "≥3000件", "计划标准", "绩效基本型"],
    ["", "满意度指标", "服务对象满意度指标", "服务对象满意度", "", "", "≥90%", "计划标准", "绩效基本型"],
)

GRID = text(
    "2025年部门整体绩效目标",
    ["部门（单位）名称", "", "鄂州市统计局"],
    ["部门总体资金情况", "总体资金情况", "", "", "当年金额", "占比", "近两年收支金额", ""],
    ["", "", "", "", "", "", "2023年", "2024年"],
    ["", "收入构成", "财政拨款", "", "800", "100%", "700", "750"],
    ["", "", "合计", "", "800", "100%", "700", "750"],
    ["", "支出构成", "人员类项目支出", "", "500", "62.5%", "450", "480"],
    ["", "", "运转类项目支出", "", "100", "12.5%", "90", "95"],
    ["", "", "特定目标类项目支出", "", "200", "25%", "160", "175"],
    ["", "", "合计", "", "800", "100%", "700", "750"],
    ["年度目标", "完成统计调查任务。"],
    ["", "指标名称", "前年指标值", "上年指标值", "计算符号", "指标值", "计量单位", "指标值确定依据", "备注",
     "指标内容", "评(扣)分标准", "权重", "数据来源"],
    ["", "产出指标"],
    ["", "数量指标"],
    ["", "统计调查项目数", "10", "", "≥", "12", "个", "计划标准", "", "反映调查项目", "少1个扣1分", "10", "统计年报"],
    ["", "质量指标"],
    ["", "数据差错率", "0.5", "0.4", "≤", "1", "%", "历史标准", "无", "反映数据质量", "超出不得分", "5", ""],
    ["", "满意度指标"],
    ["", "服务对象满意度指标"],
    ["", "数据使用者满意度", "", "", "定性", "满意", "", "其他", "", "反映评价", "", "5", ""],
)


def rows(doc, **match):
    return [i for i in doc.indicators if all(getattr(i, k) == v for k, v in match.items())]


def test_hunan_2023_one_table_with_unit_and_type_columns():
    doc = pifu.parse_bytes(HUNAN, "hunan.txt")
    assert (doc.department, doc.fiscal_year, doc.funding) == ("长沙市岳麓区园林绿化中心", 2023, [])
    assert doc.texts["functions"] == ["负责辖区园林绿化建设", "负责公园游园管理。"]
    assert doc.texts["annual_goal"] == ["完成全年绿化养护任务，提升群众满意度。"]
    assert {(i.horizon, i.year) for i in doc.indicators} == {("annual", 2023)}
    area, = rows(doc, lv3="绿化养护面积")
    assert (area.raw, area.comparator, area.value, area.unit, area.value_type) == ("≥120", ">=", 120, "万平方米", "定量")
    assert (area.explanation, area.scoring_rule, area.remark, area.extra) == ("反映养护面积", "达到得满分", None,
                                                                             {"考核方式": "现场查验"})
    assert (area.lv1, area.lv2, area.lv1_class) == ("产出指标", "数量指标", "output")
    money, = rows(doc, lv3="养护资金")  # the cell's own unit wins over the column's
    assert (money.raw, money.comparator, money.value, money.unit) == ("28.8万元", "=", Decimal("28.8"), "万元")
    assert (money.lv1, money.lv2) == ("产出指标", "数量指标")
    word, = rows(doc, lv3="困难群众救助覆盖率")
    assert (word.raw, word.comparator, word.value, word.unit, word.value_type) == ("应保尽保", None, None, None, "定性")
    happy, = rows(doc, lv3="群众满意度")
    assert (happy.raw, happy.comparator, happy.value, happy.unit, happy.remark) == ("95", "=", 95, "%", "无")
    assert (happy.lv1_class, happy.extra) == ("outcome", {"考核方式": "问卷"})
    codes = [p.code for p in doc.problems]
    assert codes.count("unknown_column") == 1 and codes.count("unit_conflict") == 1
    assert "考核方式" in next(p.message for p in doc.problems if p.code == "unknown_column")
    assert not [p for p in doc.problems if p.severity == "error"]


def test_fujian_2019_budget_block_duty_targets_and_brackets():
    doc = pifu.parse_bytes(FUJIAN, "fujian.txt")
    assert (doc.department, doc.fiscal_year, doc.agency_code) == ("福州市鼓楼区档案馆", 2019, "301007")
    assert {(f.flow, f.item, f.year, f.amount, f.share_pct, f.item_class) for f in doc.funding} == {
        ("expenditure", "合计", 2019, Decimal("356.8"), None, "total"),
        ("expenditure", "基本支出", 2019, Decimal("300.5"), None, "basic"),
        ("expenditure", "项目支出", 2019, Decimal("56.3"), None, "project"),
    }
    assert doc.texts["annual_goal"] == ["做好档案收集", "推进档案数字化。"]
    assert [(t.function, t.task, t.item, t.amount) for t in doc.duty_targets] == [
        ("档案管理", "档案数字化", "档案数字化加工", Decimal("40.00")),
        ("档案管理", "档案数字化", "档案库房运维", Decimal("16.3")),
        ("综合保障", "机关运转", "一般行政管理事务", Decimal("300.5")),
    ]
    assert str(doc.duty_targets[0].amount) == "40.00"  # decimals as written
    count, = rows(doc, lv3="档案数字化数量")
    assert (count.raw, count.comparator, count.value, count.unit, count.basis) == ("≥20000卷", ">=", 20000, "卷", "计划标准")
    assert count.explanation == "反映数字化数量" and (count.horizon, count.year) == ("annual", 2019)
    lost, = rows(doc, lv3="档案完好率")
    assert (lost.raw, lost.comparator, lost.value, lost.unit, lost.basis) == ("1", "=", 1, None, None)
    assert any(p.code == "percent_format_lost" and "档案完好率" in p.message for p in doc.problems)
    wide, = rows(doc, lv3="档案利用满意度")
    assert (wide.raw, wide.value, wide.unit, wide.basis, wide.lv1_class) == ("90%", 90, "%", "行业标准", "outcome")
    assert rows(doc, lv3="查档群众满意度")[0].lv1_class == "satisfaction"
    assert not [p for p in doc.problems if p.severity == "error"]


def test_budget_items_side_by_side():
    across = FUJIAN.replace("年度预算安排（万元）\t资金总额\t\t356.8\n\t基本支出\t\t300.5\n\t项目支出\t\t56.3".encode(),
                            "年度预算安排（万元）\t资金总额\t基本支出\t项目支出\n\t356.8\t300.5\t56.3".encode())
    assert across != FUJIAN
    doc = pifu.parse_bytes(across, "fujian-across.txt")
    assert {(f.item, f.amount, f.item_class) for f in doc.funding} == {
        ("合计", Decimal("356.8"), "total"), ("基本支出", Decimal("300.5"), "basic"), ("项目支出", Decimal("56.3"), "project")}
    assert {f.where for f in doc.funding} == {"line 5"}


def test_hubei_2021_blank_history_headers_and_no_personal_data():
    doc = pifu.parse_bytes(HUBEI_2021, "hubei2021.txt")
    assert (doc.department, doc.fiscal_year, doc.filed_on, doc.agency_code) == ("鄂州市人民政府办公室", 2021,
                                                                               "2020-12-15", None)
    assert {(f.flow, f.item, f.year, f.amount, f.item_class) for f in doc.funding} == {
        ("income", "财政拨款", 2021, 500, "fiscal_appropriation"), ("income", "其他资金", 2021, 100, "other_funds"),
        ("income", "合计", 2021, 600, "total"), ("expenditure", "基本支出", 2021, 450, "basic"),
        ("expenditure", "项目支出", 2021, 150, "project"), ("expenditure", "合计", 2021, 600, "total"),
    }
    assert {(i.horizon, i.year, i.lv3, i.raw) for i in doc.indicators} == {
        ("long_term", None, "公文办理数量", "≥3000件"), ("long_term", None, "服务对象满意度", "≥90%"),
        ("annual", 2021, "公文办理数量", "≥3000件"), ("annual", 2021, "服务对象满意度", "≥90%"),
    }
    assert not [p for p in doc.problems if p.severity == "error"]
    out = jsonio.dumps(doc.to_dict())
    assert PERSON not in out and PHONE not in out and "填报人" not in out and "联系电话" not in out
    one_cell = HUBEI_2021.replace(f"填报人\t{PERSON}\t联系电话\t{PHONE}".encode(), f"填报人 {PERSON}\t电话：{PHONE}".encode())
    assert one_cell != HUBEI_2021
    out = jsonio.dumps(pifu.parse_bytes(one_cell, "x").to_dict())
    assert PERSON not in out and PHONE not in out


def test_hubei_software_grid_tree_and_comparator_column():
    doc = pifu.parse_bytes(GRID, "grid.txt")
    assert doc.fiscal_year == 2025 and len(doc.funding) == 3 * 6
    assert {f.item_class for f in doc.funding} == {"fiscal_appropriation", "personnel", "operating",
                                                   "specific_purpose", "total"}
    count = {i.year: i for i in rows(doc, lv3="统计调查项目数")}
    assert set(count) == {2023, 2025}  # 上年 left blank
    now = count[2025]
    assert (now.raw, now.comparator, now.value, now.unit, now.basis) == ("12", ">=", 12, "个", "计划标准")
    assert (now.lv1, now.lv2, now.lv1_class) == ("产出指标", "数量指标", "output")
    assert (now.weight, now.explanation, now.scoring_rule, now.extra) == (10, "反映调查项目", "少1个扣1分",
                                                                          {"数据来源": "统计年报"})
    assert (count[2023].raw, count[2023].comparator, count[2023].unit) == ("10", "=", "个")
    rate = {i.year: i for i in rows(doc, lv3="数据差错率")}
    assert (rate[2025].comparator, rate[2025].value, rate[2025].unit, rate[2025].remark) == ("<=", 1, "%", "无")
    assert rate[2025].lv2 == "质量指标" and rate[2024].value == Decimal("0.4")
    word, = rows(doc, lv3="数据使用者满意度")
    assert (word.raw, word.comparator, word.value, word.lv1, word.lv2) == ("满意", None, None, "满意度指标",
                                                                           "服务对象满意度指标")
    assert [p.code for p in doc.problems].count("unknown_column") == 1
    assert not [p for p in doc.problems if p.severity in ("error", "warning")]


def test_numbered_goals_brackets_and_comparator_cells():
    assert items("目标1:加强管理;目标2：提升服务。") == ["加强管理", "提升服务。"]
    assert items("实现目标1项") == ["实现目标1项"]
    assert split_basis("90%(计划标准)") == ("90%", "计划标准")
    assert split_basis("≥3次（行业标准）") == ("≥3次", "行业标准")
    assert split_basis("3次(年)") == ("3次(年)", None)
    assert [comparator_of(x) for x in ("≥", "≤", "＞", "=", "大于等于", "定性", "")] == [">=", "<=", ">", "=", ">=",
                                                                                          None, None]


def _every_string(tables: dict[str, pa.Table]) -> str:
    return "\n".join(str(v) for t in tables.values() for col in t.columns for v in col.to_pylist())


def test_personal_data_is_kept_nowhere(tmp_path, capsys):
    """`pifu parse` output (problems included), the lake files and the warehouse never hold 填报人 or 联系电话."""
    from pifu.cli import main
    from pifu.lake import read_lake, write_lake
    from pifu.normalize import normalize
    from pifu.schema import SCHEMAS
    from warehouse.load import load

    path = tmp_path / "hubei2021.txt"
    path.write_bytes(HUBEI_2021)
    assert main(["parse", str(path), "--json"]) == 0
    printed = capsys.readouterr().out
    assert "鄂州市人民政府办公室" in printed and PERSON not in printed and PHONE not in printed

    docs = [pifu.parse(path), pifu.parse_bytes(FUJIAN, str(tmp_path / "fujian.txt"))]
    tables = normalize(docs, datetime(2025, 3, 1, tzinfo=timezone.utc))
    write_lake(tmp_path / "lake", tables)
    lake = {name: read_lake(tmp_path / "lake", name) for name in SCHEMAS if name not in ("dq_result", "quarantine")}
    stored = _every_string(lake)
    assert "2020-12-15" in stored and "301007" in stored and "档案库房运维" in stored
    assert PERSON not in stored and PHONE not in stored
    raw = b"".join(p.read_bytes() for p in (tmp_path / "lake").rglob("*.parquet"))
    assert PERSON.encode() not in raw and PHONE.encode() not in raw

    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    load(url, tables)
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.connect() as conn:
        names = [r[0] for r in conn.exec_driver_sql("SELECT table_name FROM information_schema.tables")]
        dump = "\n".join(str(row) for n in names for row in conn.exec_driver_sql(f'SELECT * FROM "{n}"'))
        duty = conn.exec_driver_sql("SELECT item, amount FROM fact_duty_target ORDER BY row_no").fetchall()
    engine.dispose()
    assert "档案数字化加工" in dump and PERSON not in dump and PHONE not in dump
    assert [a for _, a in duty] == [Decimal("40.00"), Decimal("16.30"), Decimal("300.50")]


def test_bi_compares_funding_and_indicators_across_templates(tmp_path):
    """v_funding_by_department by item_class: the Hubei software's split and a 基本/项目 form side by side;
    v_indicator_by_class over both vocabularies."""
    import sqlalchemy as sa

    from pifu.normalize import normalize
    from warehouse.load import load

    docs = [pifu.parse_bytes(data, name) for name, data in
            (("grid.txt", GRID), ("fujian.txt", FUJIAN), ("hunan.txt", HUNAN), ("hubei2021.txt", HUBEI_2021))]
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    load(url, normalize(docs, datetime(2025, 3, 1, tzinfo=timezone.utc)))
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        funding = {r.department_name: r for r in conn.exec_driver_sql("SELECT * FROM v_funding_by_department")}
        classes = {r.lv1_class for r in conn.exec_driver_sql("SELECT * FROM v_indicator_by_class")}
        targets = conn.exec_driver_sql("SELECT lv1, lv1_class FROM v_indicator_targets").fetchall()
    engine.dispose()
    grid, fujian = funding["鄂州市统计局"], funding["福州市鼓楼区档案馆"]
    assert (grid.personnel_share_pct, grid.operating_share_pct, grid.project_share_pct, grid.basic_share_pct) == (
        Decimal("62.5"), Decimal("12.5"), Decimal("25"), Decimal("75"))
    assert (fujian.personnel_share_pct, fujian.project_share_pct, fujian.basic_share_pct) == (
        None, Decimal("15.7791"), Decimal("84.2209"))
    assert fujian.income_total is None and fujian.expenditure_total == Decimal("356.8")
    assert funding["鄂州市人民政府办公室"].project_share_pct == 25
    assert {"output", "outcome", "satisfaction"} <= classes
    assert all(c is not None for _, c in targets)
