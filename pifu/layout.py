"""Layout: a grid of cells -> a Document, reading by content, not by column position.

Real exports lose their merged cells: rows shift left or right, a hierarchy label sits on one row of
its group (not always the first), a page break repeats the section label, long labels are cut short,
the year header shares a row with data. Every repair made here is recorded as a Problem.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache
from dataclasses import dataclass, field

from pifu import texts, values
from pifu.model import (
    ANNUAL, EXPENDITURE, INCOME, LONG_TERM, Document, DocumentError, FundingLine, IndicatorValue, Problem, Source,
)
from pifu.readers import Grid, Merge

SECTIONS = {
    "部门名称": "department", "单位名称": "department", "部门单位名称": "department",
    "部门总体资金情况": "funding",
    "部门职能概述": "functions", "部门职能": "functions",
    "年度工作任务": "annual_tasks", "年度主要工作任务": "annual_tasks",
    "长期目标": "long_term_goal", "中长期目标": "long_term_goal",
    "年度目标": "annual_goal",
    "长期绩效指标": LONG_TERM, "中长期绩效指标": LONG_TERM,
    "年度绩效指标": ANNUAL,
}
TEXT_KEYS = ("functions", "annual_tasks", "long_term_goal", "annual_goal")
ITEMS = {
    "财政拨款": INCOME, "财政专户管理资金": INCOME, "单位资金": INCOME,
    "人员类项目支出": EXPENDITURE, "运转类项目支出": EXPENDITURE, "特定目标类项目支出": EXPENDITURE,
}
TOTAL = "合计"
FLOW_LABELS = {"收入构成": INCOME, "收入": INCOME, "支出构成": EXPENDITURE, "支出": EXPENDITURE}
FUNDING_HEADERS = frozenset({"总体资金情况", "当年金额", "占比", "近两年收支金额", "金额", "项目"})
INDICATOR_HEADERS = frozenset({
    "一级指标", "二级指标", "三级指标", "指标值", "指标值确定依据", "指标分类", "近两年指标值",
    "预期当年实现值", "当年指标值", "预期实现值", "年度指标值",
})
_TITLE = re.compile(r"((?:19|20)\d{2})\s*年(?:度)?.*?部门整体绩效目标")
_OTHER_FORMS = re.compile(r"项目支出绩效目标|项目绩效目标|绩效自评|评价报告")
_UNTIL_YEAR = re.compile(r"截[止至]\s*((?:19|20)\d{2})\s*年")
_LABEL_NOISE = re.compile(r"[\s:：]|[（(][^）)]*[）)]")


@lru_cache(maxsize=4096)
def section_of(cell: str) -> str | None:
    """`长期目标： （截止2025年）` -> long_term_goal; a cell that is not a section label -> None."""
    if len(cell) > 40:
        return None
    return SECTIONS.get(_LABEL_NOISE.sub("", unicodedata.normalize("NFKC", cell)))


@dataclass
class Row:
    line: int  # 1-based line in the file
    cells: list[tuple[int, str]]  # (column, text) of the non-empty cells
    texts: list[str] = field(init=False)

    def __post_init__(self):
        self.texts = [t for _, t in self.cells]


@dataclass
class Reader:
    """The state of one parse: where the problems go."""

    path: str
    where: Callable[[int], str] = lambda line: f"line {line}"
    problems: list[Problem] = field(default_factory=list)

    def at(self, line: int) -> str:
        """Where grid row `line` came from, in the file's own terms (line 41, sheet X R12, page 2 row 7)."""
        return self.where(line)

    def note(self, code: str, severity: str, where: str, message: str) -> None:
        self.problems.append(Problem(code, severity, where, message))


