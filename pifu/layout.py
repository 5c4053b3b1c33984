"""Layout: a grid of cells -> a Document, reading by content, not by column position.

Real exports lose their merged cells: rows shift left or right, a hierarchy label sits on one row of
its group (not always the first), a page break repeats the section label, long labels are cut short,
the year header shares a row with data. Every repair made here is recorded as a Problem.
"""
from __future__ import annotations

import bisect
import re
import unicodedata
from collections import Counter
from collections.abc import Callable
from operator import add, itemgetter
from itertools import accumulate, compress, count, filterfalse, islice, repeat
from dataclasses import dataclass, field

from pifu import texts, values
from pifu.values import memo
from pifu.model import (
    ANNUAL, EXPENDITURE, INCOME, LONG_TERM, Document, DocumentError, DutyTarget, FundingLine, IndicatorValue,
    Problem, Source,
)
from pifu.readers import Grid, Merge

SECTIONS = {
    "部门名称": "department", "单位名称": "department", "部门单位名称": "department",
    "部门总体资金情况": "funding", "年度预算安排": "funding", "部门整体资金情况": "funding",
    "部门职能概述": "functions", "部门职能": "functions", "部门职责": "functions",
    "年度工作任务": "annual_tasks", "年度主要工作任务": "annual_tasks",
    "长期目标": "long_term_goal", "中长期目标": "long_term_goal",
    "年度目标": "annual_goal", "年度总体目标": "annual_goal", "年度总体绩效目标": "annual_goal",
    "年度履职目标": "duty_targets",
    "长期绩效指标": LONG_TERM, "中长期绩效指标": LONG_TERM,
    "年度绩效指标": ANNUAL, "绩效指标": ANNUAL,
}
TEXT_KEYS = ("functions", "annual_tasks", "long_term_goal", "annual_goal")
TOTAL = "合计"
# Funding items -> their standard class (contract §4), so BI compares templates: the item keeps its name
# as written, the class says what it is. Keys are folded like headers (see `_fold`: 其中, colons, brackets out).
ITEM_CLASSES = {
    "财政拨款": "fiscal_appropriation", "财政拨款收入": "fiscal_appropriation",
    "一般公共预算拨款": "fiscal_appropriation", "一般公共预算财政拨款": "fiscal_appropriation",
    "财政专户管理资金": "special_account", "财政专户管理资金收入": "special_account",
    "单位资金": "unit_funds",
    "其他资金": "other_funds", "其他收入": "other_funds",
    "人员类项目支出": "personnel", "人员类项目": "personnel", "人员类支出": "personnel",
    "运转类项目支出": "operating", "运转类项目": "operating", "运转类支出": "operating",
    "特定目标类项目支出": "specific_purpose", "特定目标类项目": "specific_purpose",
    "基本支出": "basic", "项目支出": "project",
    "合计": "total", "总计": "total", "资金总额": "total", "收入合计": "total", "支出合计": "total",
}
INCOME_CLASSES = frozenset({"fiscal_appropriation", "special_account", "unit_funds", "other_funds"})
# The items of the Hubei software, completed when a text export cuts them short.
ITEMS = {
    "财政拨款": INCOME, "财政专户管理资金": INCOME, "单位资金": INCOME,
    "人员类项目支出": EXPENDITURE, "运转类项目支出": EXPENDITURE, "特定目标类项目支出": EXPENDITURE,
}
# First-level indicators of both vocabularies -> one standard class (contract §4).
LV1_CLASSES = {
    "运行成本": "cost", "成本指标": "cost", "成本": "cost",
    "管理效率": "management",
    "履职效能": "effectiveness",
    "社会效应": "social_effect",
    "可持续发展能力": "sustainability", "可持续影响": "sustainability", "可持续影响指标": "sustainability",
    "产出指标": "output", "产出": "output",
    "效益指标": "outcome", "效益": "outcome",
    "满意度指标": "satisfaction", "满意度": "satisfaction", "服务对象满意度": "satisfaction",
    "服务对象满意度指标": "satisfaction",
}
# ONE synonym table for indicator columns: header text (folded: asterisks, spaces, widths, colons out)
# -> its roles by preference (a second column of a taken role gets the next). A new template is an entry
# here. value_y2 / value_y1: the values of fiscal year -2 / -1.
COLUMNS = {
    "一级指标": ("lv1",), "二级指标": ("lv2",),
    "三级指标": ("lv3",), "指标名称": ("lv3",), "指标内容": ("lv3", "explanation"),
    "指标值": ("value",), "目标值": ("value",), "年度指标值": ("value",), "当年指标值": ("value",),
    "本年指标值": ("value",), "年度目标值": ("value",), "预期当年实现值": ("value",),
    "前年指标值": ("value_y2",), "上年指标值": ("value_y1",),
    "计量单位": ("unit",), "度量单位": ("unit",),
    "计算符号": ("comparator",),
    "指标值确定依据": ("basis",), "确定依据": ("basis",),
    "指标分类": ("category",),
    "权重": ("weight",), "分值": ("weight",), "权重(%)": ("weight",), "权重%": ("weight",),
    "指标解释": ("explanation",), "指标说明": ("explanation",),
    "评(扣)分标准": ("scoring_rule",), "评分标准": ("scoring_rule",), "评扣分标准": ("scoring_rule",),
    "备注": ("remark",),
    "指标值类型": ("value_type",),
}
_LEGACY_ROLES = frozenset({"lv1", "lv2", "lv3", "value", "basis", "category"})
_LEVEL_ROLES = frozenset({"lv1", "lv2", "lv3"})
_VALUE_ROLES = {"value_y2": -2, "value_y1": -1, "value": 0}  # role -> year offset from the fiscal year
# The 年度履职目标 table's columns (folded, brackets out).
DUTY_COLUMNS = {
    "部门职能": "function", "职能": "function", "部门职责": "function",
    "年度目标任务": "task", "目标任务": "task", "年度任务": "task",
    "支出项目名称": "item", "项目名称": "item", "支出项目": "item",
    "预算金额": "amount", "金额": "amount", "预算资金": "amount",
}
FLOW_LABELS = {"收入构成": INCOME, "收入": INCOME, "支出构成": EXPENDITURE, "支出": EXPENDITURE}
FUNDING_HEADERS = frozenset({"总体资金情况", "当年金额", "占比", "近两年收支金额", "金额", "项目", "年", "年度",
                             "资金来源", "支出类别", "金额(万元)", "当年金额(万元)"})
INDICATOR_HEADERS = frozenset({
    "一级指标", "二级指标", "三级指标", "指标值", "指标值确定依据", "指标分类", "近两年指标值",
    "预期当年实现值", "当年指标值", "预期实现值", "年度指标值",
})
_TITLE = re.compile(r"((?:19|20)\d{2})\s*年(?:度)?.*?部门整体(?:支出)?绩效目标")
_FORM_TITLE = re.compile(r"部门整体(?:支出)?绩效目标")
_YEAR_CELL = re.compile(r"[(（]\s*((?:19|20)\d{2})\s*年度?\s*[)）]|^((?:19|20)\d{2})\s*年度$")
_OTHER_FORMS = re.compile(r"项目支出绩效目标|项目绩效目标|绩效自评|评价报告")
_UNTIL_YEAR = re.compile(r"截[止至]\s*((?:19|20)\d{2})\s*年")
_LABEL_NOISE = re.compile(r"[\s:：*＊]|[（(][^）)]*[）)]")


