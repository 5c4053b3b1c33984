"""HTML pages: the form found among a portal page's tables, whatever its charset, spans and markup; the
real sample rendered as a page reads as the same document as its text export."""
import codecs
import concurrent.futures
import random
from decimal import Decimal

import pytest

import pifu
from pifu import readers
from pifu.generate import generate
from pifu.generate.form import Cell, build_form
from pifu.generate.render import html as render_html
from pifu.layout import INCOME, EXPENDITURE
from pifu.model import DocumentError
from test_roundtrip import canonical

TITLE = "2025年部门整体绩效目标批复"

# A small form: department, funding, one text, both indicator tables, with the spans the software prints.
FORM = """
<tr><td colspan="2">部门（单位）名称</td><td colspan="7">鄂州市总工会</td></tr>
<tr><td rowspan="6">部门总体资金情况</td><td rowspan="2" colspan="3">总体资金情况</td><td rowspan="2">当年金额</td>
    <td rowspan="2">占比</td><td colspan="3">近两年收支金额</td></tr>
<tr><td>2023年</td><td colspan="2">2024年</td></tr>
<tr><td rowspan="2">收入构成</td><td colspan="2">财政拨款</td><td>998.71</td><td>100%</td><td>1058.85</td><td colspan="2">998.71</td></tr>
<tr><td colspan="2">合计</td><td>998.71</td><td>100%</td><td>1058.85</td><td colspan="2">998.71</td></tr>
<tr><td rowspan="2">支出构成</td><td colspan="2">人员类项目支出</td><td>998.71</td><td>100%</td><td>1058.85</td><td colspan="2">998.71</td></tr>
<tr><td colspan="2">合计</td><td>998.71</td><td>100%</td><td>1058.85</td><td colspan="2">998.71</td></tr>
<tr><td>部门职能概述</td><td colspan="8"><p>1. 领导全市工人运动；</p><p>&nbsp;&nbsp;2. 维护职工合法权益。</p></td></tr>
<tr><td rowspan="3">长期绩效指标</td><td>一级指标</td><td>二级指标</td><td>三级指标</td><td colspan="3">指标值</td>
    <td>指标值确定依据</td><td>指标分类</td></tr>
<tr><td rowspan="2">产出指标</td><td rowspan="2">数量指标</td><td>培训人次</td><td colspan="3">≥500人次</td><td>计划标准</td><td>绩效基本型</td></tr>
<tr><td>慰问人数</td><td colspan="3">≥200人</td><td>计划标准</td><td>绩效基本型</td></tr>
<tr><td rowspan="5">年度绩效指标</td><td rowspan="3">一级指标</td><td rowspan="3">二级指标</td><td rowspan="3">三级指标</td>
    <td colspan="3">指标值</td><td rowspan="3">指标值确定依据</td><td rowspan="3">指标分类</td></tr>
<tr><td colspan="2">近两年指标值</td><td rowspan="2">预期当年实现值</td></tr>
<tr><td>2023年</td><td>2024年</td></tr>
<tr><td rowspan="2">产出指标</td><td rowspan="2">数量指标</td><td>培训人次</td><td>480人次</td><td>490人次</td><td>≥500人次</td>
    <td>计划标准</td><td>绩效基本型</td></tr>
<tr><td>慰问人数</td><td>190人</td><td>195人</td><td>≥200人</td><td>计划标准</td><td>绩效基本型</td></tr>
"""


# FORM's rows, one string each
ROWS = [r if r.startswith("<tr>") else "<tr>" + r for r in FORM.strip().split("\n<tr>")]


def page(body: str, head: str = '<meta charset="utf-8">') -> str:
    return f"<!DOCTYPE html>\n<html><head>{head}<title>鄂州市财政局</title></head><body>\n{body}\n</body></html>"


def form_page(head: str = '<meta charset="utf-8">', title: str = f"<h1>{TITLE}</h1>") -> str:
    return page(f'{title}<table border="1">{FORM}</table>', head)


