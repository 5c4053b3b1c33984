"""Documents built here, each with its own quirks, read by pifu.parse_bytes."""
from decimal import Decimal as D

import pytest

import pifu
from pifu.model import ANNUAL, LONG_TERM, DocumentError

T = "\t"


def build(*rows, newline="\n", encoding="utf-8") -> bytes:
    return newline.join(T.join(r) if isinstance(r, (list, tuple)) else r for r in rows).encode(encoding)


def base(funding=None, long_rows=None, annual_header=None, annual_rows=None, extra=()):
    funding = funding or [
        ["部门总体资金情况", "总体资金情况", "", "", "当年金额", "占比", "近两年收支金额", ""],
        ["", "", "", "", "", "", "2022年", "2023年"],
        ["", "收入构成", "财政拨款", "", "1,200.50", "100％", "1,100", "1,150"],
        ["", "", "单位资金", "", "-", "0%", "—", "0"],
        ["", "", "合计", "", "1,200.50", "100%", "1,100", "1,150"],
        ["", "", "人员类项目支出", "", "８００．５０", "66.68%", "700", "750"],
        ["", "支出构成", "运转类项目支出", "", "400", "33.32%", "400", "400"],
        ["", "", "合计", "", "1200.5", "100%", "1100", "1150"],
    ]
    long_rows = long_rows if long_rows is not None else [
        ["长期绩效指标", "一级指标", "二级指标", "三级指标", "指标值", "指标值确定依据", "指标分类"],
        ["", "产出指标", "数量指标", "培训人次", "≥1,000人次", "计划标准", "绩效基本型"],
        ["", "", "", "检查次数", "≥12次", "计划标准", "绩效基本型"],
        ["", "", "质量指标", "验收合格率", "100%", "行业标准", "绩效提升型"],
        ["", "效益指标", "社会效益", "群众知晓情况", "明显提高", "计划标准", "绩效基本型"],
    ]
    annual_header = annual_header if annual_header is not None else [
        ["年度绩效指标", "一级指标", "二级指标", "三级指标", "指标值", "", "", "指标值确定依据", "指标分类"],
        ["", "", "", "", "近两年指标值", "", "预期当年实现值", "", ""],
        ["", "", "", "", "2022年", "2023年", "", "", ""],
    ]
    annual_rows = annual_rows if annual_rows is not None else [
        ["", "产出指标", "数量指标", "培训人次", "900人次", "950人次", "≥1,000人次", "计划标准", "绩效基本型"],
        ["", "", "", "检查次数", "12次", "12次", "≥12次", "计划标准", "绩效基本型"],
        ["", "", "质量指标", "验收合格率", "98%", "99%", "100%", "行业标准", "绩效提升型"],
        ["", "效益指标", "社会效益", "群众知晓情况", "提高", "提高", "明显提高", "计划标准", "绩效基本型"],
    ]
    return [
        "", "2024年部门整体绩效目标批复", "",
        ["部门（单位）名称", "", "阳新县教育局", "", ""],
        *funding,
        ["部门职能概述", "<p>1. 管理全县教育；2. 指导&ldquo;双减&rdquo;工作。</p>"],
        ["年度工作任务", "<p>1. 完成校舍改造；</p>"],
        "<p>2. 开展教师培训。</p>",
        ["长期目标：（截止2024年）", "<p>提升教育质量。</p>"],
        *long_rows,
        ["年度目标", ""],
        *annual_header,
        *annual_rows,
        *extra,
    ]


