"""Charts as SVG text, drawn here (no JavaScript, no network when the page is viewed).

Every mark carries its number in data-* attributes (data-series, data-value, data-total), so a test
or a curious reader can check a bar against the warehouse without measuring pixels.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Sequence

from markupsafe import Markup, escape

# Colour-blind-safe palette (Okabe-Ito), then greys for items beyond it.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#999999",
           "#666666", "#333333"]
FONT = 'font-family="Noto Sans CJK SC, Source Han Sans SC, WenQuanYi Micro Hei, sans-serif"'


def colours(series: Sequence[str]) -> dict[str, str]:
    return {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(series)}


def number(v, digits: int = 2) -> str:
    if v is None:
        return "–"
    return f"{Decimal(v):,.{digits}f}"


def change(pct) -> str:
    if pct is None:
        return ""
    return f"{'+' if pct > 0 else ''}{pct:.1f}%"


def legend(series: Sequence[str], colour: dict[str, str]) -> Markup:
    items = "".join(
        f'<span class="key"><svg width="12" height="12" aria-hidden="true"><rect width="12" height="12" '
        f'fill="{colour[s]}"/></svg> {escape(s)}</span>' for s in series)
    return Markup(f'<div class="legend">{items}</div>')


def stacked_bars(bars: Sequence[dict], series: Sequence[str], colour: dict[str, str], *, chart_id: str,
                 title: str, label_width: int = 190, width: int = 900, row: int = 22) -> Markup:
    """Horizontal stacked bars. `bars`: dicts with `label`, `values` {series: Decimal}, optional `note`
    (text after the bar, e.g. the total and its change on the year before). One scale for all bars."""
    longest = max((sum((v for v in b["values"].values() if v and v > 0), Decimal(0)) for b in bars),
                  default=Decimal(0))
    scale = (width - label_width - 250) / float(longest) if longest > 0 else 0.0
    height = row * len(bars) + 8
    out = [f'<svg class="chart" id="{escape(chart_id)}" role="img" aria-label="{escape(title)}" '
           f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" {FONT} font-size="12" '
           f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>']
    for i, bar in enumerate(bars):
        y = 4 + i * row
        total = sum((v for v in bar["values"].values() if v is not None), Decimal(0))
        change_attr = "" if bar.get("change") is None else f' data-change="{bar["change"]:.4f}"'
        out.append(f'<g class="bar" data-label="{escape(bar["label"])}" data-total="{total}"{change_attr}>')
        out.append(f'<text x="{label_width - 6}" y="{y + row * 0.65:.1f}" text-anchor="end">'
                   f'{escape(_clip(bar["label"], 16))}</text>')
        x = float(label_width)
        for s in series:
            v = bar["values"].get(s)
            if v is None or v <= 0:
                continue
            w = float(v) * scale
            out.append(f'<rect class="segment" data-series="{escape(s)}" data-value="{v}" x="{x:.2f}" '
                       f'y="{y + 2}" width="{max(w, 0.5):.2f}" height="{row - 5}" fill="{colour[s]}">'
                       f'<title>{escape(bar["label"])} · {escape(s)}: {number(v)} 万元</title></rect>')
            x += w
        note = bar.get("note")
        if note:
            out.append(f'<text x="{x + 6:.2f}" y="{y + row * 0.65:.1f}" fill="#333">{escape(note)}</text>')
        out.append("</g>")
    out.append("</svg>")
    return Markup("".join(out))


def distribution(rows: Sequence[dict], *, chart_id: str, title: str, label_width: int = 300,
                 width: int = 820, row: int = 34) -> Markup:
    """Per indicator (`label`, `unit`, `value_counts`: the departments' numeric targets as (value, how many)
    pairs): a strip of dots on the indicator's own axis (min to max), the middle half as a box and the
    median as a bar."""
    height = row * len(rows) + 8
    plot_left, plot_right = label_width + 10, width - 150
    out = [f'<svg class="chart" id="{escape(chart_id)}" role="img" aria-label="{escape(title)}" '
           f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" {FONT} font-size="12" '
           f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>']
    for i, r in enumerate(rows):
        values = []
        for v, n in r["value_counts"]:
            values += [float(v)] * n
        values.sort()
        y = 4 + i * row
        mid = y + row / 2
        out.append(f'<g class="distribution" data-indicator="{escape(r["indicator_id"])}" '
                   f'data-unit="{escape(r["unit"] or "")}" data-count="{len(values)}">')
        out.append(f'<text x="{label_width}" y="{mid + 4:.1f}" text-anchor="end">{escape(_clip(r["label"], 24))}'
                   f'</text>')
        out.append(f'<line x1="{plot_left}" x2="{plot_right}" y1="{mid:.1f}" y2="{mid:.1f}" stroke="#ccc"/>')
        if values:
            lo, hi = values[0], values[-1]
            span = (hi - lo) or 1.0

            def at(v: float) -> float:
                if hi == lo:
                    return (plot_left + plot_right) / 2
                return plot_left + (v - lo) / span * (plot_right - plot_left)

            q1, med, q3 = _quantile(values, 0.25), _quantile(values, 0.5), _quantile(values, 0.75)
            out.append(f'<rect class="iqr" x="{at(q1):.2f}" y="{mid - 8:.1f}" width="{max(at(q3) - at(q1), 1):.2f}" '
                       f'height="16" fill="#E69F00" fill-opacity="0.35" stroke="#E69F00"/>')
            # One dot a target (tens of thousands), jittered by its rank: each dot's text is its value's
            # part, formatted once a value (targets share a few values), then one of the 11 jitters' part.
            jittered = [f'{mid + ((m * 7919) % 11 - 5) * 1.1:.1f}" r="2.5" fill="#0072B2" fill-opacity="0.6"/>'
                        for m in range(11)]
            at_value: dict[float, str] = {}
            for k, v in enumerate(values):
                head = at_value.get(v)
                if head is None:
                    head = at_value[v] = f'<circle class="target" data-value="{v:g}" cx="{at(v):.2f}" cy="'
                out.append(head + jittered[k % 11])
            out.append(f'<line class="median" data-value="{med:g}" x1="{at(med):.2f}" x2="{at(med):.2f}" '
                       f'y1="{mid - 10:.1f}" y2="{mid + 10:.1f}" stroke="#D55E00" stroke-width="2"/>')
            unit = r["unit"] or ""
            out.append(f'<text x="{plot_right + 8}" y="{mid + 4:.1f}" fill="#333">{lo:g}–{hi:g}{escape(unit)}, '
                       f'median {med:g}</text>')
        out.append("</g>")
    out.append("</svg>")
    return Markup("".join(out))


def _quantile(values: list[float], q: float) -> float:
    """The lower `q` quantile of sorted values (an actual value, like PERCENTILE_DISC)."""
    k = max(0, min(len(values) - 1, int(-(-q * len(values) // 1)) - 1))
    return values[k]


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
