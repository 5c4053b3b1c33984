"""Word .docx documents: the form's tables, in document order, as one grid.

word/document.xml is read directly with lxml (a parser that resolves no entities, loads no DTD and
touches no network), in one pass over each table's elements. Measured on generated forms (one process,
CPU time, 2-core machine under load): python-docx's `Document()` alone opens 164 documents/s (it also
parses styles, settings, numbering) and reading every cell through its API 17/s; this reader 335-400/s
(unzip 0.1 ms, lxml parse 1.1 ms, the pass over the tables 1.3 ms per form), and `pifu.parse_bytes`
(reader + layout's 0.54 ms) 290-310/s at best, 230-300/s under the load of the shared machine. It also
sees the merges exactly as Word wrote them. The run and paragraph properties, cell widths and alignments
(~40% of the part, none of it read) are cut from the bytes before the parse wherever that provably
gives the reader the same tree and the same errors (`_without_properties`): libxml2 then builds and
the table pass walks about half the elements. A part in the usual shape is not built into a tree at
all: it is read from its bytes, which the scan checks itself, libxml2 only checking what lies around the
body (`_scan`, at the end of this module).

- Tables are placed on their own grid (w:tblGrid): `w:gridBefore` skips columns, `w:gridSpan` spans
  them (horizontal merge), `w:vMerge` "restart" opens a vertical merge that the rows below continue
  (their cells stay empty in the grid, as in a text export). The legacy `w:hMerge` is read the same way.
  Every merge is recorded in `Sheet.merges`.
- A form that continues over several tables (a table per section, one table split by a page break or
  by a paragraph) is joined in document order; a vertical merge never crosses a table.
- Paragraphs outside tables (the title, a cover page, a note between two parts of the form) become rows
  of one cell, so the layout finds the fiscal year in the title. Paragraphs after the last table
  (notes, signatures, dates) are not part of the form and are left out: the layout reads the last row
  of the 年度绩效指标 table as the end of the file. A continuation mark between two tables
  ("（续表）") is not a row either.
- A cell's text: its paragraphs joined with newlines (each line stripped, empty ones dropped); runs,
  tabs and line breaks as Word shows them; the paragraphs of a Word list (w:numPr) numbered 1. 2. …
  as the form shows them;
  deleted (tracked) text, field codes and the fallback copies of drawings are not text.
- Origins: "table 1 row 12" (columns " col 3"), "paragraph 3" (body paragraphs counted from 1).
"""
from __future__ import annotations

import functools
import itertools
import re
import zipfile

from lxml import etree

from pifu.model import DocumentError
from pifu.safety import zip_of
from pifu.readers import MAX_BYTES, MAX_CELLS, STRIP, Sheet, check_cells
from pifu.readers.xlsx import _xml_text as xml_text

MAX_XML = 4 * MAX_BYTES  # the main part of a real approval is ~200 KB; bounded before it is parsed
_TRANSITIONAL = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_STRICT = "http://purl.oclc.org/ooxml/wordprocessingml/main"
_MC = "http://schemas.openxmlformats.org/markup-compatibility/2006"
_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
# No entities, no DTD, no network; comments and processing instructions are not text.
_PARSER = etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True, huge_tree=False,
                          remove_comments=True, remove_pis=True)
# "（续表）" between two parts of a table says the form goes on: a mark, not a row of the form
_CONTINUED = re.compile(r"^[（(]?\s*(?:续表|续上表|接上表|续)\s*\d*\s*[）)]?$")
_NUMBERED = "\x00"  # marks a list paragraph in a cell's text while it is read (XML text never holds NUL)
_TYPED_NUMBER = re.compile(r"^\d{1,2}\s*[.．、]")
_BREAKS_TEXT = frozenset((None, "textWrapping"))  # a w:br of type page or column is layout, not text
_TABLE_END = (type("_TableEnd", (), {"tag": None})(),)  # ends a table's events: places its last cell and row
# What _without_properties cuts, followed by markup: a w:rPr or w:pPr holding only empty elements, a
# cell's width and vertical alignment. ([^>] rather than [^<>]: sre counts a negated literal fast; a
# "<" inside a piece makes it malformed, which the parse of the pieces finds.) An empty element is
# written `<w:[^>]*+(?<=/)>`, everything up to the first ">" with a "/" before it: the same strings as
# `<w:[^>]*/>`, without the backtracking into `[^>]*` (possessive, as is the repeat of them: an
# element starts with "<w:", the end tag after them with "</").
_EMPTY = rb"[^>]*+(?<=/)>"
_CUT = re.compile(rb"(<w:(?:rPr>(?:<w:" + _EMPTY + rb")*+</w:rPr>|pPr>(?:<w:" + _EMPTY + rb")*+</w:pPr>"
                  rb"|tcW " + _EMPTY + rb"|vAlign " + _EMPTY + rb"))(?=<)")
# Elements the reader reads (w:pPr, w:trPr and w:tcPr only as parents, which an empty one is not)
_READ_TAG = re.compile(rb"<w:(?:body|p|tbl|tr|tc|r|t|tab|br|cr|noBreakHyphen|sym|numPr|numId|tblGrid|gridCol"
                       rb"|gridBefore|gridSpan|vMerge|hMerge|del|sdt|sdtContent|customXml|smartTag)[\s/>]")
_PROLOG = re.compile(rb"(?:\xef\xbb\xbf)?(?:<\?xml(\s[^>]*)\?>)?\s*(<w:document\b[^>]*>)")
_ENCODING = re.compile(rb"encoding\s*=\s*[\"']([^\"']*)[\"']")