def read_document(grid: Grid, source: Source, where: Callable[[int], str] | None = None,
                  merges: tuple[Merge, ...] = ()) -> Document:
    """`where(row)` names a grid row (1-based) for problems; by default `line N`. `merges`: the merged
    ranges of a format that keeps them (the text stands in the top-left cell)."""
    r = Reader(source.path, where) if where else Reader(source.path)
    preamble, sections = split_sections(grid, r)
    if merges:
        _spread_merged_labels(sections, merges)
    fiscal_year = read_fiscal_year(preamble, sections, r)
    department = read_department(sections, r)
    if not sections.get("funding"):
        raise DocumentError(source.path, "no 部门总体资金情况 (funding) rows: the file is truncated or not a 批复",
                            "truncated")
    if not sections.get(ANNUAL):
        # The 年度绩效指标 table closes every 批复; a file without it was cut short.
        raise DocumentError(source.path, "no 年度绩效指标 rows: the file is truncated", "truncated")
    if not sections.get(LONG_TERM):
        r.note("missing_section", "warning", "document", "no 长期绩效指标 section")
    funding = read_funding(sections["funding"], fiscal_year, r)
    indicators = read_indicators(sections.get(LONG_TERM, []), sections[ANNUAL], fiscal_year, r)
    last_line = sections[ANNUAL][-1].line
    if any(p.code == "unreadable_row" and p.where == r.at(last_line) for p in r.problems):
        raise DocumentError(source.path, f"the last row ({r.at(last_line)}) is cut off: the file is truncated",
                            "truncated")
    doc_texts = {key: texts.items("\n".join(t for row in sections.get(key, []) for t in row.texts))
                 for key in TEXT_KEYS}
    return Document(source=source, department=department, fiscal_year=fiscal_year, funding=funding,
                    indicators=indicators, texts=doc_texts, problems=r.problems)


_LABEL = {LONG_TERM: "长期绩效指标", ANNUAL: "年度绩效指标"}


def split_sections(grid: Grid, r: Reader) -> tuple[list[Row], dict[str, list[Row]]]:
    """Rows by section. The label row's other cells belong to the section; a repeated label
    (a page break) is dropped and its row continues the section."""
    preamble: list[Row] = []
    sections: dict[str, list[Row]] = {}
    current: list[Row] = preamble
    key = None
    for i, raw in enumerate(grid, 1):
        cells = [(c, t) for c, t in enumerate(raw) if t]
        if not cells:
            continue
        found = section_of(cells[0][1])
        if found:
            cells = cells[1:]
            if found == key:
                r.note("page_break", "info", r.at(i), f"section label {_LABEL.get(found, found)} repeated "
                       "(a page break); dropped")
            elif found in sections:
                r.note("section_repeated", "warning", r.at(i),
                       f"section {found} appears again after another section; its rows are appended")
            key = found
            current = sections.setdefault(found, [])
        if cells:
            current.append(Row(i, cells))
    return preamble, sections


def _spread_merged_labels(sections: dict[str, list[Row]], merges: tuple[Merge, ...]) -> None:
    """A label merged down over a group is known on every row it covers, not guessed by carrying it:
    indicator rows get the text of each vertical merge that covers them (section labels and headers are
    not labels of the rows below them)."""
    covering: dict[int, list[tuple[int, str]]] = {}
    top: dict[tuple[int, int], str] = {}
    for key in (LONG_TERM, ANNUAL):
        for row in sections.get(key, []):
            for c, t in row.cells:
                top[row.line - 1, c] = t
    for r0, c0, r1, c1 in merges:
        text = top.get((r0, c0))
        if r1 > r0 and text and text not in INDICATOR_HEADERS and not section_of(text):
            for line in range(r0 + 2, r1 + 2):  # rows below the top one, as 1-based lines
                covering.setdefault(line, []).append((c0, text))
    for key in (LONG_TERM, ANNUAL):
        for row in sections.get(key, []):
            extra = covering.get(row.line)
            if extra and not any(t in INDICATOR_HEADERS for t in row.texts):
                taken = {c for c, _ in row.cells}
                row.cells = sorted(row.cells + [(c, t) for c, t in extra if c not in taken])
                row.texts = [t for _, t in row.cells]


