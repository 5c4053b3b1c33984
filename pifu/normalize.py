"""Documents -> the normalized Arrow tables of `pifu.schema.SCHEMAS`. Pure: no I/O, no database.

Ids are content-derived so every run, the lake and the warehouse agree without a lookup:
department_id hashes the NFKC-folded, whitespace-free name; indicator_id hashes lv1|lv2|lv3 folded
the same way; document_id is the first 16 hex of the file's sha256.

Columns are built as plain lists and converted once per column: per-row pandas or per-row Arrow
appends would dominate the run time at 10,000 documents.
"""
from __future__ import annotations

import functools
import hashlib
import json
import re
import unicodedata
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pifu import attribution
from pifu.model import TEXT_SECTIONS, Document
from pifu.schema import AMOUNT, SCHEMAS, SHARE, VALUE
from pifu.values import digits, region_of

_SPACE = re.compile(r"\s+")
# Exclusive bounds of what each decimal column can hold, and the quantum of its scale.
_LIMITS = {
    "amount": (Decimal("1e16"), Decimal("0.01")),
    "share_pct": (Decimal("1e5"), Decimal("0.0001")),
    "value": (Decimal("1e18"), Decimal("0.000001")),
}
_ZERO = Decimal(0)
# Below this a value fits whatever its rounding: bound - quantum, computed once rather than per value.
_CLEAR_OF_EDGE = {column: bound - quantum for column, (bound, quantum) in _LIMITS.items()}
_INT8_MAX = 127
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def fold(text: str | None) -> str:
    """The key form of a label: NFKC (full-width -> ASCII) with all whitespace removed."""
    return _SPACE.sub("", unicodedata.normalize("NFKC", text or ""))


def stable_id(*parts: str | None) -> str:
    return hashlib.sha256("|".join(fold(p) for p in parts).encode("utf-8")).hexdigest()[:16]


# Cached: a batch names few departments and a template family few indicators, and folding + hashing a
# label costs more than the rest of its row. Bounded, as a worker normalizes batch after batch.
@functools.lru_cache(maxsize=4096)
def department_id(name: str) -> str:
    return stable_id(name)


@functools.lru_cache(maxsize=65536)
def indicator_id(lv1: str, lv2: str, lv3: str) -> str:
    return stable_id(lv1, lv2, lv3)


def document_id(sha256: str) -> str:
    return sha256[:16]


def unfit_reason(doc: Document) -> str | None:
    """Why `doc` cannot be stored (columns would overflow, keys collide), or None when it can.

    The pipeline quarantines such documents instead of letting one of them fail a whole batch.
    """
    if not fold(doc.department):
        return "no department name"
    if not isinstance(doc.fiscal_year, int) or not 1900 <= doc.fiscal_year <= 2200:
        return f"fiscal year {doc.fiscal_year!r} out of range"
    if len(doc.source.sha256 or "") < 16:
        return "no sha256"
    # Each list in one pass in C when nothing is wrong (the usual case); otherwise the value-by-value rule
    # finds the first problem in the document's order and names it.
    return None if _clear(doc) else first_misfit(doc)


def _clear(doc: Document) -> bool:
    """No repeated funding key, and every value clear of its column's edge: `first_misfit` would find nothing."""
    funding, indicators = doc.funding, doc.indicators
    return (len({(f.flow, f.item, f.year) for f in funding}) == len(funding)
            and _all_clear([f.amount for f in funding], "amount")
            and _all_clear([f.share_pct for f in funding], "share_pct")
            and _all_clear([i.value for i in indicators], "value")
            and _all_clear([i.weight for i in indicators], "share_pct")
            and _all_clear([t.amount for t in doc.duty_targets], "amount"))


def first_misfit(doc: Document) -> str | None:
    """The first repeated funding key or value its column cannot hold, in the document's order, value by value."""
    keys = set()
    for f in doc.funding:
        if (f.flow, f.item, f.year) in keys:
            return f"funding line {f.flow}/{f.item}/{f.year} appears twice"
        keys.add((f.flow, f.item, f.year))
        for name, d in (("amount", f.amount), ("share_pct", f.share_pct)):
            if d is not None and not _fits(d, name):
                return f"{name} {d} of {f.item} {f.year} does not fit the column"
    for i in doc.indicators:
        if i.value is not None and not _fits(i.value, "value"):
            return f"indicator value {i.value} of {i.lv3} does not fit the column"
        if i.weight is not None and not _fits(i.weight, "share_pct"):
            return f"indicator weight {i.weight} of {i.lv3} does not fit the column"
    for t in doc.duty_targets:
        if t.amount is not None and not _fits(t.amount, "amount"):
            return f"duty target amount {t.amount} of {t.item} does not fit the column"
    return None