class _Names:
    """Qualified tag names of one WordprocessingML namespace (transitional or strict)."""

    def __init__(self, ns: str):
        q = lambda local: f"{{{ns}}}{local}"  # noqa: E731
        self.ns = ns
        self.body, self.p, self.tbl, self.tr, self.tc, self.r = map(q, ("body", "p", "tbl", "tr", "tc", "r"))
        self.t, self.tab, self.br, self.cr = map(q, ("t", "tab", "br", "cr"))
        self.nbh, self.sym = q("noBreakHyphen"), q("sym")
        self.num_pr, self.num_id, self.p_pr = q("numPr"), q("numId"), q("pPr")
        self.tbl_grid, self.grid_col = q("tblGrid"), q("gridCol")
        self.tr_pr, self.tc_pr, self.grid_before = q("trPr"), q("tcPr"), q("gridBefore")
        self.grid_span, self.v_merge, self.h_merge, self.val, self.type = (
            q("gridSpan"), q("vMerge"), q("hMerge"), q("val"), q("type"))
        self.tr_del = q("del")
        self.pieces = frozenset((self.tab, self.br, self.cr, self.nbh, self.num_pr))  # text besides w:t
        # block containers whose children are paragraphs, tables, rows or cells of the enclosing level
        self.containers = frozenset((q("sdt"), q("sdtContent"), q("customXml"), q("smartTag")))


_NAMES = {ns: _Names(ns) for ns in (_TRANSITIONAL, _STRICT)}


def read(data: bytes, path: str) -> Sheet:
    xml, name = _main_part(data, path)
    sheet = _scan(xml, path)  # a part in the usual shape read from its bytes, faster than its tree
    if sheet is not None:
        return sheet
    slim = _without_properties(xml)
    root = None
    if slim is not None:
        try:
            root, fallbacks = etree.fromstring(slim, _PARSER)[0][0][0], b"Fallback" in slim
        except etree.XMLSyntaxError:
            pass  # the part itself says what is wrong, in its own lines and columns
    if root is None:
        try:
            root, fallbacks = etree.fromstring(xml, _PARSER), b"Fallback" in xml
        except etree.XMLSyntaxError as e:
            raise DocumentError(path, f"{name} is not well-formed XML ({str(e)[:80]})", "unreadable") from None
    w = _NAMES.get(etree.QName(root).namespace or "")
    body = root.find(w.body) if w else None
    if body is None:
        raise DocumentError(path, "a .docx without a WordprocessingML body: not a Word document", "unreadable")
    if fallbacks:
        for fallback in list(root.iter(f"{{{_MC}}}Fallback")):  # a second copy of a drawing's text
            fallback.getparent().remove(fallback)
    return _read_body(body, w, path)


def _main_part(data: bytes, path: str) -> tuple[bytes, str]:
    """The main document part's bytes (bounded before and while it is inflated) and its name."""
    try:
        book = zip_of(data)
        name = _main_part_name(book, path)
        info = book.getinfo(name)
        if info.file_size > MAX_XML:
            raise DocumentError(path, f"its {name} is {info.file_size:,} bytes; a 批复's is about 200 KB", "too_large")
        with book.open(info) as part:
            xml = part.read(MAX_XML + 1)
    except DocumentError:
        raise
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, EOFError, NotImplementedError, RuntimeError) as e:
        raise DocumentError(path, f"not a readable .docx ({type(e).__name__}: {str(e)[:80]})", "unreadable") from None
    if len(xml) > MAX_XML:
        raise DocumentError(path, f"its {name} inflates past {MAX_XML:,} bytes", "too_large")
    return xml, name


def _without_properties(xml: bytes) -> bytes | None:
    """The main part without its run and paragraph properties and its cells' widths and alignments,
    for a parse that yields the same tree for this reader, or None where that cannot be shown cheaply
    (then the part is parsed as it is). For the tree pass only: the scan reads the whole part.

    Fonts, sizes, alignment and widths are ~40% of a form's XML and ~2,700 of its ~5,900 elements:
    most of what libxml2 builds and the table pass walks past. A piece is cut only when it is one
    element holding nothing but empty elements the reader never looks at, followed by markup (so no
    two texts join). The parse must still fail wherever the whole part would: each distinct piece is
    parsed too, inside a copy of the root's start tag (which must hold the part's only namespace
    declarations, so that the context is the same), and three wrapper levels keep libxml2's depth limit
    at least as strict as on the whole part (a piece adds at most two levels, three with the cell
    properties it left empty: those go too, a third of a form's cells). Not for a part with a
    DTD, a comment or a CDATA section (their "<" is not markup), nor one in another encoding than UTF-8.
    """
    if b"!" in xml and b"<!" in xml:
        return None
    head = _PROLOG.match(xml)
    if head is None or not _utf8(head.group(1)):
        return None
    parts = _CUT.split(xml)
    if len(parts[0]) < head.end():  # a piece in the root's start tag, which a "<" makes malformed
        return None
    xml, pieces = b"".join(parts[::2]), set(parts[1::2])
    emptied = xml.replace(b"<w:tcPr></w:tcPr><", b"<")  # (the reader looks in a w:tcPr for merges only)
    if len(emptied) < len(xml):
        xml = emptied
        pieces.add(b"<w:tcPr></w:tcPr>")
    blob = b"".join(pieces)
    # no namespace declared below the root, in the part or a piece (which hold every "xmlns" of it:
    # the word has no "<" or ">"); xml:ids must stay unique; a w:rPr or w:pPr holding an end tag
    # besides its own is not flat
    if (not pieces or xml.find(b"xmlns", head.end()) >= 0 or b"xmlns" in blob or _READ_TAG.search(blob)
            or b"xml:id" in blob
            or blob.count(b"</") != blob.count(b"<w:rPr>") + blob.count(b"<w:pPr>") + blob.count(b"<w:tcPr>")):
        return None
    start, end = head.start(2), xml.rfind(b"</w:document>")
    if end < start:
        return None
    end += len(b"</w:document>")
    return b"".join((xml[:start], b"<_><_><_>", xml[start:end], head.group(2), blob, b"</w:document></_></_></_>",
                     xml[end:]))


def _utf8(declaration: bytes | None) -> bool:
    encoding = _ENCODING.search(declaration or b"")
    return encoding is None or encoding.group(1).lower() == b"utf-8"


