"""Regressions behind "every family in every format" (issue 10 × issue 9): each test pins one root cause
that the family round-trip tests (tests/test_families.py) would only show as a mismatch."""
from __future__ import annotations

import json
import random

import pytest

from pifu import jsonio, layout
from pifu.generate import dumps_truth, generate_document
from pifu.generate.form import department_of, grid_of, year_of
from pifu.model import Source

FAMILIES = ("hubei", "hubei2021", "hunan2023", "fujian2019", "hubei_grid")


@pytest.fixture
def forms(grid_renderer):
    """Each family's form and truth, taken as the renderer is handed them."""
    def make(family: str, seed: int = 0):
        _, truth = generate_document(random.Random(f"{family}:{seed}"), fmt="grid", family=family)
        return grid_renderer["form"], jsonio.loads(dumps_truth(truth))
    return make


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_form_states_its_year_and_department(family, forms):
    for seed in range(5):
        form, truth = forms(family, seed)
        assert year_of(form) == truth["fiscal_year"]
        assert department_of(form) == truth["department"]


@pytest.mark.parametrize("family", FAMILIES)
def test_a_form_none_is_always_covered_by_a_merged_cell(family, forms):
    """Renderers draw a None as the continuation of a merge; an uncovered None (a Hubei-grid group row,
    Fujian's budget across) made docx and html renderers fail."""
    for seed in range(10):
        form, _ = forms(family, seed)
        covered = {(r + i, c + j) for r, row in enumerate(form.rows) for c, cell in enumerate(row) if cell
                   for i in range(cell.rowspan) for j in range(cell.colspan)}
        assert all(len(row) == form.width for row in form.rows)
        assert [(r, c) for r, row in enumerate(form.rows) for c, cell in enumerate(row)
                if cell is None and (r, c) not in covered] == []


def test_duty_table_under_a_heading_is_not_the_functions_section(forms):
    """Word draws 年度履职目标 as a heading paragraph over a table without the section column: its header
    row then starts with 部门职能, which is also a section label (functions)."""
    form, truth = forms("fujian2019", 1)
    grid = grid_of(form)
    at = next(i for i, row in enumerate(grid) if row[0] == "年度履职目标")
    end = form.sections["duty_targets"][1]
    moved = [["年度履职目标"]] + [row[1:] for row in grid[at:end + 1]]
    grid = grid[:at] + moved + grid[end + 1:]
    doc = layout.read_document(grid, Source("f", "", "grid", None), None, ()).to_dict()
    assert doc["texts"]["functions"] == truth["texts"]["functions"]
    dump = lambda rows: sorted(json.dumps(x, sort_keys=True, default=str) for x in rows)
    assert dump(doc["duty_targets"]) == dump(truth["duty_targets"])


HUNAN_HEAD = ("一级指标", "二级指标", "三级指标", "指标值类型", "*指标值", "计量单位", "*指标解释", "*评(扣)分标准", "备注")


def _tr(*cells: str) -> str:
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def _hunan_page(after: str) -> bytes:
    rows = [("运行成本", "成本控制", "公用经费控制率", "定量", "≤100", "%", "反映公用经费", "未完成不得分", "")]
    more = [("运行成本", "成本控制", "差旅费控制率", "定量", "100", "%", "反映差旅费", "未完成不得分", ""),
            ("满意度", "服务对象满意度", "群众满意度", "定量", "≥90", "%", "反映满意度", "未完成不得分", "")]
    head = ('<table border="1"><tr><td colspan="9">2025年度部门整体支出绩效目标表</td></tr>'
            + '<tr><td>部门(单位)名称</td><td colspan="8">某区档案馆</td></tr>'
            + '<tr><td>*部门(单位)职责</td><td colspan="8">负责档案管理。</td></tr>'
            + '<tr><td>*年度总体绩效目标</td><td colspan="8">提升服务水平。</td></tr>'
            + _tr(*HUNAN_HEAD) + "".join(_tr(*r) for r in rows) + "</table>")
    tail = '<p>&nbsp;</p><table border="1">' + "".join(_tr(*r) for r in more) + "</table>"
    return f"<html><body>{head}{after.format(tail=tail)}</body></html>".encode()