@memo(maxsize=4096)
def section_of(cell: str) -> str | None:
    """`长期目标： （截止2025年）` -> long_term_goal; a cell that is not a section label -> None."""
    if len(cell) > 40:
        return None
    return SECTIONS.get(_LABEL_NOISE.sub("", unicodedata.normalize("NFKC", cell)))


class Row:
    """A grid row's non-empty cells: `cells` (column, text) and `texts` (the same texts in order).

    A row of the grid keeps its raw cells and builds `cells` the first time it is asked: the indicator
    rows read by content (most rows of a form) only ever need their texts and last column."""

    __slots__ = ("line", "texts", "_cells", "_raw", "_skip")

    def __init__(self, line: int, raw: list[str], texts: list[str], skip: int):
        """The row of grid cells `raw` whose non-empty `texts` are given, less its first `skip` of them."""
        self.line = line  # 1-based line in the file
        self.texts = texts
        self._cells = None
        self._raw = raw
        self._skip = skip

    @classmethod
    def of_cells(cls, line: int, cells: list[tuple[int, str]]) -> Row:
        row = cls.__new__(cls)
        row.line, row.texts, row._cells = line, [t for _, t in cells], cells
        return row

    @property
    def cells(self) -> list[tuple[int, str]]:
        cells = self._cells
        if cells is None:
            columns = compress(count(), self._raw)  # the columns of the non-empty cells
            if self._skip:  # (a section label's row: most rows skip nothing, and build no range to say so)
                columns = islice(columns, self._skip, None)
            cells = self._cells = list(zip(columns, self.texts))
        return cells

    @cells.setter
    def cells(self, cells: list[tuple[int, str]]) -> None:
        self._cells = cells

    def last_column(self) -> int:
        if self._cells is not None:
            return self._cells[-1][0]
        raw = self._raw
        c = len(raw) - 1
        while not raw[c]:
            c -= 1
        return c


class _Names(dict):
    """Grid row -> where it came from, in the file's own terms, each row's name built once (a row of three
    years' values is named for each of them). A dict, so a name already built is looked up without a call."""

    def __init__(self, where: Callable[[int], str]):
        super().__init__()
        self.where = where

    def __missing__(self, line: int) -> str:
        name = self[line] = self.where(line)
        return name


def _line_name(line: int) -> str:
    return f"line {line}"


class _LineNames(dict):
    """`line N` for the grids whose rows are the file's lines: the same names in every file, so one dict
    serves every parse (bounded: a huge file's names past the first thousands are built each time)."""

    def __missing__(self, line: int) -> str:
        name = _line_name(line)
        if len(self) < 4096:
            self[line] = name
        return name


_LINE_NAMES = _LineNames()


@dataclass
class Reader:
    """The state of one parse: where the problems go."""

    path: str
    where: Callable[[int], str] = _line_name
    problems: list[Problem] = field(default_factory=list)
    names: dict[int, str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.names = _LINE_NAMES if self.where is _line_name else _Names(self.where)

    def at(self, line: int) -> str:
        """Where grid row `line` came from (line 41, sheet X R12, page 2 row 7)."""
        return self.names[line]

    def note(self, code: str, severity: str, where: str, message: str) -> None:
        self.problems.append(Problem(code, severity, where, message))


def read_document(grid: Grid, source: Source, where: Callable[[int], str] | None = None,
                  merges: tuple[Merge, ...] = ()) -> Document:
    """`where(row)` names a grid row (1-based) for problems; by default `line N`. `merges`: the merged
    ranges of a format that keeps them (the text stands in the top-left cell)."""
    r = Reader(source.path, where) if where else Reader(source.path)
    grid, fields = scrub_header_fields(grid)
    preamble, sections = split_sections(grid, r)
    if merges:
        _spread_merged_labels(sections, merges)
    fiscal_year = read_fiscal_year(preamble, sections, r)
    department = read_department(sections, r)
    if not sections.get(ANNUAL) and not sections.get(LONG_TERM):
        if not sections.get("funding"):
            raise DocumentError(source.path, "no 部门总体资金情况 (funding) rows: the file is truncated or not a 批复",
                                "truncated")
        # The indicator table closes every 批复; a file without it was cut short.
        raise DocumentError(source.path, "no 年度绩效指标 rows: the file is truncated", "truncated")
    if not sections.get(ANNUAL):
        raise DocumentError(source.path, "no 年度绩效指标 rows: the file is truncated", "truncated")
    if not sections.get("funding"):
        r.note("missing_section", "info", "document", "no funding block (部门总体资金情况/年度预算安排)")
    single = not sections.get(LONG_TERM) and _header_started(sections[ANNUAL])
    if not sections.get(LONG_TERM) and not single and not _column_table(sections[ANNUAL]):
        r.note("missing_section", "warning", "document", "no 长期绩效指标 section")
    funding = read_funding(sections.get("funding", []), fiscal_year, r)
    indicators = read_indicators(sections.get(LONG_TERM, []), sections[ANNUAL], fiscal_year, r)
    last_line = sections[ANNUAL][-1].line
    if any(p.code == "unreadable_row" and p.where == r.at(last_line) for p in r.problems):
        raise DocumentError(source.path, f"the last row ({r.at(last_line)}) is cut off: the file is truncated",
                            "truncated")
    doc_texts = {key: texts.items("\n".join([t for row in sections.get(key, []) for t in row.texts]))
                 for key in TEXT_KEYS}
    duty = read_duty_targets(sections.get("duty_targets", []), r)
    return Document(source=source, department=department, fiscal_year=fiscal_year, funding=funding,
                    indicators=indicators, texts=doc_texts, problems=r.problems,
                    agency_code=fields.get("agency_code"), filed_on=fields.get("filed_on"), duty_targets=duty)


# --- header fields and personal data ---------------------------------------------------------------------------

# Contact data of a person is never kept: the cell is blanked before anything reads the grid, and so is
# the value cell after a bare label. Codes and dates beside them are taken first.
_PERSONAL = ("填报人", "联系人", "联系电话", "电话", "手机", "经办人", "联系方式")
_HINT_WORDS = ("填报", "联系", "电话", "手机", "经办", "预算编码")
_LABEL_WORDS = ("部门预算编码", "预算编码", "填报日期", "填报人", "联系人", "联系电话", "电话", "手机", "经办人", "联系方式")
_LABELS_HERE = re.compile("(" + "|".join(_LABEL_WORDS) + ")"
                          r"(?:\s*[:：]\s*|\s*$|\s+(?=\S))")
_CODE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z\-]{1,29}")