def check_small_form(doc):
    assert (doc.department, doc.fiscal_year, doc.source.format) == ("鄂州市总工会", 2025, "html")
    funding = {(f.flow, f.item, f.year): (f.amount, f.share_pct) for f in doc.funding}
    assert funding[INCOME, "财政拨款", 2025] == (Decimal("998.71"), Decimal(100))
    assert funding[INCOME, "财政拨款", 2023] == (Decimal("1058.85"), None)
    assert funding[EXPENDITURE, "合计", 2024] == (Decimal("998.71"), None)
    ind = {(i.horizon, i.lv1, i.lv2, i.lv3, i.year): i.raw for i in doc.indicators}
    assert ind["long_term", "产出指标", "数量指标", "慰问人数", None] == "≥200人"
    assert ind["annual", "产出指标", "数量指标", "慰问人数", 2023] == "190人"
    assert ind["annual", "产出指标", "数量指标", "培训人次", 2025] == "≥500人次"
    assert len(ind) == 8
    assert doc.texts["functions"] == ["领导全市工人运动", "维护职工合法权益。"]


# --- charsets ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("head,encoding,bom,read_as", [
    ('<meta charset="gbk">', "gbk", b"", "gb18030"),
    ('<meta http-equiv="Content-Type" content="text/html; charset=gb2312">', "gb2312", b"", "gb18030"),
    ("<META HTTP-EQUIV=Content-Type CONTENT='text/html;charset=GB18030'>", "gb18030", b"", "gb18030"),
    ('<meta charset="utf-8">', "utf-8", b"", "utf-8"),
    ("", "utf-8", codecs.BOM_UTF8, "utf-8"),
    ('<meta charset="gbk">', "utf-8", codecs.BOM_UTF8, "utf-8"),  # the byte-order mark outranks the meta
    ("", "gbk", b"", "gb18030"),  # undeclared: not UTF-8, so GB18030
    ('<meta charset="utf-8">', "gbk", b"", "gb18030"),  # a template's declaration that lies
    ('<meta charset="iso-8859-1">', "utf-8", b"", "utf-8"),  # a Western charset on a Chinese page is not believed
])
def test_charset_from_bom_then_meta_then_sniffing(head, encoding, bom, read_as):
    data = bom + form_page(head).encode(encoding)
    sheet = readers.read(data, "p.html")
    assert sheet.format == "html" and sheet.encoding == read_as
    check_small_form(pifu.parse_bytes(data, "p.html"))


def test_utf16_page_with_bom():
    data = codecs.BOM_UTF16_LE + form_page("").encode("utf-16-le")
    assert readers.read(data, "p.htm").encoding == "utf-16"


def test_html_saved_as_xls_is_read_as_html():
    excel = ('<html xmlns:o="urn:schemas-microsoft-com:office:office" xmlns:x="urn:schemas-microsoft-com:office:excel">'
             '<head><meta http-equiv=Content-Type content="text/html; charset=gb2312"><meta name=ProgId content=Excel.Sheet>'
             "<!--[if gte mso 9]><xml><x:ExcelWorkbook></x:ExcelWorkbook></xml><![endif]--></head>"
             f'<body><table border=0 x:str><tr><td colspan=9 class=xl65>{TITLE}</td></tr>{FORM}</table></body></html>')
    doc = pifu.parse_bytes(excel.encode("gbk"), "批复.xls")
    assert doc.source.encoding == "gb18030"
    check_small_form(doc)


# --- the form among the page's tables ---------------------------------------------------------------------------

NAV = ('<table class="nav"><tr><td><a href="/">首页</a></td><td>政务公开</td><td>绩效管理</td><td>项目</td>'
       "<td>金额</td></tr></table>")
FOOTER = '<table><tr><td>主办单位：鄂州市财政局</td><td>鄂ICP备05003312号</td></tr></table>'