def read_fiscal_year(preamble: list[Row], sections: dict[str, list[Row]], r: Reader) -> int:
    for row in preamble:
        for t in row.texts:
            m = _TITLE.search(values.ascii_fold(t))
            if m:
                return int(m.group(1))
    title = next((t for row in preamble for t in row.texts), "")
    if _OTHER_FORMS.search(title):
        raise DocumentError(r.path, f"titled {title[:40]!r}: not a 部门整体绩效目标批复", "not_a_document")
    if "funding" not in sections:
        first = title or next((t for rows in sections.values() for row in rows for t in row.texts), "")
        raise DocumentError(r.path, f"no 部门整体绩效目标批复 title and no 部门总体资金情况 section "
                            f"(first text: {first[:40]!r})", "not_a_document")
    for rows in sections.values():
        for row in rows:
            for t in row.texts:
                m = _UNTIL_YEAR.search(t)
                if m:
                    r.note("inferred_year", "warning", r.at(row.line),
                           f"no title with the fiscal year; took {m.group(1)} from {t[:30]!r}")
                    return int(m.group(1))
    raise DocumentError(r.path, "no fiscal year: the title 'YYYY年部门整体绩效目标批复' is missing", "no_fiscal_year")


def read_department(sections: dict[str, list[Row]], r: Reader) -> str:
    for row in sections.get("department", []):
        if row.texts:
            return row.texts[0]
    raise DocumentError(r.path, "no 部门（单位）名称: the department is not named", "no_department")


# --- funding ---------------------------------------------------------------------------------------------------

def read_funding(rows: list[Row], fiscal_year: int, r: Reader) -> list[FundingLine]:
    amount_col = _header_column(rows, "当年金额")
    history_years: list[int] = []
    parsed = []  # (row, flow, item, amounts, share, had_year_header)
    flow_context = None
    last_item_flow = None
    for row in rows:
        year_cells = [y for y in (values.parse_year(t) for t in row.texts) if y]
        history_years += [y for y in year_cells if y not in history_years]
        item, flow, numbers = None, None, []
        for col, t in row.cells:
            if t in FLOW_LABELS:
                flow_context = FLOW_LABELS[t]
            elif item is None:
                if t in FUNDING_HEADERS or values.parse_year(t):
                    continue
                if _is_number(t):
                    r.note("unreadable_cell", "warning", r.at(row.line), f"{t!r} stands before any item; ignored")
                    continue
                item, flow = _funding_item(t, row, r)
            elif not values.parse_year(t):
                numbers.append((col, t))
        if item is None:
            continue
        if item == TOTAL:
            flow = last_item_flow or flow_context
        elif flow is None:
            flow = flow_context
            r.note("unknown_item", "warning", r.at(row.line),
                   f"funding item {item!r} is not a standard item; filed under {flow or 'no flow'}")
        if flow is None:
            r.note("unreadable_row", "error", r.at(row.line),
                   f"funding row {item!r} belongs to no flow (收入构成/支出构成); dropped")
            continue
        last_item_flow = flow
        parsed.append((row, flow, item, numbers, bool(year_cells)))
        if amount_col is not None and numbers and numbers[0][0] != amount_col:
            _note_shift(r, row, numbers[0][0] - amount_col)

    if len(history_years) < 2:
        history_years = [fiscal_year - 2, fiscal_year - 1]
        r.note("inferred_year", "warning", "funding", f"no year header for the history amounts; "
               f"read them as {history_years[0]} and {history_years[1]}")
    history_years = sorted(history_years)[-2:]

    lines: list[FundingLine] = []
    seen = set()
    for row, flow, item, numbers, had_year_header in parsed:
        amount, share, history = _funding_numbers(numbers, row, item, r)
        if amount is None:
            r.note("unreadable_row", "error", r.at(row.line), f"funding row {item!r} has no amount; dropped")
            continue
        if (flow, item) in seen:
            r.note("duplicate_row", "warning", r.at(row.line), f"funding {flow}/{item} appears twice; kept the first")
            continue
        seen.add((flow, item))
        lines.append(FundingLine(flow, item, fiscal_year, amount, share, row.line, r.at(row.line)))
        if had_year_header and not history:
            r.note("year_header_in_row", "info", r.at(row.line),
                   f"the year header shares the {item} row; it holds no history amounts for "
                   f"{history_years[0]} and {history_years[1]}")
        if len(history) == 1:
            r.note("ambiguous_history", "warning", r.at(row.line),
                   f"{item}: one history amount for two years; read as {history_years[-1]}")
        for year, amount_h in zip(history_years[-len(history):] if history else [], history):
            lines.append(FundingLine(flow, item, year, amount_h, None, row.line, r.at(row.line)))
    return lines