def scrub_header_fields(grid: Grid) -> tuple[Grid, dict[str, str]]:
    """(the grid without personal contact data, {agency_code, filed_on}). Rows are copied only where a
    cell changes; a grid without such cells comes back as it is."""
    fields: dict[str, str] = {}
    out = grid
    # One search over the whole grid finds the rows with a hint (a hint never spans two rows); a third of
    # the forms have none, the others one or two. The rows holding any hint word are the rows where the
    # regex matches; str.find per word finds them several times faster than the alternation's scan.
    whole = getattr(grid, "text", None)  # (a text export's grid: the text it was split from, see text.Lines)
    if whole is None:
        whole = "\n".join(map("\t".join, grid))
    found = []
    for word in _HINT_WORDS:
        at = whole.find(word)
        while at >= 0:
            found.append(at)
            at = whole.find(word, at + 1)
    for i in _rows_at(whole, grid, found) if found else ():
        row = grid[i]
        new = list(row)
        c = 0
        while c < len(new):
            t = new[c]
            # only a cell starting with a label has pieces (most cells of the row: an indicator 联系部门满意度),
            # told by one C prefix test instead of a regex search
            if t and t.lstrip().startswith(_LABEL_WORDS):
                pieces = _label_pieces(t)
                bare = len(pieces) == 1 and not pieces[0][1]
                for label, value in pieces:
                    if bare:  # the value stands in the next non-empty cell
                        n = next((k for k in range(c + 1, len(new)) if new[k]), None)
                        value = new[n] if n is not None and not _LABELS_HERE.match(new[n]) else ""
                        if value and (label in _PERSONAL or label.endswith("编码") or label == "填报日期"):
                            new[n] = ""
                    _take_field(label, value, fields)
                if pieces:
                    new[c] = ""
            c += 1
        if new != row:
            if out is grid:
                out = list(grid)
            out[i] = new
    return out, fields


def _rows_at(whole: str, grid: Grid, positions: list[int]) -> list[int]:
    """The indexes of the rows of `grid` (their cells joined by tabs, the rows by line breaks into `whole`)
    holding the given positions, in order. Where no cell holds a line break (never in a text export), a row's
    index is the count of breaks before it, counted on from the previous position."""
    if whole.count("\n") != len(grid) - 1:
        lines = map("\t".join, grid)
        starts = list(accumulate(map(add, map(len, lines), repeat(1)), initial=0))  # (len + 1 for the \n, in C)
        return sorted({bisect.bisect_right(starts, at) - 1 for at in positions})
    rows = set()
    row = counted = 0
    for at in sorted(positions):
        row += whole.count("\n", counted, at)
        counted = at
        rows.add(row)
    return sorted(rows)


def _label_pieces(cell: str) -> list[tuple[str, str]]:
    """`填报日期：2020年12月15日 填报人：张三` -> [(填报日期, 2020年12月15日), (填报人, 张三)]; [] when the cell
    does not start with such a label (a text that merely mentions one stays)."""
    t = cell.strip()
    found = list(_LABELS_HERE.finditer(t))
    if not found or found[0].start() != 0:
        return []
    return [(m.group(1), t[m.end():found[k + 1].start() if k + 1 < len(found) else len(t)].strip())
            for k, m in enumerate(found)]


def _take_field(label: str, value: str, fields: dict[str, str]) -> None:
    if label.endswith("编码"):
        m = _CODE.match(values.ascii_fold(value))
        if m and "agency_code" not in fields:
            fields["agency_code"] = m.group(0)
    elif label == "填报日期":
        day = values.parse_date(value)
        if day and "filed_on" not in fields:
            fields["filed_on"] = day


_LABEL = {LONG_TERM: "长期绩效指标", ANNUAL: "年度绩效指标"}


def split_sections(grid: Grid, r: Reader) -> tuple[list[Row], dict[str, list[Row]]]:
    """Rows by section. The label row's other cells belong to the section; a repeated label
    (a page break) is dropped and its row continues the section. A row of indicator column headers
    outside an indicator section starts the indicator table of a form without a section label
    (Hunan's, the Hubei software's grid)."""
    preamble: list[Row] = []
    sections: dict[str, list[Row]] = {}
    current: list[Row] = preamble
    key = None
    in_table = False  # key is an indicator section
    new_row = object.__new__
    for i, raw in enumerate(grid, 1):
        # the non-empty cells and their columns, filtered in C (a Python loop per cell was a fifth of a
        # text parse)
        texts_ = list(filter(None, raw))
        if not texts_:
            continue
        skip = 0
        found = section_of(texts_[0])
        if found is not None and found == "functions" and key == "duty_targets" and _duty_header(texts_):
            found = None  # 部门职能 heads the 年度履职目标 table's first column (its label a heading above)
        if found is None:  # (most rows)
            if not in_table and _starts_table(texts_):
                key, in_table = ANNUAL, True
                current = sections.setdefault(ANNUAL, [])
        else:
            skip = 1
            texts_ = texts_[1:]
            if found == key:
                r.note("page_break", "info", r.at(i), f"section label {_LABEL.get(found, found)} repeated "
                       "(a page break); dropped")
            elif found in sections:
                r.note("section_repeated", "warning", r.at(i),
                       f"section {found} appears again after another section; its rows are appended")
            key, in_table = found, found in (LONG_TERM, ANNUAL)
            current = sections.setdefault(found, [])
            if not texts_:
                continue
        row = new_row(Row)  # (Row.__init__ written out: the call through type() cost more than the row;
        row.line = i  # one store a field, not a tuple to unpack)
        row.texts = texts_
        row._cells = None
        row._raw = raw
        row._skip = skip
        current.append(row)
    return preamble, sections


@memo(maxsize=4096)
def fold(text: str) -> str:
    """A header as the synonym tables know it: NFKC, no spaces, asterisks (required-column marks) or
    trailing colons."""
    return re.sub(r"[\s*:]", "", unicodedata.normalize("NFKC", text)).replace("＊", "")


@memo(maxsize=4096)
def roles_of(header: str) -> tuple[str, ...] | None:
    return COLUMNS.get(fold(header))


def _starts_table(texts_: list[str]) -> bool:
    """An indicator header row: a level column first and a value column among at least three known ones."""
    if len(texts_) < 3 or (roles_of(texts_[0]) or ("",))[0] not in _LEVEL_ROLES:
        return False
    roles = {x for t in texts_ for x in (roles_of(t) or ())}
    return len(roles) >= 3 and bool(roles & set(_VALUE_ROLES))


def _duty_header(texts_: list[str]) -> bool:
    """The 年度履职目标 table's column headers (部门职能 | 年度目标任务 | 支出项目名称 | 预算金额)."""
    return sum(1 for t in texts_ if _LABEL_NOISE.sub("", fold(t)) in DUTY_COLUMNS) >= 3


def _header_started(rows: list[Row]) -> bool:
    return bool(rows) and _starts_table(rows[0].texts)


_second = itemgetter(1)  # a (column, text) cell's text