def test_form_found_among_navigation_layout_and_footer_tables():
    body = (f'<table width="980" class="layout"><tr><td>{NAV}</td></tr><tr><td>'
            f'<div class="position">当前位置：首页 &gt; 预决算公开</div><h2>{TITLE}</h2>'
            f'<table border="1">{FORM}</table></td></tr><tr><td>{FOOTER}</td></tr></table>')
    data = page(body).encode()
    sheet = readers.read(data, "p.html")
    # tables: 1 layout, 2 nav, 3 form, 4 footer
    assert sheet.grid[0] == [TITLE] and sheet.origins[0] == "heading 1"
    assert sheet.origins[1] == "table 3 row 1" and sheet.grid[1][:3] == ["部门（单位）名称", "", "鄂州市总工会"]
    assert not any("首页" in c or "主办单位" in c for row in sheet.grid for c in row)
    check_small_form(pifu.parse_bytes(data, "p.html"))


def test_rowspan_over_a_page_of_labels_is_expanded_with_the_text_top_left():
    sheet = readers.read(form_page().encode(), "p.html")
    grid, where = sheet.grid, dict(zip(sheet.origins, range(len(sheet.origins))))
    annual = [grid[where[f"table 1 row {n}"]] for n in range(12, 17)]
    assert [row[0] for row in annual] == ["年度绩效指标", "", "", "", ""]
    assert annual[3][:4] == ["", "产出指标", "数量指标", "培训人次"]
    assert annual[4][:4] == ["", "", "", "慰问人数"]  # lv1 and lv2 are merged down: empty below
    first = where["table 1 row 12"]
    assert (first, 0, first + 4, 0) in sheet.merges  # the section label spans the five rows
    assert (first + 3, 1, first + 4, 1) in sheet.merges


def test_colspan_headers_keep_the_columns_below_them():
    sheet = readers.read(form_page().encode(), "p.html")
    rows = {o: r for o, r in zip(sheet.origins, sheet.grid)}
    assert rows["table 1 row 2"] == ["部门总体资金情况", "总体资金情况", "", "", "当年金额", "占比", "近两年收支金额", "", ""]
    assert rows["table 1 row 3"] == ["", "", "", "", "", "", "2023年", "2024年", ""]
    assert rows["table 1 row 13"] == ["", "", "", "", "近两年指标值", "", "预期当年实现值", "", ""]
    assert rows["table 1 row 14"] == ["", "", "", "", "2023年", "2024年", "", "", ""]


def test_breaks_paragraphs_and_spaces_inside_cells():
    body = (f"<h1>{TITLE}</h1><table>{FORM}"
            "<tr><td>\u3000年度目标&nbsp;</td><td colspan=8>\n  <p style='text-indent:2em'>\u3000\u30001. 强化引领；<br>"
            "2. 深化&nbsp;改革<br/>\n</p>\n</td></tr></table>")
    sheet = readers.read(page(body).encode(), "p.html")
    row = next(r for r in sheet.grid if r[0] == "年度目标")
    assert row[1] == "1. 强化引领；\n2. 深化 改革"
    functions = next(r for r in sheet.grid if r[0] == "部门职能概述")
    assert functions[1] == "1. 领导全市工人运动；\n2. 维护职工合法权益。"
    doc = pifu.parse_bytes(page(body).encode(), "p.html")
    assert doc.texts["annual_goal"] == ["强化引领", "深化 改革"]


def test_inline_markup_and_styles_do_not_change_a_cell():
    styled = (FORM.replace("<td>998.71</td>", '<td style="text-align:right"><span lang=EN-US>998</span>'
                           '<span style="font-family:宋体">.71<o:p></o:p></span></td>')
              .replace("<td>计划标准</td>", '<td class=xl65><font face="宋体" size=2><b>计划标准</b></font></td>')
              .replace("<td>2023年</td>", "<th>&nbsp;2023年&nbsp;<br></th>"))
    data = page(f"<h1>{TITLE}</h1><table>{styled}</table>").encode()
    check_small_form(pifu.parse_bytes(data, "p.html"))


