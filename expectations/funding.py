"""The GX suite `fact_funding`: the funding table adds up.

`derive()` returns a DataFrame aligned row for row with fact_funding: per check, a boolean column
named after the check (the rows it looks at), and the measures its expectations read, in 万元 or
percentage points. Group values (Σ items, 合计) are computed per document × flow × year with numpy on
integer codes (expectations.groups), in exact micro-units (expectations.exact).

- funding_components_sum_to_total, on each 合计 row whose group has every item of the flow (every item
  the document lists for that flow in any year): `items_sum_off_by` = |Σ items − 合计| ≤
  `items_sum_tolerance` = Σ half-units of the items' last stated digits + the 合计's half-unit.
  A group with an item missing that year (the sample's 财政拨款 states no 2023/2024 amounts) records
  nothing: the parser already lists the empty cell among the document's problems, and a row with
  passed=None would only blur pass rates. A document none of whose groups is complete gets no row.
- funding_share_matches_amount, on each row with a stated share and a 合计 that stays positive after
  rounding: `share_min` ≤ `share_pct` ≤ `share_max`, the shares the rounded amounts allow widened by
  the share's own half-unit: [100(a−ea)/(t+et) − es, 100(a+ea)/(t−et) + es]. For 合计 itself a = t
  exactly, so only its share's rounding counts. (A quotient has no exact decimal: these bounds are
  float64, which cannot matter since they never sit on a stated value: the half-units are positive.)
- funding_shares_sum_to_100, on each 合计 row whose group's items all state a share:
  `shares_sum_off_by` = |Σ shares − 100| ≤ `shares_sum_tolerance` = Σ the shares' half-units.
- income_equals_expenditure, on the expenditure 合计 of the fiscal year when income states a 合计 that
  year: `totals_off_by` = |expenditure − income| ≤ `totals_tolerance` = the two half-units.
- funding_history_matches_previous_document, on each amount of a year before the fiscal year that the
  department's current document of that year states as its own (expectations.history; earlier
  documents come from the run and from `reference`): `history_off_by` = |amount − that document's
  amount| ≤ `history_tolerance` = the two half-units of their last stated digits.
- fact_funding_keys_unique, on every row: the grain document × flow × item × year.
"""
from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from expectations import exact as ex
from expectations import history
from expectations.groups import codes, distinct_per, per_group
from expectations.rules import compound_unique, pair_ge
from expectations.lookup import Lookup, by_key, cell_of

TABLE = "fact_funding"
TOTAL = "合计"
INCOME, EXPENDITURE = "income", "expenditure"
FLOW_LABEL = {INCOME: "income (收入)", EXPENDITURE: "expenditure (支出)"}
HUNDRED = 100 * ex.MICRO
GX_COLUMNS = [
    "document_id", "flow", "item", "year", "items_sum_off_by", "items_sum_tolerance", "share_pct", "share_min",
    "share_max", "shares_sum_off_by", "shares_sum_tolerance", "totals_off_by", "totals_tolerance",
    "history_off_by", "history_tolerance",
]


RULES = [
    pair_ge("funding_components_sum_to_total", "items_sum_tolerance", "items_sum_off_by"),
    pair_ge("funding_share_matches_amount", "share_pct", "share_min"),
    pair_ge("funding_share_matches_amount", "share_max", "share_pct"),
    pair_ge("funding_shares_sum_to_100", "shares_sum_tolerance", "shares_sum_off_by"),
    pair_ge("income_equals_expenditure", "totals_tolerance", "totals_off_by"),
    pair_ge("funding_history_matches_previous_document", "history_tolerance", "history_off_by"),
    compound_unique("fact_funding_keys_unique", ["document_id", "flow", "item", "year"], where=None),
]


def suite():
    """The GX suite of RULES (imports GX)."""
    from expectations.gxrun import suite_of

    return suite_of(TABLE, RULES)