def _spread_merged_labels(sections: dict[str, list[Row]], merges: tuple[Merge, ...]) -> None:
    """A label merged down over a group is known on every row it covers, not guessed by carrying it:
    indicator rows get the text of each vertical merge that covers them (section labels and headers are
    not labels of the rows below them)."""
    covering: dict[int, list[tuple[int, str]]] = {}
    # indicator rows by grid row; a merge's text is looked up in its top row's cells (a dict of each row
    # only when a tall merge starts there)
    by_row = {row.line - 1: row for key in (LONG_TERM, ANNUAL) for row in sections.get(key, ())}
    tops: dict[int, dict[int, str]] = {}
    for r0, c0, r1, c1 in merges:
        if r1 <= r0 or r0 not in by_row:
            continue
        top = tops.get(r0)
        if top is None:
            top = tops[r0] = dict(by_row[r0].cells)
        text = top.get(c0)
        if r1 > r0 and text and text not in INDICATOR_HEADERS and not section_of(text):
            for line in range(r0 + 2, r1 + 2):  # rows below the top one, as 1-based lines
                covering.setdefault(line, []).append((c0, text))
    for key in (LONG_TERM, ANNUAL):
        for row in sections.get(key, []):
            extra = covering.get(row.line)
            if extra and INDICATOR_HEADERS.isdisjoint(row.texts):  # (the row's cells taken apart in C)
                cells = row.cells
                taken = dict(cells)  # column -> text
                cells = row.cells = sorted(cells + [(c, t) for c, t in extra if c not in taken])
                row.texts = list(map(_second, cells))


def read_fiscal_year(preamble: list[Row], sections: dict[str, list[Row]], r: Reader) -> int:
    for row in preamble:
        for t in row.texts:
            m = _TITLE.search(values.ascii_fold(t))
            if m:
                return int(m.group(1))
    if any(_FORM_TITLE.search(t) for row in preamble for t in row.texts):
        # 部门整体支出绩效目标申报表 with the year beside it: （2021年度）
        for row in preamble:
            for t in row.texts:
                m = _YEAR_CELL.search(values.ascii_fold(t))
                if m:
                    return int(m.group(1) or m.group(2))
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
    """Items as written, each with its standard class; the flow from its block (收入构成 -> income,
    支出构成 -> expenditure) or, in a block without flow labels (年度预算安排), from the class of its items."""
    rows = _unpivot(rows, r)
    amount_col = _header_column(rows, "当年金额")
    history_years: list[int] = []
    parsed = []  # [row, flow, item, class, numbers, had_year_header]
    flow_context = None
    last_item_flow = None
    parse_amount, parse_share = values.parse_amount, values.parse_share
    for row in rows:
        # only a row holding 年 can name a year (most rows: one C search instead of a call per cell)
        year_cells = [y for y in map(values.parse_year, row.texts) if y] if "年" in "".join(row.texts) else []
        history_years += [y for y in year_cells if y not in history_years]
        item, flow, cls, numbers = None, None, None, []
        for col, t in row.cells:
            if t in FLOW_LABELS:
                flow_context = FLOW_LABELS[t]
            elif item is None:
                if _funding_header(t) or values.parse_year(t):
                    continue
                if _is_number(t):
                    r.note("unreadable_cell", "warning", r.at(row.line), f"{t!r} stands before any item; ignored")
                    continue
                item, flow, cls = _funding_item(t, row, r)
            elif parse_amount(t) is not None or parse_share(t) is not None or not (
                    values.parse_year(t) or _funding_header(t)):  # (_is_number written out: once per amount)
                # an amount or share is never a year (no 年) nor a header: asked first, the cached number
                # parse answers without a header lookup per amount (amounts are unique to each form)
                numbers.append((col, t))
        if item is None:
            continue
        if cls == "total":
            flow = last_item_flow or flow_context  # None before any item: the block's items decide below
        elif flow is None:
            flow = flow_context
            r.note("unknown_item", "warning", r.at(row.line),
                   f"funding item {item!r} is not a standard item; filed under {flow or 'no flow'}")
        if flow is None and cls != "total":
            r.note("unreadable_row", "error", r.at(row.line),
                   f"funding row {item!r} belongs to no flow (收入构成/支出构成); dropped")
            continue
        if flow is not None:
            last_item_flow = flow
        parsed.append([row, flow, item, cls, numbers, bool(year_cells)])
        if amount_col is not None and numbers and numbers[0][0] != amount_col:
            _note_shift(r, row, numbers[0][0] - amount_col)
    for i, entry in enumerate(parsed):  # a total stated before its items (资金总额 first) takes their flow
        if entry[1] is None:
            entry[1] = next((e[1] for e in parsed[i + 1:] if e[1] is not None), None)
            if entry[1] is None:
                r.note("unreadable_row", "error", r.at(entry[0].line),
                       f"funding row {entry[2]!r} belongs to no flow (收入构成/支出构成); dropped")
    parsed = [e for e in parsed if e[1] is not None]

    has_history = any(len(e[4]) > 2 or (len(e[4]) == 2 and values.parse_share(e[4][1][1]) is None)
                      for e in parsed)
    if len(history_years) < 2:
        history_years = [fiscal_year - 2, fiscal_year - 1]
        if has_history:
            r.note("inferred_year", "warning", "funding", f"no year header for the history amounts; "
                   f"read them as {history_years[0]} and {history_years[1]}")
    history_years = sorted(history_years)[-2:]

    lines: list[FundingLine] = []
    seen = set()
    for row, flow, item, cls, numbers, had_year_header in parsed:
        amount, share, history = _funding_numbers(numbers, row, item, r)
        where = r.at(row.line)
        if amount is None:
            r.note("unreadable_row", "error", where, f"funding row {item!r} has no amount; dropped")
            continue
        if (flow, item) in seen:
            r.note("duplicate_row", "warning", where, f"funding {flow}/{item} appears twice; kept the first")
            continue
        seen.add((flow, item))
        lines.append(FundingLine(flow, item, fiscal_year, amount, share, row.line, where, cls))
        if had_year_header and not history:
            r.note("year_header_in_row", "info", where,
                   f"the year header shares the {item} row; it holds no history amounts for "
                   f"{history_years[0]} and {history_years[1]}")
        if len(history) == 1:
            r.note("ambiguous_history", "warning", where,
                   f"{item}: one history amount for two years; read as {history_years[-1]}")
        for year, amount_h in zip(history_years[-len(history):] if history else [], history):
            lines.append(FundingLine(flow, item, year, amount_h, None, row.line, where, cls))
    return lines


def _unpivot(rows: list[Row], r: Reader) -> list[Row]:
    """Items laid out across (`年度预算安排 | 资金总额 | 基本支出 | 项目支出` over a row of amounts) become one row
    per item, each on the line of its amount."""
    out: list[Row] = []
    k = 0
    while k < len(rows):
        row = rows[k]
        below = rows[k + 1] if k + 1 < len(rows) else None
        # every cell an item (at least two), every cell below a number; most rows fail at their first cell
        # (`texts` are the cells' texts: the cells are built only for a row laid out across). An amount is
        # never an item: the usual row (an item, then its amounts) is told by its second cell, whose number
        # is parsed for the row's reading anyway, not by an item lookup of a text unique to this form.
        texts_ = row.texts
        if len(texts_) >= 2 and below is not None and not _is_number(texts_[1]) and all(
                map(item_class_of, texts_)) and all(map(_is_number, below.texts)):
            amounts = dict(below.cells)
            for c, t in row.cells:
                if c in amounts:
                    out.append(Row.of_cells(below.line, [(c, t), (c + 1, amounts[c])]))
                else:
                    r.note("unreadable_row", "error", r.at(below.line), f"funding item {t!r} has no amount below it")
            k += 2
            continue
        out.append(row)
        k += 1
    return out


