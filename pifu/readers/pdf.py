"""PDF: the form's table from its text layer, by ruling lines and character positions (PDFium via pypdfium2).

A printed approval is one ruled table over two or three pages. Per page, the rules (stroked lines, thin
filled rectangles, rectangle edges) give the row and column boundaries; a merged cell is a run of
elementary cells with no rule between them; each character goes to the cell its box centre lies in and a
cell's lines are joined (a wrapped label is one cell). Where a rule is missing at the foot of a page (a cell
cut by the page break) the vertical rules and the text still bound the row. Across pages:
- the column boundaries are shared (the union over all pages), so the pages stack into one grid;
- column-header rows repeated at the top of a page are dropped;
- a row cut at the foot of a page with no bottom rule anywhere, continued at the top of the next with no top
  rule (a long paragraph wrapped across the break), is one row; so is a row split with rules on both sides
  of the break (as LibreOffice Writer prints it), when the next page's first row has text only under cells
  whose last line ran to their right edge;
- a merged label cut by the break continues on the next page as an empty cell: the top-left convention of
  the grid already says the rows below belong to its group.
Text outside the ruled table (the title, a cover letter) becomes rows of its own; page numbers are dropped.
Kangxi radicals and CJK radical-supplement characters (⼈ for 人, ⻔ for 门) are folded to the unified
ideographs. Why PDFium and not pdfplumber: docs/pdf.md.
"""
from __future__ import annotations

import ctypes
import re
import struct
import unicodedata
from bisect import bisect_right
from collections import defaultdict
from itertools import compress, repeat
from operator import add, eq, itemgetter, mul, ne, not_, sub, truediv
from operator import neg as neg_

from pifu.model import DocumentError
from pifu.readers import STRIP, Sheet, check_cells

MAX_PAGES = 200  # an approval prints on two or three pages
MAX_OBJECTS = 200_000  # drawing objects on one page; a printed form has a few hundred
TOL = 2.0  # points: rules closer than this are one rule
# CJK radical supplement -> unified ideograph, for the radicals fonts map common characters to
# (the Kangxi radicals U+2F00-U+2FD5 all fold by NFKC).
_SUPPLEMENT = {
    "⺟": "母", "⺠": "民", "⻄": "西", "⻅": "见", "⻆": "角", "⻈": "讠", "⻉": "贝", "⻋": "车", "⻑": "長",
    "⻓": "长", "⻔": "门", "⻘": "青", "⻙": "韦", "⻚": "页", "⻛": "风", "⻜": "飞", "⻠": "饣", "⻢": "马",
    "⻣": "骨", "⻥": "鱼", "⻦": "鸟", "⻧": "卤", "⻨": "麦", "⻩": "黄", "⻪": "黾", "⻬": "齐", "⻮": "齿",
    "⻰": "龙", "⻳": "龟",
}
FOLD = {cp: unicodedata.normalize("NFKC", chr(cp)) for cp in range(0x2F00, 0x2FD6)}
FOLD.update({ord(k): v for k, v in _SUPPLEMENT.items()})
_PAGE_NUMBER = re.compile(r"^(?:第\s*\d+\s*页(?:\s*[,，/]?\s*共\s*\d+\s*页)?|[-—–]*\s*\d+\s*[-—–]*|\d+\s*/\s*\d+|"
                          r"page\s*\d+(?:\s*of\s*\d+)?)$", re.IGNORECASE)


_FOLDED = re.compile("[" + "".join(map(chr, sorted(FOLD))) + "]")


def fold(text: str) -> str:
    """⼈ -> 人, ⻔ -> 门: radical code points a text layer gives for unified ideographs."""
    # translate looks every character up in FOLD; most texts hold none of its keys
    return text.translate(FOLD) if _FOLDED.search(text) else text


def _bad(cp: int) -> bool:
    """A code point no real text holds: a control character, private use, or the replacement character."""
    return cp < 0x20 or 0xE000 <= cp <= 0xF8FF or cp == 0xFFFD or 0xF0000 <= cp


