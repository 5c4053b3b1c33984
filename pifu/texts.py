"""Rich-text cells (HTML fragments) to plain numbered items."""
from __future__ import annotations

import html
import re

_TAG = re.compile(r"<[^>]*>")
# `1.` `1、` `1．`, or `目标1:` / `目标1：` (Fujian's 年度总体目标), at the start or after a separator.
_MARKER = re.compile(r"(?:^|(?<=[\s；;。，,]))(?:目标\s*(\d{1,2})\s*[:：.．、]|(\d{1,2})\s*[.．、])")
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
        if int(m.group(1) or m.group(2)) == expected:
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