_ITEM_NOISE = re.compile(r"^其中|[\s:：]|[（(][^）)]*[）)]")


@memo(maxsize=4096)
def _funding_header(t: str) -> bool:
    return t in FUNDING_HEADERS or _LABEL_NOISE.sub("", t) in FUNDING_HEADERS or fold(t) in FUNDING_HEADERS


@memo(maxsize=1024)
def item_class_of(item: str) -> str | None:
    return ITEM_CLASSES.get(_ITEM_NOISE.sub("", unicodedata.normalize("NFKC", item)))


def _funding_item(text: str, row: Row, r: Reader) -> tuple[str, str | None, str | None]:
    """(item as written, flow by its class or None, class or None); a total is named 合计."""
    cls = item_class_of(text)
    if cls is None:
        matches = [name for name in (*ITEMS, TOTAL) if name.startswith(text) and len(text) >= 2]
        if len(matches) == 1:
            r.note("label_completed", "info", r.at(row.line),
                   f"funding item {text!r} cut short; read as {matches[0]!r}")
            text, cls = matches[0], ITEM_CLASSES[matches[0]]
    if cls is None:
        return text, None, None
    if cls == "total":
        return TOTAL, None, cls
    return text, INCOME if cls in INCOME_CLASSES else EXPENDITURE, cls


def _funding_numbers(numbers, row: Row, item: str, r: Reader):
    """amount, share, history… in reading order; the share is the cell with a % sign."""
    amount, share, history = None, None, []
    for _, t in numbers:
        # (parse_share's own first test, asked here: most numbers are amounts, each new to the cache)
        s = values.parse_share(t) if "%" in t or "％" in t else None
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


@memo(maxsize=4096)  # asked of the item cells of every funding row: a hit answers in C
def _is_number(t: str) -> bool:
    return values.parse_amount(t) is not None or values.parse_share(t) is not None


def _header_column(rows: list[Row], header: str) -> int | None:
    for row in rows:
        if header in row.texts:
            return row.cells[row.texts.index(header)][0]
    return None


def _note_shift(r: Reader, row: Row, by: int) -> None:
    side = "left" if by < 0 else "right"
    r.note("row_shifted", "info", r.at(row.line), f"row shifted {side} by {abs(by)} column(s); read by content")


# --- indicators ------------------------------------------------------------------------------------------------

@dataclass(slots=True)
class IndicatorRow:
    horizon: str
    line: int
    labels: list[str]  # explicit labels, 1 to 3, filled from the right
    values: list[str]  # raw values, right-aligned on the years
    basis: str | None
    category: str | None
    levels: list[str | None] = field(default_factory=lambda: [None, None, None])
    explicit: tuple[bool, ...] = (False, False, False)


def read_indicators(long_rows: list[Row], annual_rows: list[Row], fiscal_year: int, r: Reader) -> list[IndicatorValue]:
    """A table whose columns the content reading cannot tell apart (another template: 计量单位, 指标解释, 前年指标值
    …, or a column pifu does not know) is read by its headers; the Hubei tables by content."""
    long_header, annual_header = _column_table(long_rows), _column_table(annual_rows)
    if long_header is None and annual_header is None:
        return _read_by_content(long_rows, annual_rows, fiscal_year, r)
    out: list[IndicatorValue] = []
    if long_rows:
        out += (read_table(long_rows, long_header, LONG_TERM, fiscal_year, r) if long_header
                else _read_by_content(long_rows, [], fiscal_year, r))
    if annual_header:
        out += read_table(annual_rows, annual_header, ANNUAL, fiscal_year, r)
    else:
        out += _read_by_content([], annual_rows, fiscal_year, r)
    return out


def _read_by_content(long_rows: list[Row], annual_rows: list[Row], fiscal_year: int, r: Reader) -> list[IndicatorValue]:
    nothing = Known(set(), set())
    long_term = _split_rows(_data_rows(long_rows, r), LONG_TERM, 1, nothing, r)
    known = Known({t for row in long_term for t in row.labels}, {v for row in long_term for v in row.values})
    dated = _lines_holding(annual_rows, "年")  # the year headers, and a data row sharing its line with them
    years = _annual_years(annual_rows, fiscal_year, r, dated)
    annual = _split_rows(_data_rows(annual_rows, r), ANNUAL, len(years), known, r, dated)
    _check_not_cut(long_term + annual, r)
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
    heading = _heading
    for row in rows:
        texts_ = row.texts
        if not texts_ or heading(texts_[0]) and all(map(heading, texts_)):  # (most rows: a label first)
            continue
        if category_col is not None:
            cells = row._cells
            if cells is None:  # (Row.last_column written out: a call a row was a tenth of this loop)
                raw = row._raw
                last = len(raw) - 1
                while not raw[last]:
                    last -= 1
            else:
                last = cells[-1][0]
            if last != category_col:
                _note_shift(r, row, last - category_col)
        out.append(row)
    return out


@memo(maxsize=4096)
def _heading(t: str) -> bool:
    """A cell of the indicator table's header rows: a column name, a year, or a year left blank."""
    return t in INDICATOR_HEADERS or t in _BLANK_YEARS or bool(values.parse_year(t))


def _lines_holding(rows: list[Row], word: str) -> set[int]:
    """The lines of the rows with `word` (one character) in a cell: a few a table, found with one C search
    over the table's text, not a join and a search per row."""
    joined = ["".join(row.texts) for row in rows]
    starts = list(accumulate(map(len, joined), initial=0))  # where each row starts in the whole text
    whole = "".join(joined)
    lines = set()
    at = whole.find(word)
    while at >= 0:
        k = bisect.bisect_right(starts, at) - 1
        lines.add(rows[k].line)
        at = whole.find(word, starts[k + 1])
    return lines


def _annual_years(rows: list[Row], fiscal_year: int, r: Reader, dated: set[int]) -> list[int]:
    """`dated`: the lines of the rows holding 年 (see `_lines_holding`); no other row can name a year."""
    history: list[int] = []
    for row in rows:
        if row.line not in dated:
            continue
        for t in row.texts:
            y = values.parse_year(t) if "年" in t else None
            if y and y < fiscal_year and y not in history:
                history.append(y)
    blank = sum([t in _BLANK_YEARS for row in rows[:4] for t in row.texts])
    if not history and blank >= 2:
        r.note("history_blank", "info", "年度绩效指标",
               "the history year headers are left blank (`年` `年`): the table holds the current year only")
        return [fiscal_year]
    if not history and rows:
        history = [fiscal_year - 2, fiscal_year - 1]
        r.note("inferred_year", "warning", "年度绩效指标",
               f"no year header for the annual values; read them as {history[0]}, {history[1]}, {fiscal_year}")
    return sorted(history) + [fiscal_year]