def read(data: bytes, path: str) -> Sheet:
    import pypdfium2 as pdfium

    try:
        doc = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as e:
        if getattr(e, "err_code", None) in (4, 6):  # FPDF_ERR_PASSWORD, FPDF_ERR_SECURITY
            raise DocumentError(path, "the PDF is password-protected", "encrypted") from None
        raise DocumentError(path, f"not a readable PDF ({e})".replace("\n", " "), "unreadable") from None
    except Exception as e:  # noqa: BLE001 - PDFium on hostile bytes: anything is a damaged file
        raise DocumentError(path, f"not a readable PDF ({type(e).__name__})", "unreadable") from None
    try:
        pages = _pages(doc, path)
    except DocumentError:
        raise
    except Exception as e:  # noqa: BLE001
        raise DocumentError(path, f"a damaged PDF ({type(e).__name__}: {e})".replace("\n", " "),
                            "unreadable") from None
    finally:
        doc.close()
    grid, origins, merges = _assemble(pages, path)
    return Sheet(grid=grid, format="pdf", encoding=None, origins=tuple(origins), merges=tuple(merges),
                 col_label=" col {}")


# ------------------------------------------------------------------------------------------ extraction

class Page:
    __slots__ = ("number", "chars", "hs", "vs")

    def __init__(self, number: int):
        self.number = number
        self.chars: list[tuple[str, float, float, float, float]] = []  # (char, centre x, centre y, height, width)
        self.hs: list[tuple[float, float, float]] = []  # (y, x0, x1)
        self.vs: list[tuple[float, float, float]] = []  # (x, y0, y1)