def test_a_clean_built_document_in_gb18030_with_crlf():
    doc = pifu.parse_bytes(build(*base(), newline="\r\n", encoding="gb18030"), "built.txt")
    assert (doc.department, doc.fiscal_year, doc.region, doc.source.encoding) == ("阳新县教育局", 2024, "阳新县", "gb18030")
    f = {(x.flow, x.item, x.year): (x.amount, x.share_pct) for x in doc.funding}
    assert f[("income", "财政拨款", 2024)] == (D("1200.50"), D(100))
    assert f[("income", "单位资金", 2024)] == (D(0), D(0)) and f[("income", "单位资金", 2022)] == (D(0), None)
    assert f[("expenditure", "人员类项目支出", 2024)] == (D("800.50"), D("66.68"))
    assert f[("expenditure", "运转类项目支出", 2023)] == (D(400), None)  # flow label on the wrong row
    assert f[("expenditure", "合计", 2022)] == (D(1100), None)
    assert len(doc.funding) == 6 * 3
    assert doc.texts == {"functions": ["管理全县教育", "指导“双减”工作。"],
                         "annual_tasks": ["完成校舍改造", "开展教师培训。"],
                         "long_term_goal": ["提升教育质量。"], "annual_goal": []}
    annual = {(i.lv3, i.year): (i.lv1, i.lv2, i.raw) for i in doc.indicators if i.horizon == ANNUAL}
    assert annual[("检查次数", 2022)] == ("产出指标", "数量指标", "12次")
    assert annual[("群众知晓情况", 2024)] == ("效益指标", "社会效益", "明显提高")
    assert len(annual) == 12
    assert not [p for p in doc.problems if p.severity != "info"]


def test_missing_year_headers_are_inferred_and_said():
    rows = base(annual_header=[["年度绩效指标", "一级指标", "二级指标", "三级指标", "指标值", "", "", "依据", "分类"]])
    rows = [r for r in rows if r != ["", "", "", "", "", "", "2022年", "2023年"]]
    doc = pifu.parse_bytes(build(*rows), "x")
    assert {i.year for i in doc.indicators if i.horizon == ANNUAL} == {2022, 2023, 2024}
    assert {f.year for f in doc.funding} == {2022, 2023, 2024}
    assert [p.where for p in doc.problems if p.code == "inferred_year"] == ["funding", "年度绩效指标"]


def test_fewer_values_are_right_aligned_on_the_current_year():
    annual = [
        ["", "产出指标", "数量指标", "培训人次", "", "", "≥1,000人次", "计划标准", "绩效基本型"],
        ["", "", "检查次数", "12次", "≥12次", "计划标准", "绩效基本型"],  # shifted left, 2022 blank
        ["", "", "质量指标", "验收合格率", "98%", "99%", "100%", "行业标准", "绩效提升型"],
        ["", "效益指标", "社会效益", "群众知晓情况", "明显提高", "计划标准", "绩效基本型"],  # qualitative, one value
    ]
    doc = pifu.parse_bytes(build(*base(annual_rows=annual)), "x")
    years = {}
    for i in doc.indicators:
        if i.horizon == ANNUAL:
            years.setdefault(i.lv3, {})[i.year] = (i.lv1, i.lv2, i.raw)
    assert years["培训人次"] == {2024: ("产出指标", "数量指标", "≥1,000人次")}
    assert years["检查次数"] == {2023: ("产出指标", "数量指标", "12次"), 2024: ("产出指标", "数量指标", "≥12次")}
    assert years["群众知晓情况"] == {2024: ("效益指标", "社会效益", "明显提高")}
    assert sum(p.code == "missing_values" for p in doc.problems) == 3


def test_page_break_repeating_header_and_labels():
    long_rows = [
        ["长期绩效指标", "一级指标", "二级指标", "三级指标", "指标值", "指标值确定依据", "指标分类"],
        ["", "产出指标", "数量指标", "培训人次", "≥1,000人次", "计划标准", "绩效基本型"],
        "",
        ["长期绩效指标", "一级指标", "二级指标", "三级指标", "指标值", "指标值确定依据", "指标分类"],
        ["长期绩效指标", "产出指标", "数量指标", "检查次数", "≥12次", "计划标准", "绩效基本型"],
        ["", "", "质量指标", "验收合格率", "100%", "行业标准", "绩效提升型"],
        ["", "效益指标", "社会效益", "群众知晓情况", "明显提高", "计划标准", "绩效基本型"],
    ]
    doc = pifu.parse_bytes(build(*base(long_rows=long_rows)), "x")
    lt = [(i.lv1, i.lv2, i.lv3) for i in doc.indicators if i.horizon == LONG_TERM]
    assert lt == [("产出指标", "数量指标", "培训人次"), ("产出指标", "数量指标", "检查次数"),
                  ("产出指标", "质量指标", "验收合格率"), ("效益指标", "社会效益", "群众知晓情况")]
    assert sum(p.code == "page_break" for p in doc.problems) == 2