def test_scripts_styles_and_comments_are_not_read():
    noise = ("<script>document.write('<table><tr><td>部门总体资金情况</td><td>年度绩效指标</td></tr></table>')</script>"
             "<style>td{font:12px 宋体}</style><noscript><table><tr><td>长期绩效指标</td><td>年度目标</td></tr></table>"
             "</noscript><!-- <table><tr><td>部门职能概述</td><td>年度工作任务</td></tr></table> -->")
    with pytest.raises(DocumentError) as e:
        readers.read(page(noise + "<p>暂无内容</p>").encode(), "p.html")
    assert e.value.reason == "not_a_document"
    sheet = readers.read(page(noise + f"<h1>{TITLE}</h1><table>{FORM}</table>").encode(), "p.html")
    assert sheet.origins[1] == "table 1 row 1"  # the tables in the script, noscript and comment are not the page's


def test_a_form_split_over_consecutive_tables_is_joined():
    split_at = next(i for i, r in enumerate(ROWS) if "长期绩效指标" in r)
    first, second = "\n".join(ROWS[:split_at]), "\n".join(ROWS[split_at:])
    body = f"{NAV}<h1>{TITLE}</h1><table>{first}</table><p>（续表）</p><table>{second}</table>{FOOTER}"
    sheet = readers.read(page(body).encode(), "p.html")
    assert sheet.origins[1] == "table 2 row 1" and sheet.origins[-1] == "table 3 row 8"
    check_small_form(pifu.parse_bytes(page(body).encode(), "p.html"))


def test_a_page_break_with_repeated_headers_continues_the_section():
    """The annual table breaks before its last row: the second table repeats the header rows (the section
    label with them) and draws the merged lv1/lv2 cells again."""
    annual = next(i for i, r in enumerate(ROWS) if "年度绩效指标" in r)
    body = (f"<h1>{TITLE}</h1><table>{chr(10).join(ROWS[:-1])}</table>"
            '<table><tr><td rowspan="4">年度绩效指标</td><td rowspan="3">一级指标</td><td rowspan="3">二级指标</td>'
            '<td rowspan="3">三级指标</td><td colspan="3">指标值</td><td rowspan="3">指标值确定依据</td>'
            '<td rowspan="3">指标分类</td></tr>'
            '<tr><td colspan="2">近两年指标值</td><td rowspan="2">预期当年实现值</td></tr><tr><td>2023年</td><td>2024年</td></tr>'
            "<tr><td>产出指标</td><td>数量指标</td><td>慰问人数</td><td>190人</td><td>195人</td><td>≥200人</td>"
            "<td>计划标准</td><td>绩效基本型</td></tr></table>")
    assert annual == len(ROWS) - 5
    doc = pifu.parse_bytes(page(body).encode(), "p.html")
    check_small_form(doc)
    assert [(p.code, p.where) for p in doc.problems if p.code == "page_break"] == [("page_break", "table 2 row 1")]


def test_an_unrelated_table_between_forms_keeps_the_fuller_one():
    stub = "<table><tr><td>部门（单位）名称</td><td>别的单位</td></tr><tr><td>年度目标</td><td>无</td></tr></table>"
    ad = "<table><tr><td>相关链接</td><td>2024年部门整体绩效目标批复</td></tr></table>"
    data = page(f"{stub}{ad}<h1>{TITLE}</h1><table>{FORM}</table>").encode()
    check_small_form(pifu.parse_bytes(data, "p.html"))


def test_two_forms_on_one_page_are_not_mixed():
    other = FORM.replace("鄂州市总工会", "鄂州市妇女联合会").replace("998.71", "12.5")
    data = page(f"<h1>{TITLE}</h1><table>{FORM}</table><table>{other}</table>").encode()
    doc = pifu.parse_bytes(data, "p.html")
    check_small_form(doc)
    assert not any(p.code in ("section_repeated", "duplicate_row") for p in doc.problems)


