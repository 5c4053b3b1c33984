"""A form as a finance portal publishes it: a web page (sometimes served as .xls) with the form among
the page's own tables.

Every quirk drawn adds its code to `damage`:
  html_nav_tables      a header table (site name, menu) above the form and a footer table below it
  html_extra_table     an unrelated table: the notice's index data above the title, or related files below
  html_layout_wrapper  the page laid out in a table: the form tables sit in one of its cells
  html_title_heading   the title a heading (h1/h2, a centred bold line) above the form, not a table row
  html_title_caption   the title the form table's <caption>
  html_title_in_head   the title only in the page's <title>
  html_title_row       the title the form's first row, merged across it
  html_unmerged        merged cells written out as empty cells (no rowspan/colspan)
  html_split_tables    the form split into consecutive tables at its sections
  html_page_break      a section split between two tables (a printed page), its header rows repeated or not
  html_inline_styles   style/width/align attributes, <font>/<span>/<b> inside cells, a value split over spans
  html_line_breaks     numbered texts as one <p> per item or <br> between items, paragraphs indented
  html_padding         &nbsp; and full-width spaces around cell texts, &nbsp; in empty cells, a trailing <br>
  html_th_headers      header rows in <thead> with <th> cells
  html_scripts         <script>/<style>/<noscript> blocks and comments holding form words
  html_nested_table    a text cell's content in a table of its own nested in the cell
  html_charset_gbk     GBK/GB2312 declared (and the page encoded so)
  html_http_equiv      the charset declared by <meta http-equiv="Content-Type">
  html_bom             UTF-8 with a byte-order mark
  html_no_charset      no charset declared
  html_xls_suffix      saved as .xls (an Excel "web page" export: office namespaces and its XML island)
"""
from __future__ import annotations

import html
import re

from pifu.generate.form import Cell, Form, department_of, year_of

DAMAGE_CODES = (
    "html_nav_tables", "html_extra_table", "html_layout_wrapper", "html_title_heading", "html_title_caption",
    "html_title_in_head", "html_title_row", "html_unmerged", "html_split_tables", "html_page_break",
    "html_inline_styles", "html_line_breaks", "html_padding", "html_th_headers", "html_scripts",
    "html_nested_table", "html_charset_gbk", "html_http_equiv", "html_bom", "html_no_charset", "html_xls_suffix",
)

_MENU = ("首页", "机构概况", "政务公开", "政策法规", "预决算公开", "绩效管理", "互动交流", "办事服务")
_ITEM = re.compile(r"(?<=[；。])(?=(\d{1,2})\. )")
_REGION = re.compile(r"^(.{1,12}?(?:自治州|地区|[省市县区州旗]))")
_FONTS = ("宋体", "仿宋_GB2312", "微软雅黑", "Times New Roman")


def render(form: Form, rng, damage: set[str]) -> tuple[bytes, str]:
    return _Page(form, rng, damage).render()


