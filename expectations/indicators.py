"""The GX suite `fact_indicator_value`: numeric targets are plausible and consistent.

`derive()` returns a DataFrame aligned row for row with fact_indicator_value: per check, a boolean
column named after the check (the rows it looks at), and the measures its expectations read.

- indicator_value_in_range, on numeric targets in % or in a counting unit (COUNT_UNITS): `value`, and
  `range_kind` ('percent' | 'count') choosing the bounds: [0, 100] for percentages, ≥ 0 for counts.
  A target over 100% is reported here (no separate check): the contract states percentages lie in
  [0, 100]. Change rates stated negative (变动率 ≤-5%) are reported too; they are rare and worth a look.
- annual_contradicts_long_term, on the fiscal year's annual target of an indicator whose long-term
  target states a direction (≥, >, ≤, <) in the same unit: `looser_than_long_term_by` ≤ 0. The annual
  target is looser by how far it falls below a long-term lower bound (≥x, >x) or rises above a
  long-term upper bound (≤x, <x): long-term ≥95% with annual ≥90% or a bare 90% → 5. A bare long-term
  value (`100%`, comparator '=') has no direction: 完成率 100% means at least, 控制率 100% at most,
  so it is not compared (on generated documents comparing it flagged a third of them, all noise).
- fact_indicator_value_keys_unique, on every row: the grain document × indicator × horizon × year.

Values are compared as float64 cast from the exact decimals: the cast is monotone, 0 and 100 are
exact, and the difference of two distinct floats is never 0, so every verdict is the exact one.
"""
from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from expectations import exact as ex
from expectations.groups import codes, per_group
from expectations.rules import between, compound_unique
from expectations.lookup import Lookup, by_key, cell_of

TABLE = "fact_indicator_value"
LONG_TERM, ANNUAL = "long_term", "annual"
PERCENT = "%"
# Units that count things (people, visits, items, households, firms, events, …): never negative.
COUNT_UNITS = ("人", "人次", "个", "次", "户", "家", "项", "件", "场", "篇", "期", "所", "座", "台", "套",
               "名", "位", "批", "份", "本", "条", "处", "班", "课时", "天", "小时", "万人", "万人次")
LOWER, UPPER = (">=", ">", "="), ("<=", "<", "=")  # what an annual target bounds (a bare value: both)
LT_LOWER, LT_UPPER = (">=", ">"), ("<=", "<")  # what a long-term target bounds (a bare value: unknown)
RANGE_KINDS = ["percent", "count"]  # range_kind: which range a numeric target must lie in
GX_COLUMNS = ["document_id", "indicator_id", "horizon", "year", "value", "range_kind", "looser_than_long_term_by"]


RULES = [
    between("indicator_value_in_range", "value", min_value=0, max_value=100, where=("range_kind", "percent")),
    between("indicator_value_in_range", "value", min_value=0, where=("range_kind", "count")),
    between("annual_contradicts_long_term", "looser_than_long_term_by", max_value=0),
    compound_unique("fact_indicator_value_keys_unique", ["document_id", "indicator_id", "horizon", "year"], where=None),
]


def suite():
    """The GX suite of RULES (imports GX)."""
    from expectations.gxrun import suite_of

    return suite_of(TABLE, RULES)


def derive(tables: dict[str, pa.Table]) -> pd.DataFrame:
    f = tables[TABLE]
    doc, horizon = ex.categorical(f["document_id"], in_runs=True), ex.categorical(f["horizon"], in_runs=True)
    indicator = ex.categorical(f["indicator_id"])
    unit = ex.categorical(pc.fill_null(f["unit"], ""))
    year, fiscal, v = ex.numbers(f["year"]), ex.numbers(f["fiscal_year"]), ex.numbers(f["value"])
    comparator = ex.categorical(f["comparator"])
    lower, upper, lt_lower, lt_upper = (np.where(_among(comparator, c), v, np.nan)
                                        for c in (LOWER, UPPER, LT_LOWER, LT_UPPER))

    long_term = np.asarray(horizon == LONG_TERM) & ~np.isnan(v)
    lt = per_group(codes(doc.codes, indicator.codes, unit.codes), {
        "lt_lower": ("max", np.where(long_term, lt_lower, np.nan)),
        "lt_upper": ("min", np.where(long_term, lt_upper, np.nan)),
        "lt_row": ("min", np.where(long_term, np.arange(len(v)), np.nan)),
    })
    looser = np.fmax(lt["lt_lower"] - lower, upper - lt["lt_upper"])
    current_annual = np.asarray(horizon == ANNUAL) & (year == fiscal)

    is_percent = np.asarray(unit == PERCENT)
    is_count = _among(unit, COUNT_UNITS)
    kind = np.where(np.isnan(v), -1, np.where(is_percent, 0, np.where(is_count, 1, -1)))  # codes of RANGE_KINDS
    return pd.DataFrame({
        "document_id": doc, "indicator_id": indicator, "horizon": horizon, "year": year, "value": v,
        "range_kind": pd.Categorical.from_codes(kind, categories=RANGE_KINDS),
        "looser_than_long_term_by": looser, "lt_row": lt["lt_row"],
        "indicator_value_in_range": kind >= 0,
        "annual_contradicts_long_term": current_annual & ~np.isnan(looser),
        "fact_indicator_value_keys_unique": np.ones(len(v), dtype=bool),
    })