def _funding_item(text: str, row: Row, r: Reader) -> tuple[str, str | None]:
    if text == TOTAL or text in ITEMS:
        return text, ITEMS.get(text)
    matches = [name for name in (*ITEMS, TOTAL) if name.startswith(text) and len(text) >= 2]
    if len(matches) == 1:
        r.note("label_completed", "info", r.at(row.line), f"funding item {text!r} cut short; read as {matches[0]!r}")
        return matches[0], ITEMS.get(matches[0])
    return text, None


def _funding_numbers(numbers, row: Row, item: str, r: Reader):
    """amount, share, history… in reading order; the share is the cell with a % sign."""
    amount, share, history = None, None, []
    for _, t in numbers:
        s = values.parse_share(t)
        if s is not None and amount is not None and share is None and not history:
            share = s
            continue
        a = values.parse_amount(t)
        if a is None:
            r.note("unreadable_cell", "warning", r.at(row.line), f"{item}: {t!r} is not an amount; ignored")
        elif amount is None:
            amount = a
        else:
            history.append(a)
    if len(history) > 2:
        r.note("extra_cells", "warning", r.at(row.line), f"{item}: {len(history)} history amounts; kept the last two")
        history = history[-2:]
    return amount, share, history


def _is_number(t: str) -> bool:
    return values.parse_amount(t) is not None or values.parse_share(t) is not None


def _header_column(rows: list[Row], header: str) -> int | None:
    for row in rows:
        for col, t in row.cells:
            if t == header:
                return col
    return None


def _note_shift(r: Reader, row: Row, by: int) -> None:
    side = "left" if by < 0 else "right"
    r.note("row_shifted", "info", r.at(row.line), f"row shifted {side} by {abs(by)} column(s); read by content")


# --- indicators ------------------------------------------------------------------------------------------------

@dataclass
class IndicatorRow:
    horizon: str
    line: int
    labels: list[str]  # explicit labels, 1 to 3, filled from the right
    values: list[str]  # raw values, right-aligned on the years
    basis: str | None
    category: str | None
    levels: list[str | None] = field(default_factory=lambda: [None, None, None])
    explicit: list[bool] = field(default_factory=lambda: [False, False, False])


def read_indicators(long_rows: list[Row], annual_rows: list[Row], fiscal_year: int, r: Reader) -> list[IndicatorValue]:
    nothing = Known(set(), set())
    long_term = [row for row in (_split_row(row, LONG_TERM, 1, nothing, r) for row in _data_rows(long_rows, r)) if row]
    known = Known({t for row in long_term for t in row.labels}, {v for row in long_term for v in row.values})
    years = _annual_years(annual_rows, fiscal_year, r)
    annual = [row for row in (_split_row(row, ANNUAL, len(years), known, r)
                              for row in _data_rows(annual_rows, r)) if row]
    _check_not_cut(long_term + annual, r)
    _place_labels(long_term + annual)
    _complete_labels(long_term + annual, r)
    for rows in (long_term, annual):
        _carry_down(rows)
    _reconcile(long_term, annual, r)
    _reconcile(annual, long_term, r)
    return _values(long_term, [None], r) + _values(annual, years, r)


def _data_rows(rows: list[Row], r: Reader) -> list[Row]:
    """Header rows out; the expected column of 指标分类 in, to report shifted rows."""
    category_col = _header_column(rows, "指标分类")
    out = []
    for row in rows:
        if all(t in INDICATOR_HEADERS or values.parse_year(t) for t in row.texts):
            continue
        if category_col is not None and row.cells[-1][0] != category_col:
            _note_shift(r, row, row.cells[-1][0] - category_col)
        out.append(row)
    return out


def _annual_years(rows: list[Row], fiscal_year: int, r: Reader) -> list[int]:
    history: list[int] = []
    for row in rows:
        for t in row.texts:
            y = values.parse_year(t) if "年" in t else None
            if y and y < fiscal_year and y not in history:
                history.append(y)
    if not history and rows:
        history = [fiscal_year - 2, fiscal_year - 1]
        r.note("inferred_year", "warning", "年度绩效指标",
               f"no year header for the annual values; read them as {history[0]}, {history[1]}, {fiscal_year}")
    return sorted(history) + [fiscal_year]


