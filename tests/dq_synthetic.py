"""Synthetic, internally consistent pifu tables for the data-quality checks (vectorized: 10,000
documents in about a second), with hooks to plant one error of each kind.

Per document: income 8 items + 合计 and expenditure 4 items + 合计 for 3 years (42 funding rows;
shares stated for the fiscal year, income 合计 = expenditure 合计 that year), and 37 indicators with a
long-term target and annual values for 3 years (148 indicator rows).
"""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pifu.schema import SCHEMAS

FISCAL_YEAR = 2025
YEARS = (2023, 2024, 2025)
INCOME_ITEMS = ("财政拨款", "财政专户管理资金", "单位资金", "事业收入", "经营收入", "上级补助收入", "附属单位上缴收入", "其他收入")
EXPENDITURE_ITEMS = ("人员类项目支出", "运转类项目支出", "特定目标类项目支出", "其他支出")
INDICATORS = 37
# unit and comparator of indicator k: cycles through percent, count, times and qualitative targets
UNITS = ("%", "人", "次", None)


def doc_id(i: int) -> str:
    return f"doc{i:06d}"


def _cents_to_decimal(cents: np.ndarray, scale: int, type_: pa.DataType) -> pa.Array:
    """Integers in units of 10^-scale -> exact decimals."""
    unscaled = pc.cast(pa.array(cents, pa.int64()), pa.decimal128(19, 0))
    return pc.cast(pc.multiply(unscaled, pa.scalar(Decimal(1).scaleb(-scale), pa.decimal128(scale + 1, scale))), type_)