def _among(values: pd.Categorical, allowed) -> np.ndarray:
    """values.isin(allowed) (missing: False), tested on the few categories, then spread by code."""
    hit = np.append(np.asarray(values.categories.isin(allowed), dtype=bool), False)  # code -1: missing
    return hit[values.codes]


# ---------------------------------------------------------------- messages for failing rows

def _doc(r: dict, look: Lookup) -> str:
    return f"{look.department(r['department_id'])} FY{r['fiscal_year']}"


def _ref(r: dict) -> str:
    year = f"/{r['year']}" if r["year"] is not None else ""
    return f"{r['horizon']}{year}/{r['indicator_id']}"


def _target(r: dict, look: Lookup) -> str:
    when = f"annual {r['year']}" if r["horizon"] == ANNUAL else "long-term"
    return f"{when} target of {look.indicator(r['indicator_id'])} ({cell_of(r)})"


def _in_range(rows: list[dict], look: Lookup) -> list[tuple]:
    out = []
    for r in rows:
        unit = r["unit"] or ""
        if r["range_kind"] == "percent":
            expected, why = "0% to 100%", "a percentage outside [0, 100]"
        else:
            expected, why = f"≥ 0{unit}", "a negative count"
        message = f"{_doc(r, look)}: the {_target(r, look)} is {r['raw']!r}: {why}. Check the 指标值 in the source."
        out.append((r["document_id"], _ref(r), f"{ex.text(r['value'])}{unit}", expected, message, [r["source_cell"]]))
    return out


def _bounds(r: dict, lower=LOWER, upper=UPPER) -> tuple[Decimal | None, Decimal | None]:
    v, c = r["value"], r["comparator"]
    return (v if c in lower else None), (v if c in upper else None)


def _looser(rows: list[dict], look: Lookup) -> list[tuple]:
    out = []
    for r in rows:
        lt = look.row(TABLE, r["lt_row"])
        (lo, hi), (lt_lo, lt_hi) = _bounds(r), _bounds(lt, LT_LOWER, LT_UPPER)
        gaps = [g for g in ((lt_lo - lo) if lo is not None and lt_lo is not None else None,
                            (hi - lt_hi) if hi is not None and lt_hi is not None else None) if g is not None]
        unit = r["unit"] or ""
        message = (f"{_doc(r, look)}: the {_target(r, look)} is {r['raw']!r}, looser than the long-term target "
                   f"{lt['raw']!r} ({cell_of(lt)}) by {ex.text(max(gaps))}{unit}. One of the two targets is "
                   f"likely wrong; check both in the source.")
        out.append((r["document_id"], _ref(r), r["raw"] or "", f"no looser than {lt['raw']}", message,
                    [r["source_cell"], lt["source_cell"]]))
    return out


def _duplicates(rows: list[dict], look: Lookup) -> list[tuple]:
    out = []
    for (document_id, ref), dup in by_key(rows, _ref).items():
        r = dup[0]
        lines = ", ".join(str(x["line"]) for x in dup)
        message = (f"{_doc(r, look)}: fact_indicator_value holds {len(dup)} rows for {look.indicator(r['indicator_id'])} "
                   f"{ref} (source lines {lines}); its grain is document × indicator × horizon × year. The "
                   f"normalizer emitted a duplicate: a pipeline bug.")
        out.append((document_id, ref, f"{len(dup)} rows", "1 row", message, [x["source_cell"] for x in dup]))
    return out


DESCRIBE = {
    "indicator_value_in_range": _in_range,
    "annual_contradicts_long_term": _looser,
    "fact_indicator_value_keys_unique": _duplicates,
}