def _split_row(row: Row, horizon: str, n_values: int, known: Known, r: Reader) -> IndicatorRow | None:
    cells = row.texts
    if horizon == ANNUAL and any("年" in t for t in cells):  # a year header sharing the row
        cells = [t for t in cells if not values.parse_year(t)]
    if len(cells) < 4:
        r.note("unreadable_row", "error", r.at(row.line),
               f"indicator row with {len(cells)} cell(s) {cells!r}: needs labels, a value, 依据 and 分类; dropped")
        return None
    category = cells[-1]
    basis = cells[-2]
    middle = cells[:-2]
    if values.parse_target(basis).numeric:
        # The 指标值确定依据 cell is missing: the cell before 分类 is a value.
        r.note("missing_basis", "warning", r.at(row.line), "no 指标值确定依据 on this row")
        basis, middle = None, cells[:-1]
    n = _count_values(middle, n_values, known, row, r)
    labels, vals = middle[:-n], middle[-n:]
    if len(labels) > 3:
        r.note("extra_cells", "warning", r.at(row.line),
               f"{len(labels)} label cells {labels!r}; kept the last three")
        labels = labels[-3:]
    if len(vals) < n_values:
        r.note("missing_values", "info", r.at(row.line),
               f"{len(vals)} value(s) for {n_values} year(s); right-aligned on the current year")
    return IndicatorRow(horizon, row.line, labels, vals, basis, category)


def _count_values(middle: list[str], n_values: int, known: Known, row: Row, r: Reader) -> int:
    """How many of the cells before 依据 are values. Long-term rows hold one; an annual row holds one per
    year, or fewer when its history is blank: then the cells are scored as label-like or value-like."""
    k = len(middle)
    if n_values == 1 or k <= 2:
        return 1
    low, high = max(1, k - 3), min(n_values, k - 1)
    if low >= high:  # one reading, or more cells than any reading allows (reported by the caller)
        return high

    cell_scores = [_label_score(t, known) for t in middle]
    values_part, labels_part = cell_scores[-n_values:], cell_scores[:-n_values]
    if high == n_values and all(x < 0 for x in values_part) and all(x >= 0 for x in labels_part):
        return n_values  # the usual row: every year's cell is a value, nothing before them is

    def score(v: int) -> int:
        return sum(cell_scores[:-v]) - sum(cell_scores[-v:])

    scored = sorted(((score(v), v) for v in range(low, high + 1)), reverse=True)
    best_score, best = scored[0]
    tied = [v for s, v in scored if s == best_score]
    if best != n_values and len(tied) > 1:
        r.note("ambiguous_row", "warning", r.at(row.line),
               f"cells {middle!r} split as {k - best} label(s) and {best} value(s) by a tie")
    return best


def _label_score(t: str, known: "Known") -> int:
    """+1 looks like a label, -1 looks like a value, 0 cannot tell."""
    score = known.scores.get(t)
    if score is None:
        if values.parse_target(t).numeric or t in values.DASHES or t in known.values:
            score = -1
        elif t in known.labels or t in known.label_prefixes or any(t[:n] in known.labels for n in range(4, len(t))):
            score = 1  # a label, or one side of a label cut short
        else:
            score = 0
        known.scores[t] = score
    return score


@dataclass
class Known:
    """Labels and values of the long-term table (one value a row: unambiguous) to read annual rows by."""

    labels: set[str]
    values: set[str]
    label_prefixes: set[str] = field(init=False)
    scores: dict[str, int] = field(default_factory=dict)

    def __post_init__(self):
        self.label_prefixes = {k[:n] for k in self.labels for n in range(4, len(k))}


def _check_not_cut(rows: list[IndicatorRow], r: Reader) -> None:
    """A file cut inside its last row leaves a row that still parses, with a 分类 that is no category."""
    if len(rows) < 2:
        return
    last, seen = rows[-1], rows[:-1]
    categories = {row.category for row in seen}
    cut_category = any(c != last.category and c.startswith(last.category or "") for c in categories)
    strange = last.category not in categories and last.basis not in {row.basis for row in seen}
    if cut_category or strange:
        raise DocumentError(r.path, f"the last row ({r.at(last.line)}) ends in {last.category!r}, not a 指标分类: "
                            "the file is truncated", "truncated")