def funding_amounts(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Amounts in cents, shape (n, items, years), with the fiscal year's totals balanced."""
    rng = np.random.default_rng(seed)
    income = rng.integers(0, 50_000_00, size=(n, len(INCOME_ITEMS), len(YEARS)))
    income[:, 1::3, :] = 0  # some sources are empty, as in real documents
    expenditure = rng.integers(1_00, 40_000_00, size=(n, len(EXPENDITURE_ITEMS), len(YEARS)))
    fy = YEARS.index(FISCAL_YEAR)
    inc_total = income[:, :, fy].sum(axis=1)
    # the fiscal year's expenditure splits the income total: 50% / 10% / 30% / rest
    parts = (inc_total[:, None] * np.array([50, 10, 30])[None, :]) // 100
    expenditure[:, :3, fy] = parts
    expenditure[:, 3, fy] = inc_total - parts.sum(axis=1)
    return {"income": income, "expenditure": expenditure}


def shares_hundredths(amounts: np.ndarray) -> np.ndarray:
    """Stated shares (2 decimals, in hundredths of a percent) of the fiscal year, from the amounts."""
    fy = YEARS.index(FISCAL_YEAR)
    a = amounts[:, :, fy].astype(np.float64)
    t = a.sum(axis=1, keepdims=True)
    return np.where(t > 0, np.round(a * 10000 / np.where(t > 0, t, 1)), 0).astype(np.int64)


def funding_table(amounts: dict[str, np.ndarray], shares: dict[str, np.ndarray] | None = None) -> pa.Table:
    n = next(iter(amounts.values())).shape[0]
    shares = shares or {flow: shares_hundredths(a) for flow, a in amounts.items()}
    fy = YEARS.index(FISCAL_YEAR)
    parts = []
    for flow, items in (("income", INCOME_ITEMS), ("expenditure", EXPENDITURE_ITEMS)):
        a = amounts[flow]
        k = len(items) + 1
        full = np.concatenate([a, a.sum(axis=1, keepdims=True)], axis=1)  # (n, k, years)
        sh = np.concatenate([shares[flow], np.full((n, 1), 10000)], axis=1)  # 合计 states 100.00
        doc = np.repeat(np.arange(n), k * len(YEARS))
        item = np.tile(np.repeat(np.arange(k), len(YEARS)), n)
        year = np.tile(np.array(YEARS), n * k)
        is_fy = year == FISCAL_YEAR
        share_vals = np.where(is_fy, sh[doc, item], 0)
        names = np.array(list(items) + ["合计"], dtype=object)
        line = 7 + item + (0 if flow == "income" else len(INCOME_ITEMS) + 1)
        parts.append(pa.table({
            "document_id": pa.array([doc_id(i) for i in range(n)]).take(pa.array(doc)),
            "department_id": pa.array([f"dep{i:06d}" for i in range(n)]).take(pa.array(doc)),
            "fiscal_year": pa.array(np.full(doc.size, FISCAL_YEAR), pa.int32()),
            "flow": pa.array(np.full(doc.size, flow, dtype=object), pa.string()),
            "item": pa.array(names[item], pa.string()),
            "year": pa.array(year, pa.int32()),
            "amount": _cents_to_decimal(full.reshape(-1), 2, SCHEMAS["fact_funding"].field("amount").type),
            "share_pct": pc.if_else(pa.array(is_fy), _cents_to_decimal(share_vals, 2, SCHEMAS["fact_funding"].field("share_pct").type),
                                    pa.scalar(None, SCHEMAS["fact_funding"].field("share_pct").type)),
            "amount_digits": pa.array(np.full(doc.size, 2), pa.int8()),
            "share_digits": pc.if_else(pa.array(is_fy), pa.scalar(2, pa.int8()), pa.scalar(None, pa.int8())),
            "line": pa.array(line, pa.int32()),
            "source_cell": pc.binary_join_element_wise("line ", pa.array(line).cast(pa.string()), ""),
        }))
    return _fit(pa.concat_tables(parts), "fact_funding")


def indicator_table(n: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed + 1)
    k = INDICATORS
    horizons = ("long_term",) + ("annual",) * len(YEARS)
    years = (None,) + YEARS
    per_doc = k * len(horizons)
    doc = np.repeat(np.arange(n), per_doc)
    ind = np.tile(np.repeat(np.arange(k), len(horizons)), n)
    h = np.tile(np.arange(len(horizons)), n * k)
    unit_idx = ind % len(UNITS)
    base = np.where(unit_idx == 0, rng.integers(80, 96, size=doc.size), rng.integers(1, 500, size=doc.size))
    # one base value per (document, indicator): annual targets equal the long-term one
    base = base.reshape(n, k, len(horizons))[:, :, :1].repeat(len(horizons), axis=2).reshape(-1)
    qualitative = unit_idx == 3
    units = np.array(UNITS, dtype=object)[unit_idx]
    unit_text = np.array([u or "" for u in UNITS])[unit_idx]
    raw = np.where(qualitative, "健全", np.char.add(np.char.add("≥", base.astype(str)), unit_text))
    value = _cents_to_decimal(base * 10**6, 6, SCHEMAS["fact_indicator_value"].field("value").type)
    value = pc.if_else(pa.array(qualitative), pa.scalar(None, value.type), value)
    year_arr = pa.array(np.array(years, dtype=object)[h], pa.int32())
    return _fit(pa.table({
        "document_id": pa.array([doc_id(i) for i in range(n)]).take(pa.array(doc)),
        "department_id": pa.array([f"dep{i:06d}" for i in range(n)]).take(pa.array(doc)),
        "fiscal_year": pa.array(np.full(doc.size, FISCAL_YEAR), pa.int32()),
        "indicator_id": pa.array([f"ind{j:03d}" for j in range(k)]).take(pa.array(ind)),
        "horizon": pa.array(np.array(horizons, dtype=object)[h], pa.string()),
        "year": year_arr,
        "raw": pa.array(raw.astype(object), pa.string()),
        "comparator": pa.array(np.where(qualitative, None, ">=").astype(object), pa.string()),
        "value": value,
        "unit": pa.array(units, pa.string()),
        "basis": pa.array(np.full(doc.size, "计划标准", dtype=object), pa.string()),
        "category": pa.array(np.full(doc.size, "绩效基本型", dtype=object), pa.string()),
        "line": pa.array(30 + ind * len(horizons) + h, pa.int32()),
        "source_cell": pc.binary_join_element_wise("line ", pa.array(30 + ind * len(horizons) + h).cast(pa.string()), ""),
        "value_no": pa.array(np.tile(np.arange(1, per_doc + 1), n), pa.int32()),
    }), "fact_indicator_value")


def _fit(table: pa.Table, name: str) -> pa.Table:
    """`table` as SCHEMAS[name]: columns this generator does not fill (added to the schema since) are null."""
    schema = SCHEMAS[name]
    columns = [table[f.name] if f.name in table.column_names else pa.nulls(table.num_rows, f.type) for f in schema]
    return pa.Table.from_arrays(columns, names=schema.names).cast(schema)


def document_table(n: int) -> pa.Table:
    ts = datetime(2025, 3, 1, tzinfo=timezone.utc)
    return _fit(pa.table({
        "document_id": [doc_id(i) for i in range(n)],
        "department_id": [f"dep{i:06d}" for i in range(n)],
        "fiscal_year": pa.array(np.full(n, FISCAL_YEAR), pa.int32()),
        "source_path": [f"/data/{doc_id(i)}.xlsx" for i in range(n)],
        "sha256": [f"{i:064x}" for i in range(n)],
        "format": ["xlsx"] * n,
        "encoding": pa.array([None] * n, pa.string()),
        "is_current": [True] * n,
        "loaded_at": pa.array([ts] * n, pa.timestamp("us", tz="UTC")),
        "problem_count": pa.array(np.zeros(n), pa.int32()),
        "source_mtime": pa.array([ts] * n, pa.timestamp("us", tz="UTC")),
    }), "fact_document")


def dims(n: int) -> dict[str, pa.Table]:
    return {
        "dim_department": _fit(pa.table({
            "department_id": [f"dep{i:06d}" for i in range(n)],
            "department_name": [f"测试市第{i}局" for i in range(n)],
            "region": ["测试市"] * n,
        }), "dim_department"),
        "dim_indicator": _fit(pa.table({
            "indicator_id": [f"ind{j:03d}" for j in range(INDICATORS)],
            "lv1": ["产出指标"] * INDICATORS, "lv2": ["数量指标"] * INDICATORS,
            "lv3": [f"指标{j}" for j in range(INDICATORS)],
        }), "dim_indicator"),
    }


def tables(n: int, seed: int = 0) -> dict[str, pa.Table]:
    return {
        "fact_funding": funding_table(funding_amounts(n, seed)),
        "fact_indicator_value": indicator_table(n, seed),
        "fact_document": document_table(n),
        **dims(n),
    }


def previous_documents(n: int, seed: int = 0) -> dict[str, pa.Table]:
    """The same departments' own documents for the history years (loaded earlier, as the lake holds them):
    each states as its own year exactly what the fiscal year's document states for that year."""
    funding, docs = funding_table(funding_amounts(n, seed)), document_table(n)
    earlier = datetime(2024, 3, 1, tzinfo=timezone.utc)
    fund_parts, doc_parts = [], []
    for year in YEARS[:-1]:
        suffix = pa.scalar(f"-{year}")
        rows = funding.filter(pc.equal(funding["year"], year))
        rows = rows.set_column(0, "document_id", pc.binary_join_element_wise(rows["document_id"], suffix, ""))
        rows = rows.set_column(2, "fiscal_year", pa.array(np.full(rows.num_rows, year), pa.int32()))
        fund_parts.append(rows)
        doc_parts.append(docs.set_column(0, "document_id", pc.binary_join_element_wise(docs["document_id"], suffix, ""))
                         .set_column(2, "fiscal_year", pa.array(np.full(n, year), pa.int32()))
                         .set_column(3, "source_path", pc.binary_join_element_wise(docs["source_path"], suffix, ""))
                         .set_column(8, "loaded_at", pa.array([earlier] * n, pa.timestamp("us", tz="UTC"))))
    return {"fact_funding": _fit(pa.concat_tables(fund_parts), "fact_funding"),
            "fact_document": _fit(pa.concat_tables(doc_parts), "fact_document")}
