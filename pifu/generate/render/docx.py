"""A form as a Word .docx, the way departments' Word and WPS files lay it out.

python-docx makes the document (styles, paragraphs, page and section breaks, fonts); the tables are
written as WordprocessingML elements directly, with real merges: `w:gridSpan` across columns, `w:vMerge`
restart/continue down rows. Quirks, each recorded in `damage` when drawn:

- title_paragraph: the title is a paragraph above the table (else the merged first row of the table)
- cover_page: a cover page (title, department, date paragraphs) then a page or section break
- unit_paragraph: a "单位：万元" paragraph above the first table
- tables_per_section: the form continues over several tables (up to one per section); a table of text
  rows has only the columns it needs (label, text), so every table has its own grid
- table_split: an indicator table split in two by a paragraph (empty, a page break, or "（续表）":
  continuation_note); group_split when the split falls inside a merged group of labels;
  header_repeated when the continuation repeats the column headers; labels_repeated when it repeats
  the group's labels; grid_before when the continuation leaves out the section column (w:gridBefore)
- cell_paragraphs / cell_line_breaks: a numbered text cell with an item per paragraph / per line break
- list_numbering: a numbered text cell as a Word list (w:numPr): the numbers are not in the text
- split_runs: a cell's text in several runs (one bold), tab_indent: a paragraph indented with a tab
- section_heading: (tables per section) a section's label as a bold paragraph above its table, which
  has no section column
- jagged_grid: a border out of line with the others cuts one cell in two, so Word's grid has a column
  more and every other cell over it spans one more (w:gridSpan)
- blank_paragraphs: empty paragraphs around the tables; notes_after: notes and a signature after the form
- attachment_label: "附件1" above the title, as attachments to a notice are marked
Column widths vary per table; every run names 宋体 (East Asian font) and a size.
"""
from __future__ import annotations

import io
import re

from docx import Document
from docx.enum.section import WD_SECTION
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_BREAK
from docx.oxml import parse_xml
from docx.oxml.ns import nsdecls, qn
from docx.oxml.parser import OxmlElement
from docx.shared import Pt

from pifu.generate.form import Cell, Form, department_of, year_of

FONT = "宋体"
_DATE = "{y}年{m}月{d}日"
_NOTES = ("注：本表金额单位为万元。", "注：指标值确定依据及指标分类按《预算绩效目标管理办法》填列。",
          "{agency}财政局（盖章）")


def render(form: Form, rng, damage: set[str]) -> tuple[bytes, str]:
    doc = Document()
    _default_font(doc)
    year = year_of(form)
    department = department_of(form)
    blank = rng.random() < 0.3

    def blanks() -> None:
        if blank and rng.random() < 0.5:
            damage.add("blank_paragraphs")
            for _ in range(rng.randint(1, 2)):
                doc.add_paragraph()

    if rng.random() < 0.25:
        damage.add("cover_page")
        for _ in range(rng.randint(2, 5)):
            doc.add_paragraph()
        _paragraph(doc, form.title, rng, size=26, bold=True, center=True)
        doc.add_paragraph()
        _paragraph(doc, rng.choice(("", "编制单位：", "部门：")) + department, rng, size=16, center=True)
        date = _DATE.format(y=rng.choice((year - 1, year)), m=rng.randint(1, 12), d=rng.randint(1, 28))
        last = _paragraph(doc, date, rng, size=16, center=True)
        if rng.random() < 0.5:
            last.add_run().add_break(WD_BREAK.PAGE)
        else:
            doc.add_section(WD_SECTION.NEW_PAGE)
    blanks()
    if rng.random() < 0.15:
        damage.add("attachment_label")
        _paragraph(doc, rng.choice(("附件", "附件1", "附件2：")), rng, size=14, bold=rng.random() < 0.5)
    first = 0
    if rng.random() < 0.6:
        damage.add("title_paragraph")
        _paragraph(doc, form.title, rng, size=rng.choice((18, 20, 22)), bold=True, center=True)
        first = 1
    if rng.random() < 0.2:
        damage.add("unit_paragraph")
        p = _paragraph(doc, "单位：万元", rng, size=10.5)
        p.alignment = WD_ALIGN_PARAGRAPH.RIGHT

    owner = _owners(form.rows)
    draw = _Draw(doc, rng.choice((0.0, 0.0, 0.05, 0.2)), rng.random() < 0.3, rng.choice(("%1.", "%1、", "（%1）")))
    jagged = rng.random() < 0.3
    for i, (rows, separator, heading) in enumerate(_tables(form, first, owner, rng, damage)):
        if i:
            _separator(doc, separator, rng, damage)
        if heading:
            _paragraph(doc, heading, rng, size=rng.choice((12, 14)), bold=True)
        doc.element.body._insert_tbl(_table(rows, rng, damage, draw, jagged and rng.random() < 0.6))
    blanks()
    if rng.random() < 0.25:
        damage.add("notes_after")
        for note in rng.sample(_NOTES, rng.randint(1, len(_NOTES))):
            _paragraph(doc, note.format(agency=department[:3]), rng, size=10.5)
        _paragraph(doc, _DATE.format(y=year, m=rng.randint(1, 6), d=rng.randint(1, 28)), rng, size=10.5)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue(), ".docx"


