"""What the department's own document of a year says about the years other documents look back on.

A 部门整体绩效目标批复 for fiscal year Y states each flow's items for Y and for the two years before
(fact_funding rows with year < fiscal_year). The department's document for Y-1 states Y-1 as its own
year. `previous_amounts` gives every such history row of the run the amount that the current document
of (department, year) states for the same flow and item as its own year (year == its fiscal_year).

Earlier documents are the run's own and those of `reference` (previously loaded tables shaped as
`SCHEMAS`, e.g. the lake's current snapshot). A document in both is taken from the reference: the lake
keeps a document's first record. Per department and fiscal year only an is_current version counts; if
the run and the reference each have one, the newer wins (loaded_at, then source_mtime, then source_path,
then document_id: the order of pifu.normalize.mark_current), so a run's new version supersedes the lake's.

All of it is Arrow filters and numpy sorts on integer keys; Python never loops over rows.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from expectations import exact as ex
from expectations.groups import codes
from pifu.schema import SCHEMAS

KEYS = ["department_id", "year", "flow", "item"]
_IN_RUNS = {"department_id", "flow"}
_DOCUMENT = ["document_id", "department_id", "fiscal_year", "source_path", "is_current", "loaded_at", "source_mtime"]
# Nulls sort last: an unknown modification time counts as the oldest, as in mark_current.
_NEWEST_FIRST = [("department_id", "ascending"), ("fiscal_year", "ascending"), ("loaded_at", "descending"),
                 ("source_mtime", "descending"), ("source_path", "descending"), ("document_id", "descending")]
_STATED = ["amount", "amount_digits", "line"]
# The columns previous_amounts reads of `reference`: a caller may keep only these.
REFERENCE_COLUMNS = {"fact_document": _DOCUMENT, "fact_funding": ["document_id", "fiscal_year", *KEYS, *_STATED]}


def previous_amounts(tables: dict[str, pa.Table], reference: dict[str, pa.Table] | None = None) -> dict:
    """Columns by name, aligned row for row with tables["fact_funding"]: the earlier document's amount (micro-units), its
    half-unit, stated digits and line, and (categorical) its document_id and source_path; NaN where the
    row is not a history amount or no current document of that department-year states one."""
    f = tables["fact_funding"]
    reference = reference or {}
    current = current_documents(tables.get("fact_document"), reference.get("fact_document"))
    own = _own_year_rows(current, f, reference.get("fact_funding"))
    match = np.full(f.num_rows, -1, dtype=np.int64)  # per run row: its counterpart's row in `own`
    if own.num_rows and f.num_rows:
        history = pc.fill_null(pc.and_(pc.less(f["year"], f["fiscal_year"]), pc.is_valid(f["amount"])), False)
        left_key, right_key = _keys(f, own)
        wanted = np.where(history.to_numpy(zero_copy_only=False), left_key, -1)
        match = _lookup(wanted, right_key, (ex.micro(own["amount"]), ex.numbers(own["line"])))
    found = match >= 0
    take, mask = pa.array(np.where(found, match, 0)), pa.array(~found)

    def spread(values: pa.ChunkedArray) -> pa.Array:
        """`own` values at each row's counterpart, null where it has none."""
        if own.num_rows == 0:
            return pa.nulls(f.num_rows, values.type)
        return pc.if_else(mask, pa.scalar(None, values.type), values.take(take))

    amount = spread(own["amount"])
    doc = pc.fill_null(spread(own["doc"]), -1).to_numpy(zero_copy_only=False).astype(np.int64)
    return {
        "prev_amount_u": ex.micro(amount),
        "prev_ea_u": np.where(found, ex.half_micro(spread(own["amount_digits"]), amount.type.scale), np.nan),
        "prev_digits": ex.numbers(spread(own["amount_digits"])),
        "prev_line": ex.numbers(spread(own["line"])),
        "prev_document_id": _categorical(current["document_id"], doc),
        "prev_source_path": _categorical(current["source_path"], doc),
    }


def _categorical(values: pa.ChunkedArray, rows: np.ndarray) -> pd.Categorical:
    """values[rows] (-1: missing) as a Categorical: no Python string per row."""
    encoded = values.combine_chunks().dictionary_encode()
    value_codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    picked = np.where(rows >= 0, value_codes[np.maximum(rows, 0)], -1) if value_codes.size else rows
    return pd.Categorical.from_codes(picked, categories=encoded.dictionary.to_pylist())