def _pages(doc, path: str) -> list[Page]:
    import pypdfium2.raw as R

    n = len(doc)
    if n == 0:
        raise DocumentError(path, "a PDF without pages", "unreadable")
    if n > MAX_PAGES:
        raise DocumentError(path, f"{n} pages; a 批复 prints on a few", "too_large")
    pages, total, bad = [], 0, 0
    for i in range(n):
        page = doc[i]
        try:
            text = page.get_textpage()
            try:
                p, b = _chars(R, text.raw, i + 1, path)
            finally:
                text.close()
            _rules(R, page.raw, p, path)
        finally:
            page.close()
        pages.append(p)
        total += len(p.chars)
        bad += b
    if bad and (total == 0 or bad > max(3, total // 20)):
        raise DocumentError(path, f"{bad} of {total + bad} characters have no Unicode mapping "
                            "(fonts without ToUnicode, (cid:NN)): the text cannot be read", "unmapped_glyphs")
    if total == 0:
        raise DocumentError(path, f"no text layer on its {n} page(s): a scanned PDF", "no_text_layer")
    return pages


def _chars(R, tp, number: int, path: str) -> tuple[Page, int]:
    """A page's characters with their loose boxes. PDFium answers for one character a call: the calls are
    bare functions mapped over the indexes at C level, the boxes land in one array, and only the characters
    that may be left out (whitespace and code points no text holds, or those a call flagged) are looked at
    one by one."""
    p = Page(number)
    n = R.FPDFText_CountChars(tp)
    if n <= 0:
        return p, 0
    check_cells(n, path, f"page {number}")
    fast = _fast(R)
    text = _page_text(R, fast, tp, n)
    errors = list(map(fast.map_error, repeat(tp, n), range(n)))
    # the loose box (font ascent to descent) is the same height for every character of a line, so a comma
    # and an ideograph of one line share their centre
    boxes = (ctypes.c_float * (4 * n))()  # FS_RECTF: left, top, right, bottom
    refs = map(ctypes.byref, repeat(boxes, n), range(0, 16 * n, 16))
    found = list(map(fast.loose_box, repeat(tp, n), range(n), refs))
    left, top, right, bottom = (boxes[k::4] for k in range(4))
    x = map(truediv, map(add, left, right), repeat(2))
    y = map(truediv, map(add, bottom, top), repeat(2))
    chars = list(zip(text, x, y, map(sub, top, bottom), map(sub, right, left)))  # (char, x, y, height, width)
    keep, bad = _kept(fast.generated, tp, text, errors, found)
    p.chars = chars if keep is None else list(compress(chars, keep))
    return p, bad


def _page_text(R, fast: _Fast, tp, n: int) -> str:
    """The page's text, one character per index."""
    buf = ctypes.create_string_buffer(2 * (n + 1))
    got = R.FPDFText_GetText(tp, 0, n, ctypes.cast(buf, ctypes.POINTER(ctypes.c_ushort)))
    text = buf.raw[: 2 * max(got - 1, 0)].decode("utf-16-le", "replace")
    if len(text) == n:
        return text
    # surrogate pairs: one code point per index
    return "".join([chr(u or 0xFFFD) for u in map(fast.unicode, repeat(tp, n), range(n))])


# what a page may leave out: whitespace (when PDFium generated it) and what no real text holds (see `_bad`)
_SUSPECT = re.compile(r"[\s\x00-\x1f\ue000-\uf8ff\ufffd\U000f0000-\U0010ffff]")


def _kept(generated, tp, text: str, errors: list[int], found: list[int]) -> tuple[bytearray | None, int]:
    """Which characters a page keeps (None: all), leaving out line breaks and spaces PDFium generated,
    characters without a Unicode mapping (counted as bad) and characters without a box; and how many were
    bad."""
    suspects = [m.start() for m in _SUSPECT.finditer(text)]
    if 1 in errors or 0 in found:
        suspects = sorted(set(suspects).union(i for i, (e, ok) in enumerate(zip(errors, found)) if e == 1 or not ok))
    if not suspects:
        return None, 0
    keep = bytearray(b"\x01") * len(text)
    bad = 0
    for i, gen in zip(suspects, map(generated, repeat(tp, len(suspects)), suspects)):
        ch = text[i]
        if ch in "\r\n" and gen:
            keep[i] = 0
        elif _bad(ord(ch)) or errors[i] == 1:
            bad += 1
            keep[i] = 0
        elif (ch.isspace() and gen) or not found[i]:
            keep[i] = 0
    return keep, bad


def _rules(R, page, p: Page, path: str) -> None:
    """Horizontal and vertical rules from the page's path objects: segments of stroked paths, and thin
    filled rectangles (one path each, as WPS prints borders)."""
    count = R.FPDFPage_CountObjects(page)
    if count > MAX_OBJECTS:
        raise DocumentError(path, f"page {p.number} holds {count:,} drawing objects; a printed form has a few "
                            "hundred", "too_large")
    fast = _fast(R)
    objects = list(map(fast.get_object, repeat(page, count), range(count)))
    paths = list(compress(objects, map(eq, map(fast.object_type, objects), repeat(R.FPDF_PAGEOBJ_PATH))))
    m = len(paths)
    bounds = (ctypes.c_float * (4 * m))()
    corners = [map(ctypes.byref, repeat(bounds, m), range(k, 16 * m, 16)) for k in (0, 4, 8, 12)]
    has = list(map(fast.bounds, paths, *corners))
    hs, vs = p.hs, p.vs
    for k, obj in enumerate(paths):
        if not has[k]:
            continue
        l, b, r, t = bounds[4 * k: 4 * k + 4]
        w, h = r - l, t - b
        if w < TOL and h > TOL:
            vs.append(((l + r) / 2, b, t))
        elif h < TOL and w > TOL:
            hs.append(((b + t) / 2, l, r))
        else:
            _path_edges(R, obj, hs, vs)


def _path_edges(R, obj, hs, vs) -> None:
    """A path's horizontal and vertical segments, in page space."""
    segments = R.FPDFPath_CountSegments(obj)
    if segments <= 0 or segments > 100_000:
        return
    matrix = R.FS_MATRIX()
    R.FPDFPageObj_GetMatrix(obj, matrix)
    a, bb, c, d, e, f = matrix.a, matrix.b, matrix.c, matrix.d, matrix.e, matrix.f
    LINETO, MOVETO = R.FPDF_SEGMENT_LINETO, R.FPDF_SEGMENT_MOVETO
    start = last = None
    for x, y, kind, close in _points(R, obj, segments):
        pt = (a * x + c * y + e, bb * x + d * y + f)
        if kind == MOVETO:
            start = last = pt
            continue
        if kind == LINETO and last is not None:
            _edge(last, pt, hs, vs)
        last = pt
        if close and start is not None:
            _edge(last, start, hs, vs)
            last = start


# PDFium's path segment (CFX_Path::Point): x and y as floats, the type, whether it closes the figure, padding
_POINT = struct.Struct("=ffBBxx")


def _points(R, obj, n: int) -> list[tuple[float, float, int, int]]:
    """A path's points (x, y, segment type, closes): read at once from the array PDFium keeps them in (a
    segment handle is the address of its point) when the handles are evenly spaced by the size of a point
    and the first, second and last points read there agree with what PDFium's functions return for them;
    one call per value otherwise."""
    fast = _fast(R)
    size = _POINT.size
    first, second, end = (fast.segment(obj, j) for j in (0, min(1, n - 1), n - 1))  # addresses, or None
    if first and second and end and second - first == min(1, n - 1) * size and end - first == (n - 1) * size:
        points = list(_POINT.iter_unpack(ctypes.string_at(first, n * _POINT.size)))
        if all(points[j] == _point(R, obj, j) for j in {0, min(1, n - 1), n - 1}):
            return points
    return [_point(R, obj, j) for j in range(n)]


def _point(R, obj, j: int) -> tuple[float, float, int, int]:
    seg = R.FPDFPath_GetPathSegment(obj, j)
    x, y = ctypes.c_float(), ctypes.c_float()
    R.FPDFPathSegment_GetPoint(seg, x, y)
    return x.value, y.value, R.FPDFPathSegment_GetType(seg), R.FPDFPathSegment_GetClose(seg)


class _Fast:
    """The PDFium functions called once per character, drawing object or path segment, bare: with no argtypes
    ctypes converts no argument (handles go as the pointer objects PDFium returned, indexes as C ints,
    out-parameters by byref), which halves the cost of a call. Callers pass exactly those."""

    def __init__(self, R):
        self.map_error = _bare(R.FPDFText_HasUnicodeMapError, ctypes.c_int)
        self.loose_box = _bare(R.FPDFText_GetLooseCharBox, ctypes.c_int)
        self.unicode = _bare(R.FPDFText_GetUnicode, ctypes.c_uint)
        self.generated = _bare(R.FPDFText_IsGenerated, ctypes.c_int)
        self.get_object = _bare(R.FPDFPage_GetObject, R.FPDF_PAGEOBJECT)
        self.object_type = _bare(R.FPDFPageObj_GetType, ctypes.c_int)
        self.bounds = _bare(R.FPDFPageObj_GetBounds, ctypes.c_int)
        self.segment = _bare(R.FPDFPath_GetPathSegment, ctypes.c_void_p)  # its address, an int


def _bare(function, restype):
    bare = type(function)(ctypes.cast(function, ctypes.c_void_p).value)
    bare.restype = restype
    return bare


_FAST: _Fast | None = None


def _fast(R) -> _Fast:
    global _FAST
    if _FAST is None:
        _FAST = _Fast(R)
    return _FAST


def _edge(p0, p1, hs, vs) -> None:
    (x0, y0), (x1, y1) = p0, p1
    if abs(y1 - y0) < 0.5 and abs(x1 - x0) > TOL:
        hs.append(((y0 + y1) / 2, min(x0, x1), max(x0, x1)))
    elif abs(x1 - x0) < 0.5 and abs(y1 - y0) > TOL:
        vs.append(((x0 + x1) / 2, min(y0, y1), max(y0, y1)))


# ------------------------------------------------------------------------------------------ the grid

def _cluster(values: list[float]) -> list[float]:
    out: list[float] = []
    for v in sorted(values):
        if out and v - out[-1] < TOL:
            continue
        out.append(v)
    return out


def _snap(v: float, bounds: list[float]) -> int | None:
    i = bisect_right(bounds, v + TOL) - 1
    if i >= 0 and abs(bounds[i] - v) < TOL:
        return i
    if i + 1 < len(bounds) and abs(bounds[i + 1] - v) < TOL:
        return i + 1
    return None


class PageRows:
    """One page's rows: (cells, origin, open_top, open_bottom, in_table); for its last table row the room
    left at the end of each cell's last line, for its first the width of each cell's first unit of text."""

    def __init__(self):
        self.rows: list[list[str]] = []
        self.origins: list[str] = []
        self.table: list[bool] = []
        self.merges: list[tuple[int, int, int, int]] = []  # page-local rows
        self.open_top = self.open_bottom = False
        self.first_table = self.last_table = None
        self.tail: dict[int, float] = {}  # per column of the last table row: room left on its last line
        self.head: dict[int, float] = {}  # per column of the first table row: width of its first unbreakable unit


def _assemble(pages: list[Page], path: str):
    from pifu.layout import section_of

    xs = _cluster([x for p in pages for x, _, _ in p.vs])
    width = max(1, len(xs) - 1)
    grid: list[list[str]] = []
    origins: list[str] = []
    merges: list[tuple[int, int, int, int]] = []
    section = None  # the section label last seen, and the signatures of the table rows under it
    sigs: set[tuple[str, ...]] = set()
    last_raw: list[str] = []
    tail_open = False  # the grid's last row was cut at the foot of its page (no bottom rule anywhere)
    tail: dict[int, float] = {}  # room left on the last lines of the grid's last row (a page's last)
    for page in pages:
        pr = _page_rows(page, xs, width)
        keep = [k for k in range(len(pr.rows)) if pr.table[k] or not _PAGE_NUMBER.match(pr.rows[k][0])]
        joined = None
        if pr.first_table is not None:
            # column headers repeated at the top of the page: rows equal to earlier rows of the same
            # section's table (the section label in them, if printed again, is that section's)
            k = pr.first_table
            while k <= pr.last_table:
                cells = [t.strip(STRIP) for t in pr.rows[k]]
                label = next((x for x in (section_of(t) for t in cells if t) if x), None)
                sig = _signature(cells)
                if not sig or sig not in sigs or label not in (None, section):
                    break
                keep.remove(k)
                k += 1
            if k == pr.first_table and all(pr.table[x] for x in keep if x < k) and (
                    (tail_open and pr.open_top) or _continues(tail, pr.head, pr.rows[k])):
                joined = k  # a row cut at the foot of the previous page, continued here
        index = {}
        for k in keep:
            cells = pr.rows[k]
            if k == joined:  # the raw texts joined: a space at the break stays
                last_raw = [a + b for a, b in zip(last_raw, cells)]
                grid[-1] = [t.strip(STRIP) for t in last_raw]
                index[k] = len(grid) - 1
                continue
            last_raw = cells
            cells = [t.strip(STRIP) for t in cells]
            for t in cells:
                found = section_of(t) if t else None
                if found:
                    if found != section:
                        section, sigs = found, set()
                    break
            if pr.table[k]:
                sigs.add(_signature(cells))
            index[k] = len(grid)
            grid.append(cells)
            origins.append(f"page {page.number} row {k + 1}")
            check_cells(len(grid) * width, path)
        tail_open = bool(keep) and pr.open_bottom and keep[-1] == pr.last_table
        tail = pr.tail if keep and keep[-1] == pr.last_table else {}
        for r0, c0, r1, c1 in pr.merges:
            rows = [index[k] for k in range(r0, r1 + 1) if k in index]
            if rows and (len(set(rows)) > 1 or c1 > c0):
                merges.append((rows[0], c0, rows[-1], c1))
    return grid, origins, merges


def _continues(tail: dict[int, float], head: dict[int, float], cells: list[str]) -> bool:
    """Whether a page's first table row is the rest of the previous page's last row, split by the break
    with rules on both sides of it (as Writer prints a row that breaks across pages): each of its cells with
    text lies under a cell whose last line had no room left for the first unit of that text (a character
    with the punctuation that may not start a line, or a Latin word), so the line wrapped there."""
    filled = {c for c, t in enumerate(cells) if t.strip(STRIP)}
    return bool(filled) and all(c in tail and c in head and tail[c] < head[c] + 0.5 for c in filled)


def _signature(cells: list[str]) -> tuple[str, ...]:
    from pifu.layout import section_of

    return tuple(t for t in cells if t and not section_of(t))


def _page_rows(page: Page, xs: list[float], width: int) -> PageRows:
    pr = PageRows()
    table_chars, loose = [], []
    if page.vs and len(xs) > 1:
        x_lo, x_hi = xs[0] - TOL, xs[-1] + TOL
        ys_all = [y for y, x0, x1 in page.hs if x1 > x_lo and x0 < x_hi]
        ys_all += [y for _, y0, y1 in page.vs for y in (y0, y1)]
        ys = _cluster(ys_all)[::-1]  # top-down
    else:
        ys = []
    if len(ys) < 2:
        loose = page.chars
    else:
        top, bottom = ys[0], ys[-1]
        neg = [-y for y in ys]
        inside = [x_lo <= ch[1] <= x_hi and bottom <= ch[2] <= top for ch in page.chars]
        table_chars = list(compress(page.chars, inside))
        loose = list(compress(page.chars, map(not_, inside)))
    above = [ch for ch in loose if not ys or ch[2] > ys[0]]
    below = [ch for ch in loose if ys and ch[2] <= ys[0]]
    for line in _lines(above):
        pr.rows.append([line] + [""] * (width - 1))
        pr.table.append(False)
    if len(ys) >= 2:
        first = len(pr.rows)
        rows, merges, open_top, open_bottom, pr.head, pr.tail = _table(page, table_chars, xs, ys, neg, width)
        for cells in rows:
            pr.rows.append(cells)
            pr.table.append(True)
        pr.merges = [(r0 + first, c0, r1 + first, c1) for r0, c0, r1, c1 in merges]
        if rows:
            pr.first_table, pr.last_table = first, first + len(rows) - 1
            pr.open_top, pr.open_bottom = open_top, open_bottom
    for line in _lines(below):
        pr.rows.append([line] + [""] * (width - 1))
        pr.table.append(False)
    return pr


def _lines(chars) -> list[str]:
    """Loose text as lines, top-down."""
    if not chars:
        return []
    out, line, y = [], [], None
    for ch in sorted(chars, key=lambda c: -c[2]):
        if y is not None and abs(ch[2] - y) > max(ch[3], 2.0) / 2:
            out.append(line)
            line = []
        line.append(ch)
        y = ch[2]
    out.append(line)
    texts = ["".join(c[0] for c in sorted(ln, key=lambda c: c[1])).strip(STRIP) for ln in out]
    return [fold(t) for t in texts if t]


def _table(page: Page, chars, xs: list[float], ys: list[float], neg: list[float], width: int):
    nrows, ncols = len(ys) - 1, width
    h_at = _at(page.hs, [-y for y, _, _ in page.hs], neg)
    v_at = _at(page.vs, [x for x, _, _ in page.vs], xs)
    mid_x = [(xs[c] + xs[c + 1]) / 2 for c in range(ncols)]
    mid_y = [(ys[r] + ys[r + 1]) / 2 for r in range(nrows)]
    # h[i][c]: a rule at row boundary i crosses the middle of column c; v[j][r] likewise
    h = [_covered(h_at.get(i), mid_x) for i in range(nrows + 1)]
    v = [_covered(v_at.get(j), mid_y) for j in range(ncols + 1)]

    roots = _roots(h, v, nrows, ncols)
    open_top = not any(h[0])
    open_bottom = not any(h[nrows])
    texts = _by_cell(chars, xs, neg, roots, ncols)
    rows = [[""] * ncols for _ in range(nrows)]
    lines_of: dict[int, list[list]] = {}
    for root, cs in texts.items():
        r, c = divmod(root, ncols)
        lines_of[root] = lines = _cell_lines(cs)
        rows[r][c] = fold("".join([ch[0] for ln in lines for ch in ln]))
    spans = _spans(roots, ncols)
    merges = [tuple(s) for _, s in sorted(spans.items())]
    # a row split by a page break: the room left on the last line of each cell of the last row (its line
    # starting at the cell's left padding), and the first unit of text of each cell of the first row
    pad = min((ln[0][1] - ln[0][4] / 2 - xs[divmod(root, ncols)[1]]
               for root, lines in lines_of.items() for ln in lines), default=0.0)
    pad = max(pad, 0.0)
    head, tail = {}, {}
    for c in range(ncols):
        lines = lines_of.get(c)
        if lines:
            head[c] = _unit(lines[0])
        k = (nrows - 1) * ncols + c
        lines = lines_of.get(k)
        if lines:
            last = lines[-1]
            if last[0][1] - last[0][4] / 2 - xs[c] <= pad + max(ch[4] for ch in last) / 2:
                right = spans[k][3] if k in spans else c
                tail[c] = xs[right + 1] - (last[-1][1] + last[-1][4] / 2) - pad
    return rows, merges, open_top, open_bottom, head, tail


def _at(rules, where: list[float], bounds: list[float]) -> dict[int, list[tuple[float, float]]]:
    """Rules by the boundary they lie on, each as the span it covers (widened by TOL); `where` gives each
    rule's place, snapped once per value (a row's rules share theirs)."""
    snapped = dict.fromkeys(where)  # a NaN stays a key of its own, found again by identity
    for v in snapped:
        snapped[v] = _snap(v, bounds)
    at: dict[int, list[tuple[float, float]]] = {}
    for v, (_, a, b) in zip(where, rules):
        i = snapped[v]
        if i is not None:
            at.setdefault(i, []).append((a - TOL, b + TOL))
    return at


def _roots(h: list[list[bool]], v: list[list[bool]], nrows: int, ncols: int) -> list[int]:
    """Per elementary cell (row-major), the cell its merged cell starts at: the top-left one, the least
    index of the cells no rule parts it from."""
    parent = list(range(nrows * ncols))

    def find(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    def union(a: int, b: int) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    by_row = list(zip(*v))  # by_row[r][j]: a rule at column boundary j crosses the middle of row r
    for r in range(nrows):
        k = r * ncols
        for c in compress(range(ncols - 1), map(not_, by_row[r][1:ncols])):
            union(k + c, k + c + 1)
        if r + 1 < nrows:
            for c in compress(range(ncols), map(not_, h[r + 1])):
                union(k + c, k + c + ncols)
    # a parent is never after its child, so in index order each parent is already a root
    for k in compress(range(len(parent)), map(ne, parent, range(len(parent)))):
        parent[k] = parent[parent[k]]
    return parent


def _spans(roots: list[int], ncols: int) -> dict[int, list[int]]:
    """The merged cells of more than one elementary cell: root -> [r0, c0, r1, c1]."""
    spans: dict[int, list[int]] = {}
    for k in compress(range(len(roots)), map(ne, roots, range(len(roots)))):
        root = roots[k]
        s = spans.get(root)
        if s is None:
            s = spans[root] = [*divmod(root, ncols)] * 2
        r, c = divmod(k, ncols)
        s[2], s[3] = max(s[2], r), max(s[3], c)
    return spans


def _by_cell(chars, xs: list[float], neg: list[float], roots: list[int], ncols: int) -> dict[int, list]:
    """The characters of each merged cell (by its root), in page order: each goes to the elementary cell its
    centre lies in, the outer rows and columns taking what lies beyond the grid."""
    nrows = len(neg) - 1
    # bisect_right(bounds, v) - 1, held to the grid: index by bisect_right
    col = [0, *range(ncols), ncols - 1]
    row = [0, *range(nrows), nrows - 1]
    cs = map(col.__getitem__, map(bisect_right, repeat(xs), map(itemgetter(1), chars)))
    rs = map(row.__getitem__, map(bisect_right, repeat(neg), map(neg_, map(itemgetter(2), chars))))
    texts: defaultdict[int, list] = defaultdict(list)
    for ch, k in zip(chars, map(add, map(mul, rs, repeat(ncols)), cs)):
        texts[roots[k]].append(ch)
    return texts


_NO_START = frozenset("，。、；：？！）》」』】〕〉”’％,.;:?!)]}%…·～")  # may not start a line (Chinese typesetting)
_NO_END = frozenset("（《「『【〔〈“‘([{")  # may not end one


def _unit(line) -> float:
    """The width of a line's first unbreakable unit: opening punctuation, then a Latin word or one
    character, then the punctuation that may not start a line."""
    i, n = 0, len(line)
    while i < n - 1 and line[i][0] in _NO_END:
        i += 1
    if line[i][0].isascii() and not line[i][0].isspace():
        while i + 1 < n and line[i + 1][0].isascii() and not line[i + 1][0].isspace():
            i += 1
    while i + 1 < n and line[i + 1][0] in _NO_START:
        i += 1
    return line[i][1] + line[i][4] / 2 - (line[0][1] - line[0][4] / 2)


def _covered(intervals, points: list[float]) -> list[bool]:
    """Per point, whether one of the intervals holds it."""
    if not intervals:
        return [False] * len(points)
    merged: list[list[float]] = []
    for a, b in sorted(intervals):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    starts = [a for a, _ in merged]
    out = []
    for x in points:
        i = bisect_right(starts, x) - 1
        out.append(i >= 0 and x <= merged[i][1])
    return out


def _cell_lines(chars) -> list[list]:
    """A cell's characters as lines top-down, each left to right; a cell's text is its lines joined
    without a break (a wrapped label is one text)."""
    by_y = sorted(chars, key=itemgetter(2), reverse=True)  # stable, as by -y
    if _one_line(by_y):
        return [sorted(by_y, key=itemgetter(1))]
    lines: list[list] = []
    y = None
    for ch in sorted(chars, key=lambda c: -c[2]):
        if y is None or abs(ch[2] - y) > max(ch[3], 2.0) / 2:
            lines.append([])
            y = ch[2]
        lines[-1].append(ch)
    return [sorted(ln, key=itemgetter(1)) for ln in lines]


def _one_line(by_y) -> bool:
    """Whether the walk of `_cell_lines` keeps the characters (top-down) on one line: each lies within reach
    of the top one. A NaN fails every comparison, so its cell takes the walk."""
    top = by_y[0][2]
    for ch in by_y:
        h = ch[3]
        if not abs(ch[2] - top) <= (2.0 if 2.0 > h else h) / 2:  # max(h, 2.0), without the call
            return False
    return True