def _split_rows(rows: list[Row], horizon: str, n_values: int, known: Known, r: Reader,
                dated: set[int] = frozenset()) -> list[IndicatorRow]:
    """Each row's cells as labels, values, 依据 and 分类; a row that cannot be read is reported and left out.
    `dated`: the lines holding 年 (an annual row may share its line with a year header). One loop for the
    table: the usual row is told here, without a call of its own."""
    out = []
    parse_target, is_value, known_values, at = values.parse_target, _is_value, known.values, r.at
    new_split = object.__new__
    for row in rows:
        cells = row.texts
        if row.line in dated:
            cells = [t for t in cells if not values.parse_year(t)]
        if len(cells) < 4:
            r.note("unreadable_row", "error", at(row.line),
                   f"indicator row with {len(cells)} cell(s) {cells!r}: needs labels, a value, 依据 and 分类; dropped")
            continue
        category = cells[-1]
        basis = cells[-2]
        k = len(cells) - 2  # the cells before 依据: labels, then values (`middle`, sliced only when needed)
        if parse_target(basis)[2] is not None:  # numeric (a Target's value, by index: no attribute lookup)
            # The 指标值确定依据 cell is missing: the cell before 分类 is a value.
            r.note("missing_basis", "warning", at(row.line), "no 指标值确定依据 on this row")
            basis, k = None, k + 1
        # long-term rows (and rows of two cells before 依据) hold one value
        n = 1
        labels = None
        if n_values > 1 and k > 2:
            # (_count_values written out for the usual rows)
            if k - 3 >= n_values:  # three labels and a value a year, or more cells (reported below): one reading
                n = n_values
            elif k - 3 < n_values < k:
                # the usual annual row: one value a year and no value before them (the two slices kept)
                vals, labels = cells[k - n_values:k], cells[:k - n_values]
                if (all(map(is_value, vals)) or known.all_values(vals)) and not any(
                        map(is_value, labels)) and known_values.isdisjoint(labels):
                    n = n_values
                else:
                    n, labels = _count_values(cells[:k], n_values, known, row, r), None
            else:
                n = _count_values(cells[:k], n_values, known, row, r)
        if labels is None:
            labels, vals = cells[:k - n], cells[k - n:k]
        n_labels = len(labels)
        if n_labels > 3:
            r.note("extra_cells", "warning", at(row.line),
                   f"{n_labels} label cells {labels!r}; kept the last three")
            labels = labels[-3:]
            n_labels = 3
        if len(vals) < n_values:
            r.note("missing_values", "info", at(row.line),
                   f"{len(vals)} value(s) for {n_values} year(s); right-aligned on the current year")
        # the hierarchy filled from the right: 3 labels lv1/lv2/lv3, 2 labels lv2/lv3, 1 label lv3
        split = new_split(IndicatorRow)  # (IndicatorRow's __init__ written out, as Row's in split_sections;
        split.horizon = horizon  # one store a field: a tuple of them to unpack cost a tuple a row)
        split.line = row.line
        split.labels = labels
        split.values = vals
        split.basis = basis
        split.category = category
        split.levels = _UNFILLED[n_labels] + labels
        split.explicit = _EXPLICIT[n_labels]
        out.append(split)
    return out


_EXPLICIT = {n: (False,) * (3 - n) + (True,) * n for n in (1, 2, 3)}  # which levels n labels fill, shared
_UNFILLED = {n: [None] * (3 - n) for n in (1, 2, 3)}  # the levels above n labels (copied by the + of a row)


def _count_values(middle: list[str], n_values: int, known: Known, row: Row, r: Reader) -> int:
    """How many of the cells (three or more) before 依据 are values: an annual row holds one per year, or
    fewer when its history is blank: then the cells are scored as label-like or value-like."""
    k = len(middle)
    low, high = max(1, k - 3), min(n_values, k - 1)
    if low >= high:  # one reading, or more cells than any reading allows (reported by the caller)
        return high

    # The usual row: every year's cell is a value, nothing before them is. Telling that needs only whether
    # a cell looks like a value (score -1), not the label scores (+1 / 0), which cost the labels' prefixes.
    if high == n_values and known.all_values(middle[-n_values:]) and known.no_values(middle[:-n_values]):
        return n_values
    cell_scores = [_label_score(t, known) for t in middle]

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
        if known.value_like(t):
            score = -1
        elif t in known.labels or known.cut_short(t) or any(t[:n] in known.labels for n in range(4, len(t))):
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
    scores: dict[str, int] = field(default_factory=dict)
    _sorted: list[str] | None = field(default=None, repr=False)

    def value_like(self, t: str) -> bool:
        return _is_value(t) or t in self.values

    def all_values(self, cells: list[str]) -> bool:
        """Every cell value-like (see `value_like`); `_is_value` answers most cells from its cache without
        a Python call, and the others are looked up among the long-term values in C."""
        return all(map(_is_value, cells)) or self.values.issuperset(filterfalse(_is_value, cells))

    def no_values(self, cells: list[str]) -> bool:
        return not any(map(_is_value, cells)) and self.values.isdisjoint(cells)

    def cut_short(self, t: str) -> bool:
        """`t` is a label cut short: at least 4 characters of a longer label. The labels that start with `t`
        follow it in sorted order, so the first label after `t` tells (no set of every prefix to build)."""
        if len(t) < 4:
            return False
        if self._sorted is None:
            self._sorted = sorted(self.labels)
        after = bisect.bisect_right(self._sorted, t)
        return after < len(self._sorted) and self._sorted[after].startswith(t)


@memo(maxsize=1 << 14)
def _is_value(t: str) -> bool:
    """A number (with its comparator and unit) or a dash: a cell that reads as an indicator's value."""
    if t.isalpha():  # letters only (most labels, new to the cache in each form): no digit, so no number
        return False
    return values.parse_target(t).value is not None or t in values.DASHES


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


def _complete_labels(rows: list[IndicatorRow], r: Reader) -> None:
    """A label that is a strict prefix of exactly one other label of its level was cut short."""
    for level in range(3):
        names = sorted({row.levels[level] for row in rows if row.explicit[level]})
        if not any(map(str.startswith, names[1:], names)):  # no label starts another (most forms): done in C
            continue
        # the labels that start with a name follow it in sorted order: a name with exactly one longer label
        # is followed by that label and then by one that does not start with the name (most forms: none)
        candidates = [(name, other) for name, other, after in zip(names, names[1:], names[2:] + [None])
                      if other.startswith(name) and not (after is not None and after.startswith(name))]
        if not candidates:
            continue
        # Two labels printed in the same section are two indicators, however alike.
        together = {(row.horizon, row.levels[level]) for row in rows if row.explicit[level]}
        fixes = {name: other for name, other in candidates
                 if not any((h, name) in together and (h, other) in together for h in (LONG_TERM, ANNUAL))}
        if not fixes:
            continue
        for row in rows:
            full = fixes.get(row.levels[level]) if row.explicit[level] else None
            if full:
                r.note("label_completed", "info", r.at(row.line),
                       f"lv{level + 1} label {row.levels[level]!r} cut short; completed to {full!r}")
                row.levels[level] = full