def derive(tables: dict[str, pa.Table], reference: dict[str, pa.Table] | None = None) -> pd.DataFrame:
    """`reference`: fact_document and fact_funding of documents loaded before (the lake's), which the
    history check compares with besides the run's own documents."""
    f = tables[TABLE]
    doc, flow = ex.categorical(f["document_id"], in_runs=True), ex.categorical(f["flow"], in_runs=True)
    item = ex.categorical(f["item"])
    year, fiscal = ex.numbers(f["year"]), ex.numbers(f["fiscal_year"])
    amt, ea = ex.micro(f["amount"]), ex.half_micro(f["amount_digits"], f["amount"].type.scale)
    sh, es = ex.micro(f["share_pct"]), ex.half_micro(f["share_digits"], f["share_pct"].type.scale)
    digits = pd.Series(f["amount_digits"].to_numpy(zero_copy_only=False)).fillna(ex.DEFAULT_DIGITS).to_numpy()

    present = ~np.isnan(amt)
    is_total = np.asarray(item == TOTAL) & present
    is_item = np.asarray(item != TOTAL) & np.asarray(pd.notna(item)) & present
    stated = is_item & ~np.isnan(sh)
    is_income = np.asarray(flow == INCOME)

    group = codes(doc.codes, flow.codes, year)  # document × flow × year
    g = per_group(group, {
        "items_sum_u": ("sum", np.where(is_item, amt, 0)), "items_sum_ea_u": ("sum", np.where(is_item, ea, 0)),
        "group_items": ("sum", is_item), "items_digits": ("max", np.where(is_item, digits, -1)),
        "shares_sum_u": ("sum", np.where(stated, sh, 0)), "shares_es_u": ("sum", np.where(stated, es, 0)),
        "shares_stated": ("sum", stated),
        "total_u": ("max", np.where(is_total, amt, np.nan)), "total_ea_u": ("max", np.where(is_total, ea, np.nan)),
    })
    flow_items = distinct_per(codes(doc.codes, flow.codes), np.asarray(item.codes), is_item)
    inc_total = is_total & is_income
    income = per_group(codes(doc.codes, year), {
        "income_total_u": ("max", np.where(inc_total, amt, np.nan)),
        "income_ea_u": ("max", np.where(inc_total, ea, np.nan)),
        "income_line": ("max", np.where(inc_total, ex.numbers(f["line"]), np.nan)),
    })

    # The columns as numpy arrays, in the frame's order; the DataFrame is built once at the end (a pandas
    # column insert or Series operation costs more than the arithmetic on these 10^4-10^5 rows).
    d = {"document_id": doc, "flow": flow, "item": item, "year": year,
         "amt_u": amt, "ea_u": ea, "sh_u": sh, "es_u": es, "flow_items": flow_items,
         **g, **income, **history.previous_amounts(tables, reference)}

    complete = (d["group_items"] == flow_items) & (flow_items > 0)
    d["funding_components_sum_to_total"] = is_total & complete
    d["items_sum_off_by"] = ex.units(np.abs(d["items_sum_u"] - amt))
    d["items_sum_tolerance"] = ex.units(d["items_sum_ea_u"] + ea)

    d["funding_shares_sum_to_100"] = is_total & (d["shares_stated"] == flow_items) & (flow_items > 0)
    d["shares_sum_off_by"] = ex.units(np.abs(d["shares_sum_u"] - HUNDRED))
    d["shares_sum_tolerance"] = ex.units(d["shares_es_u"])

    d["income_equals_expenditure"] = is_total & ~is_income & (year == fiscal) & ~np.isnan(d["income_total_u"])
    d["totals_off_by"] = ex.units(np.abs(amt - d["income_total_u"]))
    d["totals_tolerance"] = ex.units(ea + d["income_ea_u"])

    d["funding_history_matches_previous_document"] = ~np.isnan(d["prev_amount_u"]) & present
    d["history_off_by"] = ex.units(np.abs(amt - d["prev_amount_u"]))
    d["history_tolerance"] = ex.units(ea + d["prev_ea_u"])

    share_min, share_max, checkable = _share_bounds(d, is_total)
    d["funding_share_matches_amount"] = checkable & ~np.isnan(sh)
    d["share_pct"], d["share_min"], d["share_max"] = ex.units(sh), share_min, share_max
    d["fact_funding_keys_unique"] = np.ones(len(amt), dtype=bool)
    return pd.DataFrame(d)


