"""Whatever the bytes or the cells, the result is a Document or a DocumentError: nothing else."""
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pifu
from pifu import layout
from pifu.model import Document, DocumentError, Source

SRC = Source("prop.txt", "0" * 64, "text", "utf-8")
WORDS = ["", "", "部门总体资金情况", "长期绩效指标", "年度绩效指标", "部门（单位）名称", "2025年部门整体绩效目标批复",
         "收入构成", "支出构成", "财政拨款", "合计", "人员类项目支出", "100%", "49.96%", "998.71", "-", "2023年", "2024年",
         "一级指标", "指标分类", "运行成本", "公用经费控制", "≥23人", "健全", "计划标准", "绩效基本型", "年度目标",
         "<p>1. a；2. b</p>", "长期目标", "０", "1,058.85", "abc"]
cells = st.one_of(st.sampled_from(WORDS), st.text(max_size=12))
grids = st.lists(st.lists(cells, max_size=10), max_size=40)


def _check(result):
    assert isinstance(result, Document)
    assert isinstance(result.department, str) and isinstance(result.fiscal_year, int)
    result.to_dict()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_arbitrary_bytes(data):
    try:
        _check(pifu.parse_bytes(data, "prop.bin"))
    except DocumentError as e:
        assert "\n" not in str(e) and e.reason


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(grids)
def test_arbitrary_grids(grid):
    try:
        _check(layout.read_document(grid, SRC))
    except DocumentError as e:
        assert "\n" not in str(e) and e.reason


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_sample_with_random_cells_damaged(sample_path, data):
    grid = [line.split("\t") for line in sample_path.read_text(encoding="utf-8").split("\n")]
    for _ in range(data.draw(st.integers(0, 8))):
        i = data.draw(st.integers(0, len(grid) - 1))
        row = grid[i]
        action = data.draw(st.sampled_from(["drop_cell", "blank", "replace", "drop_row", "dup_row"]))
        if action == "drop_row":
            del grid[i]
        elif action == "dup_row":
            grid.insert(i, list(row))
        elif row:
            j = data.draw(st.integers(0, len(row) - 1))
            if action == "drop_cell":
                del row[j]
            else:
                row[j] = "" if action == "blank" else data.draw(cells)
    try:
        _check(layout.read_document(grid, SRC))
    except DocumentError as e:
        assert "\n" not in str(e) and e.reason