def _main_part_name(book: zipfile.ZipFile, path: str) -> str:
    """word/document.xml, or wherever the package relationships put the main document."""
    names = set(book.namelist())
    if "word/document.xml" in names:
        return "word/document.xml"
    if "_rels/.rels" in names:
        try:
            rels = etree.fromstring(book.read("_rels/.rels")[:1_000_000], _PARSER)
        except etree.XMLSyntaxError:
            rels = None
        for rel in rels.iter(f"{{{_RELS}}}Relationship") if rels is not None else ():
            if (rel.get("Type") or "").endswith("/officeDocument"):
                target = (rel.get("Target") or "").lstrip("/")
                if target in names:
                    return target
    raise DocumentError(path, "a .docx without its main document part (word/document.xml)", "unreadable")


def _blocks(parent, w: _Names, want: str):
    """Children of `parent` with tag `want` (or, for the body, paragraphs and tables), in document order,
    looking through content controls and custom XML."""
    for el in parent:
        tag = el.tag
        if tag == want or (want == "block" and (tag == w.p or tag == w.tbl)):
            yield el
        elif tag in w.containers:
            yield from _blocks(el, w, want)


def _read_body(body, w: _Names, path: str) -> Sheet:
    grid: list[list[str]] = []
    origins: list[str] = []
    merges: list[list[int]] = []
    paragraphs = tables = cells = 0
    pending: list[tuple[str, str]] = []  # paragraphs since the last table: kept only if a table follows
    for block in _blocks(body, w, "block"):
        if block.tag == w.p:
            paragraphs += 1
            text = _paragraph_text(block, w).strip(STRIP + "\n")
            if text and not (tables and _CONTINUED.match(text)):
                pending.append((text, f"paragraph {paragraphs}"))
                if len(pending) > 10_000:
                    raise DocumentError(path, "more than 10,000 paragraphs before a table; a 批复 is one form",
                                        "too_large")
            continue
        tables += 1
        cells = _add_table(grid, origins, merges, pending, cells,
                           lambda cells: _read_table(block, w, tables, grid, origins, merges, cells, path))
    if not tables:
        raise DocumentError(path, "a Word document without a table: not a 部门整体绩效目标批复 form", "not_a_document")
    return Sheet(grid=grid, format="docx", encoding=None, origins=tuple(origins),
                 merges=tuple(tuple(m) for m in merges if m[2] > m[0] or m[3] > m[1]), col_label=" col {}")


def _read_table(tbl, w: _Names, number: int, grid, origins, merges, cells: int, path: str) -> int:
    """Append the rows of table `number` to `grid`; returns the running cell count.

    One pass over the table's elements in document order (lxml filters the tags in C, so the runs'
    formatting is never visited): a row starts at its w:tr, a cell at its w:tc, and the text of a
    nested table goes to the cell that holds it. A cell is placed when the next one starts.
    Paragraphs are not in the pass (a third of its elements): they only separate a cell's pieces of
    text, so a cell with one piece or none is read without them, and one with more is read again
    with them (`_cell_text`)."""
    columns = sum(1 for _ in tbl.iterchildren(w.tbl_grid) for _ in _.iterchildren(w.grid_col))
    T, TC, TR, TBL = w.t, w.tc, w.tr, w.tbl
    SPAN, V_MERGE, H_MERGE, VAL = w.grid_span, w.v_merge, w.h_merge, w.val
    rows = _Rows(number, grid, origins, merges, cells, path)
    tr = tc = None  # tc: the cell being read
    text: str | None = None  # the cell's only piece of text so far
    reread = False  # the cell has more than one piece: read it again with its paragraphs
    span, v, h, marked = 1, None, None, False  # marked: the cell has merge marks
    before, deleted = 0, False
    events = tbl.iter(TR, TC, w.grid_before, SPAN, V_MERGE, H_MERGE, w.tr_del, T, w.tab, w.br, w.cr,
                      w.nbh, w.num_pr)
    for el in itertools.chain(events, _TABLE_END):
        tag = el.tag  # the most frequent first: ~40% of the events are cells, ~35% texts
        if tag == TC:
            if el.getparent() is not tr and _up(el, TR) is not tr:
                continue  # a cell of a nested table: its text goes to the cell that holds it
        elif tag == T:
            if tc is not None:
                if text is None:
                    text = el.text or ""
                else:
                    reread = True
            continue
        elif tag == V_MERGE or tag == SPAN or tag == H_MERGE:
            if tc is not None and el.getparent().getparent() is tc:
                marked = True
                if tag == V_MERGE:
                    v = "restart" if el.get(VAL) == "restart" else "continue"
                elif tag == SPAN:
                    span = max(1, _int(el, w))
                else:
                    h = _merge_val(el, w)
            continue
        elif tag == TR:
            if el.getparent() is not tbl and _up(el, TBL) is not tbl:
                continue
        elif tag is not None:
            if tag == w.grid_before:
                if el.getparent().getparent() is tr:
                    before = _int(el, w)
            elif tag == w.tr_del:
                if el.getparent().tag == w.tr_pr and el.getparent().getparent() is tr:  # a deleted row
                    deleted = True
            elif tc is not None:  # a tab, line break, hyphen or list number: rare, read with the paragraphs
                reread = True
            continue
        # a cell or a row starts, or the table ends: place the cell read so far
        if tc is not None and not deleted:
            if reread:
                text = _lines(_cell_text(tc, el, tbl, w))
            elif text:  # one w:t's text (never a list number): one line unless it holds a line break
                text = text.strip(STRIP) if "\n" not in text else _lines(text)
            else:
                text = ""
            rows.place(text, span, v, h, marked)
        if tag == TC:
            tc, text, reread = el, None, False
            if not rows.row and before:
                rows.row += [""] * before
            if marked:
                span, v, h, marked = 1, None, None, False
            continue
        tc = None
        # a row starts, or the table ends: place the row read so far
        if rows.row is not None and not deleted:  # (a row deleted with track changes on is left out)
            rows.end_row(columns)
        if tag == TR:
            tr = el
            rows.start_row()
            before, deleted = 0, False
    return rows.cells