def test_cut_labels_completed_only_when_unambiguous():
    long_rows = [
        ["长期绩效指标", "一级指标", "二级指标", "三级指标", "指标值", "指标值确定依据", "指标分类"],
        ["", "产出指标", "数量指标", "培训人", "≥1,000人次", "计划标准", "绩效基本型"],  # 培训人次 only
        ["", "", "", "检查次", "≥12次", "计划标准", "绩效基本型"],
        ["", "", "", "检查次数（季度）", "≥4次", "计划标准", "绩效基本型"],
        ["", "", "质量指", "验收合格率", "100%", "行业标准", "绩效提升型"],
        ["", "效益指标", "社会效益", "群众知晓情况", "明显提高", "计划标准", "绩效基本型"],
    ]
    annual = base()[-4:] + [["", "", "", "检查次数（季度）", "4次", "4次", "≥4次", "计划标准", "绩效基本型"]]
    doc = pifu.parse_bytes(build(*base(long_rows=long_rows, annual_rows=annual)), "x")
    lt = {i.lv3: i.lv2 for i in doc.indicators if i.horizon == LONG_TERM}
    assert "检查次数" in {i.lv3 for i in doc.indicators}  # printed beside 检查次数（季度）: not cut
    assert "培训人次" in lt and "验收合格率" in lt and lt["验收合格率"] == "质量指标"
    assert "检查次" in lt  # a prefix of two labels: left as it is
    assert {p.message for p in doc.problems if p.code == "label_completed"} == {
        "lv3 label '培训人' cut short; completed to '培训人次'", "lv2 label '质量指' cut short; completed to '质量指标'"}


def test_unknown_funding_item_and_unreadable_rows_are_reported_not_dropped_silently():
    funding = [
        ["部门总体资金情况", "总体资金情况", "", "", "当年金额", "占比", "近两年收支金额", ""],
        ["", "收入构成", "财政拨款", "", "100", "80%", "2022年", "2023年"],
        ["", "", "上级补助收入", "", "25", "20%", "0", "0"],
        ["", "", "合计", "", "125", "100%", "0", "0"],
        ["", "支出构成", "人员类项目支出", "", "125", "100%", "0", "0"],
        ["", "", "合计", "", "", "", "", ""],
    ]
    doc = pifu.parse_bytes(build(*base(funding=funding)), "x")
    assert ("income", "上级补助收入", 2024) in {(f.flow, f.item, f.year) for f in doc.funding}
    codes = {(p.code, p.severity) for p in doc.problems}
    assert ("unknown_item", "warning") in codes and ("unreadable_row", "error") in codes


@pytest.mark.parametrize("rows,reason", [
    (["2024年项目支出绩效目标表", ["项目名称", "道路"]], "not_a_document"),
    (["会议纪要", "今天开会"], "not_a_document"),
    (["2024年部门整体绩效目标批复", ["部门（单位）名称", "", "某局"]], "truncated"),
    (["部门整体绩效目标批复", ["部门（单位）名称", "", "某局"], ["部门总体资金情况", "x"]], "no_fiscal_year"),
])
def test_not_a_document(rows, reason):
    with pytest.raises(DocumentError) as e:
        pifu.parse_bytes(build(*rows), "bad.txt")
    assert e.value.reason == reason


def test_truncated_inside_the_annual_table():
    rows = base()
    data = build(*rows)
    cut = data[: data.rindex("明显提高".encode()) + len("明显提高".encode())]
    with pytest.raises(DocumentError, match="truncated"):
        pifu.parse_bytes(cut, "cut.txt")
