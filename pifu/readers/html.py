"""HTML pages: the form as a portal publishes it, among the page's other tables.

Finance portals publish a 批复 as a web page (sometimes saved as .xls): navigation and layout tables
around the form, a footer table, a list of related files; the form itself one table or several
consecutive ones (split at its sections or at a page break), its title a heading, the table's
`<caption>`, the page's `<title>` or the table's first merged row.

Reading goes:
1. the charset: a byte-order mark, else the page's `<meta charset>` / `<meta http-equiv="Content-Type">`
   (gb2312 and gbk read as GB18030, their superset), else UTF-8, else GB18030;
2. the markup, with libxml2's HTML parser made safe: no network, no huge trees, comments and processing
   instructions dropped, `<script>`/`<style>` skipped; it knows HTML's named entities and nothing else
   (no DTD, no external entity is ever resolved);
3. the form's tables: those whose cells hold its section labels (部门（单位）名称, 部门总体资金情况,
   长期绩效指标, 年度绩效指标 …), with the tables that continue them (a repeated header) joined;
4. the grid: rowspan/colspan expanded (the text in the top-left cell, the range recorded as a merge),
   `<p>`/`<br>` inside a cell as line breaks, `&nbsp;` and full-width spaces stripped from each line,
   inline styles ignored; a table nested in a cell is read in place (its rows after the row that holds
   it when it is part of the form, its text in the cell when it is not).

Grid rows name their origin "table 2 row 12" (the page's second `<table>`, its twelfth row) or, for a
title outside the tables, "heading 1" / "page title" / "table 2 caption".
"""
from __future__ import annotations

import codecs
import re
import threading
import unicodedata

from lxml import etree

from pifu.layout import section_of
from pifu.model import DocumentError
from pifu import readers
from pifu.readers import MAX_CELLS, STRIP, Grid, Merge, Sheet, check_cells

# --- charset ---------------------------------------------------------------------------------------------------