def _all_clear(values: list[Decimal | None], column: str) -> bool:
    """Every value (None aside) finite and clear of the column's edge, so `_fits` would pass each. False
    decides nothing: the caller asks `_fits` value by value. (A zero is dropped by the filter, and fits.)"""
    try:
        return max(map(abs, filter(None, values)), default=_ZERO) < _CLEAR_OF_EDGE[column]
    except InvalidOperation:  # a NaN compared
        return False


def _fits(d: Decimal, column: str) -> bool:
    bound, quantum = _LIMITS[column]
    if not d.is_finite():
        return False
    # Only values at the very edge need the (slower) rounding to the column's scale to decide.
    return abs(d) < _CLEAR_OF_EDGE[column] or abs(d.quantize(quantum, ROUND_HALF_UP)) < bound


def normalize(docs: list[Document], loaded_at: datetime, checked: bool = False) -> dict[str, pa.Table]:
    """All tables of one batch. Raises ValueError naming the documents `unfit_reason` rejects; `checked`:
    the caller has passed each document through `unfit_reason` already (the parse workers do, to
    quarantine it alone), so it is not asked twice (a fifth of normalizing)."""
    unfit = [] if checked else [(d.source.path, r) for d in docs if (r := unfit_reason(d))]
    if unfit:
        raise ValueError("documents that cannot be stored: " + "; ".join(f"{p}: {r}" for p, r in unfit))
    loaded_at = _utc(loaded_at)
    docs = _distinct_files(docs)
    ids, indicator_ids = _indicator_ids(docs)
    dim_department = _dim_department(docs)
    dim_indicator = _dim_indicator(ids)
    fact_document = mark_current(_fact_document(docs, loaded_at))
    return {
        "dim_department": dim_department,
        "dim_indicator": dim_indicator,
        "fact_document": fact_document,
        "fact_funding": _fact_funding(docs, fact_document),
        "fact_indicator_value": _fact_indicator_value(docs, fact_document, indicator_ids),
        "fact_text_item": _fact_text_item(docs, fact_document),
        "fact_problem": _fact_problem(docs, fact_document),
        "fact_duty_target": _fact_duty_target(docs, fact_document),
    }


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=timezone.utc) if ts.tzinfo is None else ts.astimezone(timezone.utc)


def _distinct_files(docs: list[Document]) -> list[Document]:
    """The same bytes under two paths are one document version: keep the first path in sort order."""
    by_sha: dict[str, Document] = {}
    for doc in sorted(docs, key=lambda d: d.source.path):
        by_sha.setdefault(document_id(doc.source.sha256), doc)
    return list(by_sha.values())


