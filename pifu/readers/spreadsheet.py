"""What the .xlsx and .xls readers share: a number shown as its cell's number format shows it, and the
choice of the sheet that holds the form.

Numbers are shown as Excel would print them, less grouping separators: `0.00%` on 0.4996 gives 49.96%,
`#,##0.00` on 998.7 gives 998.70, General gives the shortest form of the stored double rounded to the 15
significant digits Excel keeps (1058.8500000000001 -> 1058.85, never float noise). A format's zero
section that prints a literal (the accounting format's "-") prints it: a dash stands for zero on forms.
"""
from __future__ import annotations

import re
from functools import lru_cache
from itertools import chain
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from pifu.readers import STRIP, Grid, Merge, Sheet
from pifu.values import Memo

# Built-in number formats by id (ECMA-376 18.8.30); ids not listed are General or a locale's date.
BUILTIN_FORMATS = {
    0: "General", 1: "0", 2: "0.00", 3: "#,##0", 4: "#,##0.00", 5: '"$"#,##0_);("$"#,##0)',
    6: '"$"#,##0_);[Red]("$"#,##0)', 7: '"$"#,##0.00_);("$"#,##0.00)', 8: '"$"#,##0.00_);[Red]("$"#,##0.00)',
    9: "0%", 10: "0.00%", 11: "0.00E+00", 12: "# ?/?", 13: "# ??/??", 14: "yyyy-mm-dd", 15: "d-mmm-yy",
    16: "d-mmm", 17: "mmm-yy", 18: "h:mm AM/PM", 19: "h:mm:ss AM/PM", 20: "h:mm", 21: "h:mm:ss",
    22: "yyyy-mm-dd h:mm", 37: "#,##0 ;(#,##0)", 38: "#,##0 ;[Red](#,##0)", 39: "#,##0.00;(#,##0.00)",
    40: "#,##0.00;[Red](#,##0.00)", 41: '_(* #,##0_);_(* (#,##0);_(* "-"_);_(@_)',
    42: '_("$"* #,##0_);_("$"* (#,##0);_("$"* "-"_);_(@_)',
    43: '_(* #,##0.00_);_(* (#,##0.00);_(* "-"??_);_(@_)',
    44: '_("$"* #,##0.00_);_("$"* (#,##0.00);_("$"* "-"??_);_(@_)', 45: "mm:ss", 46: "[h]:mm:ss",
    47: "mm:ss.0", 48: "##0.0E+0", 49: "@",
}
# Locale date formats (zh-CN 27-36 and 50-58): the reader only needs to know they are dates.
DATE_FORMAT_IDS = frozenset(range(14, 23)) | frozenset(range(27, 37)) | frozenset(range(45, 48)) | frozenset(range(50, 59))

CELL_STRIP = STRIP + "\r\n"  # a cell's own line breaks (Alt+Enter) at its ends mean nothing