_BOMS = ((codecs.BOM_UTF8, "utf-8-sig", "utf-8"), (codecs.BOM_UTF16_LE, "utf-16", "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16", "utf-16"))
# `<meta charset="gbk">`, `<meta http-equiv="Content-Type" content="text/html; charset=gb2312">`, and an
# XHTML page's `<?xml … encoding="gb2312"?>`: the first one in the head decides.
_DECLARED = re.compile(rb"""<meta\b[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)"""
                       rb"""|<\?xml\b[^>]*?encoding\s*=\s*["']([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_HEAD_BYTES = 64 * 1024
# Declarations worth believing; a Chinese page declaring latin-1 or ASCII is mislabelled, and is sniffed.
_CHARSETS = {
    "utf-8": "utf-8", "utf8": "utf-8", "unicode-1-1-utf-8": "utf-8",
    "gb2312": "gb18030", "gbk": "gb18030", "gb18030": "gb18030", "gb_2312-80": "gb18030", "gb_2312": "gb18030",
    "x-gbk": "gb18030", "cp936": "gb18030", "windows-936": "gb18030", "ms936": "gb18030", "euc-cn": "gb18030",
    "csgb2312": "gb18030", "chinese": "gb18030", "iso-ir-58": "gb18030", "x-euc-cn": "gb18030",
    "big5": "big5", "big5-hkscs": "big5hkscs", "x-x-big5": "big5", "cp950": "cp950",
    "utf-16": "utf-16", "utf-16le": "utf-16-le", "utf-16be": "utf-16-be",
}


def decode(data: bytes, path: str) -> tuple[str, str]:
    """The page's text and the charset it was read in."""
    for bom, codec, name in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(codec), name
            except UnicodeDecodeError as e:
                raise DocumentError(path, f"starts with a {name} byte-order mark but byte {e.start} is invalid",
                                    "undecodable") from None
    tried = []
    m = _DECLARED.search(data, 0, _HEAD_BYTES)
    if m:
        declared = (m.group(1) or m.group(2)).decode("ascii").lower()
        codec = _CHARSETS.get(declared)
        if codec and not codec.startswith("utf-16"):  # a page that says UTF-16 without a BOM is not UTF-16
            try:
                return data.decode(codec), codec
            except UnicodeDecodeError:
                tried.append(codec)  # the declaration lies (a copied template): sniff as for an undeclared page
    for codec in ("utf-8", "gb18030"):
        if codec in tried:
            continue
        try:
            return data.decode(codec), codec
        except UnicodeDecodeError as e:
            last = e
    raise DocumentError(path, f"neither its declared charset nor UTF-8 nor GB18030 (invalid byte at offset "
                        f"{last.start})", "undecodable")


# --- markup ----------------------------------------------------------------------------------------------------

_SKIP = frozenset(("script", "style", "noscript", "template", "head", "object", "embed", "iframe", "svg", "math",
                   "select", "textarea", "button"))
_BLOCK = frozenset(("p", "div", "li", "ul", "ol", "dl", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6", "tr",
                    "blockquote", "pre", "center", "address", "section", "article", "header", "footer", "hr",
                    "caption", "form", "fieldset", "nav", "aside", "main", "figure", "figcaption"))
_HEADINGS = frozenset(("h1", "h2", "h3", "h4", "h5", "h6"))
_MAX_DEPTH = 256  # libxml2's limit without huge_tree
_WS = re.compile(r"[ \t\n\r\f\v]+")


def _collapse(text: str) -> str:
    """Each run of white space one space. A printable text without two spaces in a row has no run to
    collapse (tabs and line breaks are not printable): most pieces of a page, returned without the regex."""
    return text if text.isprintable() and "  " not in text else _WS.sub(" ", text)


_PARSERS = threading.local()  # one parser a thread: lxml serializes the threads that share one


def _parser() -> etree.HTMLParser:
    """This thread's parser. Building one costs ~0.16 M instructions, 3% of a page's parse; its error log
    is cleared by each parse, and nothing else of a page stays in it."""
    parser = getattr(_PARSERS, "parser", None)
    if parser is None:
        parser = _PARSERS.parser = etree.HTMLParser(
            encoding="utf-8", no_network=True, remove_comments=True, remove_pis=True, huge_tree=False,
            recover=True, default_doctype=False, compact=True)
    return parser


def _parse(markup: bytes, path: str):
    """`markup`: the page in UTF-8."""
    parser = _parser()
    markup = markup.replace(b"\x00", b"")  # in UTF-8 a zero byte is U+0000 and nothing else
    try:
        root = etree.fromstring(markup, parser)
    except (etree.ParserError, etree.XMLSyntaxError, ValueError) as e:
        raise DocumentError(path, f"markup that cannot be parsed as a page ({e})", "not_a_document") from None
    if root is None:
        raise DocumentError(path, "a page with no content", "not_a_document")
    # what a browser does not show as the page: scripts, styles, and what stands for them
    etree.strip_elements(root, "script", "style", "noscript", "template", with_tail=False)
    too_deep = any(e.type_name == "ERR_RESOURCE_LIMIT" for e in parser.error_log)
    return root, too_deep


def _tag(el) -> str | None:
    tag = el.tag
    return tag.lower() if isinstance(tag, str) else None  # comments, entities: not elements


def _clean(raw: str) -> str:
    """Lines of a cell: each stripped (no-break and full-width spaces too), empty lines out."""
    raw = raw.replace("\xa0", " ")
    if "\n" not in raw:
        return raw.strip(STRIP)
    return "\n".join([line for part in raw.split("\n") if (line := part.strip(STRIP))])


_CLOSE = object()  # on _walk's stack: a block element ends
_NOT_INLINE = _SKIP | _BLOCK | {"table", "br", "td", "th"}


def _text_of(el, nested: list | None = None) -> str:
    """The text a person reads in `el`: runs of white space one space, `<br>` and blocks as line breaks,
    script/style skipped. A nested `<table>` is not read here: it is appended to `nested` (the caller
    decides what it is), and breaks the line where it stood."""
    text = el.text
    if not len(el):  # most cells: text and no markup
        return _clean(_collapse(text)) if text else ""
    ws = _collapse
    if len(el) == 1:  # the next most common cells: one element (`<span>a</span>`, `<p>a</p>`, a layout table)
        child = el[0]
        tag = child.tag
        if type(tag) is str:
            tag = tag.lower()
            if tag == "table":  # the loop below for this one child, as _walk reads a table
                if nested is not None:
                    nested.append(child)
                return _clean(f"{ws(text) if text else ''}\n{ws(tail) if (tail := child.tail) else ''}")
            if not len(child):  # the loop below for this one child, with no list to join
                if tag in _SKIP:
                    mid = ""
                elif tag == "br":
                    mid = "\n"
                else:
                    return _one_leaf(text, child.text, child.tail, tag not in _NOT_INLINE)
                tail = child.tail
                return _clean((ws(text) if text else "") + mid + (ws(tail) if tail else ""))
    # el's children are read here one by one; a child with children of its own is read by _walk. Most
    # cells with markup have only childless children (`text<br>`, `<span>a</span>`, `<p>a</p><p>b</p>`).
    out = [ws(text)] if text else []
    append = out.append
    for child in el:
        if len(child):
            _walk(child, out, nested)  # its tail too
            continue
        tag = child.tag
        if type(tag) is str:
            tag = tag.lower()
            if tag not in _NOT_INLINE:  # <span>, <font>, <b>, <a> …: their text goes on the line
                inner = child.text
                if inner:
                    append(ws(inner))
            elif tag in _SKIP:
                pass
            elif tag == "table":
                if nested is not None:
                    nested.append(child)
                append("\n")
            elif tag == "br":
                append("\n")
            else:  # a block, or a cell in a cell
                inner = child.text
                append(f"\n{ws(inner)}\n" if inner else "\n\n")
        tail = child.tail
        if tail:
            append(ws(tail))
    return _clean("".join(out))


def _one_leaf(text: str | None, inner: str | None, tail: str | None, inline: bool) -> str:
    """`_text_of` of an element holding `text`, then one childless element (inline, or a block or a cell)
    holding `inner`, then that element's `tail`: the loop of `_text_of` for this one child, with no list
    to join."""
    ws = _collapse
    if inline:  # one line: collapsed pieces hold no line break, so _clean is a replace and a strip
        line = (ws(text) if text else "") + (ws(inner) if inner else "") + (ws(tail) if tail else "")
        return line.replace("\xa0", " ").strip(STRIP)
    # a block (`<p>a</p>`): its line between the cell's text and the tail, as _clean splits them
    line = ws(inner).replace("\xa0", " ").strip(STRIP) if inner else ""
    before = ws(text).replace("\xa0", " ").strip(STRIP) if text else ""
    after = ws(tail).replace("\xa0", " ").strip(STRIP) if tail else ""
    if not before and not after:
        return line
    return "\n".join([part for part in (before, line, after) if part])


# The elements a cell most often holds alone and childless (`<span>a</span>`, `<p>a</p>`), read by
# _Page without a call: name -> a block (its text a line of its own). Names as libxml2 writes them (lower
# case); any other name takes _text_of.
_LEAVES = {**dict.fromkeys(("span", "font", "b", "a", "strong", "em", "i", "u", "o:p", "label", "sup", "sub",
                            "small", "big", "s", "strike", "nobr"), False),
           **dict.fromkeys(("p", "div", "center"), True)}
assert all(tag not in _NOT_INLINE for tag, block in _LEAVES.items() if not block)
assert all(tag in _BLOCK for tag, block in _LEAVES.items() if block)


def _walk(el, out: list[str], nested: list | None) -> None:
    """Appends the text of `el` and of its tail to `out`, read as `_text_of` reads; iterative: a page nests
    as deep as libxml2 lets it, Python's stack must not follow."""
    # The stack holds elements to read, texts (str) to append and _CLOSE marks; it is popped in reading order.
    stack: list = [el]
    pop, push, append, ws = stack.pop, stack.append, out.append, _collapse
    while stack:
        item = pop()
        if type(item) is str:
            append(ws(item))
            continue
        if item is _CLOSE:
            append("\n")
            continue
        tag = item.tag
        tail = item.tail
        if tail:
            push(tail)
        if type(tag) is not str:  # comments, entities: not elements
            continue
        tag = tag.lower()
        if tag in _SKIP:
            continue
        if tag == "table":
            if nested is not None:
                nested.append(item)
            append("\n")
            continue
        if tag == "br":
            append("\n")
            continue
        if tag in _BLOCK or tag == "td" or tag == "th":
            append("\n")
            push(_CLOSE)
        if len(item):
            children = list(item)
            children.reverse()
            stack += children
        if item.text:
            push(item.text)


# Column headers that only a form's tables have: a table holding two of them continues the form.
_FORM_HEADERS = frozenset(("一级指标", "二级指标", "三级指标", "指标值确定依据", "指标分类", "近两年指标值",
                           "预期当年实现值", "总体资金情况", "当年金额", "近两年收支金额"))
assert all(len(h) <= 40 and not h.isascii() for h in _FORM_HEADERS)  # _Page looks for them only in such cells
_TITLE = re.compile(r"(?:19|20)\d{2}\s*年.*?(?:部门|单位)整体绩效目标")
_TITLE_WORDS = re.compile(r"绩效目标|绩效自评|评价报告|批复")


class _Cell:
    """A cell spanning rows or columns, or holding a table. Any other cell (most of them) is kept as its
    text alone, a str in the row: one object less per cell, and a row of such cells is copied to the grid
    as it is."""
    __slots__ = ("text", "rowspan", "colspan", "nested")

    def __init__(self, text: str, rowspan: int, colspan: int, nested: list):
        self.text, self.rowspan, self.colspan, self.nested = text, rowspan, colspan, nested


def _text(cell: "_Cell | str") -> str:
    return cell if type(cell) is str else cell.text


def _colspan(cell: "_Cell | str") -> int:
    return 1 if type(cell) is str else cell.colspan


class _Table:
    __slots__ = ("el", "number", "rows", "plain", "labels", "headers", "parent", "all_labels", "first", "last")

    def __init__(self, el, number: int, parent: "_Table | None"):
        self.el, self.number, self.parent = el, number, parent  # parent: the nearest table holding this one
        self.rows: list[list[_Cell | str]] = []
        self.plain: list[bool] = []  # per row: all its cells are str
        self.labels: set[str] = set()  # section labels in its own cells
        self.all_labels: set[str] = set()  # … and in the form tables nested in it
        self.headers = 0  # cells holding a column header only a form has
        self.first: str | None = None  # its first and last section labels, in reading order
        self.last: str | None = None

    @property
    def form_like(self) -> bool:
        return bool(self.labels) or self.headers >= 2

    def inside(self, other: "_Table") -> bool:
        parent = self.parent
        while parent is not None:
            if parent is other:
                return True
            parent = parent.parent
        return False

    def has_text(self) -> bool:
        return any(_text(cell) for row in self.rows for cell in row)


_SPAN = re.compile(r"\s*\+?(\d+)")
MAX_COLSPAN, MAX_ROWSPAN = 1000, 65534  # the HTML standard's limits


def _span_of(value: str, limit: int) -> int:
    if value.isascii() and value.isdigit():  # what the pattern reads in a plain number: all of it
        return min(int(value[:6]), limit)
    m = _SPAN.match(value)
    return min(int(m.group(1)[:6]), limit) if m else 1


def _owner(el):
    """The nearest `<table>` above `el`, or None."""
    # lxml matches the tag in C and makes a Python element only for the match (libxml2's HTML parser writes
    # tag names in lower case), where a walk up in Python made one per ancestor
    return next(el.iterancestors("table"), None)


class _Page:
    """Every `<table>` of the page in document order, with its own rows and cells (the rows of a table
    nested in a cell belong to the nested table)."""

    def __init__(self, root, path: str):
        self.path = path
        self.tables: list[_Table] = []
        self.by_el: dict = {}
        for number, el in enumerate(root.iter("table"), 1):
            table = _Table(el, number, self.by_el.get(_owner(el)))
            self.by_el[el] = table
            self.tables.append(table)
        count = 0
        by_el = self.by_el
        # the per-cell loop below runs for every cell of the page: what it calls is bound locally
        ws_sub, strip_chars, label_of, headers, leaves = _WS.sub, STRIP, section_of, _FORM_HEADERS, _LEAVES
        for tr in root.iter("tr"):
            # the nearest <table> above the row: mostly its parent (only table elements are keys of by_el)
            table = by_el.get(tr.getparent()) or by_el.get(_owner(tr))
            if table is None:
                continue  # a row outside any table: not a cell a person sees in a grid
            row: list[_Cell | str] = []
            plain = True
            # the row's cells (libxml2's HTML parser writes tag names in lower case); a plain loop, where
            # iterchildren("td", "th") would build a tag matcher for every row
            for td in tr:
                tag = td.tag
                if tag != "td" and tag != "th":
                    continue
                children = len(td)
                if not children:  # most cells: text and no markup (_text_of's first case, inlined: it runs per cell)
                    nested: list | tuple = ()  # no list for a cell that cannot hold a table
                    text = td.text
                    if not text:
                        text = ""
                    elif text.isprintable() and "  " not in text:  # nothing to collapse, no no-break space
                        text = text.strip(strip_chars)
                    else:  # _collapse and _clean inlined
                        text = ws_sub(" ", text).replace("\xa0", " ").strip(strip_chars)
                elif children == 1 and (block := leaves.get((child := td[0]).tag)) is not None and not len(child):
                    # the next most common cells: one childless element (_text_of's case for it, inlined).
                    # Pieces without two spaces in a row, tabs, line breaks or no-break spaces (all of them
                    # unprintable) are what collapsing and cleaning leave as they are.
                    nested = ()
                    outer, inner, tail = td.text, child.text, child.tail
                    text = (outer or "") + (inner or "") + (tail or "")
                    if not text.isprintable() or "  " in text:
                        text = _one_leaf(outer, inner, tail, not block)
                    elif not block:
                        text = text.strip(strip_chars)
                    elif outer or tail:  # a line between the cell's text and the tail
                        text = "\n".join([part for part in (outer and outer.strip(strip_chars),
                                                             inner and inner.strip(strip_chars),
                                                             tail and tail.strip(strip_chars)) if part])
                    else:
                        text = inner.strip(strip_chars) if inner else ""
                else:
                    nested = []
                    text = _text_of(td, nested)
                names = td.keys()  # one call for the attributes' names, where two `get`s cost twice that
                if nested or "rowspan" in names or "colspan" in names:
                    rowspan, colspan = td.get("rowspan"), td.get("colspan")
                    row.append(_Cell(text, 1 if rowspan is None else _span_of(rowspan, MAX_ROWSPAN),
                                     1 if colspan is None else max(1, _span_of(colspan, MAX_COLSPAN)), nested))
                    plain = False
                else:
                    row.append(text)
                # a section label or a form's column header is short and Chinese (NFKC keeps ASCII as it is:
                # numbers and empty cells are not looked up)
                if text and len(text) <= 40 and not text.isascii():
                    key = label_of(text)
                    if key:
                        table.labels.add(key)
                        table.first = table.first or key
                        table.last = key
                    elif text in headers:
                        table.headers += 1
            count += len(row)
            if count > readers.MAX_CELLS:  # check_cells's test without its call; its limit read where it is set
                check_cells(count, path, "the page")
            table.rows.append(row)
            table.plain.append(plain)
        for table in reversed(self.tables):  # innermost first: a nested form table's labels count for its holder
            table.all_labels |= table.labels
            if table.parent is not None and table.form_like:
                table.parent.all_labels |= table.all_labels

    def form_run(self) -> list[_Table]:
        """The run of consecutive form tables with the most section labels. Tables nested in a form table
        are read with it. A run ends at a table with text of its own between two form tables, and where a
        table repeats a section the run already has (a second form), unless it continues the run's last
        section (a page break)."""
        runs: list[tuple[list[_Table], set[str], str | None]] = []  # tables, their labels, the last label
        for table in self.tables:
            if runs and not table.form_like and self._page_continued(runs[-1][0][-1], table):
                runs[-1][0].append(table)
                continue
            if not table.form_like or self._inside_form(table):
                continue
            if runs and self._consecutive(runs[-1][0][-1], table) and self._continues(runs[-1], table):
                tables, labels, last = runs[-1]
                tables.append(table)
                runs[-1] = (tables, labels | table.all_labels, table.last or last)
            else:
                runs.append(([table], set(table.all_labels), table.last))
        best, labels, _ = max(runs, key=lambda run: len(run[1]), default=([], set(), None))
        if len(labels) < 2:
            wanted = "section labels (部门（单位）名称, 部门总体资金情况, 长期绩效指标, 年度绩效指标 …)"
            if labels:
                detail = (f"a web page whose tables hold only {_LABELS[next(iter(labels))]} of a 批复's {wanted}")
            elif self.tables:
                detail = f"a web page with {len(self.tables)} table(s), none holding a 批复's {wanted}"
            else:
                detail = f"a web page with no table, where a 批复 is a table of {wanted}"
            raise DocumentError(self.path, detail + ": not a 部门整体绩效目标批复", "not_a_document")
        while not best[0].all_labels:
            best.pop(0)  # a run opens with the form, not with a table of headers before it
        return best

    def _page_continued(self, last: _Table, table: _Table) -> bool:
        """`table` goes on with the indicator table `last` ends with, after a page break that repeated
        neither its column headers nor a section label (Hunan's table has no section column): it stands
        right after `last` in the same container, has text, and is exactly as wide."""
        if not (last.headers >= 2 or last.last in ("long_term", "annual")) or table.parent is not last.parent:
            return False
        if not table.rows or not last.rows or not table.has_text():
            return False
        width = sum(map(_colspan, last.rows[0]))
        return sum(map(_colspan, table.rows[0])) == width and self._consecutive(last, table)

    @staticmethod
    def _continues(run: tuple[list[_Table], set[str], str | None], table: _Table) -> bool:
        _, labels, last = run
        again = table.all_labels & labels
        return not again or (again == {last} and table.first == last)

    def _inside_form(self, table: _Table) -> bool:
        parent = table.parent
        while parent is not None:
            if parent.form_like:
                return True
            parent = parent.parent
        return False

    def _consecutive(self, a: _Table, b: _Table) -> bool:
        """No table with text of its own stands between `a` and `b` (the layout tables that hold `b`
        do not count, nor do the tables nested in `a`)."""
        return not any(t.has_text() for t in self.tables[a.number:b.number - 1]
                       if not t.inside(a) and not b.inside(t))


_LABELS = {"department": "部门（单位）名称", "funding": "部门总体资金情况", "functions": "部门职能概述",
           "annual_tasks": "年度工作任务", "long_term_goal": "长期目标", "annual_goal": "年度目标",
           "long_term": "长期绩效指标", "annual": "年度绩效指标"}


# --- the grid --------------------------------------------------------------------------------------------------

class _Builder:
    def __init__(self, page: _Page):
        self.page = page
        self.grid: Grid = []
        self.origins: list[str] = []
        self.merges: list[Merge] = []
        self.cells = 0

    def add_row(self, cells: list[str], origin: str) -> None:
        self.cells += len(cells)
        check_cells(self.cells, self.page.path)
        self.grid.append(cells)
        self.origins.append(origin)

    def add_table(self, table: _Table) -> None:
        """Rows with their spans expanded; a form table nested in a cell follows the row that holds it."""
        n = len(table.rows)
        taken: dict[int, set[int]] = {}  # local row -> columns a span from above covers
        pending = 0  # cells those spans claim in rows not added yet
        at: list[int] = []  # local row -> grid row
        spans: list[Merge] = []
        for i, row in enumerate(table.rows):
            occupied = taken.pop(i, ())
            at.append(len(self.grid))
            origin = f"table {table.number} row {i + 1}"
            if table.plain[i]:  # no span starts in the row
                if not occupied:  # … nor covers it: it is a grid row
                    if self.cells + len(row) + pending > MAX_CELLS:
                        check_cells(self.cells + len(row) + pending, self.page.path)
                    self.add_row(list(row), origin)
                    continue
                # spans from above cover some of its columns: the loop below for a row of str cells (its
                # checks, one per cell, come to this one: `pending` does not change along such a row)
                pending -= len(occupied)
                if row and len(row) + pending > MAX_CELLS - self.cells:
                    check_cells(self.cells + len(row) + pending, self.page.path)
                self.add_row(_with_blanks(row, occupied), origin)
                continue
            pending -= len(occupied)
            cells: list[str] = []
            covered = 0  # the columns in `cells` a span from above covers (not cells of this row)
            room = MAX_CELLS - self.cells  # for the row's cells, with what spans claim below
            after: list[_Table] = []
            col = 0
            for cell in row:
                while col in occupied:
                    cells.append("")
                    covered += 1
                    col += 1
                if type(cell) is str:
                    if len(cells) - covered + 1 + pending > room:
                        check_cells(self.cells + len(cells) - covered + 1 + pending, self.page.path)
                    cells.append(cell)
                    col += 1
                    continue
                rs = cell.rowspan
                if rs != 1:
                    rs = max(1, min(rs if rs > 0 else n - i, n - i))  # 0: to the table's end
                cs = cell.colspan
                pending += (rs - 1) * cs
                if len(cells) - covered + cs + pending > room:
                    check_cells(self.cells + len(cells) - covered + cs + pending, self.page.path)
                cells.append(self._cell_text(cell, after) if cell.nested else cell.text)
                if cs > 1:
                    cells += [""] * (cs - 1)
                for dr in range(1, rs):
                    cols = taken.setdefault(i + dr, set())
                    before = len(cols)
                    cols.update(range(col, col + cs))
                    pending -= cs - (len(cols) - before)  # spans overlapping one another claim a cell once
                if rs > 1 or cs > 1:
                    spans.append((i, col, i + rs - 1, col + cs - 1))
                col += cs
            if occupied and max(occupied) >= col:  # spans from above reach past the row's last cell
                cells += [""] * (max(occupied) + 1 - col)
            self.add_row(cells, origin)
            for nested in after:
                self.add_table(nested)
        self.merges += [(at[r0], c0, at[r1], c1) for r0, c0, r1, c1 in spans]

    def _cell_text(self, cell: _Cell, after: list[_Table]) -> str:
        """A form table nested in the cell is read after the row; another nested table (a layout box
        around the cell's text) is read as the cell's text."""
        text = cell.text
        for el in cell.nested:
            nested = self.page.by_el[el]
            if nested.form_like:
                after.append(nested)
                continue
            inner = _clean("\n".join(" ".join(t for c in r if (t := _text(c))) for r in nested.rows))
            inner = "\n".join(t for t in (inner, *(self._cell_text(c, after) for r in nested.rows for c in r
                                                   if type(c) is _Cell and c.nested)) if t)
            text = "\n".join(t for t in (text, inner) if t)
        return text


def _with_blanks(row: list[str], covered) -> list[str]:
    """`row`'s cells with a blank in each column of `covered` (a span from above covers it), placed as
    add_table's loop places them: the cells fill the other columns in order, blanks pad the row to the
    last covered column."""
    cells = list(row)
    for col in sorted(covered):
        if col < len(cells):
            cells.insert(col, "")
        else:
            cells += [""] * (col + 1 - len(cells))
    return cells


# --- the title -------------------------------------------------------------------------------------------------

_TITLE_TAGS = frozenset(("p", "div", "center", "span", "strong", "b", "font", "td", "th", "a", "em", "label"))
_TITLE_SCAN = (*sorted(_HEADINGS), *sorted(_TITLE_TAGS), "table")
_BLOCK_OR_TABLE = _BLOCK | {"table"}


def _title_row(root, page: _Page, form: _Table) -> tuple[str, str] | None:
    """The form's title when it stands outside the form's cells: a heading or a line of text before the
    form, the form table's `<caption>`, or the page's `<title>`. One with the fiscal year wins; the
    caption before the text nearest the form, that before the page's title."""
    candidates: list[tuple[str, str]] = []
    caption = next(form.el.iterchildren("caption"), None)  # matched in C, not by a proxy per row
    if caption is not None:
        text = _text_of(caption).replace("\n", "")
        if text:
            candidates.append((text, f"table {form.number} caption"))
    before: list[tuple[str, str]] = []
    headings = 0
    # the elements that may hold a title, and the tables (to stop at the form's): lxml matches their names
    # in C and makes a Python element only for them (libxml2 writes names in lower case; no name here is
    # another's lower case but its own)
    for el in root.iter(_TITLE_SCAN):
        if el is form.el:
            break
        tag = el.tag
        if tag in _HEADINGS:
            headings += 1
        elif tag not in _TITLE_TAGS:
            continue  # another table
        if len(el) and any(_tag(c) in _BLOCK_OR_TABLE for c in el):
            continue
        quick = etree.tostring(el, method="text", encoding="unicode", with_tail=False)
        if len(quick) > 400 or not _TITLE_WORDS.search(_fold(quick)) or _in_form_table(el, page):
            continue
        text = _text_of(el)
        if text and len(text) <= 80 and _TITLE_WORDS.search(_fold(text)):
            where = f"heading {headings}" if tag in _HEADINGS else f"text above table {form.number}"
            before.append((text.replace("\n", ""), where))
    candidates += reversed(before)
    title_el = root.find(".//title")
    if title_el is not None:
        text = _WS.sub(" ", title_el.text or "").strip(STRIP)
        if text and len(text) <= 120 and _TITLE_WORDS.search(_fold(text)):
            candidates.append((text, "page title"))
    for text, where in candidates:
        if _TITLE.search(_fold(text)):
            return text, where
    return candidates[0] if candidates else None


def _in_form_table(el, page: _Page) -> bool:
    """`el` stands in a cell of a form table (not one of the run's: those come after the title)."""
    table = page.by_el.get(_owner(el))
    while table is not None:
        if table.form_like:
            return True
        table = table.parent
    return False


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


# --- entry -----------------------------------------------------------------------------------------------------

def read(data: bytes, path: str) -> Sheet:
    text, encoding = decode(data, path)
    # a page read as UTF-8 (without a byte-order mark) is its own UTF-8 encoding: not encoded again
    markup = data if encoding == "utf-8" and not data.startswith(codecs.BOM_UTF8) else text.encode("utf-8")
    try:
        root, too_deep = _parse(markup, path)
        page = _Page(root, path)
        try:
            run = page.form_run()
        except DocumentError as e:
            if too_deep:  # what lay deeper was cut off by the parser: say so, it may have been the form
                raise DocumentError(path, f"markup nested more than {_MAX_DEPTH} elements deep; the parser read no "
                                    "deeper, and no form stands above that", "unreadable") from None
            raise e
        out = _Builder(page)
        title = _title_row(root, page, run[0])
        if title is not None:
            out.add_row([title[0]], title[1])
        for table in run:
            out.add_table(table)
    except RecursionError:
        raise DocumentError(path, "markup nested too deep to be a form", "unreadable") from None
    return Sheet(grid=out.grid, format="html", encoding=encoding, origins=tuple(out.origins),
                 merges=tuple(out.merges), col_label=" col {}")