def test_a_form_table_nested_in_a_form_cell_is_read_in_place():
    """The long-term indicators as a table of their own inside the cell beside their section label."""
    lt = next(i for i, r in enumerate(ROWS) if "长期绩效指标" in r)
    an = next(i for i, r in enumerate(ROWS) if "年度绩效指标" in r)
    inner = ("<tr><td>一级指标</td><td>二级指标</td><td>三级指标</td><td>指标值</td><td>指标值确定依据</td><td>指标分类</td></tr>"
             "<tr><td rowspan=2>产出指标</td><td rowspan=2>数量指标</td><td>培训人次</td><td>≥500人次</td><td>计划标准</td>"
             "<td>绩效基本型</td></tr><tr><td>慰问人数</td><td>≥200人</td><td>计划标准</td><td>绩效基本型</td></tr>")
    body = (f"<h1>{TITLE}</h1><table>{chr(10).join(ROWS[:lt])}\n<tr><td>长期绩效指标</td><td colspan=8>"
            f"<table border=1>{inner}</table></td></tr>\n{chr(10).join(ROWS[an:])}</table>")
    sheet = readers.read(page(body).encode(), "p.html")
    at = sheet.origins.index("table 1 row 9")
    assert sheet.grid[at][:2] == ["长期绩效指标", ""]
    assert sheet.origins[at + 1:at + 4] == ("table 2 row 1", "table 2 row 2", "table 2 row 3")
    assert sheet.origins[at + 4] == "table 1 row 10"
    check_small_form(pifu.parse_bytes(page(body).encode(), "p.html"))


def test_a_layout_table_inside_a_text_cell_is_read_as_the_cell_text():
    body = FORM.replace("<p>1. 领导全市工人运动；</p><p>&nbsp;&nbsp;2. 维护职工合法权益。</p>",
                        "<table width=100%><tr><td><p>1. 领导全市工人运动；</p></td></tr>"
                        "<tr><td>2. 维护职工合法权益。</td></tr></table>")
    sheet = readers.read(page(f"<h1>{TITLE}</h1><table>{body}</table>").encode(), "p.html")
    row = next(r for r in sheet.grid if r[0] == "部门职能概述")
    assert row[1] == "1. 领导全市工人运动；\n2. 维护职工合法权益。"
    check_small_form(pifu.parse_bytes(page(f"<h1>{TITLE}</h1><table>{body}</table>").encode(), "p.html"))


@pytest.mark.parametrize("title,where", [
    (f"<h1>{TITLE}</h1>", "heading 1"),
    (f"<h3>通知</h3><h2>{TITLE}</h2>", "heading 2"),
    (f'<div class="title"><strong>{TITLE}</strong></div>', "text above table 1"),
    ("", "page title"),  # the page's <title> below
])
def test_the_title_outside_the_table_comes_first(title, where):
    data = form_page(head=f"<title>{TITLE}-鄂州市财政局</title>" if not title else "", title=title).encode()
    sheet = readers.read(data, "p.html")
    assert sheet.origins[0] == where and "2025年部门整体绩效目标批复" in sheet.grid[0][0]
    assert pifu.parse_bytes(data, "p.html").fiscal_year == 2025


def test_title_in_a_caption_or_the_first_row():
    caption = page(f"<table><caption>{TITLE}</caption>{FORM}</table>").encode()
    sheet = readers.read(caption, "p.html")
    assert (sheet.grid[0], sheet.origins[0]) == ([TITLE], "table 1 caption")
    first_row = page(f"<table><tr><td colspan=9><b>{TITLE}</b></td></tr>{FORM}</table>").encode()
    sheet = readers.read(first_row, "p.html")
    assert sheet.grid[0][0] == TITLE and sheet.origins[0] == "table 1 row 1" and (0, 0, 0, 8) in sheet.merges
    for data in (caption, first_row):
        check_small_form(pifu.parse_bytes(data, "p.html"))


