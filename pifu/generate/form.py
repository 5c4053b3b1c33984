"""A form as its publisher lays it out: the structure every non-text renderer draws from.

A text export flattens a form and loses its merged cells; the other formats (xlsx, xls, docx, html,
pdf) keep them. `Form` is the clean table those formats render, built from a document's truth
(`form_from_truth`), so every format round-trips against the same facts. Each renderer lives in
`pifu.generate.render.<format>` as `render(form, rng, damage) -> bytes`: it draws the form with its
format's real quirks (a page break inside a group, repeated headers, a cover page, HTML saved as .xls,
extra tables) and adds the quirk's code to `damage`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal


@dataclass
class Cell:
    text: str  # what the form shows, e.g. "998.71", "49.96%", "≥23人", "运行成本"
    rowspan: int = 1
    colspan: int = 1
    kind: str = "text"  # title | section | header | label | text | amount | share | value
    number: Decimal | None = None  # amount in 万元, or share in percent (49.96), for formats that store numbers
    digits: int | None = None  # decimals the form shows for `number`


@dataclass
class Form:
    title: str  # e.g. 2025年部门整体绩效目标批复
    width: int
    # Rectangular: every row has `width` entries; None where a merged cell above or to the left covers it.
    rows: list[list[Cell | None]] = field(default_factory=list)
    # Section name (funding, functions, annual_tasks, long_term_goal, long_term, annual_goal, annual) ->
    # (first row, last row), inclusive; a renderer repeats a table's header rows after a page break.
    sections: dict[str, tuple[int, int]] = field(default_factory=dict)
    header_rows: dict[str, list[int]] = field(default_factory=dict)  # section -> its column-header rows


WIDTH = 9  # section | lv1 | lv2 | lv3 | value ×3 | basis | category (the annual table is the widest)
FLOW_LABELS = {"income": "收入构成", "expenditure": "支出构成"}
TEXT_LABELS = (("functions", "部门职能概述"), ("annual_tasks", "年度工作任务"), ("long_term_goal", "长期目标"),
               ("annual_goal", "年度目标"))


def build_form(title: str, department: str, year: int, funding: list[tuple], texts: dict[str, list[str]],
               long_term: list[tuple], annual: list[tuple]) -> Form:
    """The form as the budget software prints it (the layout of the real 鄂州市总工会 approval, merged).

    funding: (flow, item, amount Cell, share Cell, history Cell, history Cell) per row, flows in order.
    long_term: (lv1, lv2, lv3, value, basis, category); annual: (lv1, lv2, lv3, [v-2, v-1, v], basis,
    category) with "" for a value left blank. Labels repeat per row; equal neighbours are merged here.
    """
    form = Form(title=title, width=WIDTH)
    add = form.rows.append

    def row(*cells: Cell | None) -> list[Cell | None]:
        cells = list(cells) + [None] * (WIDTH - len(cells))
        add(cells)
        return cells

    row(Cell(title, colspan=WIDTH, kind="title"))
    row(Cell("部门（单位）名称", colspan=2, kind="section"), None, Cell(department, colspan=WIDTH - 2, kind="text"))

    start = len(form.rows)
    row(Cell("部门总体资金情况", rowspan=2 + len(funding), kind="section"), Cell("总体资金情况", rowspan=2, colspan=3, kind="header"),
        None, None, Cell("当年金额", rowspan=2, kind="header"), Cell("占比", rowspan=2, kind="header"),
        Cell("近两年收支金额", colspan=3, kind="header"))
    row(None, None, None, None, None, None, Cell(f"{year - 2}年", kind="header"),
        Cell(f"{year - 1}年", colspan=2, kind="header"))
    form.header_rows["funding"] = [start, start + 1]
    for i, (flow, item, amount, share, h1, h2) in enumerate(funding):
        first = i == 0 or funding[i - 1][0] != flow
        span = sum(1 for f in funding if f[0] == flow)
        h2.colspan = 2
        row(None, Cell(FLOW_LABELS[flow], rowspan=span, kind="label") if first else None,
            Cell(item, colspan=2, kind="label"), None, amount, share, h1, h2)
    form.sections["funding"] = (start, len(form.rows) - 1)

    for key, label in TEXT_LABELS:
        if key == "annual_goal":
            continue  # printed between the two indicator tables
        _text_row(form, row, key, label if key != "long_term_goal" else f"长期目标： （截止{year}年）", texts[key])

    start = len(form.rows)
    row(Cell("长期绩效指标", rowspan=1 + len(long_term), kind="section"), Cell("一级指标", kind="header"),
        Cell("二级指标", kind="header"), Cell("三级指标", kind="header"), Cell("指标值", colspan=3, kind="header"),
        None, None, Cell("指标值确定依据", kind="header"), Cell("指标分类", kind="header"))
    form.header_rows["long_term"] = [start]
    body = len(form.rows)
    for lv1, lv2, lv3, value, basis, category in long_term:
        row(None, Cell(lv1, kind="label"), Cell(lv2, kind="label"), Cell(lv3, kind="label"),
            Cell(value, colspan=3, kind="value"), None, None, Cell(basis), Cell(category))
    _merge_labels(form, body, len(form.rows))
    form.sections["long_term"] = (start, len(form.rows) - 1)

    _text_row(form, row, "annual_goal", "年度目标", texts["annual_goal"])

    start = len(form.rows)
    row(Cell("年度绩效指标", rowspan=3 + len(annual), kind="section"), Cell("一级指标", rowspan=3, kind="header"),
        Cell("二级指标", rowspan=3, kind="header"), Cell("三级指标", rowspan=3, kind="header"),
        Cell("指标值", colspan=3, kind="header"), None, None, Cell("指标值确定依据", rowspan=3, kind="header"),
        Cell("指标分类", rowspan=3, kind="header"))
    row(None, None, None, None, Cell("近两年指标值", colspan=2, kind="header"), None,
        Cell("预期当年实现值", rowspan=2, kind="header"))
    row(None, None, None, None, Cell(f"{year - 2}年", kind="header"), Cell(f"{year - 1}年", kind="header"))
    form.header_rows["annual"] = [start, start + 1, start + 2]
    body = len(form.rows)
    for lv1, lv2, lv3, vals, basis, category in annual:
        row(None, Cell(lv1, kind="label"), Cell(lv2, kind="label"), Cell(lv3, kind="label"),
            *[Cell(v, kind="value") for v in vals], Cell(basis), Cell(category))
    _merge_labels(form, body, len(form.rows))
    form.sections["annual"] = (start, len(form.rows) - 1)
    return form


def _text_row(form: Form, row, key: str, label: str, items: list[str]) -> None:
    form.sections[key] = (len(form.rows), len(form.rows))
    row(Cell(label, kind="section"), Cell(text_of(items), colspan=WIDTH - 1, kind="text"))


def text_of(items: list[str]) -> str:
    """Items as a form prints them: one paragraph as is, several numbered `1. …；2. …`."""
    if len(items) == 1:
        return items[0]
    return "".join(f"{n}. {item}" + ("" if item.endswith("。") or n == len(items) else "；")
                   for n, item in enumerate(items, 1))


def _merge_labels(form: Form, first: int, end: int) -> None:
    """Merge lv1 (col 1) and lv2 (col 2) cells down over equal neighbours, as the software prints groups."""
    labels = [(form.rows[r][1].text, form.rows[r][2].text) for r in range(first, end)]
    for col in (1, 2):
        r = 0
        while r < len(labels):
            n = 1
            while r + n < len(labels) and labels[r + n][:col] == labels[r][:col]:
                n += 1
            form.rows[first + r][col].rowspan = n
            for k in range(1, n):
                form.rows[first + r + k][col] = None
            r += n


def grid_of(form: Form) -> list[list[str]]:
    """The top-left grid a reader should see (merged text in its top-left cell only)."""
    return [[c.text if c else "" for c in row] for row in form.rows]


# ------------------------------------------------------------------ other template families
#
# Each builder lays out one family as its publisher does; the layout stage reads them by their headers
# (pifu.layout.COLUMNS). Rows are given ready to print: labels repeat per row and equal neighbours of
# the level columns are merged here.

def _rows(form: Form):
    def row(*cells: Cell | None) -> list[Cell | None]:
        cells = list(cells) + [None] * (form.width - len(cells))
        form.rows.append(cells)
        return cells
    return row


def _wide(form: Form, row, label: str, text: str, label_span: int = 1, kind: str = "text") -> None:
    row(Cell(label, colspan=label_span, kind="section"), *[None] * (label_span - 1),
        Cell(text, colspan=form.width - label_span, kind=kind))


def _funding_hubei(form: Form, row, funding: list[tuple], year: int, history_headers: tuple[str, str]) -> None:
    """The Hubei funding block (部门总体资金情况) at any width; `history_headers` may be `年`, `年` (left blank)."""
    w = form.width
    start = len(form.rows)
    row(Cell("部门总体资金情况", rowspan=2 + len(funding), kind="section"),
        Cell("总体资金情况", rowspan=2, colspan=3, kind="header"), None, None,
        Cell("当年金额", rowspan=2, kind="header"), Cell("占比", rowspan=2, kind="header"),
        Cell("近两年收支金额", colspan=w - 6, kind="header"))
    row(None, None, None, None, None, None, Cell(history_headers[0], kind="header"),
        Cell(history_headers[1], colspan=w - 7, kind="header"))
    form.header_rows["funding"] = [start, start + 1]
    for i, (flow, item, amount, share, h1, h2) in enumerate(funding):
        first = i == 0 or funding[i - 1][0] != flow
        span = sum(1 for f in funding if f[0] == flow)
        h2.colspan = w - 7
        row(None, Cell(FLOW_LABELS[flow], rowspan=span, kind="label") if first else None,
            Cell(item, colspan=2, kind="label"), None, amount, share, h1, h2)
    form.sections["funding"] = (start, len(form.rows) - 1)


def _merge_columns(form: Form, first: int, end: int, cols: tuple[int, ...]) -> None:
    """Merge the cells of `cols` down over equal neighbours (a column merges only inside its left one's groups)."""
    keys = [tuple(form.rows[r][c].text if form.rows[r][c] else "" for c in cols) for r in range(first, end)]
    for k, col in enumerate(cols, 1):
        r = 0
        while r < len(keys):
            n = 1
            while r + n < len(keys) and keys[r + n][:k] == keys[r][:k]:
                n += 1
            if form.rows[first + r][col] is not None:
                form.rows[first + r][col].rowspan = n
                for j in range(1, n):
                    form.rows[first + r + j][col] = None
            r += n


def build_form_hubei2021(year: int, department: str, filed: str, person: str, phone: str, funding: list[tuple],
                         texts: dict[str, list[str]], long_term: list[tuple], annual: list[tuple],
                         history_blank: bool) -> Form:
    """Hubei 2021 部门整体支出绩效目标申报表: （YYYY年度） under the title, 填报日期 above the table, 填报人 and
    联系电话 beside the name; funding 收入构成 {财政拨款, 其他资金, 合计} / 支出构成 {基本支出, 项目支出, 合计};
    the history columns headed `年` `年` when left blank. Indicators as the Hubei software prints them."""
    form = build_form("部门整体支出绩效目标申报表", department, year, funding, texts, long_term, annual)
    head = [
        [Cell(f"（{year}年度）", colspan=WIDTH, kind="title")] + [None] * (WIDTH - 1),
        [Cell(f"填报日期：{filed}", colspan=4, kind="text"), None, None, None,
         Cell("", colspan=WIDTH - 4, kind="text")] + [None] * (WIDTH - 5),
    ]
    form.rows[1:1] = head
    form.sections = {k: (a + 2, b + 2) for k, (a, b) in form.sections.items()}
    form.header_rows = {k: [r + 2 for r in v] for k, v in form.header_rows.items()}
    name_row = form.rows[3]
    name_row[2] = Cell(department, colspan=2, kind="text")
    name_row[3] = None
    name_row[4], name_row[5] = Cell("填报人", kind="header"), Cell(person, kind="text")
    name_row[6], name_row[7], name_row[8] = Cell("联系电话", kind="header"), Cell(phone, colspan=2, kind="text"), None
    if history_blank:
        for key in ("funding", "annual"):
            last_header = form.header_rows[key][-1]
            for cell in form.rows[last_header]:
                if cell is not None and cell.text.endswith("年") and cell.text[:-1].isdigit():
                    cell.text = "年"
    return form


HUNAN_HEADERS = ("一级指标", "二级指标", "三级指标", "指标值类型", "*指标值", "计量单位", "*指标解释",
                 "*评(扣)分标准", "备注")


def build_form_hunan2023(year: int, department: str, texts: dict[str, list[str]], rows: list[tuple]) -> Form:
    """Hunan 2023 (HTML): no funding block; 部门(单位)名称, *部门(单位)职责, *年度总体绩效目标, then one
    indicator table of nine columns. rows: (lv1, lv2, lv3, 指标值类型, 指标值, 计量单位, 指标解释, 评(扣)分标准, 备注)."""
    form = Form(title=f"{year}年度部门整体支出绩效目标表", width=len(HUNAN_HEADERS))
    row = _rows(form)
    row(Cell(form.title, colspan=form.width, kind="title"))
    _wide(form, row, "部门(单位)名称", department)
    form.sections["functions"] = (len(form.rows), len(form.rows))
    _wide(form, row, "*部门(单位)职责", text_of(texts["functions"]))
    form.sections["annual_goal"] = (len(form.rows), len(form.rows))
    _wide(form, row, "*年度总体绩效目标", text_of(texts["annual_goal"]))
    start = len(form.rows)
    row(*[Cell(h, kind="header") for h in HUNAN_HEADERS])
    form.header_rows["annual"] = [start]
    for r in rows:
        row(*[Cell(t, kind="label" if i < 3 else "value" if i == 4 else "text") for i, t in enumerate(r)])
    _merge_columns(form, start + 1, len(form.rows), (0, 1))
    form.sections["annual"] = (start, len(form.rows) - 1)
    return form


def build_form_fujian2019(year: int, department: str, agency_code: str, budget: list[tuple[str, Cell]],
                          goal: str, duties: list[tuple], rows: list[tuple], year_row: bool,
                          across: bool = False) -> Form:
    """Fujian 2019 (.xls) 部门整体支出绩效目标表: 部门预算编码 beside the name; 年度预算安排（万元） {资金总额,
    项目支出, 基本支出}; 年度总体目标 `目标1：…；目标2：…`; 年度履职目标 (部门职能 | 年度目标任务 | 支出项目名称 |
    预算金额（万元）); indicators 一级指标 | 二级指标 | 三级指标 | 指标解释 | 目标值.
    budget: (item, amount Cell); duties: (function, task, item, amount Cell); rows: (lv1, lv2, lv3, 解释, 目标值).
    `across`: the budget items side by side over a row of amounts instead of one row each."""
    form = Form(title="部门整体支出绩效目标表" if year_row else f"{year}年度部门整体支出绩效目标表", width=6)
    row = _rows(form)
    row(Cell(form.title, colspan=6, kind="title"))
    if year_row:
        row(Cell(f"（{year}年度）", colspan=6, kind="title"))
    row(Cell("部门名称", kind="section"), Cell(department, colspan=2, kind="text"), None,
        Cell("部门预算编码", kind="header"), Cell(agency_code, colspan=2, kind="text"))
    start = len(form.rows)
    if across:
        blank = form.width - 1 - len(budget)  # empty cells after the items (a None would claim a merge)
        row(Cell("年度预算安排（万元）", rowspan=2, kind="section"), *[Cell(item, kind="header") for item, _ in budget],
            *[Cell("") for _ in range(blank)])
        row(None, *[amount for _, amount in budget], *[Cell("") for _ in range(blank)])
    for i, (item, amount) in enumerate(budget if not across else []):
        amount.colspan = 3
        row(Cell("年度预算安排（万元）", rowspan=len(budget), kind="section") if i == 0 else None,
            Cell(item, colspan=2, kind="label"), None, amount)
    form.sections["funding"] = (start, len(form.rows) - 1)
    form.sections["annual_goal"] = (len(form.rows), len(form.rows))
    _wide(form, row, "年度总体目标", goal)
    start = len(form.rows)
    row(Cell("年度履职目标", rowspan=1 + len(duties), kind="section"), Cell("部门职能", kind="header"),
        Cell("年度目标任务", kind="header"), Cell("支出项目名称", colspan=2, kind="header"), None,
        Cell("预算金额（万元）", kind="header"))
    form.header_rows["duty_targets"] = [start]
    for function, task, item, amount in duties:
        row(None, Cell(function, kind="label"), Cell(task, kind="label"), Cell(item, colspan=2, kind="text"), None,
            amount)
    _merge_columns(form, start + 1, len(form.rows), (1, 2))
    form.sections["duty_targets"] = (start, len(form.rows) - 1)
    start = len(form.rows)
    row(Cell("年度绩效指标", rowspan=1 + len(rows), kind="section"), Cell("一级指标", kind="header"),
        Cell("二级指标", kind="header"), Cell("三级指标", kind="header"), Cell("指标解释", kind="header"),
        Cell("目标值", kind="header"))
    form.header_rows["annual"] = [start]
    for lv1, lv2, lv3, explanation, value in rows:
        row(None, Cell(lv1, kind="label"), Cell(lv2, kind="label"), Cell(lv3, kind="label"), Cell(explanation),
            Cell(value, kind="value"))
    _merge_columns(form, start + 1, len(form.rows), (1, 2))
    form.sections["annual"] = (start, len(form.rows) - 1)
    return form


GRID_HEADERS = ("指标名称", "前年指标值", "上年指标值", "计算符号", "指标值", "计量单位", "指标值确定依据", "备注",
                "指标内容", "评(扣)分标准", "权重")


def build_form_hubei_grid(year: int, department: str, funding: list[tuple], texts: dict[str, list[str]],
                          tree: list[tuple]) -> Form:
    """The Hubei budget software's own indicator grid: 指标名称 holds the tree (a row per first- and
    second-level group, then the indicators), then 前年/上年指标值, 计算符号, 指标值, 计量单位, 指标值确定依据,
    备注, 指标内容, 评(扣)分标准, 权重. tree: ("group", name) or ("item", name, [the other ten cells])."""
    width = 1 + len(GRID_HEADERS)
    form = Form(title=f"{year}年部门整体绩效目标", width=width)
    row = _rows(form)
    row(Cell(form.title, colspan=width, kind="title"))
    _wide(form, row, "部门（单位）名称", department, label_span=2)
    _funding_hubei(form, row, funding, year, (f"{year - 2}年", f"{year - 1}年"))
    for key, label in (("functions", "部门职能概述"), ("annual_tasks", "年度工作任务"), ("annual_goal", "年度目标")):
        form.sections[key] = (len(form.rows), len(form.rows))
        _wide(form, row, label, text_of(texts[key]))
    start = len(form.rows)
    row(Cell("", kind="header"), *[Cell(h, kind="header") for h in GRID_HEADERS])
    form.header_rows["annual"] = [start]
    for entry in tree:
        if entry[0] == "group":
            # a group row: the name, then empty cells (a None would claim a merged cell covers them)
            row(None, Cell(entry[1], kind="label"), *[Cell("") for _ in GRID_HEADERS[1:]])
        else:
            _, name, rest = entry
            row(None, Cell(name, kind="label"),
                *[Cell(t, kind="value" if i in (0, 1, 3) else "text") for i, t in enumerate(rest)])
    form.rows[start][0] = Cell("年度绩效指标", rowspan=len(form.rows) - start, kind="section")
    for r in range(start + 1, len(form.rows)):
        form.rows[r][0] = None
    form.sections["annual"] = (start, len(form.rows) - 1)
    return form


def department_of(form: Form) -> str:
    """The department's name as the form states it: the first text cell right of the 名称 label (row and
    column differ by family: a year row or a date row above it, a label one or two columns wide)."""
    for row in form.rows:
        label = next((c for c in row if c is not None), None)
        if label is not None and label.kind == "section" and "名称" in label.text:
            return next((c.text for c in row if c is not None and c.kind == "text"), "")
    return ""


def year_of(form: Form) -> int:
    """The fiscal year the form states: in its title (2025年…) or in a title row under it (（2021年度）)."""
    import re

    for text in [form.title] + [c.text for row in form.rows for c in row if c is not None and c.kind == "title"]:
        m = re.search(r"(\d{4})年", text)
        if m:
            return int(m.group(1))
    raise ValueError(f"no year in the form titled {form.title!r}")