# ---------------------------------------------------------------- paragraphs

def _default_font(doc) -> None:
    style = doc.styles["Normal"]
    style.font.name = FONT
    style.font.size = Pt(10.5)
    style.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), FONT)


def _paragraph(doc, text: str, rng, size: float, bold: bool = False, center: bool = False):
    p = doc.add_paragraph()
    if center:
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    run = p.add_run(text)
    run.bold = bold
    run.font.size = Pt(size)
    run.font.name = FONT
    run._element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), FONT)
    return p


def _separator(doc, kind: str, rng, damage: set[str]) -> None:
    """What stands between two tables of the form."""
    if kind == "none":
        return
    p = doc.add_paragraph()
    if kind == "page":
        damage.add("page_break_paragraph")
        p.add_run().add_break(WD_BREAK.PAGE)
    elif kind == "note":
        damage.add("continuation_note")
        run = p.add_run(rng.choice(("（续表）", "续表", "（接上表）")))
        run.font.name = FONT
        run._element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), FONT)


# ---------------------------------------------------------------- the form over tables

def _owners(rows: list[list[Cell | None]]) -> dict[tuple[int, int], tuple[int, int]]:
    """(row, col) -> (row, col) of the cell that shows there (itself, or the merged cell covering it)."""
    owner = {}
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            if cell is not None:
                for i in range(cell.rowspan):
                    for j in range(cell.colspan):
                        owner[r + i, c + j] = (r, c)
    return owner