def _share_bounds(d: dict[str, np.ndarray], is_total: np.ndarray):
    """The interval of shares the rounded amounts allow, widened by the stated share's half-unit."""
    # 合计's share is of itself: its amount is the denominator, so its rounding cancels.
    ea = np.where(is_total, 0, d["ea_u"])
    et = np.where(is_total, 0, d["total_ea_u"])
    a, t, es = d["amt_u"], d["total_u"], d["es_u"]
    with np.errstate(divide="ignore", invalid="ignore"):
        lo = 100 * (a - ea) / (t + et) - ex.units(es)
        hi = 100 * (a + ea) / (t - et) + ex.units(es)
    checkable = ~np.isnan(a) & ~np.isnan(t) & (t - d["total_ea_u"] > 0)
    return lo, hi, checkable


# ---------------------------------------------------------------- messages for failing rows
# Each takes the failing rows (source columns + derived columns) and returns
# [(document_id, row_ref, observed, expected, message)].

def _doc(r: dict, look: Lookup) -> str:
    return f"{look.department(r['department_id'])} FY{r['fiscal_year']}"


def _flow(r: dict) -> str:
    return FLOW_LABEL.get(r["flow"], r["flow"])


def _digits(value, default=ex.DEFAULT_DIGITS) -> int:
    return default if value is None or value != value else int(value)


def _cells(r: dict, groups: dict, items=None) -> list[str]:
    """The row's own cell first, then the cells of its flow/year group (`items`: which items; all by default)."""
    group = groups.get((r["document_id"], r["flow"], r["year"]), [])
    return [r["source_cell"], *(c for i, c in group if items is None or i in items)]


def _components(rows: list[dict], look: Lookup) -> list[tuple]:
    groups = look.funding_cells(rows)
    out = []
    for r in rows:
        d = _digits(r["amount_digits"])
        shown = max(d, _digits(r["items_digits"], d))
        total, items = ex.dec(r["amt_u"]), ex.dec(r["items_sum_u"])
        off, tol = abs(items - total), ex.dec(r["items_sum_ea_u"] + r["ea_u"])
        observed = ex.at_least(items, shown)
        message = (f"{_doc(r, look)}: {_flow(r)} items for {r['year']} add up to {observed}, but 合计 "
                   f"({cell_of(r)}) states {ex.text(total, d)}: off by {ex.at_least(off, shown)}, more than "
                   f"rounding allows ({ex.text(tol)}). Check the item amounts and 合计 in the source.")
        out.append((r["document_id"], f"{r['flow']}/{r['year']}", observed,
                    f"{ex.text(total, d)} ± {ex.text(tol)}", message, _cells(r, groups)))
    return out


def _share(rows: list[dict], look: Lookup) -> list[tuple]:
    groups = look.funding_cells(rows)
    out = []
    for r in rows:
        sd, ad = _digits(r["share_digits"]), _digits(r["amount_digits"])
        a, t, s = ex.dec(r["amt_u"]), ex.dec(r["total_u"]), ex.dec(r["sh_u"])
        shown = sd + 2
        computed = ex.rounded(a * 100 / t, shown)
        lo, hi = ex.rounded(Decimal(repr(r["share_min"])), shown, "down"), ex.rounded(Decimal(repr(r["share_max"])), shown, "up")
        observed = ex.text(s, sd)
        message = (f"{_doc(r, look)}: {_flow(r)} {r['item']} {r['year']} ({cell_of(r)}) states a share of "
                   f"{observed}%, but {ex.text(a, ad)} / {ex.text(t)} × 100 = {computed}%: off by "
                   f"{ex.rounded(abs(a * 100 / t - s), shown)} points, more than rounding allows "
                   f"({lo}% to {hi}%). Check the share and the amounts in the source.")
        out.append((r["document_id"], f"{r['flow']}/{r['item']}/{r['year']}", observed,
                    f"{computed} (allowed {lo} to {hi})", message, _cells(r, groups, {TOTAL})))
    return out


def _shares_sum(rows: list[dict], look: Lookup) -> list[tuple]:
    groups = look.funding_cells(rows)
    out = []
    for r in rows:
        total, tol = ex.dec(r["shares_sum_u"]), ex.dec(r["shares_es_u"])
        observed = ex.text(total)
        message = (f"{_doc(r, look)}: the stated shares of the {_flow(r)} items for {r['year']} add up to "
                   f"{observed}%, off 100% by {ex.text(abs(total - 100))} points, more than rounding allows "
                   f"({ex.text(tol)}). Check the shares above 合计 ({cell_of(r)}) in the source.")
        out.append((r["document_id"], f"{r['flow']}/{r['year']}", observed, f"100 ± {ex.text(tol)}", message,
                    _cells(r, groups)))
    return out


