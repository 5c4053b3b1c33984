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


# ---------------------------------------------------------------- indicator rows split by content

def _split_rows_plain(rows, horizon, n_values, known, r, dated=frozenset()):
    """`layout._split_rows` as it read before its short cuts: the cells before 依据 sliced out as `middle`
    and every split built by the class."""
    from pifu import values

    out = []
    for row in rows:
        cells = row.texts
        if row.line in dated:
            cells = [t for t in cells if not values.parse_year(t)]
        if len(cells) < 4:
            r.note("unreadable_row", "error", r.at(row.line),
                   f"indicator row with {len(cells)} cell(s) {cells!r}: needs labels, a value, 依据 and 分类; dropped")
            continue
        category, basis, middle = cells[-1], cells[-2], cells[:-2]
        if values.parse_target(basis).value is not None:
            r.note("missing_basis", "warning", r.at(row.line), "no 指标值确定依据 on this row")
            basis, middle = None, cells[:-1]
        n = 1
        if n_values > 1 and len(middle) > 2:
            n = layout._count_values(middle, n_values, known, row, r)
        labels, vals = middle[:-n], middle[-n:]
        if len(labels) > 3:
            r.note("extra_cells", "warning", r.at(row.line), f"{len(labels)} label cells {labels!r}; kept the last three")
            labels = labels[-3:]
        if len(vals) < n_values:
            r.note("missing_values", "info", r.at(row.line),
                   f"{len(vals)} value(s) for {n_values} year(s); right-aligned on the current year")
        out.append(layout.IndicatorRow(horizon, row.line, labels, vals, basis, category,
                                       [None] * (3 - len(labels)) + labels, layout._EXPLICIT[len(labels)]))
    return out


_LABELS = ["产出指标", "数量指标", "生活垃圾无害化处理率", "城区道路机扫率", "满意度", "服务对象满意度指标", "联系部门满意度",
           "公用经费控制率", "困难残疾人生活补贴发放率", "城区道路机扫"]
_VALUES = ["100%", "≥95%", "９８％", "3个", "—", "-", "健全", "按时完成", ">=20个", "0", "1103人", "明显"]
_BASES = ["计划标准", "历史标准", "行业标准", "98%"]
_CATEGORIES = ["绩效基本型", "绩效发展型", "绩效基"]


def _random_rows(rng, count):
    from pifu.layout import Row

    rows = []
    for line in range(1, count + 1):
        texts = (rng.sample(_LABELS, rng.randint(0, 5)) + [rng.choice(_VALUES) for _ in range(rng.randint(0, 4))]
                 + rng.sample(_BASES, rng.randint(0, 1)) + rng.sample(_CATEGORIES, rng.randint(0, 1)))
        if rng.random() < 0.1:
            texts.insert(rng.randint(0, len(texts)), rng.choice(["2019年", "2020年度"]))
        rng.shuffle(texts) if rng.random() < 0.2 else None
        rows.append(Row.of_cells(line, list(enumerate(texts))))
    return rows


@pytest.mark.parametrize("seed", range(40))
def test_split_rows_reads_as_the_plain_slicing(seed):
    import random

    rng = random.Random(seed)
    rows = _random_rows(rng, 60)
    dated = {row.line for row in rows if any("年" in t for t in row.texts)}
    for horizon, n_values in ((layout.LONG_TERM, 1), (layout.ANNUAL, 3), (layout.ANNUAL, 2)):
        known = layout.Known(set(rng.sample(_LABELS, 4)), set(rng.sample(_VALUES, 4)))
        fast_r, plain_r = layout.Reader("x.txt"), layout.Reader("x.txt")
        fast = layout._split_rows(rows, horizon, n_values, known, fast_r, dated)
        plain = _split_rows_plain(rows, horizon, n_values, layout.Known(known.labels, known.values), plain_r, dated)
        assert fast == plain
        assert fast_r.problems == plain_r.problems


# ---------------------------------------------------------------- merged labels spread down

def _spread_plain(sections, merges):
    """`layout._spread_merged_labels` as it read before: each covered row's cells taken apart in Python."""
    covering = {}
    by_row = {row.line - 1: row for key in (layout.LONG_TERM, layout.ANNUAL) for row in sections.get(key, ())}
    for r0, c0, r1, _ in merges:
        if r1 <= r0 or r0 not in by_row:
            continue
        text = dict(by_row[r0].cells).get(c0)
        if text and text not in layout.INDICATOR_HEADERS and not layout.section_of(text):
            for line in range(r0 + 2, r1 + 2):
                covering.setdefault(line, []).append((c0, text))
    for key in (layout.LONG_TERM, layout.ANNUAL):
        for row in sections.get(key, []):
            extra = covering.get(row.line)
            if extra and not any(t in layout.INDICATOR_HEADERS for t in row.texts):
                taken = {c for c, _ in row.cells}
                row.cells = sorted(row.cells + [(c, t) for c, t in extra if c not in taken])
                row.texts = [t for _, t in row.cells]


def test_merged_labels_spread_as_the_plain_loop():
    import random

    from pifu.layout import Row

    words = _LABELS + _VALUES + ["一级指标", "指标值", "年度绩效指标"]

    def sections(seed):
        rng = random.Random(seed)
        rows = [Row.of_cells(line, sorted((c, rng.choice(words)) for c in rng.sample(range(8), rng.randint(1, 6))))
                for line in range(1, 31)]
        return {layout.LONG_TERM: rows[:12], layout.ANNUAL: rows[12:]}

    changed = 0
    for seed in range(40):
        rng = random.Random(seed)
        merges = tuple((r0, rng.randrange(8), r0 + rng.randint(-1, 4), 0)
                       for r0 in (rng.randrange(30) for _ in range(25)))
        fast, plain, before = sections(seed), sections(seed), sections(seed)
        layout._spread_merged_labels(fast, merges)
        _spread_plain(plain, merges)
        assert [[(row.line, row.cells, row.texts) for row in rows] for rows in fast.values()] == \
            [[(row.line, row.cells, row.texts) for row in rows] for rows in plain.values()], seed
        changed += any(row.cells != old.cells for key in fast for row, old in zip(fast[key], before[key]))
    assert changed >= 20  # the merges reached rows (a loop that did nothing would pass the comparison)


@pytest.mark.parametrize("skip", [0, 1, 2])
def test_row_cells_skip_the_first_texts(skip):
    """A grid row's (column, text) cells, built on demand, leave out its first `skip` non-empty cells (a
    section label's) as its texts do."""
    from pifu.layout import Row

    raw = ["", "年度绩效指标", "", "产出指标", "数量指标", "", "100%", ""]
    texts = [t for t in raw if t][skip:]
    row = Row(7, raw, texts, skip)
    assert row.cells == [(c, t) for c, t in enumerate(raw) if t][skip:]
    assert row.last_column() == 6
