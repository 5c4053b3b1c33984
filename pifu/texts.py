"""Rich-text cells (HTML fragments) to plain numbered items."""
from __future__ import annotations

import html
import re

_TAG = re.compile(r"<[^>]*>")
# `1.` `1、` `1．`, or `目标1:` / `目标1：` (Fujian's 年度总体目标), at the start or after a separator.
# Written to start with a character class, so the regex engine skips in C to the places where a marker can
# start (目 or a digit; a scan trying the whole pattern at every character was most of `items`): the
# separator before it is then looked behind that first character, and a number's first digit is that
# character (see `_number`).
_MARKER = re.compile(r"[目\d](?<![^\s；;。，,].)(?:(?<=目)标\s*(\d{1,2})\s*[:：.．、]|(?<=\d)(\d?)\s*[.．、])")
_TRAIL = "；;，, "


def plain(fragment: str) -> str:
    """Tags out, entities decoded, every run of whitespace one space."""
    text = html.unescape(_TAG.sub(" ", fragment) if "<" in fragment else fragment)
    # str.split() and str.strip() know the same white space as the regex's \s (full-width and no-break
    # spaces included): one C pass instead of a substitution and a strip
    return " ".join(text.split())


def items(fragment: str) -> list[str]:
    """`<p>1. a；2. b</p>` -> ['a', 'b']; `目标1:a;目标2:b` -> ['a', 'b']. Unnumbered text is one item;
    empty text none.

    Only the next expected number starts an item, so `2025.` or `3、` inside a sentence that does not
    follow item 2 leaves the text alone.
    """
    text = plain(fragment)
    if not text:
        return []
    starts: list[tuple[int, int]] = []  # (marker start, text start)
    expected = 1
    for m in _MARKER.finditer(text):
        if _number(m, text) == expected:
            starts.append((m.start(), m.end()))
            expected += 1
    if not starts or starts[0][0] != 0:
        return [text.rstrip(_TRAIL)]
    out = []
    for i, (_, begin) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else len(text)
        item = text[begin:end].strip().rstrip(_TRAIL).strip()
        if item:
            out.append(item)
    return out


def _number(m: re.Match, text: str) -> int:
    """The item number of a `_MARKER` match: after 目标, or the digit it starts with and the one after."""
    return int(m.group(1) or text[m.start()] + m.group(2))
