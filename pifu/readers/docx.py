"""Word .docx documents: the form's tables, in document order, as one grid.

word/document.xml is read directly with lxml (a parser that resolves no entities, loads no DTD and
touches no network): it is ~10x faster than building a python-docx `Document` (which also parses the
styles, settings and numbering parts) and sees the merges as Word wrote them.

- Tables are placed on their own grid (w:tblGrid): `w:gridBefore` skips columns, `w:gridSpan` spans
  them (horizontal merge), `w:vMerge` "restart" opens a vertical merge that the rows below continue
  (their cells stay empty in the grid, as in a text export). The legacy `w:hMerge` is read the same way.
  Every merge is recorded in `Sheet.merges`.
- A form that continues over several tables (a table per section, one table split by a page break or
  by a paragraph) is joined in document order; a vertical merge never crosses a table.
- Paragraphs outside tables (the title, a cover page, a note between two parts of the form) become rows
  of one cell, so the layout finds the fiscal year in the title. Paragraphs after the last table
  (notes, signatures, dates) are not part of the form and are left out: the layout reads the last row
  of the 年度绩效指标 table as the end of the file.
- A cell's text: its paragraphs joined with newlines; runs, tabs and line breaks as Word shows them;
  deleted (tracked) text, field codes and the fallback copies of drawings are not text.
- Origins: "table 1 row 12" (columns " col 3"), "paragraph 3" (body paragraphs counted from 1).
"""
from __future__ import annotations

import io
import zipfile

from lxml import etree

from pifu.model import DocumentError
from pifu.readers import MAX_BYTES, STRIP, Sheet, check_cells

MAX_XML = 4 * MAX_BYTES  # the main part of a real approval is ~200 KB; bounded before it is parsed
_TRANSITIONAL = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_STRICT = "http://purl.oclc.org/ooxml/wordprocessingml/main"
_MC = "http://schemas.openxmlformats.org/markup-compatibility/2006"
_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
# No entities, no DTD, no network; comments and processing instructions are not text.
_PARSER = etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True, huge_tree=False,
                          remove_comments=True, remove_pis=True)
_BREAKS_TEXT = frozenset((None, "textWrapping"))  # a w:br of type page or column is layout, not text


class _Names:
    """Qualified tag names of one WordprocessingML namespace (transitional or strict)."""

    def __init__(self, ns: str):
        q = lambda local: f"{{{ns}}}{local}"  # noqa: E731
        self.ns = ns
        self.body, self.p, self.tbl, self.tr, self.tc, self.r = map(q, ("body", "p", "tbl", "tr", "tc", "r"))
        self.t, self.tab, self.br, self.cr = map(q, ("t", "tab", "br", "cr"))
        self.nbh, self.sym = q("noBreakHyphen"), q("sym")
        self.tbl_grid, self.grid_col = q("tblGrid"), q("gridCol")
        self.tr_pr, self.tc_pr, self.grid_before = q("trPr"), q("tcPr"), q("gridBefore")
        self.grid_span, self.v_merge, self.h_merge, self.val, self.type = (
            q("gridSpan"), q("vMerge"), q("hMerge"), q("val"), q("type"))
        self.tr_del = q("del")
        # block containers whose children are paragraphs, tables, rows or cells of the enclosing level
        self.containers = frozenset((q("sdt"), q("sdtContent"), q("customXml"), q("smartTag")))


_NAMES = {ns: _Names(ns) for ns in (_TRANSITIONAL, _STRICT)}


def read(data: bytes, path: str) -> Sheet:
    root = _main_document(data, path)
    w = _NAMES.get(etree.QName(root).namespace or "")
    body = root.find(w.body) if w else None
    if body is None:
        raise DocumentError(path, "a .docx without a WordprocessingML body: not a Word document", "unreadable")
    if any(True for _ in root.iter(f"{{{_MC}}}Fallback")):
        for fallback in list(root.iter(f"{{{_MC}}}Fallback")):  # a second copy of a drawing's text
            fallback.getparent().remove(fallback)
    return _read_body(body, w, path)


