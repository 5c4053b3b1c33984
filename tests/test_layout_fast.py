"""The layout's and the text reader's short cuts against the plain code they stand in for.

Each short cut must give exactly what the plain way gives: checked on hand-made rows that reach the
unusual branches and on generated forms of every family.
"""
from __future__ import annotations

import pytest

from pifu import layout
from pifu.generate import FAMILIES, generate
from pifu.readers import text as text_reader

_HEADER_ROWS = [
    "2021年部门整体绩效目标批复",
    "部门预算编码：\u3000301007\t填报日期：2021年3月1日",
    " 填报人 \t张三\t联系电话\t\v13800000000 ",
    "\x00联系人：李四\t\t经办人：王五 手机：13900000000",
    "年度绩效指标\t联系部门满意度\t≥95%\t\t",
    "\t\t电话\t\t027-1234567\t",
]


def _generated_texts(tmp_path_factory) -> list[str]:
    texts = []
    for family in FAMILIES:
        out = tmp_path_factory.mktemp(f"text-{family}")
        for path in generate(6 if family == "hubei" else 2, out, seed=5, fmt="text", family=family):
            texts.append(text_reader.decode(path.read_bytes(), str(path))[0])
    return texts


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_a_text_grid_searched_in_its_text_scrubs_as_its_joined_cells(newline):
    """`scrub_header_fields` searches a text export's own text (`text.Lines`) for the header fields'
    words: the fields taken and the cells blanked must be those found by joining the cells."""
    raw = newline.join(_HEADER_ROWS * 2)
    grid = text_reader.to_grid(raw)
    assert isinstance(grid, text_reader.Lines) and grid.text.count("\n") == len(grid) - 1
    fast = layout.scrub_header_fields(grid)
    plain = layout.scrub_header_fields([list(row) for row in grid])
    assert fast == plain
    assert fast[1] == {"agency_code": "301007", "filed_on": "2021-03-01"}


def test_generated_text_forms_scrub_as_their_joined_cells(tmp_path_factory):
    for raw in _generated_texts(tmp_path_factory):
        grid = text_reader.to_grid(raw)
        assert layout.scrub_header_fields(grid) == layout.scrub_header_fields([list(row) for row in grid])
