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
the table pass walks about half the elements.

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

import itertools
import re
import zipfile

from lxml import etree

from pifu.model import DocumentError
from pifu.safety import zip_of
from pifu.readers import MAX_BYTES, MAX_CELLS, STRIP, Sheet, check_cells

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
    root, fallbacks = _main_document(data, path)
    w = _NAMES.get(etree.QName(root).namespace or "")
    body = root.find(w.body) if w else None
    if body is None:
        raise DocumentError(path, "a .docx without a WordprocessingML body: not a Word document", "unreadable")
    if fallbacks:
        for fallback in list(root.iter(f"{{{_MC}}}Fallback")):  # a second copy of a drawing's text
            fallback.getparent().remove(fallback)
    return _read_body(body, w, path)


def _main_document(data: bytes, path: str):
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
    slim = _without_properties(xml)
    if slim is not None:
        try:
            return etree.fromstring(slim, _PARSER)[0][0][0], b"Fallback" in slim
        except etree.XMLSyntaxError:
            pass  # the part itself says what is wrong, in its own lines and columns
    try:
        return etree.fromstring(xml, _PARSER), b"Fallback" in xml
    except etree.XMLSyntaxError as e:
        raise DocumentError(path, f"{name} is not well-formed XML ({str(e)[:80]})", "unreadable") from None


def _without_properties(xml: bytes) -> bytes | None:
    """The main part without its run and paragraph properties and its cells' widths and alignments,
    for a parse that yields the same tree for this reader, or None where that cannot be shown cheaply
    (then the part is parsed as it is).

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
        for text, origin in pending:
            grid.append([text])
            origins.append(origin)
        cells += len(pending)
        pending = []
        first_row, first_merge = len(grid), len(merges)
        cells = _read_table(block, w, tables, grid, origins, merges, cells, path)
        _drop_jagged_columns(grid, merges, first_row, first_merge)
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
    vertical: dict[int, list[int]] = {}  # first column -> the open vertical merge starting there
    tr = tc = None  # tc: the cell being read
    row: list[str] | None = None
    text: str | None = None  # the cell's only piece of text so far
    reread = False  # the cell has more than one piece: read it again with its paragraphs
    span, v, h, marked = 1, None, None, False  # marked: the cell has merge marks
    row_number, before, deleted = 0, 0, False
    continued: set[int] = set()
    h_open: list[int] | None = None
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
            c = len(row)
            if not marked:
                if cells + c >= MAX_CELLS:
                    check_cells(cells + c + 1, path, f"table {number}")
                row.append(text)
                h_open = None
            else:
                g = len(grid)
                if cells + c + span > MAX_CELLS:
                    check_cells(cells + c + span, path, f"table {number}")
                if h == "continue" and h_open is not None:  # legacy horizontal merge: covered from the left
                    h_open[3] = c + span - 1
                    row += [""] * span
                elif v == "continue" and c in vertical:
                    merge = vertical[c]
                    merge[2] = g
                    merge[3] = max(merge[3], c + span - 1)
                    continued.add(c)
                    row += [""] * span
                    h_open = None
                else:
                    row.append(text)
                    if span > 1:
                        row += [""] * (span - 1)
                    h_open = None
                    if span > 1 or v is not None or h is not None:
                        merge = [g, c, g, c + span - 1]
                        merges.append(merge)
                        h_open = merge if h == "restart" else None
                        if v is not None:  # restart, or a continuation with nothing above it: it starts the merge
                            vertical[c] = merge
                            continued.add(c)
        if tag == TC:
            tc, text, reread = el, None, False
            if not row and before:
                row += [""] * before
            if marked:
                span, v, h, marked = 1, None, None, False
            continue
        tc = None
        # a row starts, or the table ends: place the row read so far
        if row is not None and not deleted:  # (a row deleted with track changes on is left out)
            if len(continued) != len(vertical):  # (continued holds only columns of vertical)
                for c in [c for c in vertical if c not in continued]:
                    del vertical[c]
            if len(row) < columns:
                row += [""] * (columns - len(row))
            cells += len(row)
            if cells > MAX_CELLS:
                check_cells(cells, path, f"table {number}")
            grid.append(row)
            origins.append(f"table {number} row {row_number}")
        if tag == TR:
            tr, row = el, []
            row_number += 1
            before, deleted, continued, h_open = 0, False, set(), None
    return cells


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
                for c in range(m[1] + 1, m[3] + 1):
                    crossing.setdefault(c, set()).update(range(m[0], m[2] + 1))
        starting = None  # (row, column) -> the merge starting there: only for a column that may go
        for c in sorted(crossing, reverse=True):
            crossed = crossing[c]
            if not all(r in crossed or (c < len(grid[r]) and not grid[r][c]) for r in rows):
                continue  # (most columns: a row not spanning over the border has text there)
            cut = [r for r in rows if r not in crossed]
            if cut:
                if starting is None:
                    starting = _starting(table)
                if not any(_tall(starting.get((r, c))) for r in cut):
                    break
        else:
            return
        ending = {}  # row -> the first merge of that row alone that ends left of column c
        for m in table:
            if m[0] == m[2] and m[3] == c - 1:
                ending.setdefault(m[0], m)
        for r in cut:  # the empty part joins the cell on its left
            own = starting.get((r, c))
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


def _starting(merges: list[list[int]]) -> dict[tuple[int, int], list[int]]:
    """(row, column) -> the last merge whose left column it is, on every row the merge covers."""
    starting = {}
    for m in merges:
        for r in range(m[0], m[2] + 1):
            starting[r, m[1]] = m
    return starting


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