def _tables(form: Form, first: int, owner, rng, damage: set[str]) -> list[tuple[list, str]]:
    """The tables the form is drawn as: (rows of cells, the separator before it)."""
    # the rows before the first section, then each section with any rows up to the next one (any family)
    starts = sorted({a for a, _ in form.sections.values() if a > first})
    bounds = [first] + starts + [len(form.rows)]
    units = [list(range(a, b)) for a, b in zip(bounds, bounds[1:]) if b > a]
    groups = [units[0]]
    per_section = rng.random() < 0.35
    cut = rng.choice((0.5, 0.8, 1.0))
    for unit in units[1:]:
        if per_section and rng.random() < cut:
            groups.append(unit)
        else:
            groups[-1] = groups[-1] + unit
    if len(groups) > 1:
        damage.add("tables_per_section")
    separators = ["plain"] * len(groups)

    parts = [(g, None) for g in groups]  # (rows, continuation info)
    splittable = [k for k in ("long_term", "annual") if k in form.sections]
    if splittable and rng.random() < 0.4:
        section = rng.choice(splittable)
        start, end = form.sections[section]
        body = start + len(form.header_rows[section])
        if end - body >= 2:
            k = rng.randint(body + 1, end)
            g = next(i for i, (rows, _) in enumerate(parts) if k in rows)
            rows = parts[g][0]
            at = rows.index(k)
            damage.add("table_split")
            if any(owner[k, c][0] < k and form.rows[owner[k, c][0]][owner[k, c][1]].kind == "label"
                   for c in range(form.width)):
                damage.add("group_split")
            tail = rows[at:]
            if rng.random() < 0.35:
                damage.add("header_repeated")
                tail = form.header_rows[section] + tail
            parts[g:g + 1] = [(rows[:at], None), (tail, section)]
            separators.insert(g + 1, rng.choice(("plain", "plain", "page", "page", "note", "none")))
    tables = []
    headings = len(groups) > 1 and rng.random() < 0.4
    dropped = False  # the part before drew its section label as a heading, without the section column
    for i, ((rows, continued), separator) in enumerate(zip(parts, separators)):
        repeat = continued is not None and rng.random() < 0.3
        if repeat:
            damage.add("labels_repeated")
        cells = _clip(form, rows, owner, repeat)
        # the continuation leaves out the section column: only when that column is one merged cell
        # whose label stayed in the part above
        section_column = {owner[r, 0] for r in rows}
        after = parts[i + 1] if i + 1 < len(parts) else None
        # a table continued below can lose its section column only if its continuation can lose it too
        tail_single = after is None or after[1] is None or len({owner[r, 0] for r in after[0]}) == 1
        if continued and dropped and len(section_column) == 1:
            # the table goes on as it began, without the section column
            for row in cells:
                row[0] = _DROPPED
            heading = None
        elif continued and len(section_column) == 1 and min(section_column)[0] not in rows and rng.random() < 0.3:
            damage.add("grid_before")
            for row in cells:
                row[0] = _BEFORE
            heading = None
        elif (headings and len(section_column) == 1 and min(section_column)[0] in rows
              and form.rows[min(section_column)[0]][0].kind == "section" and len(rows) > 1 and tail_single):
            # the section's label as a heading paragraph above a table without the section column
            damage.add("section_heading")
            heading = form.rows[min(section_column)[0]][0].text
            for row in cells:
                row[0] = _DROPPED
        else:
            heading = None
        dropped = cells[0][0] is _DROPPED
        tables.append((cells, separator, heading))
    return tables


_BEFORE = Cell("", kind="before")  # a grid column the row does not start with (w:gridBefore)
_DROPPED = Cell("", kind="dropped")  # a column the table does not have (its label is a heading above)


def _clip(form: Form, sel: list[int], owner, repeat_labels: bool) -> list[list[Cell | None]]:
    """The rows `sel` of the form as a table of their own: a merged cell cut by the selection is cut
    too; where its top is not selected the part below is an empty merged cell (or repeats a label)."""
    width = form.width
    out: list[list[Cell | None]] = [[None] * width for _ in sel]
    for i, r in enumerate(sel):
        for c in range(width):
            r0, c0 = owner[r, c]
            if c != c0 or (i and owner[sel[i - 1], c] == (r0, c0)):
                continue  # covered from the left, or from the row above in this table
            n = 1
            while i + n < len(sel) and owner[sel[i + n], c] == (r0, c0):
                n += 1
            src = form.rows[r0][c0]
            text = src.text if r0 == r or (repeat_labels and src.kind == "label") else ""
            out[i][c] = Cell(text, rowspan=n, colspan=src.colspan, kind=src.kind)
    return out


# ---------------------------------------------------------------- table XML

def _el(parent, tag: str, **attrs):
    el = OxmlElement(tag)
    for k, v in attrs.items():
        el.set(qn(f"w:{k}"), str(v))
    if parent is not None:
        parent.append(el)
    return el


