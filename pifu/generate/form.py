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