def _carry_down(rows: list[IndicatorRow]) -> None:
    """lv1 and lv2 from the row above where not printed; a row's labels fill its levels from the right, so
    an explicit lv1 comes with an explicit lv2."""
    lv1 = lv2 = None
    for row in rows:
        levels, explicit = row.levels, row.explicit
        if explicit[0]:
            lv1, lv2 = levels[0], levels[1]
        elif explicit[1]:
            levels[0], lv2 = lv1, levels[1]
        else:
            levels[0], levels[1] = lv1, lv2


def _reconcile(rows: list[IndicatorRow], others: list[IndicatorRow], r: Reader) -> None:
    """A merged label printed on the wrong row leaves some rows under the previous group. Where the other
    section prints the same indicator's group explicitly, the explicit label wins over the carried one."""
    # the other section's row of each lv3 it prints once (most forms: every lv3 once, told by one count)
    by_lv3 = {row.levels[2]: row for row in others}
    if len(by_lv3) < len(others):
        twice = {lv3 for lv3, n in Counter(row.levels[2] for row in others).items() if n > 1}
        by_lv3 = {lv3: row for lv3, row in by_lv3.items() if lv3 not in twice}
    for row in rows:
        if row.explicit[0]:  # all three levels printed: nothing carried to correct
            continue
        other = by_lv3.get(row.levels[2])
        if other is None or not other.explicit[1]:  # (most rows: the other prints no group either)
            continue
        for level in (1, 0):
            if not row.explicit[level] and other.explicit[level] and row.levels[level] != other.levels[level]:
                was = "/".join(str(x) for x in row.levels[:2])
                row.levels[:level + 1] = other.levels[:level + 1]
                r.note("hierarchy_reassigned", "warning", r.at(row.line),
                       f"{row.levels[2]!r} was under {was} by position; the other section ({r.at(other.line)}) "
                       f"puts it under {'/'.join(str(x) for x in row.levels[:2])}")
                break
    for row in rows:
        if None in row.levels:  # (lv3 is always printed: lv1 or lv2 is missing)
            r.note("missing_hierarchy", "warning", r.at(row.line),
                   f"{row.levels[2]!r} has no {'一级' if row.levels[0] is None else '二级'}指标 above it")


def _values(rows: list[IndicatorRow], years: list[int | None], r: Reader) -> list[IndicatorValue]:
    out: list[IndicatorValue] = []
    append = out.append
    # (lv1, lv2, lv3) -> the years already kept for it. A row's years are distinct, so only a row whose
    # levels came before can hold a duplicate: the others keep every value without a check per value.
    seen: dict[tuple[str, str, str], list[int | None]] = {}
    parse_target, names = values.parse_target, r.names
    new_value = object.__new__
    for row in rows:
        lv1, lv2, lv3 = row.levels
        lv1, lv2, lv3 = lv1 or "", lv2 or "", lv3 or ""
        horizon = row.horizon  # (one load a field, not a tuple to unpack)
        line = row.line
        basis = row.basis
        category = row.category
        row_values = row.values
        where = names[line]
        lv1_class = lv1_class_of(lv1)
        row_years = years[-len(row_values):] if row_values else []  # (years[-0:] would be every year)
        key = (lv1, lv2, lv3)
        kept = seen.get(key)
        if kept is None:
            seen[key] = row_years
        for year, raw in zip(row_years, row_values):
            if kept is not None:
                if year in kept:
                    r.note("duplicate_row", "warning", where,
                           f"indicator {lv1}/{lv2}/{lv3} ({year or horizon}) appears twice; kept the first")
                    continue
                kept.append(year)
            _, comparator, value, unit = parse_target(raw)  # (one unpacking, not three attribute lookups)
            # IndicatorValue(horizon, year, lv1, …, lv1_class) written out, every field stored (the other
            # templates' columns None): the class call cost as much as the twenty stores, a hundred times a
            # form (tests/test_fastpaths.py checks these values against the constructor's)
            v = new_value(IndicatorValue)
            v.horizon = horizon; v.year = year; v.lv1 = lv1; v.lv2 = lv2; v.lv3 = lv3; v.raw = raw
            v.comparator = comparator; v.value = value; v.unit = unit; v.basis = basis
            v.category = category; v.line = line; v.where = where; v.lv1_class = lv1_class
            v.value_type = v.explanation = v.scoring_rule = v.remark = v.weight = v.extra = None
            append(v)
    return out


_BLANK_YEARS = frozenset({"年", "年度"})  # a year header left blank (Hubei 2021: `年` `年`)
_LV1_NOISE = re.compile(r"^[一二三四五六七八九十\d]+[、.．]|[\s*]")


@memo(maxsize=1024)
def lv1_class_of(lv1: str | None) -> str | None:
    """The standard class of a first-level indicator, whichever vocabulary names it (see LV1_CLASSES)."""
    key = _LV1_NOISE.sub("", unicodedata.normalize("NFKC", lv1 or ""))
    return LV1_CLASSES.get(key) or (LV1_CLASSES.get(key[:-2]) if key.endswith("指标") else None)


# --- indicator tables read by their column headers -------------------------------------------------------------

def _column_table(rows: list[Row]) -> Row | None:
    """The header row of a table to be read by its columns, or None when the content reading applies
    (no header, or only the Hubei columns: levels, 指标值, 指标值确定依据, 指标分类, which the content reading
    finds even in rows that lost their columns)."""
    for row in rows[:3]:
        known = list(map(roles_of, row.texts))
        found = list(filter(None, known))
        if len(found) < 3:
            continue
        roles = {x[0] for x in found}
        if not roles.isdisjoint(_LEVEL_ROLES):  # three known columns, a level among them
            last_value = max(i for i, x in enumerate(known) if x and x[0] in _VALUE_ROLES) if roles & set(
                _VALUE_ROLES) else len(known)
            if not roles <= _LEGACY_ROLES or len(known) - last_value < 3:  # 依据 and 分类 follow the values
                return row
            return None
    return None


def _is_header_row(row: Row, extra_names: set[str]) -> bool:
    return all(roles_of(t) or t in INDICATOR_HEADERS or t in _BLANK_YEARS or t in extra_names
               or values.parse_year(t) for t in row.texts)


def _header_columns(header: Row) -> tuple[dict[str, int], dict[int, str]]:
    """({role: column}, {column: header text of a column pifu does not know}) of a header row."""
    role_col: dict[str, int] = {}
    extra_cols: dict[int, str] = {}
    for c, t in header.cells:
        role = next((x for x in roles_of(t) or () if x not in role_col), None)
        if role:
            role_col[role] = c
        else:
            extra_cols[c] = t.replace("*", "").replace("＊", "").strip()
    return role_col, extra_cols