class _Rows:
    """A table's rows placed on the grid as they are read (by the tree pass and by the byte scan alike):
    cells spanning columns, vertical merges continued from the rows above, merges recorded."""

    def __init__(self, number: int, grid, origins, merges, cells: int, path: str):
        self.number, self.grid, self.origins, self.merges, self.cells, self.path = (
            number, grid, origins, merges, cells, path)
        self.vertical: dict[int, list[int]] = {}  # first column -> the open vertical merge starting there
        self.row: list[str] | None = None
        self.row_number = 0
        self.continued: set[int] = set()
        self.h_open: list[int] | None = None

    def start_row(self) -> None:
        self.row = []
        self.row_number += 1
        self.continued, self.h_open = set(), None

    def place(self, text: str, span: int, v: str | None, h: str | None, marked: bool) -> None:
        """Place a cell's text at the end of the row, spanning `span` columns, with its merge marks."""
        row, cells = self.row, self.cells
        c = len(row)
        if not marked:
            if cells + c >= MAX_CELLS:
                check_cells(cells + c + 1, self.path, f"table {self.number}")
            row.append(text)
            self.h_open = None
            return
        g = len(self.grid)
        if cells + c + span > MAX_CELLS:
            check_cells(cells + c + span, self.path, f"table {self.number}")
        vertical = self.vertical
        if h == "continue" and self.h_open is not None:  # legacy horizontal merge: covered from the left
            self.h_open[3] = c + span - 1
            row += [""] * span
        elif v == "continue" and c in vertical:
            merge = vertical[c]
            merge[2] = g
            merge[3] = max(merge[3], c + span - 1)
            self.continued.add(c)
            row += [""] * span
            self.h_open = None
        else:
            row.append(text)
            if span > 1:
                row += [""] * (span - 1)
            self.h_open = None
            if span > 1 or v is not None or h is not None:
                merge = [g, c, g, c + span - 1]
                self.merges.append(merge)
                self.h_open = merge if h == "restart" else None
                if v is not None:  # restart, or a continuation with nothing above it: it starts the merge
                    vertical[c] = merge
                    self.continued.add(c)

    def end_row(self, columns: int) -> None:
        """Append the row read so far to the grid (padded to the table's columns)."""
        row, vertical, continued = self.row, self.vertical, self.continued
        if len(continued) != len(vertical):  # (continued holds only columns of vertical)
            for c in [c for c in vertical if c not in continued]:
                del vertical[c]
        if len(row) < columns:
            row += [""] * (columns - len(row))
        self.cells += len(row)
        if self.cells > MAX_CELLS:
            check_cells(self.cells, self.path, f"table {self.number}")
        self.grid.append(row)
        self.origins.append(f"table {self.number} row {self.row_number}")


def _cell_text(tc, end, tbl, w: _Names) -> str:
    """A cell's text read again with its paragraphs: every text element from the cell's start to `end`
    (the next cell or row of the table, or the table's end), a paragraph starting a new line once
    there is text (what the table pass would collect with the paragraphs in it)."""
    pieces: list[str] = []
    # every element, tested here: lxml's tag filter costs more to set up than a cell has elements
    for el in tc.iter() if tc.getnext() is end else _following(tc, tbl):
        if el is end:
            break
        tag = el.tag
        if tag == w.p:
            if pieces:
                pieces.append("\n")
        elif tag == w.t:
            pieces.append(el.text or "")
        elif tag in w.pieces:
            piece = _text_piece(el, tag, w)
            if piece is not None:
                pieces.append(piece)
    return "".join(pieces)


def _following(el, top):
    """The elements from `el` (itself included) to the end of `top`, in document order."""
    yield from el.iter()
    while el is not top:
        for sibling in el.itersiblings():
            yield from sibling.iter()
        el = el.getparent()


def _text_piece(el, tag: str, w: _Names) -> str | None:
    """What a tab, a line break, a non-breaking hyphen or a list paragraph's numbering adds to a cell."""
    if tag == w.tab:
        return "\t" if el.getparent().tag == w.r else None  # not a tab stop of the paragraph's properties
    if tag == w.br:
        return "\n" if el.get(w.type) in _BREAKS_TEXT else None
    if tag == w.cr:
        return "\n"
    if tag == w.nbh:
        return "-"
    if el.getparent().tag == w.p_pr:  # w:numPr
        num_id = el.find(w.num_id)
        if num_id is not None and num_id.get(w.val) not in (None, "0"):
            return _NUMBERED
    return None


def _add_table(grid, origins, merges, pending: list[tuple[str, str]], cells: int, read) -> int:
    """A table's turn, in either reading: the paragraphs since the last table (kept now that a table follows),
    then the table itself (`read(cells)` places its rows and returns the cell count), its jagged columns
    dropped. Empties `pending`; returns the cell count."""
    for text, origin in pending:
        grid.append([text])
        origins.append(origin)
    cells += len(pending)
    pending.clear()
    first_row, first_merge = len(grid), len(merges)
    cells = read(cells)
    _drop_jagged_columns(grid, merges, first_row, first_merge)
    return cells


def _drop_jagged_columns(grid: list[list[str]], merges: list[list[int]], first_row: int, first_merge: int) -> None:
    """Remove the grid columns a misaligned border made (Word adds a grid column where one cell's border
    is out of line: every other row spans over it, the cut row has an empty cell there), so the table has
    the form's columns and a table continuing it lines up with it. A column is dropped only when at least
    one row spans over its left border and every row that does not has an empty cell of one row there.
    Each look costs the table's merged area (bounded by its cells); at most 8 columns go per table."""
    rows = range(first_row, len(grid))
    for _ in range(8):
        table = merges[first_merge:]
        if not table or not rows:
            return
        crossing: dict[int, set[int]] = {}  # column -> rows where a merge spans over its left border
        for m in table:
            if m[3] > m[1]:  # (most merges are one column wide)
                spanned = range(m[0], m[2] + 1)
                for c in range(m[1] + 1, m[3] + 1):
                    crossed = crossing.get(c)
                    if crossed is None:
                        crossing[c] = set(spanned)
                    else:
                        crossed.update(spanned)
        for c in sorted(crossing, reverse=True):
            crossed = crossing[c]
            if not all(r in crossed or (c < len(grid[r]) and not grid[r][c]) for r in rows):
                continue  # (most columns: a row not spanning over the border has text there)
            cut = [r for r in rows if r not in crossed]
            if cut:
                starting = _starting(table, c)  # (only for a column that may go)
                if not any(_tall(starting.get(r)) for r in cut):
                    break
        else:
            return
        ending = {}  # row -> the first merge of that row alone that ends left of column c
        for m in table:
            if m[0] == m[2] and m[3] == c - 1:
                ending.setdefault(m[0], m)
        for r in cut:  # the empty part joins the cell on its left
            own = starting.get(r)
            if own is not None and own[3] > c:
                left = ending.get(r)
                if left is None:
                    start = next(k for k in range(c - 1, -1, -1) if r not in crossing.get(k, ()))
                    left = [r, start, r, c - 1]
                    merges.append(left)
                left[3] = own[3]
            if own is not None:
                own[3] = own[1] - 1  # emptied: a range ending before it starts is dropped below
        for m in merges[first_merge:]:
            if m[1] > c:
                m[1] -= 1
            if m[3] >= c:
                m[3] -= 1
        for r in rows:
            if c < len(grid[r]):
                del grid[r][c]
        merges[first_merge:] = [m for m in merges[first_merge:] if m[3] >= m[1]]