def _table(rows: list[list[Cell | None]], rng, damage: set[str], draw: "_Draw", jagged: bool):
    width = len(rows[0])
    before, dropped = rows[0][0] is _BEFORE, rows[0][0] is _DROPPED
    starts = sorted({c for row in rows for c, cell in enumerate(row) if cell is not None and c >= before + dropped}
                    | ({0} if before else set()))
    cut = None  # (row, column): the cell a misaligned border cuts in two (Word adds a grid column for it)
    if jagged and len(rows) > 1:  # a border out of line with the others: a one-row table has no others
        cuts = [(i, c) for i, row in enumerate(rows) for c, cell in enumerate(row)
                if cell is not None and c >= before + dropped and cell.rowspan == 1]
        if cuts:
            damage.add("jagged_grid")
            cut = rng.choice(cuts)
            starts = sorted(starts + [cut[1] + 0.5])
    index = {c: i for i, c in enumerate(starts)}
    ncols = len(starts)

    def span(c: int, colspan: int) -> int:
        return sum(1 for s in starts if c <= s < c + colspan)

    widths = [rng.randint(700, 1600) for _ in range(ncols)]
    if ncols <= 3:
        widths[-1] = rng.randint(6000, 8500)
    tbl = _el(None, "w:tbl")
    pr = _el(tbl, "w:tblPr")
    _el(pr, "w:tblStyle", val="TableGrid")
    _el(pr, "w:tblW", w=sum(widths), type="dxa")
    if rng.random() < 0.5:
        _el(pr, "w:jc", val="center")
    if rng.random() < 0.5:
        _el(pr, "w:tblLayout", type="fixed")
    _el(pr, "w:tblLook", val="04A0")
    grid = _el(tbl, "w:tblGrid")
    for w in widths:
        _el(grid, "w:gridCol", w=w)

    cover: dict[int, Cell] = {}  # column -> a vertically merged cell still covering this row
    left: dict[int, int] = {}  # column -> rows it still covers below
    for i, row in enumerate(rows):
        tr = _el(tbl, "w:tr")
        tr_pr = None
        if before:
            tr_pr = _el(tr, "w:trPr")
            _el(tr_pr, "w:gridBefore", val=1)
            _el(tr_pr, "w:wBefore", w=widths[0], type="dxa")
        if any(cell is not None and cell.kind == "header" for cell in row) and rng.random() < 0.5:
            tr_pr = tr_pr if tr_pr is not None else _el(tr, "w:trPr")
            _el(tr_pr, "w:tblHeader")
        c = 1 if before or dropped else 0
        while c < width:
            cell = row[c]
            if cut == (i, c):
                n = span(c, cell.colspan)
                _cell(tr, cell.text, 1, widths, index[c], None, cell.kind, rng, damage, draw)
                _cell(tr, "", n - 1, widths, index[c] + 1, None, cell.kind, rng, damage, draw)
                c += cell.colspan
            elif cell is not None:
                n = span(c, cell.colspan)
                _cell(tr, cell.text, n, widths, index[c], "restart" if cell.rowspan > 1 else None, cell.kind, rng,
                      damage, draw)
                if cell.rowspan > 1:
                    cover[c], left[c] = cell, cell.rowspan - 1
                c += cell.colspan
            else:
                above = cover[c]  # a None not covered from the left is covered from above
                _cell(tr, "", span(c, above.colspan), widths, index[c], "continue", above.kind, rng, damage, draw)
                left[c] -= 1
                if not left[c]:
                    del cover[c], left[c]
                c += above.colspan
    return tbl


_ITEM = re.compile(r"(?<=[；。])(?=\d{1,2}\. )")
_NUMBER = re.compile(r"^\d{1,2}\. ")