def test_problems_name_the_table_row():
    body = FORM.replace("<td>慰问人数</td><td>190人</td><td>195人</td>", "<td>慰问人数</td><td></td><td></td>")
    doc = pifu.parse_bytes(page(f"<h1>{TITLE}</h1><table>{body}</table>").encode(), "p.html")
    assert ("missing_values", "table 1 row 16") in {(p.code, p.where) for p in doc.problems}


# --- what is not a form ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("body", [
    "<p>暂无内容</p>",
    NAV + FOOTER,
    f"<h1>{TITLE}</h1><table><tr><td>年度绩效指标</td><td>见附件</td></tr></table>",
])
def test_a_page_that_is_not_a_form(body):
    with pytest.raises(DocumentError) as e:
        pifu.parse_bytes(page(body).encode(), "news.html")
    assert e.value.reason == "not_a_document"
    assert "section labels" in e.value.detail and "\n" not in str(e.value)


def test_the_parser_kept_between_pages_forgets_the_last_one():
    """A page nested past the parser's depth says so; the pages read after it (the same thread's parser,
    and another thread's) do not inherit its errors."""
    deep = page("<div>" * 300 + "绩效" + "</div>" * 300).encode()
    shallow = page("<p>暂无内容</p>").encode()
    reasons = []
    for data in (deep, shallow, deep, shallow):
        with pytest.raises(DocumentError) as e:
            pifu.parse_bytes(data, "p.html")
        reasons.append((e.value.reason, "nested more than" in e.value.detail))
    assert reasons == [("unreadable", True), ("not_a_document", False)] * 2
    first = pifu.parse_bytes(page(f"<h1>{TITLE}</h1><table>{FORM}</table>").encode(), "a.html")
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        again = pool.submit(pifu.parse_bytes, page(f"<h1>{TITLE}</h1><table>{FORM}</table>").encode(), "a.html")
    assert again.result().to_dict() == first.to_dict()


def test_a_project_form_page_is_not_a_department_form():
    data = page(f"<h1>2025年项目支出绩效目标表</h1><table>{FORM}</table>").encode()
    with pytest.raises(DocumentError) as e:
        pifu.parse_bytes(data, "p.html")
    assert e.value.reason == "not_a_document"


@pytest.mark.parametrize("span", ['rowspan="0"', 'rowspan="abc"', 'colspan="-3"', 'rowspan="99999999"'])
def test_odd_spans_are_read_sanely(span):
    body = FORM.replace('<td rowspan="5">年度绩效指标</td>', f"<td {span}>年度绩效指标</td>")
    check_small_form(pifu.parse_bytes(page(f"<h1>{TITLE}</h1><table>{body}</table>").encode(), "p.html"))


def test_a_page_with_too_many_cells_is_refused(monkeypatch):
    monkeypatch.setattr(readers, "MAX_CELLS", 2000)
    huge = page(f"<h1>{TITLE}</h1><table>{FORM}<tr><td colspan=1000>x</td></tr><tr><td colspan=1000>y</td></tr>"
                "</table>").encode()
    with pytest.raises(DocumentError) as e:
        readers.read(huge, "p.html")
    assert e.value.reason == "too_large"
    many = page("<table>" + "<tr><td>a</td><td>b</td></tr>" * 1500 + "</table>").encode()
    with pytest.raises(DocumentError, match="too_large"):
        readers.read(many, "p.html")