def build(name: str, columns: dict[str, list | pa.Array | pa.ChunkedArray]) -> pa.Table:
    schema = SCHEMAS[name]
    arrays = [
        c if isinstance(c := columns[f.name], (pa.Array, pa.ChunkedArray)) else _array(c, f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


def _array(values: list, type_: pa.DataType) -> pa.Array:
    # A column no row fills (a text form has no 指标解释, 备注, 权重 …) is made without converting each
    # None. `any` stops at the first value of a filled column; `count` confirms falsy values ("", 0) are None.
    if values and values[0] is None and not any(values) and values.count(None) == len(values):
        return pa.nulls(len(values), type_)
    return pa.array(values, type=type_)


def _dim_department(docs: list[Document]) -> pa.Table:
    names: dict[str, str] = {}
    for doc in docs:
        names.setdefault(department_id(doc.department), doc.department.strip())
    return build("dim_department", {
        "department_id": list(names),
        "department_name": list(names.values()),
        "region": [region_of(n) for n in names.values()],
    })


def _indicator_ids(docs: list[Document]) -> tuple[dict[tuple[str, str, str], str], list[str]]:
    """The id of each distinct (lv1, lv2, lv3), in order of first appearance, and the id of each
    indicator row in document order. One pass, one key a row: hashing fresh label strings is most of
    the work, and a batch-long list of keys would keep ~24,000 tuples for the garbage collector."""
    ids: dict[tuple[str, str, str], str] = {}
    column: list[str] = []
    for doc in docs:
        # Keys built by a comprehension and looked up by `map` (in C): a loop statement per row cost
        # ~1.8 K instructions; only keys not seen before go through Python again.
        keys = [(i.lv1, i.lv2, i.lv3) for i in doc.indicators]
        found = list(map(ids.get, keys))
        if None in found:
            for n, key in enumerate(keys):
                if found[n] is None:
                    iid = ids.get(key)
                    found[n] = iid if iid is not None else ids.setdefault(key, indicator_id(*key))
        column += found
    return ids, column


def _dim_indicator(ids: dict[tuple[str, str, str], str]) -> pa.Table:
    """Labels differing only in width or spacing share an id: the first spelling names it. lv1_class
    maps both vocabularies of first-level indicators to one standard (pifu.layout.LV1_CLASSES)."""
    from pifu.layout import lv1_class_of

    labels: dict[str, tuple[str, str, str]] = {}
    for key, iid in ids.items():
        labels.setdefault(iid, key)
    levels = list(labels.values())
    return build("dim_indicator", {
        "indicator_id": list(labels),
        "lv1": [lv[0] for lv in levels], "lv2": [lv[1] for lv in levels], "lv3": [lv[2] for lv in levels],
        "lv1_class": [lv1_class_of(lv[0]) for lv in levels],
    })


def _fact_document(docs: list[Document], loaded_at: datetime) -> pa.Table:
    return build("fact_document", {
        "document_id": [document_id(d.source.sha256) for d in docs],
        "department_id": [department_id(d.department) for d in docs],
        "fiscal_year": [d.fiscal_year for d in docs],
        "source_path": [d.source.path for d in docs],
        "sha256": [d.source.sha256 for d in docs],
        "format": [d.source.format for d in docs],
        "encoding": [d.source.encoding for d in docs],
        "is_current": [True] * len(docs),
        "loaded_at": [loaded_at] * len(docs),
        "problem_count": [len(d.problems) for d in docs],
        "agency_code": [d.agency_code for d in docs],
        "filed_on": [date.fromisoformat(d.filed_on) if d.filed_on else None for d in docs],
        "source_mtime": [None] * len(docs),  # set by with_source_mtime: parsing reads content, not stat
    })


def with_source_mtime(fact_document: pa.Table, mtime_ns: dict[str, int | None]) -> pa.Table:
    """fact_document with each file's modification time (by source_path, as fingerprinted), and
    is_current decided again with it."""
    at = [None if (ns := mtime_ns.get(p)) is None else _EPOCH + timedelta(microseconds=ns // 1000)
          for p in fact_document["source_path"].to_pylist()]
    i = fact_document.schema.get_field_index("source_mtime")
    return mark_current(fact_document.set_column(i, "source_mtime", pa.array(at, SCHEMAS["fact_document"].field(i).type)))


def mark_current(fact_document: pa.Table) -> pa.Table:
    """is_current for the newest version of each (department, fiscal year) in the table.

    Newest, in this order (the warehouse's NEWEST_FIRST is the same): the later run (loaded_at, one per
    run); within a run the later file modification time (source_mtime, unknown counts as oldest); then
    the larger source path; then the larger document_id. Reruns from scratch over the same files (one
    run) therefore choose by modification time, then path.
    """
    t = fact_document
    if t.num_rows == 0:
        return t.set_column(t.schema.get_field_index("is_current"), "is_current", pa.array([], pa.bool_()))
    # In Arrow: the rows sorted newest first within each (department, fiscal year), the first of each
    # group wins. Converting the timestamps to Python datetimes cost more than the rest of a ten-file run's
    # lake step (10,000 documents of the touched years).
    keys = pa.table({"department_id": t["department_id"], "fiscal_year": t["fiscal_year"],
                     "loaded_at": t["loaded_at"], "known_mtime": pc.is_valid(t["source_mtime"]),
                     "source_mtime": t["source_mtime"], "source_path": t["source_path"],
                     "document_id": t["document_id"]})
    order = pc.sort_indices(keys, sort_keys=[("department_id", "ascending"), ("fiscal_year", "ascending"),
                                             *((name, "descending") for name in keys.column_names[2:])])
    first = pc.or_(_changed(pc.take(t["department_id"], order)), _changed(pc.take(t["fiscal_year"], order)))
    winners = pc.filter(pc.take(t["document_id"], order), first)
    current = pc.fill_null(pc.is_in(t["document_id"], value_set=winners), False)
    return t.set_column(t.schema.get_field_index("is_current"), "is_current", current)


def _changed(values: pa.ChunkedArray) -> pa.Array:
    """Per row of a sorted column: does it start a new run of equal values (nulls equal to each other)?"""
    values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    cur, prev = values[1:], values[:-1]
    differs = pc.coalesce(pc.not_equal(cur, prev), pc.xor(pc.is_null(cur), pc.is_null(prev)))
    return pa.concat_arrays([pa.array([True]), differs])


def _decimals(values: list[Decimal | None], column: str, type_: pa.DataType) -> pa.Array:
    """Exact when the stated decimals fit the column scale (the usual case); otherwise rounded half-up
    to it (the stated precision survives in the *_digits columns)."""
    try:
        return pa.array(values, type=type_)
    except pa.ArrowInvalid:
        quantum = _LIMITS[column][1]
        return pa.array([None if v is None else v.quantize(quantum, ROUND_HALF_UP) for v in values], type=type_)


def _stated_digits(values: list[Decimal | None]) -> list[int | None]:
    return [None if v is None else min(digits(v), _INT8_MAX) for v in values]


_DOCUMENT_KEYS = ("document_id", "department_id", "fiscal_year")


def _per_doc(counts: list[int], fact_document: pa.Table, names=_DOCUMENT_KEYS) -> dict[str, pa.ChunkedArray]:
    """The `names` columns of each document (document_id, department_id, fiscal_year) repeated over its
    rows, when document k (row k of its `fact_document`) has counts[k] rows: taken in Arrow from the
    document's own row rather than converted again for every row."""
    rows_doc = pa.array(np.repeat(np.arange(len(counts), dtype=np.int32), counts))  # not Python ints a row
    return {name: fact_document[name].take(rows_doc) for name in names}


def _fact_funding(docs: list[Document], fact_document: pa.Table) -> pa.Table:
    rows = [f for d in docs for f in d.funding]
    amounts = [f.amount for f in rows]
    shares = [f.share_pct for f in rows]
    return build("fact_funding", {
        **_per_doc([len(d.funding) for d in docs], fact_document),
        "flow": [f.flow for f in rows],
        "item": [f.item for f in rows],
        "year": [f.year for f in rows],
        "amount": _decimals(amounts, "amount", AMOUNT),
        "share_pct": _decimals(shares, "share_pct", SHARE),
        "amount_digits": _stated_digits(amounts),
        "share_digits": _stated_digits(shares),
        "line": [f.line or None for f in rows],
        "source_cell": [f.where or None for f in rows],
        "item_class": [f.item_class for f in rows],
    })


def _fact_indicator_value(docs: list[Document], fact_document: pa.Table, indicator_ids: list[str]) -> pa.Table:
    """`indicator_ids`: the indicator_id of each of the documents' indicators, in order."""
    rows = [i for d in docs for i in d.indicators]
    return build("fact_indicator_value", {
        **_per_doc([len(d.indicators) for d in docs], fact_document),
        "indicator_id": indicator_ids,
        "horizon": [i.horizon for i in rows],
        "year": [i.year for i in rows],
        "raw": [i.raw for i in rows],
        "comparator": [i.comparator for i in rows],
        "value": _decimals([i.value for i in rows], "value", VALUE),
        "unit": [i.unit for i in rows],
        "basis": [i.basis for i in rows],
        "category": [i.category for i in rows],
        "line": [i.line or None for i in rows],
        "source_cell": [i.where or None for i in rows],
        "lv1_class": [i.lv1_class for i in rows],
        "value_type": [i.value_type for i in rows],
        "explanation": [i.explanation for i in rows],
        "scoring_rule": [i.scoring_rule for i in rows],
        "remark": [i.remark for i in rows],
        "weight": _decimals([i.weight for i in rows], "share_pct", SHARE),
        "extra": [json.dumps(i.extra, ensure_ascii=False, sort_keys=True) if i.extra else None for i in rows],
        "value_no": [n for d in docs for n in range(1, len(d.indicators) + 1)],
    })


def _fact_duty_target(docs: list[Document], fact_document: pa.Table) -> pa.Table:
    """Grain: document × row of the 年度履职目标 table (row_no in table order); amounts exact."""
    rows = [t for d in docs for t in d.duty_targets]
    row_no: list[int] = []
    for doc in docs:
        row_no += range(1, len(doc.duty_targets) + 1)
    amounts = [t.amount for t in rows]
    return build("fact_duty_target", {
        **_per_doc([len(d.duty_targets) for d in docs], fact_document),
        "row_no": row_no,
        "function": [t.function for t in rows],
        "task": [t.task for t in rows],
        "item": [t.item for t in rows],
        "amount": _decimals(amounts, "amount", AMOUNT),
        "amount_digits": _stated_digits(amounts),
        "line": [t.line or None for t in rows],
        "source_cell": [t.where or None for t in rows],
    })


def _sections(doc: Document) -> list[str]:
    """The contract's sections first, in order; anything else a reader added after them."""
    return [*TEXT_SECTIONS, *sorted(set(doc.texts) - set(TEXT_SECTIONS))]


def _fact_text_item(docs: list[Document], fact_document: pa.Table) -> pa.Table:
    counts, sections, item_no, text = [], [], [], []
    for doc in docs:
        n = 0
        for section in _sections(doc):
            items = doc.texts.get(section, ())
            sections += [section] * len(items)
            item_no += range(1, len(items) + 1)
            text += items
            n += len(items)
        counts.append(n)
    return build("fact_text_item", {
        **_per_doc(counts, fact_document, ["document_id"]),
        "section": sections, "item_no": item_no, "text": text,
    })


def _fact_problem(docs: list[Document], fact_document: pa.Table) -> pa.Table:
    rows = [p for d in docs for p in d.problems]
    codes = [p.code for p in rows]
    return build("fact_problem", {
        **_per_doc([len(d.problems) for d in docs], fact_document, ["document_id"]),
        "problem_no": [n for d in docs for n in range(1, len(d.problems) + 1)],
        "code": codes,
        "severity": [p.severity for p in rows],
        "location": [p.where for p in rows],
        "message": [p.message for p in rows],
        "attribution": list(map(attribution.of_problem, codes)),
    })


def quarantine_table(records: list[dict]) -> pa.Table:
    """Rejected files, one row per sha256 (the first record of a sha256 wins)."""
    first: dict[str, dict] = {}
    for r in records:
        first.setdefault(r["sha256"], r)
    rows = list(first.values())
    cols = {name: [r.get(name) for r in rows] for name in SCHEMAS["quarantine"].names}
    cols["quarantined_at"] = [_utc(t) for t in cols["quarantined_at"]]
    return build("quarantine", cols)


def combine(batches: list[dict[str, pa.Table]]) -> dict[str, pa.Table]:
    """Batches normalized separately (to bound memory) as one: dims and documents deduplicated by key
    (the first occurrence wins), is_current decided across all of them."""
    names = {name for b in batches for name in b}
    out = {
        name: pa.concat_tables([b[name] for b in batches if name in b]).cast(SCHEMAS[name])
        for name in names
    }
    for name, key in KEYS.items():
        if name in out:
            out[name] = first_by_key(out[name], key)
    if "fact_document" in out:
        out["fact_document"] = mark_current(out["fact_document"])
    return out


# Tables whose rows are unique by one column: a later row with a known key repeats an earlier one.
KEYS = {
    "dim_department": "department_id",
    "dim_indicator": "indicator_id",
    "fact_document": "document_id",
    "quarantine": "sha256",
}


def first_by_key(table: pa.Table, key: str) -> pa.Table:
    seen: dict = {}
    for i, k in enumerate(table[key].to_pylist()):
        seen.setdefault(k, i)
    if len(seen) == table.num_rows:
        return table
    return table.take(pa.array(sorted(seen.values()), pa.int64()))