class _Draw:
    """Per-document drawing choices the cells share: the share of cells whose text is in two runs, whether
    numbered texts may be Word lists (and the lists made so far: each cell's list starts at 1)."""

    def __init__(self, doc, split: float, lists: bool, lvl_text: str = "%1."):
        self.doc, self.split, self.lists, self.lvl_text = doc, split, lists, lvl_text
        self._abstract: str | None = None
        self._next = 900

    def new_list(self) -> int:
        numbering = self.doc.part.numbering_part.element
        if self._abstract is None:
            self._abstract = "90"
            numbering.insert(0, parse_xml(
                f'<w:abstractNum {nsdecls("w")} w:abstractNumId="90"><w:multiLevelType w:val="singleLevel"/>'
                f'<w:lvl w:ilvl="0"><w:start w:val="1"/><w:numFmt w:val="decimal"/><w:lvlText w:val="{self.lvl_text}"/>'
                f'<w:lvlJc w:val="left"/></w:lvl></w:abstractNum>'))
        self._next += 1
        numbering.append(parse_xml(
            f'<w:num {nsdecls("w")} w:numId="{self._next}"><w:abstractNumId w:val="90"/>'
            f'<w:lvlOverride w:ilvl="0"><w:startOverride w:val="1"/></w:lvlOverride></w:num>'))
        return self._next


def _cell(tr, text: str, span: int, widths: list[int], at: int, vmerge: str | None, kind: str, rng,
          damage: set[str], draw: "_Draw") -> None:
    tc = _el(tr, "w:tc")
    pr = _el(tc, "w:tcPr")
    _el(pr, "w:tcW", w=sum(widths[at:at + span]), type="dxa")
    if span > 1:
        _el(pr, "w:gridSpan", val=span)
    if vmerge == "restart":
        _el(pr, "w:vMerge", val="restart")
    elif vmerge == "continue":
        _el(pr, "w:vMerge")
    if kind != "text" or vmerge == "continue":
        _el(pr, "w:vAlign", val="center")
    pieces = [text]
    if kind == "text" and text.startswith("1. ") and rng.random() < 0.5:
        pieces = _ITEM.split(text)
    numbered = len(pieces) > 1 and draw.lists and rng.random() < 0.7
    if numbered:
        # Word's own list numbering: the numbers are not in the text (AutoFormat turns a typed "1. " into this)
        damage.add("list_numbering")
        num_id = draw.new_list()
        for piece in pieces:
            p = _el(tc, "w:p")
            pr = _el(p, "w:pPr")
            _el(pr, "w:pStyle", val="ListParagraph")
            num = _el(pr, "w:numPr")
            _el(num, "w:ilvl", val=0)
            _el(num, "w:numId", val=num_id)
            _run(p, _NUMBER.sub("", piece, count=1), kind)
        return
    if len(pieces) > 1 and rng.random() < 0.3:
        damage.add("cell_line_breaks")
        p = _el(tc, "w:p")
        for j, piece in enumerate(pieces):
            if j:
                _el(_el(p, "w:r"), "w:br")
            _run(p, piece, kind)
        return
    if len(pieces) > 1:
        damage.add("cell_paragraphs")
    for j, piece in enumerate(pieces):
        p = _el(tc, "w:p")
        if kind in ("amount", "share", "value", "header", "title", "section"):
            _el(_el(p, "w:pPr"), "w:jc", val="center")
        if kind == "text" and j and rng.random() < 0.2:
            damage.add("tab_indent")
            _el(_el(p, "w:r"), "w:tab")
        if len(piece) > 3 and rng.random() < draw.split:
            damage.add("split_runs")
            cut = rng.randint(1, len(piece) - 1)
            _run(p, piece[:cut], kind, bold=True)
            _run(p, piece[cut:], kind)
        elif piece:
            _run(p, piece, kind)


def _run(p, text: str, kind: str, bold: bool = False) -> None:
    r = _el(p, "w:r")
    pr = _el(r, "w:rPr")
    _el(pr, "w:rFonts", ascii=FONT, hAnsi=FONT, eastAsia=FONT)
    if bold or kind in ("title", "header"):
        _el(pr, "w:b")
    _el(pr, "w:sz", val=32 if kind == "title" else 21)
    t = _el(r, "w:t")
    t.text = text
    if text != text.strip():
        t.set("{http://www.w3.org/XML/1998/namespace}space", "preserve")