def _main_document(data: bytes, path: str):
    try:
        book = zipfile.ZipFile(io.BytesIO(data))
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
    try:
        return etree.fromstring(xml, _PARSER)
    except etree.XMLSyntaxError as e:
        raise DocumentError(path, f"{name} is not well-formed XML ({str(e)[:80]})", "unreadable") from None


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
            if text:
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
        cells = _read_table(block, w, tables, grid, origins, merges, cells, path)
    if not tables:
        raise DocumentError(path, "a Word document without a table: not a 部门整体绩效目标批复 form", "not_a_document")
    return Sheet(grid=grid, format="docx", encoding=None, origins=tuple(origins),
                 merges=tuple(tuple(m) for m in merges if m[2] > m[0] or m[3] > m[1]), col_label=" col {}")


def _read_table(tbl, w: _Names, number: int, grid, origins, merges, cells: int, path: str) -> int:
    """Append the rows of table `number` to `grid`; returns the running cell count."""
    columns = sum(1 for _ in tbl.iterchildren(w.tbl_grid) for _ in _.iterchildren(w.grid_col))
    vertical: dict[int, list[int]] = {}  # first column -> the open vertical merge starting there
    for row_number, tr in enumerate(_blocks(tbl, w, w.tr), 1):
        tr_pr = tr.find(w.tr_pr)
        if tr_pr is not None and tr_pr.find(w.tr_del) is not None:
            continue  # a row deleted with track changes on
        before = _int(tr_pr.find(w.grid_before), w) if tr_pr is not None else 0
        tcs = []
        width = before
        for tc in _blocks(tr, w, w.tc):
            tc_pr = tc.find(w.tc_pr)
            span, v, h = 1, None, None
            if tc_pr is not None:
                span = max(1, _int(tc_pr.find(w.grid_span), w))
                v, h = _merge_val(tc_pr.find(w.v_merge), w), _merge_val(tc_pr.find(w.h_merge), w)
            tcs.append((tc, span, v, h))
            width += span
            check_cells(cells + width, path, f"table {number}")
        cells += max(width, columns)
        check_cells(cells, path, f"table {number}")
        g = len(grid)
        row = [""] * before
        continued = set()
        h_open: list[int] | None = None
        for tc, span, v, h in tcs:
            c = len(row)
            if h == "continue" and h_open is not None:  # legacy horizontal merge: covered by the cell before
                h_open[3] = c + span - 1
                row += [""] * span
                continue
            if v == "continue" and c in vertical:
                merge = vertical[c]
                merge[2] = g
                merge[3] = max(merge[3], c + span - 1)
                continued.add(c)
                row += [""] * span
                h_open = None
                continue
            row.append(_cell_text(tc, w))
            row += [""] * (span - 1)
            merge = [g, c, g, c + span - 1]
            merges.append(merge)
            h_open = merge if h == "restart" else None
            if v is not None:  # restart, or a continuation with nothing above it: it starts the merge
                vertical[c] = merge
                continued.add(c)
        for c in [c for c in vertical if c not in continued]:
            del vertical[c]
        if len(row) < columns:
            row += [""] * (columns - len(row))
        grid.append(row)
        origins.append(f"table {number} row {row_number}")
    return cells


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


def _cell_text(tc, w: _Names) -> str:
    texts = [t for t in (_paragraph_text(p, w).strip(STRIP + "\n") for p in tc.iter(w.p)) if t]
    return "\n".join(texts)


def _paragraph_text(p, w: _Names) -> str:
    parts = []
    for r in p.iter(w.r):
        for el in r:
            tag = el.tag
            if tag == w.t:
                parts.append(el.text or "")
            elif tag == w.tab:
                parts.append("\t")
            elif tag == w.br:
                if el.get(w.type) in _BREAKS_TEXT:
                    parts.append("\n")
            elif tag == w.cr:
                parts.append("\n")
            elif tag == w.nbh:
                parts.append("-")
    return "".join(parts)