class _Page:
    def __init__(self, form: Form, rng, damage: set[str]):
        self.form, self.rng, self.damage = form, rng, damage
        self.title = form.title
        department = department_of(form)
        m = _REGION.match(department)
        self.portal = (m.group(1) if m else "") + "财政局"
        self.department = department
        self.year = year_of(form)

    def maybe(self, p: float, code: str) -> bool:
        if self.rng.random() < p:
            self.damage.add(code)
            return True
        return False

    # ------------------------------------------------------------------------------------------- page

    def render(self) -> tuple[bytes, str]:
        rng = self.rng
        xls = self.maybe(0.2, "html_xls_suffix")
        suffix = ".xls" if xls else rng.choice((".html", ".html", ".htm"))
        charset = rng.choices(("utf-8", "gbk", "gb2312"), (6, 2, 2))[0]
        if charset != "utf-8":
            self.damage.add("html_charset_gbk")
        declare = "none" if self.maybe(0.1, "html_no_charset") else (
            "http-equiv" if xls or rng.random() < 0.45 else "charset")
        if declare == "http-equiv":
            self.damage.add("html_http_equiv")
        bom = charset == "utf-8" and self.maybe(0.15, "html_bom")

        r = rng.random()
        title_at = "heading" if r < 0.35 else "caption" if r < 0.5 else "head" if r < 0.6 else "row"
        self.damage.add(f"html_title_{'in_head' if title_at == 'head' else title_at}")
        self.unmerged = self.maybe(0.15, "html_unmerged")
        self.styles = self.maybe(0.6, "html_inline_styles")
        self.breaks = self.maybe(0.7, "html_line_breaks")
        self.padding = self.maybe(0.5, "html_padding")
        self.th = self.maybe(0.3, "html_th_headers")
        self.nested = self.maybe(0.15, "html_nested_table")
        scripts = self.maybe(0.5, "html_scripts")
        nav = not xls and self.maybe(0.85, "html_nav_tables")
        extra = self.maybe(0.5, "html_extra_table")
        wrapper = not xls and self.maybe(0.3, "html_layout_wrapper")

        head = []
        if declare == "charset":
            head.append(f'<meta charset="{charset}">')
        elif declare == "http-equiv":
            head.append(f'<meta http-equiv="Content-Type" content="text/html; charset={charset}">')
        if xls:
            head += ['<meta name="ProgId" content="Excel.Sheet">', '<meta name="Generator" content="Microsoft Excel 15">']
        page_title = self.title if title_at == "head" else rng.choice(
            (self.portal, f"{self.title}-{self.portal}", f"{self.department}{self.title}"))
        head.append(f"<title>{_esc(page_title)}</title>")
        if scripts:
            head += ["<style type=\"text/css\">", "td { font-size: 12px; font-family: 宋体; }",
                     ".title { font-size: 22px; font-weight: bold; } /* 部门总体资金情况 */", "</style>",
                     '<script type="text/javascript">',
                     "var sections = ['部门（单位）名称', '部门总体资金情况', '年度绩效指标'];",
                     "var row = '<table><tr><td>长期绩效指标</td><td>999</td></tr></table>';  // never written",
                     "</script>"]
        if xls:
            head.append("<!--[if gte mso 9]><xml><x:ExcelWorkbook><x:ExcelWorksheets><x:ExcelWorksheet>"
                        "<x:Name>Sheet1</x:Name></x:ExcelWorksheet></x:ExcelWorksheets></x:ExcelWorkbook></xml>"
                        "<![endif]-->")

        body: list[str] = []
        if nav:
            body.append(self.nav_table())
        if scripts:
            body.append("<noscript><table><tr><td>部门总体资金情况</td><td>请开启脚本</td></tr></table></noscript>")
            body.append("<!-- 年度绩效指标 <table><tr><td>年度绩效指标</td></tr></table> -->")
        if nav:
            body.append('<div class="position">当前位置：<a href="/">首页</a> &gt; <a href="#">政务公开</a> &gt; '
                        '<a href="#">预决算公开</a></div>')
        extra_where = rng.choice(("above", "below")) if extra else None
        if extra_where == "above":
            body.append(self.index_table())
        if title_at == "heading":
            body.append(rng.choice((
                f"<h1>{_esc(self.title)}</h1>", f'<h2 class="title">{_esc(self.title)}</h2>',
                f'<div class="title" align="center"><strong><font size="5">{_esc(self.title)}</font></strong></div>',
                f'<p align="center"><b>{_esc(self.title)}</b></p>')))
        elif title_at == "head" and nav:
            body.append("<h2>部门预算公开</h2>")
        if nav:
            body.append(f'<div class="info">发布时间：{self.year - 1}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}'
                        f"&nbsp;&nbsp;来源：{_esc(self.portal)}&nbsp;&nbsp;浏览次数：{rng.randint(10, 9999)}</div>")

        body.append(self.form_tables(caption=title_at == "caption", title_row=title_at == "row"))

        if extra_where == "below":
            body.append(self.related_table())
        if nav:
            body.append(self.footer_table())
        if wrapper:
            body = ['<table width="980" border="0" cellspacing="0" cellpadding="0" align="center" class="layout">',
                    '<tr><td valign="top">', *body, "</td></tr>", "</table>"]

        opening = ('<html xmlns:o="urn:schemas-microsoft-com:office:office" '
                   'xmlns:x="urn:schemas-microsoft-com:office:excel" xmlns="http://www.w3.org/TR/REC-html40">'
                   if xls else "<html>")
        doctype = rng.choice(("<!DOCTYPE html>", '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" '
                              '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">', ""))
        lines = ([doctype] if doctype and not xls else [])
        if scripts and rng.random() < 0.5:
            lines.insert(0, "<!-- saved from url=(0042)http://czj.example.gov.cn/art/2025/2/10/ -->")
        lines += [opening, "<head>", *head, "</head>", "<body>", *body, "</body>", "</html>", ""]
        newline = "\r\n" if rng.random() < 0.4 else "\n"
        text = newline.join(lines)
        data = text.encode("gb18030" if charset != "utf-8" else "utf-8")  # GB18030 writes GBK's bytes for GBK's characters
        return (b"\xef\xbb\xbf" + data if bom else data), suffix

    # ------------------------------------------------------------------------------------------- page furniture

    def nav_table(self) -> str:
        menu = "".join(f'<td class="menu"><a href="#">{m}</a></td>' for m in _MENU)
        return (f'<table width="100%" class="header"><tr><td colspan="{len(_MENU)}"><img src="logo.png" alt="">'
                f"<span>{_esc(self.portal)}</span></td></tr><tr>{menu}</tr></table>")

    def footer_table(self) -> str:
        return ('<table width="100%" class="footer"><tr><td align="center">'
                f"主办单位：{_esc(self.portal)}&nbsp;&nbsp;联系电话：0711-{self.rng.randint(1000000, 9999999)}<br>"
                f"版权所有：{_esc(self.portal)}&nbsp;&nbsp;鄂ICP备{self.rng.randint(10000000, 99999999)}号"
                "</td></tr></table>")

    def index_table(self) -> str:
        """The notice's index data, as government portals print it above an article."""
        rng = self.rng
        rows = (("索引号", f"0110{rng.randint(10000, 99999)}/{self.year}-{rng.randint(10000, 99999)}", "主题分类", "财政"),
                ("发布机构", self.portal, "生成日期", f"{self.year - 1}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"),
                ("名称", f"关于{self.department}{self.title}", "文号", f"财绩发〔{self.year}〕{rng.randint(1, 99)}号"))
        body = "".join("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in row) + "</tr>" for row in rows)
        return f'<table class="index" border="1">{body}</table>'

    def related_table(self) -> str:
        rng = self.rng
        items = [(f"{self.department}{self.year - k}年部门整体绩效目标批复", f"{self.year - k - 1}-0{rng.randint(1, 9)}-1{k}")
                 for k in (1, 2)] + [(f"{self.department}{self.year}年部门预算公开", f"{self.year}-01-2{rng.randint(0, 9)}")]
        if rng.random() < 0.5:
            rows = "".join(f'<tr><td>{n}</td><td><a href="#">{_esc(t)}</a></td><td>{d}</td></tr>'
                           for n, (t, d) in enumerate(items, 1))
            return f'<table class="related"><tr><td colspan="3"><b>相关链接</b></td></tr>{rows}</table>'
        return ('<table class="attach"><tr><th>序号</th><th>附件名称</th><th>大小</th></tr>'
                f'<tr><td>1</td><td><a href="#">{_esc(self.department)}{self.year}年部门预算.pdf</a></td>'
                f"<td>{rng.randint(100, 999)}KB</td></tr></table>")

    # ------------------------------------------------------------------------------------------- the form

    def form_tables(self, caption: bool, title_row: bool) -> str:
        form, rng = self.form, self.rng
        rows = list(range(len(form.rows)))
        if not title_row:
            rows = rows[1:]
        pieces = [rows]
        starts = sorted(first for first, _ in form.sections.values())
        cuts = [s for s in starts[1:] if s in rows] if rng.random() < 0.35 else []
        if cuts:
            self.damage.add("html_split_tables")
            cuts = sorted(rng.sample(cuts, rng.randint(1, min(3, len(cuts)))))
            pieces, at = [], rows[0]
            for cut in cuts + [len(form.rows)]:
                pieces.append(list(range(at, cut)))
                at = cut
        breaks = []
        for key in ("long_term", "annual"):
            if key not in form.sections:
                continue  # a family with one indicator table
            first, last = form.sections[key]
            body = first + len(form.header_rows[key])
            if last - body >= 2 and rng.random() < 0.2:
                breaks.append((key, rng.randint(body + 1, last)))
        for key, cut in breaks:
            self.damage.add("html_page_break")
            k = next(i for i, piece in enumerate(pieces) if cut in piece)
            piece = pieces[k]
            head = form.header_rows[key] if rng.random() < 0.7 else []
            pieces[k:k + 1] = [piece[:piece.index(cut)], head + piece[piece.index(cut):]]
        owner = _owners(form)
        out = []
        for n, piece in enumerate(p for p in pieces if p):
            out.append(self.table(_piece(form, owner, piece), caption=caption and n == 0))
        between = rng.choice(("", "", "<br>", "<p>&nbsp;</p>", '<p align="right">（续表）</p>'))
        return between.join(out)

    def table(self, rows: list[list[tuple[int, Cell, int, int]]], caption: bool) -> str:
        rng, form = self.rng, self.form
        attrs = ' border="1" cellspacing="0" cellpadding="2"'
        if self.styles:
            attrs += rng.choice((' width="100%"', ' style="border-collapse:collapse;width:760px"',
                                 ' class="MsoNormalTable" width="98%" align="center"'))
        lines = [f"<table{attrs}>"]
        if caption:
            lines.append(f"<caption>{self.inline(form.title, 'title')}</caption>")
        header_rows = self.th and rows and all(c.kind in ("header", "section", "title") for _, c, _, _ in rows[0])
        in_head = False
        for i, row in enumerate(rows):
            is_header = bool(row) and all(c.kind in ("header", "section", "title") for _, c, _, _ in row)
            if header_rows and i == 0:
                lines.append("<thead>")
                in_head = True
            if in_head and not is_header:
                lines.append("</thead><tbody>")
                in_head = False
            style = ' style="height:20px"' if self.styles and rng.random() < 0.3 else ""
            tag = "th" if self.th and is_header else "td"
            lines.append(f"<tr{style}>" + "".join(self.cells(row, tag)) + "</tr>")
        if in_head:
            lines.append("</thead>")
        elif header_rows:
            lines.append("</tbody>")
        lines.append("</table>")
        return "\n".join(lines)

    def cells(self, row: list[tuple[int, Cell, int, int]], tag: str):
        if not self.unmerged:
            for _, cell, rowspan, colspan in row:
                yield self.cell(cell, rowspan, colspan, tag)
            return
        anchors = {col: (cell, colspan) for col, cell, _, colspan in row}
        col = 0
        while col < self.form.width:
            if col in anchors:
                cell, colspan = anchors[col]
                yield self.cell(cell, 1, 1, tag)
                for _ in range(colspan - 1):
                    yield self.empty(tag)
                col += colspan
            else:
                yield self.empty(tag)
                col += 1

    def empty(self, tag: str) -> str:
        return f"<{tag}>{'&nbsp;' if self.padding and self.rng.random() < 0.6 else ''}</{tag}>"

    def cell(self, cell: Cell, rowspan: int, colspan: int, tag: str) -> str:
        rng = self.rng
        attrs = (f' rowspan="{rowspan}"' if rowspan > 1 else "") + (f' colspan="{colspan}"' if colspan > 1 else "")
        if self.styles:
            attrs += rng.choice(("", ' align="center"', ' valign="middle" align="center"',
                                 ' style="border:1px solid #000000;text-align:center;padding:2px"',
                                 ' class="xl65" width="64"'))
        if cell.kind == "text" and cell.text and (len(cell.text) > 40 or self.nested):
            content = self.paragraphs(cell.text)
            if self.nested:
                content = f'<table width="100%" border="0"><tr><td>{content}</td></tr></table>'
        else:
            content = self.inline(cell.text, cell.kind)
        return f"<{tag}{attrs}>{content}</{tag}>"

    def inline(self, text: str, kind: str) -> str:
        """One line of cell text with the page's inline markup; never a space inside the text."""
        rng = self.rng
        if not text:
            return "&nbsp;" if self.padding and rng.random() < 0.6 else ""
        out = _esc(text)
        if self.styles:
            if kind in ("amount", "share") and len(text) > 2 and rng.random() < 0.2:
                k = rng.randint(1, len(text) - 1)  # Word splits a number over runs
                out = f'<span lang="EN-US">{_esc(text[:k])}</span><span lang="EN-US">{_esc(text[k:])}<o:p></o:p></span>'
            r = rng.random()
            if r < 0.25:
                out = f'<span style="font-family:{rng.choice(_FONTS)};font-size:10.5pt">{out}</span>'
            elif r < 0.4:
                out = f'<font size="2" face="{rng.choice(_FONTS)}">{out}</font>'
            elif r < 0.5:
                out = f'<p class="MsoNormal" align="center">{out}</p>'
            if kind in ("header", "section", "title") and rng.random() < 0.5:
                out = f"<b>{out}</b>"
        if self.padding:
            r = rng.random()
            if r < 0.2:
                out = "&nbsp;" + out + "&nbsp;"
            elif r < 0.3:
                out = "\u3000" + out
            elif r < 0.35:
                out = out + "<br>"
        return out

    def paragraphs(self, text: str) -> str:
        """A long text cell: its numbered items as paragraphs or broken lines, or one paragraph."""
        rng = self.rng
        items = _items(text) if self.breaks else [text]
        indent = "\u3000\u3000" if self.breaks and rng.random() < 0.5 else "&nbsp;&nbsp;&nbsp;&nbsp;" if self.padding and rng.random() < 0.3 else ""
        parts = [indent + _esc(item) for item in items]
        if self.styles and rng.random() < 0.5:
            parts = [f'<span style="font-family:{rng.choice(_FONTS)}">{p}</span>' for p in parts]
        if len(parts) > 1 and rng.random() < 0.5:
            return "<br>".join(parts) + ("<br>" if rng.random() < 0.3 else "")
        style = ' style="text-indent:2em;line-height:150%"' if self.styles else ""
        return "".join(f"<p{style}>{p}</p>" for p in parts)


def _items(text: str) -> list[str]:
    """`1. a；2. b` -> ['1. a；', '2. b']: cut only before the next number in sequence."""
    cuts, expected = [0], 2
    for m in _ITEM.finditer(text):
        if int(m.group(1)) == expected:
            cuts.append(m.start())
            expected += 1
    return [text[a:b] for a, b in zip(cuts, cuts[1:] + [len(text)])]


def _owners(form: Form) -> list[list[tuple[int, int] | None]]:
    """Per grid position, the (row, col) of the cell that covers it."""
    owner: list[list[tuple[int, int] | None]] = [[None] * form.width for _ in form.rows]
    for r, row in enumerate(form.rows):
        for c, cell in enumerate(row):
            if cell is not None:
                for dr in range(cell.rowspan):
                    for dc in range(cell.colspan):
                        owner[r + dr][c + dc] = (r, c)
    return owner


def _piece(form: Form, owner, rows: list[int]) -> list[list[tuple[int, Cell, int, int]]]:
    """The form's `rows` (repeated header rows, then a stretch of the form) as a table of its own: a merged
    cell cut by the table's edge is drawn again in its first row there, its span clipped to the table."""
    emitted: set[tuple[int, int]] = set()
    out = []
    for i, r in enumerate(rows):
        cells = []
        for c in range(form.width):
            anchor = owner[r][c]
            if anchor is None or anchor in emitted or anchor[1] != c:
                continue
            emitted.add(anchor)
            cell = form.rows[anchor[0]][anchor[1]]
            span = 1
            while i + span < len(rows) and owner[rows[i + span]][c] == anchor:
                span += 1
            cells.append((c, cell, span, cell.colspan))
        out.append(cells)
    return out


def _esc(text: str) -> str:
    return html.escape(text, quote=False)
