"""Text exports: tab-separated cells, any encoding (BOM, UTF-8, GB18030) and any line ending.

Exports of the budget software lose their merged cells and table structure; the grid's rows are the
file's lines, so problems name them `line N`.
"""
from __future__ import annotations

import codecs
import re
from itertools import repeat

from pifu.model import DocumentError
from pifu.readers import STRIP, Grid, Sheet

_PADDING = STRIP.replace("\t", "")  # what stripping can take off a cell: tabs separate the cells
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_CONTROL_BYTES = bytes([*range(0x09), 0x0b, 0x0c, *range(0x0e, 0x20)])  # the same characters as bytes
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_BOM_BYTES = tuple(bom for bom, _ in _BOMS)


def read(data: bytes, path: str) -> Sheet:
    text, encoding = decode(data, path)
    return Sheet(grid=to_grid(text), format="text", encoding=encoding)


def decode(data: bytes, path: str) -> tuple[str, str]:
    """Sniff the encoding: a BOM decides; else strict UTF-8; else GB18030 (a superset of GBK/GB2312)."""
    for bom, enc in _BOMS if data.startswith(_BOM_BYTES) else ():  # (most files: no mark, one C test)
        if data.startswith(bom):
            try:
                return data.decode(enc), enc.replace("-sig", "") if enc == "utf-8-sig" else enc
            except UnicodeDecodeError as e:
                raise DocumentError(path, f"starts with a {enc} byte-order mark but byte {e.start} is invalid",
                                    "undecodable") from None
    if b"\x00" in data[:4096]:
        raise DocumentError(path, "binary content (NUL bytes) where a text export was expected", "binary")
    try:
        text, encoding = data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as e:
        if e.end == len(data) and "end of data" in e.reason:
            raise DocumentError(path, "the file ends inside a UTF-8 character: it was cut short", "truncated") from None
        try:
            text, encoding = data.decode("gb18030"), "gb18030"
        except UnicodeDecodeError as e:
            raise DocumentError(path, f"neither UTF-8 nor GB18030 (invalid byte at offset {e.start})",
                                "undecodable") from None
    if _looks_binary(text, data):
        raise DocumentError(path, "binary content where a text export was expected", "binary")
    return text, encoding


def _looks_binary(text: str, data: bytes) -> bool:
    """More than 1% control characters in the first 4,096 characters. Decoded from UTF-8 or GB18030, a
    control character is the byte it was (neither puts a byte below 0x30 in a multi-byte character), so
    the bytes that can hold the sample (4 at most a character) without a control byte answer no in C."""
    head = data[:4 * 4096]
    # one memchr per control byte (27 of them, each a fast scan in C): a third of a translate's pass
    if not any(map(head.__contains__, _CONTROL_BYTES)):
        return False
    sample = text[:4096]
    return len(_CONTROLS.findall(sample)) > len(sample) // 100 + 1


class Lines(list):
    """A text export's grid, which keeps the text its rows were split from (line breaks as \n, NULs out):
    the layout searches that text for the header fields' words instead of joining every cell again (the
    joins were half of the search). Stripping a cell takes off only padding, never part of a word, and no
    cell holds a line break, so the text's lines hold the same words as the rows."""

    __slots__ = ("text",)


def to_grid(text: str) -> Grid:
    """Any line ending; tab-separated cells; each cell stripped (full-width spaces too)."""
    # NUL cannot be stored in PostgreSQL text and means nothing in a cell
    if "\x00" in text:
        text = text.replace("\x00", "")
    if "\r" in text:  # the same breaks as splitting at \r\n|\r|\n, then one C split instead of a regex
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    grid = Lines(map(str.split, text.split("\n"), repeat("\t")))
    grid.text = text
    for i in _padded_lines(text):
        grid[i] = [cell.strip(STRIP) for cell in grid[i]]
    return grid


def _padded_lines(text: str) -> set[int]:
    """The lines holding a padding character (a few a form): only their cells can need stripping, and
    stripping every cell was most of the reader's time. One C search per character and padded line; a
    line's number is the count of line breaks before it, counted on from the last padded line (no table of
    line starts to build: most forms have two or three padded lines)."""
    padded = set()
    for ch in _PADDING:
        at = text.find(ch)
        line = counted = 0  # the line of `counted`, a position at or before `at`
        while at >= 0:
            line += text.count("\n", counted, at)
            padded.add(line)
            end = text.find("\n", at)
            if end < 0:
                break
            line, counted = line + 1, end + 1
            at = text.find(ch, counted)  # on from the next line
    return padded
