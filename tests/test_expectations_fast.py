"""expectations.fast decides the checks without GX: it must list exactly the rows GX lists, on
generated documents with planted errors and on frames built to hit the edges (missing values on one
side of a pair, nulls in keys, duplicates, rows outside a check's condition)."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import pyarrow.compute as pc

from expectations import CHECKS, documents, fast, funding, indicators, run_checks
from expectations.gxrun import unexpected_rows
from expectations.rules import between, compound_unique, pair_ge, unique

AT = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
C = "funding_components_sum_to_total"  # any check name: the rule's condition column


def _same(rules, frame):
    from expectations.gxrun import suite_of

    by_gx = unexpected_rows(suite_of("edge", rules), frame)
    by_fast = fast.unexpected_rows(rules, frame)
    assert by_fast == by_gx
    return by_fast


def test_edges_agree_with_gx():
    nan = np.nan
    frame = pd.DataFrame({
        "a": [1.0, nan, 2.0, nan, 3.0, 0.5],
        "b": [1.0, 1.0, nan, nan, 4.0, 0.4],
        "v": [-1.0, 50.0, 101.0, nan, 100.0, 0.0],
        "kind": pd.Categorical(["percent", "count", "percent", None, "count", "percent"]),
        "k1": pd.Categorical(["x", "x", None, None, "y", "y"]),
        "k2": [1.0, 1.0, nan, nan, 2.0, 3.0],
        C: [True, True, True, True, False, True],
    })
    got = _same([pair_ge(C, "a", "b")], frame)
    assert got[C] == {1, 2}  # one side missing fails; both missing ignored; rows outside the condition ignored
    got = _same([between(C, "v", min_value=0, max_value=100, where=("kind", "percent")),
                 between(C, "v", min_value=0, where=("kind", "count"))], frame)
    assert got[C] == {0, 2}
    got = _same([between(C, "v", max_value=0)], frame)
    assert got[C] == {1, 2}
    assert _same([unique(C, "k1")], frame)[C] == {0, 1, 4, 5}
    assert _same([compound_unique(C, ["k1", "k2"], where=None)], frame)[C] == {0, 1}
    assert _same([compound_unique(C, ["k1", "k2"])], frame)[C] == {0, 1}
    frame.loc[3, "k2"] = 7.0  # a null key part next to a value: not ignored, and unique
    assert _same([compound_unique(C, ["k1", "k2"], where=None)], frame)[C] == {0, 1}


@pytest.mark.parametrize("seed", [3, 11])
def test_generated_documents_with_errors_agree_with_gx(tmp_path, seed):
    """run_checks with GX validations compares GX's failing rows with fast's and raises if they differ."""
    from pifu.api import parse
    from pifu.generate import generate
    from pifu.normalize import normalize

    paths = generate(30, tmp_path, seed=seed, errors=1.0)
    docs = [parse(p) for p in paths]
    tables = normalize(docs, AT)
    validations, frames = [], {}
    with_gx = run_checks(tables, "run-1", AT, validations=validations, frames=frames)
    without = run_checks(tables, "run-1", AT)
    assert with_gx.equals(without)
    assert len(validations) == 3 and set(frames) == {funding.TABLE, indicators.TABLE, documents.TABLE}
    assert not with_gx.column("passed").to_pylist() or False in with_gx.column("passed").to_pylist()


def test_checks_need_no_gx_import():
    import subprocess
    import sys

    code = ("import sys\nfrom datetime import datetime, timezone\nfrom expectations import run_checks\n"
            "from pifu.schema import SCHEMAS\n"
            "t = {n: SCHEMAS[n].empty_table() for n in ('fact_funding', 'fact_indicator_value', 'fact_document')}\n"
            "run_checks(t, 'r', datetime.now(timezone.utc))\n"
            "print('great_expectations' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_background_data_docs_show_the_same_results(tmp_path):
    """The run hands its checked frames to a detached builder; the builder's GX pages are those of the run."""
    from pifu.api import parse
    from pifu.generate import generate
    from pifu.normalize import normalize

    from expectations import datadocs

    tables = normalize([parse(p) for p in generate(5, tmp_path / "in", seed=5, errors=1.0)], AT)
    pending = datadocs.Pending(tmp_path / "data", "run-bg")
    dq = run_checks(tables, "run-bg", AT, frames=pending)
    docs = pending.start(AT)
    assert docs.pending and docs.index == datadocs.index_path(tmp_path / "data")
    assert pending.process.wait(timeout=600) == 0, (pending.folder / "builder.log").read_text()
    assert not pending.folder.exists()  # removed once built
    pages = list((docs.index.parent / "validations").glob("*/run-bg/*/*.html"))
    assert {p.parts[-4] for p in pages} == {"fact_funding", "fact_indicator_value", "fact_document"}
    ledger = (docs.index.parent / "runs.json").read_text(encoding="utf-8")
    failed_suites = {CHECKS[c].table for c in dq.filter(pc.invert(dq["passed"]))["check_name"].to_pylist()}
    assert failed_suites  # errors=1.0 plants findings
    assert "run-bg" in ledger and all(f'"suite": "{s}",\n    "success": false' in ledger or
                                      f'"suite": "{s}", "success": false' in ledger for s in failed_suites)


def test_background_data_docs_wait_until_the_run_lets_go_of_the_lake(tmp_path):
    """The builder imports GX (seconds of CPU) only once the run that started it no longer holds the lake's
    run lock, so it never slows the run's own last steps."""
    from pifu import locks
    from pifu.api import parse
    from pifu.generate import generate
    from pifu.normalize import normalize

    from expectations import datadocs

    tables = normalize([parse(p) for p in generate(3, tmp_path / "in", seed=5)], AT)
    lake = tmp_path / "lake"
    with locks.lake_lock(lake):
        pending = datadocs.Pending(tmp_path / "data", "run-held", after=locks.lake_lock_path(lake))
        run_checks(tables, "run-held", AT, frames=pending)
        pending.start(AT)
        log = pending.folder / "builder.log"
        while not _waits_on_a_flock(pending.process.pid):  # a builder that did not wait would exit first
            assert pending.process.poll() is None, log.read_text()
        assert "waiting for the run" in log.read_text()
        assert not datadocs.index_path(tmp_path / "data").exists()
    assert pending.process.wait(timeout=600) == 0, log.read_text()
    assert not pending.folder.exists()  # built once the lock was let go
    assert list(datadocs.index_path(tmp_path / "data").parent.glob("validations/*/run-held/*/*.html"))


def _waits_on_a_flock(pid: int) -> bool:
    """Whether `pid` is blocked waiting for a flock (the kernel lists waiters in /proc/locks after `->`)."""
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if "->" in fields and fields[fields.index("->") + 1] == "FLOCK" and fields[fields.index("->") + 4] == str(pid):
            return True
    return False