def _starting(merges: list[list[int]], c: int) -> dict[int, list[int]]:
    """row -> the last merge whose left column is `c`, on every row the merge covers."""
    return {r: m for m in merges if m[1] == c for r in range(m[0], m[2] + 1)}


def _tall(merge: list[int] | None) -> bool:
    return merge is not None and merge[2] > merge[0]


def _lines(text: str) -> str:
    """A cell's text: its lines (paragraphs, line breaks) stripped, the empty ones dropped."""
    if "\n" not in text:
        return text.replace(_NUMBERED, "").strip(STRIP)
    lines = [t for t in (line.strip(STRIP) for line in text.split("\n")) if t.strip(_NUMBERED + STRIP)]
    if _NUMBERED in text:
        lines = _number(lines)
    return "\n".join(lines)


def _number(lines: list[str]) -> list[str]:
    """Paragraphs of a Word list (w:numPr) show numbers that are not in their text: a cell's items are
    numbered 1. 2. … as the form shows them, so its text splits into the same items as a typed list.
    A single list paragraph, or one whose text already starts with a number, is left as it is."""
    listed = sum(1 for t in lines if t.startswith(_NUMBERED))
    out, n = [], 0
    for t in lines:
        if t.startswith(_NUMBERED):
            t = t.lstrip(_NUMBERED).strip(STRIP)
            if listed > 1 and not _TYPED_NUMBER.match(t):
                n += 1
                t = f"{n}. {t}"
        out.append(t)
    return out


def _up(el, tag):
    """The nearest ancestor of `el` with `tag` (rows and cells may sit inside content controls)."""
    parent = el.getparent()
    while parent is not None and parent.tag != tag:
        parent = parent.getparent()
    return parent


def _merge_val(el, w: _Names) -> str | None:
    if el is None:
        return None
    return "restart" if el.get(w.val) == "restart" else "continue"


def _int(el, w: _Names) -> int:
    if el is None:
        return 0
    try:
        return max(0, int(el.get(w.val) or 0))
    except ValueError:
        return 0


def _paragraph_text(p, w: _Names) -> str:
    parts = []
    for r in p.iter(w.r):
        for el in r:
            tag = el.tag
            if tag == w.t:
                parts.append(el.text or "")
            elif tag in w.pieces:  # a run's child: a tab counts, a w:numPr (never in a run) adds nothing
                piece = _text_piece(el, tag, w)
                if piece is not None:
                    parts.append(piece)
    return "".join(parts)


# ---------------------------------------------------------------- the usual shape, read from the bytes
#
# The pass over the tree visits ~1,100 elements a form through lxml proxies (a third of reading it). A
# part in the usual shape is read from its bytes instead: it is split at its tables (w:tbl), rows (w:tr)
# and cells (w:tc), each piece's texts (what each w:t holds) are taken out, and what is left of the piece,
# its markup, is read once per distinct markup (`_markup`, cached: a form's cells are written in a few
# shapes; the cells' widths, which differ from form to form, are dropped first: `_without_widths`) into what
# the tree pass would make of it. Only a narrow grammar is read (`_CHILDREN`): names bound as written (the
# prefix w, declared on the root alone, for the transitional namespace), no nested table, no content
# control, no drawing, no other prefix, no attributes on w:tbl, w:tr and w:tc; attributes in double
# quotes. Anything else (and a part whose texts are not plain) is declined, and the tree is read as before.
#
# The scan also declines a body libxml2 would refuse, so that the tree pass fails in its own words: every
# byte of the body's markup is a tag of `_TAG` (names XML allows, no attribute twice, values without "<" or
# "&", end tags bare, no namespace declared) in a nesting the scan follows (`_events`; the splits at
# tables, rows and cells, each piece ending where it must), every text one a w:t holds (`_taken_apart`:
# UTF-8, references resolved, no ">"), and every character, in texts and values, one XML allows.
# libxml2 checks the rest: the part with its body's content taken out (the prolog, the root's start tag,
# what follows the root: ~2 KB against ~130 KB). A well-formed body's content put back between <w:body>
# and </w:body> of a well-formed rest keeps it well-formed (no namespace is declared below the root), and
# a body's content the scan takes is well-formed; so the scan takes only what libxml2 parses, and the
# properties need not be cut for libxml2 (cutting them cost ~5.5 M instructions a form and checking the
# cut part ~3.7 M; these checks cost well under 1 M).

class _Declined(Exception):
    pass


_W_DECLARED = b'xmlns:w="' + _TRANSITIONAL.encode() + b'"'
# (attributes in w: or none, so that every prefix is w, declared on the root)
# Names as XML takes them (a letter first; libxml2 refuses one past 50,000 bytes), values without "<" or a
# reference (the part's characters and UTF-8 are checked apart: `_taken_apart`, `_events`).
_TAG = re.compile(rb'<(/?)w:([A-Za-z][A-Za-z0-9]{0,63})'
                  rb'((?: (?:w:)?[A-Za-z][A-Za-z0-9]{0,63}="[^"<&]*"| xml:space="preserve")*)(/?)>')