def _place_labels(rows: list[IndicatorRow]) -> None:
    """Fill the hierarchy from the right: 3 labels lv1/lv2/lv3, 2 labels lv2/lv3, 1 label lv3."""
    for row in rows:
        for i, label in enumerate(row.labels):
            level = 3 - len(row.labels) + i
            row.levels[level] = label
            row.explicit[level] = True


def _complete_labels(rows: list[IndicatorRow], r: Reader) -> None:
    """A label that is a strict prefix of exactly one other label of its level was cut short."""
    for level in range(3):
        names = sorted({row.levels[level] for row in rows if row.explicit[level]})
        # Two labels printed in the same section are two indicators, however alike.
        together = {(row.horizon, row.levels[level]) for row in rows if row.explicit[level]}
        fixes = {}
        for i, name in enumerate(names):
            longer = []  # the labels that start with `name` follow it in sorted order
            for other in names[i + 1:]:
                if not other.startswith(name):
                    break
                longer.append(other)
            if len(longer) == 1 and not any((h, name) in together and (h, longer[0]) in together
                                            for h in (LONG_TERM, ANNUAL)):
                fixes[name] = longer[0]
        for row in rows:
            full = fixes.get(row.levels[level]) if row.explicit[level] else None
            if full:
                r.note("label_completed", "info", r.at(row.line),
                       f"lv{level + 1} label {row.levels[level]!r} cut short; completed to {full!r}")
                row.levels[level] = full


def _carry_down(rows: list[IndicatorRow]) -> None:
    above: list[str | None] = [None, None]
    for row in rows:
        for level in (0, 1):
            if row.explicit[level]:
                above[level] = row.levels[level]
            else:
                row.levels[level] = above[level]


def _reconcile(rows: list[IndicatorRow], others: list[IndicatorRow], r: Reader) -> None:
    """A merged label printed on the wrong row leaves some rows under the previous group. Where the other
    section prints the same indicator's group explicitly, the explicit label wins over the carried one."""
    by_lv3: dict[str, list[IndicatorRow]] = {}
    for row in others:
        by_lv3.setdefault(row.levels[2], []).append(row)
    for row in rows:
        matches = by_lv3.get(row.levels[2], [])
        if len(matches) != 1:
            continue
        other = matches[0]
        for level in (1, 0):
            if not row.explicit[level] and other.explicit[level] and row.levels[level] != other.levels[level]:
                was = "/".join(str(x) for x in row.levels[:2])
                row.levels[:level + 1] = other.levels[:level + 1]
                r.note("hierarchy_reassigned", "warning", r.at(row.line),
                       f"{row.levels[2]!r} was under {was} by position; the other section ({r.at(other.line)}) "
                       f"puts it under {'/'.join(str(x) for x in row.levels[:2])}")
                break
    for row in rows:
        if row.levels[0] is None or row.levels[1] is None:
            r.note("missing_hierarchy", "warning", r.at(row.line),
                   f"{row.levels[2]!r} has no {'一级' if row.levels[0] is None else '二级'}指标 above it")


def _values(rows: list[IndicatorRow], years: list[int | None], r: Reader) -> list[IndicatorValue]:
    out: list[IndicatorValue] = []
    seen = set()
    for row in rows:
        lv1, lv2, lv3 = (x or "" for x in row.levels)
        for year, raw in zip(years[-len(row.values):], row.values):
            key = (lv1, lv2, lv3, year)
            if key in seen:
                r.note("duplicate_row", "warning", r.at(row.line),
                       f"indicator {lv1}/{lv2}/{lv3} ({year or row.horizon}) appears twice; kept the first")
                continue
            seen.add(key)
            t = values.parse_target(raw)
            out.append(IndicatorValue(row.horizon, year, lv1, lv2, lv3, raw, t.comparator, t.value, t.unit,
                                      row.basis, row.category, row.line, r.at(row.line)))
    return out
