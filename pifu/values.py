"""Cell values: amounts, shares, indicator targets, years, regions.

Everything numeric becomes a `Decimal`; the text a cell held is never trusted to be ASCII
(full-width digits and signs, thousands separators and dashes for zero all occur in real exports).
"""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Callable, NamedTuple, TypeVar

# Full-width digits, signs and punctuation to ASCII; ≧/≦ are the JIS forms of ≥/≤.
_WIDE = str.maketrans({
    **{chr(0xFF10 + i): str(i) for i in range(10)},
    "％": "%", "，": ",", "．": ".", "－": "-", "＋": "+", "＞": ">", "＜": "<", "＝": "=",
    "≧": "≥", "≦": "≤", "\u3000": " ", "\xa0": " ",
})
DASHES = frozenset({"-", "—", "–", "－", "——", "/"})

_NUMBER = r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[+-]?\.\d+"
_AMOUNT_RE = re.compile(rf"^({_NUMBER})$")
_SHARE_RE = re.compile(rf"^({_NUMBER})\s*%$")
_YEAR_RE = re.compile(r"^((?:19|20)\d{2})\s*年?(?:度)?$")
_COMPARATORS = {
    ">=": ">=", "<=": "<=", "≥": ">=", "≤": "<=", ">": ">", "<": "<", "=": "=",
    "不低于": ">=", "不少于": ">=", "不小于": ">=", "不高于": "<=", "不超过": "<=", "不大于": "<=", "不多于": "<=",
    "大于": ">", "高于": ">", "超过": ">", "小于": "<", "低于": "<", "少于": "<",
}
_COMPARATOR_RE = re.compile("^(" + "|".join(sorted(map(re.escape, _COMPARATORS), key=len, reverse=True)) + ")")
_TARGET_RE = re.compile(rf"^({_NUMBER})\s*([^\d.,+\-=<>≥≤]{{0,8}})$")
_SUFFIX_CMP = (("以上", ">="), ("及以上", ">="), ("以下", "<="), ("及以下", "<="), ("以内", "<="))
_SUFFIXES = tuple(suffix for suffix, _ in _SUFFIX_CMP)
_REGION_RE = re.compile(r"^(.{2,}?(?:市|区|县|旗|州))")


_K, _V = TypeVar("_K"), TypeVar("_V")


class Memo(dict):
    """A pure function's answers by its one argument, kept until `maxsize` are held (then emptied: the
    cells of the next forms fill it again). Looked up as a dict (`table[key]`): a key seen before costs
    one lookup in C. `longest`: a key longer than this is answered but not kept (a long text seldom recurs,
    and would fill the table)."""

    __slots__ = ("function", "maxsize", "longest")

    def __init__(self, function: Callable[[_K], _V], maxsize: int, longest: int | None = None):
        super().__init__()
        self.function, self.maxsize, self.longest = function, maxsize, longest

    def __missing__(self, key: _K) -> _V:
        value = self.function(key)
        if self.longest is None or len(key) <= self.longest:
            if len(self) >= self.maxsize:
                self.clear()
            self[key] = value
        return value


def memo(maxsize: int) -> Callable[[Callable[[_K], _V]], Callable[[_K], _V]]:
    """Cache a pure function of one hashable argument (a cell's text). The cached function is the dict's
    own `__getitem__`: a cell seen before costs one lookup in C, without the argument tuple, the key and
    the recency list an lru_cache keeps for every call (the layout asks about each cell several times)."""
    return lambda function: Memo(function, maxsize).__getitem__


def ascii_fold(text: str) -> str:
    """Full-width forms to ASCII, trimmed."""
    if text.isascii():  # most cells: nothing to fold
        return text.strip()
    return text.translate(_WIDE).strip()


def to_decimal(text: str) -> Decimal:
    return Decimal(text.replace(",", ""))


@memo(maxsize=1 << 14)  # pure, and asked again and again of the same cells by the layout
def parse_amount(cell: str) -> Decimal | None:
    """`998.71`, `1,058.85`, `９９８．７１` -> Decimal; a lone dash means zero; else None."""
    # ascii_fold and to_decimal written out: amounts are unique to their form, so each is parsed here once
    # (a cache miss), and the calls were most of it
    t = cell.strip() if cell.isascii() else cell.translate(_WIDE).strip()
    if t in DASHES:
        return Decimal(0)
    whole, dot, fraction = t.partition(".")
    if whole.isdecimal() and (not dot or fraction.isdecimal()):  # `1234`, `998.71`: the regex's commonest
        return Decimal(t)  # form, told in C (isdecimal is \d: Unicode category Nd)
    m = _AMOUNT_RE.match(t)
    return Decimal(m.group(1).replace(",", "")) if m else None


