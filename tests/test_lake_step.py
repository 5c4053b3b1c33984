"""The lake_tables step's bookkeeping around the checks (assets/lake.py), against the code it replaced:
the reference of earlier chunks kept in memory (it re-read every earlier batch from staging for each
chunk), the run's tally in Arrow (a Python loop over every dq_result row), the last chunk told ahead."""
from __future__ import annotations

import random
from collections import Counter, defaultdict
from decimal import Decimal
from types import SimpleNamespace

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from assets.lake import Tally, _keep_for_later, _reference, _with_last
from expectations.history import REFERENCE_COLUMNS
from pifu import staging
from pifu.schema import SCHEMAS

DEPARTMENTS = [f"dep{i}" for i in range(7)] + [None]


def _batch(rng: random.Random, number: int) -> dict[str, pa.Table]:
    docs, funding = [], []
    for k in range(rng.randint(0, 4)):
        doc, dep, fy = f"doc{number}-{k}", rng.choice(DEPARTMENTS), rng.choice([2022, 2023, 2024, 2025, None])
        docs.append({"document_id": doc, "department_id": dep, "fiscal_year": fy, "source_path": f"/in/{doc}",
                     "is_current": rng.choice([True, False, None])})
        for _ in range(rng.randint(0, 6)):
            year = rng.choice([fy, fy, (fy or 2025) - 1, (fy or 2025) - 2, None])
            funding.append({"document_id": doc, "department_id": dep, "fiscal_year": fy, "year": year,
                            "flow": rng.choice(["income", "expenditure"]), "item": rng.choice(["合计", "a", "b"]),
                            "amount": rng.choice([Decimal("1.25"), Decimal("300"), None]), "line": rng.randint(1, 9),
                            "amount_digits": rng.choice([0, 2, None])})
    return {"fact_document": pa.Table.from_pylist(docs, schema=SCHEMAS["fact_document"]),
            "fact_funding": pa.Table.from_pylist(funding, schema=SCHEMAS["fact_funding"])}


def _reference_read_back(stage, dirs, tables) -> dict:
    """The step's reference before: every earlier batch read back from staging for each chunk."""
    first = dirs[0].name
    earlier = [b for b in staging.batches(stage) if b.name < first]
    departments = pc.unique(tables["fact_document"]["department_id"])
    funding = tables["fact_funding"]
    back = pc.unique(funding.filter(pc.less(funding["year"], funding["fiscal_year"]))["year"])
    out = {}
    for name in ("fact_document", "fact_funding"):
        parts = [SCHEMAS[name].empty_table()]  # the lake's: an empty lake here
        for b in earlier:
            part = staging.read(b, [name]).get(name)
            if part is None or part.num_rows == 0:
                continue
            keep = pc.and_(pc.is_in(part["department_id"], departments), pc.is_in(part["fiscal_year"], back))
            if name == "fact_funding":
                keep = pc.and_(keep, pc.equal(part["year"], part["fiscal_year"]))
            parts.append(part.filter(keep))
        out[name] = pa.concat_tables(parts).select(REFERENCE_COLUMNS[name])
    return out


@pytest.mark.parametrize("seed", range(25))
def test_the_reference_kept_in_memory_is_what_staging_gave(tmp_path, seed):
    rng = random.Random(seed)
    stage = tmp_path / "stage"
    for number in range(1, rng.randint(2, 12)):
        staging.write_batch(stage, number, _batch(rng, number))
    settings = SimpleNamespace(lake_path=lambda: tmp_path / "lake")
    earlier = {name: [] for name in REFERENCE_COLUMNS}
    chunks = 0
    for (dirs, tables), last in _with_last(staging.chunks(stage, rng.randint(1, 6), with_dirs=True)):
        got = _reference(settings, SimpleNamespace(head=None), earlier, tables)
        if not last:
            _keep_for_later(earlier, tables)
        want = _reference_read_back(stage, dirs, tables)
        for name in REFERENCE_COLUMNS:
            assert got[name].select(REFERENCE_COLUMNS[name]).to_pylist() == want[name].to_pylist(), (name, chunks)
        chunks += 1
    assert chunks >= 1


def test_with_last():
    assert list(_with_last([])) == []
    assert list(_with_last(["a"])) == [("a", True)]
    assert list(_with_last(iter("abc"))) == [("a", False), ("b", False), ("c", True)]


def _tally_by_rows(chunks: list[pa.Table]) -> Tally:
    """Tally.add as it was: a Python loop over every row."""
    tally = Tally()
    for dq in chunks:
        tally.findings += int(dq.num_rows - pc.sum(dq["passed"]).as_py() if dq.num_rows else 0)
        small = dq.select(["check_name", "document_id", "passed"]).to_pydict()
        docs, bad = defaultdict(set), defaultdict(set)
        failed_rows = []
        for i, (name, doc, ok) in enumerate(zip(small["check_name"], small["document_id"], small["passed"])):
            docs[name].add(doc)
            if ok is False:
                bad[name].add(doc)
                if len(tally.failures[name]) + sum(1 for r in failed_rows if r[0] == name) < Tally.LIMIT:
                    failed_rows.append((name, i))
        for name in docs:
            tally.checked[name] += len(docs[name])
            tally.failing[name] += len(bad[name])
        if failed_rows:
            picked = dq.take([i for _, i in failed_rows]).select(
                ["check_name", "document_id", "row_ref", "passed", "observed", "expected", "message", "source_path",
                 "source_cell", "attribution", "problem_code"]).to_pylist()
            for r in picked:
                tally.failures[r["check_name"]].append(r)
    return tally


def _dq(rng: random.Random, chunk: int) -> pa.Table:
    rows = []
    for i in range(rng.choice([0, 5, 60, 400])):
        rows.append({"check_name": rng.choice(["a", "b", "c"]), "passed": rng.choice([True, True, False, None]),
                     "document_id": rng.choice([f"d{chunk}-{rng.randint(0, 40)}", None]),
                     "row_ref": f"r{i}", "observed": str(i), "message": f"m{chunk}-{i}"})
    return pa.Table.from_pylist(rows, schema=SCHEMAS["dq_result"])


@pytest.mark.parametrize("seed", range(40))
def test_tally_counts_as_the_row_loop_did(seed):
    rng = random.Random(seed)
    chunks = [_dq(rng, c) for c in range(rng.randint(1, 5))]
    tally = Tally()
    for dq in chunks:
        tally.add(dq)
    want = _tally_by_rows(chunks)
    assert tally.findings == want.findings
    assert +tally.checked == +want.checked and +tally.failing == +want.failing
    assert {k: v for k, v in tally.failures.items() if v} == {k: v for k, v in want.failures.items() if v}


def test_a_suite_handed_twice_is_validated_once(tmp_path):
    import pandas as pd

    from expectations import datadocs

    pending = datadocs.Pending(tmp_path / "data", "run-twice")
    pending("fact_funding", pd.DataFrame({"x": [1]}))
    pending("fact_funding", pd.DataFrame({"x": [2]}))
    assert pending.suites == ["fact_funding"]
    assert Counter(p.name for p in pending.folder.iterdir()) == Counter(["fact_funding.arrow"])