def _keys(left: pa.Table, right: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """One int64 per department × year × flow × item, comparable across the two tables (-1: a null part)."""
    parts = []
    for c in KEYS:
        both = pa.concat_arrays([left[c].combine_chunks(), right[c].combine_chunks()])
        if pa.types.is_string(both.type):  # a document's rows lie together: its department, its flows
            parts.append(ex.encode(both, in_runs=c in _IN_RUNS)[0])
        else:
            parts.append(pc.fill_null(pc.cast(both, pa.int64()), -1).to_numpy(zero_copy_only=False))
    key = codes(*parts)
    return key[:left.num_rows], key[left.num_rows:]


def _lookup(wanted: np.ndarray, keys: np.ndarray, tie_breaks: tuple[np.ndarray, ...]) -> np.ndarray:
    """Per wanted key (-1: none), the index of the row of `keys` (not empty) holding it, else -1. A key
    held twice (an earlier document's duplicate line: fact_funding_keys_unique reports it) resolves to the
    smallest tie_breaks (line, then amount), whatever order the rows came in."""
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    first = np.ones(order.size, dtype=bool)
    first[1:] = sorted_keys[1:] != sorted_keys[:-1]
    if not first.all():  # rare: pay for the tie-breaking sort only then
        order = np.lexsort((*reversed(tie_breaks), keys))
        sorted_keys = keys[order]
    order, sorted_keys = order[first], sorted_keys[first]
    at = np.minimum(np.searchsorted(sorted_keys, wanted), sorted_keys.size - 1)
    hit = (wanted >= 0) & (sorted_keys[at] == wanted)
    return np.where(hit, order[at], -1)


def current_documents(run_docs: pa.Table | None, reference_docs: pa.Table | None) -> pa.Table:
    """The current version per (department_id, fiscal_year) over the run and the reference, with
    `from_reference` telling where its funding rows are."""
    parts = []
    ref_ids = pa.array([], pa.string())
    if reference_docs is not None and reference_docs.num_rows:
        ref_ids = pc.unique(reference_docs["document_id"].combine_chunks())
        parts.append(_marked(reference_docs, True))
    if run_docs is not None and run_docs.num_rows:
        parts.append(_marked(run_docs.filter(pc.invert(pc.is_in(run_docs["document_id"], ref_ids))), False))
    if not parts:
        return _marked(SCHEMAS["fact_document"].empty_table(), False)
    docs = pa.concat_tables(parts)
    keep = pc.and_(pc.fill_null(docs["is_current"], False),
                   pc.and_(pc.is_valid(docs["department_id"]), pc.is_valid(docs["fiscal_year"])))
    docs = docs.filter(keep).sort_by(_NEWEST_FIRST)
    m = docs.num_rows
    if m < 2:
        return docs
    dep, fy = docs["department_id"], docs["fiscal_year"]
    same = pc.and_(pc.equal(dep.slice(1), dep.slice(0, m - 1)), pc.equal(fy.slice(1), fy.slice(0, m - 1)))
    newest = np.concatenate([[True], ~same.to_numpy(zero_copy_only=False).astype(bool)])
    return docs.filter(pa.array(newest))


def _marked(docs: pa.Table, from_reference: bool) -> pa.Table:
    docs = docs.select(_DOCUMENT)
    return docs.append_column("from_reference", pa.array(np.full(docs.num_rows, from_reference)))


def _own_year_rows(current: pa.Table, run_funding: pa.Table, reference_funding: pa.Table | None) -> pa.Table:
    """The current documents' amounts for their own fiscal year, keyed as the history rows they answer,
    with `doc`, the row of `current` that states them. Each document's rows come from the table it
    came from (the run's or the reference's), so a document in both is not counted twice."""
    ids = current["document_id"].combine_chunks()
    from_ref = current["from_reference"].combine_chunks()
    parts = []
    for funding, is_ref in ((run_funding, False), (reference_funding, True)):
        if funding is None or funding.num_rows == 0 or len(ids) == 0:
            continue
        doc = pc.index_in(funding["document_id"], value_set=ids)
        mine = pc.and_(pc.equal(pc.take(from_ref, pc.fill_null(doc, 0)), is_ref),
                       pc.and_(pc.equal(funding["year"], funding["fiscal_year"]), pc.is_valid(funding["amount"])))
        mine = pc.fill_null(pc.and_(pc.is_valid(doc), mine), False)
        parts.append(funding.select(KEYS + _STATED).append_column("doc", doc).filter(mine))
    if not parts:
        schema = SCHEMAS["fact_funding"]
        return pa.schema([schema.field(c) for c in KEYS + _STATED] + [pa.field("doc", pa.int32())]).empty_table()
    return pa.concat_tables(parts)