# characters XML does not allow (a surrogate is not UTF-8; one referred to is refused by `xml_text`)
_NOT_XML_CHARACTER = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_WIDTH = b'<w:tcW w:w="'  # a cell's width follows (`_without_widths`)
_GRID = re.compile(rb'(?:<w:gridCol w:w="[0-9]+"/>)*</w:tblGrid>')  # a table's grid, after its <w:tblGrid>
_ROOT_ATTRIBUTE = re.compile(rb' (?:([A-Za-z][A-Za-z0-9]*):)?([A-Za-z][A-Za-z0-9]*)="([^"<&]*)"')
_TEXT_LIMIT = 10_000_000  # libxml2 refuses a longer text while it builds a tree (huge_tree off): no part this long
_XML_NAMESPACES = (b"http://www.w3.org/XML/1998/namespace", b"http://www.w3.org/2000/xmlns/")
_DEPTH = 24  # elements nested in a piece: far below libxml2's limit (256) wherever the piece stands
_ATTRIBUTE = re.compile(rb' ([A-Za-z0-9:]+)="([^"]*)"')
_TEXT_ATTRIBUTES = (b"", b' xml:space="preserve"')  # a w:t's attributes the scan knows
# Names the tree pass acts on or looks through: anywhere but where `_CHILDREN` puts them, the part is declined
_ACTED = frozenset(b"body p tbl tr tc r t tab br cr noBreakHyphen numPr numId tblGrid gridCol gridBefore gridSpan "
                   b"vMerge hMerge del sdt sdtContent customXml smartTag".split())
# element -> its children the scan reads; any other child must hold none of `_ACTED` (properties, bookmarks)
_CHILDREN = {
    b"body": (b"p",), b"tc": (b"tcPr", b"p"), b"tcPr": (b"gridSpan", b"vMerge", b"hMerge"),
    b"p": (b"pPr", b"r"), b"pPr": (b"numPr",), b"numPr": (b"numId",),
    b"r": (b"t", b"tab", b"br", b"cr", b"noBreakHyphen"),
    b"tr": (b"trPr",), b"trPr": (b"gridBefore", b"del"), b"tbl": (b"tblGrid",), b"tblGrid": (b"gridCol",),
}
_MARKS = frozenset((b"gridSpan", b"vMerge", b"hMerge", b"gridBefore"))  # read with their w:val
_PIECES = {b"tab": "\t", b"cr": "\n", b"noBreakHyphen": "-"}  # (a w:br: "\n" unless a page or column break)


class _Nothing:
    """A parser target that builds nothing: libxml2 checks the part in C, without a tree."""

    def close(self) -> None:
        return None


# `_PARSER` checking only: the same syntax errors, but not the namespace and xml:id errors found while a tree
# is built, nor its limit on a text's length: `_scan_body` declines a part where those could arise. It
# checks the part less its body's content (see above).
_CHECKER = etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True, huge_tree=False,
                           remove_comments=True, remove_pis=True, target=_Nothing())


def _well_formed(slim: bytes) -> bool:
    try:
        etree.fromstring(slim, _CHECKER)
    except etree.XMLSyntaxError:
        return False
    return True


def _scan(xml: bytes, path: str) -> Sheet | None:
    """The Sheet `_read_body` makes of the main part `xml`, or None when it is not in the usual shape or not
    well-formed (then the tree pass reads it or refuses it). A form it would refuse (too many cells) is
    refused by the tree pass, which finds any namespace error first, as before."""
    try:
        return _scan_body(xml, path)
    except (_Declined, DocumentError, UnicodeDecodeError):
        return None


def _scan_body(xml: bytes, path: str) -> Sheet:
    # a prolog saying UTF-8 (or nothing), then the root, which declares w, the only prefix of the transitional
    # namespace, and holds the body alone
    head = _PROLOG.match(xml)
    if head is None or not _utf8(head.group(1)):
        raise _Declined
    root, end = head.group(2), head.end()
    if (root.count(_W_DECLARED) != 1 or root.count(_TRANSITIONAL.encode()) != 1 or root.find(b"&") >= 0
            or root.find(_STRICT.encode()) >= 0 or not xml.startswith(b"<w:body>", end) or len(xml) >= _TEXT_LIMIT
            or not _declared(root)):
        raise _Declined
    stop = xml.rfind(b"</w:body>")
    if stop < end or not xml.startswith(b"</w:document>", stop + 9):
        raise _Declined
    # libxml2 checks all but the body's content (the scan checks that: see above)
    if not _well_formed(xml[:end + 8] + xml[stop:]):
        raise _Declined
    segments = _without_widths(xml[end + 8:stop]).split(b"<w:tbl>")
    grid: list[list[str]] = []
    origins: list[str] = []
    merges: list[list[int]] = []
    paragraphs = tables = cells = 0
    pending: list[tuple[str, str]] = []  # paragraphs since the last table: kept only if a table follows
    for k, segment in enumerate(segments):
        if k:
            table, closed, segment = segment.partition(b"</w:tbl>")
            if not closed:
                raise _Declined
            tables += 1
            cells = _add_table(grid, origins, merges, pending, cells,
                               lambda cells: _scan_table(table, tables, grid, origins, merges, cells, path))
        skeleton, texts = _taken_apart(segment)
        for items in _markup(skeleton, "body"):
            paragraphs += 1
            text = "".join([texts[i] if i.__class__ is int else i for i in items]).strip(STRIP + "\n")
            if text and not (tables and _CONTINUED.match(text)):
                pending.append((text, f"paragraph {paragraphs}"))
                if len(pending) > 10_000:
                    raise DocumentError(path, "more than 10,000 paragraphs before a table; a 批复 is one form",
                                        "too_large")
    if not tables:
        raise _Declined  # (refused by the tree pass, in its words)
    return Sheet(grid=grid, format="docx", encoding=None, origins=tuple(origins),
                 merges=tuple(tuple(m) for m in merges if m[2] > m[0] or m[3] > m[1]), col_label=" col {}")


