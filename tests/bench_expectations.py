"""Time expectations.run_checks on synthetic tables (not collected by pytest).

    .venv/bin/python tests/bench_expectations.py [documents=10000]

The first call pays for importing GX and creating its context; later calls reuse both. One document
in a hundred gets a wrong share, so the failure path (messages) is timed too. Calls with `reference`
(every department's documents of the two history years, as the lake would hold them) also run
funding_history_matches_previous_document on every history amount.
"""
from __future__ import annotations

import sys
import time
from datetime import datetime, timezone
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc

import dq_synthetic as syn


def main(n: int) -> None:
    t0 = time.perf_counter()
    tables = syn.tables(n)
    f = tables["fact_funding"]
    doc_no = pc.cast(pc.utf8_slice_codeunits(f["document_id"], 3), pa.int64())
    wrong = pc.and_(pc.equal(pc.divide(doc_no, 100), pc.divide(pc.add(doc_no, 99), 100)),  # doc_no % 100 == 0
                    pc.and_(pc.equal(f["item"], "其他支出"), pc.is_valid(f["share_pct"])))
    shifted = pc.cast(pc.add(f["share_pct"], pa.scalar(Decimal(1), pa.decimal128(9, 4))), f["share_pct"].type)
    tables["fact_funding"] = f.set_column(f.schema.get_field_index("share_pct"), "share_pct",
                                          pc.if_else(wrong, shifted, f["share_pct"]))
    rows = {k: v.num_rows for k, v in tables.items()}
    print(f"{n} documents, built in {time.perf_counter() - t0:.1f} s: {rows}")

    from expectations import run_checks

    reference = syn.previous_documents(n)
    print(f"reference (the lake's earlier documents): {reference['fact_document'].num_rows} documents, "
          f"{reference['fact_funding'].num_rows} funding rows")
    attempts = [("first (imports GX, creates the context)", None), ("without reference", None),
                ("with reference", reference), ("without reference", None), ("with reference", reference)]
    for attempt, ref in attempts:
        t = time.perf_counter()
        out = run_checks(tables, "bench", datetime.now(timezone.utc), reference=ref)
        failed = pc.sum(pc.invert(out["passed"])).as_py()
        print(f"run_checks {attempt}: {time.perf_counter() - t:.2f} s, {out.num_rows} dq_result rows, {failed} failing")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