def cell_text(text: str) -> str:
    """A text cell as a grid holds it: stripped, its inner line breaks as \\n."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.strip(CELL_STRIP)


# `cell_text` by the raw text, looked up in C (`cell_texts[raw]`): a form's labels recur in every workbook
cell_texts = Memo(cell_text, maxsize=1 << 12, longest=256)


_SKIP = re.compile(r'\[[^\]]*\]|\\.|_.|\*.|"[^"]*"')  # colours/conditions/locales, escapes, padding, fills, literals
_DATE_CODES = re.compile(r"[ymdhs]", re.IGNORECASE)
_PLACEHOLDER = re.compile(r"[0#?]")
_Q = {n: Decimal(1).scaleb(-n) for n in range(31)}


def format_number(value: float, fmt: str | None) -> str:
    """`value` as the number format `fmt` shows it (grouping separators left out)."""
    if not fmt or fmt == "General" or fmt == "@":
        return general(value)
    sections = _split_sections(fmt)
    section = sections[0]
    negative = value < 0
    if value == 0 and len(sections) > 2:
        section = sections[2]
    elif negative and len(sections) > 1:
        section, value = sections[1], -value  # the section writes its own sign (or brackets)
    plan = _section_plan(section)
    if plan is None:
        return general(value)  # a date (callers turn date-formatted serials into dates before this), or
        # a scientific or fraction format: the exact value reads better
    if isinstance(plan, str):  # a section of literals only: the accounting zero prints "-"
        return plan or general(value)
    percent, quantum, scale, prefix, suffix, zero_shown = plan
    number = _decimal(value) * (100 ** percent)
    if scale:
        number /= Decimal(1000) ** scale
    if not zero_shown and number.quantize(quantum, ROUND_HALF_UP) == 0:
        # only #/? placeholders, which print nothing for a zero: the literals remain (the accounting "-")
        return (prefix + suffix).strip(STRIP) or "0"
    text = format(number.quantize(quantum, ROUND_HALF_UP), "f")
    if text.startswith("-") and not text.strip("-0."):
        text = text[1:]  # -0.00 shows as 0.00
    return (prefix + text + "%" * percent + suffix).strip(STRIP)


def general(value: float) -> str:
    """Excel's General: 15 significant digits, no exponent for the sizes forms hold, no trailing zeros."""
    if value != value or value in (float("inf"), float("-inf")):
        return ""
    text = format(Decimal(f"{value:.15g}"), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


@lru_cache(maxsize=1024)
def is_date_format(fmt: str) -> bool:
    return bool(_DATE_CODES.search(_SKIP.sub("", fmt))) and "General" not in fmt


def serial_date(value: float, date1904: bool = False) -> str:
    """An Excel date serial as ISO text (the time only when there is one)."""
    try:
        base = datetime(1904, 1, 1) if date1904 else datetime(1899, 12, 30)
        if not date1904 and value < 60:
            value += 1  # Excel's phantom 1900-02-29
        moment = base + timedelta(days=value)
    except (OverflowError, ValueError):
        return general(value)
    moment = moment.replace(microsecond=0) + timedelta(seconds=round(moment.microsecond / 1e6))
    return moment.date().isoformat() if moment.time() == datetime.min.time() else moment.isoformat(sep=" ")


def _decimal(value: float) -> Decimal:
    try:
        return Decimal(f"{value:.15g}")
    except InvalidOperation:
        return Decimal(0)


@lru_cache(maxsize=1024)
def _section_plan(section: str):
    """What `format_number` needs of one format section, worked out once per distinct section (a
    workbook has a handful, used by hundreds of cells): None (shown as General), the literal text of a
    section without placeholders, or (percent signs, quantum, thousands scale, prefix, suffix, whether
    a zero shows digits)."""
    bare = _SKIP.sub("", section)
    if is_date_format(section):
        return None
    if not _PLACEHOLDER.search(bare):
        return "".join(_literal_text(section)).strip(STRIP)
    if "E" in bare.upper() or "/" in bare:
        return None
    integer, dot, fraction = bare.partition(".")
    decimals = len(_PLACEHOLDER.findall(fraction)) if dot else 0
    last = max(m.start() for m in _PLACEHOLDER.finditer(bare))
    scale = len(bare[last + 1:]) - len(bare[last + 1:].lstrip(","))  # "#,##0," shows thousands
    prefix, suffix = _affixes(section)
    return bare.count("%"), _Q[min(decimals, 30)], scale, prefix, suffix, "0" in bare


@lru_cache(maxsize=1024)
def _split_sections(fmt: str) -> tuple[str, ...]:
    sections, current, quoted, escaped = [], [], False, False
    for ch in fmt:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == ";" and not quoted:
            sections.append("".join(current))
            current = []
            continue
        current.append(ch)
    sections.append("".join(current))
    return tuple(sections)


def _literal_text(section: str) -> list[str]:
    out, i = [], 0
    while i < len(section):
        ch = section[i]
        if ch == '"':
            end = section.find('"', i + 1)
            end = len(section) if end < 0 else end
            out.append(section[i + 1:end])
            i = end + 1
        elif ch == "\\" and i + 1 < len(section):
            out.append(section[i + 1])
            i += 2
        elif ch in "_*" and i + 1 < len(section):
            out.append(" " if ch == "_" else "")
            i += 2
        elif ch == "[":
            end = section.find("]", i)
            i = len(section) if end < 0 else end + 1
        elif ch in "@":
            i += 1
        else:
            out.append(ch if ch in "-+()$¥￥:/ " else "")
            i += 1
    return out


def _affixes(section: str) -> tuple[str, str]:
    """Literal text before the first and after the last digit placeholder (units, signs, brackets)."""
    masked = _SKIP.sub(lambda m: "\0" * len(m.group(0)), section)
    places = [m.start() for m in _PLACEHOLDER.finditer(masked)]
    if not places:
        return "", ""
    return "".join(_literal_text(section[:places[0]])), "".join(
        _literal_text(section[places[-1] + 1:].replace("%", "")))


# ---------------------------------------------------------------- the sheet that holds the form

def form_score(grid: Grid) -> int:
    """How many of the form's sections a grid labels (a cover sheet or an empty sheet scores 0 or 1)."""
    # each distinct text looked up once, in C: a form repeats its texts, and its labels recur in every form
    found = set(map(_section_key(), set(chain.from_iterable(grid))))
    found.discard(None)
    return len(found)


@lru_cache(maxsize=1)
def _section_key():
    """`pifu.layout.section_of` of a non-ASCII text (labels are Chinese, and NFKC keeps ASCII), cached: a
    dict's `__getitem__` (`pifu.values.memo`), so a text seen before costs one lookup in C."""
    from pifu.layout import section_of
    from pifu.values import memo

    return memo(maxsize=1 << 12)(lambda text: None if text.isascii() else section_of(text) or None)


def pick_sheet(sheets, fmt: str) -> Sheet:
    """`sheets`: (name, grid, merges) in workbook order, read lazily; the first that holds the most of the
    form wins (skipping a cover sheet and empty sheets). Grid row i is the sheet's row i + 1."""
    best = None
    for name, grid, merges in sheets:
        score = form_score(grid) if grid else -1
        if best is None or score > best[0]:
            best = (score, name, grid, merges)
        if score >= 4:
            break  # the form; later sheets are notes or empty
    if best is None:
        return Sheet(grid=[], format=fmt, origins=(), col_label="C{}")
    _, name, grid, merges = best
    return Sheet(grid=grid, format=fmt, encoding=None, origins=tuple(f"sheet {name} R{r}" for r in range(1, len(grid) + 1)),
                 merges=tuple(sorted(merges)), col_label="C{}")


def blank_covered(grid: Grid, merges: list[Merge]) -> None:
    """A merged range's text stands in its top-left cell only, as in a text export. A row shorter than a
    range across it may be left longer, with empty cells: `trim` takes them off again."""
    rows = len(grid)
    for r0, c0, r1, c1 in merges:
        if r0 > r1 or r0 >= rows:
            continue
        blanks = [""] * (c1 + 1 - c0)  # (a slice past a row's end appends them: empty, and trimmed)
        grid[r0][c0 + 1:c1 + 1] = blanks[1:]
        for row in grid[r0 + 1:r1 + 1]:
            row[c0:c1 + 1] = blanks


def trim(grid: Grid) -> Grid:
    """Trailing empty cells of each row and trailing empty rows off."""
    for row in grid:
        while row and not row[-1]:
            row.pop()
    while grid and not grid[-1]:
        grid.pop()
    return grid