def test_no_external_entity_or_network_access(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET-CONTENT")
    xxe = (f'<?xml version="1.0"?><!DOCTYPE html [<!ENTITY x SYSTEM "file://{secret}">]>'
           f"<html><body><h1>{TITLE}</h1><table>{FORM}<tr><td>年度目标</td><td>&x;</td></tr></table></body></html>")
    sheet = readers.read(xxe.encode(), "p.html")
    assert not any("SECRET" in c for row in sheet.grid for c in row)


# --- the real sample as a page -----------------------------------------------------------------------------------

def form_from_document(doc, title: str | None = None):
    """The form the budget software would print for `doc` (a document read from any format)."""
    year = doc.fiscal_year
    amounts = {(f.flow, f.item, f.year): f for f in doc.funding}

    def cell(flow, item, y, kind="amount"):
        f = amounts.get((flow, item, y))
        if f is None:
            return Cell("", kind=kind)
        if kind == "share":
            return Cell(f"{f.share_pct}%", kind="share", number=f.share_pct)
        return Cell(str(f.amount), kind="amount", number=f.amount)

    funding = []
    for flow in (INCOME, EXPENDITURE):
        for item in dict.fromkeys(f.item for f in doc.funding if f.flow == flow):
            funding.append((flow, item, cell(flow, item, year), cell(flow, item, year, "share"),
                            cell(flow, item, year - 2), cell(flow, item, year - 1)))
    long_term = [(i.lv1, i.lv2, i.lv3, i.raw, i.basis, i.category) for i in doc.indicators if i.horizon == "long_term"]
    annual: dict[tuple, dict] = {}
    for i in doc.indicators:
        if i.horizon == "annual":
            annual.setdefault((i.lv1, i.lv2, i.lv3), {"basis": i.basis, "category": i.category})[i.year] = i.raw
    annual_rows = [(*labels, [v.get(y, "") for y in (year - 2, year - 1, year)], v["basis"], v["category"])
                   for labels, v in annual.items()]
    return build_form(title or f"{year}年部门整体绩效目标批复", doc.department, year, funding, doc.texts, long_term,
                      annual_rows)


@pytest.fixture(scope="module")
def sample_doc(sample_path):
    return pifu.parse(sample_path)


def test_the_sample_rendered_as_pages_reads_as_its_text_export(sample_doc):
    want = canonical(sample_doc.to_dict())
    seen = set()
    for seed in range(60):
        damage: set[str] = set()
        data, suffix = render_html.render(form_from_document(sample_doc), random.Random(seed), damage)
        doc = pifu.parse_bytes(data, f"sample{suffix}")
        assert doc.source.format == "html"
        got = canonical(doc.to_dict())
        assert got == want, (seed, sorted(damage), [k for k in want if got[k] != want[k]])
        assert not any(p.where.startswith("line ") for p in doc.problems)
        seen |= damage
    assert seen == set(render_html.DAMAGE_CODES), set(render_html.DAMAGE_CODES) - seen


def test_rendered_corpus_exercises_every_quirk(tmp_path):
    paths = generate(150, tmp_path, seed=7, fmt="html")
    from pifu import jsonio

    seen, suffixes = set(), set()
    for path in paths:
        truth = jsonio.loads(path.with_name(path.stem + ".truth.json").read_text(encoding="utf-8"))
        seen |= set(truth["damage"])
        suffixes.add(path.suffix)
        assert canonical(pifu.parse(path).to_dict()) == canonical(truth), path.name
    assert set(render_html.DAMAGE_CODES) <= seen
    assert suffixes == {".html", ".htm", ".xls"}


def test_a_page_is_routed_to_the_fiscal_year_of_its_form(tmp_path):
    from pifu.ingest import sniff_year

    style = "<style>" + "td.menu { font-size: 12px; }\n" * 400 + "</style>"  # the title lies past the first 4 KB
    related = "<table><tr><td>2023年部门整体绩效目标批复</td></tr></table>"
    page_path, news = tmp_path / "p.htm", tmp_path / "news.html"
    page_path.write_bytes(page(f"{style}<h1>{TITLE}</h1><table>{FORM}</table>{related}").encode("gbk"))
    news.write_bytes(page(f"{style}<p>说明</p>").encode())
    # routing reads a bounded head and never parses; the year a document is loaded under comes from its parse
    assert sniff_year(page_path) == "2025" and sniff_year(news) == "unknown"