def test_html_table_continued_after_a_page_break_without_headers():
    """Hunan's indicator table has no section column: a page break that repeats no header leaves a table
    of bare indicator rows, which the HTML reader must join to the form (it joined only form-like ones)."""
    import pifu

    doc = pifu.parse_bytes(_hunan_page("{tail}"), "p.html")
    assert [i.lv3 for i in doc.indicators] == ["公用经费控制率", "差旅费控制率", "群众满意度"]
    # a table of another width after the form is not the form's
    other = '<table border="1"><tr><td>序号</td><td>附件名称</td></tr><tr><td>1</td><td>a.pdf</td></tr></table>'
    doc = pifu.parse_bytes(_hunan_page(other), "p.html")
    assert [i.lv3 for i in doc.indicators] == ["公用经费控制率"]


def test_docx_drops_the_grid_column_a_misaligned_border_adds():
    """Word adds a grid column where one cell's border is out of line; the table must keep the form's
    columns or a table continuing it (without that border) no longer lines up with its headers."""
    from pifu.readers.docx import _drop_jagged_columns

    grid = [["before"], ["h1", "h2", "", "h3"], ["a", "b", "", "c"], ["x", "y", "", "z"]]
    merges = [[1, 1, 1, 2], [3, 1, 3, 2]]  # row 2's cell is the one cut in two
    _drop_jagged_columns(grid, merges, 1, 0)
    assert grid == [["before"], ["h1", "h2", "h3"], ["a", "b", "c"], ["x", "y", "z"]]
    assert [m for m in merges if m[2] > m[0] or m[3] > m[1]] == []  # (1×1 ranges are dropped when read)
    # the cut cell's empty part spanned two columns: what is left joins the cell on its left
    grid = [["h1", "h2", "", "", "h3"], ["a", "b", "", "", "c"]]
    merges = [[0, 1, 0, 3], [1, 2, 1, 3]]
    _drop_jagged_columns(grid, merges, 0, 0)
    assert grid == [["h1", "h2", "", "h3"], ["a", "b", "", "c"]]
    assert sorted(merges) == [[0, 1, 0, 2], [1, 1, 1, 2]]
    # a column nothing spans over is the form's own, even when all its cells are blank
    grid = [["a", "", "1"], ["b", "", "2"]]
    _drop_jagged_columns(grid, [], 0, 0)
    assert grid == [["a", "", "1"], ["b", "", "2"]]


@pytest.mark.parametrize("family", FAMILIES)
def test_spreadsheet_plan_draws_every_family(family, forms):
    """The workbook plan found 合计 rows at a fixed column and needed a funding block (Hunan has none)."""
    from pifu.generate.render.workbook import plan

    formulas = 0
    for seed in range(12):
        form, truth = forms(family, seed)
        damage: set[str] = set()
        sheets = plan(form, random.Random(seed), damage)
        for sheet in sheets:
            if sheet.name in ("封面", "说明", "目录"):
                assert truth["department"] in [v.value for v in sheet.cells.values()]
        formulas += sum(1 for sheet in sheets for v in sheet.cells.values() if v.formula)
    if family != "hunan2023" and family != "fujian2019":  # Fujian states 资金总额 first, not a 合计 below
        assert formulas


@pytest.mark.parametrize("family", ("fujian2019", "hunan2023", "hubei_grid"))
def test_a_repeated_header_a_column_off_moves_the_columns(family, forms):
    """A continuation table drawn without the section column (its label a heading above it) repeats the
    column headers one column left of the first part's: the rows below follow the repeated header."""
    form, truth = forms(family, 2)
    grid = grid_of(form)
    first, last = form.sections["annual"]
    header = form.header_rows["annual"][0]
    cut = (header + 1 + last) // 2 + 1
    offset = 1 if family != "hunan2023" else 0  # Hunan has no section column: shift right instead
    move = (lambda row: row[1:]) if offset else (lambda row: [""] + row)
    grid = grid[:cut] + [["年度绩效指标"], move(grid[header])] + [move(row) for row in grid[cut:last + 1]] + grid[last + 1:]
    doc = layout.read_document(grid, Source("f", "", "grid", None), None, ()).to_dict()
    dump = lambda rows: sorted(json.dumps({k: str(v) for k, v in x.items() if k not in ("line", "where")},
                                          sort_keys=True) for x in rows)
    assert dump(doc["indicators"]) == dump(truth["indicators"])
