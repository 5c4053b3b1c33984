"""Metadata an operator reads in the UI: small markdown tables and counts."""
from __future__ import annotations

from collections import Counter
from typing import Iterable, Sequence

import dagster as dg


def md_table(rows: Iterable[Sequence], columns: Sequence[str], limit: int = 20) -> dg.MetadataValue:
    rows = list(rows)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows[:limit]:
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    if len(rows) > limit:
        lines.append(f"\n… and {len(rows) - limit} more")
    if not rows:
        lines.append("| " + " | ".join("" for _ in columns) + " |")
    return dg.MetadataValue.md("\n".join(lines))


def counts(values: Iterable[str]) -> dg.MetadataValue:
    c = Counter(values)
    return md_table(sorted(c.items(), key=lambda kv: -kv[1]), ["code", "count"], limit=50)


def _cell(v) -> str:
    text = "" if v is None else str(v)
    return text.replace("|", "\\|").replace("\n", " ")[:120]