def _scan_table(table: bytes, number: int, grid, origins, merges, cells: int, path: str) -> int:
    """`_read_table` of a table's bytes (between <w:tbl> and </w:tbl>)."""
    skeleton, texts = _taken_apart(table)
    head, *trs = skeleton.split(b"<w:tr>")
    # the table's properties (the same in every form of a kind: their markup is read once) and its grid
    # (whose widths differ from form to form: matched here)
    properties, grid_tag, grid_columns = head.partition(b"<w:tblGrid>")
    columns = _markup(properties, "tbl")
    if grid_tag:
        if not _GRID.fullmatch(grid_columns):
            raise _Declined
        columns += grid_columns.count(b"<w:gridCol ")
    rows = _Rows(number, grid, origins, merges, cells, path)
    vertical = rows.vertical  # (the same dict for the whole table)
    k = 0  # the texts of the rows and cells before this one
    for tr in trs:
        before, deleted, count, markups = _ROWS.get(tr) or _row_plan(tr)
        rows.start_row()
        if deleted:  # (a row deleted with track changes on is left out)
            k += count
            continue
        row, g = rows.row, len(grid)
        if before and markups:
            row += [""] * before  # (at the row's first cell)
        room = MAX_CELLS - rows.cells  # cells this row may hold (rows.cells changes at the row's end only)
        for span, v, h, marked, reread, items, count in markups:
            if reread:
                text = _lines("".join([texts[k + i] if i.__class__ is int else i for i in items]))
            elif count:  # one w:t's text, as the tree pass reads it
                text = texts[k]
                if text:
                    text = text.strip(STRIP) if "\n" not in text else _lines(text)
            else:
                text = ""
            k += count
            if marked:
                merge = vertical.get(len(row)) if v == "continue" and span == 1 and h is None else None
                if merge is None:
                    rows.place(text, span, v, h, marked)
                    continue
                # (`_Rows.place` of a one-column cell continuing the vertical merge above it: most marked cells)
                c = len(row)
                if c >= room:
                    check_cells(rows.cells + c + 1, path, f"table {number}")
                merge[2] = g
                if merge[3] < c:
                    merge[3] = c
                rows.continued.add(c)
                row.append("")
                rows.h_open = None
            else:  # (`_Rows.place` of a cell without merge marks)
                if len(row) >= room:
                    check_cells(rows.cells + len(row) + 1, path, f"table {number}")
                row.append(text)
                rows.h_open = None
        rows.end_row(columns)
    return rows.cells


_ROWS: dict[bytes, tuple] = {}  # a row's markup -> what it holds (`_row_plan`)


def _row_plan(tr: bytes) -> tuple:
    """A row's markup read: (gridBefore, deleted, the number of its texts, its cells' markups read)."""
    if not tr.endswith(b"</w:tr>"):
        raise _Declined
    properties, *tcs = tr[:-7].split(b"<w:tc>")
    before, deleted = _markup(properties, "tr")
    cells = tuple([_markup(tc, "tc") for tc in tcs])
    plan = (before, deleted, sum([cell[6] for cell in cells]), cells)
    if len(_ROWS) >= 1 << 12:
        _ROWS.clear()
    _ROWS[tr] = plan
    return plan


def _without_widths(body: bytes) -> bytes:
    """The body with its cells' widths (`<w:tcW w:w="2762" …`) written `<w:tcW w:w="" …`: the one property
    whose markup differs from form to form (with the column widths), dropped so that a form's rows are read
    once per kind of form. (The digits at the start of the value that follows each `<w:tcW w:w="`: where
    that "<" is a tag's, as the scan makes sure, they were the start of an attribute value the reader never
    reads, and the body is well-formed with them as without them.)"""
    parts = body.split(_WIDTH)
    if len(parts) == 1:
        return body
    return _WIDTH.join([parts[0], *[part.lstrip(b"0123456789") for part in parts[1:]]])


def _taken_apart(piece: bytes) -> tuple[bytes, list[str]]:
    """A piece of the part with its w:t texts taken out (its markup: `<w:t></w:t>` where they were), and
    the texts as the parser gives them. (A text's start is the last ">" before its end tag: a text holding
    ">" leaves markup that `_markup` declines.)"""
    parts = piece.split(b"</w:t>")
    if len(parts) == 1:
        return piece, []
    last = parts.pop()
    cuts = [part.rpartition(b">") for part in parts]
    texts = [cut[2].decode() for cut in cuts]  # (not UTF-8: UnicodeDecodeError, the part is declined)
    if piece.find(b"&") >= 0 or piece.find(b"\r") >= 0:  # (find: bytes' `in` tries an int first)
        texts = [xml_text(text) if "&" in text or "\r" in text else text for text in texts]
        if None in texts:  # (not well-formed)
            raise _Declined
    joined = "".join(texts)
    if not joined.isprintable() and _NOT_XML_CHARACTER.search(joined):
        raise _Declined
    return b"></w:t>".join([cut[0] for cut in cuts] + [last]), texts


@functools.lru_cache(maxsize=1 << 12)
def _markup(skeleton: bytes, context: str):
    """What the tree pass makes of a piece's markup (texts taken out) in `context`; raises _Declined for
    markup outside the grammar. Context "tc": a cell's (span, vMerge, hMerge, marked, reread, items), "tr":
    a row's properties (gridBefore, deleted), "tbl": a table's head, its grid's columns, "body": the
    paragraphs between tables, each a list of items. An item is a text's index or a string to add."""
    events = _events(skeleton, context.encode())
    if context == "tc":
        return _cell_markup(events)
    if context == "tr":
        before, deleted = 0, False
        for event, value in events:
            if event == b"gridBefore":
                before = _int_of(value)
            elif event == b"del":
                deleted = True
        return before, deleted
    if context == "tbl":
        return sum(1 for event, _ in events if event == b"gridCol")
    paragraphs = []
    for event, value in events:
        if event == b"p":
            paragraphs.append([])
        elif event == b"t" or (event == b"piece" and value is not None):
            paragraphs[-1].append(value)
    return tuple(map(tuple, paragraphs))