@memo(maxsize=1 << 14)  # pure, and asked again and again of the same cells by the layout
def parse_share(cell: str) -> Decimal | None:
    """`49.96%`, `100％` -> Decimal percent; None when the cell is not a percentage."""
    if "%" not in cell and "％" not in cell:  # most cells asked (every amount): no folding, no regex
        return None
    m = _SHARE_RE.match(cell.strip() if cell.isascii() else cell.translate(_WIDE).strip())  # (as parse_amount)
    return Decimal(m.group(1).replace(",", "")) if m else None


@memo(maxsize=1 << 12)  # asked of every cell of the funding rows and year headers: a hit answers in C
def parse_year(cell: str) -> int | None:
    """`2023年` -> 2023. A bare four-digit number is not a year here: it may be an amount."""
    if "年" not in cell:
        return None
    m = _YEAR_RE.match(ascii_fold(cell))
    return int(m.group(1)) if m else None


class Target(NamedTuple):
    """A parsed value: immutable, as the cache hands the same one to every cell of its text (a named tuple
    is built several times faster than a frozen dataclass: each value first seen is a cache miss)."""

    raw: str
    comparator: str | None
    value: Decimal | None
    unit: str | None

    @property
    def numeric(self) -> bool:
        return self.value is not None


@memo(maxsize=1 << 16)
def parse_target(raw: str) -> Target:
    """`≥23人` -> (>=, 23, 人); `≤100％` -> (<=, 100, %); `健全` -> qualitative (all None).

    Cached: a document repeats a handful of values (100%, ≥95%) hundreds of times.
    """
    if raw.isalpha():  # letters only (`健全`, `按时完成`): no digit, so no number to read
        return Target(raw, None, None, None)
    t = (raw if raw.isascii() else raw.translate(_WIDE)).strip().replace(" ", "")  # (ascii_fold)
    comparator = "="
    m = _COMPARATOR_RE.match(t)
    if m:
        comparator, t = _COMPARATORS[m.group(1)], t[m.end():]
    m = _TARGET_RE.match(t)
    if not m:
        return Target(raw, None, None, None)
    try:
        value = Decimal(m.group(1).replace(",", ""))  # (to_decimal)
    except InvalidOperation:
        return Target(raw, None, None, None)
    unit = m.group(2)
    if comparator == "=" and unit.endswith(_SUFFIXES):  # (most units end in none of them)
        for suffix, cmp in _SUFFIX_CMP:
            if unit.endswith(suffix):
                comparator, unit = cmp, unit[: -len(suffix)]
                break
    return Target(raw, comparator, value, unit or None)


def digits(d: Decimal | None) -> int | None:
    """Decimals stated in the source (`399.3` -> 1, `100` -> 0): sets the rounding tolerance."""
    if d is None:
        return None
    exp = d.as_tuple().exponent
    return max(0, -exp) if isinstance(exp, int) else 0


def region_of(department: str) -> str | None:
    """The 市/区/县 prefix of a department name: 鄂州市总工会 -> 鄂州市."""
    m = _REGION_RE.match(department or "")
    return m.group(1) if m else None


# A 计算符号 column: the comparator in symbols or words.
_SYMBOLS = {**_COMPARATORS, "≥": ">=", "≤": "<=", "大于等于": ">=", "小于等于": "<=", "等于": "=", "==": "="}
# A basis in brackets closing a value cell: `90%(计划标准)`, `≥95%（行业标准）`.
_BASIS_BRACKET = re.compile(r"^(.+?)\s*[(（]\s*([^()（）\d]*(?:标准|依据)|其他)\s*[)）]$")


def comparator_of(cell: str | None) -> str | None:
    """`≥`, `>=`, `大于等于`, `≧` -> `>=`; an empty or unknown cell -> None."""
    t = ascii_fold(cell or "").replace(" ", "")
    return _SYMBOLS.get(t)


def split_basis(cell: str) -> tuple[str, str | None]:
    """`90%(计划标准)` -> ('90%', '计划标准'); a cell without a closing basis bracket is returned as is."""
    if not cell or cell[-1] not in ")）":
        return cell, None
    m = _BASIS_BRACKET.match(cell)
    return (m.group(1), m.group(2).strip()) if m else (cell, None)


def parse_weight(cell: str | None) -> Decimal | None:
    """`10`, `10分`, `１０．５` -> Decimal; anything else None."""
    t = ascii_fold(cell or "")
    if t.endswith("分"):
        t = t[:-1].strip()
    m = _AMOUNT_RE.match(t)
    return to_decimal(m.group(1)) if m else None


_ISO_DATE = re.compile(r"((?:19|20)\d{2})\s*[年./-]\s*(\d{1,2})\s*[月./-]\s*(\d{1,2})\s*日?")


def parse_date(cell: str) -> str | None:
    """`2020年12月15日`, `2020-12-15`, `2020.12.15` -> '2020-12-15'; None when no valid date."""
    m = _ISO_DATE.search(ascii_fold(cell))
    if not m:
        return None
    y, mo, d = (int(x) for x in m.groups())
    import datetime

    try:
        return datetime.date(y, mo, d).isoformat()
    except ValueError:
        return None