def _balance(rows: list[dict], look: Lookup) -> list[tuple]:
    groups = look.funding_cells([{**r, "flow": INCOME} for r in rows])
    out = []
    for r in rows:
        d = _digits(r["amount_digits"])
        spent, income = ex.dec(r["amt_u"]), ex.dec(r["income_total_u"])
        tol = ex.dec(r["ea_u"] + r["income_ea_u"])
        side = "income exceeds expenditure" if income > spent else "expenditure exceeds income"
        observed = ex.text(spent, d)
        income_at = dict(groups.get((r["document_id"], INCOME, r["year"]), [])).get(TOTAL) \
            or f"line {int(r['income_line'])}"
        message = (f"{_doc(r, look)}: expenditure 合计 {observed} ({cell_of(r)}) differs from income 合计 "
                   f"{ex.text(income)} ({income_at}) for {r['year']}: {side} by "
                   f"{ex.at_least(abs(income - spent), d)}, more than rounding allows ({ex.text(tol)}). "
                   f"Check both 合计 in the source.")
        out.append((r["document_id"], str(r["year"]), observed, f"{ex.text(income)} ± {ex.text(tol)}", message,
                    _cells({**r, "flow": INCOME}, groups, {TOTAL})))
    return out


def _history(rows: list[dict], look: Lookup) -> list[tuple]:
    paths = _source_paths(look, {r["document_id"] for r in rows})
    out = []
    for r in rows:
        d, d_prev = _digits(r["amount_digits"]), _digits(r["prev_digits"])
        stated, earlier = ex.dec(r["amt_u"]), ex.dec(r["prev_amount_u"])
        tol = ex.dec(r["ea_u"] + r["prev_ea_u"])
        observed, expected = ex.text(stated, d), ex.text(earlier, d_prev)
        prev_line = "" if r["prev_line"] != r["prev_line"] else f", line {int(r['prev_line'])}"
        off = ex.at_least(abs(stated - earlier), max(d, d_prev))
        message = (f"{_doc(r, look)}: {_flow(r)} {r['item']} for {r['year']} is stated as {observed} (line "
                   f"{r['line']} of {paths.get(r['document_id'], r['document_id'])}), but the department's own "
                   f"FY{r['year']} document {r['prev_source_path']} (document {r['prev_document_id']}{prev_line}) "
                   f"states {expected}: off by {off}, more than rounding allows ({ex.text(tol)}). Check which of "
                   f"the two documents has it right.")
        out.append((r["document_id"], f"{r['flow']}/{r['item']}/{r['year']}", observed,
                    f"{expected} ± {ex.text(tol)}", message, [r["source_cell"]]))
    return out


def _source_paths(look: Lookup, document_ids: set[str]) -> dict[str, str]:
    docs = look.tables.get("fact_document")
    if docs is None:
        return {}
    docs = docs.filter(pc.is_in(docs["document_id"], pa.array(sorted(document_ids), pa.string())))
    return dict(zip(docs["document_id"].to_pylist(), docs["source_path"].to_pylist()))


def _duplicates(rows: list[dict], look: Lookup) -> list[tuple]:
    out = []
    for (document_id, ref), dup in by_key(rows, lambda r: f"{r['flow']}/{r['item']}/{r['year']}").items():
        lines = ", ".join(str(x["line"]) for x in dup)
        message = (f"{_doc(dup[0], look)}: fact_funding holds {len(dup)} rows for {ref} (source lines {lines}); "
                   f"its grain is document × flow × item × year. The normalizer emitted a duplicate: a "
                   f"pipeline bug.")
        out.append((document_id, ref, f"{len(dup)} rows", "1 row", message, [x["source_cell"] for x in dup]))
    return out


DESCRIBE = {
    "funding_components_sum_to_total": _components,
    "funding_share_matches_amount": _share,
    "funding_shares_sum_to_100": _shares_sum,
    "income_equals_expenditure": _balance,
    "funding_history_matches_previous_document": _history,
    "fact_funding_keys_unique": _duplicates,
}