def _cell_markup(events):
    span, v, h, marked = 1, None, None, False
    items: list = []  # what `_cell_text` collects, texts as their index
    texts, reread = 0, False
    for event, value in events:
        if event == b"p":
            if items:
                items.append("\n")
        elif event == b"t":
            items.append(value)
            texts += 1
            reread = reread or texts > 1
        elif event == b"piece" or event == b"numPr":
            reread = True
            if value is not None:
                items.append(value)
        elif event == b"vMerge" or event == b"gridSpan" or event == b"hMerge":
            marked = True
            if event == b"vMerge":
                v = "restart" if value == "restart" else "continue"
            elif event == b"gridSpan":
                span = max(1, _int_of(value))
            else:
                h = "restart" if value == "restart" else "continue"
    count = sum(1 for item in items if item.__class__ is int)  # the cell's texts
    return span, v, h, marked, reread, tuple(items), count


def _events(skeleton: bytes, context: bytes) -> list:
    """The markup's (event, value) pairs in document order: ("p", None) at a paragraph, ("t", a text's
    index or "" for an empty w:t), ("piece", a tab's, break's or hyphen's text or None), ("numPr", the
    list mark or None), merge marks and row marks with their w:val, ("gridCol", None), and ("end", None)
    at the context's end tag when the piece holds it (a cell does: it must end there)."""
    if skeleton.find(b"xmlns") >= 0:  # (no namespace declared below the root)
        raise _Declined
    text = skeleton.decode()  # (UTF-8 in values; not: UnicodeDecodeError, the part is declined)
    if not text.isprintable() and _NOT_XML_CHARACTER.search(text):
        raise _Declined
    events: list = []
    stack = [context]
    at = texts = 0
    numbering = None  # the index of the ("numPr", …) event waiting for its first w:numId
    for m in _TAG.finditer(skeleton):
        if m.start() != at:
            raise _Declined  # text, or markup that is not a w: tag
        at = m.end()
        closing, name, attributes, empty = m.groups()
        if attributes and attributes.count(b"=") > 1 and _twice(attributes):
            raise _Declined
        parent = stack[-1]
        if closing:
            if attributes or empty:
                raise _Declined
            if len(stack) == 1 or name != parent.lstrip(b"-"):
                if context == b"tc" and name == b"tc" and len(stack) == 1 and at == len(skeleton):
                    events.append((b"end", None))
                    continue
                raise _Declined
            stack.pop()
            continue
        if name not in _CHILDREN.get(parent, ()):
            if name in _ACTED or parent in _ACTED and parent not in _CHILDREN:
                raise _Declined  # (children of the elements read are read: none may hold more)
            if not empty:
                stack.append(b"-" + name)  # a property or a bookmark: passed over, with all it holds
                if len(stack) > _DEPTH:
                    raise _Declined
            continue
        if not empty:
            stack.append(name)  # (a w:t holds no element and, its text taken out, nothing)
            if len(stack) > _DEPTH:
                raise _Declined
        if name == b"t":
            if attributes not in _TEXT_ATTRIBUTES:
                raise _Declined
            if empty:
                events.append((b"t", ""))
            else:
                events.append((b"t", texts))
                texts += 1
        elif name == b"p" or name == b"del" or name == b"gridCol":
            events.append((name, None))
        elif name == b"br":
            kind = _attribute(attributes, b"w:type")
            events.append((b"piece", "\n" if kind in (None, "textWrapping") else None))
        elif name in _PIECES:
            events.append((b"piece", _PIECES[name]))
        elif name == b"numPr":
            numbering = len(events)
            events.append((b"numPr", None))
        elif name == b"numId":
            if numbering is not None:  # the w:numPr's first
                if _attribute(attributes, b"w:val") not in (None, "0"):
                    events[numbering] = (b"numPr", _NUMBERED)
                numbering = None
        elif name in _MARKS:
            events.append((name, _attribute(attributes, b"w:val")))
    if at != len(skeleton) or len(stack) != 1 or (context == b"tc") != bool(events and events[-1][0] == b"end"):
        raise _Declined
    return events


@functools.lru_cache(maxsize=64)
def _declared(root: bytes) -> bool:
    """Whether the root's start tag binds its prefixes as a tree would take them: attributes in plain form,
    namespaces declared with a prefix (not xml or xmlns) and a non-empty name, other than the XML ones,
    every attribute's prefix declared, no attribute twice in one namespace."""
    attributes = _ROOT_ATTRIBUTE.findall(root)
    if b"".join(b" %s%s=\"%s\"" % (prefix + b":" if prefix else b"", name, value)
                for prefix, name, value in attributes) != root[len(b"<w:document"):-1]:
        return False
    spaces = {name: value for prefix, name, value in attributes if prefix == b"xmlns"}
    if b"xml" in spaces or b"xmlns" in spaces or not all(spaces.values()) or any(
            value in _XML_NAMESPACES for value in spaces.values()):
        return False
    seen = set()
    for prefix, name, value in attributes:
        if prefix == b"xmlns" or (not prefix and name == b"xmlns"):
            if not prefix:
                return False  # (a default namespace: not for a part in the usual shape)
            continue
        if prefix and prefix not in spaces:
            return False
        key = (spaces[prefix] if prefix else b"", name)
        if key in seen:
            return False
        seen.add(key)
    return True


def _twice(attributes: bytes) -> bool:
    """Whether a tag's attributes (as `_TAG` takes them) name one twice. (A set, not a regular expression
    with a back reference: that takes time growing with the square of a tag's attributes.)"""
    names = [name for name, _ in _ATTRIBUTE.findall(attributes)]
    return len(set(names)) != len(names)


def _attribute(attributes: bytes, name: bytes) -> str | None:
    """An attribute's value as the parser gives it, where that is the bytes as written."""
    for key, value in _ATTRIBUTE.findall(attributes):
        if key == name:
            if b"&" in value or b"\t" in value or b"\n" in value or b"\r" in value:
                raise _Declined
            return value.decode()
    return None


def _int_of(value: str | None) -> int:
    """`_int` of an attribute's value."""
    try:
        return max(0, int(value or 0))
    except ValueError:
        return 0