def read_table(rows: list[Row], header: Row, horizon: str, fiscal_year: int, r: Reader) -> list[IndicatorValue]:
    """Each column by its header (COLUMNS); a column pifu does not know goes to `extra` by its header text.
    Without 一级/二级 columns the level names are a tree in the name column: a row with a name and no value
    is a group (a first-level one when another group follows it, as the software prints each first level
    followed by its first second level)."""
    role_col, extra_cols = _header_columns(header)
    if extra_cols:
        r.note("unknown_column", "info", r.at(header.line),
               f"column(s) {', '.join(extra_cols.values())} not known; kept in extra by their header")
    if "lv3" not in role_col:
        r.note("unreadable_row", "error", r.at(header.line), "indicator table without a 三级指标/指标名称 column")
        return []
    value_cols = sorted(((c, fiscal_year + _VALUE_ROLES[role] if horizon == ANNUAL else None)
                         for role, c in role_col.items() if role in _VALUE_ROLES), key=lambda x: x[0])
    target_col = role_col.get("value")  # 计算符号 is the target's comparator: history values are actuals
    tree = not ({"lv1", "lv2"} & set(role_col))
    names = set(extra_cols.values())
    body = [row for row in rows[rows.index(header) + 1:]
            if not _is_header_row(row, names) or row.texts == header.texts]
    out: list[IndicatorValue] = []
    seen = set()
    lv1 = lv2 = None
    for k, row in enumerate(body):
        if row.texts == header.texts:  # the header repeated after a page break: its table may sit a column
            if row.cells != header.cells:  # off (a section column left out): the rows below follow it
                role_col, extra_cols = _header_columns(row)
                value_cols = sorted(((c, fiscal_year + _VALUE_ROLES[role] if horizon == ANNUAL else None)
                                     for role, c in role_col.items() if role in _VALUE_ROLES), key=lambda x: x[0])
                target_col = role_col.get("value")
            header = row
            continue
        cell = dict(row.cells)

        def get(role: str) -> str | None:
            c = role_col.get(role)
            return cell.get(c) or None if c is not None else None

        filled = [(c, year, cell[c]) for c, year in value_cols if cell.get(c)]
        name = get("lv3")
        if tree and name and not filled:
            nxt = next((x for x in body[k + 1:] if x.texts != header.texts), None)  # (not a repeated header)
            next_is_group = nxt is not None and not any(dict(nxt.cells).get(c) for c, _ in value_cols)
            if next_is_group or lv1 is None:
                lv1, lv2 = name, None
            else:
                lv2 = name
            continue
        if not tree:
            if get("lv1"):
                if get("lv1") != lv1:
                    lv2 = None
                lv1 = get("lv1")
            lv2 = get("lv2") or lv2
        if not name:
            r.note("unreadable_row", "error", r.at(row.line),
                   f"indicator row without a 三级指标: {row.texts[:4]!r}; dropped")
            continue
        if not filled:
            r.note("missing_values", "warning", r.at(row.line), f"{name!r} has no value; no row kept")
            continue
        if lv1 is None or lv2 is None:
            r.note("missing_hierarchy", "warning", r.at(row.line),
                   f"{name!r} has no {'一级' if lv1 is None else '二级'}指标 above it")
        extra = {h: cell[c] for c, h in extra_cols.items() if cell.get(c)}
        weight_text = get("weight")
        weight = values.parse_weight(weight_text)
        if weight_text and weight is None:
            r.note("unreadable_cell", "warning", r.at(row.line), f"权重 {weight_text!r} is not a number; kept in extra")
            extra["权重"] = weight_text
        unit_col = get("unit")
        unit_col = values.ascii_fold(unit_col) if unit_col else None
        for c, year, text in filled:
            key = (lv1 or "", lv2 or "", name, year)
            if key in seen:
                r.note("duplicate_row", "warning", r.at(row.line),
                       f"indicator {'/'.join(key[:3])} ({year or horizon}) appears twice; kept the first")
                continue
            seen.add(key)
            raw, bracket = values.split_basis(text)
            t = values.parse_target(raw)
            comparator, value, unit = t.comparator, t.value, t.unit
            if value is not None:
                sign = values.comparator_of(get("comparator"))
                if sign and c == target_col and comparator == "=" and not values.ascii_fold(raw).startswith("="):
                    comparator = sign
                if unit_col and unit is None:
                    unit = unit_col
                elif unit_col and unit != unit_col:
                    r.note("unit_conflict", "warning", r.at(row.line),
                           f"{name}: the value {raw!r} has its own unit {unit!r}, the 计量单位 column says "
                           f"{unit_col!r}; kept {unit!r}")
                elif unit is None and 0 < value <= 1 and "率" in name and year in (fiscal_year, None):
                    r.note("percent_format_lost", "warning", r.at(row.line),
                           f"{name}: {raw!r} under no unit may be a percentage whose format was lost "
                           f"(1 = 100%); kept as written")
            elif unit_col:
                r.note("unit_without_number", "info", r.at(row.line),
                       f"{name}: {raw!r} is not a number; the unit {unit_col!r} does not apply")
            out.append(IndicatorValue(
                horizon, year, lv1 or "", lv2 or "", name, raw, comparator, value, unit,
                get("basis") or bracket, get("category"), row.line, r.at(row.line), lv1_class_of(lv1),
                get("value_type"), get("explanation"), get("scoring_rule"), get("remark"), weight, extra or None))
    return out


# --- 年度履职目标 ------------------------------------------------------------------------------------------------

def read_duty_targets(rows: list[Row], r: Reader) -> list[DutyTarget]:
    """部门职能 | 年度目标任务 | 支出项目名称 | 预算金额（万元）: a function (and a task) merged down over its rows
    is known on each of them."""
    if not rows:
        return []
    role_col: dict[str, int] = {}
    start = 0
    for k, row in enumerate(rows[:2]):
        found = {DUTY_COLUMNS.get(_LABEL_NOISE.sub("", fold(t))): c for c, t in row.cells}
        found.pop(None, None)
        if len(found) >= 2:
            role_col, start = found, k + 1
            break
    if not role_col:
        role_col = {"function": None, "task": None, "item": None, "amount": None}
        r.note("inferred_columns", "info", r.at(rows[0].line), "年度履职目标 without column headers; read by content")
    out: list[DutyTarget] = []
    function = task = None
    for row in rows[start:]:
        cell = dict(row.cells)
        if role_col.get("amount") is None:  # by content: the last cell is the amount when it is one
            texts_ = row.texts
            amount_text = texts_[-1] if texts_ and values.parse_amount(texts_[-1]) is not None else None
            names = texts_[:-1] if amount_text else texts_
            f, t, i = ([None] * (3 - len(names)) + names)[-3:] if len(names) <= 3 else names[-3:]
        else:
            f, t, i = (cell.get(role_col[k]) if role_col.get(k) is not None else None
                       for k in ("function", "task", "item"))
            amount_text = cell.get(role_col["amount"])
        if f:
            function, task = f, None
        if t:
            task = t
        amount = values.parse_amount(amount_text) if amount_text else None
        if amount_text and amount is None:
            r.note("unreadable_cell", "warning", r.at(row.line), f"预算金额 {amount_text!r} is not an amount; kept null")
        if not (i or amount_text or t):
            continue
        if function is None:
            r.note("missing_hierarchy", "warning", r.at(row.line), "年度履职目标 row without a 部门职能 above it")
        out.append(DutyTarget(function or "", task, i, amount, row.line, r.at(row.line)))
    return out
